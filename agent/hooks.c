/* Hooks as child processes. See hooks.h. */
#include "agent/hooks.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define KILL_GRACE_MS 5000
/* After the shell exits, how long its output may still come (from
 * children it left behind) before the hook is over anyway. */
#define EOF_GRACE_MS 1000
#define LINE_MAX_LOGGED 1024

extern char **environ;

struct agent_hook_s {
    uv_process_t proc;
    uv_pipe_t out; /* stdout and stderr together */
    uv_timer_t timer;
    char name[64];
    char line[LINE_MAX_LOGGED + 1];
    size_t line_len;
    int status;
    bool exited, eof, timed_out, killed;
    int open; /* handles not yet closed */
    agent_hook_cb cb;
    void *data;
};

static void flush_line(agent_hook_t *h)
{
    char q[LINE_MAX_LOGGED * 4 + 8];
    if (!h->line_len)
        return;
    h->line[h->line_len] = 0;
    log_info("hook output", "hook=%s line=%s", h->name, log_quote(h->line, q, sizeof q));
    h->line_len = 0;
}

static void closed(uv_handle_t *handle)
{
    agent_hook_t *h = handle->data;
    if (--h->open == 0)
        free(h);
}

/* The process is gone and its output read: report, then free. */
static void maybe_done(agent_hook_t *h)
{
    if (!h->exited || !h->eof)
        return;
    flush_line(h);
    int status = h->timed_out ? -ETIMEDOUT : h->killed ? -EINTR : h->status;
    if (status)
        log_warn("hook failed", "hook=%s status=%d", h->name, status);
    else
        log_debug("hook finished", "hook=%s status=%d", h->name, status);
    h->cb(h->name, status, h->data);
    uv_close((uv_handle_t *)&h->proc, closed);
    uv_close((uv_handle_t *)&h->out, closed);
    uv_close((uv_handle_t *)&h->timer, closed);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)handle;
    static char chunk[4096]; /* loop thread only; consumed before the next read */
    (void)suggested;
    *buf = uv_buf_init(chunk, sizeof chunk);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    agent_hook_t *h = s->data;
    if (n < 0) {
        uv_read_stop(s);
        h->eof = true;
        maybe_done(h);
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        char c = buf->base[i];
        if (c == '\n' || h->line_len == LINE_MAX_LOGGED)
            flush_line(h);
        if (c != '\n')
            h->line[h->line_len++] = c;
    }
}

/* The hook runs in a process group of its own (a new session): a signal
 * reaches the shell and everything it started (kubectl, a script's
 * children), not the shell alone. */
static void kill_group(agent_hook_t *h, int sig)
{
    if (h->proc.pid > 0)
        kill(-h->proc.pid, sig);
}

static void on_eof_grace(uv_timer_t *t)
{
    agent_hook_t *h = t->data;
    if (h->eof)
        return;
    /* Something the hook left behind holds the pipe: stop listening. */
    uv_read_stop((uv_stream_t *)&h->out);
    h->eof = true;
    maybe_done(h);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int signal)
{
    agent_hook_t *h = p->data;
    h->exited = true;
    h->status = signal ? -EINTR : (int)status;
    uv_timer_stop(&h->timer);
    if (h->timed_out || h->killed)
        kill_group(h, SIGKILL); /* what it started goes with it */
    if (!h->eof)
        uv_timer_start(&h->timer, on_eof_grace, EOF_GRACE_MS, 0);
    maybe_done(h);
}

static void on_timeout(uv_timer_t *t)
{
    agent_hook_t *h = t->data;
    if (!h->timed_out) {
        h->timed_out = true;
        log_warn("hook timed out; stopping it", "hook=%s", h->name);
        kill_group(h, SIGTERM);
        uv_timer_start(&h->timer, on_timeout, KILL_GRACE_MS, 0);
    } else {
        kill_group(h, SIGKILL);
    }
}

/* environ + extra, for the child. */
static char **child_env(const char *const *extra)
{
    size_t n = 0, m = 0;
    while (environ && environ[n])
        n++;
    while (extra && extra[m])
        m++;
    char **env = calloc(n + m + 1, sizeof(char *));
    if (!env)
        return NULL;
    if (n)
        memcpy(env, environ, n * sizeof(char *));
    if (m) /* extra may be NULL: memcpy wants a pointer even for 0 bytes */
        memcpy(env + n, extra, m * sizeof(char *));
    return env;
}

int agent_hook_run(uv_loop_t *loop, const char *name, const char *command, const char *const *env,
                   unsigned timeout_ms, agent_hook_cb cb, void *data, agent_hook_t **out)
{
    agent_hook_t *h = calloc(1, sizeof(*h));
    char **envp = child_env(env);
    if (!h || !envp) {
        free(h);
        free(envp);
        return -ENOMEM;
    }
    snprintf(h->name, sizeof h->name, "%s", name);
    h->cb = cb;
    h->data = data;
    uv_pipe_init(loop, &h->out, 0);
    uv_timer_init(loop, &h->timer);
    h->out.data = h->timer.data = h->proc.data = h;
    /* stderr joins stdout in the shell: one pipe keeps their order. */
    char *script = NULL;
    if (asprintf(&script, "exec 2>&1\n%s", command) < 0) {
        free(envp);
        h->open = 2;
        uv_close((uv_handle_t *)&h->out, closed);
        uv_close((uv_handle_t *)&h->timer, closed);
        return -ENOMEM;
    }
    char *argv[] = {"/bin/sh", "-c", script, NULL};
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&h->out},
        {.flags = UV_IGNORE},
    };
    uv_process_options_t o = {.exit_cb = on_exit_cb,
                              .file = argv[0],
                              .args = argv,
                              .env = envp,
                              .stdio_count = 3,
                              .stdio = stdio,
                              .flags = UV_PROCESS_DETACHED /* its own process group */};
    int rc = uv_spawn(loop, &h->proc, &o);
    free(envp);
    free(script);
    if (rc < 0) {
        log_error("hook cannot start", "hook=%s error=\"%s\"", name, uv_strerror(rc));
        h->open = 3; /* a process handle that failed to spawn is closed too */
        uv_close((uv_handle_t *)&h->proc, closed);
        uv_close((uv_handle_t *)&h->out, closed);
        uv_close((uv_handle_t *)&h->timer, closed);
        return rc;
    }
    h->open = 3;
    char q[512];
    log_debug("hook started", "hook=%s pid=%d command=%s", name, h->proc.pid,
              log_quote(command, q, sizeof q));
    uv_read_start((uv_stream_t *)&h->out, on_alloc, on_read);
    if (timeout_ms)
        uv_timer_start(&h->timer, on_timeout, timeout_ms, 0);
    if (out)
        *out = h;
    return 0;
}

void agent_hook_kill(agent_hook_t *h)
{
    h->killed = true;
    kill_group(h, SIGKILL);
}

/* Shared helpers of the etcd client integration tests. See etcd_test.h. */
#include "etcd_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SERVERS 8
#define MAX_CLIENTS 32

static etcd_server_t *servers[MAX_SERVERS];
static etcd_sync_t *clients[MAX_CLIENTS];
static char last_error[1024];
static uint64_t t0;

uint64_t t_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void t_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void t_log(const char *fmt, ...)
{
    if (!t0)
        t0 = t_now_ms();
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "[%6.3f] %s\n", (double)(t_now_ms() - t0) / 1000.0, line);
}

const char *t_last_error(void)
{
    static char buf[2048];
    snprintf(buf, sizeof(buf), "%s", last_error);
    for (size_t i = 0; i < MAX_CLIENTS; i++) {
        const char *e = clients[i] ? etcd_sync_error(clients[i]) : "";
        if (*e && strlen(buf) + strlen(e) + 4 < sizeof(buf)) {
            strcat(buf, *buf ? " | " : "");
            strcat(buf, e);
        }
    }
    return *buf ? buf : "(none)";
}

static void (*on_fail)(void);

void t_on_fail(void (*fn)(void))
{
    on_fail = fn;
}

void t_fail(const char *file, int line, const char *expr, const char *fmt, ...)
{
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, expr);
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "    ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
    }
    if (on_fail)
        on_fail();
    for (size_t i = 0; i < MAX_SERVERS; i++) {
        if (servers[i]) {
            etcd_server_dump_log(servers[i], 3000);
            etcd_server_free(servers[i]);
            servers[i] = NULL;
        }
    }
    fflush(stderr);
    /* No client cleanup: we may be inside one of its callbacks. */
    _exit(1);
}

etcd_server_t *t_server_start(const char *const *extra_args)
{
    etcd_server_opts_t o = {.extra_args = extra_args};
    return t_server_start_opts(&o);
}

etcd_server_t *t_server_start_opts(const etcd_server_opts_t *o)
{
    if (!t0)
        t0 = t_now_ms();
    etcd_server_t *s = NULL;
    int err = etcd_server_start_opts(o, &s);
    CHECKF(err == 0, "etcd_server_start: %s", strerror(-err));
    for (size_t i = 0; i < MAX_SERVERS; i++) {
        if (!servers[i]) {
            servers[i] = s;
            return s;
        }
    }
    t_fail(__FILE__, __LINE__, "servers", "too many servers");
}

void t_server_free(etcd_server_t *s)
{
    for (size_t i = 0; i < MAX_SERVERS; i++)
        if (servers[i] == s)
            servers[i] = NULL;
    etcd_server_free(s);
}

etcd_sync_t *t_client_cfg(const etcd_config_t *cfg)
{
    etcd_sync_t *s = NULL;
    CHECK_OK(etcd_sync_new(cfg, &s));
    for (size_t i = 0; i < MAX_CLIENTS; i++) {
        if (!clients[i]) {
            clients[i] = s;
            break;
        }
    }
    return s;
}

etcd_sync_t *t_client_ex(const char *const *endpoints, size_t n, unsigned timeout_ms,
                         const char *user, const char *password)
{
    etcd_config_t cfg = {
        .endpoints = endpoints,
        .n_endpoints = n,
        .user = user,
        .password = password,
        .request_timeout_ms = timeout_ms,
        .backoff_min_ms = 50,
        .backoff_max_ms = 500,
    };
    return t_client_cfg(&cfg);
}

etcd_sync_t *t_client(const etcd_server_t *srv)
{
    const char *ep = etcd_server_endpoint(srv);
    return t_client_ex(&ep, 1, 5000, NULL, NULL);
}

void t_client_free(etcd_sync_t *s)
{
    for (size_t i = 0; i < MAX_CLIENTS; i++)
        if (clients[i] == s)
            clients[i] = NULL;
    etcd_sync_free(s);
}

typedef struct pump_s {
    uv_timer_t timer;
    int fired;
    uint64_t deadline;
    int (*pred)(void *);
    void *arg;
} pump_t;

static void pump_tick(uv_timer_t *t)
{
    pump_t *p = t->data;
    if ((p->pred && p->pred(p->arg)) || uv_now(t->loop) >= p->deadline)
        p->fired = 1;
}

static void pump_closed(uv_handle_t *h)
{
    free(h->data);
}

int t_pump_until(etcd_sync_t *s, int (*pred)(void *arg), void *arg, unsigned timeout_ms)
{
    if (pred && pred(arg))
        return 1;
    pump_t *p = calloc(1, sizeof(*p));
    CHECK(p != NULL);
    uv_loop_t *loop = etcd_sync_loop(s);
    uv_update_time(loop);
    p->deadline = uv_now(loop) + timeout_ms;
    p->pred = pred;
    p->arg = arg;
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    uint64_t every = pred ? 5 : timeout_ms;
    uv_timer_start(&p->timer, pump_tick, every, pred ? every : 0);
    etcd_sync_run_until(s, &p->fired);
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, pump_closed);
    return pred ? pred(arg) : 1;
}

void t_pump(etcd_sync_t *s, unsigned ms)
{
    t_pump_until(s, NULL, NULL, ms);
}

void t_wait_cb(const etcd_result_t *res, void *data)
{
    t_wait_t *w = data;
    CHECK(!w->done); /* exactly once */
    CHECK(res->message != NULL);
    w->err = res->err;
    snprintf(w->msg, sizeof(w->msg), "%s", res->message);
    if (res->err) {
        CHECK(res->response == NULL);
        snprintf(last_error, sizeof(last_error), "%s", res->message);
    }
    w->resp = etcd_result_take(res);
    w->done = 1;
}

int t_wait(etcd_sync_t *s, t_wait_t *w, int started)
{
    if (started < 0)
        return started;
    etcd_sync_run_until(s, &w->done);
    return w->err;
}

uint16_t t_dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    socklen_t len = sizeof(a);
    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd); /* bound, never listened: connections are refused */
    return ntohs(a.sin_port);
}

int t_system(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int st = system(cmd);
    if (st < 0 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

int64_t t_current_revision(etcd_sync_t *s)
{
    Etcdserverpb__StatusResponse *st = NULL;
    CHECK_OK(etcd_sync_status(s, &st));
    CHECK(st->header != NULL);
    int64_t rev = st->header->revision;
    etcd_response_free(st);
    return rev;
}

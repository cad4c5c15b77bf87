/* Shared by the drivers of the recipe tests: see recipe_util.h. */
#include "recipe_util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static rec_t *g_rec;
static double g_t0;

double rec_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void rec_say(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "[%7.3f] ", rec_now() - g_t0);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void kill_all(rec_t *r)
{
    for (size_t i = 0; i < r->n_procs; i++) {
        rec_proc_t *p = &r->procs[i];
        if (!p->running)
            continue;
        kill(p->pid, SIGKILL);
        kill(p->pid, SIGCONT);
        waitpid(p->pid, &p->status, 0);
        p->running = 0;
    }
}

void rec_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (g_rec) {
        kill_all(g_rec);
        if (g_rec->live.n)
            rec_dump(&g_rec->live, g_rec->live.n - 1, 40, 0);
        etcd_server_free(g_rec->srv);
        g_rec = NULL;
    }
    exit(1);
}

int rec_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

const char *rec_key_in(const rec_t *r, const char *key, const char *sub)
{
    size_t pl = strlen(r->prefix), sl = strlen(sub);
    if (strncmp(key, r->prefix, pl) || key[pl] != '/' || strncmp(key + pl + 1, sub, sl))
        return NULL;
    return key + pl + 1 + sl;
}

static char *xstrndup(const void *p, size_t n)
{
    char *s = malloc(n + 1);
    CHECK(s != NULL);
    if (n)
        memcpy(s, p, n);
    s[n] = 0;
    return s;
}

/* ---- event logs ---- */

static void log_cb(etcd_watch_t *w, int err, int64_t rev, int64_t crev, Mvccpb__Event *const *ev,
                   size_t n, void *data)
{
    rec_log_t *l = data;
    (void)w, (void)crev;
    if (err) {
        l->err = err;
        return;
    }
    double t = rec_now();
    for (size_t i = 0; i < n; i++) {
        const Mvccpb__KeyValue *kv = ev[i]->kv;
        CHECK(kv != NULL);
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 256;
            l->ev = realloc(l->ev, l->cap * sizeof(*l->ev));
            CHECK(l->ev != NULL);
        }
        rec_ev_t *e = &l->ev[l->n++];
        e->del = ev[i]->type == MVCCPB__EVENT__EVENT_TYPE__DELETE;
        e->key = xstrndup(kv->key.data, kv->key.len);
        e->val = xstrndup(kv->value.data, e->del ? 0 : kv->value.len);
        e->rev = kv->mod_revision;
        e->create_rev = kv->create_revision;
        e->version = kv->version;
        e->lease = kv->lease;
        e->t = t;
        /* etcd's own order: revisions never go back. */
        CHECKF(e->rev >= l->last_rev, "watch delivered revision %" PRId64 " after %" PRId64, e->rev,
               l->last_rev);
        l->last_rev = e->rev;
    }
    if (!n && rev > l->last_rev)
        l->last_rev = rev; /* progress notification */
}

static void log_start(rec_t *r, rec_log_t *l)
{
    char p[160];
    snprintf(p, sizeof p, "%s/", r->prefix);
    etcd_watch_opts_t o = {
        .key = p, .key_len = strlen(p), .prefix = 1, .start_revision = r->rev0 + 1};
    int err = etcd_watch_start(r->c, &o, log_cb, l, &l->w);
    CHECKF(err == 0, "etcd_watch_start: %s", etcd_strerror(err));
}

void rec_log_free(rec_log_t *l)
{
    etcd_watch_stop(l->w);
    for (size_t i = 0; i < l->n; i++) {
        free(l->ev[i].key);
        free(l->ev[i].val);
    }
    free(l->ev);
    memset(l, 0, sizeof(*l));
}

void rec_dump(const rec_log_t *l, size_t i, size_t before, size_t after)
{
    size_t from = i > before ? i - before : 0;
    size_t to = i + after + 1 < l->n ? i + after + 1 : l->n;
    fprintf(stderr, "---- events %zu..%zu of %zu ----\n", from, to ? to - 1 : 0, l->n);
    for (size_t k = from; k < to; k++) {
        const rec_ev_t *e = &l->ev[k];
        fprintf(stderr, "%s rev %" PRId64 " %s %s", k == i ? ">>" : "  ", e->rev,
                e->del ? "DEL" : "PUT", e->key);
        if (!e->del)
            fprintf(stderr, " = \"%s\" (create %" PRId64 ", lease %" PRIx64 ")", e->val,
                    e->create_rev, (uint64_t)e->lease);
        fprintf(stderr, " t=%.3f\n", e->t - g_t0);
    }
}

/* ---- set of keys ---- */

static size_t set_index(const rec_set_t *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->kv[i].key, key))
            return i;
    return (size_t)-1;
}

void rec_set_apply(rec_set_t *s, const rec_ev_t *ev)
{
    size_t i = set_index(s, ev->key);
    if (ev->del) {
        if (i != (size_t)-1)
            s->kv[i] = s->kv[--s->n];
        return;
    }
    if (i == (size_t)-1) {
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 16;
            s->kv = realloc(s->kv, s->cap * sizeof(*s->kv));
            CHECK(s->kv != NULL);
        }
        i = s->n++;
        if (s->n > s->max_n)
            s->max_n = s->n;
    }
    s->kv[i] = (rec_kv_t){ev->key, ev->val, ev->create_rev, ev->lease};
}

const rec_kv_t *rec_set_find(const rec_set_t *s, const char *key)
{
    size_t i = set_index(s, key);
    return i == (size_t)-1 ? NULL : &s->kv[i];
}

const rec_kv_t *rec_set_find_val(const rec_set_t *s, const char *val)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->kv[i].val, val))
            return &s->kv[i];
    return NULL;
}

const rec_kv_t *rec_set_lowest(const rec_set_t *s)
{
    const rec_kv_t *low = NULL;
    for (size_t i = 0; i < s->n; i++)
        if (!low || s->kv[i].create_rev < low->create_rev)
            low = &s->kv[i];
    return low;
}

void rec_set_free(rec_set_t *s)
{
    free(s->kv);
    memset(s, 0, sizeof(*s));
}

/* ---- etcd, client, loop ---- */

static void tick(uv_timer_t *t)
{
    (void)t; /* only wakes the loop up: waits poll their condition */
}

int64_t rec_revision(rec_t *r)
{
    Etcdserverpb__RangeRequest req;
    etcd_range_init_key(&req, "/", 1);
    req.count_only = 1;
    Etcdserverpb__RangeResponse *resp;
    int err = etcd_sync_range(r->sync, &req, &resp);
    CHECKF(err == 0, "range: %s", etcd_sync_error(r->sync));
    int64_t rev = resp->header->revision;
    etcd_response_free(resp);
    return rev;
}

void rec_init(rec_t *r, int argc, char **argv, const char *test_name)
{
    g_t0 = rec_now();
    memset(r, 0, sizeof(*r));
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH_TO_recipe_contender\n", argv[0]);
        exit(2);
    }
    r->bin = argv[1];
    CHECKF(access(r->bin, X_OK) == 0, "%s: %s", r->bin, strerror(errno));
    snprintf(r->prefix, sizeof r->prefix, "/recipes/%s", test_name);
    int err = etcd_server_start(&r->srv);
    CHECKF(err == 0, "etcd_server_start: %s", strerror(-err));
    g_rec = r;
    const char *eps[] = {etcd_server_endpoint(r->srv)};
    etcd_config_t cfg = {.endpoints = eps, .n_endpoints = 1};
    err = etcd_sync_new(&cfg, &r->sync);
    CHECKF(err == 0, "etcd_sync_new: %s", etcd_strerror(err));
    r->c = etcd_sync_client(r->sync);
    r->loop = etcd_sync_loop(r->sync);
    uv_timer_init(r->loop, &r->tick);
    uv_timer_start(&r->tick, tick, 10, 10);
    /* The first contact; see wait_for_etcd() in contender.c. */
    for (int attempt = 1;; attempt++) {
        Etcdserverpb__RangeRequest req;
        etcd_range_init_key(&req, "/", 1);
        req.count_only = 1;
        Etcdserverpb__RangeResponse *resp;
        err = etcd_sync_range(r->sync, &req, &resp);
        if (!err) {
            etcd_response_free(resp);
            break;
        }
        CHECKF(err == -ENOTCONN && attempt < 50, "first range: %s", etcd_sync_error(r->sync));
        rec_say("etcd not reachable yet (attempt %d: %s), again", attempt,
                etcd_sync_error(r->sync));
        rec_sleep(r, 0.1);
    }
    r->rev0 = rec_revision(r);
    log_start(r, &r->live);
    rec_say("%s: etcd at %s, prefix %s, from revision %" PRId64, test_name,
            etcd_server_endpoint(r->srv), r->prefix, r->rev0 + 1);
}

void rec_done(rec_t *r)
{
    for (size_t i = 0; i < r->n_procs; i++)
        CHECKF(!r->procs[i].running, "contender %s still runs at the end", r->procs[i].name);
    rec_log_free(&r->live);
    uv_close((uv_handle_t *)&r->tick, NULL);
    etcd_sync_free(r->sync);
    g_rec = NULL;
    etcd_server_free(r->srv);
}

/* ---- contenders ---- */

rec_proc_t *rec_spawn(rec_t *r, const char *mode, const char *name, ...)
{
    CHECK(r->n_procs < REC_MAX_PROCS);
    const char *args[40];
    size_t n = 0;
    args[n++] = r->bin;
    args[n++] = mode;
    args[n++] = etcd_server_endpoint(r->srv);
    args[n++] = r->prefix;
    args[n++] = name;
    va_list ap;
    va_start(ap, name);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        CHECK(n < 39);
        args[n++] = a;
    }
    va_end(ap);
    args[n] = NULL;

    rec_proc_t *p = &r->procs[r->n_procs++];
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->out_path, sizeof p->out_path, "%s/%s.%d.out", etcd_server_tmp_dir(r->srv), name,
             r->spawns++);
    pid_t parent = getpid();
    p->t_spawn = rec_now();
    pid_t pid = fork();
    CHECKF(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* Only async-signal-safe calls here: the parent has threads. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(126);
        int fd = open(p->out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
            _exit(126);
        execv(r->bin, (char *const *)args);
        _exit(127);
    }
    p->pid = pid;
    p->running = 1;
    return p;
}

rec_proc_t *rec_proc(rec_t *r, const char *name)
{
    for (size_t i = r->n_procs; i-- > 0;)
        if (!strcmp(r->procs[i].name, name))
            return &r->procs[i];
    rec_fail(__FILE__, __LINE__, "no contender %s", name);
}

void rec_signal(rec_proc_t *p, int sig)
{
    CHECKF(p->running, "signal %d to %s, which exited", sig, p->name);
    CHECKF(kill(p->pid, sig) == 0, "kill %s: %s", p->name, strerror(errno));
}

void rec_reap(rec_t *r)
{
    for (size_t i = 0; i < r->n_procs; i++) {
        rec_proc_t *p = &r->procs[i];
        if (!p->running)
            continue;
        int st;
        pid_t got = waitpid(p->pid, &st, WNOHANG);
        if (got == p->pid) {
            p->running = 0;
            p->status = st;
            p->t_exit = rec_now();
            if (WIFEXITED(st))
                rec_say("%s (pid %d) exited with %d", p->name, (int)p->pid, WEXITSTATUS(st));
            else
                rec_say("%s (pid %d) killed by signal %d", p->name, (int)p->pid,
                        WIFSIGNALED(st) ? WTERMSIG(st) : -1);
        }
    }
}

int rec_wait(rec_t *r, int (*pred)(rec_t *, void *), void *arg, double timeout_s)
{
    double end = rec_now() + timeout_s;
    for (;;) {
        rec_reap(r);
        CHECKF(!r->live.err, "the live watch ended: %s", etcd_strerror(r->live.err));
        if (pred && pred(r, arg))
            return 1;
        if (rec_now() >= end)
            return 0;
        uv_run(r->loop, UV_RUN_ONCE);
    }
}

void rec_sleep(rec_t *r, double s)
{
    rec_wait(r, NULL, NULL, s);
}

static int proc_exited(rec_t *r, void *arg)
{
    (void)r;
    return !((rec_proc_t *)arg)->running;
}

int rec_wait_exit(rec_t *r, rec_proc_t *p, double timeout_s)
{
    return rec_wait(r, proc_exited, p, timeout_s);
}

static int all_exited(rec_t *r, void *arg)
{
    (void)arg;
    for (size_t i = 0; i < r->n_procs; i++)
        if (r->procs[i].running)
            return 0;
    return 1;
}

int rec_wait_all_exit(rec_t *r, double timeout_s)
{
    return rec_wait(r, all_exited, NULL, timeout_s);
}

void rec_stop_all(rec_t *r, double timeout_s)
{
    rec_reap(r);
    for (size_t i = 0; i < r->n_procs; i++) {
        rec_proc_t *p = &r->procs[i];
        if (p->running) {
            kill(p->pid, SIGCONT);
            kill(p->pid, SIGTERM);
        }
    }
    CHECKF(rec_wait_all_exit(r, timeout_s), "contenders still run %.1f s after SIGTERM", timeout_s);
}

int rec_exited_with(const rec_proc_t *p, int code)
{
    return !p->running && WIFEXITED(p->status) && WEXITSTATUS(p->status) == code;
}

int rec_out_line(const rec_proc_t *p, const char *tag, char *line, size_t len)
{
    FILE *f = fopen(p->out_path, "r");
    if (!f)
        return 0;
    char buf[512];
    int found = 0;
    while (!found && fgets(buf, sizeof buf, f)) {
        if (rec_has_prefix(buf, tag)) {
            buf[strcspn(buf, "\n")] = 0;
            snprintf(line, len, "%s", buf);
            found = 1;
        }
    }
    fclose(f);
    return found;
}

/* ---- history ---- */

typedef struct {
    rec_log_t *a, *b;
    int64_t rev;
} reached_t;

static int logs_reached(rec_t *r, void *arg)
{
    reached_t *x = arg;
    (void)r;
    CHECKF(!x->a->err && !x->b->err, "watch ended: %s",
           etcd_strerror(x->a->err ? x->a->err : x->b->err));
    return x->a->last_rev >= x->rev && x->b->last_rev >= x->rev;
}

void rec_history(rec_t *r, rec_log_t *out)
{
    char marker[160];
    snprintf(marker, sizeof marker, "%s/~end", r->prefix);
    int64_t rev_end = 0;
    int err = etcd_sync_put(r->sync, marker, strlen(marker), "", 0, 0, &rev_end);
    CHECKF(err == 0, "put marker: %s", etcd_sync_error(r->sync));

    memset(out, 0, sizeof(*out));
    log_start(r, out);
    reached_t x = {out, &r->live, rev_end};
    CHECKF(rec_wait(r, logs_reached, &x, 20), "the watches did not reach revision %" PRId64,
           rev_end);
    etcd_watch_stop(out->w);
    out->w = NULL;

    /* Up to the marker, the live watch saw exactly what the replay sees. */
    size_t n = 0, n_live = 0;
    while (n < out->n && out->ev[n].rev <= rev_end)
        n++;
    while (n_live < r->live.n && r->live.ev[n_live].rev <= rev_end)
        n_live++;
    CHECK(n > 0 && !strcmp(out->ev[n - 1].key, marker));
    for (size_t i = 0; i < n && i < n_live; i++) {
        const rec_ev_t *a = &out->ev[i], *b = &r->live.ev[i];
        if (a->del != b->del || a->rev != b->rev || strcmp(a->key, b->key) ||
            strcmp(a->val, b->val) || a->create_rev != b->create_rev) {
            rec_dump(out, i, 5, 5);
            rec_dump(&r->live, i, 5, 5);
            rec_fail(__FILE__, __LINE__, "live watch and replay differ at event %zu", i);
        }
    }
    CHECKF(n_live == n, "live watch: %zu events, replay: %zu", n_live, n);
    /* Drop the marker and whatever came after it. */
    while (out->n >= n) {
        out->n--;
        free(out->ev[out->n].key);
        free(out->ev[out->n].val);
    }
    rec_say("history: %zu events, revisions %" PRId64 "..%" PRId64, out->n, r->rev0 + 1,
            rev_end - 1);
}

void rec_fail_at(const rec_log_t *h, size_t i, const char *fmt, ...)
{
    rec_dump(h, i, 12, 4);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rec_fail(__FILE__, __LINE__, "history, revision %" PRId64 ": %s", h->ev[i].rev, msg);
}

int rec_name_index(const char *name, char letter, int n)
{
    char *end;
    long k = name[0] == letter ? strtol(name + 1, &end, 10) : -1;
    return k >= 0 && k < n && name[1] && !*end ? (int)k : -1;
}

/*
 * Watches against a real etcd:
 *   A. 10,000 pipelined puts by a second client (its own thread and loop):
 *      a prefix watch gets every one exactly once, in revision order, with
 *      the revision the put returned.
 *   D. A DeleteRange of 2000 keys of 2 KiB watched with prev_kv: ~4 MiB of
 *      events in one revision, which etcd fragments; delivered reassembled.
 *   E. progress_notify, and etcd_watch_stop() from inside the callback.
 *   C. etcd stopped (SIGTERM) and later killed (SIGKILL) and restarted on the
 *      same data dir in the middle of a writer's stream: 5 watchers on the
 *      same prefix resume without loss or duplicates.
 *   B. A watch from a compacted revision ends with -ESTALE and the compact
 *      revision.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "etcd_test.h"

#define KEY_FMT "%s%05d"

static etcd_server_t *srv;

/* ------------------------------------------------------------------------ */
/* A writer: n keys prefix00000.. with up to `window` requests in flight.    */
/* guarded: each write is Txn(if version(key) == 0 then put else get), so    */
/* that it can be retried after an ambiguous failure and still applies once. */

typedef struct writer_s writer_t;
typedef struct wop_s {
    writer_t *w;
    int idx;
} wop_t;

struct writer_s {
    etcd_sync_t *s;
    const char *prefix;
    int n, window, guarded;
    size_t value_len;
    int64_t *rev; /* out: the mod revision of each key */
    wop_t *ops;
    int next, inflight;
    int *retry_q, rq_n;
    _Atomic int done, failures;
    int finished;
    unsigned timeout_ms;
    uint64_t started_at;
    uv_timer_t timer;
    pthread_t thread;
};

static void writer_issue(writer_t *w);

static void make_value(char *buf, size_t len, int idx)
{
    int n = snprintf(buf, len + 1, "value-%d-", idx);
    for (size_t i = (size_t)n; i < len; i++)
        buf[i] = (char)('a' + (i + (size_t)idx) % 26);
}

static void writer_done_one(writer_t *w, int idx, int64_t rev)
{
    CHECK(rev > 0);
    CHECKF(w->rev[idx] == 0, "key %d acknowledged twice", idx);
    w->rev[idx] = rev;
    if (atomic_fetch_add(&w->done, 1) + 1 == w->n)
        w->finished = 1;
}

static void writer_cb(const etcd_result_t *res, void *data)
{
    wop_t *op = data;
    writer_t *w = op->w;
    w->inflight--;
    if (res->err) {
        CHECKF(w->guarded, "put %d failed: %s", op->idx, res->message);
        CHECKF(res->err == -ENOTCONN || res->err == -ETIMEDOUT || res->err == -ECANCELED,
               "unexpected error %d: %s", res->err, res->message);
        atomic_fetch_add(&w->failures, 1);
        w->retry_q[w->rq_n++] = op->idx; /* re-sent by the timer */
        return;
    }
    if (!w->guarded) {
        const Etcdserverpb__PutResponse *r = res->response;
        writer_done_one(w, op->idx, r->header->revision);
    } else {
        const Etcdserverpb__TxnResponse *r = res->response;
        if (r->succeeded) {
            writer_done_one(w, op->idx, r->header->revision);
        } else { /* an earlier attempt was applied after all */
            CHECK(r->n_responses == 1);
            const Etcdserverpb__RangeResponse *rg = r->responses[0]->response_range;
            CHECK(rg && rg->n_kvs == 1 && rg->kvs[0]->version == 1);
            writer_done_one(w, op->idx, rg->kvs[0]->mod_revision);
        }
    }
    writer_issue(w);
}

static void writer_send(writer_t *w, int idx)
{
    char key[64];
    char *val = malloc(w->value_len + 1);
    CHECK(val != NULL);
    snprintf(key, sizeof(key), KEY_FMT, w->prefix, idx);
    make_value(val, w->value_len, idx);
    wop_t *op = &w->ops[idx];
    op->w = w;
    op->idx = idx;
    etcd_client_t *c = etcd_sync_client(w->s);
    int err;
    if (!w->guarded) {
        Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
        req.key = (ProtobufCBinaryData){strlen(key), (uint8_t *)key};
        req.value = (ProtobufCBinaryData){w->value_len, (uint8_t *)val};
        err = etcd_kv_put(c, &req, NULL, writer_cb, op);
    } else {
        etcd_txn_t *t = etcd_txn_new();
        CHECK(t != NULL);
        CHECK_OK(etcd_txn_cmp_version(t, key, strlen(key), ETCD_CMP_EQUAL, 0));
        CHECK_OK(etcd_txn_put(t, ETCD_TXN_SUCCESS, key, strlen(key), val, w->value_len, 0));
        CHECK_OK(etcd_txn_get(t, ETCD_TXN_FAILURE, key, strlen(key), 0));
        etcd_call_opts_t opts = {.timeout_ms = 2000};
        err = etcd_kv_txn(c, etcd_txn_request(t), &opts, writer_cb, op);
        etcd_txn_free(t); /* the request was serialized */
    }
    free(val);
    CHECK_OK(err);
    w->inflight++;
}

static void writer_issue(writer_t *w)
{
    while (w->inflight < w->window && w->next < w->n)
        writer_send(w, w->next++);
}

static void writer_tick(uv_timer_t *t)
{
    writer_t *w = t->data;
    CHECKF(t_now_ms() - w->started_at < w->timeout_ms, "writer: %d of %d keys after %u ms",
           atomic_load(&w->done), w->n, w->timeout_ms);
    while (w->rq_n && w->inflight < w->window)
        writer_send(w, w->retry_q[--w->rq_n]);
    writer_issue(w);
}

static void writer_init(writer_t *w, const char *prefix, int n, int window, int guarded,
                        size_t value_len)
{
    memset(w, 0, sizeof(*w));
    w->s = t_client(srv);
    w->prefix = prefix;
    w->n = n;
    w->window = window;
    w->guarded = guarded;
    w->value_len = value_len;
    w->rev = calloc((size_t)n, sizeof(*w->rev));
    w->ops = calloc((size_t)n, sizeof(*w->ops));
    w->retry_q = calloc((size_t)n, sizeof(*w->retry_q));
    CHECK(w->rev && w->ops && w->retry_q);
    w->timeout_ms = 60000;
}

/* Runs the writer to completion on its client's loop (any thread). */
static void *writer_run(void *arg)
{
    writer_t *w = arg;
    w->started_at = t_now_ms();
    uv_timer_init(etcd_sync_loop(w->s), &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, writer_tick, 50, 50);
    writer_issue(w);
    etcd_sync_run_until(w->s, &w->finished);
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, NULL);
    CHECK(w->inflight == 0);
    t_log("writer %s: %d keys in %llu ms, %d failed attempts", w->prefix, w->n,
          (unsigned long long)(t_now_ms() - w->started_at), atomic_load(&w->failures));
    return NULL;
}

static void writer_free(writer_t *w)
{
    t_client_free(w->s); /* runs the loop: the timer's close completes */
    free(w->rev);
    free(w->ops);
    free(w->retry_q);
}

/* ------------------------------------------------------------------------ */
/* A checking watcher: keys prefix%05d, each exactly once, revisions rising. */

typedef struct wcheck_s {
    const char *prefix;
    int n;
    Mvccpb__Event__EventType type;
    int same_rev_ok;       /* events of one revision (a DeleteRange) */
    size_t prev_value_len; /* > 0: expect prev_kv with a value of this size */
    int *seen;
    int64_t *got_rev;
    int total, batches, progress;
    size_t max_batch;
    int64_t last_rev;
    int ended, err;
    int64_t end_rev, compact_rev;
    int stop_in_cb;
    etcd_watch_t *w;
} wcheck_t;

static void wcheck_init(wcheck_t *c, const char *prefix, int n, Mvccpb__Event__EventType type)
{
    memset(c, 0, sizeof(*c));
    c->prefix = prefix;
    c->n = n;
    c->type = type;
    c->seen = calloc((size_t)(n ? n : 1), sizeof(int));
    c->got_rev = calloc((size_t)(n ? n : 1), sizeof(int64_t));
    CHECK(c->seen && c->got_rev);
}

static void wcheck_free(wcheck_t *c)
{
    etcd_watch_stop(c->w);
    free(c->seen);
    free(c->got_rev);
}

static void wcheck_cb(etcd_watch_t *w, int err, int64_t revision, int64_t compact_revision,
                      Mvccpb__Event *const *events, size_t n_events, void *data)
{
    wcheck_t *c = data;
    CHECK(w == c->w || !c->w);
    CHECKF(!c->ended, "callback after the final one");
    if (err) {
        c->ended = 1;
        c->err = err;
        c->end_rev = revision;
        c->compact_rev = compact_revision;
        return;
    }
    if (!n_events) {
        c->progress++;
        CHECKF(revision >= c->last_rev, "progress at %lld after event %lld", (long long)revision,
               (long long)c->last_rev);
        if (c->stop_in_cb) {
            etcd_watch_stop(w);
            c->w = NULL;
        }
        return;
    }
    CHECK(events != NULL);
    c->batches++;
    if (n_events > c->max_batch)
        c->max_batch = n_events;
    size_t plen = strlen(c->prefix);
    for (size_t i = 0; i < n_events; i++) {
        const Mvccpb__Event *e = events[i];
        CHECK(e && e->kv);
        CHECKF(e->type == c->type, "event type %d", (int)e->type);
        int64_t rev = e->kv->mod_revision;
        if (c->same_rev_ok)
            CHECKF(rev >= c->last_rev, "revision %lld after %lld", (long long)rev,
                   (long long)c->last_rev);
        else
            CHECKF(rev > c->last_rev, "revision %lld after %lld (not strictly increasing)",
                   (long long)rev, (long long)c->last_rev);
        CHECK(revision >= rev); /* the header is at or after its events */
        c->last_rev = rev;
        char key[64];
        CHECKF(e->kv->key.len == plen + 5 && e->kv->key.len < sizeof(key) &&
                   !memcmp(e->kv->key.data, c->prefix, plen),
               "unexpected key of length %zu", e->kv->key.len);
        memcpy(key, e->kv->key.data, e->kv->key.len);
        key[e->kv->key.len] = 0;
        char *end = NULL;
        long idx = strtol(key + plen, &end, 10);
        CHECKF(end && !*end && idx >= 0 && idx < c->n, "unexpected key %s", key);
        c->seen[idx]++;
        CHECKF(c->seen[idx] == 1, "key %s delivered %d times", key, c->seen[idx]);
        c->got_rev[idx] = rev;
        if (c->type == MVCCPB__EVENT__EVENT_TYPE__PUT) {
            char val[64];
            make_value(val, 16, (int)idx);
            CHECK(e->kv->value.len >= 16 && !memcmp(e->kv->value.data, val, 16));
        }
        if (c->prev_value_len) {
            CHECKF(e->prev_kv && e->prev_kv->value.len == c->prev_value_len,
                   "event without prev_kv");
            char val[4096];
            CHECK(c->prev_value_len < sizeof(val));
            make_value(val, c->prev_value_len, (int)idx);
            CHECK(!memcmp(e->prev_kv->value.data, val, c->prev_value_len));
        }
        c->total++;
    }
}

static void wcheck_start(wcheck_t *c, etcd_sync_t *s, int64_t start_rev, int prev_kv,
                         int progress_notify)
{
    etcd_watch_opts_t o = {
        .key = c->prefix,
        .key_len = strlen(c->prefix),
        .prefix = 1,
        .start_revision = start_rev,
        .prev_kv = prev_kv,
        .progress_notify = progress_notify,
    };
    CHECK_OK(etcd_watch_start(etcd_sync_client(s), &o, wcheck_cb, c, &c->w));
}

typedef struct all_s {
    wcheck_t *c;
    int n;
} all_t;

static int all_complete(void *arg)
{
    all_t *a = arg;
    for (int i = 0; i < a->n; i++)
        if (a->c[i].total < a->c[i].n)
            return 0;
    return 1;
}

static int watch_created(void *arg)
{
    return etcd_watch_revision(((wcheck_t *)arg)->w) > 0;
}

/* ------------------------------------------------------------------------ */

#define N_MANY 10000

static void part_a(etcd_sync_t *wc)
{
    int64_t r0 = t_current_revision(wc);
    wcheck_t c;
    wcheck_init(&c, "w/a/", N_MANY, MVCCPB__EVENT__EVENT_TYPE__PUT);
    wcheck_start(&c, wc, r0 + 1, 0, 0);

    writer_t w;
    writer_init(&w, "w/a/", N_MANY, 64, 0, 32);
    /* Keys beside the prefix must not show up. */
    CHECK_OK(etcd_sync_put(w.s, "w/a", 3, "x", 1, 0, NULL));
    CHECK_OK(etcd_sync_put(w.s, "w/b/00001", 9, "x", 1, 0, NULL));
    CHECK(pthread_create(&w.thread, NULL, writer_run, &w) == 0);
    all_t all = {&c, 1};
    uint64_t t = t_now_ms();
    int ok = t_pump_until(wc, all_complete, &all, 60000);
    CHECK(pthread_join(w.thread, NULL) == 0);
    CHECKF(ok, "watcher got %d of %d events", c.total, N_MANY);
    t_log("A: %d events in %d batches (largest %zu) in %llu ms", c.total, c.batches, c.max_batch,
          (unsigned long long)(t_now_ms() - t));
    for (int i = 0; i < N_MANY; i++) {
        CHECK(c.seen[i] == 1);
        CHECKF(c.got_rev[i] == w.rev[i], "key %d: event at %lld, put answered %lld", i,
               (long long)c.got_rev[i], (long long)w.rev[i]);
    }
    /* Nothing more arrives. */
    CHECK_OK(etcd_sync_put(w.s, "w/b/00002", 9, "x", 1, 0, NULL));
    t_pump(wc, 200);
    CHECK(c.total == N_MANY && !c.ended);
    CHECK(etcd_watch_revision(c.w) == c.last_rev);
    wcheck_free(&c);
    writer_free(&w);
}

#define N_BIG 2000
#define BIG_LEN 2048

static void part_d(etcd_sync_t *wc)
{
    writer_t w;
    writer_init(&w, "w/big/", N_BIG, 64, 0, BIG_LEN);
    writer_run(&w);

    wcheck_t c;
    wcheck_init(&c, "w/big/", N_BIG, MVCCPB__EVENT__EVENT_TYPE__DELETE);
    c.same_rev_ok = 1;
    c.prev_value_len = BIG_LEN;
    wcheck_start(&c, wc, 0, 1, 0);
    CHECK(t_pump_until(wc, watch_created, &c, 5000));

    int64_t deleted = 0;
    CHECK_OK(etcd_sync_delete(w.s, "w/big/", 6, 1, &deleted));
    CHECK(deleted == N_BIG);
    all_t all = {&c, 1};
    CHECKF(t_pump_until(wc, all_complete, &all, 20000), "got %d of %d delete events", c.total,
           N_BIG);
    /* One revision, > etcd's 1.5 MiB message limit: fragmented by etcd and
     * handed over in one batch. */
    CHECKF(c.batches == 1 && c.max_batch == N_BIG, "%d batches, largest %zu", c.batches,
           c.max_batch);
    t_log("D: %d delete events with prev_kv (~%d KiB) in one batch", c.total,
          N_BIG * BIG_LEN / 1024);
    wcheck_free(&c);
    writer_free(&w);
}

static void part_e(etcd_sync_t *wc)
{
    /* etcd runs with a 300 ms progress interval (see main). */
    wcheck_t c;
    wcheck_init(&c, "w/idle/", 1, MVCCPB__EVENT__EVENT_TYPE__PUT);
    wcheck_start(&c, wc, 0, 0, 1);
    CHECK(t_pump_until(wc, watch_created, &c, 5000));
    int64_t rev = t_current_revision(wc);
    uint64_t t = t_now_ms();
    while (c.progress < 2 && t_now_ms() - t < 5000)
        t_pump(wc, 20);
    CHECKF(c.progress >= 2, "%d progress notifications in 5 s", c.progress);
    CHECK(c.total == 0 && etcd_watch_revision(c.w) >= rev);
    /* Stopping from inside the callback. */
    c.stop_in_cb = 1;
    int before = c.progress;
    t = t_now_ms();
    while (c.progress == before && t_now_ms() - t < 5000)
        t_pump(wc, 20);
    CHECK(c.progress == before + 1 && c.w == NULL);
    t_pump(wc, 800);
    CHECK(c.progress == before + 1); /* never called again */
    wcheck_free(&c);
    t_log("E: progress notifications ok");
}

#define N_RESTART 3000
#define N_WATCHERS 5

static void part_c(etcd_sync_t *wc)
{
    int64_t r0 = t_current_revision(wc);
    wcheck_t c[N_WATCHERS];
    for (int i = 0; i < N_WATCHERS; i++) {
        wcheck_init(&c[i], "w/r/", N_RESTART, MVCCPB__EVENT__EVENT_TYPE__PUT);
        /* Three from a revision, two "from now" (created before writing). */
        wcheck_start(&c[i], wc, i < 3 ? r0 + 1 : 0, 0, 0);
    }
    for (int i = 3; i < N_WATCHERS; i++)
        CHECK(t_pump_until(wc, watch_created, &c[i], 5000));

    writer_t w;
    writer_init(&w, "w/r/", N_RESTART, 16, 1, 16);
    CHECK(pthread_create(&w.thread, NULL, writer_run, &w) == 0);

    /* Stop (SIGTERM) at a third, kill (SIGKILL) at two thirds. */
    for (int round = 0; round < 2; round++) {
        int at = N_RESTART * (round + 1) / 3;
        uint64_t t = t_now_ms();
        while (atomic_load(&w.done) < at && t_now_ms() - t < 30000)
            t_pump(wc, 5);
        CHECK(atomic_load(&w.done) >= at);
        if (round == 0)
            CHECK_OK(etcd_server_stop(srv));
        else
            CHECK_OK(etcd_server_kill(srv));
        t_log("C: etcd %s with %d keys written", round ? "killed" : "stopped",
              atomic_load(&w.done));
        t_pump(wc, 300); /* watchers see the break and retry meanwhile */
        CHECK_OK(etcd_server_restart(srv));
        t_log("C: etcd restarted");
    }
    all_t all = {c, N_WATCHERS};
    int ok = t_pump_until(wc, all_complete, &all, 60000);
    CHECK(pthread_join(w.thread, NULL) == 0);
    for (int i = 0; i < N_WATCHERS; i++)
        CHECKF(ok, "watcher %d got %d of %d events, ended=%d err=%d", i, c[i].total, N_RESTART,
               c[i].ended, c[i].err);
    CHECK(atomic_load(&w.failures) > 0); /* the restarts were noticed */
    t_pump(wc, 300);
    for (int i = 0; i < N_WATCHERS; i++) {
        CHECK(!c[i].ended && c[i].total == N_RESTART);
        for (int k = 0; k < N_RESTART; k++)
            CHECKF(c[i].seen[k] == 1 && c[i].got_rev[k] == w.rev[k],
                   "watcher %d key %d: seen %d at %lld, written at %lld", i, k, c[i].seen[k],
                   (long long)c[i].got_rev[k], (long long)w.rev[k]);
        wcheck_free(&c[i]);
    }
    t_log("C: %d watchers x %d keys, exactly once each across 2 restarts", N_WATCHERS, N_RESTART);
    writer_free(&w);
}

static int ended(void *arg)
{
    return ((wcheck_t *)arg)->ended;
}

static void part_b(etcd_sync_t *wc)
{
    char val[20];
    make_value(val, 16, 0);
    CHECK_OK(etcd_sync_put(wc, "w/c/00000", 9, val, 16, 0, NULL));
    int64_t rev = 0;
    make_value(val, 16, 1);
    CHECK_OK(etcd_sync_put(wc, "w/c/00001", 9, val, 16, 0, &rev));
    CHECK_OK(etcd_sync_compact(wc, rev));

    wcheck_t c;
    wcheck_init(&c, "w/c/", 2, MVCCPB__EVENT__EVENT_TYPE__PUT);
    wcheck_start(&c, wc, 2, 0, 0);
    CHECKF(t_pump_until(wc, ended, &c, 5000), "no final callback");
    CHECKF(c.err == -ESTALE && c.compact_rev == rev, "err %d compact %lld (want %lld)", c.err,
           (long long)c.compact_rev, (long long)rev);
    CHECK(c.total == 0);
    wcheck_free(&c);

    /* From the compact revision itself: the event at that revision. */
    wcheck_init(&c, "w/c/", 2, MVCCPB__EVENT__EVENT_TYPE__PUT);
    wcheck_start(&c, wc, rev, 0, 0);
    all_t one = {&c, 1};
    c.n = 2;
    CHECK(!t_pump_until(wc, all_complete, &one, 500));
    CHECK(c.total == 1 && c.seen[1] == 1 && c.got_rev[1] == rev && !c.ended);
    wcheck_free(&c);
    t_log("B: compacted start revision -> -ESTALE with compact revision %lld", (long long)rev);
}

int main(void)
{
    static const char *const extra[] = {"--experimental-watch-progress-notify-interval=300ms",
                                        NULL};
    srv = t_server_start(extra);
    const char *ep = etcd_server_endpoint(srv);
    etcd_sync_t *wc = t_client_ex(&ep, 1, 5000, NULL, NULL);

    part_a(wc);
    part_d(wc);
    part_e(wc);
    part_c(wc);
    part_b(wc);

    t_client_free(wc);
    t_server_free(srv);
    t_log("test_watch: all passed");
    return 0;
}

/*
 * etcd_mirror_t against a real etcd:
 *   1. 2,500 keys listed 100 per page: count, every value, revision == the
 *      store's, ordered walks; and a list of 125 pages while a writer
 *      changes the keys: the synced contents are exactly a Range at the
 *      synced revision (every page at one revision).
 *   2. puts, updates, deletes, a range delete, a multi-key Txn, a lease
 *      revoke after start: each reported once, in order, contents equal to
 *      a Range at the mirror's revision (keys, values, revisions, leases).
 *   3. keys beside the prefix (prefix itself, neighbours, binary 0xff
 *      prefix) are never seen.
 *   4. a watch re-created from an older revision re-applies nothing; a watch
 *      left behind a compaction relists and reports exactly the difference.
 *   6. etcd_mirror_wait: read-your-writes, at once, through a progress
 *      notification, timeout, several waiters, -ECANCELED on stop.
 *   5. etcd restarted while a writer writes: no change reported twice,
 *      contents equal to a Range.
 *   8. etcd_mirror_stop() inside on_change (list and watch), on_synced, a
 *      walk, and with a Range in flight: nothing runs after, nothing leaks.
 *   7. etcd down when the mirror starts (and a dead first endpoint): the
 *      mirror retries and syncs once etcd is up.
 *
 * Every on_change is checked as it arrives: the key is inside the prefix,
 * the entry is visible (or gone) through etcd_mirror_get(), the revision is
 * newer than the mirror's, and per key the reported revisions strictly rise.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "etcd/mirror.h"
#include "etcd_test.h"

static etcd_server_t *srv;

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */

static void mkval(char *buf, size_t cap, const char *tag, int i)
{
    snprintf(buf, cap, "%s-%05d-%.*s", tag, i, i % 37, "abcdefghijklmnopqrstuvwxyz0123456789.");
}

static int64_t put(etcd_sync_t *s, const char *key, const char *val)
{
    int64_t rev = 0;
    CHECK_OK(etcd_sync_put(s, key, strlen(key), val, strlen(val), 0, &rev));
    CHECK(rev > 0);
    return rev;
}

/* A DeleteRange in a Txn, for its header revision. */
static int try_del(etcd_sync_t *s, const char *key, int prefix, int64_t *rev)
{
    etcd_txn_t *t = etcd_txn_new();
    CHECK(t != NULL);
    CHECK_OK(etcd_txn_delete(t, ETCD_TXN_SUCCESS, key, strlen(key), prefix));
    Etcdserverpb__TxnResponse *r = NULL;
    int err = etcd_sync_txn(s, etcd_txn_request(t), &r);
    etcd_txn_free(t);
    if (!err) {
        CHECK(r && r->header);
        *rev = r->header->revision;
        etcd_response_free(r);
    }
    return err;
}

static int64_t del(etcd_sync_t *s, const char *key, int prefix)
{
    int64_t rev = 0;
    CHECK_OK(try_del(s, key, prefix, &rev));
    return rev;
}

/* Keys prefix%05d for i in [from, to), 100 puts per Txn. Last revision. */
static int64_t bulk_put(etcd_sync_t *s, const char *prefix, int from, int to, const char *tag)
{
    int64_t rev = 0;
    for (int i = from; i < to;) {
        etcd_txn_t *t = etcd_txn_new();
        CHECK(t != NULL);
        for (int j = 0; j < 100 && i < to; j++, i++) {
            char key[64], val[96];
            snprintf(key, sizeof(key), "%s%05d", prefix, i);
            mkval(val, sizeof(val), tag, i);
            CHECK_OK(etcd_txn_put(t, ETCD_TXN_SUCCESS, key, strlen(key), val, strlen(val), 0));
        }
        Etcdserverpb__TxnResponse *r = NULL;
        CHECK_OK(etcd_sync_txn(s, etcd_txn_request(t), &r));
        CHECK(r->succeeded && r->header);
        rev = r->header->revision;
        etcd_response_free(r);
        etcd_txn_free(t);
    }
    return rev;
}

/* ------------------------------------------------------------------------ */
/* Per-key last reported revision                                            */

#define KMAP_N 8192
typedef struct kent_s {
    char *key;
    size_t len;
    int64_t rev;
    struct kent_s *next;
} kent_t;

static uint32_t khash(const void *k, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ ((const uint8_t *)k)[i]) * 16777619u;
    return h % KMAP_N;
}

static kent_t *kmap_get(kent_t **map, const void *key, size_t len)
{
    kent_t **pp = &map[khash(key, len)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->len == len && !memcmp((*pp)->key, key, len))
            return *pp;
    kent_t *e = calloc(1, sizeof(*e));
    CHECK(e != NULL);
    e->key = malloc(len + 1);
    CHECK(e->key != NULL);
    memcpy(e->key, key, len);
    e->key[len] = 0;
    e->len = len;
    *pp = e;
    return e;
}

static void kmap_free(kent_t **map)
{
    for (size_t i = 0; i < KMAP_N; i++) {
        kent_t *e = map[i];
        while (e) {
            kent_t *n = e->next;
            free(e->key);
            free(e);
            e = n;
        }
    }
    free(map);
}

/* ------------------------------------------------------------------------ */
/* A recording mirror                                                        */

typedef struct change_s {
    etcd_mirror_event_type_t type;
    char *key; /* NUL-terminated copies */
    size_t klen;
    char *val;
    int64_t rev, prev_mod, prev_create, create;
    int from_list, had_prev;
} change_t;

typedef struct snap_s {
    char *key, *val;
    size_t klen, vlen;
    int64_t mod;
} snap_t;

typedef struct rec_s {
    const char *prefix;
    size_t plen;
    etcd_sync_t *s; /* the mirror's client */
    etcd_mirror_t *m;
    change_t *ch;
    size_t n, cap;
    int synced;
    int64_t synced_rev;
    int errors, estale, last_err;
    kent_t **last; /* per key: last reported revision */
    int64_t last_watch_rev;
    /* snapshot taken in the first on_synced, when snap_on_sync is set */
    int snap_on_sync;
    snap_t *snap;
    size_t n_snap, cap_snap;
    int log_errors;
} rec_t;

static int snap_visit(const etcd_mirror_entry_t *e, void *arg)
{
    rec_t *r = arg;
    if (r->n_snap == r->cap_snap) {
        r->cap_snap = r->cap_snap ? r->cap_snap * 2 : 1024;
        r->snap = realloc(r->snap, r->cap_snap * sizeof(*r->snap));
        CHECK(r->snap != NULL);
    }
    snap_t *s = &r->snap[r->n_snap++];
    s->key = malloc(e->key_len + 1);
    s->val = malloc(e->value_len + 1);
    CHECK(s->key && s->val);
    memcpy(s->key, e->key, e->key_len + 1);
    memcpy(s->val, e->value, e->value_len + 1);
    s->klen = e->key_len;
    s->vlen = e->value_len;
    s->mod = e->mod_revision;
    return 0;
}

static void on_change(etcd_mirror_t *m, const etcd_mirror_event_t *ev, void *data)
{
    rec_t *r = data;
    CHECK(m == r->m);
    CHECK(ev->key && ev->key[ev->key_len] == 0);
    CHECKF(ev->key_len >= r->plen && !memcmp(ev->key, r->prefix, r->plen),
           "key %.*s outside the prefix %s", (int)ev->key_len, (const char *)ev->key, r->prefix);
    /* Every change is newer than what the mirror had. */
    CHECKF(ev->revision > etcd_mirror_revision(m), "change at %lld, mirror at %lld",
           (long long)ev->revision, (long long)etcd_mirror_revision(m));
    const etcd_mirror_entry_t *now = etcd_mirror_get(m, ev->key, ev->key_len);
    if (ev->type == ETCD_MIRROR_PUT) {
        CHECK(ev->entry != NULL && now == ev->entry);
        CHECK(ev->entry->key_len == ev->key_len && !memcmp(ev->entry->key, ev->key, ev->key_len));
        CHECK(ev->entry->value[ev->entry->value_len] == 0);
        CHECK(ev->revision == ev->entry->mod_revision);
        CHECK(ev->entry->create_revision > 0 && ev->entry->version > 0);
        CHECK(ev->entry->create_revision <= ev->entry->mod_revision);
        if (ev->prev)
            CHECK(ev->prev->mod_revision < ev->entry->mod_revision);
    } else {
        CHECK(ev->type == ETCD_MIRROR_DELETE);
        CHECK(ev->entry == NULL && ev->prev != NULL && now == NULL);
        CHECK(ev->prev->mod_revision < ev->revision);
    }
    if (ev->prev)
        CHECK(ev->prev->key_len == ev->key_len && !memcmp(ev->prev->key, ev->key, ev->key_len));
    if (!ev->from_list) { /* watch events come in revision order */
        CHECKF(ev->revision >= r->last_watch_rev, "watch change at %lld after %lld",
               (long long)ev->revision, (long long)r->last_watch_rev);
        r->last_watch_rev = ev->revision;
    }
    kent_t *k = kmap_get(r->last, ev->key, ev->key_len);
    CHECKF(ev->revision > k->rev, "key %s reported at %lld after %lld (twice or backwards)", k->key,
           (long long)ev->revision, (long long)k->rev);
    k->rev = ev->revision;

    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 1024;
        r->ch = realloc(r->ch, r->cap * sizeof(*r->ch));
        CHECK(r->ch != NULL);
    }
    change_t *c = &r->ch[r->n++];
    memset(c, 0, sizeof(*c));
    c->type = ev->type;
    c->key = malloc(ev->key_len + 1);
    CHECK(c->key != NULL);
    memcpy(c->key, ev->key, ev->key_len + 1);
    c->klen = ev->key_len;
    if (ev->entry) {
        c->val = strdup((const char *)ev->entry->value);
        CHECK(c->val != NULL);
        c->create = ev->entry->create_revision;
    }
    c->rev = ev->revision;
    c->from_list = ev->from_list;
    c->had_prev = ev->prev != NULL;
    c->prev_mod = ev->prev ? ev->prev->mod_revision : 0;
    c->prev_create = ev->prev ? ev->prev->create_revision : 0;
}

static void on_synced(etcd_mirror_t *m, int64_t rev, void *data)
{
    rec_t *r = data;
    CHECK(m == r->m);
    CHECK(etcd_mirror_synced(m) && etcd_mirror_revision(m) == rev);
    CHECK(rev >= r->synced_rev);
    r->synced++;
    r->synced_rev = rev;
    if (r->snap_on_sync && r->synced == 1)
        CHECK_OK(etcd_mirror_foreach_prefix(m, NULL, 0, snap_visit, r));
}

static void on_error(etcd_mirror_t *m, int err, const char *msg, void *data)
{
    rec_t *r = data;
    CHECK(m == r->m);
    CHECK(err < 0 && msg != NULL);
    r->errors++;
    r->last_err = err;
    if (err == -ESTALE)
        r->estale++;
    if (r->log_errors || err == -ESTALE)
        t_log("mirror %s: error %d (%s): %s", r->prefix, err, etcd_strerror(err), msg);
}

static void rec_start_ex(rec_t *r, etcd_sync_t *s, const char *prefix, size_t plen, unsigned page)
{
    memset(r, 0, sizeof(*r));
    r->prefix = prefix;
    r->plen = plen;
    r->s = s;
    r->last = calloc(KMAP_N, sizeof(*r->last));
    CHECK(r->last != NULL);
    etcd_mirror_opts_t o = {.prefix = prefix, .prefix_len = plen, .page_size = page};
    etcd_mirror_callbacks_t cbs = {on_change, on_synced, on_error};
    CHECK_OK(etcd_mirror_start(etcd_sync_client(s), &o, &cbs, r, &r->m));
    CHECK(!etcd_mirror_synced(r->m) && etcd_mirror_count(r->m) == 0);
}

static void rec_start(rec_t *r, etcd_sync_t *s, const char *prefix, unsigned page)
{
    rec_start_ex(r, s, prefix, strlen(prefix), page);
}

static void rec_clear_changes(rec_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->ch[i].key);
        free(r->ch[i].val);
    }
    r->n = 0;
}

static void rec_free(rec_t *r)
{
    etcd_mirror_stop(r->m);
    r->m = NULL;
    rec_clear_changes(r);
    free(r->ch);
    for (size_t i = 0; i < r->n_snap; i++) {
        free(r->snap[i].key);
        free(r->snap[i].val);
    }
    free(r->snap);
    kmap_free(r->last);
}

static int is_synced(void *arg)
{
    rec_t *r = arg;
    return r->synced > 0;
}

static int synced_twice(void *arg)
{
    return ((rec_t *)arg)->synced >= 2;
}

typedef struct at_rev_s {
    rec_t *r;
    int64_t rev;
} at_rev_t;

static int reached(void *arg)
{
    at_rev_t *a = arg;
    return etcd_mirror_revision(a->r->m) >= a->rev;
}

static void pump_to(rec_t *r, int64_t rev, unsigned ms)
{
    at_rev_t a = {r, rev};
    CHECKF(t_pump_until(r->s, reached, &a, ms), "mirror %s at %lld, want %lld", r->prefix,
           (long long)etcd_mirror_revision(r->m), (long long)rev);
}

/* ------------------------------------------------------------------------ */
/* The mirror equals a Range of its prefix at its revision: keys, values,    */
/* create/mod revisions, versions, leases; and the ordered walk matches.     */

typedef struct walk_s {
    Etcdserverpb__RangeResponse *rr;
    size_t i;
} walk_t;

static int walk_visit(const etcd_mirror_entry_t *e, void *arg)
{
    walk_t *w = arg;
    CHECKF(w->i < w->rr->n_kvs, "walk visits more than the %zu keys of the Range", w->rr->n_kvs);
    const Mvccpb__KeyValue *kv = w->rr->kvs[w->i++];
    CHECKF(e->key_len == kv->key.len && !memcmp(e->key, kv->key.data, e->key_len),
           "walk at %zu: %.*s, Range has %.*s", w->i - 1, (int)e->key_len, (const char *)e->key,
           (int)kv->key.len, (const char *)kv->key.data);
    return 0;
}

static Etcdserverpb__RangeResponse *range_at(etcd_sync_t *rd, const char *prefix, size_t plen,
                                             int64_t rev)
{
    uint8_t end[64];
    CHECK(plen < sizeof(end));
    Etcdserverpb__RangeRequest req;
    etcd_range_init_prefix(&req, prefix, plen, end);
    req.revision = rev;
    Etcdserverpb__RangeResponse *rr = NULL;
    CHECK_OK(etcd_sync_range(rd, &req, &rr));
    CHECK(rr && !rr->more && (int64_t)rr->n_kvs == rr->count);
    return rr;
}

static void check_equal_range(rec_t *r, etcd_sync_t *rd)
{
    etcd_mirror_t *m = r->m;
    int64_t rev = etcd_mirror_revision(m);
    Etcdserverpb__RangeResponse *rr = range_at(rd, r->prefix, r->plen, rev);
    CHECKF(etcd_mirror_count(m) == rr->n_kvs, "mirror has %zu keys, Range at %lld has %zu",
           etcd_mirror_count(m), (long long)rev, rr->n_kvs);
    for (size_t i = 0; i < rr->n_kvs; i++) {
        const Mvccpb__KeyValue *kv = rr->kvs[i];
        const etcd_mirror_entry_t *e = etcd_mirror_get(m, kv->key.data, kv->key.len);
        CHECKF(e != NULL, "key %.*s missing from the mirror", (int)kv->key.len,
               (const char *)kv->key.data);
        CHECKF(e->value_len == kv->value.len && !memcmp(e->value, kv->value.data, e->value_len),
               "key %.*s: value differs", (int)kv->key.len, (const char *)kv->key.data);
        CHECKF(e->mod_revision == kv->mod_revision && e->create_revision == kv->create_revision &&
                   e->version == kv->version && e->lease == kv->lease,
               "key %.*s: mod %lld/%lld create %lld/%lld version %lld/%lld", (int)kv->key.len,
               (const char *)kv->key.data, (long long)e->mod_revision, (long long)kv->mod_revision,
               (long long)e->create_revision, (long long)kv->create_revision, (long long)e->version,
               (long long)kv->version);
    }
    walk_t w = {rr, 0};
    CHECK_OK(etcd_mirror_foreach_prefix(m, r->prefix, r->plen, walk_visit, &w));
    CHECK(w.i == rr->n_kvs);
    etcd_response_free(rr);
}

/* ------------------------------------------------------------------------ */
/* A background writer on its own client and thread                          */

typedef struct churn_s {
    etcd_sync_t *s;
    const char *prefix;
    int nkeys, ops, del_every;
    _Atomic int done, stop, failures;
    int64_t last_rev;
    pthread_t th;
} churn_t;

static void *churn_run(void *arg)
{
    churn_t *c = arg;
    for (int i = 0; (c->ops < 0 || i < c->ops) && !atomic_load(&c->stop); i++) {
        char key[64], val[96];
        snprintf(key, sizeof(key), "%s%05d", c->prefix, (i * 7) % c->nkeys);
        mkval(val, sizeof(val), "churn", i);
        int is_del = c->del_every && i % c->del_every == c->del_every - 1;
        uint64_t t0 = t_now_ms();
        for (;;) {
            int64_t rev = 0;
            int err = is_del ? try_del(c->s, key, 0, &rev)
                             : etcd_sync_put(c->s, key, strlen(key), val, strlen(val), 0, &rev);
            if (!err) {
                c->last_rev = rev;
                break;
            }
            CHECKF(err == -ENOTCONN || err == -ETIMEDOUT || err == -ECANCELED || err == -EIO,
                   "writer: %d %s", err, etcd_sync_error(c->s));
            CHECKF(t_now_ms() - t0 < 30000, "writer: no success in 30 s: %s",
                   etcd_sync_error(c->s));
            atomic_fetch_add(&c->failures, 1);
            t_sleep_ms(20);
        }
        atomic_fetch_add(&c->done, 1);
    }
    return NULL;
}

static void churn_start(churn_t *c, const char *prefix, int nkeys, int ops, int del_every)
{
    memset(c, 0, sizeof(*c));
    c->s = t_client(srv);
    c->prefix = prefix;
    c->nkeys = nkeys;
    c->ops = ops;
    c->del_every = del_every;
    CHECK(pthread_create(&c->th, NULL, churn_run, c) == 0);
}

static void churn_join(churn_t *c)
{
    atomic_store(&c->stop, 1);
    CHECK(pthread_join(c->th, NULL) == 0);
}

/* ------------------------------------------------------------------------ */
/* 1. Initial list                                                           */

#define N1 2500

typedef struct count_s {
    size_t n;
    int stop_at;
    char first[64];
} count_t;

static int count_visit(const etcd_mirror_entry_t *e, void *arg)
{
    count_t *c = arg;
    if (!c->n)
        snprintf(c->first, sizeof(c->first), "%s", (const char *)e->key);
    c->n++;
    return c->stop_at && (int)c->n == c->stop_at ? 7 : 0;
}

static void part1(etcd_sync_t *wc, etcd_sync_t *rd)
{
    bulk_put(wc, "m1/k", 0, N1, "v1");
    /* Beside the prefix "m1/k": never listed. */
    put(wc, "m1/", "out");
    put(wc, "m1/j", "out");
    put(wc, "m1/l00001", "out");
    put(wc, "m1k", "out");
    int64_t store_rev = t_current_revision(rd);

    etcd_sync_t *ms = t_client(srv);
    rec_t r;
    rec_start(&r, ms, "m1/k", 100);
    uint64_t t0 = t_now_ms();
    CHECKF(t_pump_until(ms, is_synced, &r, 15000), "not synced after 15 s (%d errors)", r.errors);
    t_log("1: %d keys listed 100 per page in %llu ms", N1, (unsigned long long)(t_now_ms() - t0));
    CHECK(r.synced == 1 && r.errors == 0);
    CHECK(etcd_mirror_count(r.m) == N1);
    CHECKF(etcd_mirror_revision(r.m) == store_rev && r.synced_rev == store_rev,
           "mirror at %lld, store at %lld", (long long)etcd_mirror_revision(r.m),
           (long long)store_rev);
    /* The initial list is reported as one PUT per key, by revision. */
    CHECK(r.n == N1);
    for (size_t i = 0; i < r.n; i++) {
        CHECK(r.ch[i].type == ETCD_MIRROR_PUT && r.ch[i].from_list && !r.ch[i].had_prev);
        if (i)
            CHECK(r.ch[i].rev >= r.ch[i - 1].rev);
    }
    for (int i = 0; i < N1; i++) {
        char key[64], val[96];
        snprintf(key, sizeof(key), "m1/k%05d", i);
        mkval(val, sizeof(val), "v1", i);
        const etcd_mirror_entry_t *e = etcd_mirror_get(r.m, key, strlen(key));
        CHECKF(e != NULL, "%s missing", key);
        CHECKF(e->value_len == strlen(val) && !memcmp(e->value, val, e->value_len),
               "%s = %s, want %s", key, (const char *)e->value, val);
        CHECK(e->version == 1 && e->lease == 0);
    }
    CHECK(etcd_mirror_get(r.m, "m1/j", 4) == NULL && etcd_mirror_get(r.m, "m1k", 3) == NULL);
    check_equal_range(&r, rd);

    /* Ordered walks: sub-prefixes, early stop. */
    count_t c = {0};
    CHECK_OK(etcd_mirror_foreach_prefix(r.m, "m1/k01", 6, count_visit, &c));
    CHECK(c.n == 1000 && !strcmp(c.first, "m1/k01000"));
    memset(&c, 0, sizeof(c));
    CHECK_OK(etcd_mirror_foreach_prefix(r.m, "m1/k024", 7, count_visit, &c));
    CHECK(c.n == 100 && !strcmp(c.first, "m1/k02400"));
    memset(&c, 0, sizeof(c));
    CHECK_OK(etcd_mirror_foreach_prefix(r.m, "m1/k9", 5, count_visit, &c));
    CHECK(c.n == 0);
    memset(&c, 0, sizeof(c));
    CHECK_OK(etcd_mirror_foreach_prefix(r.m, "m1/k024999", 10, count_visit, &c));
    CHECK(c.n == 0);
    memset(&c, 0, sizeof(c));
    c.stop_at = 5;
    CHECK(etcd_mirror_foreach_prefix(r.m, "m1/k00", 6, count_visit, &c) == 7 && c.n == 5);
    rec_free(&r);
    t_client_free(ms);

    /* 1b. A list of 125 pages while a writer changes (and deletes) the keys:
     * what on_synced sees is exactly the Range at its revision. */
    churn_t w;
    churn_start(&w, "m1/k", N1, -1, 5);
    while (atomic_load(&w.done) < 20)
        t_sleep_ms(5);
    ms = t_client(srv);
    rec_start(&r, ms, "m1/k", 20);
    r.snap_on_sync = 1;
    int before = atomic_load(&w.done);
    CHECKF(t_pump_until(ms, is_synced, &r, 15000), "1b: not synced (%d errors)", r.errors);
    int during = atomic_load(&w.done) - before;
    Etcdserverpb__RangeResponse *rr = range_at(rd, "m1/k", 4, r.synced_rev);
    CHECKF(r.n_snap == rr->n_kvs, "synced with %zu keys, Range at %lld has %zu", r.n_snap,
           (long long)r.synced_rev, rr->n_kvs);
    for (size_t i = 0; i < rr->n_kvs; i++) {
        const Mvccpb__KeyValue *kv = rr->kvs[i];
        snap_t *s = &r.snap[i];
        CHECKF(s->klen == kv->key.len && !memcmp(s->key, kv->key.data, s->klen) &&
                   s->vlen == kv->value.len && !memcmp(s->val, kv->value.data, s->vlen) &&
                   s->mod == kv->mod_revision,
               "1b: entry %zu (%s) differs from the Range at %lld", i, s->key,
               (long long)r.synced_rev);
    }
    etcd_response_free(rr);
    CHECKF(during > 0, "1b: no write landed during the list");
    /* Let it follow the writer a little, then stop the writer and catch up. */
    t_pump(ms, 200);
    churn_join(&w);
    pump_to(&r, w.last_rev, 10000);
    check_equal_range(&r, rd);
    t_log("1b: list of 125 pages with %d concurrent writes: consistent at %lld; then %zu "
          "watch changes applied",
          during, (long long)r.synced_rev, r.n - (size_t)r.n_snap);
    CHECK(r.synced == 1);
    rec_free(&r);
    t_client_free(ms);
    t_client_free(w.s);
}

/* ------------------------------------------------------------------------ */
/* 2. Changes after start (and 3: keys beside the prefix)                    */

typedef struct exp_s {
    etcd_mirror_event_type_t type;
    char key[32];
    char val[64];
    int64_t rev;
} exp_t;

static int exp_cmp(const void *a, const void *b)
{
    const exp_t *x = a, *y = b;
    if (x->rev != y->rev)
        return x->rev < y->rev ? -1 : 1;
    return strcmp(x->key, y->key);
}

static void expect(exp_t *e, size_t *n, etcd_mirror_event_type_t type, const char *key,
                   const char *val, int64_t rev)
{
    exp_t *x = &e[(*n)++];
    x->type = type;
    snprintf(x->key, sizeof(x->key), "%s", key);
    snprintf(x->val, sizeof(x->val), "%s", val ? val : "");
    x->rev = rev;
}

static void part2(etcd_sync_t *wc, etcd_sync_t *rd)
{
    bulk_put(wc, "m2/k", 0, 50, "v2");
    etcd_sync_t *ms = t_client(srv);
    rec_t r;
    rec_start(&r, ms, "m2/", 0);
    CHECK(t_pump_until(ms, is_synced, &r, 10000));
    CHECK(etcd_mirror_count(r.m) == 50 && r.n == 50);
    rec_clear_changes(&r);

    exp_t e[128];
    size_t ne = 0;
    char key[32], val[64];
    for (int i = 0; i < 20; i++) { /* new keys */
        snprintf(key, sizeof(key), "m2/n%03d", i);
        mkval(val, sizeof(val), "new", i);
        expect(e, &ne, ETCD_MIRROR_PUT, key, val, put(wc, key, val));
    }
    for (int i = 0; i < 10; i++) { /* updates */
        snprintf(key, sizeof(key), "m2/k%05d", i);
        mkval(val, sizeof(val), "upd", i);
        expect(e, &ne, ETCD_MIRROR_PUT, key, val, put(wc, key, val));
    }
    for (int i = 10; i < 15; i++) { /* single deletes */
        snprintf(key, sizeof(key), "m2/k%05d", i);
        expect(e, &ne, ETCD_MIRROR_DELETE, key, NULL, del(wc, key, 0));
    }
    int64_t rev = del(wc, "m2/k0002", 1); /* k00020..k00029 in one revision */
    for (int i = 20; i < 30; i++) {
        snprintf(key, sizeof(key), "m2/k%05d", i);
        expect(e, &ne, ETCD_MIRROR_DELETE, key, NULL, rev);
    }
    /* A Txn of three puts: one revision. */
    etcd_txn_t *t = etcd_txn_new();
    CHECK(t != NULL);
    CHECK_OK(etcd_txn_put(t, ETCD_TXN_SUCCESS, "m2/t0", 5, "t0", 2, 0));
    CHECK_OK(etcd_txn_put(t, ETCD_TXN_SUCCESS, "m2/t1", 5, "t1", 2, 0));
    CHECK_OK(etcd_txn_put(t, ETCD_TXN_SUCCESS, "m2/k00030", 9, "t2", 2, 0));
    Etcdserverpb__TxnResponse *tr = NULL;
    CHECK_OK(etcd_sync_txn(wc, etcd_txn_request(t), &tr));
    etcd_txn_free(t);
    rev = tr->header->revision;
    etcd_response_free(tr);
    expect(e, &ne, ETCD_MIRROR_PUT, "m2/t0", "t0", rev);
    expect(e, &ne, ETCD_MIRROR_PUT, "m2/t1", "t1", rev);
    expect(e, &ne, ETCD_MIRROR_PUT, "m2/k00030", "t2", rev);
    /* 3. Beside the prefix "m2/": never seen. */
    put(wc, "m2", "out");
    put(wc, "m2.", "out"); /* '.' < '/' */
    put(wc, "m20", "out"); /* '0' = '/' + 1: the range end itself */
    put(wc, "m", "out");
    /* A key bound to a lease, then the lease revoked: a delete. */
    int64_t lease = 0;
    CHECK_OK(etcd_sync_lease_grant(wc, 60, &lease));
    int64_t lrev = 0;
    CHECK_OK(etcd_sync_put(wc, "m2/lease", 8, "l", 1, lease, &lrev));
    expect(e, &ne, ETCD_MIRROR_PUT, "m2/lease", "l", lrev);
    pump_to(&r, lrev, 5000);
    const etcd_mirror_entry_t *le = etcd_mirror_get(r.m, "m2/lease", 8);
    CHECK(le && le->lease == lease);
    CHECK_OK(etcd_sync_lease_revoke(wc, lease));
    int64_t last = t_current_revision(wc);
    expect(e, &ne, ETCD_MIRROR_DELETE, "m2/lease", NULL, last);
    /* A re-put of an identical value is a change too (a new revision). */
    mkval(val, sizeof(val), "new", 0);
    expect(e, &ne, ETCD_MIRROR_PUT, "m2/n000", val, last = put(wc, "m2/n000", val));
    CHECK(ne <= sizeof(e) / sizeof(e[0]));

    pump_to(&r, last, 10000);
    t_pump(ms, 100); /* nothing more arrives */
    CHECKF(r.n == ne, "%zu changes reported, %zu expected", r.n, ne);
    exp_t *got = calloc(r.n, sizeof(*got));
    CHECK(got != NULL);
    for (size_t i = 0; i < r.n; i++) {
        CHECK(!r.ch[i].from_list);
        if (i) /* in order (on_change also checks it) */
            CHECK(r.ch[i].rev >= r.ch[i - 1].rev);
        size_t gi = i;
        expect(got, &gi, r.ch[i].type, r.ch[i].key, r.ch[i].val, r.ch[i].rev);
    }
    /* Same revision: etcd's order; compare per revision as sets. */
    qsort(e, ne, sizeof(*e), exp_cmp);
    qsort(got, r.n, sizeof(*got), exp_cmp);
    for (size_t i = 0; i < ne; i++)
        CHECKF(got[i].type == e[i].type && got[i].rev == e[i].rev &&
                   !strcmp(got[i].key, e[i].key) && !strcmp(got[i].val, e[i].val),
               "change %zu: got %d %s=%s @%lld, want %d %s=%s @%lld", i, (int)got[i].type,
               got[i].key, got[i].val, (long long)got[i].rev, (int)e[i].type, e[i].key, e[i].val,
               (long long)e[i].rev);
    free(got);
    /* The lease-deleted key's reported revision is the revoke's. */
    CHECK(etcd_mirror_get(r.m, "m2/lease", 8) == NULL);
    const etcd_mirror_entry_t *k0 = etcd_mirror_get(r.m, "m2/k00000", 9);
    CHECK(k0 && k0->version == 2 && k0->create_revision < k0->mod_revision);
    CHECK(etcd_mirror_get(r.m, "m2", 2) == NULL && etcd_mirror_get(r.m, "m20", 3) == NULL);
    CHECK(etcd_mirror_revision(r.m) >= last);
    check_equal_range(&r, rd);
    CHECK(r.synced == 1 && r.errors == 0);
    t_log("2: %zu changes after start reported once each, in order; contents equal at %lld", ne,
          (long long)etcd_mirror_revision(r.m));
    rec_free(&r);
    t_client_free(ms);
}

/* 3. Keys beside the prefix, with binary bytes: prefix "m3/\xff". */
static void part3(etcd_sync_t *wc, etcd_sync_t *rd)
{
    static const char pfx[] = "m3/\xff";
    put(wc, "m3/\xff", "in-exact");
    put(wc, "m3/\xff\x01", "in");
    put(wc, "m3/\xff\xff\xff", "in");
    put(wc, "m3/\xfe", "out");
    put(wc, "m3/", "out");
    put(wc, "m30", "out");
    put(wc, "m3/\xfe\xff", "out");
    etcd_sync_t *ms = t_client(srv);
    rec_t r;
    rec_start(&r, ms, pfx, 0);
    CHECK(t_pump_until(ms, is_synced, &r, 10000));
    CHECK(etcd_mirror_count(r.m) == 3);
    int64_t last = put(wc, "m3/\xff\x02", "in");
    put(wc, "m3/\xfe\x02", "out");
    last = put(wc, "m30/", "out");
    del(wc, "m3/\xfe", 0);
    last = del(wc, "m3/\xff\x01", 0);
    last = put(wc, "m3/~", "out");
    pump_to(&r, last, 5000);
    CHECK(etcd_mirror_count(r.m) == 3);
    CHECK(etcd_mirror_get(r.m, "m3/\xff\x02", 5) && !etcd_mirror_get(r.m, "m3/\xff\x01", 5));
    CHECK(!etcd_mirror_get(r.m, "m3/\xfe\x02", 5) && !etcd_mirror_get(r.m, "m3/", 3));
    /* 3 listed + 1 put + 1 delete; on_change rejects any key outside. */
    CHECK(r.n == 5);
    check_equal_range(&r, rd);
    t_log("3: keys beside the prefix never seen (binary prefix m3/\\xff)");
    rec_free(&r);
    t_client_free(ms);
}

/* ------------------------------------------------------------------------ */
/* 4. Watch re-created from an older revision; watch behind a compaction     */

static void part4(etcd_sync_t *wc, etcd_sync_t *rd)
{
    bulk_put(wc, "m4/k", 0, 100, "v4");
    etcd_sync_t *ms = t_client(srv);
    rec_t r;
    rec_start(&r, ms, "m4/", 0);
    CHECK(t_pump_until(ms, is_synced, &r, 10000));
    CHECK(etcd_mirror_count(r.m) == 100);
    CHECK_ERR(etcd_mirror_debug_restart_watch(r.m, etcd_mirror_revision(r.m) + 2), -EINVAL);

    /* a. Ten changes, applied; then a watch from before them: etcd sends
     * them again, the mirror skips them. */
    char key[32], val[64];
    int64_t first = 0, last = 0;
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "m4/k%05d", 50 + i);
        mkval(val, sizeof(val), "a", i);
        last = put(wc, key, val);
        if (!first)
            first = last;
    }
    pump_to(&r, last, 5000);
    size_t n_before = r.n;
    CHECK_OK(etcd_mirror_debug_restart_watch(r.m, first));
    last = put(wc, "m4/k00099", "after-restart");
    pump_to(&r, last, 5000);
    t_pump(ms, 100);
    CHECKF(r.n == n_before + 1, "%zu changes after the re-created watch, want 1", r.n - n_before);
    CHECK(!strcmp(r.ch[r.n - 1].key, "m4/k00099") && r.ch[r.n - 1].rev == last);
    CHECK(r.synced == 1 && r.estale == 0);
    check_equal_range(&r, rd);

    /* b. Watch suspended; meanwhile keys change and history is compacted. */
    CHECK_OK(etcd_mirror_debug_suspend_watch(r.m));
    int64_t mrev = etcd_mirror_revision(r.m);
    rec_clear_changes(&r);
    const etcd_mirror_entry_t *old30 = etcd_mirror_get(r.m, "m4/k00030", 9);
    CHECK(old30 != NULL);
    int64_t old30_create = old30->create_revision;
    for (int i = 0; i < 10; i++) { /* deleted */
        snprintf(key, sizeof(key), "m4/k%05d", i);
        del(wc, key, 0);
    }
    for (int i = 10; i < 20; i++) { /* updated */
        snprintf(key, sizeof(key), "m4/k%05d", i);
        mkval(val, sizeof(val), "b", i);
        put(wc, key, val);
    }
    put(wc, "m4/k00020", "twice-1");
    put(wc, "m4/k00020", "twice-2");
    for (int i = 0; i < 10; i++) { /* created */
        snprintf(key, sizeof(key), "m4/n%05d", i);
        put(wc, key, "new");
    }
    put(wc, "m4/n99", "short-lived"); /* created and deleted: never seen */
    del(wc, "m4/n99", 0);
    del(wc, "m4/k00030", 0); /* deleted and created again */
    put(wc, "m4/k00030", "reborn");
    put(wc, "m4x", "out");
    int64_t crev = t_current_revision(wc);
    CHECK_OK(etcd_sync_compact(wc, crev));
    t_pump(ms, 100);
    CHECK(r.n == 0 && etcd_mirror_revision(r.m) == mrev); /* suspended */

    CHECK_OK(etcd_mirror_debug_restart_watch(r.m, 0));
    CHECKF(t_pump_until(ms, synced_twice, &r, 10000), "no relist after the compaction (synced %d)",
           r.synced);
    CHECK(r.estale == 1 && r.last_err == -ESTALE);
    CHECK(r.synced_rev >= crev && etcd_mirror_revision(r.m) == r.synced_rev);
    /* Exactly the difference: 10 deletes, then 10 + 1 + 10 + 1 puts. */
    int dels = 0, puts = 0;
    for (size_t i = 0; i < r.n; i++) {
        change_t *c = &r.ch[i];
        CHECK(c->from_list);
        if (c->type == ETCD_MIRROR_DELETE) {
            CHECKF(puts == 0, "deletes come first");
            CHECK(c->rev == r.synced_rev && c->had_prev);
            int k = atoi(c->key + 4);
            CHECKF(!strncmp(c->key, "m4/k", 4) && k < 10, "unexpected delete of %s", c->key);
            dels++;
        } else {
            puts++;
            if (!strcmp(c->key, "m4/k00020")) {
                CHECK(!strcmp(c->val, "twice-2") && c->had_prev);
            } else if (!strcmp(c->key, "m4/k00030")) {
                CHECK(!strcmp(c->val, "reborn") && c->had_prev);
                CHECK(c->prev_create == old30_create && c->create > old30_create);
            } else if (!strncmp(c->key, "m4/n", 4)) {
                CHECK(strcmp(c->key, "m4/n99") && !c->had_prev && !strcmp(c->val, "new"));
            } else {
                int k = atoi(c->key + 4);
                CHECKF(!strncmp(c->key, "m4/k", 4) && k >= 10 && k < 20, "unexpected put of %s",
                       c->key);
                mkval(val, sizeof(val), "b", k);
                CHECK(c->had_prev && !strcmp(c->val, val));
            }
            CHECK(c->rev > mrev);
        }
    }
    CHECKF(dels == 10 && puts == 22, "relist reported %d deletes and %d puts", dels, puts);
    CHECK(etcd_mirror_count(r.m) == 100 - 10 + 10);
    check_equal_range(&r, rd);
    /* And it watches again. */
    rec_clear_changes(&r);
    last = put(wc, "m4/k00099", "after-relist");
    pump_to(&r, last, 5000);
    CHECK(r.n == 1 && !r.ch[0].from_list && r.ch[0].rev == last);
    check_equal_range(&r, rd);
    t_log("4: re-created watch applied nothing twice; compacted watch -> relist reported "
          "%d deletes and %d puts",
          dels, puts);
    rec_free(&r);
    t_client_free(ms);
}

/* ------------------------------------------------------------------------ */
/* 6. etcd_mirror_wait                                                       */

typedef struct wres_s {
    rec_t *r;
    int calls, err;
    uint64_t at;
    const char *key; /* must be visible when resolved with 0 */
    int64_t rev;
    int order, *counter;
} wres_t;

static void wait_cb(etcd_mirror_t *m, int err, void *data)
{
    wres_t *w = data;
    CHECK(m == w->r->m);
    w->calls++;
    CHECK(w->calls == 1);
    w->err = err;
    w->at = t_now_ms();
    if (w->counter)
        w->order = ++*w->counter;
    if (!err) {
        CHECK(etcd_mirror_revision(m) >= w->rev);
        if (w->key) {
            const etcd_mirror_entry_t *e = etcd_mirror_get(m, w->key, strlen(w->key));
            CHECKF(e && e->mod_revision == w->rev, "%s not visible when wait resolved", w->key);
        }
    }
    if (err == -ECANCELED) /* stopping: no new waiter */
        CHECK_ERR(etcd_mirror_wait(m, 0, 0, wait_cb, w), -ECANCELED);
}

static int wres_done(void *arg)
{
    return ((wres_t *)arg)->calls > 0;
}

static void part6(etcd_sync_t *wc)
{
    etcd_sync_t *ms = t_client(srv);
    rec_t r;
    rec_start(&r, ms, "m6/", 0);
    /* Before the list: waiting for revision 1 resolves with the list. */
    wres_t w0 = {.r = &r, .rev = 1};
    CHECK_OK(etcd_mirror_wait(r.m, 1, 5000, wait_cb, &w0));
    CHECK(w0.calls == 0);
    CHECK(t_pump_until(ms, is_synced, &r, 10000));
    CHECK(w0.calls == 1 && w0.err == 0);

    /* Already reached: called before etcd_mirror_wait returns. */
    wres_t now = {.r = &r, .rev = etcd_mirror_revision(r.m)};
    CHECK_OK(etcd_mirror_wait(r.m, now.rev, 1000, wait_cb, &now));
    CHECK(now.calls == 1 && now.err == 0);

    /* Read-your-writes. */
    int64_t w = put(wc, "m6/a", "1");
    wres_t ryw = {.r = &r, .key = "m6/a", .rev = w};
    CHECK_OK(etcd_mirror_wait(r.m, w, 5000, wait_cb, &ryw));
    CHECK(ryw.calls == 0 && etcd_mirror_get(r.m, "m6/a", 4) == NULL);
    CHECK(t_pump_until(ms, wres_done, &ryw, 5000));
    CHECK(ryw.err == 0);

    /* A revision written outside the prefix: reached by a progress
     * notification (etcd runs with a 300 ms interval). */
    int64_t wo = put(wc, "m6x", "outside");
    wres_t out = {.r = &r, .rev = wo};
    uint64_t t0 = t_now_ms();
    CHECK_OK(etcd_mirror_wait(r.m, wo, 5000, wait_cb, &out));
    CHECK(t_pump_until(ms, wres_done, &out, 6000));
    CHECKF(out.err == 0 && out.at - t0 < 3000, "outside revision: err %d after %llu ms", out.err,
           (unsigned long long)(out.at - t0));
    t_log("6: revision outside the prefix reached in %llu ms (progress notification)",
          (unsigned long long)(out.at - t0));

    /* Far future: times out in about its timeout. */
    wres_t far = {.r = &r, .rev = wo + 1000000};
    t0 = t_now_ms();
    CHECK_OK(etcd_mirror_wait(r.m, far.rev, 300, wait_cb, &far));
    CHECK(t_pump_until(ms, wres_done, &far, 3000));
    uint64_t took = far.at - t0;
    CHECKF(far.err == -ETIMEDOUT && took >= 290 && took < 1000, "far: err %d after %llu ms",
           far.err, (unsigned long long)took);

    /* Several waiters, registered out of order, resolve in revision order,
     * each once its key is visible; one short timeout among them. */
    int counter = 0;
    wres_t many[5];
    int64_t base = t_current_revision(wc);
    for (int i = 4; i >= 0; i--) {
        many[i] = (wres_t){.r = &r, .rev = base + 1 + i, .counter = &counter};
        CHECK_OK(etcd_mirror_wait(r.m, many[i].rev, 10000, wait_cb, &many[i]));
    }
    wres_t shorter = {.r = &r, .rev = base + 1000000};
    CHECK_OK(etcd_mirror_wait(r.m, shorter.rev, 150, wait_cb, &shorter));
    static const char *const keys[] = {"m6/w0", "m6/w1", "m6/w2", "m6/w3", "m6/w4"};
    for (int i = 0; i < 5; i++) {
        many[i].key = keys[i];
        CHECK(put(wc, keys[i], "w") == many[i].rev);
    }
    CHECK(t_pump_until(ms, wres_done, &many[4], 5000));
    for (int i = 0; i < 5; i++)
        CHECK(many[i].calls == 1 && many[i].err == 0 && many[i].order == i + 1);
    CHECK(t_pump_until(ms, wres_done, &shorter, 3000) && shorter.err == -ETIMEDOUT);

    /* Stop with waiters pending: -ECANCELED, before stop returns. */
    wres_t c1 = {.r = &r, .rev = base + 1000000};
    wres_t c2 = {.r = &r, .rev = base + 2000000};
    CHECK_OK(etcd_mirror_wait(r.m, c1.rev, 0, wait_cb, &c1));
    CHECK_OK(etcd_mirror_wait(r.m, c2.rev, 60000, wait_cb, &c2));
    t_pump(ms, 50);
    CHECK(c1.calls == 0 && c2.calls == 0);
    rec_free(&r); /* stops the mirror */
    CHECK(c1.calls == 1 && c1.err == -ECANCELED && c2.calls == 1 && c2.err == -ECANCELED);
    t_pump(ms, 100); /* nothing runs after stop (wait_cb checks calls == 1) */
    t_log("6: wait: read-your-writes, at once, timeout %llu ms, ordering, -ECANCELED on stop",
          (unsigned long long)took);
    t_client_free(ms);
}

/* ------------------------------------------------------------------------ */
/* 5. etcd restarted while a writer writes                                   */

#define N5_OPS 1500

static void part5(etcd_sync_t *rd)
{
    etcd_sync_t *ms = t_client(srv);
    rec_t r;
    rec_start(&r, ms, "m5/", 50);
    CHECK(t_pump_until(ms, is_synced, &r, 10000));
    churn_t w;
    churn_start(&w, "m5/k", 200, N5_OPS, 10);
    uint64_t t0 = t_now_ms();
    while (atomic_load(&w.done) < N5_OPS / 3 && t_now_ms() - t0 < 30000)
        t_pump(ms, 5);
    CHECK(atomic_load(&w.done) >= N5_OPS / 3);
    int64_t at = etcd_mirror_revision(r.m);
    CHECK_OK(etcd_server_restart(srv));
    t_log("5: etcd restarted with %d of %d writes done, mirror at %lld", atomic_load(&w.done),
          N5_OPS, (long long)at);
    while (atomic_load(&w.done) < N5_OPS && t_now_ms() - t0 < 40000)
        t_pump(ms, 5);
    CHECK(pthread_join(w.th, NULL) == 0);
    CHECK(atomic_load(&w.done) == N5_OPS);
    pump_to(&r, w.last_rev, 15000);
    t_pump(ms, 100);
    check_equal_range(&r, rd);
    CHECKF(etcd_mirror_revision(r.m) > at, "the mirror did not follow after the restart");
    int64_t watch_changes = 0;
    for (size_t i = 0; i < r.n; i++)
        watch_changes += !r.ch[i].from_list;
    /* Each write produced at most one change (retries may have written
     * twice; deletes of absent keys produce none); on_change checked that no
     * key was reported twice at one revision or backwards. */
    CHECK(watch_changes > N5_OPS / 2);
    t_log("5: %lld changes followed across the restart (%d failed write attempts, %d lists); "
          "contents equal at %lld",
          (long long)watch_changes, atomic_load(&w.failures), r.synced,
          (long long)etcd_mirror_revision(r.m));
    CHECK(atomic_load(&w.failures) > 0); /* the restart was felt */
    rec_free(&r);
    t_client_free(ms);
    t_client_free(w.s);
}

/* ------------------------------------------------------------------------ */
/* 8. etcd_mirror_stop() from inside callbacks, and with a Range in flight   */

typedef struct stopper_s {
    etcd_mirror_t *m;
    int changes, synced, errors;
    int stop_at_change, stop_in_synced, stop_in_visit;
    int stopped;
} stopper_t;

static void st_change(etcd_mirror_t *m, const etcd_mirror_event_t *ev, void *data)
{
    stopper_t *s = data;
    (void)ev;
    CHECKF(!s->stopped, "on_change after etcd_mirror_stop()");
    CHECK(m == s->m);
    if (++s->changes == s->stop_at_change) {
        s->stopped = 1;
        etcd_mirror_stop(m);
        etcd_mirror_stop(m); /* twice: harmless */
    }
}

static void st_synced(etcd_mirror_t *m, int64_t rev, void *data)
{
    stopper_t *s = data;
    (void)rev;
    CHECKF(!s->stopped, "on_synced after etcd_mirror_stop()");
    s->synced++;
    if (s->stop_in_synced) {
        s->stopped = 1;
        etcd_mirror_stop(m);
    }
}

static void st_error(etcd_mirror_t *m, int err, const char *msg, void *data)
{
    stopper_t *s = data;
    (void)m, (void)err, (void)msg;
    CHECKF(!s->stopped, "on_error after etcd_mirror_stop()");
    s->errors++;
}

static int st_visit(const etcd_mirror_entry_t *e, void *arg)
{
    stopper_t *s = arg;
    (void)e;
    CHECKF(!s->stopped, "visit after etcd_mirror_stop()");
    if (++s->changes == s->stop_in_visit) {
        s->stopped = 1;
        etcd_mirror_stop(s->m);
    }
    return 0;
}

static void st_start(stopper_t *s, etcd_sync_t *ms, const char *prefix, unsigned page)
{
    etcd_mirror_opts_t o = {.prefix = prefix, .prefix_len = strlen(prefix), .page_size = page};
    etcd_mirror_callbacks_t cbs = {st_change, st_synced, st_error};
    CHECK_OK(etcd_mirror_start(etcd_sync_client(ms), &o, &cbs, s, &s->m));
}

static int st_stopped(void *arg)
{
    return ((stopper_t *)arg)->stopped;
}

static int st_synced_once(void *arg)
{
    return ((stopper_t *)arg)->synced > 0;
}

static void part8(etcd_sync_t *wc)
{
    bulk_put(wc, "m8/k", 0, 300, "v8");
    etcd_sync_t *ms = t_client(srv);

    /* a. In on_change, in the middle of the initial list's puts. */
    stopper_t a = {.stop_at_change = 10};
    st_start(&a, ms, "m8/", 50);
    CHECK(t_pump_until(ms, st_stopped, &a, 10000));
    t_pump(ms, 200);
    CHECK(a.changes == 10 && a.synced == 0);

    /* b. In on_synced. */
    stopper_t b = {.stop_in_synced = 1};
    st_start(&b, ms, "m8/", 0);
    CHECK(t_pump_until(ms, st_stopped, &b, 10000));
    t_pump(ms, 200);
    CHECK(b.changes == 300 && b.synced == 1);

    /* c. In on_change, in the middle of a watch batch of 5 events. */
    stopper_t c = {.stop_at_change = 302};
    st_start(&c, ms, "m8/", 0);
    CHECK(t_pump_until(ms, st_synced_once, &c, 10000));
    etcd_txn_t *t = etcd_txn_new();
    CHECK(t != NULL);
    for (int i = 0; i < 5; i++) {
        char key[32];
        snprintf(key, sizeof(key), "m8/b%d", i);
        CHECK_OK(etcd_txn_put(t, ETCD_TXN_SUCCESS, key, strlen(key), "b", 1, 0));
    }
    Etcdserverpb__TxnResponse *tr = NULL;
    CHECK_OK(etcd_sync_txn(wc, etcd_txn_request(t), &tr));
    etcd_response_free(tr);
    etcd_txn_free(t);
    CHECK(t_pump_until(ms, st_stopped, &c, 5000));
    put(wc, "m8/b9", "after");
    t_pump(ms, 200);
    CHECK(c.changes == 302);

    /* d. In a walk. */
    stopper_t d = {0};
    st_start(&d, ms, "m8/", 0);
    CHECK(t_pump_until(ms, st_synced_once, &d, 10000));
    d.changes = 0;
    d.stop_in_visit = 3;
    CHECK(etcd_mirror_foreach_prefix(d.m, "m8/", 3, st_visit, &d) == 0);
    CHECK(d.stopped && d.changes == 3);
    t_pump(ms, 100);

    /* e. With its Range in flight: etcd frozen, the answer comes after. */
    CHECK_OK(etcd_server_pause(srv));
    stopper_t e = {0};
    st_start(&e, ms, "m8/", 0);
    t_pump(ms, 200);
    CHECK(e.changes == 0 && e.synced == 0);
    e.stopped = 1;
    etcd_mirror_stop(e.m);
    CHECK_OK(etcd_server_resume(srv));
    t_pump(ms, 500);
    t_log("8: stop inside on_change (list and watch), on_synced, a walk, and with a Range in "
          "flight");
    t_client_free(ms);
}

/* ------------------------------------------------------------------------ */
/* 7. etcd down when the mirror starts                                       */

static void part7(etcd_sync_t *wc, etcd_sync_t *rd)
{
    bulk_put(wc, "m7/k", 0, 300, "v7");
    CHECK_OK(etcd_server_stop(srv));
    etcd_sync_t *ms = t_client(srv);
    rec_t r;
    rec_start(&r, ms, "m7/", 100);
    r.log_errors = 1;
    t_pump(ms, 1000);
    CHECK(!etcd_mirror_synced(r.m) && r.synced == 0 && etcd_mirror_count(r.m) == 0);
    CHECKF(r.errors >= 1 && (r.last_err == -ENOTCONN || r.last_err == -ETIMEDOUT),
           "%d errors, last %d", r.errors, r.last_err);
    int errs = r.errors;
    CHECK_OK(etcd_server_restart(srv));
    uint64_t t0 = t_now_ms();
    CHECKF(t_pump_until(ms, is_synced, &r, 15000), "not synced 15 s after etcd came back");
    t_log("7: etcd down at start: %d failed lists, synced %llu ms after etcd came back", errs,
          (unsigned long long)(t_now_ms() - t0));
    CHECK(etcd_mirror_count(r.m) == 300);
    check_equal_range(&r, rd);
    rec_free(&r);
    t_client_free(ms);

    /* A dead first endpoint: the list fails over. */
    char dead[32];
    snprintf(dead, sizeof(dead), "127.0.0.1:%u", (unsigned)t_dead_port());
    const char *eps[] = {dead, etcd_server_endpoint(srv)};
    ms = t_client_ex(eps, 2, 2000, NULL, NULL);
    rec_start(&r, ms, "m7/", 100);
    CHECKF(t_pump_until(ms, is_synced, &r, 15000), "not synced with a dead first endpoint");
    CHECK(etcd_mirror_count(r.m) == 300);
    int64_t last = put(wc, "m7/k00000", "after");
    pump_to(&r, last, 5000);
    check_equal_range(&r, rd);
    t_log("7: dead first endpoint: synced through the second (%d errors)", r.errors);
    rec_free(&r);
    t_client_free(ms);
}

int main(void)
{
    static const char *const extra[] = {"--experimental-watch-progress-notify-interval=300ms",
                                        NULL};
    srv = t_server_start(extra);
    uint64_t t0 = t_now_ms();
    etcd_sync_t *wc = t_client(srv); /* writer */
    etcd_sync_t *rd = t_client(srv); /* reader for comparisons */

    part1(wc, rd);
    part2(wc, rd);
    part3(wc, rd);
    part4(wc, rd);
    part6(wc);
    part5(rd);
    part8(wc);
    part7(wc, rd);

    t_client_free(wc);
    t_client_free(rd);
    t_server_free(srv);
    t_log("test_mirror: all passed in %llu ms", (unsigned long long)(t_now_ms() - t0));
    return 0;
}

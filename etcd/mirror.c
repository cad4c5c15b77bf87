/*
 * Mirror of a prefix: list at one revision, then watch; relist and diff when
 * the watch cannot go on. See etcd/mirror.h for the contract.
 *
 * Storage: a chained hash table of nodes, one allocation per key (the node,
 * then the key and the value, each NUL-terminated). A sorted array of node
 * pointers serves ordered walks; an insert or a delete marks it stale and the
 * next walk rebuilds it (qsort), an update replaces its pointer in place.
 *
 * Listing: pages are absorbed against the current contents without touching
 * them: a key whose mod revision is unchanged only gets marked with the
 * list's epoch, a new or changed key becomes a pending node. At the end,
 * the unmarked keys are deleted and the pending nodes put, each reported,
 * then the watch starts from the list revision + 1. The watch is stopped
 * while listing, so the contents cannot change under a list.
 *
 * Re-entrancy: every entry from the loop (answer, watch batch, timer) and
 * every public call that runs user callbacks holds `busy`; etcd_mirror_stop()
 * inside a callback only marks the mirror stopping, and the outermost frame
 * frees it. A Range in flight holds a reference on the struct (not on the
 * contents), so a late answer finds it and is dropped.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/internal.h"
#include "etcd/kv.h"
#include "etcd/mirror.h"
#include "etcd/watch.h"

#define DEFAULT_PAGE_SIZE 1000
#define INITIAL_BUCKETS 64
/* etcd's watchBatchMaxRevs (mvcc/watcher_group.go, 3.4 to 3.6): a catching-up
 * (unsynced) watcher gets at most this many revisions per response, and such
 * a response carries the store's current revision in its header although
 * more events follow (mvcc/watchable_store.go, syncWatchers). A batch with
 * fewer revisions was not cut, so its header revision can be trusted. */
#define WATCH_BATCH_MAX_REVS 1000

typedef enum { M_LISTING, M_WATCHING, M_SUSPENDED, M_DEAD } mstate_t;

typedef struct m_node_s m_node_t;
struct m_node_s {
    etcd_mirror_entry_t e;
    m_node_t *next; /* hash chain */
    uint64_t hash;
    uint64_t mark; /* epoch of the last list that saw this key */
};

typedef struct m_waiter_s {
    etcd_list_t link;
    int64_t rev;
    uint64_t deadline; /* loop time in ms; 0 = none */
    etcd_mirror_wait_cb cb;
    void *data;
} m_waiter_t;

struct etcd_mirror_s {
    etcd_client_t *c;
    uv_loop_t *loop;
    uint8_t *prefix, *end;
    size_t plen, elen;
    unsigned page_size;
    etcd_mirror_callbacks_t cbs;
    void *data;

    m_node_t **buckets; /* power-of-two count */
    size_t nbuckets, count;
    m_node_t **sorted; /* count entries when sorted_ok */
    size_t sorted_cap;
    bool sorted_ok;

    int64_t revision;
    bool synced;
    mstate_t state;
    etcd_watch_t *watch;

    /* the list in progress */
    int64_t list_rev; /* 0 until the first page answered */
    uint64_t epoch;
    uint8_t *next_key;
    size_t next_len, next_cap;
    m_node_t **pending;
    size_t n_pending, pending_cap;

    uv_timer_t *retry; /* list retries and the first list */
    bool retry_restart;
    unsigned failures;
    uv_timer_t *wtimer;  /* waiter timeouts */
    etcd_list_t waiters; /* ascending revision */

    unsigned gen, refs, busy;
    bool stopping, torn;
};

typedef struct m_op_s {
    etcd_mirror_t *m;
    unsigned gen;
} m_op_t;

static void list_begin(etcd_mirror_t *m);
static void issue_page(etcd_mirror_t *m);

/* ------------------------------------------------------------------------ */
/* Lifecycle helpers                                                          */

static void m_teardown(etcd_mirror_t *m)
{
    m->torn = true;
    for (size_t b = 0; b < m->nbuckets; b++) {
        m_node_t *n = m->buckets[b];
        while (n) {
            m_node_t *next = n->next;
            free(n);
            n = next;
        }
    }
    free(m->buckets);
    m->buckets = NULL;
    m->nbuckets = m->count = 0;
    free(m->sorted);
    m->sorted = NULL;
    for (size_t i = 0; i < m->n_pending; i++)
        free(m->pending[i]);
    free(m->pending);
    m->pending = NULL;
    m->n_pending = 0;
    free(m->prefix);
    free(m->end);
    free(m->next_key);
    m->prefix = m->end = m->next_key = NULL;
    if (!m->refs)
        free(m);
}

static void m_enter(etcd_mirror_t *m)
{
    m->busy++;
}

/* May free m: do not touch it afterwards. */
static void m_leave(etcd_mirror_t *m)
{
    if (--m->busy == 0 && m->stopping && !m->torn)
        m_teardown(m);
}

static void handle_free(uv_handle_t *h)
{
    free(h);
}

static void report(etcd_mirror_t *m, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(etcd_mirror_t *m, int err, const char *fmt, ...)
{
    if (!m->cbs.on_error || m->stopping)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    m->cbs.on_error(m, err, msg, m->data);
}

static void report_change(etcd_mirror_t *m, etcd_mirror_event_type_t type, const m_node_t *node,
                          const m_node_t *prev, int64_t rev, int from_list)
{
    if (!m->cbs.on_change || m->stopping)
        return;
    const m_node_t *k = node ? node : prev;
    etcd_mirror_event_t ev = {
        .type = type,
        .key = k->e.key,
        .key_len = k->e.key_len,
        .entry = node ? &node->e : NULL,
        .prev = prev ? &prev->e : NULL,
        .revision = rev,
        .from_list = from_list,
    };
    m->cbs.on_change(m, &ev, m->data);
}

/* ------------------------------------------------------------------------ */
/* Hash table and sorted index                                                */

static uint64_t key_hash(const uint8_t *k, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then a 64-bit finalizer */
    for (size_t i = 0; i < n; i++) {
        h ^= k[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static int key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int r = memcmp(a, b, alen < blen ? alen : blen);
    if (r)
        return r;
    return alen < blen ? -1 : alen > blen;
}

static m_node_t *node_new(const Mvccpb__KeyValue *kv)
{
    size_t klen = kv->key.len, vlen = kv->value.len;
    m_node_t *n = malloc(sizeof(*n) + klen + 1 + vlen + 1);
    if (!n)
        return NULL;
    uint8_t *k = (uint8_t *)(n + 1), *v = k + klen + 1;
    if (klen)
        memcpy(k, kv->key.data, klen);
    k[klen] = 0;
    if (vlen)
        memcpy(v, kv->value.data, vlen);
    v[vlen] = 0;
    n->e.key = k;
    n->e.key_len = klen;
    n->e.value = v;
    n->e.value_len = vlen;
    n->e.create_revision = kv->create_revision;
    n->e.mod_revision = kv->mod_revision;
    n->e.version = kv->version;
    n->e.lease = kv->lease;
    n->next = NULL;
    n->hash = key_hash(k, klen);
    n->mark = 0;
    return n;
}

/* The link that points at the key's node, or at the chain's terminal NULL. */
static m_node_t **t_link(const etcd_mirror_t *m, const void *key, size_t klen, uint64_t h)
{
    m_node_t **pp = &m->buckets[h & (m->nbuckets - 1)];
    while (*pp && ((*pp)->hash != h || (*pp)->e.key_len != klen ||
                   (klen && memcmp((*pp)->e.key, key, klen))))
        pp = &(*pp)->next;
    return pp;
}

static m_node_t *t_find(const etcd_mirror_t *m, const void *key, size_t klen)
{
    if (!m->nbuckets)
        return NULL;
    return *t_link(m, key, klen, key_hash(key, klen));
}

static void t_grow(etcd_mirror_t *m)
{
    size_t nb = m->nbuckets * 2;
    m_node_t **b = calloc(nb, sizeof(*b));
    if (!b)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < m->nbuckets; i++) {
        m_node_t *n = m->buckets[i];
        while (n) {
            m_node_t *next = n->next;
            n->next = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
            n = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
}

/* Index of the first sorted entry >= key. */
static size_t sorted_lower_bound(const etcd_mirror_t *m, const void *key, size_t klen)
{
    size_t lo = 0, hi = m->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const m_node_t *n = m->sorted[mid];
        if (key_cmp(n->e.key, n->e.key_len, key, klen) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Keeps the sorted index in step with one new key (before count grows):
 * a memmove of pointers instead of sorting every key again at the next
 * walk, which made each walk after a discovery O(n log n). */
static void sorted_insert(etcd_mirror_t *m, m_node_t *n)
{
    if (!m->sorted_ok)
        return;
    if (m->sorted_cap < m->count + 1) {
        size_t cap = m->count + m->count / 4 + 16;
        m_node_t **s = realloc(m->sorted, cap * sizeof(*s));
        if (!s) {
            m->sorted_ok = false; /* rebuilt (or refused) at the next walk */
            return;
        }
        m->sorted = s;
        m->sorted_cap = cap;
    }
    size_t i = sorted_lower_bound(m, n->e.key, n->e.key_len);
    memmove(&m->sorted[i + 1], &m->sorted[i], (m->count - i) * sizeof(*m->sorted));
    m->sorted[i] = n;
}

/* Likewise for a key that goes (before count shrinks). */
static void sorted_remove(etcd_mirror_t *m, const m_node_t *n)
{
    if (!m->sorted_ok)
        return;
    size_t i = sorted_lower_bound(m, n->e.key, n->e.key_len);
    if (i >= m->count || m->sorted[i] != n) {
        m->sorted_ok = false; /* cannot happen; rebuild to be safe */
        return;
    }
    memmove(&m->sorted[i], &m->sorted[i + 1], (m->count - i - 1) * sizeof(*m->sorted));
}

/* Inserts n, or replaces the node of the same key; returns the replaced node
 * (the caller frees it) or NULL. Never fails. */
static m_node_t *t_put(etcd_mirror_t *m, m_node_t *n)
{
    m_node_t **pp = t_link(m, n->e.key, n->e.key_len, n->hash);
    m_node_t *old = *pp;
    if (old) {
        n->next = old->next;
        *pp = n;
        if (m->sorted_ok) {
            size_t i = sorted_lower_bound(m, n->e.key, n->e.key_len);
            if (i < m->count && m->sorted[i] == old)
                m->sorted[i] = n;
            else
                m->sorted_ok = false; /* cannot happen; rebuild to be safe */
        }
        return old;
    }
    n->next = NULL;
    *pp = n;
    sorted_insert(m, n);
    m->count++;
    if (m->count > m->nbuckets)
        t_grow(m);
    return NULL;
}

/* Unlinks and returns the key's node (the caller frees it), or NULL. */
static m_node_t *t_remove(etcd_mirror_t *m, const void *key, size_t klen)
{
    m_node_t **pp = t_link(m, key, klen, key_hash(key, klen));
    m_node_t *n = *pp;
    if (n) {
        *pp = n->next;
        n->next = NULL;
        sorted_remove(m, n);
        m->count--;
    }
    return n;
}

static int node_ptr_cmp(const void *a, const void *b)
{
    const m_node_t *x = *(m_node_t *const *)a, *y = *(m_node_t *const *)b;
    return key_cmp(x->e.key, x->e.key_len, y->e.key, y->e.key_len);
}

static int sorted_rebuild(etcd_mirror_t *m)
{
    if (m->sorted_cap < m->count) {
        size_t cap = m->count + m->count / 4 + 16;
        m_node_t **s = realloc(m->sorted, cap * sizeof(*s));
        if (!s)
            return -ENOMEM;
        m->sorted = s;
        m->sorted_cap = cap;
    }
    size_t i = 0;
    for (size_t b = 0; b < m->nbuckets; b++)
        for (m_node_t *n = m->buckets[b]; n; n = n->next)
            m->sorted[i++] = n;
    if (i > 1)
        qsort(m->sorted, i, sizeof(*m->sorted), node_ptr_cmp);
    m->sorted_ok = true;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Waiters                                                                    */

static void wtimer_fired(uv_timer_t *t);

static void arm_wtimer(etcd_mirror_t *m)
{
    if (m->stopping)
        return;
    uint64_t min = 0;
    for (etcd_list_t *l = m->waiters.next; l != &m->waiters; l = l->next) {
        m_waiter_t *w = etcd_container_of(l, m_waiter_t, link);
        if (w->deadline && (!min || w->deadline < min))
            min = w->deadline;
    }
    if (!min) {
        uv_timer_stop(m->wtimer);
        return;
    }
    uint64_t now = uv_now(m->loop);
    uv_timer_start(m->wtimer, wtimer_fired, min > now ? min - now : 0, 0);
}

static void run_waiters(etcd_mirror_t *m, etcd_list_t *ready, int err)
{
    while (!etcd_list_empty(ready)) {
        m_waiter_t *w = etcd_container_of(ready->next, m_waiter_t, link);
        etcd_list_del(&w->link);
        w->cb(m, err, w->data);
        free(w);
    }
}

/* Calls back every waiter whose revision is reached. */
static void resolve_waiters(etcd_mirror_t *m)
{
    etcd_list_t ready;
    etcd_list_init(&ready);
    while (!etcd_list_empty(&m->waiters)) {
        m_waiter_t *w = etcd_container_of(m->waiters.next, m_waiter_t, link);
        if (w->rev > m->revision)
            break;
        etcd_list_del(&w->link);
        etcd_list_add_tail(&ready, &w->link);
    }
    if (etcd_list_empty(&ready))
        return;
    run_waiters(m, &ready, 0);
    arm_wtimer(m);
}

static void advance(etcd_mirror_t *m, int64_t rev)
{
    if (rev <= m->revision)
        return;
    m->revision = rev;
    resolve_waiters(m);
}

static void wtimer_fired(uv_timer_t *t)
{
    etcd_mirror_t *m = t->data;
    m_enter(m);
    uint64_t now = uv_now(m->loop);
    etcd_list_t expired;
    etcd_list_init(&expired);
    etcd_list_t *l = m->waiters.next;
    while (l != &m->waiters) {
        m_waiter_t *w = etcd_container_of(l, m_waiter_t, link);
        l = l->next;
        if (w->deadline && w->deadline <= now) {
            etcd_list_del(&w->link);
            etcd_list_add_tail(&expired, &w->link);
        }
    }
    run_waiters(m, &expired, -ETIMEDOUT);
    arm_wtimer(m);
    m_leave(m);
}

/* ------------------------------------------------------------------------ */
/* Watch                                                                      */

static void schedule_retry(etcd_mirror_t *m, bool restart);

static void stop_watch(etcd_mirror_t *m)
{
    etcd_watch_stop(m->watch); /* deferred by watch.c inside its callback */
    m->watch = NULL;
}

/* The client is closing: nothing can be done any more. */
static void go_dead(etcd_mirror_t *m)
{
    stop_watch(m);
    m->state = M_DEAD;
    report(m, -ECANCELED, "the client is closing; the mirror stopped following etcd");
}

static void watch_ended(etcd_mirror_t *m, int err, int64_t compact_rev)
{
    int64_t from = m->revision + 1;
    stop_watch(m);
    m->state = M_LISTING;
    if (m->c->closing) {
        go_dead(m);
        return;
    }
    if (err == -ESTALE)
        report(m, err, "watch from revision %lld: compacted (oldest available %lld); relisting",
               (long long)from, (long long)compact_rev);
    else
        report(m, err, "watch ended: %s; relisting", etcd_strerror(err));
    if (!m->stopping)
        schedule_retry(m, true);
}

static void nomem(etcd_mirror_t *m)
{
    stop_watch(m);
    m->state = M_LISTING;
    report(m, -ENOMEM, "out of memory applying a watch batch; relisting");
    if (!m->stopping)
        schedule_retry(m, true);
}

static void apply_batch(etcd_mirror_t *m, int64_t hdr, Mvccpb__Event *const *ev, size_t n)
{
    if (!n) { /* progress notification: everything up to hdr is known */
        advance(m, hdr);
        return;
    }
    int64_t base = m->revision, last = 0;
    size_t revs = 0;
    for (size_t i = 0; i < n; i++) {
        const Mvccpb__KeyValue *kv = ev[i] ? ev[i]->kv : NULL;
        if (!kv)
            continue;
        int64_t r = kv->mod_revision;
        if (r != last)
            revs++, last = r;
        if (r <= base)
            continue; /* applied already (a watch re-created from older) */
        if (ev[i]->type == MVCCPB__EVENT__EVENT_TYPE__PUT) {
            m_node_t *node = node_new(kv);
            if (!node) {
                nomem(m);
                return;
            }
            m_node_t *old = t_put(m, node);
            report_change(m, ETCD_MIRROR_PUT, node, old, r, 0);
            free(old);
        } else {
            m_node_t *old = t_remove(m, kv->key.data, kv->key.len);
            if (old)
                report_change(m, ETCD_MIRROR_DELETE, NULL, old, r, 0);
            free(old);
        }
        if (m->stopping)
            return;
    }
    advance(m, revs < WATCH_BATCH_MAX_REVS && hdr > last ? hdr : last);
}

static void watch_cb(etcd_watch_t *w, int err, int64_t rev, int64_t compact_rev,
                     Mvccpb__Event *const *ev, size_t n, void *data)
{
    etcd_mirror_t *m = data;
    if (m->stopping || w != m->watch)
        return;
    m_enter(m);
    if (err)
        watch_ended(m, err, compact_rev);
    else
        apply_batch(m, rev, ev, n);
    m_leave(m);
}

static int watch_begin(etcd_mirror_t *m, int64_t from)
{
    etcd_watch_opts_t o = {
        .key = m->prefix,
        .key_len = m->plen,
        .prefix = 1,
        .start_revision = from,
        .progress_notify = 1,
    };
    int err = etcd_watch_start(m->c, &o, watch_cb, m, &m->watch);
    if (err < 0) {
        m->watch = NULL;
        return err;
    }
    m->state = M_WATCHING;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Listing                                                                    */

static void pending_clear(etcd_mirror_t *m)
{
    for (size_t i = 0; i < m->n_pending; i++)
        free(m->pending[i]);
    m->n_pending = 0;
}

static void retry_fired(uv_timer_t *t)
{
    etcd_mirror_t *m = t->data;
    m_enter(m);
    if (m->state == M_LISTING) {
        if (m->retry_restart)
            list_begin(m);
        else
            issue_page(m);
    }
    m_leave(m);
}

static void schedule_retry(etcd_mirror_t *m, bool restart)
{
    if (m->stopping)
        return;
    m->state = M_LISTING;
    m->retry_restart = m->retry_restart || restart;
    uint64_t delay = etcd_backoff_ms(m->c, m->failures);
    if (m->failures < 32)
        m->failures++;
    uv_timer_start(m->retry, retry_fired, delay, 0);
}

static void list_failed(etcd_mirror_t *m, int err, bool restart, const char *what)
{
    if (m->c->closing) {
        go_dead(m);
        return;
    }
    report(m, err, "list of the prefix failed (%s)%s; retrying", what,
           restart ? "; starting over" : "");
    schedule_retry(m, restart);
}

static int set_next_key(etcd_mirror_t *m, const uint8_t *key, size_t len, bool add_zero)
{
    size_t need = len + (add_zero ? 1 : 0);
    if (need > m->next_cap) {
        uint8_t *k = realloc(m->next_key, need);
        if (!k)
            return -ENOMEM;
        m->next_key = k;
        m->next_cap = need;
    }
    if (len)
        memcpy(m->next_key, key, len);
    if (add_zero)
        m->next_key[len] = 0;
    m->next_len = need;
    return 0;
}

static void list_begin(etcd_mirror_t *m)
{
    m->state = M_LISTING;
    m->retry_restart = false;
    pending_clear(m);
    m->epoch++;
    m->list_rev = 0;
    static const uint8_t zero[1] = {0};
    int err = m->plen ? set_next_key(m, m->prefix, m->plen, false)
                      : set_next_key(m, zero, 1, false); /* the whole keyspace */
    if (err < 0) {
        list_failed(m, err, true, "out of memory");
        return;
    }
    issue_page(m);
}

/* Absorbs one listed key: marks an unchanged key, queues a new or changed one. */
static int absorb(etcd_mirror_t *m, const Mvccpb__KeyValue *kv)
{
    m_node_t *cur = t_find(m, kv->key.data, kv->key.len);
    if (cur) {
        cur->mark = m->epoch;
        if (cur->e.mod_revision == kv->mod_revision)
            return 0;
    }
    if (m->n_pending == m->pending_cap) {
        size_t cap = m->pending_cap ? m->pending_cap * 2 : 256;
        m_node_t **p = realloc(m->pending, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        m->pending = p;
        m->pending_cap = cap;
    }
    m_node_t *n = node_new(kv);
    if (!n)
        return -ENOMEM;
    m->pending[m->n_pending++] = n;
    return 0;
}

static int pending_cmp(const void *a, const void *b)
{
    const m_node_t *x = *(m_node_t *const *)a, *y = *(m_node_t *const *)b;
    if (x->e.mod_revision != y->e.mod_revision)
        return x->e.mod_revision < y->e.mod_revision ? -1 : 1;
    return key_cmp(x->e.key, x->e.key_len, y->e.key, y->e.key_len);
}

/* The whole prefix is listed at list_rev: apply the difference. */
static void list_finish(etcd_mirror_t *m)
{
    int64_t rev = m->list_rev;
    if (rev < m->revision) { /* a linearizable read cannot go back; be safe */
        char what[128];
        snprintf(what, sizeof(what), "listed at revision %lld, older than the mirror's %lld",
                 (long long)rev, (long long)m->revision);
        list_failed(m, -EIO, true, what);
        return;
    }
    /* Deletes: keys the list did not see. No insert happens meanwhile, so the
     * buckets stay put while callbacks run. */
    for (size_t b = 0; b < m->nbuckets; b++) {
        m_node_t **pp = &m->buckets[b];
        while (*pp) {
            m_node_t *n = *pp;
            if (n->mark == m->epoch) {
                pp = &n->next;
                continue;
            }
            *pp = n->next;
            m->count--;
            m->sorted_ok = false;
            report_change(m, ETCD_MIRROR_DELETE, NULL, n, rev, 1);
            free(n);
            if (m->stopping)
                return;
        }
    }
    /* Puts: new and changed keys, in revision order. */
    if (m->n_pending > 1)
        qsort(m->pending, m->n_pending, sizeof(*m->pending), pending_cmp);
    for (size_t i = 0; i < m->n_pending; i++) {
        m_node_t *n = m->pending[i];
        m->pending[i] = NULL; /* owned by the table now */
        m_node_t *old = t_put(m, n);
        report_change(m, ETCD_MIRROR_PUT, n, old, n->e.mod_revision, 1);
        free(old);
        if (m->stopping)
            return; /* the teardown frees the rest */
    }
    m->n_pending = 0;
    m->revision = rev;
    m->synced = true;
    m->failures = 0;
    int err = watch_begin(m, rev + 1);
    if (err < 0) {
        if (m->c->closing || err == -ECANCELED) {
            go_dead(m);
            return;
        }
        report(m, err, "cannot start the watch: %s; relisting", etcd_strerror(err));
        schedule_retry(m, true);
        /* the contents are still right at rev: report them */
    }
    if (m->cbs.on_synced && !m->stopping)
        m->cbs.on_synced(m, rev, m->data);
    if (!m->stopping)
        resolve_waiters(m);
}

static void page_result(etcd_mirror_t *m, const etcd_result_t *res)
{
    if (m->state != M_LISTING)
        return;
    if (res->err) {
        /* -ESTALE: the list revision was compacted between two pages. */
        list_failed(m, res->err, res->err == -ESTALE, res->message);
        return;
    }
    const Etcdserverpb__RangeResponse *r = res->response;
    if (!m->list_rev) {
        if (!r->header || r->header->revision <= 0) {
            list_failed(m, -EIO, true, "Range answer without a revision");
            return;
        }
        m->list_rev = r->header->revision;
    }
    for (size_t i = 0; i < r->n_kvs; i++) {
        if (absorb(m, r->kvs[i]) < 0) {
            list_failed(m, -ENOMEM, true, "out of memory");
            return;
        }
    }
    m->failures = 0;
    if (r->more && r->n_kvs) {
        const Mvccpb__KeyValue *last = r->kvs[r->n_kvs - 1];
        if (set_next_key(m, last->key.data, last->key.len, true) < 0) {
            list_failed(m, -ENOMEM, true, "out of memory");
            return;
        }
        issue_page(m);
        return;
    }
    list_finish(m);
}

static void page_done(const etcd_result_t *res, void *data)
{
    m_op_t *op = data;
    etcd_mirror_t *m = op->m;
    unsigned gen = op->gen;
    free(op);
    m->refs--;
    if (m->torn) {
        if (!m->refs)
            free(m);
        return;
    }
    if (gen != m->gen || m->stopping)
        return;
    m_enter(m);
    page_result(m, res);
    m_leave(m);
}

static void issue_page(etcd_mirror_t *m)
{
    m_op_t *op = malloc(sizeof(*op));
    if (!op) {
        list_failed(m, -ENOMEM, false, "out of memory");
        return;
    }
    op->m = m;
    op->gen = ++m->gen; /* only the latest request counts */
    Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
    req.key.data = m->next_key;
    req.key.len = m->next_len;
    req.range_end.data = m->end;
    req.range_end.len = m->elen;
    req.limit = m->page_size;
    req.revision = m->list_rev; /* 0 for the first page: now */
    m->refs++;
    int err = etcd_kv_range(m->c, &req, NULL, page_done, op);
    if (err < 0) {
        m->refs--;
        free(op);
        list_failed(m, err, err == -ESTALE, etcd_strerror(err));
    }
}

/* ------------------------------------------------------------------------ */
/* Public API                                                                 */

int etcd_mirror_start(etcd_client_t *c, const etcd_mirror_opts_t *opts,
                      const etcd_mirror_callbacks_t *cbs, void *data, etcd_mirror_t **out)
{
    if (!c || !opts || !out || (!opts->prefix && opts->prefix_len))
        return -EINVAL;
    if (c->closing)
        return -ECANCELED;
    etcd_mirror_t *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->c = c;
    m->loop = etcd_client_loop(c);
    m->plen = opts->prefix_len;
    m->page_size = opts->page_size ? opts->page_size : DEFAULT_PAGE_SIZE;
    if (cbs)
        m->cbs = *cbs;
    m->data = data;
    etcd_list_init(&m->waiters);
    m->prefix = malloc(m->plen ? m->plen : 1);
    m->end = malloc(m->plen ? m->plen : 1);
    m->nbuckets = INITIAL_BUCKETS;
    m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
    m->retry = malloc(sizeof(*m->retry));
    m->wtimer = malloc(sizeof(*m->wtimer));
    if (!m->prefix || !m->end || !m->buckets || !m->retry || !m->wtimer) {
        free(m->retry);
        free(m->wtimer);
        m_teardown(m);
        return -ENOMEM;
    }
    if (m->plen) {
        memcpy(m->prefix, opts->prefix, m->plen);
        m->elen = etcd_prefix_end(m->prefix, m->plen, m->end);
    } else {
        m->prefix[0] = 0;
        m->end[0] = 0;
        m->elen = 1;
    }
    uv_timer_init(m->loop, m->retry);
    uv_timer_init(m->loop, m->wtimer);
    m->retry->data = m->wtimer->data = m;
    m->state = M_LISTING;
    m->retry_restart = true;
    uv_timer_start(m->retry, retry_fired, 0, 0);
    *out = m;
    return 0;
}

void etcd_mirror_stop(etcd_mirror_t *m)
{
    if (!m || m->stopping)
        return;
    m_enter(m);
    m->stopping = true;
    m->gen++;
    stop_watch(m);
    uv_close((uv_handle_t *)m->retry, handle_free);
    uv_close((uv_handle_t *)m->wtimer, handle_free);
    m->retry = m->wtimer = NULL;
    etcd_list_t all;
    etcd_list_init(&all);
    while (!etcd_list_empty(&m->waiters)) {
        etcd_list_t *l = m->waiters.next;
        etcd_list_del(l);
        etcd_list_add_tail(&all, l);
    }
    run_waiters(m, &all, -ECANCELED);
    m_leave(m);
}

const etcd_mirror_entry_t *etcd_mirror_get(const etcd_mirror_t *m, const void *key, size_t klen)
{
    if (!m || (!key && klen))
        return NULL;
    m_node_t *n = t_find(m, key, klen);
    return n ? &n->e : NULL;
}

/* Calls fn for the sorted entries from index `from` on while they start
 * with prefix; a start at `after` skips that very key. */
static int walk_sorted(etcd_mirror_t *m, const void *prefix, size_t plen, const void *after,
                       size_t alen, etcd_mirror_visit_cb fn, void *arg)
{
    if (!m || !fn || (!prefix && plen) || (!after && alen))
        return -EINVAL;
    if (m->stopping)
        return -ECANCELED;
    if (!m->sorted_ok && sorted_rebuild(m) < 0)
        return -ENOMEM;
    int ret = 0;
    m_enter(m);
    size_t i = after  ? sorted_lower_bound(m, after, alen)
               : plen ? sorted_lower_bound(m, prefix, plen)
                      : 0;
    if (after && i < m->count && m->sorted[i]->e.key_len == alen &&
        !memcmp(m->sorted[i]->e.key, after, alen))
        i++; /* strictly after */
    for (; i < m->count; i++) {
        const m_node_t *n = m->sorted[i];
        if (n->e.key_len < plen || (plen && memcmp(n->e.key, prefix, plen)))
            break;
        ret = fn(&n->e, arg);
        if (ret || m->stopping)
            break;
    }
    m_leave(m);
    return ret;
}

int etcd_mirror_foreach_prefix(etcd_mirror_t *m, const void *prefix, size_t plen,
                               etcd_mirror_visit_cb fn, void *arg)
{
    return walk_sorted(m, prefix, plen, NULL, 0, fn, arg);
}

int etcd_mirror_foreach_after(etcd_mirror_t *m, const void *prefix, size_t plen, const void *after,
                              size_t alen, etcd_mirror_visit_cb fn, void *arg)
{
    if (!after)
        return -EINVAL;
    return walk_sorted(m, prefix, plen, after, alen, fn, arg);
}

int64_t etcd_mirror_revision(const etcd_mirror_t *m)
{
    return m->revision;
}

size_t etcd_mirror_count(const etcd_mirror_t *m)
{
    return m->count;
}

int etcd_mirror_synced(const etcd_mirror_t *m)
{
    return m->synced;
}

int etcd_mirror_wait(etcd_mirror_t *m, int64_t revision, unsigned timeout_ms,
                     etcd_mirror_wait_cb cb, void *data)
{
    if (!m || !cb)
        return -EINVAL;
    if (m->stopping)
        return -ECANCELED;
    if (m->revision >= revision) {
        m_enter(m);
        cb(m, 0, data);
        m_leave(m);
        return 0;
    }
    m_waiter_t *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->rev = revision;
    w->cb = cb;
    w->data = data;
    if (timeout_ms) {
        uv_update_time(m->loop);
        w->deadline = uv_now(m->loop) + timeout_ms;
    }
    /* Keep the list sorted by revision; new waiters tend to wait for the
     * newest revisions, so search from the tail. */
    etcd_list_t *pos = m->waiters.prev;
    while (pos != &m->waiters && etcd_container_of(pos, m_waiter_t, link)->rev > revision)
        pos = pos->prev;
    etcd_list_add_tail(pos->next, &w->link);
    if (timeout_ms)
        arm_wtimer(m);
    return 0;
}

int etcd_mirror_debug_suspend_watch(etcd_mirror_t *m)
{
    if (!m)
        return -EINVAL;
    if (m->stopping)
        return -ECANCELED;
    if (m->state == M_SUSPENDED)
        return 0;
    if (m->state != M_WATCHING)
        return -EBUSY;
    stop_watch(m);
    m->state = M_SUSPENDED;
    return 0;
}

int etcd_mirror_debug_restart_watch(etcd_mirror_t *m, int64_t from_revision)
{
    if (!m || from_revision < 0 || from_revision > m->revision + 1)
        return -EINVAL;
    if (m->stopping)
        return -ECANCELED;
    if (m->state != M_WATCHING && m->state != M_SUSPENDED)
        return -EBUSY;
    stop_watch(m);
    int err = watch_begin(m, from_revision ? from_revision : m->revision + 1);
    if (err < 0)
        m->state = M_SUSPENDED;
    return err;
}

/*
 * Counting semaphore: N slot keys <prefix>slot/<i>. Acquire = read the
 * slots; if one already names this holder, it is ours (a persistent holder
 * after its restart); else create a free one with a Txn that requires it to
 * be absent. With every slot taken, watch the slots for a deletion and try
 * again: no polling, and etcd alone decides who holds what.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/semaphore.h"
#include "etcd/watch.h"

typedef enum { S_IDLE, S_ACQUIRING, S_WAITING, S_HELD } sstate_t;

struct etcd_semaphore_s {
    etcd_client_t *c;
    char *slots_prefix; /* <prefix>slot/ */
    char *holder;
    unsigned n;
    int64_t lease, token;
    int slot;
    sstate_t state;
    etcd_watch_t *w;
    unsigned gen, refs;
    bool freed;
    etcd_semaphore_cb cb;
    void *data;
};

typedef struct s_op_s {
    etcd_semaphore_t *s;
    unsigned gen;
    int slot;
} s_op_t;

static void s_destroy(etcd_semaphore_t *s)
{
    free(s->slots_prefix);
    free(s->holder);
    free(s);
}

static s_op_t *op_new(etcd_semaphore_t *s, int slot)
{
    s_op_t *op = malloc(sizeof(*op));
    if (op) {
        *op = (s_op_t){s, s->gen, slot};
        s->refs++;
    }
    return op;
}

static etcd_semaphore_t *op_take(s_op_t *op, int *slot)
{
    etcd_semaphore_t *s = op->s;
    unsigned gen = op->gen;
    if (slot)
        *slot = op->slot;
    free(op);
    s->refs--;
    if (s->freed) {
        if (!s->refs)
            s_destroy(s);
        return NULL;
    }
    return gen == s->gen ? s : NULL;
}

static void s_done(etcd_semaphore_t *s, int err)
{
    etcd_watch_stop(s->w);
    s->w = NULL;
    if (err) {
        s->state = S_IDLE;
        s->gen++;
    }
    s->cb(s, err, s->data);
}

static void s_held(etcd_semaphore_t *s, int slot, int64_t token)
{
    s->state = S_HELD;
    s->slot = slot;
    s->token = token;
    s_done(s, 0);
}

static void read_slots(etcd_semaphore_t *s);

static int slot_index(const etcd_semaphore_t *s, const Mvccpb__KeyValue *kv)
{
    size_t plen = strlen(s->slots_prefix);
    if (kv->key.len <= plen || kv->key.len - plen > 9)
        return -1;
    char num[10];
    memcpy(num, kv->key.data + plen, kv->key.len - plen);
    num[kv->key.len - plen] = 0;
    char *end;
    long i = strtol(num, &end, 10);
    return *end || i < 0 ? -1 : (int)i;
}

static char *slot_key(const etcd_semaphore_t *s, int i)
{
    char *k;
    return asprintf(&k, "%s%d", s->slots_prefix, i) < 0 ? NULL : k;
}

static void take_done(const etcd_result_t *res, void *data)
{
    int slot;
    etcd_semaphore_t *s = op_take(data, &slot);
    if (!s)
        return;
    if (res->err) {
        s_done(s, res->err);
        return;
    }
    const Etcdserverpb__TxnResponse *r = res->response;
    if (r->succeeded)
        s_held(s, slot, r->header->revision);
    else
        read_slots(s); /* someone was faster: look again */
}

static void try_take(etcd_semaphore_t *s, int i)
{
    char *key = slot_key(s, i);
    etcd_txn_t *t = etcd_txn_new();
    s_op_t *op = op_new(s, i);
    int err = key && t && op ? 0 : -ENOMEM;
    size_t klen = key ? strlen(key) : 0;
    if (!err)
        err = etcd_txn_cmp_create(t, key, klen, ETCD_CMP_EQUAL, 0);
    if (!err)
        err = etcd_txn_put(t, ETCD_TXN_SUCCESS, key, klen, s->holder, strlen(s->holder), s->lease);
    if (!err)
        err = etcd_kv_txn(s->c, etcd_txn_request(t), NULL, take_done, op);
    free(key);
    etcd_txn_free(t);
    if (err < 0) {
        if (op)
            op_take(op, NULL);
        s_done(s, err);
    }
}

static void slots_watch_cb(etcd_watch_t *w, int err, int64_t rev, int64_t crev,
                           Mvccpb__Event *const *ev, size_t n, void *data)
{
    etcd_semaphore_t *s = data;
    (void)w, (void)rev, (void)crev;
    if (err) {
        s_done(s, err);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (ev[i]->type == MVCCPB__EVENT__EVENT_TYPE__DELETE) {
            etcd_watch_stop(s->w);
            s->w = NULL;
            read_slots(s);
            return;
        }
    }
}

static void slots_read(const etcd_result_t *res, void *data)
{
    etcd_semaphore_t *s = op_take(data, NULL);
    if (!s)
        return;
    if (res->err) {
        s_done(s, res->err);
        return;
    }
    const Etcdserverpb__RangeResponse *r = res->response;
    size_t hlen = strlen(s->holder);
    uint8_t *used = calloc(s->n, 1);
    if (!used) {
        s_done(s, -ENOMEM);
        return;
    }
    for (size_t k = 0; k < r->n_kvs; k++) {
        const Mvccpb__KeyValue *kv = r->kvs[k];
        int i = slot_index(s, kv);
        if (i < 0)
            continue;
        /* Ours only when bound to our lease too: a slot of an earlier lease
         * of the same holder expires with that lease, so it is not ours. */
        if (kv->value.len == hlen && !memcmp(kv->value.data, s->holder, hlen) &&
            kv->lease == s->lease) {
            free(used);
            s_held(s, i, kv->create_revision); /* ours already, e.g. after a restart */
            return;
        }
        if ((unsigned)i < s->n)
            used[i] = 1;
    }
    int free_slot = -1;
    for (unsigned i = 0; i < s->n && free_slot < 0; i++)
        if (!used[i])
            free_slot = (int)i;
    free(used);
    if (free_slot >= 0) {
        try_take(s, free_slot);
        return;
    }
    s->state = S_WAITING;
    etcd_watch_opts_t o = {.key = s->slots_prefix,
                           .key_len = strlen(s->slots_prefix),
                           .prefix = 1,
                           .start_revision = r->header->revision + 1};
    int err = etcd_watch_start(s->c, &o, slots_watch_cb, s, &s->w);
    if (err < 0) {
        s->w = NULL;
        s_done(s, err);
    }
}

static void read_slots(etcd_semaphore_t *s)
{
    s->state = S_ACQUIRING;
    size_t plen = strlen(s->slots_prefix);
    uint8_t *end = malloc(plen);
    s_op_t *op = op_new(s, -1);
    int err = end && op ? 0 : -ENOMEM;
    if (!err) {
        Etcdserverpb__RangeRequest req;
        etcd_range_init_prefix(&req, s->slots_prefix, plen, end);
        err = etcd_kv_range(s->c, &req, NULL, slots_read, op);
    }
    free(end);
    if (err < 0) {
        if (op)
            op_take(op, NULL);
        s_done(s, err);
    }
}

int etcd_semaphore_new(etcd_client_t *c, const etcd_semaphore_opts_t *o, etcd_semaphore_t **out)
{
    if (!c || !o || !o->prefix || !*o->prefix || !o->slots || !o->holder || !*o->holder || !out ||
        o->lease < 0)
        return -EINVAL;
    etcd_semaphore_t *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->c = c;
    s->n = o->slots;
    s->lease = o->lease;
    s->slot = -1;
    if (asprintf(&s->slots_prefix, "%sslot/", o->prefix) < 0) {
        s->slots_prefix = NULL;
        s_destroy(s);
        return -ENOMEM;
    }
    if (!(s->holder = strdup(o->holder))) {
        s_destroy(s);
        return -ENOMEM;
    }
    *out = s;
    return 0;
}

int etcd_semaphore_acquire(etcd_semaphore_t *s, etcd_semaphore_cb cb, void *data)
{
    if (!s || !cb)
        return -EINVAL;
    if (s->state != S_IDLE)
        return -EBUSY;
    s->cb = cb;
    s->data = data;
    read_slots(s);
    return 0;
}

static void release_ignore(const etcd_result_t *res, void *data)
{
    (void)res, (void)data;
}

int etcd_semaphore_release(etcd_semaphore_t *s, etcd_cb cb, void *data)
{
    if (!s)
        return -EINVAL;
    etcd_watch_stop(s->w);
    s->w = NULL;
    s->gen++;
    bool held = s->state == S_HELD;
    int slot = s->slot;
    int64_t token = s->token;
    s->state = S_IDLE;
    s->slot = -1;
    s->token = 0;
    if (!held) {
        if (cb) {
            etcd_result_t res = {0, "", NULL, 0};
            cb(&res, data);
        }
        return 0;
    }
    char *key = slot_key(s, slot);
    etcd_txn_t *t = etcd_txn_new();
    int err = key && t ? 0 : -ENOMEM;
    if (!err)
        err = etcd_txn_cmp_create(t, key, strlen(key), ETCD_CMP_EQUAL, token);
    if (!err)
        err = etcd_txn_delete(t, ETCD_TXN_SUCCESS, key, strlen(key), 0);
    if (!err)
        err = etcd_kv_txn(s->c, etcd_txn_request(t), NULL, cb ? cb : release_ignore, data);
    free(key);
    etcd_txn_free(t);
    return err;
}

int etcd_semaphore_is_held(const etcd_semaphore_t *s)
{
    return s->state == S_HELD;
}

int etcd_semaphore_slot(const etcd_semaphore_t *s)
{
    return s->state == S_HELD ? s->slot : -1;
}

int64_t etcd_semaphore_token(const etcd_semaphore_t *s)
{
    return s->state == S_HELD ? s->token : 0;
}

int etcd_semaphore_fence(const etcd_semaphore_t *s, etcd_txn_t *t)
{
    if (!s || !t)
        return -EINVAL;
    if (s->state != S_HELD)
        return -ENOTCONN;
    char *key = slot_key(s, s->slot);
    if (!key)
        return -ENOMEM;
    int err = etcd_txn_cmp_create(t, key, strlen(key), ETCD_CMP_EQUAL, s->token);
    free(key);
    return err;
}

void etcd_semaphore_free(etcd_semaphore_t *s)
{
    if (!s)
        return;
    etcd_watch_stop(s->w);
    s->w = NULL;
    s->freed = true;
    s->gen++;
    if (!s->refs)
        s_destroy(s);
}

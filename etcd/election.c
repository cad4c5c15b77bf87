/*
 * Leader election (and, through mutex.c, the mutex).
 *
 * Candidate key: <prefix><lease id in hex>, bound to the session lease.
 * Campaign = create the key if absent (a Txn, so a re-campaign of the same
 * session keeps its place), then wait until no key of the prefix has a lower
 * create revision: range for the nearest predecessor, watch it for its
 * deletion, repeat. Only the predecessor is watched, so a leader change
 * wakes one candidate, not all of them.
 *
 * Requests in flight hold a reference and the generation they were started
 * in; a resign or free bumps the generation so late answers are ignored.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/election.h"
#include "etcd/watch.h"

typedef enum { E_IDLE, E_CAMPAIGN, E_LEADER } estate_t;

struct etcd_election_s {
    etcd_session_t *s;
    etcd_client_t *c;
    char *prefix, *key;
    uint8_t *value;
    size_t vlen;
    int64_t rev;
    estate_t state;
    etcd_watch_t *wait_w, *own_w;
    unsigned gen, refs;
    bool freed;
    etcd_election_cb cb, lost_cb;
    void *data, *lost_data;
};

typedef struct e_op_s {
    etcd_election_t *e;
    unsigned gen;
} e_op_t;

static void e_destroy(etcd_election_t *e)
{
    free(e->prefix);
    free(e->key);
    free(e->value);
    free(e);
}

static e_op_t *op_new(etcd_election_t *e)
{
    e_op_t *op = malloc(sizeof(*op));
    if (op) {
        op->e = e;
        op->gen = e->gen;
        e->refs++;
    }
    return op;
}

/* The election an answer belongs to, or NULL when it is stale. */
static etcd_election_t *op_take(e_op_t *op)
{
    etcd_election_t *e = op->e;
    unsigned gen = op->gen;
    free(op);
    e->refs--;
    if (e->freed) {
        if (!e->refs)
            e_destroy(e);
        return NULL;
    }
    return gen == e->gen ? e : NULL;
}

static void e_stop_watches(etcd_election_t *e)
{
    etcd_watch_stop(e->wait_w);
    etcd_watch_stop(e->own_w);
    e->wait_w = e->own_w = NULL;
}

static void e_fail(etcd_election_t *e, int err)
{
    e_stop_watches(e);
    e->state = E_IDLE;
    e->gen++;
    e->cb(e, err, e->data);
}

static void wait_step(etcd_election_t *e);

static void own_watch_cb(etcd_watch_t *w, int err, int64_t rev, int64_t crev,
                         Mvccpb__Event *const *ev, size_t n, void *data)
{
    etcd_election_t *e = data;
    (void)w, (void)rev, (void)crev;
    bool gone = err != 0;
    for (size_t i = 0; i < n; i++)
        gone |= ev[i]->type == MVCCPB__EVENT__EVENT_TYPE__DELETE;
    if (!gone || e->state != E_LEADER)
        return;
    e_stop_watches(e);
    e->state = E_IDLE;
    e->rev = 0;
    e->gen++;
    if (e->lost_cb)
        e->lost_cb(e, -ENOENT, e->lost_data);
}

static void become_leader(etcd_election_t *e, int64_t seen_rev)
{
    e->state = E_LEADER;
    etcd_watch_opts_t o = {
        .key = e->key, .key_len = strlen(e->key), .start_revision = seen_rev + 1};
    if (etcd_watch_start(e->c, &o, own_watch_cb, e, &e->own_w) < 0)
        e->own_w = NULL; /* fencing still protects every write */
    e->cb(e, 0, e->data);
}

static void pred_watch_cb(etcd_watch_t *w, int err, int64_t rev, int64_t crev,
                          Mvccpb__Event *const *ev, size_t n, void *data)
{
    etcd_election_t *e = data;
    (void)w, (void)rev, (void)crev;
    if (err) {
        e_fail(e, err);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (ev[i]->type == MVCCPB__EVENT__EVENT_TYPE__DELETE) {
            etcd_watch_stop(e->wait_w);
            e->wait_w = NULL;
            wait_step(e);
            return;
        }
    }
}

static void pred_range_done(const etcd_result_t *res, void *data)
{
    etcd_election_t *e = op_take(data);
    if (!e)
        return;
    if (res->err) {
        e_fail(e, res->err);
        return;
    }
    /* The answer holds our own key (create revision == ours) first, then
     * the nearest predecessor, if any. Our key gone (the session expired
     * while we waited): the campaign has failed, leadership must not be
     * claimed on a key that no longer exists. */
    const Etcdserverpb__RangeResponse *r = res->response;
    int64_t hdr = r->header ? r->header->revision : 0;
    size_t klen = strlen(e->key);
    const Mvccpb__KeyValue *own = r->n_kvs ? r->kvs[0] : NULL;
    if (!own || own->create_revision != e->rev || own->key.len != klen ||
        memcmp(own->key.data, e->key, klen) != 0) {
        e->rev = 0;
        e_fail(e, -ENOENT);
        return;
    }
    if (r->n_kvs < 2) {
        become_leader(e, hdr);
        return;
    }
    const Mvccpb__KeyValue *pred = r->kvs[1];
    etcd_watch_opts_t o = {
        .key = pred->key.data, .key_len = pred->key.len, .start_revision = hdr + 1};
    int err = etcd_watch_start(e->c, &o, pred_watch_cb, e, &e->wait_w);
    if (err < 0)
        e_fail(e, err);
}

/* Range for the candidate just before ours. */
static void wait_step(etcd_election_t *e)
{
    if (!etcd_session_is_alive(e->s)) {
        e_fail(e, -ENOENT);
        return;
    }
    size_t plen = strlen(e->prefix);
    uint8_t *end = malloc(plen ? plen : 1);
    e_op_t *op = op_new(e);
    if (!end || !op) {
        free(end);
        if (op)
            op_take(op);
        e_fail(e, -ENOMEM);
        return;
    }
    Etcdserverpb__RangeRequest req;
    etcd_range_init_prefix(&req, e->prefix, plen, end);
    req.max_create_revision = e->rev;
    req.sort_target = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__CREATE;
    req.sort_order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND;
    req.limit = 2;
    req.keys_only = 1;
    int err = etcd_kv_range(e->c, &req, NULL, pred_range_done, op);
    free(end);
    if (err < 0) {
        op_take(op);
        e_fail(e, err);
    }
}

static void put_done_ignore(const etcd_result_t *res, void *data)
{
    (void)res, (void)data;
}

static void put_done(const etcd_result_t *res, void *data)
{
    (void)res;
    op_take(data);
}

/* Deletes the key created at `rev`, if it is still that one. */
static void delete_created(etcd_client_t *c, const char *key, int64_t rev)
{
    etcd_txn_t *t = etcd_txn_new();
    size_t klen = strlen(key);
    if (t && etcd_txn_cmp_create(t, key, klen, ETCD_CMP_EQUAL, rev) == 0 &&
        etcd_txn_delete(t, ETCD_TXN_SUCCESS, key, klen, 0) == 0 && etcd_txn_request(t))
        etcd_kv_txn(c, etcd_txn_request(t), NULL, put_done_ignore, NULL);
    etcd_txn_free(t);
}

static void create_done(const etcd_result_t *res, void *data)
{
    e_op_t *op = data;
    etcd_election_t *late = op->e;
    const Etcdserverpb__TxnResponse *lr = res->response;
    /* Resigned or freed while the create was in flight: a key it created
     * would outlive the campaign and block every other candidate until
     * the session ends, so take it back. */
    if ((late->freed || op->gen != late->gen) && !res->err && lr->succeeded && late->key &&
        lr->header)
        delete_created(late->c, late->key, lr->header->revision);
    etcd_election_t *e = op_take(data);
    if (!e)
        return;
    if (res->err) {
        e_fail(e, res->err);
        return;
    }
    const Etcdserverpb__TxnResponse *r = res->response;
    if (r->succeeded) {
        e->rev = r->header->revision;
    } else {
        /* Our session already campaigned: keep its place, refresh the value. */
        const Etcdserverpb__RangeResponse *rr = r->responses[0]->response_range;
        if (!rr || !rr->n_kvs) {
            e_fail(e, -EAGAIN);
            return;
        }
        const Mvccpb__KeyValue *kv = rr->kvs[0];
        e->rev = kv->create_revision;
        if (kv->value.len != e->vlen || memcmp(kv->value.data, e->value, e->vlen)) {
            Etcdserverpb__PutRequest put = ETCDSERVERPB__PUT_REQUEST__INIT;
            put.key = (ProtobufCBinaryData){strlen(e->key), (uint8_t *)e->key};
            put.value = (ProtobufCBinaryData){e->vlen, e->value};
            put.lease = etcd_session_lease(e->s);
            e_op_t *op = op_new(e);
            if (op && etcd_kv_put(e->c, &put, NULL, put_done, op) < 0)
                op_take(op);
        }
    }
    wait_step(e);
}

int etcd_election_new(etcd_session_t *s, const char *prefix, etcd_election_t **out)
{
    if (!s || !prefix || !*prefix || !out)
        return -EINVAL;
    etcd_election_t *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->s = s;
    e->c = etcd_session_client(s);
    if (!(e->prefix = strdup(prefix))) {
        free(e);
        return -ENOMEM;
    }
    *out = e;
    return 0;
}

int etcd_election_campaign(etcd_election_t *e, const void *value, size_t len, etcd_election_cb cb,
                           void *data)
{
    if (!e || !cb || (!value && len))
        return -EINVAL;
    if (e->state != E_IDLE)
        return -EBUSY;
    if (!etcd_session_is_alive(e->s))
        return -ENOTCONN;
    free(e->key);
    free(e->value);
    e->key = NULL;
    e->value = malloc(len ? len : 1);
    if (!e->value ||
        asprintf(&e->key, "%s%" PRIx64, e->prefix, (uint64_t)etcd_session_lease(e->s)) < 0) {
        e->key = NULL;
        return -ENOMEM;
    }
    if (len)
        memcpy(e->value, value, len);
    e->vlen = len;
    etcd_txn_t *t = etcd_txn_new();
    size_t klen = strlen(e->key);
    int err = t ? 0 : -ENOMEM;
    if (!err)
        err = etcd_txn_cmp_create(t, e->key, klen, ETCD_CMP_EQUAL, 0);
    if (!err)
        err = etcd_txn_put(t, ETCD_TXN_SUCCESS, e->key, klen, e->value, len,
                           etcd_session_lease(e->s));
    if (!err)
        err = etcd_txn_get(t, ETCD_TXN_FAILURE, e->key, klen, 0);
    e_op_t *op = err ? NULL : op_new(e);
    if (!err && !op)
        err = -ENOMEM;
    if (!err) {
        e->cb = cb;
        e->data = data;
        e->state = E_CAMPAIGN;
        err = etcd_kv_txn(e->c, etcd_txn_request(t), NULL, create_done, op);
        if (err < 0) {
            op_take(op);
            e->state = E_IDLE;
        }
    }
    etcd_txn_free(t);
    return err;
}

int etcd_election_resign(etcd_election_t *e, etcd_cb cb, void *data)
{
    if (!e)
        return -EINVAL;
    e_stop_watches(e);
    e->gen++;
    e->state = E_IDLE;
    int64_t rev = e->rev;
    e->rev = 0;
    if (!rev || !e->key) {
        if (cb) {
            etcd_result_t res = {0, "", NULL, 0};
            cb(&res, data);
        }
        return 0;
    }
    etcd_txn_t *t = etcd_txn_new();
    if (!t)
        return -ENOMEM;
    size_t klen = strlen(e->key);
    int err = etcd_txn_cmp_create(t, e->key, klen, ETCD_CMP_EQUAL, rev);
    if (!err)
        err = etcd_txn_delete(t, ETCD_TXN_SUCCESS, e->key, klen, 0);
    if (!err)
        err = etcd_kv_txn(e->c, etcd_txn_request(t), NULL, cb ? cb : put_done_ignore, data);
    etcd_txn_free(t);
    return err;
}

int etcd_election_is_leader(const etcd_election_t *e)
{
    return e->state == E_LEADER && etcd_session_is_alive(e->s);
}

void etcd_election_on_lost(etcd_election_t *e, etcd_election_cb cb, void *data)
{
    e->lost_cb = cb;
    e->lost_data = data;
}

const char *etcd_election_key(const etcd_election_t *e)
{
    return e->key && e->rev ? e->key : "";
}

int64_t etcd_election_rev(const etcd_election_t *e)
{
    return e->rev;
}

int etcd_election_fence(const etcd_election_t *e, etcd_txn_t *t)
{
    /* Fence on what we believe: if the key is gone, etcd says no. */
    if (!e || !t)
        return -EINVAL;
    if (!e->rev || !e->key)
        return -ENOTCONN;
    return etcd_txn_cmp_create(t, e->key, strlen(e->key), ETCD_CMP_EQUAL, e->rev);
}

void etcd_election_free(etcd_election_t *e)
{
    if (!e)
        return;
    /* As election.h promises: a live session's key goes with the election. */
    if (e->rev && e->key && etcd_session_is_alive(e->s))
        delete_created(e->c, e->key, e->rev);
    e_stop_watches(e);
    e->freed = true;
    e->gen++;
    if (!e->refs)
        e_destroy(e);
}

/* ---- observer ---- */

struct etcd_observer_s {
    etcd_client_t *c;
    char *prefix;
    etcd_watch_t *w;
    int64_t leader_create, leader_mod;
    bool reported, querying, again, stopped;
    etcd_observe_cb cb;
    void *data;
};

static void obs_query(etcd_observer_t *o);
static void obs_watch_cb(etcd_watch_t *w, int err, int64_t rev, int64_t crev,
                         Mvccpb__Event *const *ev, size_t n, void *data);

static void obs_free_if_done(etcd_observer_t *o)
{
    if (o->stopped && !o->querying) {
        free(o->prefix);
        free(o);
    }
}

static void obs_range_done(const etcd_result_t *res, void *data)
{
    etcd_observer_t *o = data;
    o->querying = false;
    if (o->stopped) {
        obs_free_if_done(o);
        return;
    }
    if (res->err) {
        o->cb(o, res->err, NULL, o->data);
        return;
    }
    const Etcdserverpb__RangeResponse *r = res->response;
    const Mvccpb__KeyValue *kv = r->n_kvs ? r->kvs[0] : NULL;
    int64_t cr = kv ? kv->create_revision : 0, mr = kv ? kv->mod_revision : 0;
    if (!o->w) {
        size_t plen = strlen(o->prefix);
        etcd_watch_opts_t wo = {.key = o->prefix,
                                .key_len = plen,
                                .prefix = 1,
                                .start_revision = r->header->revision + 1};
        int err = etcd_watch_start(o->c, &wo, obs_watch_cb, o, &o->w);
        if (err < 0) {
            o->w = NULL;
            o->cb(o, err, NULL, o->data);
            return;
        }
    }
    bool changed = !o->reported || cr != o->leader_create || mr != o->leader_mod;
    o->reported = true;
    o->leader_create = cr;
    o->leader_mod = mr;
    if (changed)
        o->cb(o, 0, kv, o->data);
    if (!o->stopped && o->again) {
        o->again = false;
        obs_query(o);
    }
    obs_free_if_done(o);
}

static void obs_query(etcd_observer_t *o)
{
    if (o->querying) {
        o->again = true; /* coalesce bursts into one more query */
        return;
    }
    size_t plen = strlen(o->prefix);
    uint8_t *end = malloc(plen);
    if (!end) {
        o->cb(o, -ENOMEM, NULL, o->data);
        return;
    }
    Etcdserverpb__RangeRequest req;
    etcd_range_init_prefix(&req, o->prefix, plen, end);
    req.sort_target = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__CREATE;
    req.sort_order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__ASCEND;
    req.limit = 1;
    int err = etcd_kv_range(o->c, &req, NULL, obs_range_done, o);
    free(end);
    if (err < 0)
        o->cb(o, err, NULL, o->data);
    else
        o->querying = true;
}

static void obs_watch_cb(etcd_watch_t *w, int err, int64_t rev, int64_t crev,
                         Mvccpb__Event *const *ev, size_t n, void *data)
{
    etcd_observer_t *o = data;
    (void)w, (void)rev, (void)crev, (void)ev;
    if (err) {
        o->cb(o, err, NULL, o->data);
        return;
    }
    if (n)
        obs_query(o);
}

int etcd_election_observe(etcd_client_t *c, const char *prefix, etcd_observe_cb cb, void *data,
                          etcd_observer_t **out)
{
    if (!c || !prefix || !*prefix || !cb || !out)
        return -EINVAL;
    etcd_observer_t *o = calloc(1, sizeof(*o));
    if (!o || !(o->prefix = strdup(prefix))) {
        free(o);
        return -ENOMEM;
    }
    o->c = c;
    o->cb = cb;
    o->data = data;
    *out = o;
    obs_query(o);
    if (!o->querying) {
        free(o->prefix);
        free(o);
        return -ENOMEM;
    }
    return 0;
}

void etcd_observer_stop(etcd_observer_t *o)
{
    if (!o)
        return;
    etcd_watch_stop(o->w);
    o->w = NULL;
    o->stopped = true;
    obs_free_if_done(o);
}

/* The optimistic transaction runner. See store.h. */
#include "model/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/keys.h"

int model_store_init(model_store_t *st, etcd_client_t *c, const char *prefix)
{
    if (!st || !c)
        return -EINVAL;
    if (!prefix)
        prefix = MODEL_DEFAULT_PREFIX;
    size_t n = strlen(prefix);
    if (n == 0 || n >= sizeof st->prefix || prefix[n - 1] != '/')
        return -EINVAL;
    memset(st, 0, sizeof(*st));
    st->client = c;
    memcpy(st->prefix, prefix, n + 1);
    st->max_attempts = 16;
    return 0;
}

static void op_read(model_op_t *op);
static void op_committed(const etcd_result_t *res, void *data);
static void op_finish(model_op_t *op, int err, int64_t revision);
static int batch_add(model_op_t *op);

static void op_backoff_fired(uv_timer_t *t)
{
    op_read(t->data);
}

/* Racing writers of the same keys would otherwise retry in lock step. */
static void op_retry_later(model_op_t *op)
{
    if (!op->backoff) {
        op->backoff = malloc(sizeof(*op->backoff));
        if (!op->backoff || uv_timer_init(etcd_client_loop(op->store->client), op->backoff)) {
            free(op->backoff);
            op->backoff = NULL;
            op_read(op);
            return;
        }
        op->backoff->data = op;
    }
    unsigned shift = op->attempt < 7 ? op->attempt - 1 : 6;
    uint64_t cap = 1u << shift;
    uv_timer_start(op->backoff, op_backoff_fired, 1 + (uint64_t)rand() % cap, 0);
}

static void op_finish(model_op_t *op, int err, int64_t revision)
{
    if (op->backoff) {
        uv_close((uv_handle_t *)op->backoff, (uv_close_cb)free);
        op->backoff = NULL;
    }
    etcd_txn_free(op->txn);
    op->txn = NULL;
    model_snapshot_free(&op->snap);
    op->vt->done(op, err, revision);
}

static void op_committed(const etcd_result_t *res, void *data)
{
    model_op_t *op = data;
    if (res->err) {
        model_err_set(&op->err, NULL, "etcd: %s", res->message);
        op_finish(op, res->err, 0);
        return;
    }
    const Etcdserverpb__TxnResponse *r = res->response;
    int64_t rev = r->header ? r->header->revision : 0;
    op->peeked = false;
    if (r->succeeded) {
        op_finish(op, 0, rev);
        return;
    }
    if (op->attempt >= op->store->max_attempts) {
        model_err_set(&op->err, NULL, "gave up after %u conflicting writes; try again",
                      op->attempt);
        op_finish(op, -EAGAIN, 0);
        return;
    }
    op_retry_later(op); /* someone else wrote first: read again, plan again */
}

static int send_alone(model_op_t *op)
{
    etcd_call_opts_t o = {.timeout_ms = op->store->timeout_ms};
    return etcd_kv_txn(op->store->client, etcd_txn_request(op->txn), &o, op_committed, op);
}

/* ---- group commit ----------------------------------------------------------- */

#define BATCH_CAP 64
#define BATCH_ETCD_OPS 120       /* etcd refuses more than 128 compares or ops */
#define BATCH_BYTES (512u << 10) /* well under etcd's 1.5 MiB per request */

typedef struct batch_s {
    uv_timer_t timer; /* fires once the loop turn that filled the batch ends */
    model_store_t *st;
    model_op_t *ops[BATCH_CAP];
    size_t n, n_cmp, n_ops;
    size_t bytes; /* the requests' packed sizes */
} batch_t;

typedef struct batch_call_s {
    model_op_t *ops[BATCH_CAP];
    size_t n;
} batch_call_t;

static bool same_key(const ProtobufCBinaryData *k, const char *key)
{
    return k->len == strlen(key) && memcmp(k->data, key, k->len) == 0;
}

/* The key a success op writes; NULL for a range delete (never batched). */
static const ProtobufCBinaryData *written(const Etcdserverpb__RequestOp *o)
{
    if (o->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT)
        return &o->request_put->key;
    if (o->request_case == ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE &&
        o->request_delete_range->range_end.len == 0)
        return &o->request_delete_range->key;
    return NULL;
}

static bool writes_key(const model_op_t *op, const ProtobufCBinaryData *k)
{
    const Etcdserverpb__TxnRequest *r = etcd_txn_request(op->txn);
    for (size_t i = 0; i < r->n_success; i++) {
        const ProtobufCBinaryData *w = written(r->success[i]);
        if (w && w->len == k->len && memcmp(w->data, k->data, k->len) == 0)
            return true;
    }
    return false;
}

static bool reads_key(const model_op_t *op, const ProtobufCBinaryData *k)
{
    for (size_t i = 0; i < op->snap.n; i++)
        if (same_key(k, op->snap.kv[i].key))
            return true;
    return false;
}

/* May op share a Txn with a? Neither writes what the other reads or
 * writes, so the batch is the same as a then op, or op then a. */
static bool independent(const model_op_t *op, const model_op_t *a)
{
    const Etcdserverpb__TxnRequest *r = etcd_txn_request(op->txn);
    for (size_t i = 0; i < r->n_success; i++) {
        const ProtobufCBinaryData *w = written(r->success[i]);
        if (!w || writes_key(a, w) || reads_key(a, w))
            return false;
    }
    const Etcdserverpb__TxnRequest *ra = etcd_txn_request(a->txn);
    for (size_t i = 0; i < ra->n_success; i++) {
        const ProtobufCBinaryData *w = written(ra->success[i]);
        if (!w || reads_key(op, w))
            return false;
    }
    return true;
}

static void batch_done(const etcd_result_t *res, void *data)
{
    batch_call_t *call = data;
    const Etcdserverpb__TxnResponse *r = res->response;
    for (size_t i = 0; i < call->n; i++) {
        model_op_t *op = call->ops[i];
        op->peeked = false;
        int rc = 0;
        /* etcd refused the batch as such (too big, too many operations for
         * its limits): each write on its own may pass. */
        bool refused = res->err == -EINVAL || res->err == -ENOSPC;
        if (res->err && !refused) {
            model_err_set(&op->err, NULL, "etcd: %s", res->message);
            op_finish(op, res->err, 0);
        } else if (!res->err && r->succeeded) {
            op_finish(op, 0, r->header ? r->header->revision : 0);
        } else if ((rc = send_alone(op)) != 0) { /* whose guard failed? */
            op_finish(op, rc, 0);
        }
    }
    free(call);
}

/* Sends the batch: one op alone, several in one Txn of all their guards
 * and writes (the requests' parts are borrowed: serialised at once). */
static void batch_flush(batch_t *b)
{
    size_t n = b->n;
    if (n == 0)
        return;
    /* Taken out of the batch first: a done() below may queue new ops. */
    model_op_t *ops[BATCH_CAP];
    memcpy(ops, b->ops, n * sizeof(*ops));
    b->n = b->n_cmp = b->n_ops = b->bytes = 0;
    batch_call_t *call = n > 1 ? calloc(1, sizeof(*call)) : NULL;
    if (!call) {
        for (size_t i = 0; i < n; i++) {
            int rc = send_alone(ops[i]);
            if (rc)
                op_finish(ops[i], rc, 0);
        }
        return;
    }
    memcpy(call->ops, ops, n * sizeof(*ops));
    call->n = n;
    size_t nc = 0, ns = 0;
    for (size_t i = 0; i < n; i++) {
        nc += etcd_txn_request(call->ops[i]->txn)->n_compare;
        ns += etcd_txn_request(call->ops[i]->txn)->n_success;
    }
    Etcdserverpb__TxnRequest req = ETCDSERVERPB__TXN_REQUEST__INIT;
    req.compare = malloc((nc + 1) * sizeof(*req.compare));
    req.success = malloc((ns + 1) * sizeof(*req.success));
    int rc = req.compare && req.success ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const Etcdserverpb__TxnRequest *r = etcd_txn_request(call->ops[i]->txn);
        for (size_t k = 0; k < r->n_compare; k++)
            req.compare[req.n_compare++] = r->compare[k];
        for (size_t k = 0; k < r->n_success; k++)
            req.success[req.n_success++] = r->success[k];
    }
    etcd_call_opts_t o = {.timeout_ms = b->st->timeout_ms};
    if (rc == 0)
        rc = etcd_kv_txn(b->st->client, &req, &o, batch_done, call);
    free(req.compare);
    free(req.success);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            op_finish(call->ops[i], rc, 0);
        free(call);
    }
}

static void batch_fired(uv_timer_t *t)
{
    batch_flush(t->data);
}

static batch_t *batch_of(model_store_t *st)
{
    if (st->batch_)
        return st->batch_;
    batch_t *b = calloc(1, sizeof(*b));
    if (!b || uv_timer_init(etcd_client_loop(st->client), &b->timer) != 0) {
        free(b);
        return NULL;
    }
    b->timer.data = b;
    b->st = st;
    st->batch_ = b;
    return b;
}

/* Queues op's Txn for the next flush, or sends it alone when it cannot
 * share one (it conflicts with a queued op, or the batch is full). */
static int batch_add(model_op_t *op)
{
    batch_t *b = batch_of(op->store);
    const Etcdserverpb__TxnRequest *r = etcd_txn_request(op->txn);
    size_t bytes = protobuf_c_message_get_packed_size(&r->base);
    bool fits = b && b->n < BATCH_CAP && b->n < op->store->batch_max &&
                b->n_cmp + r->n_compare <= BATCH_ETCD_OPS &&
                b->n_ops + r->n_success <= BATCH_ETCD_OPS && b->bytes + bytes <= BATCH_BYTES;
    for (size_t i = 0; fits && i < b->n; i++)
        fits = independent(op, b->ops[i]);
    for (size_t i = 0; fits && i < r->n_success; i++)
        fits = written(r->success[i]) != NULL;
    if (!fits)
        return send_alone(op);
    b->ops[b->n++] = op;
    b->n_cmp += r->n_compare;
    b->n_ops += r->n_success;
    b->bytes += bytes;
    if (b->n == 1)
        uv_timer_start(&b->timer, batch_fired, 0, 0);
    return 0;
}

void model_store_close(model_store_t *st)
{
    batch_t *b = st ? st->batch_ : NULL;
    if (!b)
        return;
    uv_timer_stop(&b->timer);
    batch_flush(b);
    st->batch_ = NULL;
    uv_close((uv_handle_t *)&b->timer, (uv_close_cb)free);
}

static void op_plan(model_op_t *op)
{
    etcd_txn_free(op->txn);
    op->txn = etcd_txn_new();
    if (!op->txn) {
        op_finish(op, -ENOMEM, 0);
        return;
    }
    int rc = op->vt->plan(op);
    if (op->peeked && rc != 0) {
        /* Planned from the local copy, which may be behind: only etcd may
         * say "nothing to do" or refuse (an unknown MAC may be new). */
        op->peeked = false;
        op_read(op);
        return;
    }
    if (rc == MODEL_OP_REREAD) {
        if (op->attempt >= op->store->max_attempts) {
            model_err_set(&op->err, NULL, "the keys to read kept changing; try again");
            op_finish(op, -EAGAIN, 0);
            return;
        }
        op_read(op);
        return;
    }
    if (rc == MODEL_OP_NOTHING) {
        op_finish(op, 0, op->snap.revision);
        return;
    }
    if (rc == 0)
        rc = model_snapshot_guard(&op->snap, op->txn);
    if (rc == 0 && op->store->fence_key[0])
        rc = etcd_txn_cmp_create(op->txn, op->store->fence_key, strlen(op->store->fence_key),
                                 ETCD_CMP_EQUAL, op->store->fence_rev);
    const Etcdserverpb__TxnRequest *req = rc ? NULL : etcd_txn_request(op->txn);
    if (rc == 0 && !req)
        rc = -ENOMEM;
    if (rc == 0)
        rc = op->store->batch_max > 1 ? batch_add(op) : send_alone(op);
    if (rc)
        op_finish(op, rc, 0);
}

static void op_snapshot_read(const etcd_result_t *res, void *data)
{
    model_op_t *op = data;
    if (res->err) {
        model_err_set(&op->err, NULL, "etcd: %s", res->message);
        op_finish(op, res->err, 0);
        return;
    }
    int rc = model_snapshot_fill(&op->snap, res->response);
    if (rc) {
        op_finish(op, rc, 0);
        return;
    }
    const model_kv_t *fence =
        op->store->fence_key[0] ? model_snapshot_get(&op->snap, op->store->fence_key) : NULL;
    if (fence && fence->create_rev != op->store->fence_rev) {
        model_err_set(&op->err, NULL, "not the leader any more (fence %s)", op->store->fence_key);
        op_finish(op, -EPERM, 0);
        return;
    }
    op_plan(op);
}

static void op_read(model_op_t *op)
{
    op->attempt++;
    etcd_txn_t *t = model_snapshot_read_txn(&op->snap);
    etcd_call_opts_t o = {.timeout_ms = op->store->timeout_ms};
    int rc =
        t ? etcd_kv_txn(op->store->client, etcd_txn_request(t), &o, op_snapshot_read, op) : -ENOMEM;
    etcd_txn_free(t); /* the request was serialised by etcd_kv_txn */
    if (rc)
        op_finish(op, rc, 0);
}

/* The first attempt from the local copy (see model_store_t.peek). */
static int op_peek(model_op_t *op)
{
    model_store_t *st = op->store;
    model_snapshot_clear_values(&op->snap);
    for (size_t i = 0; i < op->snap.n; i++) {
        model_kv_t *e = &op->snap.kv[i];
        const char *v;
        size_t len;
        int64_t mod, create;
        if (!st->peek(st->peek_data, e->key, &v, &len, &mod, &create))
            continue;
        e->value = malloc(len + 1);
        if (!e->value)
            return -ENOMEM;
        memcpy(e->value, v, len);
        e->value[len] = '\0';
        e->value_len = len;
        e->mod_rev = mod;
        e->create_rev = create;
    }
    const model_kv_t *fence =
        st->fence_key[0] ? model_snapshot_get(&op->snap, st->fence_key) : NULL;
    if (fence && fence->create_rev != st->fence_rev)
        return -EAGAIN; /* the copy does not show our key (yet): ask etcd */
    return 0;
}

int model_op_start(model_store_t *st, model_op_t *op)
{
    if (!st || !op || !op->vt || !op->vt->keys || !op->vt->plan || !op->vt->done)
        return -EINVAL;
    op->store = st;
    op->attempt = 0;
    op->txn = NULL;
    op->backoff = NULL;
    op->err.msg[0] = '\0';
    memset(&op->snap, 0, sizeof op->snap);
    int rc = op->vt->keys(op);
    /* Read the fence with the rest: one round trip says if we still lead. */
    if (rc == 0 && st->fence_key[0])
        rc = model_snapshot_want(&op->snap, st->fence_key);
    if (rc) {
        model_snapshot_free(&op->snap);
        return rc;
    }
    op->peeked = false;
    if (st->peek && op_peek(op) == 0) {
        op->attempt++;
        op->peeked = true;
        op_plan(op);
        return 0;
    }
    op_read(op);
    return 0;
}

int model_op_want(model_op_t *op, const char *kind, const char *id)
{
    char key[MODEL_KEY_MAX];
    int rc = model_key(key, sizeof key, op->store->prefix, kind, id);
    return rc < 0 ? rc : model_snapshot_want(&op->snap, key);
}

const model_kv_t *model_op_seen(model_op_t *op, const char *kind, const char *id)
{
    char key[MODEL_KEY_MAX];
    if (model_key(key, sizeof key, op->store->prefix, kind, id) < 0)
        return NULL;
    return model_snapshot_get(&op->snap, key);
}

int model_op_put(model_op_t *op, const char *kind, const char *id, json_t *value)
{
    char key[MODEL_KEY_MAX];
    int klen = model_key(key, sizeof key, op->store->prefix, kind, id);
    char *text = value ? json_dumps(value, JSON_COMPACT) : NULL;
    json_decref(value);
    int rc = klen < 0 ? klen
             : text
                 ? etcd_txn_put(op->txn, ETCD_TXN_SUCCESS, key, (size_t)klen, text, strlen(text), 0)
                 : -ENOMEM;
    free(text);
    return rc;
}

int model_op_delete(model_op_t *op, const char *kind, const char *id, int prefix)
{
    char key[MODEL_KEY_MAX];
    int klen = model_key(key, sizeof key, op->store->prefix, kind, id);
    return klen < 0 ? klen : etcd_txn_delete(op->txn, ETCD_TXN_SUCCESS, key, (size_t)klen, prefix);
}

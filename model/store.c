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
    etcd_call_opts_t o = {.timeout_ms = op->store->timeout_ms};
    if (rc == 0)
        rc = etcd_kv_txn(op->store->client, req, &o, op_committed, op);
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

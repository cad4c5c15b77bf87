/* Fenced, batched records of the sync's allocations. See allocations.h. */
#include "allocations.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/kv.h"
#include "model/keys.h"

typedef struct write_s {
    etcd_client_t *client;
    model_store_t st; /* a copy: the fence of the term that planned them */
    const sync_alloc_t *allocs;
    size_t n, next; /* allocs[next..n) are still to send */
    allocations_cb cb;
    void *data;
} write_t;

static int send_batch(write_t *w);

static void finish(write_t *w, int err, int64_t revision)
{
    allocations_cb cb = w->cb;
    void *data = w->data;
    free(w);
    cb(err, revision, data);
}

static void batch_done(const etcd_result_t *res, void *arg)
{
    write_t *w = arg;
    const Etcdserverpb__TxnResponse *r = res->response;
    int err = res->err ? res->err : !r ? -EIO : r->succeeded ? 0 : -EPERM;
    int64_t rev = r && r->header ? r->header->revision : 0;
    if (err || w->next == w->n) {
        finish(w, err, rev);
        return;
    }
    err = send_batch(w);
    if (err)
        finish(w, err, rev);
}

static int build(const write_t *w, size_t from, size_t to, etcd_txn_t *t)
{
    const model_store_t *st = &w->st;
    int rc =
        etcd_txn_cmp_create(t, st->fence_key, strlen(st->fence_key), ETCD_CMP_EQUAL, st->fence_rev);
    for (size_t i = from; rc == 0 && i < to; i++) {
        char key[MODEL_KEY_MAX];
        int klen = model_key(key, sizeof key, st->prefix, MODEL_K_ALLOCATIONS, w->allocs[i].mac);
        const char *v = w->allocs[i].value;
        if (klen < 0)
            rc = klen;
        else if (v)
            rc = etcd_txn_put(t, ETCD_TXN_SUCCESS, key, (size_t)klen, v, strlen(v), 0);
        else
            rc = etcd_txn_delete(t, ETCD_TXN_SUCCESS, key, (size_t)klen, 0);
    }
    return rc;
}

static int send_batch(write_t *w)
{
    size_t to = w->n - w->next > ALLOCATIONS_BATCH ? w->next + ALLOCATIONS_BATCH : w->n;
    etcd_txn_t *t = etcd_txn_new();
    int rc = t ? build(w, w->next, to, t) : -ENOMEM;
    if (rc == 0) {
        /* The callback may run (and free w) before the call returns. */
        size_t from = w->next;
        w->next = to;
        etcd_call_opts_t opts = {.timeout_ms = w->st.timeout_ms};
        rc = etcd_kv_txn(w->client, etcd_txn_request(t), &opts, batch_done, w);
        if (rc)
            w->next = from;
    }
    etcd_txn_free(t);
    return rc;
}

int allocations_write(etcd_client_t *client, const model_store_t *st, const sync_alloc_t *allocs,
                      size_t n, allocations_cb cb, void *data)
{
    if (!client || !st || !allocs || n == 0 || !cb || !st->fence_key[0])
        return -EINVAL;
    write_t *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    *w = (write_t){client, *st, allocs, n, 0, cb, data};
    w->st.batch_ = NULL; /* a copy of settings only */
    int rc = send_batch(w);
    if (rc)
        free(w);
    return rc;
}

/* Consistent multi-key reads and their guards. See snapshot.h. */
#include "model/snapshot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int model_snapshot_want(model_snapshot_t *s, const char *key)
{
    if (model_snapshot_get(s, key))
        return 0;
    if (s->n == MODEL_SNAPSHOT_MAX)
        return -E2BIG;
    char *k = strdup(key);
    if (!k)
        return -ENOMEM;
    s->kv[s->n++] = (model_kv_t){.key = k};
    return 0;
}

const model_kv_t *model_snapshot_get(const model_snapshot_t *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->kv[i].key, key) == 0)
            return &s->kv[i];
    return NULL;
}

void model_snapshot_clear_values(model_snapshot_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->kv[i].value);
        s->kv[i].value = NULL;
        s->kv[i].value_len = 0;
        s->kv[i].mod_rev = 0;
        s->kv[i].create_rev = 0;
    }
    s->revision = 0;
}

void model_snapshot_free(model_snapshot_t *s)
{
    model_snapshot_clear_values(s);
    for (size_t i = 0; i < s->n; i++)
        free(s->kv[i].key);
    s->n = 0;
}

etcd_txn_t *model_snapshot_read_txn(const model_snapshot_t *s)
{
    etcd_txn_t *t = etcd_txn_new();
    for (size_t i = 0; t && i < s->n; i++)
        etcd_txn_get(t, ETCD_TXN_SUCCESS, s->kv[i].key, strlen(s->kv[i].key), 0);
    if (t && !etcd_txn_request(t)) {
        etcd_txn_free(t);
        return NULL;
    }
    return t;
}

int model_snapshot_fill(model_snapshot_t *s, const Etcdserverpb__TxnResponse *r)
{
    model_snapshot_clear_values(s);
    if (!r->succeeded || r->n_responses != s->n)
        return -EIO;
    s->revision = r->header ? r->header->revision : 0;
    for (size_t i = 0; i < s->n; i++) {
        const Etcdserverpb__ResponseOp *op = r->responses[i];
        if (op->response_case != ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE)
            return -EIO;
        const Etcdserverpb__RangeResponse *rr = op->response_range;
        if (rr->n_kvs == 0)
            continue;
        const Mvccpb__KeyValue *kv = rr->kvs[0];
        model_kv_t *e = &s->kv[i];
        e->value = malloc(kv->value.len + 1);
        if (!e->value)
            return -ENOMEM;
        memcpy(e->value, kv->value.data, kv->value.len);
        e->value[kv->value.len] = '\0';
        e->value_len = kv->value.len;
        e->mod_rev = kv->mod_revision;
        e->create_rev = kv->create_revision;
    }
    return 0;
}

int model_snapshot_guard(const model_snapshot_t *s, etcd_txn_t *t)
{
    for (size_t i = 0; i < s->n; i++) {
        const model_kv_t *e = &s->kv[i];
        int rc = e->value ? etcd_txn_cmp_mod(t, e->key, strlen(e->key), ETCD_CMP_EQUAL, e->mod_rev)
                          : etcd_txn_cmp_create(t, e->key, strlen(e->key), ETCD_CMP_EQUAL, 0);
        if (rc)
            return rc;
    }
    return 0;
}

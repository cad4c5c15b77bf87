/* Writes about the owner of a MAC. See mac_op.h. */
#include "model/mac_op.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/clock.h"
#include "model/keys.h"

int model_mac_op_want(model_mac_op_t *mop, const char *kind, const char *id)
{
    char key[MODEL_KEY_MAX];
    int rc = model_key(key, sizeof key, mop->op.store->prefix, kind, id);
    return rc < 0 ? rc : model_snapshot_want(&mop->op.snap, key);
}

const model_kv_t *model_mac_op_seen(model_mac_op_t *mop, const char *kind, const char *id)
{
    char key[MODEL_KEY_MAX];
    if (model_key(key, sizeof key, mop->op.store->prefix, kind, id) < 0)
        return NULL;
    return model_snapshot_get(&mop->op.snap, key);
}

int model_mac_op_put(model_mac_op_t *mop, const char *kind, const char *id, json_t *value)
{
    char key[MODEL_KEY_MAX];
    int klen = model_key(key, sizeof key, mop->op.store->prefix, kind, id);
    char *v = value ? json_dumps(value, JSON_COMPACT) : NULL;
    json_decref(value);
    int rc = klen < 0 ? klen
             : v ? etcd_txn_put(mop->op.txn, ETCD_TXN_SUCCESS, key, (size_t)klen, v, strlen(v), 0)
                 : -ENOMEM;
    free(v);
    return rc;
}

int model_mac_op_delete(model_mac_op_t *mop, const char *kind, const char *id)
{
    char key[MODEL_KEY_MAX];
    int klen = model_key(key, sizeof key, mop->op.store->prefix, kind, id);
    return klen < 0 ? klen : etcd_txn_delete(mop->op.txn, ETCD_TXN_SUCCESS, key, (size_t)klen, 0);
}

static int mop_keys(model_op_t *op)
{
    model_mac_op_t *mop = (model_mac_op_t *)op;
    return model_mac_op_want(mop, MODEL_K_MACS, mop->mac);
}

/* The uuid a macs/ entry names, or NULL (copied into out). */
static const char *index_uuid(const model_kv_t *kv, char out[MODEL_UUID_LEN + 1])
{
    if (!kv || !kv->value)
        return NULL;
    json_t *j = json_loadb(kv->value, kv->value_len, 0, NULL);
    const char *u = NULL;
    int ok = json_unpack(j, "{s:s}", "uuid", &u) == 0 && strlen(u) == MODEL_UUID_LEN;
    if (ok)
        memcpy(out, u, MODEL_UUID_LEN + 1);
    json_decref(j);
    return ok ? out : NULL;
}

/* Resolves the owner; MODEL_OP_REREAD while keys are missing. */
static int mop_resolve(model_mac_op_t *mop)
{
    free(mop->machine);
    mop->machine = NULL;
    char uuid[MODEL_UUID_LEN + 1];
    if (!index_uuid(model_mac_op_seen(mop, MODEL_K_MACS, mop->mac), uuid))
        return 0;
    const model_kv_t *mk = model_mac_op_seen(mop, MODEL_K_MACHINES, uuid);
    if (!mk) {
        int rc = model_mac_op_want(mop, MODEL_K_MACHINES, uuid);
        return rc ? rc : MODEL_OP_REREAD;
    }
    if (!mk->value)
        return 0; /* an index entry without its machine: treated as unknown */
    int rc = model_machine_decode(mk->value, mk->value_len, &mop->machine, &mop->op.err);
    if (rc)
        return -EIO;
    size_t before = mop->op.snap.n;
    rc = mop->want ? mop->want(mop) : 0;
    if (rc)
        return rc;
    return mop->op.snap.n != before ? MODEL_OP_REREAD : 0;
}

static int mop_plan(model_op_t *op)
{
    model_mac_op_t *mop = (model_mac_op_t *)op;
    int rc = mop_resolve(mop);
    return rc ? rc : mop->plan(mop);
}

static void mop_done(model_op_t *op, int err, int64_t revision)
{
    model_mac_op_t *mop = (model_mac_op_t *)op;
    free(mop->machine);
    mop->machine = NULL;
    mop->done(mop, err, revision);
}

static const model_op_vtable_t mac_op_vt = {mop_keys, mop_plan, mop_done};

int model_mac_op_start(model_store_t *st, model_mac_op_t *mop)
{
    if (!st || !mop || !mop->plan || !mop->done || strlen(mop->mac) != MODEL_MAC_LEN)
        return -EINVAL;
    mop->op.vt = &mac_op_vt;
    mop->machine = NULL;
    mop->now_ms = model_now_ms();
    return model_op_start(st, &mop->op);
}

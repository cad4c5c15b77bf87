/* Machine state records. See state.h. */
#include "model/state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/clock.h"
#include "model/keys.h"

json_t *model_mstate_encode(const model_mstate_t *s)
{
    char c[MODEL_DATE_MAX], u[MODEL_DATE_MAX];
    return json_pack("{s:i, s:s, s:s, s:s, s:s}", "schema", MODEL_SCHEMA, "mac", s->mac, "state",
                     model_state_name(s->state), "created", model_rfc3339(s->created_ms, c),
                     "updated", model_rfc3339(s->updated_ms, u));
}

int model_mstate_decode(const char *json, size_t len, model_mstate_t *out)
{
    json_t *root = json_loadb(json, len, 0, NULL);
    const char *mac = NULL, *state = NULL, *c = NULL, *u = NULL;
    int rc = -EINVAL;
    if (root &&
        json_unpack(root, "{s:s, s:s, s:s, s:s}", "mac", &mac, "state", &state, "created", &c,
                    "updated", &u) == 0 &&
        strlen(mac) == MODEL_MAC_LEN && model_state_parse(state, &out->state, NULL, NULL) == 0 &&
        model_rfc3339_parse(c, &out->created_ms) == 0 &&
        model_rfc3339_parse(u, &out->updated_ms) == 0) {
        memcpy(out->mac, mac, MODEL_MAC_LEN + 1);
        rc = 0;
    }
    json_decref(root);
    return rc;
}

int model_mstate_put(etcd_txn_t *t, const char *prefix, const char *mac, model_state_t state,
                     const model_kv_t *seen, int64_t now_ms)
{
    model_mstate_t s = {.state = state, .created_ms = now_ms, .updated_ms = now_ms};
    model_mstate_t prev;
    if (seen && seen->value && model_mstate_decode(seen->value, seen->value_len, &prev) == 0)
        s.created_ms = prev.created_ms;
    snprintf(s.mac, sizeof s.mac, "%s", mac);
    char key[MODEL_KEY_MAX];
    int klen = model_key(key, sizeof key, prefix, MODEL_K_STATES, mac);
    if (klen < 0)
        return klen;
    json_t *j = model_mstate_encode(&s);
    char *v = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    int rc = v ? etcd_txn_put(t, ETCD_TXN_SUCCESS, key, (size_t)klen, v, strlen(v), 0) : -ENOMEM;
    free(v);
    return rc;
}

static int sop_keys(model_op_t *op)
{
    model_state_op_t *sop = (model_state_op_t *)op;
    char key[MODEL_KEY_MAX];
    int rc = model_key(key, sizeof key, op->store->prefix, MODEL_K_STATES, sop->mac);
    return rc < 0 ? rc : model_snapshot_want(&op->snap, key);
}

static int sop_plan(model_op_t *op)
{
    model_state_op_t *sop = (model_state_op_t *)op;
    char key[MODEL_KEY_MAX];
    model_key(key, sizeof key, op->store->prefix, MODEL_K_STATES, sop->mac);
    return model_mstate_put(op->txn, op->store->prefix, sop->mac, sop->state,
                            model_snapshot_get(&op->snap, key), sop->now_ms);
}

static void sop_done(model_op_t *op, int err, int64_t revision)
{
    model_state_op_t *sop = (model_state_op_t *)op;
    sop->done(sop, err, revision);
}

static const model_op_vtable_t state_vt = {sop_keys, sop_plan, sop_done};

int model_state_op_start(model_store_t *st, model_state_op_t *sop, const char *mac,
                         model_state_t state,
                         void (*done)(model_state_op_t *sop, int err, int64_t revision))
{
    if (!sop || !mac || !done || strlen(mac) != MODEL_MAC_LEN)
        return -EINVAL;
    memcpy(sop->mac, mac, MODEL_MAC_LEN + 1);
    sop->state = state;
    sop->now_ms = model_now_ms();
    sop->done = done;
    sop->op.vt = &state_vt;
    return model_op_start(st, &sop->op);
}

/* The per-machine writes of the API. See machine_ops.h. */
#include "model/machine_ops.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model/clock.h"
#include "model/keys.h"
#include "model/scheduler.h"
#include "model/state.h"

static const char *boot_mac(model_mac_op_t *mop)
{
    return mop->machine->facts.boot_mac;
}

/* Puts kind/<boot mac> = fields + the common keys, keeping "created". */
static int record_put(model_mac_op_t *mop, const char *kind, json_t *fields)
{
    const model_kv_t *seen = model_mac_op_seen(mop, kind, boot_mac(mop));
    char created[MODEL_DATE_MAX], updated[MODEL_DATE_MAX];
    model_rfc3339(mop->now_ms, created);
    json_t *prev = seen && seen->value ? json_loadb(seen->value, seen->value_len, 0, NULL) : NULL;
    const char *c = json_string_value(json_object_get(prev, "created"));
    if (c && strlen(c) < sizeof created)
        strcpy(created, c);
    json_decref(prev);
    if (!fields)
        return -ENOMEM;
    json_object_set_new(fields, "schema", json_integer(MODEL_SCHEMA));
    json_object_set_new(fields, "mac", json_string(boot_mac(mop)));
    json_object_set_new(fields, "created", json_string(created));
    json_object_set_new(fields, "updated", json_string(model_rfc3339(mop->now_ms, updated)));
    return model_mac_op_put(mop, kind, boot_mac(mop), fields);
}

int model_schedule_decode(const char *json, size_t len, unsigned *roles)
{
    json_t *j = json_loadb(json, len, 0, NULL);
    json_t *arr = json_object_get(j, "roles");
    int rc = json_is_array(arr) ? 0 : -EINVAL;
    size_t i;
    json_t *v;
    *roles = 0;
    json_array_foreach(arr, i, v)
    {
        model_role_t r;
        if (!json_is_string(v) || model_role_parse(json_string_value(v), &r, NULL, NULL) != 0)
            rc = -EINVAL;
        else
            *roles |= r;
    }
    json_decref(j);
    return rc;
}

static json_t *roles_json(unsigned roles)
{
    /* Sorted by name: the bit order of model_role_t is alphabetical. */
    json_t *arr = json_array();
    for (unsigned bit = 1; bit <= MODEL_ROLE_ALL; bit <<= 1)
        if (roles & bit)
            json_array_append_new(arr, json_string(model_role_name((model_role_t)bit)));
    return arr;
}

/* A machine given the control-plane roles joins the roster (scheduler.h),
 * so that the scheduler counts it. */
static int roster_add(model_mac_op_t *mop, unsigned roles)
{
    if (!(roles & (MODEL_ROLE_ETCD_MEMBER | MODEL_ROLE_KUBERNETES_CONTROL_PLANE)))
        return 0;
    const model_kv_t *rk = model_mac_op_seen(mop, MODEL_K_ROSTER, "");
    json_t *roster = rk && rk->value ? json_loadb(rk->value, rk->value_len, 0, NULL) : NULL;
    json_t *members = model_roster_members(roster);
    json_t *all = members ? json_copy(members) : json_array();
    size_t i;
    json_t *m;
    bool in = false;
    json_array_foreach(all, i, m)
    {
        in |= strcmp(json_string_value(m), boot_mac(mop)) == 0;
    }
    json_decref(roster);
    if (in) {
        json_decref(all);
        return 0;
    }
    json_array_append_new(all, json_string(boot_mac(mop)));
    char key[MODEL_KEY_MAX];
    int klen = model_key(key, sizeof key, mop->op.store->prefix, MODEL_K_ROSTER, "");
    json_t *v = json_pack("{s:i, s:o}", "schema", MODEL_SCHEMA, "members", all);
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    int rc = klen < 0 ? klen
             : text   ? etcd_txn_put(mop->op.txn, ETCD_TXN_SUCCESS, key, (size_t)klen, text,
                                     strlen(text), 0)
                      : -ENOMEM;
    free(text);
    return rc;
}

static int plan_schedule(model_machine_op_t *op)
{
    model_mac_op_t *mop = &op->mop;
    const model_kv_t *seen = model_mac_op_seen(mop, MODEL_K_SCHEDULES, boot_mac(mop));
    unsigned have = 0;
    if (seen && seen->value && model_schedule_decode(seen->value, seen->value_len, &have) != 0)
        have = 0; /* an unreadable record is rewritten whole */
    if ((have | op->roles) == have && seen && seen->value)
        return MODEL_OP_NOTHING;
    int rc = record_put(mop, MODEL_K_SCHEDULES,
                        json_pack("{s:o}", "roles", roles_json(have | op->roles)));
    return rc ? rc : roster_add(mop, have | op->roles);
}

static int plan_rolling(model_machine_op_t *op)
{
    json_t *f =
        op->kind == MODEL_OP_ROLLING_ENABLE
            ? json_pack("{s:b, s:s}", "enable", 1, "strategy", model_strategy_name(op->strategy))
            : json_pack("{s:b, s:n}", "enable", 0, "strategy");
    return record_put(&op->mop, MODEL_K_LC_ROLLING, f);
}

/* The lock is released only when this machine holds it. */
static int release_install_lock(model_mac_op_t *mop)
{
    char key[MODEL_KEY_MAX];
    int klen = model_key(key, sizeof key, mop->op.store->prefix, MODEL_K_LOCK_INSTALL, "");
    const model_kv_t *kv = model_snapshot_get(&mop->op.snap, key);
    if (klen < 0 || !kv || !kv->value)
        return klen < 0 ? klen : 0;
    json_t *j = json_loadb(kv->value, kv->value_len, 0, NULL);
    const char *holder = json_string_value(json_object_get(j, "mac"));
    int mine = holder && strcmp(holder, boot_mac(mop)) == 0;
    json_decref(j);
    return mine ? etcd_txn_delete(mop->op.txn, ETCD_TXN_SUCCESS, key, (size_t)klen, 0) : 0;
}

static int plan_install(model_machine_op_t *op)
{
    model_mac_op_t *mop = &op->mop;
    int rc = record_put(mop, MODEL_K_LC_INSTALL, json_pack("{s:b}", "success", op->success));
    if (rc == 0)
        rc = model_mstate_put(mop->op.txn, mop->op.store->prefix, boot_mac(mop),
                              op->success ? MODEL_STATE_INSTALLATION_SUCCEED
                                          : MODEL_STATE_INSTALLATION_FAILED,
                              model_mac_op_seen(mop, MODEL_K_STATES, boot_mac(mop)), mop->now_ms);
    return rc ? rc : release_install_lock(mop);
}

static int plan_ignition(model_machine_op_t *op)
{
    model_mac_op_t *mop = &op->mop;
    const model_kv_t *seen = model_mac_op_seen(mop, MODEL_K_LC_IGNITION, boot_mac(mop));
    json_t *prev = seen && seen->value ? json_loadb(seen->value, seen->value_len, 0, NULL) : NULL;
    json_t *was = json_object_get(prev, "up_to_date");
    json_t *last = json_object_get(prev, "last_change");
    char date[MODEL_DATE_MAX];
    json_t *change = json_is_boolean(was) && json_is_true(was) != op->up_to_date
                         ? json_string(model_rfc3339(mop->now_ms, date))
                     : json_is_string(last) ? json_incref(last)
                                            : json_null();
    json_decref(prev);
    json_t *f = json_pack("{s:b, s:o}", "up_to_date", op->up_to_date, "last_change", change);
    if (f && op->running_digest)
        json_object_set_new(f, "running_digest", json_string(op->running_digest));
    if (f && op->query)
        json_object_set_new(f, "query", json_string(op->query));
    return record_put(mop, MODEL_K_LC_IGNITION, f);
}

static const char *record_kind(model_machine_op_kind_t k)
{
    switch (k) {
    case MODEL_OP_SCHEDULE_ADD:
        return MODEL_K_SCHEDULES;
    case MODEL_OP_ROLLING_ENABLE:
    case MODEL_OP_ROLLING_DISABLE:
        return MODEL_K_LC_ROLLING;
    case MODEL_OP_INSTALL_REPORT:
        return MODEL_K_LC_INSTALL;
    case MODEL_OP_IGNITION_REPORT:
        return MODEL_K_LC_IGNITION;
    }
    return NULL;
}

static int op_want(model_mac_op_t *mop)
{
    model_machine_op_t *op = (model_machine_op_t *)mop;
    int rc = model_mac_op_want(mop, record_kind(op->kind), boot_mac(mop));
    if (rc == 0 && op->kind == MODEL_OP_SCHEDULE_ADD)
        rc = model_mac_op_want(mop, MODEL_K_ROSTER, "");
    if (rc == 0 && op->kind == MODEL_OP_INSTALL_REPORT) {
        rc = model_mac_op_want(mop, MODEL_K_STATES, boot_mac(mop));
        if (rc == 0)
            rc = model_mac_op_want(mop, MODEL_K_LOCK_INSTALL, "");
    }
    return rc;
}

static int op_plan(model_mac_op_t *mop)
{
    model_machine_op_t *op = (model_machine_op_t *)mop;
    if (!mop->machine) {
        model_err_set(&mop->op.err, NULL, "no machine has the MAC %s", mop->mac);
        return -ENOENT;
    }
    switch (op->kind) {
    case MODEL_OP_SCHEDULE_ADD:
        return plan_schedule(op);
    case MODEL_OP_ROLLING_ENABLE:
    case MODEL_OP_ROLLING_DISABLE:
        return plan_rolling(op);
    case MODEL_OP_INSTALL_REPORT:
        return plan_install(op);
    case MODEL_OP_IGNITION_REPORT:
        return plan_ignition(op);
    }
    return -EINVAL;
}

static void op_done(model_mac_op_t *mop, int err, int64_t revision)
{
    model_machine_op_t *op = (model_machine_op_t *)mop;
    op->done(op, err, revision);
}

int model_machine_op_start(model_store_t *st, model_machine_op_t *op, const char *mac,
                           void (*done)(model_machine_op_t *op, int err, int64_t revision))
{
    if (!op || !mac || !done || strlen(mac) != MODEL_MAC_LEN)
        return -EINVAL;
    memcpy(op->mop.mac, mac, MODEL_MAC_LEN + 1);
    op->mop.want = op_want;
    op->mop.plan = op_plan;
    op->mop.done = op_done;
    op->done = done;
    return model_mac_op_start(st, &op->mop);
}

/* The rolling-update records. See rollout_ops.h. */
#include "model/rollout_ops.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "model/clock.h"
#include "model/keys.h"

static const char *boot(model_mac_op_t *mop)
{
    return mop->machine->facts.boot_mac;
}

static int ro_want(model_mac_op_t *mop)
{
    model_ro_op_t *op = (model_ro_op_t *)mop;
    if (op->kind == MODEL_RO_READY)
        return model_mac_op_want(mop, MODEL_K_RO_READY, boot(mop));
    if (op->kind == MODEL_RO_GROUP)
        return model_mac_op_want(mop, MODEL_K_RO_GROUPS, boot(mop));
    if (op->kind == MODEL_RO_STEP)
        return model_mac_op_want(mop, MODEL_K_RO_PROGRESS, boot(mop));
    int rc = model_mac_op_want(mop, MODEL_K_LC_ROLLING, boot(mop));
    rc = rc ? rc : model_mac_op_want(mop, MODEL_K_RO_REQUESTS, boot(mop));
    rc = rc ? rc : model_mac_op_want(mop, MODEL_K_RO_SLOTS, boot(mop));
    return rc ? rc : model_mac_op_want(mop, MODEL_K_RO_STATE, "");
}

static bool enabled(model_mac_op_t *mop)
{
    const model_kv_t *kv = model_mac_op_seen(mop, MODEL_K_LC_ROLLING, boot(mop));
    json_t *j = kv && kv->value ? json_loadb(kv->value, kv->value_len, 0, NULL) : NULL;
    bool on = json_is_true(json_object_get(j, "enable"));
    json_decref(j);
    return on;
}

static int plan_request(model_ro_op_t *op)
{
    model_mac_op_t *mop = &op->mop;
    const model_kv_t *slot = model_mac_op_seen(mop, MODEL_K_RO_SLOTS, boot(mop));
    if (slot && slot->value) {
        op->granted = true;
        op->slot_token = slot->mod_rev;
        return MODEL_OP_NOTHING;
    }
    if (!enabled(mop)) {
        model_err_set(&mop->op.err, NULL,
                      "rolling updates are disabled for %s (POST /lifecycle/rolling/...)",
                      boot(mop));
        return -EPERM;
    }
    const model_kv_t *req = model_mac_op_seen(mop, MODEL_K_RO_REQUESTS, boot(mop));
    if (req && req->value)
        return MODEL_OP_NOTHING;
    char date[MODEL_DATE_MAX];
    return model_mac_op_put(mop, MODEL_K_RO_REQUESTS, boot(mop),
                            json_pack("{s:i, s:s, s:s, s:s}", "schema", MODEL_SCHEMA, "mac",
                                      boot(mop), "requested", model_rfc3339(mop->now_ms, date),
                                      "query", op->query ? op->query : ""));
}

static int plan_release(model_ro_op_t *op)
{
    model_mac_op_t *mop = &op->mop;
    const model_kv_t *slot = model_mac_op_seen(mop, MODEL_K_RO_SLOTS, boot(mop));
    if (!slot || !slot->value) {
        /* Released already or taken back: the token names no slot now. */
        model_err_set(&mop->op.err, NULL, "%s holds no slot: token %lld is stale", boot(mop),
                      (long long)op->token);
        return -ESTALE;
    }
    if (slot->mod_rev != op->token) {
        model_err_set(&mop->op.err, NULL, "token %lld is not the slot's (%lld): stale",
                      (long long)op->token, (long long)slot->mod_rev);
        return -ESTALE;
    }
    const model_kv_t *st = model_mac_op_seen(mop, MODEL_K_RO_STATE, "");
    json_t *state = st && st->value ? json_loadb(st->value, st->value_len, 0, NULL) : NULL;
    bool paused = json_is_true(json_object_get(state, "paused"));
    json_decref(state);
    char date[MODEL_DATE_MAX];
    int rc = model_mac_op_delete(mop, MODEL_K_RO_SLOTS, boot(mop));
    rc = rc ? rc : model_mac_op_delete(mop, MODEL_K_RO_REQUESTS, boot(mop));
    return rc ? rc
              : model_mac_op_put(mop, MODEL_K_RO_STATE, "",
                                 json_pack("{s:i, s:b, s:s}", "schema", MODEL_SCHEMA, "paused",
                                           paused, "last_release",
                                           model_rfc3339(mop->now_ms, date)));
}

/* The record as it would be, compared with what is there: an unchanged
 * report rewrites nothing (agents report every interval). */
static int put_if_changed(model_mac_op_t *mop, const char *kind, json_t *v, const char *ignore)
{
    const model_kv_t *kv = model_mac_op_seen(mop, kind, boot(mop));
    json_t *old = kv && kv->value ? json_loadb(kv->value, kv->value_len, 0, NULL) : NULL;
    if (old && ignore) {
        json_object_del(old, ignore);
        json_t *cmp = json_deep_copy(v);
        json_object_del(cmp, ignore);
        bool same = json_equal(old, cmp);
        json_decref(cmp);
        json_decref(old);
        if (same) {
            json_decref(v);
            return MODEL_OP_NOTHING;
        }
    } else {
        json_decref(old);
    }
    return model_mac_op_put(mop, kind, boot(mop), v);
}

static int plan_ready(model_ro_op_t *op)
{
    model_mac_op_t *mop = &op->mop;
    char date[MODEL_DATE_MAX];
    json_t *failed = op->failed ? json_deep_copy(op->failed) : json_array();
    json_t *v = json_pack("{s:i, s:b, s:o, s:s}", "schema", MODEL_SCHEMA, "ready", op->ready,
                          "failed", failed, "reported", model_rfc3339(mop->now_ms, date));
    return v ? put_if_changed(mop, MODEL_K_RO_READY, v, "reported") : -ENOMEM;
}

static int plan_step(model_ro_op_t *op)
{
    model_mac_op_t *mop = &op->mop;
    char date[MODEL_DATE_MAX];
    json_t *v = json_pack(
        "{s:i, s:s, s:I, s:s, s:s, s:s}", "schema", MODEL_SCHEMA, "step", op->step, "token",
        (json_int_t)op->token, "boot_id", op->boot_id ? op->boot_id : "", "failed_step",
        op->failed_step ? op->failed_step : "", "updated", model_rfc3339(mop->now_ms, date));
    return v ? put_if_changed(mop, MODEL_K_RO_PROGRESS, v, "updated") : -ENOMEM;
}

static const char *const steps[] = {"idle",     "waiting",     "draining",  "rebooting",
                                    "checking", "uncordoning", "releasing", "failed"};

int model_ro_step_check(const char *step, int64_t token, const char *boot_id,
                        const char *failed_step, model_err_t *err)
{
    bool known = false;
    for (size_t i = 0; step && i < sizeof steps / sizeof *steps; i++)
        known |= strcmp(step, steps[i]) == 0;
    if (!known)
        return model_err_set(err, "step",
                             "must be one of idle, waiting, draining, rebooting, "
                             "checking, uncordoning, releasing, failed");
    if (token < 0)
        return model_err_set(err, "token", "must be >= 0");
    size_t n = boot_id ? strlen(boot_id) : 0;
    if (n > 64)
        return model_err_set(err, "boot_id", "must be at most 64 characters");
    for (size_t i = 0; i < n; i++)
        if (!((boot_id[i] >= 'a' && boot_id[i] <= 'z') ||
              (boot_id[i] >= 'A' && boot_id[i] <= 'Z') ||
              (boot_id[i] >= '0' && boot_id[i] <= '9') || boot_id[i] == '-'))
            return model_err_set(err, "boot_id", "may hold only letters, digits and '-'");
    n = failed_step ? strlen(failed_step) : 0;
    if (n > MODEL_RO_CHECK_NAME_MAX)
        return model_err_set(err, "failed_step", "must be at most %d characters",
                             MODEL_RO_CHECK_NAME_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)failed_step[i] < 0x20 || failed_step[i] == 0x7f)
            return model_err_set(err, "failed_step", "must be printable text");
    return 0;
}

static int plan_group(model_ro_op_t *op)
{
    model_mac_op_t *mop = &op->mop;
    if (!op->group) {
        const model_kv_t *kv = model_mac_op_seen(mop, MODEL_K_RO_GROUPS, boot(mop));
        return kv && kv->value ? model_mac_op_delete(mop, MODEL_K_RO_GROUPS, boot(mop))
                               : MODEL_OP_NOTHING;
    }
    json_t *v = json_pack("{s:i, s:s}", "schema", MODEL_SCHEMA, "group", op->group);
    return v ? put_if_changed(mop, MODEL_K_RO_GROUPS, v, "schema") : -ENOMEM;
}

static int ro_plan(model_mac_op_t *mop)
{
    model_ro_op_t *op = (model_ro_op_t *)mop;
    if (!mop->machine) {
        model_err_set(&mop->op.err, NULL, "no machine has the MAC %s", mop->mac);
        return -ENOENT;
    }
    switch (op->kind) {
    case MODEL_RO_REQUEST:
        return plan_request(op);
    case MODEL_RO_RELEASE:
        return plan_release(op);
    case MODEL_RO_READY:
        return plan_ready(op);
    case MODEL_RO_STEP:
        return plan_step(op);
    default:
        return plan_group(op);
    }
}

int model_ro_group_check(const char *group, model_err_t *err)
{
    size_t n = group ? strlen(group) : 0;
    if (n == 0 || n > MODEL_RO_GROUP_MAX)
        return model_err_set(err, "group", "must be 1 to %d characters", MODEL_RO_GROUP_MAX);
    for (const char *p = group; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return model_err_set(err, "group",
                                 "may hold only letters, digits, '.', '_' and '-' (found 0x%02x)",
                                 (unsigned char)*p);
    return 0;
}

int model_ro_failed_check(json_t *failed, model_err_t *err)
{
    if (!failed)
        return 0;
    if (!json_is_array(failed) || json_array_size(failed) > MODEL_RO_FAILED_MAX)
        return model_err_set(err, "failed", "must be an array of at most %d check names",
                             MODEL_RO_FAILED_MAX);
    size_t i;
    json_t *v;
    json_array_foreach(failed, i, v)
    {
        size_t n = json_string_length(v);
        char where[32];
        snprintf(where, sizeof where, "failed[%zu]", i);
        if (!json_is_string(v) || n == 0 || n > MODEL_RO_CHECK_NAME_MAX)
            return model_err_set(err, where, "must be a check name of 1 to %d bytes",
                                 MODEL_RO_CHECK_NAME_MAX);
    }
    return 0;
}

static void ro_done(model_mac_op_t *mop, int err, int64_t revision)
{
    model_ro_op_t *op = (model_ro_op_t *)mop;
    op->done(op, err, revision);
}

int model_ro_op_start(model_store_t *st, model_ro_op_t *op, const char *mac,
                      void (*done)(model_ro_op_t *op, int err, int64_t revision))
{
    if (!op || !mac || !done || strlen(mac) != MODEL_MAC_LEN)
        return -EINVAL;
    memcpy(op->mop.mac, mac, MODEL_MAC_LEN + 1);
    op->mop.want = ro_want;
    op->mop.plan = ro_plan;
    op->mop.done = ro_done;
    op->granted = false;
    op->slot_token = 0;
    op->done = done;
    return model_mac_op_start(st, &op->mop);
}

/* ---- the leader's grants and reclaims -------------------------------------- */

static int apply_keys(model_op_t *op)
{
    model_ro_apply_t *a = (model_ro_apply_t *)op;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < a->n_grant; i++) {
        rc = model_op_want(op, MODEL_K_RO_REQUESTS, a->grant[i]);
        rc = rc ? rc : model_op_want(op, MODEL_K_RO_SLOTS, a->grant[i]);
    }
    for (size_t i = 0; rc == 0 && i < a->n_reclaim; i++)
        rc = model_op_want(op, MODEL_K_RO_SLOTS, a->reclaim[i]);
    return rc;
}

static int apply_plan(model_op_t *op)
{
    model_ro_apply_t *a = (model_ro_apply_t *)op;
    char date[MODEL_DATE_MAX];
    model_rfc3339(a->now_ms, date);
    for (size_t i = 0; i < a->n_grant; i++) {
        const model_kv_t *req = model_op_seen(op, MODEL_K_RO_REQUESTS, a->grant[i]);
        const model_kv_t *slot = model_op_seen(op, MODEL_K_RO_SLOTS, a->grant[i]);
        if (!req || !req->value || (slot && slot->value)) {
            model_err_set(&op->err, NULL, "%s changed meanwhile", a->grant[i]);
            return -ESTALE;
        }
        int rc = model_op_put(op, MODEL_K_RO_SLOTS, a->grant[i],
                              json_pack("{s:i, s:s, s:s, s:s, s:I}", "schema", MODEL_SCHEMA, "mac",
                                        a->grant[i], "granted", date, "by", a->by ? a->by : "",
                                        "leader_rev", (json_int_t)a->leader_rev));
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < a->n_reclaim; i++) {
        int rc = model_op_delete(op, MODEL_K_RO_SLOTS, a->reclaim[i], 0);
        rc = rc ? rc : model_op_delete(op, MODEL_K_RO_REQUESTS, a->reclaim[i], 0);
        if (rc)
            return rc;
    }
    return 0;
}

static void apply_done(model_op_t *op, int err, int64_t revision)
{
    model_ro_apply_t *a = (model_ro_apply_t *)op;
    a->done(a, err, revision);
}

static const model_op_vtable_t apply_vt = {apply_keys, apply_plan, apply_done};

int model_ro_apply_start(model_store_t *st, model_ro_apply_t *op,
                         void (*done)(model_ro_apply_t *op, int err, int64_t revision))
{
    if (!st || !op || !done || op->n_grant + op->n_reclaim == 0)
        return -EINVAL;
    op->now_ms = model_now_ms();
    op->done = done;
    op->op.vt = &apply_vt;
    return model_op_start(st, &op->op);
}

/* ---- pause / resume ------------------------------------------------------------ */

static int pause_keys(model_op_t *op)
{
    return model_op_want(op, MODEL_K_RO_STATE, "");
}

static int pause_plan(model_op_t *op)
{
    model_ro_pause_t *p = (model_ro_pause_t *)op;
    const model_kv_t *st = model_op_seen(op, MODEL_K_RO_STATE, "");
    json_t *state = st && st->value ? json_loadb(st->value, st->value_len, 0, NULL) : json_object();
    if (!state)
        state = json_object();
    if (st && st->value && json_is_true(json_object_get(state, "paused")) == p->paused) {
        json_decref(state);
        return MODEL_OP_NOTHING;
    }
    json_object_set_new(state, "schema", json_integer(MODEL_SCHEMA));
    json_object_set_new(state, "paused", json_boolean(p->paused));
    return model_op_put(op, MODEL_K_RO_STATE, "", state);
}

static void pause_done(model_op_t *op, int err, int64_t revision)
{
    model_ro_pause_t *p = (model_ro_pause_t *)op;
    p->done(p, err, revision);
}

static const model_op_vtable_t pause_vt = {pause_keys, pause_plan, pause_done};

int model_ro_pause_start(model_store_t *st, model_ro_pause_t *op, bool paused,
                         void (*done)(model_ro_pause_t *op, int err, int64_t revision))
{
    if (!st || !op || !done)
        return -EINVAL;
    op->paused = paused;
    op->done = done;
    op->op.vt = &pause_vt;
    return model_op_start(st, &op->op);
}

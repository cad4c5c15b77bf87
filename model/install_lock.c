/* The install token. See install_lock.h. */
#include "model/install_lock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/clock.h"
#include "model/keys.h"
#include "model/machine_ops.h"
#include "model/state.h"

static int il_want(model_mac_op_t *mop)
{
    int rc = model_mac_op_want(mop, MODEL_K_LOCK_INSTALL, "");
    return rc ? rc : model_mac_op_want(mop, MODEL_K_STATES, mop->machine->facts.boot_mac);
}

/* Who holds the token: 1 this machine, 0 nobody, -1 another (holder set). */
static int holder_of(model_install_lock_op_t *op, const model_kv_t *kv)
{
    if (!kv || !kv->value)
        return 0;
    json_t *j = json_loadb(kv->value, kv->value_len, 0, NULL);
    const char *mac = json_string_value(json_object_get(j, "mac"));
    const char *q = json_string_value(json_object_get(j, "query"));
    int mine = mac && strcmp(mac, op->mop.machine->facts.boot_mac) == 0;
    snprintf(op->holder, sizeof op->holder, "%s", q ? q : "(unknown)");
    json_decref(j);
    return mine ? 1 : -1;
}

static int il_plan(model_mac_op_t *mop)
{
    model_install_lock_op_t *op = (model_install_lock_op_t *)mop;
    if (!mop->machine) {
        model_err_set(&mop->op.err, NULL, "no machine has the MAC %s", mop->mac);
        return -ENOENT;
    }
    const char *boot = mop->machine->facts.boot_mac;
    /* lease 0: the lock is disabled (coreos_install_lock_seconds <= 0). */
    int who = op->lease ? holder_of(op, model_mac_op_seen(mop, MODEL_K_LOCK_INSTALL, "")) : 1;
    op->granted = who >= 0;
    op->lease_used = who == 0;
    int rc = 0;
    if (who == 0) {
        char date[MODEL_DATE_MAX];
        char key[MODEL_KEY_MAX];
        int klen = model_key(key, sizeof key, mop->op.store->prefix, MODEL_K_LOCK_INSTALL, "");
        json_t *v = json_pack("{s:i, s:s, s:s, s:s}", "schema", MODEL_SCHEMA, "mac", boot, "query",
                              op->query, "granted", model_rfc3339(mop->now_ms, date));
        char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
        json_decref(v);
        rc = klen < 0 ? klen
             : text   ? etcd_txn_put(mop->op.txn, ETCD_TXN_SUCCESS, key, (size_t)klen, text,
                                     strlen(text), op->lease)
                      : -ENOMEM;
        free(text);
    }
    if (rc == 0)
        rc = model_mstate_put(mop->op.txn, mop->op.store->prefix, boot,
                              op->granted ? MODEL_STATE_OS_INSTALLATION_GRANTED
                                          : MODEL_STATE_OS_INSTALLATION_DENIED,
                              model_mac_op_seen(mop, MODEL_K_STATES, boot), mop->now_ms);
    return rc;
}

static void il_done(model_mac_op_t *mop, int err, int64_t revision)
{
    model_install_lock_op_t *op = (model_install_lock_op_t *)mop;
    if (err)
        op->lease_used = false;
    op->done(op, err, revision);
}

int model_install_lock_op_start(model_store_t *st, model_install_lock_op_t *op, const char *mac,
                                void (*done)(model_install_lock_op_t *op, int err,
                                             int64_t revision))
{
    if (!op || !mac || !done || !op->query || strlen(mac) != MODEL_MAC_LEN)
        return -EINVAL;
    memcpy(op->mop.mac, mac, MODEL_MAC_LEN + 1);
    op->mop.want = il_want;
    op->mop.plan = il_plan;
    op->mop.done = il_done;
    op->done = done;
    op->granted = op->lease_used = false;
    op->holder[0] = '\0';
    return model_mac_op_start(st, &op->mop);
}

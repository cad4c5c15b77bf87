/* The discovery upsert transaction. See discovery_op.h. */
#include "model/discovery_op.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/clock.h"
#include "model/journal.h"
#include "model/keys.h"
#include "model/machine.h"
#include "model/state.h"

static int dop_keys(model_op_t *op)
{
    model_discovery_op_t *dop = (model_discovery_op_t *)op;
    const model_discovery_t *d = dop->report;
    int rc = model_op_want(op, MODEL_K_MACHINES, d->uuid);
    for (size_t i = 0; rc == 0 && i < d->n_ifaces; i++)
        rc = model_op_want(op, MODEL_K_MACS, d->ifaces[i].mac);
    return rc ? rc : model_op_want(op, MODEL_K_STATES, d->boot_mac);
}

/* Every reported MAC is free or already ours; index the new ones. */
static int plan_macs(model_discovery_op_t *dop)
{
    model_op_t *op = &dop->op;
    const model_discovery_t *d = dop->report;
    for (size_t i = 0; i < d->n_ifaces; i++) {
        const model_kv_t *kv = model_op_seen(op, MODEL_K_MACS, d->ifaces[i].mac);
        const char *owner = NULL;
        json_t *j = kv && kv->value ? json_loadb(kv->value, kv->value_len, 0, NULL) : NULL;
        if (kv && kv->value && json_unpack(j, "{s:s}", "uuid", &owner) != 0)
            owner = "(unreadable index entry)";
        if (owner && strcmp(owner, d->uuid) != 0) {
            model_err_set(&op->err, NULL,
                          "interface %s (%s) belongs to machine %s: forget that machine first",
                          d->ifaces[i].name, d->ifaces[i].mac, owner);
            json_decref(j);
            return -EEXIST;
        }
        json_decref(j);
        if (owner)
            continue;
        int rc = model_op_put(op, MODEL_K_MACS, d->ifaces[i].mac,
                              json_pack("{s:i, s:s}", "schema", MODEL_SCHEMA, "uuid", d->uuid));
        if (rc)
            return rc;
    }
    return 0;
}

static bool reports_mac(const model_discovery_t *d, const char *mac)
{
    for (size_t i = 0; i < d->n_ifaces; i++)
        if (strcmp(d->ifaces[i].mac, mac) == 0)
            return true;
    return false;
}

/* MACs the machine had and no longer reports leave the index. The machine
 * key's guard proves they still point to it (keys.h invariant). */
static int plan_dropped_macs(model_discovery_op_t *dop, const model_machine_t *prev)
{
    for (size_t i = 0; prev && i < prev->facts.n_ifaces; i++) {
        const char *mac = prev->facts.ifaces[i].mac;
        if (reports_mac(dop->report, mac))
            continue;
        char key[MODEL_KEY_MAX];
        int klen = model_key(key, sizeof key, dop->op.store->prefix, MODEL_K_MACS, mac);
        int rc =
            klen < 0 ? klen : etcd_txn_delete(dop->op.txn, ETCD_TXN_SUCCESS, key, (size_t)klen, 0);
        if (rc)
            return rc;
    }
    return 0;
}

static int plan_journal(model_discovery_op_t *dop)
{
    const model_discovery_t *d = dop->report;
    if (!d->journal || !d->boot_id[0])
        return 0;
    char id[MODEL_UUID_LEN + 1 + sizeof d->boot_id], date[MODEL_DATE_MAX];
    snprintf(id, sizeof id, "%s/%s", d->uuid, d->boot_id);
    json_t *rec = model_journal_record(d->journal, model_rfc3339(dop->now_ms, date));
    return rec ? model_op_put(&dop->op, MODEL_K_JOURNALS, id, rec) : -ENOMEM;
}

static int dop_plan(model_op_t *op)
{
    model_discovery_op_t *dop = (model_discovery_op_t *)op;
    const model_discovery_t *d = dop->report;
    const model_kv_t *mk = model_op_seen(op, MODEL_K_MACHINES, d->uuid);
    model_machine_t *prev = NULL;
    if (mk && mk->value && model_machine_decode(mk->value, mk->value_len, &prev, &op->err) != 0)
        return -EIO; /* a record we cannot read is not overwritten blindly */
    dop->new_machine = prev == NULL;
    int rc = plan_macs(dop);
    if (rc == 0)
        rc = plan_dropped_macs(dop, prev);
    if (rc == 0) {
        model_machine_t *m = malloc(sizeof(*m));
        rc = m ? 0 : -ENOMEM;
        if (m) {
            model_machine_from_discovery(m, d, prev, dop->now_ms);
            rc = model_op_put(op, MODEL_K_MACHINES, d->uuid, model_machine_encode(m));
            free(m);
        }
    }
    if (rc == 0)
        rc = model_mstate_put(op->txn, op->store->prefix, d->boot_mac, MODEL_STATE_DISCOVERY,
                              model_op_seen(op, MODEL_K_STATES, d->boot_mac), dop->now_ms);
    if (rc == 0)
        rc = plan_journal(dop);
    free(prev);
    return rc;
}

static void dop_done(model_op_t *op, int err, int64_t revision)
{
    model_discovery_op_t *dop = (model_discovery_op_t *)op;
    dop->done(dop, err, revision);
}

static const model_op_vtable_t discovery_vt = {dop_keys, dop_plan, dop_done};

int model_discovery_op_start(model_store_t *st, model_discovery_op_t *dop,
                             const model_discovery_t *report,
                             void (*done)(model_discovery_op_t *dop, int err, int64_t revision))
{
    if (!st || !dop || !report || !done)
        return -EINVAL;
    dop->op.vt = &discovery_vt;
    dop->report = report;
    dop->now_ms = model_now_ms();
    dop->new_machine = false;
    dop->done = done;
    return model_op_start(st, &dop->op);
}

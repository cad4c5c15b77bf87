/* Forgetting a machine. See forget_op.h. */
#include "model/forget_op.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "model/keys.h"
#include "model/machine.h"

static int fop_keys(model_op_t *op)
{
    model_forget_op_t *fop = (model_forget_op_t *)op;
    char key[MODEL_KEY_MAX];
    int rc = model_key(key, sizeof key, op->store->prefix, MODEL_K_MACHINES, fop->uuid);
    return rc < 0 ? rc : model_snapshot_want(&op->snap, key);
}

static int fop_plan(model_op_t *op)
{
    model_forget_op_t *fop = (model_forget_op_t *)op;
    char key[MODEL_KEY_MAX];
    model_key(key, sizeof key, op->store->prefix, MODEL_K_MACHINES, fop->uuid);
    const model_kv_t *kv = model_snapshot_get(&op->snap, key);
    model_machine_t *m = NULL;
    if (!kv || !kv->value) {
        model_err_set(&op->err, NULL, "no machine has the UUID %s", fop->uuid);
        return -ENOENT;
    }
    if (model_machine_decode(kv->value, kv->value_len, &m, &op->err) != 0)
        return -EIO;
    const char *boot = m->facts.boot_mac;
    memcpy(fop->boot_mac, boot, sizeof fop->boot_mac);
    static const char *const by_mac[] = {MODEL_K_SCHEDULES, MODEL_K_STATES, MODEL_K_LC_IGNITION,
                                         MODEL_K_LC_ROLLING, MODEL_K_LC_INSTALL};
    int rc = model_op_delete(op, MODEL_K_MACHINES, fop->uuid, 0);
    for (size_t i = 0; rc == 0 && i < m->facts.n_ifaces; i++)
        rc = model_op_delete(op, MODEL_K_MACS, m->facts.ifaces[i].mac, 0);
    for (size_t i = 0; rc == 0 && i < sizeof by_mac / sizeof by_mac[0]; i++)
        rc = model_op_delete(op, by_mac[i], boot, 0);
    char journals[MODEL_UUID_LEN + 2];
    snprintf(journals, sizeof journals, "%s/", fop->uuid);
    if (rc == 0)
        rc = model_op_delete(op, MODEL_K_JOURNALS, journals, 1);
    free(m);
    return rc;
}

static void fop_done(model_op_t *op, int err, int64_t revision)
{
    model_forget_op_t *fop = (model_forget_op_t *)op;
    fop->done(fop, err, revision);
}

static const model_op_vtable_t forget_vt = {fop_keys, fop_plan, fop_done};

int model_forget_op_start(model_store_t *st, model_forget_op_t *fop, const char *uuid,
                          void (*done)(model_forget_op_t *fop, int err, int64_t revision))
{
    if (!fop || !uuid || !done || strlen(uuid) != MODEL_UUID_LEN)
        return -EINVAL;
    memcpy(fop->uuid, uuid, MODEL_UUID_LEN + 1);
    fop->boot_mac[0] = '\0';
    fop->done = done;
    fop->op.vt = &forget_vt;
    return model_op_start(st, &fop->op);
}

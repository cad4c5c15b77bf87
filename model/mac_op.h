/*
 * A write about the machine that owns a MAC (schedules, lifecycle, states
 * of machines reached through a raw query's mac=). The runner resolves
 * macs/<mac> -> machines/<uuid> inside the same snapshot as the keys the
 * write touches, so the write is guarded by all of them: the MAC cannot
 * move, nor the machine change, between the read and the commit.
 *
 * The caller fills mac and the three callbacks, then model_mac_op_start().
 * In plan(), op->machine is the owner (NULL: no machine has that MAC) and
 * the snapshot holds the keys want() asked for.
 */
#ifndef MODEL_MAC_OP_H
#define MODEL_MAC_OP_H

#include "model/machine.h"
#include "model/store.h"

typedef struct model_mac_op_s model_mac_op_t;

struct model_mac_op_s {
    model_op_t op; /* first */
    char mac[MODEL_MAC_LEN + 1];
    model_machine_t *machine; /* set by the runner before want() and plan() */
    int64_t now_ms;
    /* Adds the keys the write needs (by the machine's boot MAC, say) with
     * model_mac_op_want(); called once the machine is known. May be NULL. */
    int (*want)(model_mac_op_t *mop);
    /* As model_op_vtable_t.plan; machine may be NULL. */
    int (*plan)(model_mac_op_t *mop);
    void (*done)(model_mac_op_t *mop, int err, int64_t revision);
    void *data; /* the caller's */
};

int model_mac_op_start(model_store_t *st, model_mac_op_t *mop);

/* Helpers for want() and plan(): "<prefix><kind><id>" in the snapshot. */
int model_mac_op_want(model_mac_op_t *mop, const char *kind, const char *id);
const model_kv_t *model_mac_op_seen(model_mac_op_t *mop, const char *kind, const char *id);
/* Puts a JSON value (stolen) at "<prefix><kind><id>" on success. */
int model_mac_op_put(model_mac_op_t *mop, const char *kind, const char *id, json_t *value);
int model_mac_op_delete(model_mac_op_t *mop, const char *kind, const char *id);

#endif

/*
 * The write behind POST /discovery: ONE Txn that upserts machines/<uuid>,
 * keeps the macs/ index in step (adds the new MACs, drops the MACs the
 * machine no longer reports), sets states/<boot mac> to "discovery" and
 * stores the Ignition journal of this boot. A second report of a known
 * machine updates it in place; two replicas racing on the same machine
 * serialise through the guards of model/store.h.
 *
 * done() errors beyond model/store.h's: -EEXIST when a reported MAC
 * belongs to another machine (err names it: the operator must forget that
 * machine first, a MAC is never silently moved).
 */
#ifndef MODEL_DISCOVERY_OP_H
#define MODEL_DISCOVERY_OP_H

#include <stdbool.h>

#include "model/discovery.h"
#include "model/store.h"

typedef struct model_discovery_op_s {
    model_op_t op;                   /* first: op->data is free for the caller */
    const model_discovery_t *report; /* borrowed until done() */
    int64_t now_ms;
    bool new_machine; /* set by the plan: no machines/<uuid> before */
    void (*done)(struct model_discovery_op_s *dop, int err, int64_t revision);
} model_discovery_op_t;

/* Starts the write of `report`; `done` runs once (see model_op_start). */
int model_discovery_op_start(model_store_t *st, model_discovery_op_t *dop,
                             const model_discovery_t *report,
                             void (*done)(model_discovery_op_t *dop, int err, int64_t revision));

#endif

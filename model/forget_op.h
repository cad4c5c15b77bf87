/*
 * Forgetting a machine (quirk 25: the original had no way to): ONE Txn
 * deletes machines/<uuid>, the MAC index entries of its interfaces, and
 * every record kept by its boot MAC (schedule, state, lifecycle records)
 * and its Ignition journals, guarded by the machine key's mod revision.
 * done() gets -ENOENT when no machine has that UUID.
 */
#ifndef MODEL_FORGET_OP_H
#define MODEL_FORGET_OP_H

#include "model/store.h"
#include "model/validate.h"

typedef struct model_forget_op_s {
    model_op_t op; /* first; op.data is the caller's */
    char uuid[MODEL_UUID_LEN + 1];
    char boot_mac[MODEL_MAC_LEN + 1]; /* set by the plan */
    void (*done)(struct model_forget_op_s *fop, int err, int64_t revision);
} model_forget_op_t;

/* uuid: normalised (model_uuid_parse). */
int model_forget_op_start(model_store_t *st, model_forget_op_t *fop, const char *uuid,
                          void (*done)(model_forget_op_t *fop, int err, int64_t revision));

#endif

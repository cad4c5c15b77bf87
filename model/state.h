/*
 * Machine states, kept by boot MAC under states/<mac> (a MAC is known
 * before its machine is: /ipxe sets "booting"). Encoded as
 *   {"schema": 1, "mac", "state", "created", "updated"}
 */
#ifndef MODEL_STATE_H
#define MODEL_STATE_H

#include <jansson.h>
#include <stdint.h>

#include "model/snapshot.h"
#include "model/validate.h"

typedef struct model_mstate_s {
    char mac[MODEL_MAC_LEN + 1];
    model_state_t state;
    int64_t created_ms, updated_ms;
} model_mstate_t;

json_t *model_mstate_encode(const model_mstate_t *s);
/* 0, -EINVAL (not a state record). */
int model_mstate_decode(const char *json, size_t len, model_mstate_t *out);

/* Adds to t the put of states/<mac> = state at now_ms, keeping the
 * creation date found in `seen` (the snapshot entry of that key; may be
 * NULL or absent). 0 or -ENOMEM. */
int model_mstate_put(etcd_txn_t *t, const char *prefix, const char *mac, model_state_t state,
                     const model_kv_t *seen, int64_t now_ms);

/* ---- setting a state by MAC (a machine need not exist yet) ---- */

#include "model/store.h"

typedef struct model_state_op_s {
    model_op_t op; /* first; op.data is the caller's */
    char mac[MODEL_MAC_LEN + 1];
    model_state_t state;
    int64_t now_ms;
    void (*done)(struct model_state_op_s *sop, int err, int64_t revision);
} model_state_op_t;

/* Sets states/<mac> (normalised MAC) in one guarded Txn. */
int model_state_op_start(model_store_t *st, model_state_op_t *sop, const char *mac,
                         model_state_t state,
                         void (*done)(model_state_op_t *sop, int err, int64_t revision));

#endif

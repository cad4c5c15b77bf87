/*
 * The writes of the API about one machine, each ONE guarded Txn
 * (model/mac_op.h): the machine is found by any of its MACs, records are
 * keyed by its boot MAC. Every record carries
 *   {"schema": 1, "mac": <boot mac>, "created", "updated", ...fields}
 * and keeps its "created" date across updates.
 *
 *   schedules/<mac>          {"roles": [names, sorted]}
 *   lifecycle/rolling/<mac>  {"enable": bool, "strategy": name | null}
 *   lifecycle/install/<mac>  {"success": bool}
 *   lifecycle/ignition/<mac> {"up_to_date": bool, "last_change": date | null,
 *                             "running_digest", "query"} (the controller
 *                             recomputes up_to_date when matchbox changes)
 *
 * done() errors beyond model/store.h's: -ENOENT when no machine has the
 * MAC (op.err says so).
 */
#ifndef MODEL_MACHINE_OPS_H
#define MODEL_MACHINE_OPS_H

#include <stdbool.h>

#include "model/mac_op.h"
#include "model/validate.h"

typedef enum model_machine_op_kind_e {
    MODEL_OP_SCHEDULE_ADD,    /* add roles (a set of model_role_t bits) */
    MODEL_OP_ROLLING_ENABLE,  /* enable rolling updates with a strategy */
    MODEL_OP_ROLLING_DISABLE, /* enable = false, strategy = null */
    MODEL_OP_INSTALL_REPORT,  /* coreos-install result; also sets the state
                                 and releases the install lock it held */
    MODEL_OP_IGNITION_REPORT, /* up to date or not; last_change moves when
                                 the flag flips */
} model_machine_op_kind_t;

typedef struct model_machine_op_s {
    model_mac_op_t mop; /* first; mop.data is the caller's */
    model_machine_op_kind_t kind;
    unsigned roles;             /* SCHEDULE_ADD */
    model_strategy_t strategy;  /* ROLLING_ENABLE */
    bool success;               /* INSTALL_REPORT */
    bool up_to_date;            /* IGNITION_REPORT */
    const char *running_digest; /* IGNITION_REPORT: of what the node runs (borrowed) */
    const char *query;          /* IGNITION_REPORT: the node's raw query (borrowed) */
    void (*done)(struct model_machine_op_s *op, int err, int64_t revision);
} model_machine_op_t;

/* Starts the write for `mac` (any MAC of the machine, normalised). */
int model_machine_op_start(model_store_t *st, model_machine_op_t *op, const char *mac,
                           void (*done)(model_machine_op_t *op, int err, int64_t revision));

/* Decodes the roles of a schedules/ record into a set; 0 or -EINVAL. */
int model_schedule_decode(const char *json, size_t len, unsigned *roles);

/* The key of the install lock: "<prefix>locks/install". */
#define MODEL_K_LOCK_INSTALL "locks/install"

#endif

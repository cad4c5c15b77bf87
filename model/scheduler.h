/*
 * Role scheduling (spec section 6), as the controller's leader runs it.
 *
 * The original's rule, with its over-scheduling fixed (quirk 6):
 *   - the control plane (etcd-member + kubernetes-control-plane) is given to
 *     available machines, lowest MACs first, only when enough of them exist
 *     to complete it: expected - current members, all at once;
 *   - once it is complete, every further available machine becomes a
 *     kubernetes-node;
 *   - "available" = discovered, with a boot interface, no roles yet.
 *
 * The control-plane roster (<prefix>control-plane = {"members": [macs]})
 * records every machine ever given the control-plane roles, by this
 * scheduler or through POST /scheduler, in the same Txn as the schedule.
 * The scheduler counts the roster, not the schedules it sees, and guards
 * its writes with the roster's mod revision: the control plane never
 * exceeds the expected size however writes race, and a member that
 * disappears (forgotten machine) still counts until an operator removes it
 * from the roster: it is reported, never silently replaced.
 */
#ifndef MODEL_SCHEDULER_H
#define MODEL_SCHEDULER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "model/store.h"
#include "model/validate.h"

#define MODEL_K_ROSTER "control-plane"

typedef struct model_sched_input_s {
    const char *mac; /* boot MAC */
    bool has_boot_iface;
    bool scheduled; /* has a schedules/ record */
} model_sched_input_t;

/* The most machines one plan gives roles to: a write of one plan must stay
 * within etcd's limit of operations per Txn (--max-txn-ops, 128 by
 * default) and the snapshot's keys; the rest waits for the next run, which
 * the write itself triggers. */
#define MODEL_SCHED_BATCH 32

typedef struct model_sched_plan_s {
    char (*cp)[MODEL_MAC_LEN + 1]; /* to get the control-plane roles */
    size_t n_cp;
    char (*nodes)[MODEL_MAC_LEN + 1]; /* to become kubernetes-node */
    size_t n_nodes;
    size_t members; /* roster size before the plan */
    size_t waiting; /* available machines left waiting for a full control plane */
} model_sched_plan_t;

/* Decides, from the machines and the roster size, who gets which role.
 * Deterministic: inputs in any order give the same plan. 0 or -ENOMEM;
 * free with model_sched_plan_free(). */
int model_sched_plan(const model_sched_input_t *in, size_t n, size_t roster_members,
                     unsigned expected_cp, model_sched_plan_t *out);
void model_sched_plan_free(model_sched_plan_t *p);

/* The members of a roster value (a JSON array of MACs, borrowed), or NULL. */
json_t *model_roster_members(json_t *roster_value);

/*
 * Writes a plan: ONE Txn with a schedule for each machine of the plan and
 * the roster updated, guarded by the roster and the schedules it read (a
 * machine scheduled meanwhile, or a roster that moved, replans), and by the
 * store's fence. done() errors as model/store.h; -ESTALE when the roster
 * moved so that the plan no longer holds (the caller plans again).
 */
typedef struct model_sched_op_s {
    model_op_t op;                  /* first; op.data is the caller's */
    const model_sched_plan_t *plan; /* borrowed until done() */
    size_t expected_members;        /* the roster size the plan was made for */
    const char *by;                 /* the writer (replica name), kept in each record */
    int64_t now_ms;
    void (*done)(struct model_sched_op_s *sop, int err, int64_t revision);
} model_sched_op_t;

int model_sched_op_start(model_store_t *st, model_sched_op_t *sop, const model_sched_plan_t *plan,
                         void (*done)(model_sched_op_t *sop, int err, int64_t revision));

#endif

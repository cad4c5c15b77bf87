/*
 * The rolling-update records and their writes (the decision is in
 * model/rollout.h):
 *
 *   rollout/requests/<mac>  {"requested", "query"}: a node asks for a slot
 *   rollout/slots/<mac>     {"granted", "by", "leader_rev"}: the leader gave
 *                           it one; the slot key's mod revision is the
 *                           node's token (it presents it to release)
 *   rollout/state           {"paused", "last_release"}
 *   rollout/ready/<mac>     {"ready", "failed", "reported"}: the node's last
 *                           ready checks (its agent runs them); a control-
 *                           plane member that reported not ready keeps the
 *                           other members from rolling (never reported:
 *                           counted ready)
 *   rollout/groups/<mac>    {"group"}: the operator's label for the node's
 *                           failure domain, in place of its LLDP chassis
 *   rollout/progress/<mac>  {"step", "token", "boot_id", "failed_step",
 *                           "updated"}: the step of its update the node
 *                           has journaled last (its agent reports each), so
 *                           that operators see it and a node that lost its
 *                           journal resumes from it
 *
 * Requests and releases come from nodes through the API (by any MAC of the
 * machine, which must have rolling updates enabled); grants and reclaims
 * are the leader's, fenced.
 */
#ifndef MODEL_ROLLOUT_OPS_H
#define MODEL_ROLLOUT_OPS_H

#include <jansson.h>
#include <stdbool.h>

#include "model/mac_op.h"

#define MODEL_K_RO_REQUESTS "rollout/requests/"
#define MODEL_K_RO_SLOTS "rollout/slots/"
#define MODEL_K_RO_STATE "rollout/state"
#define MODEL_K_RO_READY "rollout/ready/"
#define MODEL_K_RO_GROUPS "rollout/groups/"
#define MODEL_K_RO_PROGRESS "rollout/progress/"

typedef enum model_ro_kind_e {
    MODEL_RO_REQUEST, /* ask for a slot (idempotent) */
    MODEL_RO_RELEASE, /* give it back, with the token */
    MODEL_RO_READY,   /* report the ready checks: ready, failed */
    MODEL_RO_GROUP,   /* label the node's group: group (NULL: the label goes) */
    MODEL_RO_STEP,    /* the node's progress: step, token, boot_id, failed_step */
} model_ro_kind_t;

/* A progress report: step one of the agent's states ("idle", "waiting",
 * "draining", "rebooting", "checking", "uncordoning", "releasing",
 * "failed"), token >= 0, boot_id up to 64 of [A-Za-z0-9-], failed_step up
 * to MODEL_RO_CHECK_NAME_MAX printable characters. 0 or -EINVAL with err. */
int model_ro_step_check(const char *step, int64_t token, const char *boot_id,
                        const char *failed_step, model_err_t *err);

/* A group label: 1 to MODEL_RO_GROUP_MAX of [A-Za-z0-9._-]. 0 or -EINVAL
 * with err. */
#define MODEL_RO_GROUP_MAX 63
int model_ro_group_check(const char *group, model_err_t *err);

/* A ready report's "failed": NULL, or an array of at most
 * MODEL_RO_FAILED_MAX check names of 1 to MODEL_RO_CHECK_NAME_MAX bytes.
 * 0 or -EINVAL with err. */
#define MODEL_RO_FAILED_MAX 32
#define MODEL_RO_CHECK_NAME_MAX 128
int model_ro_failed_check(json_t *failed, model_err_t *err);

typedef struct model_ro_op_s {
    model_mac_op_t mop; /* first; mop.data is the caller's */
    model_ro_kind_t kind;
    const char *query; /* REQUEST: the node's raw query (borrowed) */
    int64_t token;     /* RELEASE: the slot's mod revision */
    bool ready;        /* READY: all checks passed */
    json_t *failed;    /* READY: names of the checks that failed (borrowed) */
    const char *group; /* GROUP: the label (borrowed), NULL to remove it */
    const char *step;  /* STEP (borrowed, checked): token is the slot's */
    const char *boot_id;
    const char *failed_step;
    /* Results, valid in done(): the slot held (REQUEST), its token. */
    bool granted;
    int64_t slot_token;
    void (*done)(struct model_ro_op_s *op, int err, int64_t revision);
} model_ro_op_t;

/* done() errors: -ENOENT unknown MAC, -EPERM rolling updates disabled for
 * the machine (REQUEST), -ESTALE wrong token or no slot held (RELEASE).
 * READY and GROUP need no rolling policy. */
int model_ro_op_start(model_store_t *st, model_ro_op_t *op, const char *mac,
                      void (*done)(model_ro_op_t *op, int err, int64_t revision));

/* The leader's writes: grant slots to `grant` (each with a request and no
 * slot, as read) and take back `reclaim` (slot and request deleted), in
 * ONE Txn on a fenced store. */
typedef struct model_ro_apply_s {
    model_op_t op; /* first */
    const char *const *grant;
    size_t n_grant;
    const char *const *reclaim;
    size_t n_reclaim;
    const char *by;
    int64_t leader_rev;
    int64_t now_ms;
    void (*done)(struct model_ro_apply_s *op, int err, int64_t revision);
} model_ro_apply_t;

int model_ro_apply_start(model_store_t *st, model_ro_apply_t *op,
                         void (*done)(model_ro_apply_t *op, int err, int64_t revision));

/* Pause or resume the rollout (keeps last_release). */
typedef struct model_ro_pause_s {
    model_op_t op;
    bool paused;
    void (*done)(struct model_ro_pause_s *op, int err, int64_t revision);
} model_ro_pause_t;

int model_ro_pause_start(model_store_t *st, model_ro_pause_t *op, bool paused,
                         void (*done)(model_ro_pause_t *op, int err, int64_t revision));

#endif

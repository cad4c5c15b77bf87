/*
 * The node's side of a rolling update: a state machine journaled in the
 * state directory, so that an agent that restarts — after the reboot it
 * asked for, or after a crash at any step — carries on where it was.
 *
 *   IDLE -> (outdated, rolling enabled, no blocker failing)
 *   WAITING      asked for a slot (Lifecycle.AcquireSlot); the leader grants
 *   DRAINING     drain hook                         } each step first checks
 *   REBOOTING    strategy hook (kexec/reboot/...)   } that the slot is still
 *   CHECKING     after the new boot: ready checks   } ours (its token): a
 *   UNCORDONING  uncordon hook                      } stale one stops here
 *   RELEASING    Lifecycle.ReleaseSlot with the token -> IDLE
 *   FAILED       a hook failed or the slot went stale: the node stays
 *                cordoned, the slot held, the failure reported
 *                (Lifecycle.ReportReady with the failed step); a restart of
 *                the agent tries the failed step again
 *
 * Each step, once journaled, is reported (Lifecycle.ReportStep). An agent
 * that starts without a journal (its disk was reinstalled) and finds that
 * the API's record of its progress names the slot it still holds resumes
 * from that step.
 *
 * Loop thread only.
 */
#ifndef ENJ_AGENT_ROLLOUT_H
#define ENJ_AGENT_ROLLOUT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/rpc_client.h"

typedef struct agent_rollout_s agent_rollout_t;

typedef struct agent_rollout_config_s {
    const char *state_dir;     /* the journal: <state_dir>/rollout.json */
    const char *hooks_dir;     /* drain, uncordon, kexec, reboot, poweroff,
                                  ready.d/..., blockers.d/... (NULL: defaults) */
    unsigned hook_timeout_s;   /* drain, strategy, uncordon; 0 = 600 */
    unsigned check_timeout_s;  /* one ready check; 0 = 30 */
    unsigned check_retries;    /* attempts of a ready check; 0 = 60 */
    unsigned check_interval_s; /* between attempts; 0 = 5 */
    const char *ignition_url;  /* the API's /ignition URL base, for hooks */
} agent_rollout_config_t;

/* What the watch says of the machine. */
typedef struct agent_rollout_view_s {
    bool known; /* the machine is registered */
    bool outdated;
    bool rolling_enabled;
    const char *strategy; /* "" = kexec */
    bool control_plane;   /* etcd member or control plane: its ready checks */
    /* What the API keeps of the node's progress (its last ReportStep) and
     * the slot it holds: a node whose journal was lost resumes from them. */
    const char *progress_step; /* NULL or "": none */
    int64_t progress_token;
    const char *progress_boot_id;
    int64_t slot_token; /* 0: no slot */
} agent_rollout_view_t;

/* Loads the journal. boot_id: the current boot's, to tell a reboot from a
 * restart. 0, -ENOMEM, -EIO (unreadable journal: the message says why). */
int agent_rollout_start(uv_loop_t *loop, rpc_client_t *rpc, const agent_rollout_config_t *cfg,
                        const char *mac, const char *uuid, const char *boot_id,
                        agent_rollout_t **out);
/* A new view of the machine: may start or continue the sequence. */
void agent_rollout_update(agent_rollout_t *r, const agent_rollout_view_t *view);
/* The state's name ("idle", "waiting", ...). */
const char *agent_rollout_state(const agent_rollout_t *r);
/* Kills a running hook, cancels calls; done runs once everything ended. */
void agent_rollout_stop(agent_rollout_t *r, void (*done)(void *), void *data);

#endif

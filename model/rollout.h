/*
 * Who may roll now: the rolling-update policy as a pure decision (spec 8,
 * quirks 3 and 4, and what operators of kured and locksmith ask for).
 *
 * Nodes that are outdated ask for a slot; the leader grants slots so that:
 *   - at most max_unavailable nodes hold a slot at once (default 1);
 *   - a control-plane member (an etcd member) rolls alone among members,
 *     and only while every other member is ready: quorum is never at risk;
 *   - at most max_unavailable_per_group nodes of one group (the switch
 *     chassis a node's LLDP neighbour names, i.e. its rack, or an explicit
 *     label) hold slots at once (0 = no limit);
 *   - no slot is given outside the maintenance window, while the rollout is
 *     paused, or before settle_ms passed since the last release;
 *   - a slot held longer than max_hold_ms is reclaimed (and reported);
 *   - requests are served in the order they came (then by MAC), and the
 *     same inputs always give the same decision.
 * A node that holds a slot keeps it across its own reboot: holding is the
 * leader's record, not the node's connection.
 */
#ifndef MODEL_ROLLOUT_H
#define MODEL_ROLLOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/validate.h"

/* The most grants and the most reclaims of one decision: their write is
 * one Txn within etcd's operation limit; the rest comes next round. */
#define MODEL_ROLLOUT_BATCH 32

typedef struct model_window_s {
    bool enabled;       /* false: always open */
    uint8_t days;       /* bit 0 = Sunday ... bit 6 = Saturday */
    int start_minute;   /* 0..1439, local time */
    int length_minutes; /* 1..10080; may run past midnight */
    int utc_offset_min; /* local = UTC + offset (-720..840) */
} model_window_t;

typedef struct model_rollout_config_s {
    unsigned max_unavailable;           /* >= 1 */
    unsigned max_unavailable_per_group; /* 0 = no per-group limit */
    int64_t settle_ms;                  /* after a release, before the next grant */
    int64_t max_hold_ms;                /* a slot held longer is reclaimed; 0 = never */
    bool paused;
    model_window_t window;
} model_rollout_config_t;

typedef struct model_rollout_node_s {
    const char *mac;
    const char *group;  /* rack/chassis or label; NULL or "" = its own group */
    bool control_plane; /* an etcd member */
    bool ready;         /* its last ready check passed */
    bool requesting;    /* outdated and asking for a slot */
    int64_t requested_ms;
    bool holding; /* holds a slot */
    int64_t held_since_ms;
} model_rollout_node_t;

typedef enum model_rollout_wait_e {
    MODEL_WAIT_NONE = 0,
    MODEL_WAIT_PAUSED,
    MODEL_WAIT_WINDOW,
    MODEL_WAIT_SETTLE,
    MODEL_WAIT_CAPACITY, /* max_unavailable slots held */
    MODEL_WAIT_GROUP,    /* its group's slots held */
    MODEL_WAIT_QUORUM,   /* another member rolls or is not ready */
} model_rollout_wait_t;

typedef struct model_rollout_decision_s {
    const char **grant; /* MACs to give a slot now, in order */
    size_t n_grant;
    const char **reclaim; /* MACs whose slot is taken back */
    size_t n_reclaim;
    /* Per input node (same index): why a requesting node waits. */
    model_rollout_wait_t *wait;
} model_rollout_decision_t;

/* Is the window open at now_ms (UTC ms)? */
bool model_window_open(const model_window_t *w, int64_t now_ms);

/* Parses "Mon-Fri 02:00 4h UTC+01:00"-like text: days (Sun..Sat, ranges
 * and commas, or "*"), start HH:MM, length (Nh, Nm or NhMm), and an
 * optional UTC offset. "" or "always" = no window. -EINVAL with err. */
int model_window_parse(const char *text, model_window_t *out, model_err_t *err);

/* Decides; 0 or -ENOMEM. last_release_ms: the last slot release (0 =
 * none). Free with model_rollout_decision_free(). */
int model_rollout_decide(const model_rollout_config_t *cfg, const model_rollout_node_t *nodes,
                         size_t n, int64_t last_release_ms, int64_t now_ms,
                         model_rollout_decision_t *out);
void model_rollout_decision_free(model_rollout_decision_t *d);

const char *model_rollout_wait_name(model_rollout_wait_t w);

#endif

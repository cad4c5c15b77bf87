/*
 * Leadership of enjoliverd replicas: every replica campaigns on
 * <prefix>election/ with a session lease of --lease-ttl seconds; the one
 * whose key is oldest leads and runs the reconcilers.
 *
 *   leader_start(loop, etcd, &cfg, &cbs, data, &l);
 *   ... elected(key, rev): start reconcilers, fencing writes on (key, rev)
 *   ... lost(): stop them; the replica campaigns again by itself
 *   leader_resign(l, done, data);   SIGTERM: hand over at once, then stop
 *
 * Losing it is detected three ways, whichever comes first: the election key
 * deleted (watch), the session lost (etcd said the lease is gone), or no
 * keep-alive accepted for 2/3 of the TTL (etcd may be about to expire it):
 * the reconcilers stop before another replica can be elected, and the fence
 * refuses any write that would still be in flight.
 *
 * Loop thread only; callbacks run on the loop.
 */
#ifndef ENJ_LEADER_H
#define ENJ_LEADER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "etcd/client.h"

typedef struct leader_s leader_t;

typedef struct leader_config_s {
    const char *election_prefix; /* "<prefix>election/" */
    const char *name;            /* this replica, the election value */
    int ttl_s;                   /* session lease TTL, 1..60 */
} leader_config_t;

typedef struct leader_callbacks_s {
    void (*elected)(leader_t *l, const char *key, int64_t rev, void *data);
    void (*lost)(leader_t *l, const char *why, void *data);
    /* Who leads now (any replica), "" when nobody; may be NULL. */
    void (*observed)(leader_t *l, const char *leader_name, void *data);
} leader_callbacks_t;

int leader_start(uv_loop_t *loop, etcd_client_t *etcd, const leader_config_t *cfg,
                 const leader_callbacks_t *cbs, void *data, leader_t **out);

/* Gives up leading (if leading: lost() runs first), deletes the election
 * key and revokes the lease so that another replica leads at once, stops
 * campaigning, then calls done. */
void leader_resign(leader_t *l, void (*done)(void *data), void *data);

/* Frees it (after leader_resign, or at once: the lease then expires). */
void leader_free(leader_t *l);

bool leader_is_leader(const leader_t *l);
/* The current leader's name as last observed ("" when unknown). */
const char *leader_current(const leader_t *l);
/* How many times this replica was elected. */
uint64_t leader_terms(const leader_t *l);

#endif

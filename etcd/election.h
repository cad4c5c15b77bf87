/*
 * Leader election on a key prefix. Each candidate writes <prefix><lease hex>
 * bound to its session's lease; the candidate whose key has the lowest
 * create revision leads. A candidate waits for the deletion of the key just
 * before its own (no herd, no polling), then checks again.
 *
 * Fencing: a leader adds etcd_election_fence() to each of its Txns; the
 * compare fails as soon as its key is gone (resigned, lease expired), so a
 * paused or partitioned ex-leader cannot write, whatever it believes.
 */
#ifndef ETCD_ELECTION_H
#define ETCD_ELECTION_H

#include "etcd/kv.h"
#include "etcd/session.h"

typedef struct etcd_election_s etcd_election_t;

/* err == 0: elected. Otherwise the campaign failed (-ECANCELED: resigned or
 * freed, -ENOENT: the session's lease is gone, or a client error). */
typedef void (*etcd_election_cb)(etcd_election_t *e, int err, void *data);

int etcd_election_new(etcd_session_t *s, const char *prefix, etcd_election_t **out);
/* Starts campaigning with `value` (copied) as the leader's value. */
int etcd_election_campaign(etcd_election_t *e, const void *value, size_t len, etcd_election_cb cb,
                           void *data);
/* Stops campaigning / leading: deletes the candidate key. cb may be NULL. */
int etcd_election_resign(etcd_election_t *e, etcd_cb cb, void *data);
int etcd_election_is_leader(const etcd_election_t *e);
/* cb(-ENOENT) runs when, after being elected, this candidate's key vanishes
 * (its lease expired, someone deleted it): leadership is lost. */
void etcd_election_on_lost(etcd_election_t *e, etcd_election_cb cb, void *data);
/* The candidate key ("" before campaign) and its create revision (0 before). */
const char *etcd_election_key(const etcd_election_t *e);
int64_t etcd_election_rev(const etcd_election_t *e);
/* Adds If(create_revision(key) == rev) to t. -ENOTCONN if not campaigning. */
int etcd_election_fence(const etcd_election_t *e, etcd_txn_t *t);
/* Frees the election; an ongoing campaign is abandoned (its key is left to
 * the session lease, or deleted if the session is alive). */
void etcd_election_free(etcd_election_t *e);

/*
 * Observer: reports the current leader of a prefix, then each change.
 * leader == NULL means no candidate. err != 0 ends the observation.
 */
typedef struct etcd_observer_s etcd_observer_t;
typedef void (*etcd_observe_cb)(etcd_observer_t *o, int err, const Mvccpb__KeyValue *leader,
                                void *data);
int etcd_election_observe(etcd_client_t *c, const char *prefix, etcd_observe_cb cb, void *data,
                          etcd_observer_t **out);
void etcd_observer_stop(etcd_observer_t *o);

#endif

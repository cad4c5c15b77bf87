/*
 * etcd leases: Grant, Revoke, TimeToLive, Leases, and keep-alive.
 *
 * Every kept-alive lease of a client shares one long-lived LeaseKeepAlive
 * stream; the client sends a keep-alive for each lease every TTL/3 and
 * re-opens the stream (with backoff, on the next endpoint) when it breaks.
 * A lease is declared lost, and its `lost` callback runs once, when etcd
 * answers TTL <= 0 or when no answer came within the lease's TTL.
 */
#ifndef ETCD_LEASE_H
#define ETCD_LEASE_H

#include "etcd/client.h"

/*
 * The unary calls. Each returns 0 when started (cb runs exactly once, on
 * the loop, with the response in res->response: LeaseGrantResponse,
 * LeaseRevokeResponse, LeaseTimeToLiveResponse, LeaseLeasesResponse) or a
 * negative errno (-EINVAL, -ENOMEM, -ECANCELED when the client closes), in
 * which case cb never runs. Callback errors: see etcd/client.h; -ENOENT
 * for a lease etcd does not know.
 *
 * grant: a lease of ttl_s seconds; id 0 lets etcd choose it (the usual).
 * revoke: ends the lease at once and deletes every key attached to it.
 * ttl: remaining TTL (-1 when expired), granted TTL and, with with_keys,
 *      the attached keys.
 * list: every lease id of the cluster.
 * Grants and revokes are mutations: not retried on another endpoint unless
 * they never left the client.
 */
int etcd_lease_grant(etcd_client_t *c, int64_t ttl_s, int64_t id, const etcd_call_opts_t *opts,
                     etcd_cb cb, void *data);
int etcd_lease_revoke(etcd_client_t *c, int64_t id, const etcd_call_opts_t *opts, etcd_cb cb,
                      void *data);
int etcd_lease_ttl(etcd_client_t *c, int64_t id, int with_keys, const etcd_call_opts_t *opts,
                   etcd_cb cb, void *data);
int etcd_lease_list(etcd_client_t *c, const etcd_call_opts_t *opts, etcd_cb cb, void *data);

typedef struct etcd_keepalive_s etcd_keepalive_t;

/* err: -ENOENT (etcd said the lease is gone) or -ETIMEDOUT (no answer in TTL). */
typedef void (*etcd_lease_lost_cb)(etcd_keepalive_t *ka, int err, void *data);

/*
 * Keeps lease `id` (granted with `ttl_s`) alive until etcd_keepalive_stop().
 * `lost` runs at most once; the handle stays valid until stopped. Returns 0
 * or -EINVAL / -ENOMEM / -ECANCELED.
 */
int etcd_keepalive_start(etcd_client_t *c, int64_t id, int64_t ttl_s, etcd_lease_lost_cb lost,
                         void *data, etcd_keepalive_t **out);
/* Stops keeping the lease alive and frees the handle (does not revoke). */
void etcd_keepalive_stop(etcd_keepalive_t *ka);
int64_t etcd_keepalive_id(const etcd_keepalive_t *ka);
/* Milliseconds since the loop's epoch of the last accepted keep-alive answer. */
uint64_t etcd_keepalive_last_ok(const etcd_keepalive_t *ka);

#endif

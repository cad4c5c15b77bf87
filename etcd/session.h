/*
 * Session: a lease granted with a TTL and kept alive until closed. Recipes
 * (election, mutex, lease-bound semaphore holders) attach their keys to it,
 * so the keys vanish when the process dies or loses contact with etcd.
 */
#ifndef ETCD_SESSION_H
#define ETCD_SESSION_H

#include "etcd/client.h"

typedef struct etcd_session_s etcd_session_t;

/* ready: err == 0 once the lease is granted and kept alive, or the grant's
 * error. lost: the lease expired or was revoked by someone else (runs once,
 * never after etcd_session_close()). */
typedef void (*etcd_session_cb)(etcd_session_t *s, int err, void *data);

/*
 * Grants a lease of ttl_s seconds (> 0) and keeps it alive (etcd/lease.h).
 * Returns 0 and *out (owned by the caller until etcd_session_close(),
 * valid at once), or -EINVAL / -ENOMEM / -ECANCELED; then no callback runs.
 * ready runs once on the loop; after ready(err != 0) the session is dead
 * but must still be closed. The session must be closed before its client.
 */
int etcd_session_start(etcd_client_t *c, int64_t ttl_s, etcd_session_cb ready, etcd_session_cb lost,
                       void *data, etcd_session_t **out);
/* The lease id, 0 until ready. */
int64_t etcd_session_lease(const etcd_session_t *s);
/* The TTL asked for, in seconds. */
int64_t etcd_session_ttl(const etcd_session_t *s);
/* Non-zero between ready(0) and lost (or close). */
int etcd_session_is_alive(const etcd_session_t *s);
/* uv_now() (ms) of the last keep-alive etcd accepted, 0 before ready. A
 * holder that must stop before etcd can expire its lease compares it with
 * the TTL instead of waiting for the lost callback. */
uint64_t etcd_session_last_ok(const etcd_session_t *s);
/* The client the session was started on (borrowed). */
etcd_client_t *etcd_session_client(const etcd_session_t *s);
/* Stops the keep-alive and frees the session. revoke != 0 also revokes the
 * lease (fire and forget) so that attached keys disappear at once. */
void etcd_session_close(etcd_session_t *s, int revoke);

#endif

/*
 * Blocking wrapper for command-line tools and tests: a private uv loop and a
 * client on it; each call runs the loop until its answer arrives. Not for
 * daemons (they own a loop and use the asynchronous API).
 *
 * Functions return 0 or a negative errno; etcd_sync_error() gives the last
 * error's message. Responses handed out are owned by the caller and freed
 * with etcd_response_free().
 */
#ifndef ETCD_SYNC_H
#define ETCD_SYNC_H

#include "etcd/client.h"
#include "etcd/kv.h"
#include "etcd/lease.h"
#include "etcd/maint.h"

typedef struct etcd_sync_s etcd_sync_t;

/* Creates the private loop and a client on it (cfg as etcd_client_new()).
 * 0 and *out, or -EINVAL / -ENOMEM. Free with etcd_sync_free(), which
 * closes the client and waits for it. */
int etcd_sync_new(const etcd_config_t *cfg, etcd_sync_t **out);
void etcd_sync_free(etcd_sync_t *s);
/* The underlying client and loop, to mix in asynchronous calls (run the
 * loop with etcd_sync_run_until()). Borrowed. */
etcd_client_t *etcd_sync_client(etcd_sync_t *s);
uv_loop_t *etcd_sync_loop(etcd_sync_t *s);
/* The message of the last failed call ("" after a success). */
const char *etcd_sync_error(const etcd_sync_t *s);

/* Runs the loop until *flag becomes non-zero; for async calls in tests. */
void etcd_sync_run_until(etcd_sync_t *s, const int *flag);

/* Each call blocks until etcd answers or the request deadline passes; the
 * errors are those of etcd/client.h. Output pointers may be NULL. */

/* Put; *revision = the revision of the write. */
int etcd_sync_put(etcd_sync_t *s, const void *key, size_t klen, const void *val, size_t vlen,
                  int64_t lease, int64_t *revision);
/* One key: *out NULL-terminated copy of the value and its length; -ENOENT if absent. */
int etcd_sync_get(etcd_sync_t *s, const void *key, size_t klen, Mvccpb__KeyValue **out);
int etcd_sync_range(etcd_sync_t *s, const Etcdserverpb__RangeRequest *req,
                    Etcdserverpb__RangeResponse **out);
int etcd_sync_delete(etcd_sync_t *s, const void *key, size_t klen, int prefix, int64_t *deleted);
int etcd_sync_txn(etcd_sync_t *s, const Etcdserverpb__TxnRequest *req,
                  Etcdserverpb__TxnResponse **out);
int etcd_sync_compact(etcd_sync_t *s, int64_t revision);
int etcd_sync_lease_grant(etcd_sync_t *s, int64_t ttl_s, int64_t *id);
int etcd_sync_lease_revoke(etcd_sync_t *s, int64_t id);
int etcd_sync_status(etcd_sync_t *s, Etcdserverpb__StatusResponse **out);
int etcd_sync_snapshot(etcd_sync_t *s, const char *path, uint64_t *size, int64_t *revision);

#endif

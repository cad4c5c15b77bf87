/*
 * Distributed mutex on a key prefix, fair (FIFO by create revision), with
 * the holder's key bound to a session lease: a holder that dies releases.
 */
#ifndef ETCD_MUTEX_H
#define ETCD_MUTEX_H

#include "etcd/kv.h"
#include "etcd/session.h"

typedef struct etcd_mutex_s etcd_mutex_t;
typedef void (*etcd_mutex_cb)(etcd_mutex_t *m, int err, void *data);

int etcd_mutex_new(etcd_session_t *s, const char *prefix, etcd_mutex_t **out);
/* cb(err == 0) once held. */
int etcd_mutex_lock(etcd_mutex_t *m, etcd_mutex_cb cb, void *data);
int etcd_mutex_unlock(etcd_mutex_t *m, etcd_cb cb, void *data);
int etcd_mutex_is_held(const etcd_mutex_t *m);
const char *etcd_mutex_key(const etcd_mutex_t *m);
int64_t etcd_mutex_rev(const etcd_mutex_t *m);
/* Adds If(create_revision(key) == rev) to t, for writes under the lock. */
int etcd_mutex_fence(const etcd_mutex_t *m, etcd_txn_t *t);
void etcd_mutex_free(etcd_mutex_t *m);

#endif

/*
 * Counting semaphore of N slots. Slot i is the key <prefix>slot/<i>; holding
 * it means having created it, so etcd itself guarantees at most N holders at
 * any revision. The value is the holder's id.
 *
 * A holder is either bound to a lease (the slot is freed when the lease
 * expires) or persistent (lease 0): the slot survives the holder's restart,
 * and acquiring again with the same holder id finds and keeps it. This is
 * what rolling updates need: a node keeps its slot across its own reboot.
 *
 * The slot key's create revision is a fencing token: etcd_semaphore_fence()
 * makes a Txn fail once the slot was released or reclaimed.
 * Waiting is watch-driven: a waiter watches the slots for deletions.
 */
#ifndef ETCD_SEMAPHORE_H
#define ETCD_SEMAPHORE_H

#include "etcd/kv.h"

typedef struct etcd_semaphore_s etcd_semaphore_t;
typedef void (*etcd_semaphore_cb)(etcd_semaphore_t *s, int err, void *data);

typedef struct etcd_semaphore_opts_s {
    const char *prefix; /* e.g. "/enjoliver/locks/rolling/" */
    unsigned slots;     /* N >= 1 */
    const char *holder; /* unique, stable id of this holder */
    int64_t lease;      /* 0 = persistent holder */
} etcd_semaphore_opts_t;

int etcd_semaphore_new(etcd_client_t *c, const etcd_semaphore_opts_t *o, etcd_semaphore_t **out);
/* cb(err == 0) once a slot is held (or found already held by this holder). */
int etcd_semaphore_acquire(etcd_semaphore_t *s, etcd_semaphore_cb cb, void *data);
/* Deletes the slot if still ours (compare on the token). cb may be NULL. */
int etcd_semaphore_release(etcd_semaphore_t *s, etcd_cb cb, void *data);
int etcd_semaphore_is_held(const etcd_semaphore_t *s);
int etcd_semaphore_slot(const etcd_semaphore_t *s);      /* -1 when not held */
int64_t etcd_semaphore_token(const etcd_semaphore_t *s); /* 0 when not held */
int etcd_semaphore_fence(const etcd_semaphore_t *s, etcd_txn_t *t);
/* Abandons a pending acquire; a held slot stays held in etcd. */
void etcd_semaphore_free(etcd_semaphore_t *s);

#endif

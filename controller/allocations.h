/*
 * Records what a sync plan gives machines (controller/sync.h: pod ranges,
 * name indexes) in etcd before any matchbox file shows it: puts and
 * deletes of <prefix>allocations/<boot MAC>, in Txns of at most ALLOCATIONS_BATCH
 * operations sent one after the other, each fenced on the leader key (a
 * replica that lost the leadership records nothing).
 *
 *     allocations_write(client, &store, plan->allocs, plan->n_allocs, cb, data);
 *
 * cb runs exactly once, on the client's loop: err 0 and the revision of
 * the last commit, -EPERM when the fence failed, or the etcd error. A
 * failure leaves the batches before it recorded: they are valid
 * allocations the next pass keeps. The allocs must stay alive until cb runs;
 * the store's prefix and fence are copied at the start, so every batch is
 * fenced on the term that planned them.
 */
#ifndef ENJ_ALLOCATIONS_H
#define ENJ_ALLOCATIONS_H

#include <stdint.h>

#include "etcd/client.h"
#include "model/store.h"
#include "sync.h"

#define ALLOCATIONS_BATCH 100

typedef void (*allocations_cb)(int err, int64_t revision, void *data);

/* 0 (cb will run) or a negative errno (it will not): -EINVAL for n == 0
 * or a store without a fence, -ENOMEM. */
int allocations_write(etcd_client_t *client, const model_store_t *st, const sync_alloc_t *allocs,
                      size_t n, allocations_cb cb, void *data);

#endif

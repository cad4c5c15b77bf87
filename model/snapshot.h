/*
 * A consistent read of a few keys, the input of a transaction plan: each
 * key with its value (or absence) and mod revision at one etcd revision.
 * The plan compares every key it read, so a write based on a snapshot
 * commits only if none of those keys changed since (optimistic
 * concurrency; the runner in model/store.h re-reads and re-plans).
 */
#ifndef MODEL_SNAPSHOT_H
#define MODEL_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "etcd/kv.h"

#define MODEL_SNAPSHOT_MAX 80

typedef struct model_kv_s {
    char *key;
    char *value; /* NUL-terminated copy, NULL when the key is absent */
    size_t value_len;
    int64_t mod_rev;    /* 0 when absent */
    int64_t create_rev; /* 0 when absent */
} model_kv_t;

typedef struct model_snapshot_s {
    model_kv_t kv[MODEL_SNAPSHOT_MAX];
    size_t n;
    int64_t revision; /* the store revision of the read */
} model_snapshot_t;

/* Adds a key to read (copied; duplicates ignored). 0, -E2BIG, -ENOMEM. */
int model_snapshot_want(model_snapshot_t *s, const char *key);
/* The entry of key, or NULL when it was not asked for. */
const model_kv_t *model_snapshot_get(const model_snapshot_t *s, const char *key);
/* Forgets values (keeps the keys), for a re-read. */
void model_snapshot_clear_values(model_snapshot_t *s);
void model_snapshot_free(model_snapshot_t *s);

/* The atomic read of every wanted key: a Txn of Ranges. */
etcd_txn_t *model_snapshot_read_txn(const model_snapshot_t *s);
/* Stores the answer of that Txn. 0, -EIO (unexpected shape), -ENOMEM. */
int model_snapshot_fill(model_snapshot_t *s, const Etcdserverpb__TxnResponse *r);

/* Adds to t one compare per key: unchanged since the snapshot
 * (mod_revision == seen, or absent: create_revision == 0). */
int model_snapshot_guard(const model_snapshot_t *s, etcd_txn_t *t);

#endif

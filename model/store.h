/*
 * Writes to Enjoliver's state: each one ONE etcd Txn, planned from a
 * consistent snapshot of the keys it depends on and guarded by their mod
 * revisions. When another writer got there first (the guard fails), the
 * runner waits a jittered, growing delay (1 ms doubling up to 64 ms), reads
 * again and plans again, up to max_attempts times.
 *
 *     op->vt = &my_vtable;                 // keys(), plan(), done()
 *     model_op_start(store, op);           // done() runs exactly once
 *
 * Everything runs on the etcd client's loop. The op is owned by the caller
 * and must stay alive until done() runs; done() may free it.
 */
#ifndef MODEL_STORE_H
#define MODEL_STORE_H

#include <stdbool.h>

#include <jansson.h>

#include "etcd/client.h"
#include "model/snapshot.h"
#include "model/validate.h"

typedef struct model_store_s {
    etcd_client_t *client;
    /* Fencing: when set, every write also compares the create revision of
     * this key (the leader's election key) with fence_rev, and an op whose
     * read finds it otherwise ends with -EPERM at once (a replica that
     * lost its leadership writes nothing, whatever it believes). */
    char fence_key[256];
    int64_t fence_rev;
    char prefix[128];      /* MODEL_DEFAULT_PREFIX by default */
    unsigned max_attempts; /* 16 by default */
    /* Optional: a local, possibly stale copy of the keys (the API's mirror
     * of etcd). When set, an op's first attempt plans from it instead of
     * reading etcd: one round trip instead of two. A stale copy costs
     * nothing but a retry: the guards fail and the runner reads etcd.
     * Returns 1 and the entry (borrowed until the loop runs again), or 0
     * when the key is absent from the copy. */
    int (*peek)(void *data, const char *key, const char **value, size_t *len, int64_t *mod_rev,
                int64_t *create_rev);
    void *peek_data;
    unsigned timeout_ms; /* per etcd request; 0 = the client's */
    /* Group commit: 0 = each op's Txn alone. N > 1 = ops ready to commit
     * in the same loop turn share one Txn (at most N of them, within
     * etcd's 128 operations), when none writes a key another reads or
     * writes: each op's guards stay its own, so the batch commits exactly
     * when every op would have alone, and a batch whose guards fail is
     * sent again op by op (each then retries as usual). Under concurrent
     * writers this divides etcd's per-Txn cost by the batch size. Needs
     * model_store_close(). */
    unsigned batch_max;
    void *batch_; /* private */
} model_store_t;

/* Initialises a store on a client; prefix NULL = MODEL_DEFAULT_PREFIX.
 * -EINVAL when the prefix is empty, too long, or does not end with '/'. */
int model_store_init(model_store_t *st, etcd_client_t *c, const char *prefix);

/* Sends what group commit still holds and releases its timer (the loop
 * must run once more to close it). Safe to call on any store. */
void model_store_close(model_store_t *st);

typedef struct model_op_s model_op_t;

typedef struct model_op_vtable_s {
    /* Adds the keys the plan reads to op->snap (called once). */
    int (*keys)(model_op_t *op);
    /* Fills op->txn's success branch from op->snap (the guards are added
     * by the runner). Returns 0 to commit, MODEL_OP_NOTHING when nothing
     * needs writing, MODEL_OP_REREAD after adding keys to op->snap that it
     * learnt it needs (e.g. the machine a MAC index entry names: every key
     * is then read again, at one revision), or a negative errno with
     * op->err set (e.g. -ENOENT, -EEXIST): done() gets it unchanged. May
     * run several times. */
    int (*plan)(model_op_t *op);
    /* The end: err 0 (revision = the commit's, or the read's when nothing
     * was written), an etcd error (-ENOTCONN, -ETIMEDOUT...), -EAGAIN when
     * every attempt lost a race, or the plan's error. */
    void (*done)(model_op_t *op, int err, int64_t revision);
} model_op_vtable_t;

#define MODEL_OP_NOTHING 1
#define MODEL_OP_REREAD 2

struct model_op_s {
    const model_op_vtable_t *vt;
    void *data;
    /* Runner state, readable by keys()/plan(). */
    model_store_t *store;
    model_snapshot_t snap;
    etcd_txn_t *txn;
    unsigned attempt;
    model_err_t err;
    uv_timer_t *backoff; /* allocated on the first conflict */
    bool peeked;         /* the snapshot came from store->peek */
};

/* Helpers for keys() and plan(), on "<prefix><kind><id>": add a key to
 * read, find what was read (NULL when not asked for), and put a JSON value
 * (stolen) or delete the key in the success branch. 0 or negative errno. */
int model_op_want(model_op_t *op, const char *kind, const char *id);
const model_kv_t *model_op_seen(model_op_t *op, const char *kind, const char *id);
int model_op_put(model_op_t *op, const char *kind, const char *id, json_t *value);
int model_op_delete(model_op_t *op, const char *kind, const char *id, int prefix);

/* Starts op. 0 (done() will run) or a negative errno (it will not). */
int model_op_start(model_store_t *st, model_op_t *op);

#endif

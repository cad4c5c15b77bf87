/*
 * etcd KV: Range, Put, DeleteRange, Txn, Compact.
 *
 * Requests are the protobuf-c structs of etcdserverpb (see proto/); they are
 * serialized before the function returns, so the caller may free them at
 * once. Responses are passed to the callback as res->response, cast to the
 * matching Etcdserverpb__*Response, valid only during the callback.
 * Functions return 0 when the request was started (the callback will run
 * exactly once) or a negative errno (-EINVAL, -ENOMEM, -ECANCELED when the
 * client is closing), in which case the callback never runs. The callback
 * normally runs from the loop, later; when gRPC refuses the call outright
 * (or the auth token cannot be requested) it runs with the error before the
 * starting call returns 0: do not touch what the callback frees after
 * starting a request.
 */
#ifndef ETCD_KV_H
#define ETCD_KV_H

#include "etcd/client.h"

int etcd_kv_range(etcd_client_t *c, const Etcdserverpb__RangeRequest *req,
                  const etcd_call_opts_t *opts, etcd_cb cb, void *data);
int etcd_kv_put(etcd_client_t *c, const Etcdserverpb__PutRequest *req, const etcd_call_opts_t *opts,
                etcd_cb cb, void *data);
int etcd_kv_delete(etcd_client_t *c, const Etcdserverpb__DeleteRangeRequest *req,
                   const etcd_call_opts_t *opts, etcd_cb cb, void *data);
int etcd_kv_txn(etcd_client_t *c, const Etcdserverpb__TxnRequest *req, const etcd_call_opts_t *opts,
                etcd_cb cb, void *data);
int etcd_kv_compact(etcd_client_t *c, const Etcdserverpb__CompactionRequest *req,
                    const etcd_call_opts_t *opts, etcd_cb cb, void *data);

/*
 * Key helpers. etcd_prefix_end() writes the range_end that selects every key
 * starting with `prefix` into `out` (capacity len bytes) and returns its
 * length; a prefix of only 0xff bytes gives "\0" (every key >= prefix).
 */
size_t etcd_prefix_end(const void *prefix, size_t len, uint8_t *out);

/* Fill a request for one key / a prefix. Key memory is borrowed. */
void etcd_range_init_key(Etcdserverpb__RangeRequest *r, const void *key, size_t len);
/* `end_buf` must hold `len` bytes and outlive the request. */
void etcd_range_init_prefix(Etcdserverpb__RangeRequest *r, const void *prefix, size_t len,
                            uint8_t *end_buf);

/*
 * Txn builder: an owned, growable TxnRequest. Every key and value is copied,
 * so the builder may outlive the caller's buffers. Add functions return 0 or
 * -ENOMEM (the builder is then poisoned and etcd_txn_request() returns NULL).
 */
typedef struct etcd_txn_s etcd_txn_t;

typedef enum {
    ETCD_CMP_EQUAL = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL,
    ETCD_CMP_GREATER = ETCDSERVERPB__COMPARE__COMPARE_RESULT__GREATER,
    ETCD_CMP_LESS = ETCDSERVERPB__COMPARE__COMPARE_RESULT__LESS,
    ETCD_CMP_NOT_EQUAL = ETCDSERVERPB__COMPARE__COMPARE_RESULT__NOT_EQUAL,
} etcd_cmp_op_t;

typedef enum { ETCD_TXN_SUCCESS = 0, ETCD_TXN_FAILURE = 1 } etcd_txn_branch_t;

etcd_txn_t *etcd_txn_new(void);
void etcd_txn_free(etcd_txn_t *t);
int etcd_txn_cmp_version(etcd_txn_t *t, const void *key, size_t klen, etcd_cmp_op_t op,
                         int64_t version);
int etcd_txn_cmp_create(etcd_txn_t *t, const void *key, size_t klen, etcd_cmp_op_t op, int64_t rev);
int etcd_txn_cmp_mod(etcd_txn_t *t, const void *key, size_t klen, etcd_cmp_op_t op, int64_t rev);
int etcd_txn_cmp_value(etcd_txn_t *t, const void *key, size_t klen, etcd_cmp_op_t op,
                       const void *val, size_t vlen);
int etcd_txn_cmp_lease(etcd_txn_t *t, const void *key, size_t klen, etcd_cmp_op_t op,
                       int64_t lease);
int etcd_txn_put(etcd_txn_t *t, etcd_txn_branch_t b, const void *key, size_t klen, const void *val,
                 size_t vlen, int64_t lease);
/* prefix != 0: every key starting with key. */
int etcd_txn_delete(etcd_txn_t *t, etcd_txn_branch_t b, const void *key, size_t klen, int prefix);
int etcd_txn_get(etcd_txn_t *t, etcd_txn_branch_t b, const void *key, size_t klen, int prefix);
/* The request (owned by the builder), or NULL after an allocation failure. */
const Etcdserverpb__TxnRequest *etcd_txn_request(const etcd_txn_t *t);

#endif

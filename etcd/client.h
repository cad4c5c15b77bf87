/*
 * etcd v3 client: connection, calls, errors.
 *
 * The client is asynchronous and bound to one libuv loop. gRPC's completion
 * queue is drained by a private thread; every completion is handed to the
 * loop through a uv_async_t, so every callback of this library runs on the
 * loop thread and the loop owns all client state. None of the functions of
 * this library may be called from another thread.
 *
 * Results are 0 or a negative errno. gRPC and etcd statuses map to errno as
 * follows (etcd_strerror() and the message passed to callbacks say more):
 *
 *   -ENOTCONN     no endpoint reachable (gRPC UNAVAILABLE)
 *   -ETIMEDOUT    the request's deadline passed
 *   -ECANCELED    cancelled, or the client is closing
 *   -ESTALE       the requested revision has been compacted
 *   -ERANGE       the requested revision is in the future (OUT_OF_RANGE)
 *   -ENOENT       lease not found (NOT_FOUND)
 *   -EACCES       authentication failed or token invalid (UNAUTHENTICATED)
 *   -EPERM        permission denied
 *   -EINVAL       rejected by etcd (INVALID_ARGUMENT, FAILED_PRECONDITION)
 *   -ENOSPC       quota or message size exceeded (RESOURCE_EXHAUSTED)
 *   -ENOSYS       method not implemented by the server
 *   -EIO          anything else (INTERNAL, UNKNOWN, DATA_LOSS, ...)
 *   -ENOMEM       out of memory
 */
#ifndef ETCD_CLIENT_H
#define ETCD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "etcdserverpb/rpc.pb-c.h"

typedef struct etcd_client_s etcd_client_t;

/* Client configuration. Strings are copied by etcd_client_init(). */
typedef struct etcd_config_s {
    /* Endpoints "host:port" or "http(s)://host:port"; tried in order, the
     * client fails over to the next one when the current one is unavailable. */
    const char *const *endpoints;
    size_t n_endpoints;
    /* TLS: PEM file paths. ca_file set (or any https:// endpoint) = TLS. */
    const char *ca_file;
    const char *cert_file;
    const char *key_file;
    /* User/password authentication; the token is fetched on connect and
     * refreshed when etcd says it is invalid. NULL user = no auth. */
    const char *user;
    const char *password;
    /* Default per-request deadline in ms (0 = 5000). */
    unsigned request_timeout_ms;
    /* Reconnection backoff of streams: jittered exponential between these
     * (0 = 100 and 5000 ms). */
    unsigned backoff_min_ms;
    unsigned backoff_max_ms;
} etcd_config_t;

/* What every callback receives. Pointers are valid only during the callback. */
typedef struct etcd_result_s {
    int err;              /* 0 or negative errno (see above) */
    const char *message;  /* never NULL; "" on success */
    const void *response; /* the unpacked etcdserverpb response, NULL on error */
    int owned_;           /* private: the library frees response after the callback */
} etcd_result_t;

typedef void (*etcd_cb)(const etcd_result_t *res, void *data);

/* Per-request options; NULL = defaults. */
typedef struct etcd_call_opts_s {
    unsigned timeout_ms; /* 0 = the client's request_timeout_ms */
    /* Mutations (Put, DeleteRange, Txn, Compact) are not retried on another
     * endpoint by default: a lost answer would make the retry ambiguous.
     * A mutation that never reached a server (no endpoint could be
     * connected) is always retried. Set this for writes known to be
     * idempotent. Reads always retry. */
    int retry_mutation;
} etcd_call_opts_t;

/*
 * Creates a client on `loop`. Connections are made lazily. Returns 0 and sets
 * *out, or -EINVAL (no endpoint, bad endpoint, unreadable TLS file), -ENOMEM.
 */
int etcd_client_new(uv_loop_t *loop, const etcd_config_t *cfg, etcd_client_t **out);

/*
 * Closes the client: every pending request and stream is cancelled (their
 * callbacks run with -ECANCELED), the completion thread is joined, and then
 * `done` runs on the loop. The client is freed after `done` returns.
 * Calling anything on the client after etcd_client_close() is undefined.
 */
void etcd_client_close(etcd_client_t *c, void (*done)(void *data), void *data);

uv_loop_t *etcd_client_loop(etcd_client_t *c);

/* Index of the endpoint in use, and its string. */
const char *etcd_client_endpoint(etcd_client_t *c);

/*
 * Takes ownership of res->response (a protobuf-c message) inside a callback,
 * so that it outlives the callback. Free it with etcd_response_free().
 * Returns NULL when there is no response or it was already taken.
 */
void *etcd_result_take(const etcd_result_t *res);
void etcd_response_free(void *response);

/*
 * Request statistics since the client was created, per unary method
 * ("Range", "Txn", "LeaseGrant"...): calls finished, calls that ended in
 * an error, and their durations, from the start call to the callback
 * (retries and waits for a token included), as a histogram over
 * etcd_stats_bounds_s (cumulative counts, the Prometheus way: buckets[i]
 * counts calls of at most etcd_stats_bounds_s[i] seconds).
 */
#define ETCD_STATS_BUCKETS 12
#define ETCD_STATS_METHODS 16
extern const double etcd_stats_bounds_s[ETCD_STATS_BUCKETS];

typedef struct etcd_method_stats_s {
    const char *method;
    uint64_t calls, errors;
    uint64_t buckets[ETCD_STATS_BUCKETS];
    double sum_s;
} etcd_method_stats_t;

/* The statistics of each method used so far (borrowed; *n entries). */
const etcd_method_stats_t *etcd_client_stats(const etcd_client_t *c, size_t *n);

/* A static description of an error code returned by this library. */
const char *etcd_strerror(int err);

#endif

/*
 * rpc_client: calls to a gRPC server (Enjoliver's API) from a libuv loop,
 * for the node agent.
 *
 *     rpc_client_new(loop, &cfg, &c);
 *     rpc_client_unary(c, "/enjoliver.v1.Lifecycle/AcquireSlot", &req.base,
 *                      &enjoliver__v1__slot_state__descriptor, 0, got_slot, data);
 *     rpc_client_stream(c, "/enjoliver.v1.Machines/Watch", &w.base,
 *                       &enjoliver__v1__machine_event__descriptor, &ops, data, &st);
 *     ...
 *     rpc_client_close(c, done, data);   // ends every call (CANCELLED)
 *
 * Several server addresses may be given: calls go to the current one, and
 * a call that ends UNAVAILABLE moves the client to the next, so the caller's
 * retry reaches another replica. The client never retries by itself: what
 * to retry, and when, is the caller's decision.
 *
 * Every callback runs on the loop thread, exactly once per call for unary
 * calls (on_close once per stream). Loop thread only. Errors are negative
 * errno values; call outcomes are gRPC status codes.
 */
#ifndef ENJ_RPC_CLIENT_H
#define ENJ_RPC_CLIENT_H

#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <uv.h>

typedef struct rpc_client_s rpc_client_t;
typedef struct rpc_stream_s rpc_stream_t;

typedef struct rpc_client_config_s {
    const char *const *servers; /* "host:port", tried in turn */
    size_t n_servers;
    const char *tls_ca_file; /* PEM roots: TLS; NULL: plaintext */
    const char *token;       /* sent as "authorization: Bearer <token>"; NULL: none */
    unsigned timeout_ms;     /* unary deadline; 0 = 10000 */
} rpc_client_config_t;

/* 0, -EINVAL (no server, unreadable CA), -ENOMEM. */
int rpc_client_new(uv_loop_t *loop, const rpc_client_config_t *cfg, rpc_client_t **out);
/* Cancels every call (their callbacks run with CANCELLED), then frees the
 * client and calls done (may be NULL) on the loop. */
void rpc_client_close(rpc_client_t *c, void (*done)(void *), void *data);
/* The server calls go to now. */
const char *rpc_client_server(const rpc_client_t *c);

/* status OK: resp is the answer (freed after the callback returns); else
 * resp is NULL and msg says why. */
typedef void (*rpc_unary_cb)(grpc_status_code status, const char *msg, const ProtobufCMessage *resp,
                             void *data);
int rpc_client_unary(rpc_client_t *c, const char *path, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *resp, unsigned timeout_ms, rpc_unary_cb cb,
                     void *data);

typedef struct rpc_stream_ops_s {
    /* One message of the stream (freed after the callback returns). */
    void (*on_message)(rpc_stream_t *st, const ProtobufCMessage *m, void *data);
    /* The end: the server's status, or CANCELLED after rpc_stream_cancel.
     * The stream is freed after this returns. */
    void (*on_close)(rpc_stream_t *st, grpc_status_code status, const char *msg, void *data);
} rpc_stream_ops_t;

/* A server-streaming call without deadline. */
int rpc_client_stream(rpc_client_t *c, const char *path, const ProtobufCMessage *req,
                      const ProtobufCMessageDescriptor *resp, const rpc_stream_ops_t *ops,
                      void *data, rpc_stream_t **out);
/* Ends it early; on_close still runs (CANCELLED), later. */
void rpc_stream_cancel(rpc_stream_t *st);

#endif

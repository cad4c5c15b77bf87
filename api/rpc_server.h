/*
 * rpc_server: a gRPC server (gRPC core) whose calls are handled on a libuv
 * loop.
 *
 * gRPC's own threads accept connections and parse HTTP/2; every completed
 * step of a call comes back to the loop through common/rpc_loop.h, and the
 * handlers run there, next to the cache they read: no shared mutable state.
 *
 *     rpc_server_new(loop, &cfg, &s);
 *     rpc_server_method(s, &(rpc_method_t){"/pkg.Svc/Get", &req_descriptor, get, data});
 *     rpc_server_start(s);           // binds; rpc_server_port() tells the port
 *     ...
 *     rpc_server_close(s, done, data);
 *
 * A handler receives the call and its decoded request, and ends a unary
 * call with exactly one rpc_call_reply() or rpc_call_fail(), now or later.
 * A streaming handler sends any number of messages with rpc_call_send()
 * and ends with rpc_call_finish(); it learns that the client went away
 * through the cancel hook (rpc_call_on_cancel), after which it must forget
 * the call.
 *
 * Requests that cannot reach a handler are answered here: an unknown method
 * (UNIMPLEMENTED), a message that does not parse (INVALID_ARGUMENT), an
 * admin method that the authorize hook refuses (UNAUTHENTICATED).
 *
 * Loop thread only. Errors are negative errno values.
 */
#ifndef ENJ_RPC_SERVER_H
#define ENJ_RPC_SERVER_H

#include <grpc/grpc.h>
#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef struct rpc_server_s rpc_server_t;
typedef struct rpc_call_s rpc_call_t;

/* req is owned by the call: valid until the call ends. */
typedef void (*rpc_handler_fn)(rpc_call_t *call, const ProtobufCMessage *req, void *data);

typedef struct rpc_method_s {
    const char *path; /* "/package.Service/Method" (borrowed: a literal) */
    const ProtobufCMessageDescriptor *request;
    rpc_handler_fn fn;
    void *data;
    bool streaming; /* server streaming: rpc_call_send + rpc_call_finish */
    bool admin;     /* needs the admin token when one is configured */
} rpc_method_t;

typedef struct rpc_server_config_s {
    const char *host; /* "127.0.0.1", "::1", "0.0.0.0"... */
    uint16_t port;    /* 0: any free port */
    /* PEM files; both set = TLS, neither = plaintext. */
    const char *tls_cert_file;
    const char *tls_key_file;
    /* Decides the admin methods: authorization is the "authorization"
     * metadata's value (NULL when absent). NULL: admin methods are open. */
    bool (*authorize)(const char *authorization, void *data);
    void *authorize_data;
    /* A stream whose unsent messages pass this many bytes is ended with
     * RESOURCE_EXHAUSTED (a client too slow to keep up); 0 = 16 MiB. */
    size_t stream_buffer_max;
} rpc_server_config_t;

int rpc_server_new(uv_loop_t *loop, const rpc_server_config_t *cfg, rpc_server_t **out);
/* Before start. The method is copied. -EEXIST, -ENOMEM. */
int rpc_server_method(rpc_server_t *s, const rpc_method_t *m);
/* Binds and starts serving. -EADDRINUSE (cannot bind), -EINVAL (bad TLS
 * files), -ENOMEM. */
int rpc_server_start(rpc_server_t *s);
/* The port bound (after start). */
uint16_t rpc_server_port(const rpc_server_t *s);
/* Ends every call (streams get UNAVAILABLE "shutting down"), stops
 * listening, frees s, then calls done (may be NULL) on the loop. A server
 * never started may be closed too. */
void rpc_server_close(rpc_server_t *s, void (*done)(void *), void *data);

/* ---- calls (loop thread; never after the call ended) ---- */

/* Unary: answer OK with resp, or fail with a status and a message. Either
 * ends the call; the call must not be used afterwards. */
void rpc_call_reply(rpc_call_t *call, const ProtobufCMessage *resp);
/* The same with an answer already packed (copied). */
void rpc_call_reply_bytes(rpc_call_t *call, const void *data, size_t len);
void rpc_call_fail(rpc_call_t *call, grpc_status_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Streaming: queue one message (sent in order, one write at a time).
 * -EPIPE when the stream is over (client gone, finished, or ended for being
 * too slow: the cancel hook then runs before this returns). */
int rpc_call_send(rpc_call_t *call, const ProtobufCMessage *m);
/* The same, with bytes already packed (fan-out: one buffer for many
 * streams). The buffer is copied by reference. */
int rpc_call_send_packed(rpc_call_t *call, grpc_byte_buffer *bb);
/* The same from bytes (copied). */
int rpc_call_send_bytes(rpc_call_t *call, const void *data, size_t len);
/* Ends a stream once its queue is sent; the call must not be used
 * afterwards (the cancel hook no longer runs). */
void rpc_call_finish(rpc_call_t *call, grpc_status_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* fn runs each time the stream's queue is empty again after a write (for
 * a producer that sends at the pace of the client); NULL stops it. */
void rpc_call_on_drain(rpc_call_t *call, void (*fn)(rpc_call_t *call, void *data), void *data);

/* fn runs once if the stream ends by itself (client gone, deadline, too
 * slow, server closing) before the handler finished it. */
void rpc_call_on_cancel(rpc_call_t *call, void (*fn)(rpc_call_t *call, void *data), void *data);

/* The client's address ("ipv4:127.0.0.1:40000"), for logs. */
const char *rpc_call_peer(rpc_call_t *call);
/* The call's request (what the handler received). */
const ProtobufCMessage *rpc_call_request(const rpc_call_t *call);
/* The data of the call's method (rpc_method_t.data). */
void *rpc_call_data(const rpc_call_t *call);
/* The method's path. */
const char *rpc_call_method(const rpc_call_t *call);

#endif

/*
 * The gRPC transport of enjoliverctl: gRPC C core, one pluck completion
 * queue per call, messages packed and unpacked with protobuf-c.
 *
 * Every call ends with a struct rpc_status: the server's status, or one made
 * up here (code INTERNAL, UNAVAILABLE...) when the failure is local, so that
 * callers print every failure the same way.
 */
#ifndef ENJ_CLI_RPC_H
#define ENJ_CLI_RPC_H

#include <protobuf-c/protobuf-c.h>
#include <signal.h>

struct rpc_options {
    const char *target;   /* gRPC target, e.g. "127.0.0.1:5001" */
    const char *token;    /* bearer token, NULL: no authorization metadata */
    const char *root_pem; /* PEM root certificates, NULL: plaintext */
    int timeout_ms;       /* deadline of unary calls and bounded streams */
};

struct rpc_status {
    int code;      /* a grpc_status_code; 0 = OK */
    char *message; /* malloc'd, never NULL after a call */
};

struct rpc_conn;
struct rpc_stream;

/* Initialises gRPC and creates the channel (it connects lazily). */
int rpc_conn_open(const struct rpc_options *opt, struct rpc_conn **out);
/* Destroys the channel and shuts gRPC down; NULL is fine. */
void rpc_conn_close(struct rpc_conn *conn);

/* The canonical name of a gRPC status code, e.g. "NOT_FOUND". */
const char *rpc_status_name(int code);
void rpc_status_clear(struct rpc_status *st);

/*
 * Calls path (e.g. "/enjoliver.v1.Machines/List") with req and unpacks the
 * answer as resp_desc into *resp (free with protobuf_c_message_free_unpacked).
 * 0 when the status is OK and the answer decoded; else -EPROTO (the server's
 * status) or another negative errno (local failure), with *st filled either
 * way.
 */
int rpc_unary(struct rpc_conn *conn, const char *path, const ProtobufCMessage *req,
              const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
              struct rpc_status *st);

/*
 * Server streaming. rpc_stream_open sends req; bounded: the conn's deadline
 * applies to the whole stream, else none (watches).
 */
int rpc_stream_open(struct rpc_conn *conn, const char *path, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *resp_desc, int bounded,
                    struct rpc_stream **out);
/*
 * Waits for the next message. 1 with *msg set; 0 when the stream ended (call
 * rpc_stream_finish for its status); -EINTR when *stop became non-zero while
 * waiting (the call is then cancelled); another negative errno on a message
 * that does not decode.
 */
int rpc_stream_next(struct rpc_stream *s, ProtobufCMessage **msg, volatile sig_atomic_t *stop);
/* Cancels the call if still running, collects its status into *st (may be
 * NULL) and frees everything. Returns 0 when the status is OK, else -EPROTO. */
int rpc_stream_finish(struct rpc_stream *s, struct rpc_status *st);

#endif

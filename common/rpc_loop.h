/*
 * rpc_loop: gRPC core on a libuv loop.
 *
 * gRPC reports the end of every batch through a completion queue, which a
 * thread must block on. An rpc_loop_t owns such a queue and that thread; the
 * thread hands each (tag, ok) to the loop, where tag->done runs. Everything
 * else — calls, their state, the caller's data — stays on the loop thread:
 * no locks outside the hand-off itself.
 *
 *     rpc_loop_init(&q, loop);
 *     rpc_loop_start_batch(q, call, ops, n, &x->tag);  // x->tag.done runs later
 *     ...
 *     rpc_loop_close(q, done, data);  // once nothing is pending
 *
 * The etcd client (etcd/) and the API's gRPC server (api/grpc_server.h)
 * each own one.
 */
#ifndef ENJ_RPC_LOOP_H
#define ENJ_RPC_LOOP_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <uv.h>

/* A completion tag: every batch carries one; ok is gRPC's success flag. */
typedef struct rpc_tag_s rpc_tag_t;
struct rpc_tag_s {
    void (*done)(rpc_tag_t *tag, bool ok);
};

typedef struct rpc_loop_s rpc_loop_t;

/* 0, or -ENOMEM (also when the thread cannot start). */
int rpc_loop_init(rpc_loop_t **out, uv_loop_t *loop);
grpc_completion_queue *rpc_loop_queue(rpc_loop_t *q);
/* Starts a batch on `call` with `tag`; counts it as pending. */
grpc_call_error rpc_loop_start_batch(rpc_loop_t *q, grpc_call *call, const grpc_op *ops, size_t n,
                                     rpc_tag_t *tag);
/* Counts one more pending tag that was handed to gRPC by other means
 * (grpc_server_request_call, grpc_server_shutdown_and_notify...): each
 * must complete exactly once. */
void rpc_loop_expect(rpc_loop_t *q);
/* Shuts the queue down once nothing is pending, joins the thread, frees q,
 * then calls done on the loop. */
void rpc_loop_close(rpc_loop_t *q, void (*done)(void *), void *data);

/* A message packed into a new byte buffer (the caller unrefs it with
 * grpc_byte_buffer_destroy), or NULL. */
grpc_byte_buffer *rpc_pack(const ProtobufCMessage *m);
/* The message in bb (protobuf_c_message_free_unpacked), or NULL when it
 * does not parse. */
ProtobufCMessage *rpc_unpack(const ProtobufCMessageDescriptor *d, grpc_byte_buffer *bb);
/* NUL-terminated copy of a slice (free()), or NULL. */
char *rpc_slice_strdup(grpc_slice s);
/* Now + timeout_ms on the monotonic clock; 0 = never. */
gpr_timespec rpc_deadline(unsigned timeout_ms);

#endif

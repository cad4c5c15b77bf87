/*
 * The bridge between gRPC's completion queue and the libuv loop (see
 * rpc_loop.h).
 *
 * grpc_completion_queue_next() blocks, so it runs on a private thread. That
 * thread touches nothing but the hand-off array under `lock`; the loop takes
 * the whole array in one go on the uv_async_t and runs each tag there, so
 * all call state is owned by the loop thread.
 */
#include "common/rpc_loop.h"

#include <errno.h>
#include <grpc/byte_buffer_reader.h>
#include <stdlib.h>
#include <string.h>

typedef struct rpc_done_s {
    rpc_tag_t *tag;
    bool ok;
} rpc_done_t;

struct rpc_loop_s {
    grpc_completion_queue *queue;
    uv_loop_t *loop;
    uv_thread_t thread;
    uv_async_t async;
    uv_mutex_t lock;
    rpc_done_t *items; /* guarded by lock */
    size_t n, cap;
    size_t pending; /* loop-owned: batches started, not yet delivered */
    bool closing, shut;
    void (*close_done)(void *);
    void *close_data;
};

static void loop_thread(void *arg)
{
    rpc_loop_t *q = arg;
    for (;;) {
        grpc_event ev =
            grpc_completion_queue_next(q->queue, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        uv_mutex_lock(&q->lock);
        if (q->n == q->cap) {
            /* Growing cannot be avoided: a completion must never be dropped,
             * or the call it belongs to would leak. */
            size_t cap = q->cap ? q->cap * 2 : 64;
            rpc_done_t *items = realloc(q->items, cap * sizeof(*items));
            if (!items)
                abort();
            q->items = items;
            q->cap = cap;
        }
        q->items[q->n++] = (rpc_done_t){ev.tag, ev.success != 0};
        uv_mutex_unlock(&q->lock);
        uv_async_send(&q->async);
    }
}

static void loop_closed(uv_handle_t *h)
{
    rpc_loop_t *q = h->data;
    void (*done)(void *) = q->close_done;
    void *data = q->close_data;
    uv_mutex_destroy(&q->lock);
    free(q->items);
    free(q);
    if (done)
        done(data);
}

static void loop_maybe_shutdown(rpc_loop_t *q)
{
    if (!q->closing || q->pending || q->shut)
        return;
    q->shut = true;
    grpc_completion_queue_shutdown(q->queue);
    uv_thread_join(&q->thread);
    grpc_completion_queue_destroy(q->queue);
    uv_close((uv_handle_t *)&q->async, loop_closed);
}

static void loop_async(uv_async_t *a)
{
    rpc_loop_t *q = a->data;
    for (;;) {
        uv_mutex_lock(&q->lock);
        rpc_done_t *items = q->items;
        size_t n = q->n;
        q->items = NULL;
        q->n = q->cap = 0;
        uv_mutex_unlock(&q->lock);
        if (!n) {
            free(items);
            break;
        }
        for (size_t i = 0; i < n; i++) {
            q->pending--;
            items[i].tag->done(items[i].tag, items[i].ok);
        }
        free(items);
    }
    loop_maybe_shutdown(q);
}

static void drain_and_destroy(grpc_completion_queue *queue)
{
    grpc_completion_queue_shutdown(queue);
    while (grpc_completion_queue_next(queue, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(queue);
}

/* A loop whose thread could not start: the async handle is closing, q
 * goes with it. */
static void failed_closed(uv_handle_t *h)
{
    rpc_loop_t *q = h->data;
    uv_mutex_destroy(&q->lock);
    free(q);
}

int rpc_loop_init(rpc_loop_t **out, uv_loop_t *loop)
{
    rpc_loop_t *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    q->loop = loop;
    q->queue = grpc_completion_queue_create_for_next(NULL);
    if (uv_mutex_init(&q->lock) < 0)
        goto fail_queue;
    if (uv_async_init(loop, &q->async, loop_async) < 0)
        goto fail_mutex;
    q->async.data = q;
    if (uv_thread_create(&q->thread, loop_thread, q) < 0) {
        drain_and_destroy(q->queue);
        uv_close((uv_handle_t *)&q->async, failed_closed);
        return -ENOMEM;
    }
    *out = q;
    return 0;
fail_mutex:
    uv_mutex_destroy(&q->lock);
fail_queue:
    drain_and_destroy(q->queue);
    free(q);
    return -ENOMEM;
}

grpc_completion_queue *rpc_loop_queue(rpc_loop_t *q)
{
    return q->queue;
}

grpc_call_error rpc_loop_start_batch(rpc_loop_t *q, grpc_call *call, const grpc_op *ops, size_t n,
                                     rpc_tag_t *tag)
{
    grpc_call_error e = grpc_call_start_batch(call, ops, n, tag, NULL);
    if (e == GRPC_CALL_OK)
        q->pending++;
    return e;
}

void rpc_loop_expect(rpc_loop_t *q)
{
    q->pending++;
}

void rpc_loop_close(rpc_loop_t *q, void (*done)(void *), void *data)
{
    q->closing = true;
    q->close_done = done;
    q->close_data = data;
    loop_maybe_shutdown(q);
}

/* ---- protobuf-c messages <-> gRPC byte buffers ---- */

grpc_byte_buffer *rpc_pack(const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    grpc_slice s = grpc_slice_malloc(len);
    protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

ProtobufCMessage *rpc_unpack(const ProtobufCMessageDescriptor *d, grpc_byte_buffer *bb)
{
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, bb))
        return NULL;
    /* Responses usually arrive in one slice; only copy when they do not. */
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    ProtobufCMessage *m =
        protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
    return m;
}

char *rpc_slice_strdup(grpc_slice s)
{
    size_t n = GRPC_SLICE_LENGTH(s);
    char *p = malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, GRPC_SLICE_START_PTR(s), n);
    p[n] = 0;
    return p;
}

gpr_timespec rpc_deadline(unsigned timeout_ms)
{
    if (!timeout_ms)
        return gpr_inf_future(GPR_CLOCK_MONOTONIC);
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
}

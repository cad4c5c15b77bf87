/*
 * The bridge between gRPC's completion queue and the libuv loop.
 *
 * grpc_completion_queue_next() blocks, so it runs on a private thread. That
 * thread touches nothing but the hand-off array under `lock`; the loop takes
 * the whole array in one go on the uv_async_t and runs each tag there, so
 * all client state is owned by the loop thread.
 */
#include <errno.h>
#include <stdlib.h>

#include "etcd/internal.h"

typedef struct etcd_done_s {
    etcd_tag_t *tag;
    bool ok;
} etcd_done_t;

struct etcd_cq_s {
    grpc_completion_queue *queue;
    uv_loop_t *loop;
    uv_thread_t thread;
    uv_async_t async;
    uv_mutex_t lock;
    etcd_done_t *items; /* guarded by lock */
    size_t n, cap;
    size_t pending; /* loop-owned: batches started, not yet delivered */
    bool closing, shut;
    void (*close_done)(void *);
    void *close_data;
};

static void cq_thread(void *arg)
{
    etcd_cq_t *q = arg;
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
            etcd_done_t *items = realloc(q->items, cap * sizeof(*items));
            if (!items)
                abort();
            q->items = items;
            q->cap = cap;
        }
        q->items[q->n++] = (etcd_done_t){ev.tag, ev.success != 0};
        uv_mutex_unlock(&q->lock);
        uv_async_send(&q->async);
    }
}

static void cq_closed(uv_handle_t *h)
{
    etcd_cq_t *q = h->data;
    void (*done)(void *) = q->close_done;
    void *data = q->close_data;
    uv_mutex_destroy(&q->lock);
    free(q->items);
    free(q);
    if (done)
        done(data);
}

static void cq_maybe_shutdown(etcd_cq_t *q)
{
    if (!q->closing || q->pending || q->shut)
        return;
    q->shut = true;
    grpc_completion_queue_shutdown(q->queue);
    uv_thread_join(&q->thread);
    grpc_completion_queue_destroy(q->queue);
    uv_close((uv_handle_t *)&q->async, cq_closed);
}

static void cq_async(uv_async_t *a)
{
    etcd_cq_t *q = a->data;
    for (;;) {
        uv_mutex_lock(&q->lock);
        etcd_done_t *items = q->items;
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
    cq_maybe_shutdown(q);
}

int etcd_cq_init(etcd_cq_t **out, uv_loop_t *loop)
{
    etcd_cq_t *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    q->loop = loop;
    q->queue = grpc_completion_queue_create_for_next(NULL);
    if (uv_mutex_init(&q->lock) < 0)
        goto fail_queue;
    if (uv_async_init(loop, &q->async, cq_async) < 0)
        goto fail_mutex;
    q->async.data = q;
    if (uv_thread_create(&q->thread, cq_thread, q) < 0) {
        uv_close((uv_handle_t *)&q->async, NULL);
        goto fail_mutex;
    }
    *out = q;
    return 0;
fail_mutex:
    uv_mutex_destroy(&q->lock);
fail_queue:
    grpc_completion_queue_shutdown(q->queue);
    while (grpc_completion_queue_next(q->queue, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(q->queue);
    free(q);
    return -ENOMEM;
}

grpc_completion_queue *etcd_cq_queue(etcd_cq_t *q)
{
    return q->queue;
}

grpc_call_error etcd_cq_start_batch(etcd_cq_t *q, grpc_call *call, const grpc_op *ops, size_t n,
                                    etcd_tag_t *tag)
{
    grpc_call_error e = grpc_call_start_batch(call, ops, n, tag, NULL);
    if (e == GRPC_CALL_OK)
        q->pending++;
    return e;
}

size_t etcd_cq_pending(const etcd_cq_t *q)
{
    return q->pending;
}

void etcd_cq_close(etcd_cq_t *q, void (*done)(void *), void *data)
{
    q->closing = true;
    q->close_done = done;
    q->close_data = data;
    cq_maybe_shutdown(q);
}

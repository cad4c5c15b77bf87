/*
 * Streaming calls (Watch, LeaseKeepAlive, Snapshot). gRPC core allows one
 * batch of each kind in flight per call, so a stream keeps: the status batch
 * (started at once, completes last), one receive batch re-armed after each
 * message, and one send batch at a time fed from a FIFO of packed messages.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/internal.h"

typedef struct send_item_s {
    struct send_item_s *next;
    grpc_byte_buffer *bb; /* NULL = half-close */
} send_item_t;

struct etcd_stream_s {
    etcd_tag_t t_start, t_recv, t_send, t_status;
    etcd_waiter_t waiter;
    etcd_list_t link;
    etcd_client_t *c;
    const char *path;
    unsigned timeout_ms;
    const etcd_stream_ops_t *ops;
    void *owner;
    grpc_call *call;
    size_t endpoint;
    grpc_metadata token_md;
    grpc_metadata_array init_md, trail_md;
    grpc_status_code status;
    grpc_slice details;
    grpc_byte_buffer *recv_bb;
    grpc_byte_buffer *sending;
    send_item_t *head, *tail;
    unsigned inflight; /* batches started, not completed */
    bool status_done, recv_armed, started, closed, detached, cancel_wanted;
    int local_err; /* set when ended before gRPC could say why */
};

static void stream_try_close(etcd_stream_t *st);

static void stream_free(etcd_stream_t *st)
{
    etcd_client_t *c = st->c;
    while (st->head) {
        send_item_t *i = st->head;
        st->head = i->next;
        if (i->bb)
            grpc_byte_buffer_destroy(i->bb);
        free(i);
    }
    if (st->sending)
        grpc_byte_buffer_destroy(st->sending);
    if (st->recv_bb)
        grpc_byte_buffer_destroy(st->recv_bb);
    if (st->call)
        grpc_call_unref(st->call);
    grpc_metadata_array_destroy(&st->init_md);
    grpc_metadata_array_destroy(&st->trail_md);
    grpc_slice_unref(st->details);
    etcd_list_del(&st->waiter.link);
    etcd_list_del(&st->link);
    free(st);
    etcd_client_maybe_closed(c);
}

static void stream_try_close(etcd_stream_t *st)
{
    if (st->inflight || st->closed)
        return;
    if (st->started && !st->status_done)
        return;
    st->closed = true;
    if (!st->detached) {
        int err = st->local_err;
        char *msg = NULL;
        if (!err && st->started) {
            msg = rpc_slice_strdup(st->details);
            err = etcd_status_to_errno(st->status, msg);
            if (!err) /* the server ended the stream cleanly */
                err = 0;
        }
        if (st->c->closing && err)
            err = -ECANCELED;
        if (err == -ENOTCONN)
            etcd_client_failover(st->c, st->endpoint);
        st->ops->on_closed(st, err, msg && *msg ? msg : etcd_strerror(err), st->owner);
        free(msg);
    }
    stream_free(st);
}

static void stream_arm_recv(etcd_stream_t *st);
static void stream_pump_send(etcd_stream_t *st);

static void stream_recv_done(etcd_tag_t *tag, bool ok)
{
    etcd_stream_t *st = etcd_container_of(tag, etcd_stream_t, t_recv);
    st->recv_armed = false;
    grpc_byte_buffer *bb = st->recv_bb;
    st->recv_bb = NULL;
    /* inflight still counts this batch while the owner runs, so a cancel
     * from inside on_message cannot free the stream under our feet. */
    if (ok && bb && !st->detached && !st->cancel_wanted) {
        st->ops->on_message(st, bb, st->owner);
        grpc_byte_buffer_destroy(bb);
        stream_arm_recv(st);
    } else if (bb) {
        grpc_byte_buffer_destroy(bb);
    }
    st->inflight--;
    /* Without a new receive armed, the server is done: wait for the status. */
    stream_try_close(st);
}

static void stream_arm_recv(etcd_stream_t *st)
{
    if (st->recv_armed || st->status_done || st->cancel_wanted)
        return;
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &st->recv_bb;
    if (rpc_loop_start_batch(st->c->cq, st->call, &op, 1, &st->t_recv) == GRPC_CALL_OK) {
        st->inflight++;
        st->recv_armed = true;
    }
}

static void stream_send_done(etcd_tag_t *tag, bool ok)
{
    etcd_stream_t *st = etcd_container_of(tag, etcd_stream_t, t_send);
    st->inflight--;
    if (st->sending)
        grpc_byte_buffer_destroy(st->sending);
    st->sending = NULL;
    if (ok)
        stream_pump_send(st);
    stream_try_close(st);
}

static void stream_pump_send(etcd_stream_t *st)
{
    if (st->sending || !st->head || !st->call || st->cancel_wanted || st->status_done)
        return;
    send_item_t *i = st->head;
    st->head = i->next;
    if (!st->head)
        st->tail = NULL;
    grpc_op op;
    memset(&op, 0, sizeof(op));
    if (i->bb) {
        op.op = GRPC_OP_SEND_MESSAGE;
        op.data.send_message.send_message = i->bb;
        st->sending = i->bb;
    } else {
        op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    }
    free(i);
    /* sending is non-NULL for messages; a half-close uses a dummy marker
     * so that nothing else is sent after it. */
    if (rpc_loop_start_batch(st->c->cq, st->call, &op, 1, &st->t_send) == GRPC_CALL_OK) {
        st->inflight++;
        if (!st->sending)
            st->sending = grpc_raw_byte_buffer_create(NULL, 0);
    } else {
        if (st->sending)
            grpc_byte_buffer_destroy(st->sending);
        st->sending = NULL;
    }
}

static void stream_start_done(etcd_tag_t *tag, bool ok)
{
    etcd_stream_t *st = etcd_container_of(tag, etcd_stream_t, t_start);
    st->inflight--;
    (void)ok; /* a failed start shows in the status */
    stream_try_close(st);
}

static void stream_status_done(etcd_tag_t *tag, bool ok)
{
    etcd_stream_t *st = etcd_container_of(tag, etcd_stream_t, t_status);
    (void)ok;
    st->inflight--;
    st->status_done = true;
    stream_try_close(st);
}

static void stream_begin(etcd_stream_t *st)
{
    etcd_client_t *c = st->c;
    grpc_channel *ch = etcd_client_channel(c, &st->endpoint);
    st->call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, rpc_loop_queue(c->cq),
                                        grpc_slice_from_static_string(st->path), NULL,
                                        rpc_deadline(st->timeout_ms), NULL);
    st->started = true;
    grpc_op ops[2];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = etcd_client_token_md(c, &st->token_md);
    ops[0].data.send_initial_metadata.metadata = &st->token_md;
    ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[1].data.recv_initial_metadata.recv_initial_metadata = &st->init_md;
    if (rpc_loop_start_batch(c->cq, st->call, ops, 2, &st->t_start) == GRPC_CALL_OK)
        st->inflight++;
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.trailing_metadata = &st->trail_md;
    ops[0].data.recv_status_on_client.status = &st->status;
    ops[0].data.recv_status_on_client.status_details = &st->details;
    if (rpc_loop_start_batch(c->cq, st->call, ops, 1, &st->t_status) == GRPC_CALL_OK) {
        st->inflight++;
    } else {
        st->status_done = true;
        st->local_err = -EIO;
        grpc_call_cancel(st->call, NULL);
    }
    if (st->cancel_wanted)
        grpc_call_cancel(st->call, NULL);
    stream_arm_recv(st);
    stream_pump_send(st);
    stream_try_close(st);
}

static void stream_token_ready(etcd_waiter_t *w, int err, const char *msg)
{
    etcd_stream_t *st = etcd_container_of(w, etcd_stream_t, waiter);
    (void)msg;
    if (err || st->cancel_wanted) {
        st->local_err = err ? err : -ECANCELED;
        stream_try_close(st);
        return;
    }
    stream_begin(st);
}

static int stream_enqueue(etcd_stream_t *st, grpc_byte_buffer *bb);

int etcd_stream_open(etcd_client_t *c, const char *path, unsigned timeout_ms,
                     const etcd_stream_ops_t *ops, void *owner, const ProtobufCMessage *first,
                     bool half_close, etcd_stream_t **out)
{
    if (c->closing)
        return -ECANCELED;
    etcd_stream_t *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->t_start.done = stream_start_done;
    st->t_recv.done = stream_recv_done;
    st->t_send.done = stream_send_done;
    st->t_status.done = stream_status_done;
    st->waiter.ready = stream_token_ready;
    etcd_list_init(&st->waiter.link);
    st->c = c;
    st->path = path;
    st->timeout_ms = timeout_ms;
    st->ops = ops;
    st->owner = owner;
    st->details = grpc_empty_slice();
    grpc_metadata_array_init(&st->init_md);
    grpc_metadata_array_init(&st->trail_md);
    etcd_list_add_tail(&c->streams, &st->link);
    if ((first && stream_enqueue(st, rpc_pack(first)) < 0) ||
        (half_close && stream_enqueue(st, NULL) < 0)) {
        st->closed = st->detached = true;
        stream_free(st);
        return -ENOMEM;
    }
    *out = st;
    /* The waiter may run at once and even close the stream on error, which
     * reports through on_closed: the caller already holds *out then. */
    etcd_client_need_token(c, &st->waiter);
    return 0;
}

static int stream_enqueue(etcd_stream_t *st, grpc_byte_buffer *bb)
{
    send_item_t *i = malloc(sizeof(*i));
    if (!i) {
        if (bb)
            grpc_byte_buffer_destroy(bb);
        return -ENOMEM;
    }
    i->bb = bb;
    i->next = NULL;
    if (st->tail)
        st->tail->next = i;
    else
        st->head = i;
    st->tail = i;
    stream_pump_send(st);
    return 0;
}

int etcd_stream_send(etcd_stream_t *st, const ProtobufCMessage *m)
{
    if (st->closed || st->cancel_wanted || st->status_done)
        return -ECANCELED;
    return stream_enqueue(st, rpc_pack(m));
}

int etcd_stream_close_send(etcd_stream_t *st)
{
    if (st->closed || st->cancel_wanted)
        return -ECANCELED;
    return stream_enqueue(st, NULL);
}

void etcd_stream_cancel(etcd_stream_t *st)
{
    if (st->closed || st->cancel_wanted)
        return;
    st->cancel_wanted = true;
    if (st->call)
        grpc_call_cancel(st->call, NULL);
    stream_try_close(st);
}

void etcd_stream_detach(etcd_stream_t *st)
{
    st->detached = true;
    etcd_stream_cancel(st);
}

size_t etcd_stream_endpoint(const etcd_stream_t *st)
{
    return st->endpoint;
}

void etcd_stream_cancel_all(etcd_client_t *c)
{
    etcd_list_t *l = c->streams.next;
    while (l != &c->streams) {
        etcd_stream_t *st = etcd_container_of(l, etcd_stream_t, link);
        l = l->next;
        etcd_stream_cancel(st);
    }
}

/*
 * gRPC C core underneath enjoliverctl. Calls are synchronous: each has its
 * own pluck completion queue and the caller blocks on the tag it waits for.
 * Streams poll that queue in short steps so that a signal (the stop flag)
 * can end a watch that receives nothing.
 */
#include "rpc.h"

#include <errno.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Big pages (5000 machines) exceed gRPC's default 4 MiB. */
#define MAX_RECEIVE_BYTES (64 * 1024 * 1024)
/* How long a stream waits before looking at the stop flag again. */
#define POLL_MS 100

struct rpc_conn {
    grpc_channel *channel;
    char *auth; /* "Bearer <token>", NULL without a token */
    int timeout_ms;
};

/* What one call needs until its status arrives. */
struct call {
    grpc_completion_queue *cq;
    grpc_call *call;
    grpc_metadata md;
    size_t n_md;
    grpc_byte_buffer *send;
    grpc_metadata_array initial;
    grpc_metadata_array trailing;
    grpc_status_code code;
    grpc_slice details;
};

struct rpc_stream {
    struct call c;
    const ProtobufCMessageDescriptor *desc;
    grpc_byte_buffer *recv;
    int recv_pending; /* a RECV_MESSAGE batch is outstanding */
    int ended;        /* the server has no more messages */
};

/* Tags of the stream's batches: their addresses are enough. */
static char TAG_SEND, TAG_STATUS, TAG_RECV;

static const char *const STATUS_NAMES[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *rpc_status_name(int code)
{
    if (code < 0 || (size_t)code >= sizeof STATUS_NAMES / sizeof STATUS_NAMES[0])
        return "UNKNOWN";
    return STATUS_NAMES[code];
}

void rpc_status_clear(struct rpc_status *st)
{
    free(st->message);
    st->message = NULL;
    st->code = GRPC_STATUS_OK;
}

static void set_status(struct rpc_status *st, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_status(struct rpc_status *st, int code, const char *fmt, ...)
{
    va_list ap;
    char buf[512];

    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    free(st->message);
    st->code = code;
    st->message = strdup(buf);
}

static void discard_log(gpr_log_func_args *args)
{
    (void)args;
}

/* gRPC's own log lines (a failed handshake...) repeat what the call's status
 * says, in another format; they are kept only for someone debugging with
 * GRPC_VERBOSITY or GRPC_TRACE set. */
static void quiet_grpc(void)
{
    if (getenv("GRPC_VERBOSITY") == NULL && getenv("GRPC_TRACE") == NULL)
        gpr_set_log_function(discard_log);
}

int rpc_conn_open(const struct rpc_options *opt, struct rpc_conn **out)
{
    struct rpc_conn *conn = calloc(1, sizeof *conn);
    grpc_arg arg = {.type = GRPC_ARG_INTEGER,
                    .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
                    .value.integer = MAX_RECEIVE_BYTES};
    grpc_channel_args args = {.num_args = 1, .args = &arg};
    grpc_channel_credentials *creds;

    if (conn == NULL)
        return -ENOMEM;
    if (opt->token != NULL && asprintf(&conn->auth, "Bearer %s", opt->token) < 0) {
        free(conn);
        return -ENOMEM;
    }
    conn->timeout_ms = opt->timeout_ms;
    quiet_grpc();
    grpc_init();
    creds = opt->root_pem != NULL ? grpc_ssl_credentials_create(opt->root_pem, NULL, NULL, NULL)
                                  : grpc_insecure_credentials_create();
    /* An unusable target gives a "lame" channel whose calls fail: the
     * error then comes with the call's status, like any other. */
    conn->channel = grpc_channel_create(opt->target, creds, &args);
    grpc_channel_credentials_release(creds);
    *out = conn;
    return 0;
}

void rpc_conn_close(struct rpc_conn *conn)
{
    if (conn == NULL)
        return;
    grpc_channel_destroy(conn->channel);
    free(conn->auth);
    free(conn);
    /* Blocking, so that gRPC's threads are gone before the leak check. */
    grpc_shutdown_blocking();
}

static grpc_byte_buffer *pack(const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    grpc_slice s = grpc_slice_malloc(n);
    grpc_byte_buffer *bb;

    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
    bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

/* Unpacks and destroys bb; NULL when the bytes are not a desc. */
static ProtobufCMessage *unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc)
{
    grpc_byte_buffer_reader reader;
    ProtobufCMessage *msg = NULL;

    if (grpc_byte_buffer_reader_init(&reader, bb)) {
        grpc_slice s = grpc_byte_buffer_reader_readall(&reader);
        msg = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
        grpc_slice_unref(s);
        grpc_byte_buffer_reader_destroy(&reader);
    }
    grpc_byte_buffer_destroy(bb);
    return msg;
}

static gpr_timespec deadline_after(int ms)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static void call_init(struct call *c, struct rpc_conn *conn, const char *path,
                      const ProtobufCMessage *req, gpr_timespec deadline)
{
    memset(c, 0, sizeof *c);
    c->cq = grpc_completion_queue_create_for_pluck(NULL);
    c->call = grpc_channel_create_call(conn->channel, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
                                       grpc_slice_from_static_string(path), NULL, deadline, NULL);
    if (conn->auth != NULL) {
        c->md.key = grpc_slice_from_static_string("authorization");
        c->md.value = grpc_slice_from_copied_string(conn->auth);
        c->n_md = 1;
    }
    c->send = pack(req);
    c->details = grpc_empty_slice();
    grpc_metadata_array_init(&c->initial);
    grpc_metadata_array_init(&c->trailing);
}

/* Fills the ops that every call starts with: metadata, request, half-close. */
static size_t send_ops(struct call *c, grpc_op *ops)
{
    memset(ops, 0, 3 * sizeof *ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = c->n_md;
    ops[0].data.send_initial_metadata.metadata = c->n_md ? &c->md : NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = c->send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    return 3;
}

static void status_op(struct call *c, grpc_op *op)
{
    memset(op, 0, sizeof *op);
    op->op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op->data.recv_status_on_client.trailing_metadata = &c->trailing;
    op->data.recv_status_on_client.status = &c->code;
    op->data.recv_status_on_client.status_details = &c->details;
}

static void initial_md_op(struct call *c, grpc_op *op)
{
    memset(op, 0, sizeof *op);
    op->op = GRPC_OP_RECV_INITIAL_METADATA;
    op->data.recv_initial_metadata.recv_initial_metadata = &c->initial;
}

/* Blocks until the batch tagged tag completes (the call's deadline bounds it). */
static void wait_tag(struct call *c, void *tag)
{
    grpc_completion_queue_pluck(c->cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
}

/* Copies the server's status into *st; 0 when OK, else -EPROTO. */
static int take_status(struct call *c, struct rpc_status *st)
{
    char *details = grpc_slice_to_c_string(c->details);

    free(st->message);
    st->code = c->code;
    st->message = strdup(details);
    gpr_free(details);
    return c->code == GRPC_STATUS_OK ? 0 : -EPROTO;
}

static void call_destroy(struct call *c)
{
    if (c->send != NULL)
        grpc_byte_buffer_destroy(c->send);
    if (c->n_md)
        grpc_slice_unref(c->md.value);
    grpc_slice_unref(c->details);
    grpc_metadata_array_destroy(&c->initial);
    grpc_metadata_array_destroy(&c->trailing);
    grpc_call_unref(c->call);
    grpc_completion_queue_shutdown(c->cq);
    grpc_completion_queue_destroy(c->cq);
}

int rpc_unary(struct rpc_conn *conn, const char *path, const ProtobufCMessage *req,
              const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
              struct rpc_status *st)
{
    struct call c;
    grpc_op ops[6];
    grpc_byte_buffer *recv = NULL;
    size_t n;
    int rc;

    *resp = NULL;
    call_init(&c, conn, path, req, deadline_after(conn->timeout_ms));
    n = send_ops(&c, ops);
    initial_md_op(&c, &ops[n++]);
    memset(&ops[n], 0, sizeof ops[n]);
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &recv;
    status_op(&c, &ops[n++]);
    if (grpc_call_start_batch(c.call, ops, n, &c, NULL) != GRPC_CALL_OK) {
        set_status(st, GRPC_STATUS_INTERNAL, "cannot start the call");
        call_destroy(&c);
        return -EIO;
    }
    wait_tag(&c, &c);
    rc = take_status(&c, st);
    if (rc == 0 && recv == NULL) {
        set_status(st, GRPC_STATUS_INTERNAL, "the server answered OK without a message");
        rc = -EBADMSG;
    } else if (recv != NULL) {
        *resp = unpack(recv, resp_desc);
        if (rc == 0 && *resp == NULL) {
            set_status(st, GRPC_STATUS_INTERNAL, "the answer is not a %s", resp_desc->name);
            rc = -EBADMSG;
        }
    }
    if (rc != 0 && *resp != NULL) {
        protobuf_c_message_free_unpacked(*resp, NULL);
        *resp = NULL;
    }
    call_destroy(&c);
    return rc;
}

int rpc_stream_open(struct rpc_conn *conn, const char *path, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *resp_desc, int bounded,
                    struct rpc_stream **out)
{
    struct rpc_stream *s = calloc(1, sizeof *s);
    grpc_op ops[4], status;
    size_t n;

    if (s == NULL)
        return -ENOMEM;
    s->desc = resp_desc;
    call_init(&s->c, conn, path, req,
              bounded ? deadline_after(conn->timeout_ms) : gpr_inf_future(GPR_CLOCK_REALTIME));
    n = send_ops(&s->c, ops);
    initial_md_op(&s->c, &ops[n++]);
    status_op(&s->c, &status);
    /* The status batch runs alongside: whatever ends the call completes it. */
    if (grpc_call_start_batch(s->c.call, ops, n, &TAG_SEND, NULL) != GRPC_CALL_OK ||
        grpc_call_start_batch(s->c.call, &status, 1, &TAG_STATUS, NULL) != GRPC_CALL_OK) {
        /* Cannot happen with a fresh call; nothing is pending if it does. */
        call_destroy(&s->c);
        free(s);
        return -EIO;
    }
    *out = s;
    return 0;
}

static int start_recv(struct rpc_stream *s)
{
    grpc_op op;

    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &s->recv;
    s->recv = NULL;
    if (grpc_call_start_batch(s->c.call, &op, 1, &TAG_RECV, NULL) != GRPC_CALL_OK)
        return -EIO;
    s->recv_pending = 1;
    return 0;
}

/* Waits for the pending RECV_MESSAGE; -EINTR if *stop is raised first. */
static int wait_recv(struct rpc_stream *s, volatile sig_atomic_t *stop)
{
    for (;;) {
        grpc_event ev =
            grpc_completion_queue_pluck(s->c.cq, &TAG_RECV, deadline_after(POLL_MS), NULL);

        if (ev.type == GRPC_OP_COMPLETE) {
            s->recv_pending = 0;
            return 0;
        }
        if (stop != NULL && *stop) {
            grpc_call_cancel(s->c.call, NULL);
            wait_tag(&s->c, &TAG_RECV);
            s->recv_pending = 0;
            if (s->recv != NULL)
                grpc_byte_buffer_destroy(s->recv);
            s->recv = NULL;
            return -EINTR;
        }
    }
}

int rpc_stream_next(struct rpc_stream *s, ProtobufCMessage **msg, volatile sig_atomic_t *stop)
{
    int rc;

    *msg = NULL;
    if (s->ended)
        return 0;
    if ((rc = start_recv(s)) < 0)
        return rc;
    if ((rc = wait_recv(s, stop)) < 0)
        return rc;
    if (s->recv == NULL) {
        s->ended = 1;
        return 0;
    }
    *msg = unpack(s->recv, s->desc);
    s->recv = NULL;
    return *msg != NULL ? 1 : -EBADMSG;
}

int rpc_stream_finish(struct rpc_stream *s, struct rpc_status *st)
{
    struct rpc_status ignored = {0};
    int rc;

    if (!s->ended)
        grpc_call_cancel(s->c.call, NULL);
    if (s->recv_pending) {
        wait_tag(&s->c, &TAG_RECV);
        if (s->recv != NULL)
            grpc_byte_buffer_destroy(s->recv);
    }
    wait_tag(&s->c, &TAG_SEND);
    wait_tag(&s->c, &TAG_STATUS);
    rc = take_status(&s->c, st != NULL ? st : &ignored);
    rpc_status_clear(&ignored);
    call_destroy(&s->c);
    free(s);
    return rc;
}

/* gRPC calls from a loop. See rpc_client.h. */
#include "common/rpc_client.h"

#include <errno.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/file.h"
#include "common/rpc_loop.h"

#define TIMEOUT_DEFAULT_MS 10000u

typedef struct ccall_s ccall_t;

struct rpc_client_s {
    uv_loop_t *loop;
    rpc_loop_t *q;
    char **servers;
    grpc_channel **channels; /* created on first use */
    size_t n, current;
    grpc_channel_credentials *creds;
    char *auth; /* "Bearer <token>" or NULL */
    unsigned timeout_ms;
    ccall_t *calls; /* every call in progress (doubly linked) */
    bool closing;
    void (*close_done)(void *);
    void *close_data;
};

/* One call, unary or streaming. */
struct ccall_s {
    ccall_t *prev, *next;
    rpc_client_t *c;
    grpc_call *call;
    size_t server;
    rpc_tag_t start_tag, recv_tag, status_tag;
    int batches; /* in flight */
    grpc_metadata md;
    grpc_metadata_array initial_md, trailing_md;
    grpc_status_code status;
    grpc_slice details;
    grpc_byte_buffer *send_bb, *recv_bb;
    const ProtobufCMessageDescriptor *resp;
    bool stream, got_status, recv_done, closed;
    rpc_unary_cb cb;
    const rpc_stream_ops_t *ops;
    void *data;
};

struct rpc_stream_s {
    ccall_t call; /* first */
};

static void client_maybe_closed(rpc_client_t *c);

/* ---- calls ----------------------------------------------------------------- */

static void call_free(ccall_t *k)
{
    rpc_client_t *c = k->c;
    if (k->prev)
        k->prev->next = k->next;
    else
        c->calls = k->next;
    if (k->next)
        k->next->prev = k->prev;
    if (k->send_bb)
        grpc_byte_buffer_destroy(k->send_bb);
    if (k->recv_bb)
        grpc_byte_buffer_destroy(k->recv_bb);
    grpc_metadata_array_destroy(&k->initial_md);
    grpc_metadata_array_destroy(&k->trailing_md);
    grpc_slice_unref(k->details);
    if (k->call)
        grpc_call_unref(k->call);
    free(k);
    client_maybe_closed(c);
}

/* A call that ends UNAVAILABLE moves the client to the next server (if
 * this call's server is still the current one). */
static void note_status(ccall_t *k)
{
    rpc_client_t *c = k->c;
    if (k->status == GRPC_STATUS_UNAVAILABLE && c->current == k->server && c->n > 1)
        c->current = (c->current + 1) % c->n;
}

static char *details_text(ccall_t *k, char *buf, size_t size)
{
    size_t n = GRPC_SLICE_LENGTH(k->details);
    if (n >= size)
        n = size - 1;
    memcpy(buf, GRPC_SLICE_START_PTR(k->details), n);
    buf[n] = 0;
    return buf;
}

static void unary_done(rpc_tag_t *tag, bool ok)
{
    ccall_t *k = (ccall_t *)((char *)tag - offsetof(ccall_t, start_tag));
    char msg[1024];
    const char *why = "";
    k->batches--;
    if (!ok && k->status == GRPC_STATUS_OK)
        k->status = GRPC_STATUS_UNKNOWN;
    note_status(k);
    ProtobufCMessage *resp = NULL;
    if (k->status != GRPC_STATUS_OK) {
        why = details_text(k, msg, sizeof msg);
    } else if (!k->recv_bb || !(resp = rpc_unpack(k->resp, k->recv_bb))) {
        k->status = GRPC_STATUS_INTERNAL;
        snprintf(msg, sizeof msg, "the answer is not a valid %s", k->resp->name);
        why = msg;
    }
    k->cb(k->status, why, resp, k->data);
    if (resp)
        protobuf_c_message_free_unpacked(resp, NULL);
    call_free(k);
}

/* The stream's end is reported once the status is in and no message is
 * being read. */
static void stream_maybe_end(ccall_t *k)
{
    if (!k->got_status || !k->recv_done || k->closed)
        return;
    k->closed = true;
    char msg[1024];
    note_status(k);
    k->ops->on_close((rpc_stream_t *)k, k->status, details_text(k, msg, sizeof msg), k->data);
    if (k->batches == 0)
        call_free(k);
}

static void stream_recv_next(ccall_t *k);

static void stream_recv_done(rpc_tag_t *tag, bool ok)
{
    ccall_t *k = (ccall_t *)((char *)tag - offsetof(ccall_t, recv_tag));
    k->batches--;
    grpc_byte_buffer *bb = k->recv_bb;
    k->recv_bb = NULL;
    if (!ok || !bb) {
        k->recv_done = true;
    } else {
        ProtobufCMessage *m = rpc_unpack(k->resp, bb);
        grpc_byte_buffer_destroy(bb);
        if (m) {
            k->ops->on_message((rpc_stream_t *)k, m, k->data);
            protobuf_c_message_free_unpacked(m, NULL);
        } else {
            grpc_call_cancel_with_status(k->call, GRPC_STATUS_INTERNAL,
                                         "a message of the stream does not parse", NULL);
        }
        stream_recv_next(k);
    }
    if (k->closed && k->batches == 0)
        call_free(k);
    else
        stream_maybe_end(k);
}

static void stream_recv_next(ccall_t *k)
{
    grpc_op op = {.op = GRPC_OP_RECV_MESSAGE};
    op.data.recv_message.recv_message = &k->recv_bb;
    k->batches++;
    if (rpc_loop_start_batch(k->c->q, k->call, &op, 1, &k->recv_tag) != GRPC_CALL_OK) {
        k->batches--;
        k->recv_done = true;
    }
}

static void stream_status_done(rpc_tag_t *tag, bool ok)
{
    ccall_t *k = (ccall_t *)((char *)tag - offsetof(ccall_t, status_tag));
    k->batches--;
    if (!ok && k->status == GRPC_STATUS_OK)
        k->status = GRPC_STATUS_UNKNOWN;
    k->got_status = true;
    if (k->closed && k->batches == 0)
        call_free(k);
    else
        stream_maybe_end(k);
}

static void stream_start_done(rpc_tag_t *tag, bool ok)
{
    ccall_t *k = (ccall_t *)((char *)tag - offsetof(ccall_t, start_tag));
    k->batches--;
    if (ok && !k->closed)
        stream_recv_next(k);
    else
        k->recv_done = true;
    if (k->closed && k->batches == 0)
        call_free(k);
    else
        stream_maybe_end(k);
}

static grpc_channel *channel(rpc_client_t *c, size_t i)
{
    if (!c->channels[i]) {
        grpc_arg args[] = {
            {GRPC_ARG_INTEGER, GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, {.integer = 200}},
            {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, {.integer = 5000}},
            /* A watch may be silent for long: pings find a dead peer. */
            {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIME_MS, {.integer = 30000}},
            {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIMEOUT_MS, {.integer = 10000}},
        };
        grpc_channel_args ca = {sizeof args / sizeof *args, args};
        c->channels[i] = grpc_channel_create(c->servers[i], c->creds, &ca);
    }
    return c->channels[i];
}

static ccall_t *call_new(rpc_client_t *c, const char *path, const ProtobufCMessage *req,
                         const ProtobufCMessageDescriptor *resp, unsigned timeout_ms)
{
    ccall_t *k = calloc(1, sizeof(rpc_stream_t));
    if (!k)
        return NULL;
    k->c = c;
    k->resp = resp;
    k->server = c->current;
    k->details = grpc_empty_slice();
    grpc_metadata_array_init(&k->initial_md);
    grpc_metadata_array_init(&k->trailing_md);
    k->send_bb = rpc_pack(req);
    grpc_slice method = grpc_slice_from_copied_string(path); /* not taken by the call */
    k->call = grpc_channel_create_call(channel(c, k->server), NULL, GRPC_PROPAGATE_DEFAULTS,
                                       rpc_loop_queue(c->q), method, NULL, rpc_deadline(timeout_ms),
                                       NULL);
    grpc_slice_unref(method);
    k->next = c->calls;
    if (c->calls)
        c->calls->prev = k;
    c->calls = k;
    if (!k->send_bb || !k->call) {
        call_free(k);
        return NULL;
    }
    if (c->auth) {
        k->md.key = grpc_slice_from_static_string("authorization");
        k->md.value = grpc_slice_from_static_string(c->auth);
    }
    return k;
}

/* The first ops of every call: metadata, the request, half-close. */
static size_t request_ops(ccall_t *k, grpc_op *ops)
{
    memset(ops, 0, 4 * sizeof(*ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = k->c->auth ? 1 : 0;
    ops[0].data.send_initial_metadata.metadata = k->c->auth ? &k->md : NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = k->send_bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &k->initial_md;
    return 4;
}

static void status_op(ccall_t *k, grpc_op *op)
{
    op->op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op->data.recv_status_on_client.trailing_metadata = &k->trailing_md;
    op->data.recv_status_on_client.status = &k->status;
    op->data.recv_status_on_client.status_details = &k->details;
}

int rpc_client_unary(rpc_client_t *c, const char *path, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *resp, unsigned timeout_ms, rpc_unary_cb cb,
                     void *data)
{
    if (!c || !path || !req || !resp || !cb)
        return -EINVAL;
    if (c->closing)
        return -ECANCELED;
    ccall_t *k = call_new(c, path, req, resp, timeout_ms ? timeout_ms : c->timeout_ms);
    if (!k)
        return -ENOMEM;
    k->cb = cb;
    k->data = data;
    k->start_tag.done = unary_done;
    grpc_op ops[6];
    size_t n = request_ops(k, ops);
    memset(&ops[n], 0, 2 * sizeof(*ops));
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &k->recv_bb;
    status_op(k, &ops[n++]);
    k->batches++;
    if (rpc_loop_start_batch(c->q, k->call, ops, n, &k->start_tag) != GRPC_CALL_OK) {
        call_free(k);
        return -EIO;
    }
    return 0;
}

int rpc_client_stream(rpc_client_t *c, const char *path, const ProtobufCMessage *req,
                      const ProtobufCMessageDescriptor *resp, const rpc_stream_ops_t *ops,
                      void *data, rpc_stream_t **out)
{
    if (!c || !path || !req || !resp || !ops || !ops->on_message || !ops->on_close)
        return -EINVAL;
    if (c->closing)
        return -ECANCELED;
    ccall_t *k = call_new(c, path, req, resp, 0);
    if (!k)
        return -ENOMEM;
    k->stream = true;
    k->ops = ops;
    k->data = data;
    k->start_tag.done = stream_start_done;
    k->recv_tag.done = stream_recv_done;
    k->status_tag.done = stream_status_done;
    grpc_op start[4], status = {0};
    size_t n = request_ops(k, start);
    status_op(k, &status);
    k->batches += 2;
    if (rpc_loop_start_batch(c->q, k->call, &status, 1, &k->status_tag) != GRPC_CALL_OK) {
        call_free(k);
        return -EIO;
    }
    if (rpc_loop_start_batch(c->q, k->call, start, n, &k->start_tag) != GRPC_CALL_OK) {
        k->batches--;
        k->recv_done = true; /* nothing will be read: the status ends it */
        grpc_call_cancel(k->call, NULL);
    }
    if (out)
        *out = (rpc_stream_t *)k;
    return 0;
}

void rpc_stream_cancel(rpc_stream_t *st)
{
    grpc_call_cancel(st->call.call, NULL);
}

/* ---- the client ------------------------------------------------------------ */

int rpc_client_new(uv_loop_t *loop, const rpc_client_config_t *cfg, rpc_client_t **out)
{
    if (!loop || !cfg || !cfg->n_servers || !cfg->servers || !out)
        return -EINVAL;
    rpc_client_t *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->loop = loop;
    c->n = cfg->n_servers;
    c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : TIMEOUT_DEFAULT_MS;
    c->servers = calloc(c->n, sizeof(*c->servers));
    c->channels = calloc(c->n, sizeof(*c->channels));
    int rc = c->servers && c->channels ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < c->n; i++)
        if (!(c->servers[i] = strdup(cfg->servers[i])))
            rc = -ENOMEM;
    if (rc == 0 && cfg->token && asprintf(&c->auth, "Bearer %s", cfg->token) < 0) {
        c->auth = NULL;
        rc = -ENOMEM;
    }
    grpc_init();
    if (rc == 0 && cfg->tls_ca_file) {
        char *ca = file_read_all(cfg->tls_ca_file, NULL);
        c->creds = ca ? grpc_ssl_credentials_create(ca, NULL, NULL, NULL) : NULL;
        free(ca);
        if (!c->creds)
            rc = -EINVAL;
    } else if (rc == 0) {
        c->creds = grpc_insecure_credentials_create();
    }
    rc = rc ? rc : rpc_loop_init(&c->q, loop);
    if (rc) {
        c->closing = true;
        client_maybe_closed(c); /* frees what is there */
        return rc;
    }
    *out = c;
    return 0;
}

const char *rpc_client_server(const rpc_client_t *c)
{
    return c->servers[c->current];
}

static void loop_closed(void *data)
{
    rpc_client_t *c = data;
    void (*done)(void *) = c->close_done;
    void *done_data = c->close_data;
    for (size_t i = 0; i < c->n; i++) {
        if (c->channels && c->channels[i])
            grpc_channel_destroy(c->channels[i]);
        if (c->servers)
            free(c->servers[i]);
    }
    free(c->servers);
    free(c->channels);
    if (c->creds)
        grpc_channel_credentials_release(c->creds);
    free(c->auth);
    free(c);
    grpc_shutdown();
    if (done)
        done(done_data);
}

static void client_maybe_closed(rpc_client_t *c)
{
    if (!c->closing || c->calls)
        return;
    if (c->q)
        rpc_loop_close(c->q, loop_closed, c);
    else
        loop_closed(c);
}

void rpc_client_close(rpc_client_t *c, void (*done)(void *), void *data)
{
    if (!c) {
        if (done)
            done(data);
        return;
    }
    c->closing = true;
    c->close_done = done;
    c->close_data = data;
    for (ccall_t *k = c->calls; k; k = k->next)
        grpc_call_cancel(k->call, NULL);
    client_maybe_closed(c);
}

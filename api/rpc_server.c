/* A gRPC server on the loop. See rpc_server.h. */
#include "api/rpc_server.h"

#include <errno.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/file.h"
#include "common/log.h"
#include "common/rpc_loop.h"

/* Calls requested from gRPC ahead of time, per method (and for unknown
 * methods): how many new calls can start between two turns of the loop. */
#define ACCEPTS_AHEAD 8
#define STREAM_BUFFER_DEFAULT (16u << 20)

struct rpc_server_s {
    uv_loop_t *loop;
    rpc_loop_t *q;
    grpc_server *server;
    rpc_method_t *methods;
    void **handles; /* gRPC's registration of each method */
    size_t n_methods;
    char *host;
    uint16_t port;
    char *cert_file, *key_file;
    bool (*authorize)(const char *, void *);
    void *authorize_data;
    size_t stream_buffer_max;
    size_t calls;
    bool started, closing;
    rpc_tag_t shutdown_tag;
    void (*close_done)(void *);
    void *close_data;
};

struct rpc_call_s {
    rpc_server_t *s;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
    const rpc_method_t *m;
    char *path;
    char *peer;
    rpc_tag_t accept_tag, close_tag, write_tag;
    grpc_byte_buffer *recv_bb;
    gpr_timespec deadline; /* written by gRPC when the call arrives */
    ProtobufCMessage *req;
    int cancelled; /* filled by RECV_CLOSE_ON_SERVER */
    int refs;
    bool held;           /* the handler owns the call */
    bool md_sent;        /* initial metadata went out */
    bool dead;           /* nothing more can be sent */
    bool writing;        /* a write batch is in flight */
    bool finishing;      /* the handler ended the call */
    bool status_started; /* the status is on its way */
    grpc_status_code fin_code;
    grpc_slice fin_details;
    bool fin_details_set;
    grpc_byte_buffer **queue; /* ring of unsent messages */
    size_t q_head, q_len, q_cap, q_bytes;
    grpc_byte_buffer *in_flight;
    void (*on_cancel)(rpc_call_t *, void *);
    void *cancel_data;
    void (*on_drain)(rpc_call_t *, void *);
    void *drain_data;
};

static void accept_next(rpc_server_t *s, const rpc_method_t *m);
static void server_maybe_done(rpc_server_t *s);

/* ---- call lifetime ------------------------------------------------------- */

static void call_unref(rpc_call_t *c)
{
    if (--c->refs > 0)
        return;
    rpc_server_t *s = c->s;
    while (c->q_len) {
        grpc_byte_buffer_destroy(c->queue[c->q_head]);
        c->q_head = (c->q_head + 1) % c->q_cap;
        c->q_len--;
    }
    free(c->queue);
    if (c->in_flight)
        grpc_byte_buffer_destroy(c->in_flight);
    if (c->recv_bb)
        grpc_byte_buffer_destroy(c->recv_bb);
    if (c->req)
        protobuf_c_message_free_unpacked(c->req, NULL);
    if (c->fin_details_set)
        grpc_slice_unref(c->fin_details);
    if (c->call)
        grpc_call_unref(c->call);
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->md);
    free(c->path);
    gpr_free(c->peer);
    free(c);
    s->calls--;
    server_maybe_done(s);
}

/* The stream can no longer carry anything: tell the handler (if it asked
 * to be told), which then lets go of the call. */
/* Runs the handler's cancel hook, if one is set and the handler still
 * holds the call; the handler lets go of the call with it. */
static bool run_cancel_hook(rpc_call_t *c)
{
    if (!c->held || !c->on_cancel || c->finishing)
        return false;
    void (*fn)(rpc_call_t *, void *) = c->on_cancel;
    c->on_cancel = NULL;
    c->held = false;
    c->refs++; /* the hook may not free the call under our feet */
    fn(c, c->cancel_data);
    call_unref(c); /* the hook's */
    call_unref(c); /* the handler's */
    return true;
}

static void call_die(rpc_call_t *c)
{
    if (c->dead)
        return;
    c->dead = true;
    run_cancel_hook(c);
}

static void handler_release(rpc_call_t *c)
{
    if (!c->held)
        return;
    c->held = false;
    call_unref(c);
}

/* ---- writing ------------------------------------------------------------- */

static void write_next(rpc_call_t *c);

static void write_done(rpc_tag_t *tag, bool ok)
{
    rpc_call_t *c = (rpc_call_t *)((char *)tag - offsetof(rpc_call_t, write_tag));
    c->writing = false;
    if (c->in_flight) {
        grpc_byte_buffer_destroy(c->in_flight);
        c->in_flight = NULL;
    }
    if (!ok)
        call_die(c);
    if (c->status_started || (c->dead && c->finishing))
        handler_release(c); /* the call is over for the handler */
    else
        write_next(c);
    if (!c->writing && !c->q_len && !c->dead && !c->finishing && c->on_drain)
        c->on_drain(c, c->drain_data);
    call_unref(c); /* the write's */
}

/* Starts the next write: the oldest queued message, with the status when it
 * is the last one and the handler finished. One write at a time, as gRPC
 * wants. */
static void write_next(rpc_call_t *c)
{
    if (c->writing || c->dead || c->status_started)
        return;
    if (c->q_len == 0 && !c->finishing)
        return;
    grpc_op ops[4];
    size_t n = 0;
    memset(ops, 0, sizeof ops);
    if (!c->md_sent) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        c->md_sent = true;
    }
    if (c->q_len) {
        c->in_flight = c->queue[c->q_head];
        c->q_head = (c->q_head + 1) % c->q_cap;
        c->q_len--;
        c->q_bytes -= grpc_byte_buffer_length(c->in_flight);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->in_flight;
    }
    if (c->finishing && c->q_len == 0) {
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = c->fin_code;
        ops[n++].data.send_status_from_server.status_details = &c->fin_details;
        c->status_started = true;
        if (!c->m || !c->m->streaming) { /* see start_call */
            ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
            ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
        }
    }
    c->writing = true;
    c->refs++;
    if (rpc_loop_start_batch(c->s->q, c->call, ops, n, &c->write_tag) != GRPC_CALL_OK) {
        c->writing = false;
        c->refs--;
        call_die(c);
        if (c->finishing)
            handler_release(c);
    }
}

static int queue_push(rpc_call_t *c, grpc_byte_buffer *bb)
{
    if (c->q_len == c->q_cap) {
        size_t cap = c->q_cap ? c->q_cap * 2 : 8;
        grpc_byte_buffer **q = malloc(cap * sizeof(*q));
        if (!q)
            return -ENOMEM;
        for (size_t i = 0; i < c->q_len; i++)
            q[i] = c->queue[(c->q_head + i) % c->q_cap];
        free(c->queue);
        c->queue = q;
        c->q_cap = cap;
        c->q_head = 0;
    }
    c->queue[(c->q_head + c->q_len) % c->q_cap] = bb;
    c->q_len++;
    c->q_bytes += grpc_byte_buffer_length(bb);
    return 0;
}

static void set_status(rpc_call_t *c, grpc_status_code code, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    c->fin_code = code;
    c->fin_details = grpc_slice_from_copied_string(msg);
    c->fin_details_set = true;
}

/* ---- the handler's side -------------------------------------------------- */

int rpc_call_send_packed(rpc_call_t *c, grpc_byte_buffer *bb)
{
    if (c->dead || c->finishing) {
        /* A hook set after the stream died has not run yet: now. */
        if (c->dead)
            run_cancel_hook(c);
        return -EPIPE;
    }
    if (c->q_bytes + grpc_byte_buffer_length(bb) > c->s->stream_buffer_max) {
        char q[128];
        log_warn("grpc: a stream's client is too slow; ended", "method=%s peer=%s queued_bytes=%zu",
                 c->path, log_quote(c->peer, q, sizeof q), c->q_bytes);
        grpc_call_cancel_with_status(c->call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                                     "the client reads too slowly: resume from the last revision "
                                     "received",
                                     NULL);
        call_die(c);
        return -EPIPE;
    }
    grpc_byte_buffer *copy = grpc_byte_buffer_copy(bb);
    if (!copy || queue_push(c, copy) != 0) {
        if (copy)
            grpc_byte_buffer_destroy(copy);
        return -ENOMEM;
    }
    write_next(c);
    return 0;
}

int rpc_call_send(rpc_call_t *c, const ProtobufCMessage *m)
{
    grpc_byte_buffer *bb = rpc_pack(m);
    if (!bb)
        return -ENOMEM;
    int rc = rpc_call_send_packed(c, bb);
    grpc_byte_buffer_destroy(bb);
    return rc;
}

static void finish(rpc_call_t *c, grpc_status_code code, const char *fmt, va_list ap)
{
    if (c->finishing)
        return;
    c->on_cancel = NULL;
    if (c->dead) {
        c->finishing = true;
        handler_release(c);
        return;
    }
    set_status(c, code, fmt, ap);
    c->finishing = true;
    write_next(c);
}

void rpc_call_finish(rpc_call_t *c, grpc_status_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    finish(c, code, fmt, ap);
    va_end(ap);
}

void rpc_call_fail(rpc_call_t *c, grpc_status_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    finish(c, code, fmt, ap);
    va_end(ap);
}

static grpc_byte_buffer *bytes_buffer(const void *data, size_t len)
{
    grpc_slice sl = grpc_slice_from_copied_buffer(data, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    return bb;
}

int rpc_call_send_bytes(rpc_call_t *c, const void *data, size_t len)
{
    grpc_byte_buffer *bb = bytes_buffer(data, len);
    int rc = bb ? rpc_call_send_packed(c, bb) : -ENOMEM;
    if (bb)
        grpc_byte_buffer_destroy(bb);
    return rc;
}

static void reply_buffer(rpc_call_t *c, grpc_byte_buffer *bb)
{
    if (!c->dead && (!bb || queue_push(c, bb) != 0)) {
        if (bb)
            grpc_byte_buffer_destroy(bb);
        rpc_call_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    if (c->dead && bb)
        grpc_byte_buffer_destroy(bb);
    rpc_call_fail(c, GRPC_STATUS_OK, "%s", "");
}

void rpc_call_reply_bytes(rpc_call_t *c, const void *data, size_t len)
{
    reply_buffer(c, c->dead ? NULL : bytes_buffer(data, len));
}

void rpc_call_reply(rpc_call_t *c, const ProtobufCMessage *resp)
{
    reply_buffer(c, c->dead ? NULL : rpc_pack(resp));
}

void rpc_call_on_drain(rpc_call_t *c, void (*fn)(rpc_call_t *, void *), void *data)
{
    c->on_drain = fn;
    c->drain_data = data;
}

void rpc_call_on_cancel(rpc_call_t *c, void (*fn)(rpc_call_t *, void *), void *data)
{
    c->on_cancel = fn;
    c->cancel_data = data;
}

const char *rpc_call_peer(rpc_call_t *c)
{
    return c->peer ? c->peer : "";
}

const char *rpc_call_method(const rpc_call_t *c)
{
    return c->path;
}

/* ---- receiving ----------------------------------------------------------- */

static void close_done(rpc_tag_t *tag, bool ok)
{
    rpc_call_t *c = (rpc_call_t *)((char *)tag - offsetof(rpc_call_t, close_tag));
    (void)ok;
    /* The call is over; cancelled: before the handler ended it. */
    if (c->cancelled || !c->status_started)
        call_die(c);
    call_unref(c);
}

static bool authorized(const rpc_call_t *c)
{
    if (!c->m->admin || !c->s->authorize)
        return true;
    char *value = NULL;
    for (size_t i = 0; i < c->md.count && !value; i++)
        if (!grpc_slice_str_cmp(c->md.metadata[i].key, "authorization"))
            value = rpc_slice_strdup(c->md.metadata[i].value);
    bool ok = c->s->authorize(value, c->s->authorize_data);
    free(value);
    return ok;
}

static bool has_md(const rpc_call_t *c, const char *key)
{
    for (size_t i = 0; i < c->md.count; i++)
        if (!grpc_slice_str_cmp(c->md.metadata[i].key, key))
            return true;
    return false;
}

/* The request arrived with the call (registered methods read it at
 * once): decode, check the token, hand it to the handler. */
static void handle_request(rpc_call_t *c)
{
    if (!c->recv_bb) {
        /* The client half-closed without a message, or went away. */
        rpc_call_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "the call carries no request message");
    } else if (!(c->req = rpc_unpack(c->m->request, c->recv_bb))) {
        rpc_call_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "the request is not a valid %s message",
                      c->m->request->name);
    } else if (!authorized(c)) {
        rpc_call_fail(c, GRPC_STATUS_UNAUTHENTICATED,
                      "%s needs the admin token: metadata \"authorization: Bearer <token>\"%s",
                      c->path, has_md(c, "authorization") ? " (the token given is not it)" : "");
    } else {
        c->m->fn(c, c->req, c->m->data);
    }
}

/* A stream learns that its client went away through RECV_CLOSE_ON_SERVER,
 * started now; a unary call asks for it with its answer (one completion
 * fewer): a client gone meanwhile only makes that last batch fail. */
static int start_call(rpc_call_t *c)
{
    if (c->m && c->m->streaming) {
        grpc_op close_op = {.op = GRPC_OP_RECV_CLOSE_ON_SERVER};
        close_op.data.recv_close_on_server.cancelled = &c->cancelled;
        c->refs++;
        if (rpc_loop_start_batch(c->s->q, c->call, &close_op, 1, &c->close_tag) != GRPC_CALL_OK) {
            c->refs--;
            return -EIO;
        }
    }
    c->held = true;
    c->refs++;
    return 0;
}

static void accept_done(rpc_tag_t *tag, bool ok)
{
    rpc_call_t *c = (rpc_call_t *)((char *)tag - offsetof(rpc_call_t, accept_tag));
    rpc_server_t *s = c->s;
    if (!ok || s->closing) {
        if (ok)
            grpc_call_cancel_with_status(c->call, GRPC_STATUS_UNAVAILABLE, "shutting down", NULL);
        call_unref(c);
        return;
    }
    accept_next(s, c->m);
    c->path = c->m ? strdup(c->m->path) : rpc_slice_strdup(c->details.method);
    c->peer = grpc_call_get_peer(c->call);
    if (!c->path || start_call(c) != 0) {
        grpc_call_cancel_with_status(c->call, GRPC_STATUS_INTERNAL, "cannot start the call", NULL);
        call_unref(c);
        return;
    }
    call_unref(c); /* the accept's */
    if (c->m) {
        handle_request(c);
    } else { /* only methods not registered come this way */
        char q[256];
        log_debug("grpc: unknown method", "method=%s", log_quote(c->path, q, sizeof q));
        rpc_call_fail(c, GRPC_STATUS_UNIMPLEMENTED, "no method %s here", c->path);
    }
}

/* Asks gRPC for one more incoming call of method m (with its request
 * message), or of any method not registered (m NULL). */
static void accept_next(rpc_server_t *s, const rpc_method_t *m)
{
    rpc_call_t *c = calloc(1, sizeof(*c));
    if (!c) {
        log_error("grpc: out of memory; one fewer call can be accepted at once", NULL);
        return;
    }
    c->s = s;
    c->m = m;
    c->refs = 1;
    c->accept_tag.done = accept_done;
    c->close_tag.done = close_done;
    c->write_tag.done = write_done;
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->md);
    s->calls++;
    grpc_completion_queue *cq = rpc_loop_queue(s->q);
    grpc_call_error e;
    if (m) {
        /* Everything handed over here is written later, from gRPC's
         * threads: it lives in the call, never on this stack. */
        e = grpc_server_request_registered_call(s->server, s->handles[m - s->methods], &c->call,
                                                &c->deadline, &c->md, &c->recv_bb, cq, cq,
                                                &c->accept_tag);
    } else {
        e = grpc_server_request_call(s->server, &c->call, &c->details, &c->md, cq, cq,
                                     &c->accept_tag);
    }
    if (e != GRPC_CALL_OK) {
        call_unref(c);
        return;
    }
    rpc_loop_expect(s->q);
}

/* ---- the server ---------------------------------------------------------- */

int rpc_server_new(uv_loop_t *loop, const rpc_server_config_t *cfg, rpc_server_t **out)
{
    if (!loop || !cfg || !cfg->host || !out)
        return -EINVAL;
    if (!cfg->tls_cert_file != !cfg->tls_key_file)
        return -EINVAL;
    rpc_server_t *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->loop = loop;
    s->port = cfg->port;
    s->stream_buffer_max = cfg->stream_buffer_max ? cfg->stream_buffer_max : STREAM_BUFFER_DEFAULT;
    s->host = strdup(cfg->host);
    s->cert_file = cfg->tls_cert_file ? strdup(cfg->tls_cert_file) : NULL;
    s->key_file = cfg->tls_key_file ? strdup(cfg->tls_key_file) : NULL;
    s->authorize = cfg->authorize;
    s->authorize_data = cfg->authorize_data;
    bool oom = !s->host || (cfg->tls_cert_file && (!s->cert_file || !s->key_file));
    grpc_init(); /* before the queue: it may be the process's first gRPC user */
    if (oom || rpc_loop_init(&s->q, loop) != 0) {
        grpc_shutdown();
        free(s->host);
        free(s->cert_file);
        free(s->key_file);
        free(s);
        return -ENOMEM;
    }
    grpc_arg args[] = {
        /* Watches are long and often silent: ping idle clients, drop the
         * dead ones; let clients ping too (agents keep their watch alive). */
        {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIME_MS, {.integer = 60000}},
        {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIMEOUT_MS, {.integer = 20000}},
        {GRPC_ARG_INTEGER,
         GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
         {.integer = 10000}},
        {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, {.integer = 1}},
    };
    grpc_channel_args ca = {sizeof args / sizeof *args, args};
    s->server = grpc_server_create(&ca, NULL);
    grpc_server_register_completion_queue(s->server, rpc_loop_queue(s->q), NULL);
    *out = s;
    return 0;
}

int rpc_server_method(rpc_server_t *s, const rpc_method_t *m)
{
    if (!s || !m || !m->path || !m->request || !m->fn || s->started)
        return -EINVAL;
    for (size_t i = 0; i < s->n_methods; i++)
        if (strcmp(s->methods[i].path, m->path) == 0)
            return -EEXIST;
    rpc_method_t *v = realloc(s->methods, (s->n_methods + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    s->methods = v;
    s->methods[s->n_methods++] = *m;
    return 0;
}

/* gRPC only says "cannot add the port" for bad TLS files: check them
 * first, so that the error says what is wrong. */
static const char *tls_files_problem(const char *cert_file, const char *key_file)
{
    FILE *cf = fopen(cert_file, "r"), *kf = fopen(key_file, "r");
    X509 *cert = cf ? PEM_read_X509(cf, NULL, NULL, NULL) : NULL;
    EVP_PKEY *key = kf ? PEM_read_PrivateKey(kf, NULL, NULL, NULL) : NULL;
    const char *why = !cf     ? "the certificate file cannot be opened"
                      : !kf   ? "the key file cannot be opened"
                      : !cert ? "the certificate file holds no PEM certificate"
                      : !key  ? "the key file holds no PEM private key (or it is encrypted)"
                      : X509_check_private_key(cert, key) != 1
                          ? "the private key does not belong to the certificate"
                          : NULL;
    X509_free(cert);
    EVP_PKEY_free(key);
    if (cf)
        fclose(cf);
    if (kf)
        fclose(kf);
    return why;
}

static grpc_server_credentials *server_creds(rpc_server_t *s)
{
    if (!s->cert_file)
        return grpc_insecure_server_credentials_create();
    char *cert = file_read_all(s->cert_file, NULL), *key = file_read_all(s->key_file, NULL);
    grpc_server_credentials *creds = NULL;
    if (cert && key) {
        grpc_ssl_pem_key_cert_pair pair = {key, cert};
        creds = grpc_ssl_server_credentials_create(NULL, &pair, 1, 0, NULL);
    }
    free(cert);
    free(key);
    return creds;
}

int rpc_server_start(rpc_server_t *s)
{
    char addr[300];
    bool v6 = strchr(s->host, ':') != NULL;
    snprintf(addr, sizeof addr, v6 ? "[%s]:%u" : "%s:%u", s->host, (unsigned)s->port);
    const char *why = s->cert_file ? tls_files_problem(s->cert_file, s->key_file) : NULL;
    if (why) {
        log_error("grpc: bad TLS files", "cert=\"%s\" key=\"%s\" reason=\"%s\"", s->cert_file,
                  s->key_file, why);
        return -EINVAL;
    }
    grpc_server_credentials *creds = server_creds(s);
    if (!creds) {
        log_error("grpc: cannot read the TLS certificate or key", "cert=%s key=%s", s->cert_file,
                  s->key_file);
        return -EINVAL;
    }
    int port = grpc_server_add_http2_port(s->server, addr, creds);
    grpc_server_credentials_release(creds);
    if (port <= 0) {
        log_error("grpc: cannot listen", "address=%s", addr);
        return -EADDRINUSE;
    }
    s->port = (uint16_t)port;
    s->handles = calloc(s->n_methods + 1, sizeof(*s->handles));
    if (!s->handles)
        return -ENOMEM;
    for (size_t i = 0; i < s->n_methods; i++)
        s->handles[i] = grpc_server_register_method(s->server, s->methods[i].path, NULL,
                                                    GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    grpc_server_start(s->server);
    s->started = true;
    for (int i = 0; i < ACCEPTS_AHEAD; i++) {
        accept_next(s, NULL);
        for (size_t k = 0; k < s->n_methods; k++)
            accept_next(s, &s->methods[k]);
    }
    log_info("grpc: listening", "host=%s port=%u tls=%d methods=%zu", s->host, (unsigned)s->port,
             s->cert_file != NULL, s->n_methods);
    return 0;
}

uint16_t rpc_server_port(const rpc_server_t *s)
{
    return s->port;
}

static void loop_closed(void *data)
{
    rpc_server_t *s = data;
    void (*done)(void *) = s->close_done;
    void *done_data = s->close_data;
    free(s->methods);
    free(s->handles);
    free(s->host);
    free(s->cert_file);
    free(s->key_file);
    free(s);
    grpc_shutdown();
    if (done)
        done(done_data);
}

/* Once gRPC has let go of every call and the server: the queue goes. */
static void server_maybe_done(rpc_server_t *s)
{
    if (!s->closing || s->calls || s->server)
        return;
    rpc_loop_close(s->q, loop_closed, s);
}

static void shutdown_done(rpc_tag_t *tag, bool ok)
{
    rpc_server_t *s = (rpc_server_t *)((char *)tag - offsetof(rpc_server_t, shutdown_tag));
    (void)ok;
    grpc_server_destroy(s->server);
    s->server = NULL;
    server_maybe_done(s);
}

void rpc_server_close(rpc_server_t *s, void (*done)(void *), void *data)
{
    if (!s) {
        if (done)
            done(data);
        return;
    }
    s->closing = true;
    s->close_done = done;
    s->close_data = data;
    if (!s->started) {
        grpc_server_destroy(s->server);
        s->server = NULL;
        server_maybe_done(s);
        return;
    }
    s->shutdown_tag.done = shutdown_done;
    rpc_loop_expect(s->q);
    grpc_server_shutdown_and_notify(s->server, rpc_loop_queue(s->q), &s->shutdown_tag);
    grpc_server_cancel_all_calls(s->server);
}

void *rpc_call_data(const rpc_call_t *c)
{
    return c->m ? c->m->data : NULL;
}

const ProtobufCMessage *rpc_call_request(const rpc_call_t *c)
{
    return c->req;
}

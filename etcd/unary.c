/*
 * Unary calls: one gRPC batch per attempt, failover to the next endpoint
 * when the current one is unavailable, a jittered backoff between attempts,
 * all within the request's deadline.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/internal.h"

typedef struct unary_s {
    etcd_tag_t tag;
    etcd_waiter_t waiter;
    etcd_list_t link;
    etcd_client_t *c;
    const etcd_method_t *m;
    grpc_slice request;
    grpc_byte_buffer *send_bb;
    grpc_call *call;
    grpc_metadata token_md;
    grpc_metadata_array init_md, trail_md;
    grpc_byte_buffer *recv;
    grpc_status_code status;
    grpc_slice details;
    uint64_t deadline_at; /* ms, uv_hrtime clock */
    uint64_t started_ns;  /* for the statistics */
    unsigned attempt;
    size_t endpoint;
    bool retry_mutation, use_auth, auth_retried;
    uv_timer_t *timer;
    etcd_cb cb;
    void *data;
} unary_t;

static uint64_t mono_ms(void)
{
    return uv_hrtime() / 1000000u;
}

static void unary_attempt(unary_t *u);

static void unary_finish(unary_t *u, int err, const char *msg, ProtobufCMessage *resp)
{
    etcd_client_t *c = u->c;
    etcd_list_del(&u->link);
    etcd_list_del(&u->waiter.link);
    if (u->timer)
        uv_close((uv_handle_t *)u->timer, (uv_close_cb)free);
    etcd_result_t res = {err, msg ? msg : (err ? etcd_strerror(err) : ""), resp, 1};
    etcd_stats_record(c, u->m, err, uv_hrtime() - u->started_ns);
    grpc_slice_unref(u->request);
    etcd_cb cb = u->cb;
    void *data = u->data;
    free(u);
    cb(&res, data);
    if (res.owned_ && resp)
        protobuf_c_message_free_unpacked(resp, NULL);
    etcd_client_maybe_closed(c);
}

static void unary_reset_attempt(unary_t *u)
{
    if (u->call)
        grpc_call_unref(u->call);
    u->call = NULL;
    grpc_metadata_array_destroy(&u->init_md);
    grpc_metadata_array_destroy(&u->trail_md);
    if (u->send_bb)
        grpc_byte_buffer_destroy(u->send_bb);
    if (u->recv)
        grpc_byte_buffer_destroy(u->recv);
    u->send_bb = u->recv = NULL;
    grpc_slice_unref(u->details);
    u->details = grpc_empty_slice();
}

static void unary_timer_fired(uv_timer_t *t)
{
    unary_attempt(t->data);
}

/* gRPC core fails a call with this text when its channel could not pick a
 * connected subchannel: the request never left the client, so even a
 * mutation is safe to send to the next endpoint. */
static bool unary_never_sent(const char *msg)
{
    return msg && strstr(msg, "failed to connect to all addresses");
}

static bool unary_should_retry(unary_t *u, int err, const char *msg)
{
    if (u->c->closing || err != -ENOTCONN)
        return false;
    if (u->m->mutation && !u->retry_mutation && !unary_never_sent(msg))
        return false;
    /* Two rounds over the endpoints: enough to ride over a restart or a
     * failover, and a down cluster still answers fast. */
    if (u->attempt >= 2 * u->c->n_endpoints)
        return false;
    return mono_ms() + u->c->backoff_min_ms < u->deadline_at;
}

static void unary_schedule_retry(unary_t *u)
{
    if (!u->timer) {
        u->timer = malloc(sizeof(*u->timer));
        if (!u->timer || uv_timer_init(u->c->loop, u->timer) < 0) {
            free(u->timer);
            u->timer = NULL;
            unary_finish(u, -ENOMEM, NULL, NULL);
            return;
        }
        u->timer->data = u;
    }
    uint64_t delay = etcd_backoff_ms(u->c, u->attempt - 1);
    uint64_t left = u->deadline_at - mono_ms();
    uv_timer_start(u->timer, unary_timer_fired, delay < left ? delay : left, 0);
}

static void unary_done(etcd_tag_t *tag, bool ok)
{
    unary_t *u = etcd_container_of(tag, unary_t, tag);
    (void)ok; /* the status op always completes; its status says the rest */
    char *msg = NULL;
    int err = 0;
    ProtobufCMessage *resp = NULL;
    if (u->status == GRPC_STATUS_OK && u->recv) {
        resp = rpc_unpack(u->m->response, u->recv);
        if (!resp)
            err = -EIO, msg = strdup("malformed response from etcd");
    } else {
        msg = rpc_slice_strdup(u->details);
        err = u->status == GRPC_STATUS_OK ? -EIO : etcd_status_to_errno(u->status, msg);
    }
    unary_reset_attempt(u);
    if (err == -EACCES && u->use_auth && !u->auth_retried && !u->c->closing) {
        /* Tokens expire (etcd's simple tokens after 5 min idle): fetch a
         * new one and try once more. */
        u->auth_retried = true;
        etcd_client_token_invalid(u->c);
        free(msg);
        etcd_client_need_token(u->c, &u->waiter);
        return;
    }
    if (u->c->closing && err)
        err = -ECANCELED;
    if (err == -ENOTCONN)
        etcd_client_failover(u->c, u->endpoint);
    if (unary_should_retry(u, err, msg)) {
        free(msg);
        unary_schedule_retry(u);
        return;
    }
    unary_finish(u, err, msg && *msg ? msg : NULL, resp);
    free(msg);
}

static void unary_attempt(unary_t *u)
{
    etcd_client_t *c = u->c;
    uint64_t now = mono_ms();
    if (c->closing) {
        unary_finish(u, -ECANCELED, NULL, NULL);
        return;
    }
    if (now >= u->deadline_at) {
        unary_finish(u, -ETIMEDOUT, NULL, NULL);
        return;
    }
    u->attempt++;
    grpc_channel *ch = etcd_client_channel(c, &u->endpoint);
    u->call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, rpc_loop_queue(c->cq),
                                       grpc_slice_from_static_string(u->m->path), NULL,
                                       rpc_deadline((unsigned)(u->deadline_at - now)), NULL);
    grpc_slice s = grpc_slice_ref(u->request);
    u->send_bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    grpc_metadata_array_init(&u->init_md);
    grpc_metadata_array_init(&u->trail_md);
    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = etcd_client_token_md(c, &u->token_md);
    ops[0].data.send_initial_metadata.metadata = &u->token_md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = u->send_bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &u->init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &u->recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &u->trail_md;
    ops[5].data.recv_status_on_client.status = &u->status;
    ops[5].data.recv_status_on_client.status_details = &u->details;
    if (rpc_loop_start_batch(c->cq, u->call, ops, 6, &u->tag) != GRPC_CALL_OK) {
        unary_reset_attempt(u);
        unary_finish(u, -EIO, "gRPC refused the call batch", NULL);
    }
}

static void unary_token_ready(etcd_waiter_t *w, int err, const char *msg)
{
    unary_t *u = etcd_container_of(w, unary_t, waiter);
    if (err) {
        unary_finish(u, err, msg && *msg ? msg : NULL, NULL);
        return;
    }
    unary_attempt(u);
}

int etcd_unary_ex(etcd_client_t *c, const etcd_method_t *m, const ProtobufCMessage *req,
                  const etcd_call_opts_t *opts, bool use_auth, etcd_cb cb, void *data)
{
    if (!c || !m || !req || !cb)
        return -EINVAL;
    if (c->closing)
        return -ECANCELED;
    unary_t *u = calloc(1, sizeof(*u));
    if (!u)
        return -ENOMEM;
    size_t len = protobuf_c_message_get_packed_size(req);
    u->request = grpc_slice_malloc(len);
    protobuf_c_message_pack(req, GRPC_SLICE_START_PTR(u->request));
    u->tag.done = unary_done;
    u->waiter.ready = unary_token_ready;
    etcd_list_init(&u->waiter.link);
    u->c = c;
    u->m = m;
    u->details = grpc_empty_slice();
    u->use_auth = use_auth;
    u->retry_mutation = opts && opts->retry_mutation;
    unsigned timeout = opts && opts->timeout_ms ? opts->timeout_ms : c->timeout_ms;
    u->deadline_at = mono_ms() + timeout;
    u->started_ns = uv_hrtime();
    u->cb = cb;
    u->data = data;
    etcd_list_add_tail(&c->calls, &u->link);
    if (use_auth)
        etcd_client_need_token(c, &u->waiter);
    else
        unary_attempt(u);
    return 0;
}

int etcd_unary(etcd_client_t *c, const etcd_method_t *m, const ProtobufCMessage *req,
               const etcd_call_opts_t *opts, etcd_cb cb, void *data)
{
    return etcd_unary_ex(c, m, req, opts, true, cb, data);
}

int etcd_auth_unary(etcd_client_t *c, const char *user, const char *password, etcd_cb cb,
                    void *data)
{
    Etcdserverpb__AuthenticateRequest req = ETCDSERVERPB__AUTHENTICATE_REQUEST__INIT;
    req.name = (char *)user;
    req.password = (char *)password;
    return etcd_unary_ex(c, &etcd_m_authenticate, &req.base, NULL, false, cb, data);
}

void etcd_unary_cancel_all(etcd_client_t *c)
{
    etcd_list_t *l = c->calls.next;
    while (l != &c->calls) {
        unary_t *u = etcd_container_of(l, unary_t, link);
        l = l->next;
        if (u->call) {
            grpc_call_cancel(u->call, NULL); /* unary_done follows */
        } else if (u->timer && uv_is_active((uv_handle_t *)u->timer)) {
            uv_timer_stop(u->timer);
            unary_finish(u, -ECANCELED, NULL, NULL);
        }
    }
}

const double etcd_stats_bounds_s[ETCD_STATS_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                        0.05,   0.1,   0.25,   0.5,   1,    10};

/* "/etcdserverpb.KV/Range" -> "Range" */
static const char *method_name(const etcd_method_t *m)
{
    const char *slash = strrchr(m->path, '/');
    return slash ? slash + 1 : m->path;
}

void etcd_stats_record(etcd_client_t *c, const etcd_method_t *m, int err, uint64_t ns)
{
    const char *name = method_name(m);
    etcd_method_stats_t *st = NULL;
    for (size_t i = 0; i < c->n_stats && !st; i++)
        if (c->stats[i].method == name)
            st = &c->stats[i];
    if (!st && c->n_stats == ETCD_STATS_METHODS)
        return; /* more methods than this library has */
    if (!st) {
        st = &c->stats[c->n_stats++];
        st->method = name;
    }
    double s = (double)ns / 1e9;
    st->calls++;
    st->errors += err != 0;
    st->sum_s += s;
    for (size_t i = 0; i < ETCD_STATS_BUCKETS; i++)
        st->buckets[i] += s <= etcd_stats_bounds_s[i];
}

const etcd_method_stats_t *etcd_client_stats(const etcd_client_t *c, size_t *n)
{
    *n = c ? c->n_stats : 0;
    return c ? c->stats : NULL;
}

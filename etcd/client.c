/* The client: endpoints and their channels, credentials, auth token, close. */
#include <errno.h>
#include <grpc/grpc_security.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/internal.h"
#include "etcd/maint.h"

static int read_file(const char *path, char **out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int err = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                err = -ENOMEM;
                break;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, 4096, f);
        len += n;
        if (n < 4096) {
            if (ferror(f))
                err = -EIO;
            break;
        }
    }
    fclose(f);
    if (err) {
        free(buf);
        return err;
    }
    buf[len] = 0;
    *out = buf;
    return 0;
}

/* "https://h:p" -> "h:p" and *tls = true; "http://h:p" and "h:p" -> "h:p". */
static char *endpoint_target(const char *ep, bool *tls)
{
    if (!strncmp(ep, "https://", 8)) {
        *tls = true;
        ep += 8;
    } else if (!strncmp(ep, "http://", 7)) {
        ep += 7;
    }
    size_t n = strlen(ep);
    while (n && ep[n - 1] == '/')
        n--;
    if (!n || !memchr(ep, ':', n))
        return NULL; /* a port is required: etcd has no default we could guess */
    return strndup(ep, n);
}

static int make_creds(etcd_client_t *c, const etcd_config_t *cfg, bool tls)
{
    if (!tls && !cfg->ca_file && !cfg->cert_file)
        return 0;
    if (!cfg->cert_file != !cfg->key_file)
        return -EINVAL; /* a client certificate needs its key and the reverse */
    char *ca = NULL, *cert = NULL, *key = NULL;
    int err = 0;
    if (cfg->ca_file && (err = read_file(cfg->ca_file, &ca)) < 0)
        goto out;
    if (cfg->cert_file && (err = read_file(cfg->cert_file, &cert)) < 0)
        goto out;
    if (cfg->key_file && (err = read_file(cfg->key_file, &key)) < 0)
        goto out;
    grpc_ssl_pem_key_cert_pair pair = {key, cert};
    c->creds = grpc_ssl_credentials_create(ca, cert ? &pair : NULL, NULL, NULL);
    if (!c->creds)
        err = -EINVAL;
out:
    free(ca);
    free(cert);
    free(key);
    return err == -ENOENT || err == -EACCES ? -EINVAL : err;
}

static void client_free(etcd_client_t *c)
{
    for (size_t i = 0; i < c->n_endpoints; i++) {
        if (c->channels && c->channels[i])
            grpc_channel_destroy(c->channels[i]);
        if (c->endpoints)
            free(c->endpoints[i]);
    }
    free(c->channels);
    free(c->endpoints);
    if (c->creds)
        grpc_channel_credentials_release(c->creds);
    free(c->user);
    free(c->password);
    free(c->token);
    free(c);
}

int etcd_client_new(uv_loop_t *loop, const etcd_config_t *cfg, etcd_client_t **out)
{
    if (!loop || !cfg || !out || !cfg->endpoints || !cfg->n_endpoints)
        return -EINVAL;
    if (!!cfg->user != !!cfg->password)
        return -EINVAL;
    etcd_client_t *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->loop = loop;
    etcd_list_init(&c->calls);
    etcd_list_init(&c->streams);
    etcd_list_init(&c->auth_waiters);
    c->timeout_ms = cfg->request_timeout_ms ? cfg->request_timeout_ms : 5000;
    c->backoff_min_ms = cfg->backoff_min_ms ? cfg->backoff_min_ms : 100;
    c->backoff_max_ms = cfg->backoff_max_ms ? cfg->backoff_max_ms : 5000;
    c->endpoints = calloc(cfg->n_endpoints, sizeof(char *));
    c->channels = calloc(cfg->n_endpoints, sizeof(grpc_channel *));
    if (!c->endpoints || !c->channels) {
        client_free(c);
        return -ENOMEM;
    }
    bool tls = false;
    c->n_endpoints = cfg->n_endpoints;
    for (size_t i = 0; i < cfg->n_endpoints; i++) {
        if (!cfg->endpoints[i] || !(c->endpoints[i] = endpoint_target(cfg->endpoints[i], &tls))) {
            client_free(c);
            return -EINVAL;
        }
    }
    if (cfg->user && (!(c->user = strdup(cfg->user)) || !(c->password = strdup(cfg->password)))) {
        client_free(c);
        return -ENOMEM;
    }
    grpc_init();
    int err = make_creds(c, cfg, tls);
    if (!err)
        err = rpc_loop_init(&c->cq, loop);
    if (err) {
        client_free(c);
        grpc_shutdown();
        return err;
    }
    *out = c;
    return 0;
}

grpc_channel *etcd_client_channel(etcd_client_t *c, size_t *endpoint)
{
    size_t i = c->current;
    if (!c->channels[i]) {
        /* Reconnect fast: an etcd restart should cost milliseconds, not the
         * default 1 s..120 s backoff. Keepalive finds dead peers whose TCP
         * connection stays open; etcd permits pings every 5 s by default. */
        grpc_arg args[] = {
            {GRPC_ARG_INTEGER, GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, {.integer = 100}},
            /* Not set low: gRPC also uses it as the minimum time a connection
             * attempt may take, and 100 ms is not enough for a loaded etcd
             * to send its SETTINGS frame. gRPC's default (20 s) stands;
             * request deadlines bound it anyway. */
            {GRPC_ARG_INTEGER,
             GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
             {.integer = (int)c->backoff_max_ms}},
            {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIME_MS, {.integer = 10000}},
            {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIMEOUT_MS, {.integer = 5000}},
            {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, {.integer = 0}},
            {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = -1}},
            {GRPC_ARG_INTEGER, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, {.integer = -1}},
        };
        grpc_channel_args ca = {sizeof(args) / sizeof(args[0]), args};
        grpc_channel_credentials *creds = c->creds;
        grpc_channel_credentials *insecure = NULL;
        if (!creds)
            creds = insecure = grpc_insecure_credentials_create();
        c->channels[i] = grpc_channel_create(c->endpoints[i], creds, &ca);
        if (insecure)
            grpc_channel_credentials_release(insecure);
    }
    if (endpoint)
        *endpoint = i;
    return c->channels[i];
}

void etcd_client_failover(etcd_client_t *c, size_t failed)
{
    if (c->n_endpoints > 1 && c->current == failed)
        c->current = (c->current + 1) % c->n_endpoints;
}

uint64_t etcd_backoff_ms(const etcd_client_t *c, unsigned attempt)
{
    uint64_t d = c->backoff_min_ms;
    for (unsigned i = 0; i < attempt && d < c->backoff_max_ms; i++)
        d *= 2;
    if (d > c->backoff_max_ms)
        d = c->backoff_max_ms;
    /* Full jitter in [d/2, d]: replicas that lost etcd together must not
     * come back in lockstep. */
    return d / 2 + (uint64_t)rand() % (d / 2 + 1);
}

uint64_t etcd_now_ms(etcd_client_t *c)
{
    return uv_now(c->loop);
}

uv_loop_t *etcd_client_loop(etcd_client_t *c)
{
    return c->loop;
}

const char *etcd_client_endpoint(etcd_client_t *c)
{
    return c->endpoints[c->current];
}

/* ---- auth token ---- */

static void auth_done(const etcd_result_t *res, void *data)
{
    etcd_client_t *c = data;
    c->authenticating = false;
    int err = res->err;
    if (!err) {
        const Etcdserverpb__AuthenticateResponse *r = res->response;
        free(c->token);
        if (!(c->token = strdup(r->token ? r->token : "")))
            err = -ENOMEM;
    }
    /* Waiters may enqueue new waiters (a retry); take the list first. */
    etcd_list_t list;
    etcd_list_init(&list);
    if (!etcd_list_empty(&c->auth_waiters)) {
        list.next = c->auth_waiters.next;
        list.prev = c->auth_waiters.prev;
        list.next->prev = &list;
        list.prev->next = &list;
        etcd_list_init(&c->auth_waiters);
    }
    while (!etcd_list_empty(&list)) {
        etcd_waiter_t *w = etcd_container_of(list.next, etcd_waiter_t, link);
        etcd_list_del(&w->link);
        w->ready(w, err, res->message);
    }
}

int etcd_auth_unary(etcd_client_t *c, const char *user, const char *password, etcd_cb cb,
                    void *data);

void etcd_client_need_token(etcd_client_t *c, etcd_waiter_t *w)
{
    if (c->closing) {
        w->ready(w, -ECANCELED, "client closing");
        return;
    }
    if (!c->user || c->token) {
        w->ready(w, 0, "");
        return;
    }
    etcd_list_add_tail(&c->auth_waiters, &w->link);
    if (c->authenticating)
        return;
    c->authenticating = true;
    int err = etcd_auth_unary(c, c->user, c->password, auth_done, c);
    if (err < 0) {
        etcd_result_t res = {err, etcd_strerror(err), NULL, 0};
        auth_done(&res, c);
    }
}

void etcd_client_token_invalid(etcd_client_t *c)
{
    free(c->token);
    c->token = NULL;
}

size_t etcd_client_token_md(etcd_client_t *c, grpc_metadata *md)
{
    if (!c->token)
        return 0;
    memset(md, 0, sizeof(*md));
    md->key = grpc_slice_from_static_string("token");
    md->value = grpc_slice_from_static_string(c->token);
    return 1;
}

/* ---- close ---- */

static void client_final(void *data)
{
    etcd_client_t *c = data;
    void (*done)(void *) = c->close_done;
    void *dd = c->close_data;
    client_free(c);
    grpc_shutdown();
    if (done)
        done(dd);
}

void etcd_client_close(etcd_client_t *c, void (*done)(void *data), void *data)
{
    if (!c || c->closing)
        return;
    c->closing = true;
    c->close_done = done;
    c->close_data = data;
    while (!etcd_list_empty(&c->auth_waiters)) {
        etcd_waiter_t *w = etcd_container_of(c->auth_waiters.next, etcd_waiter_t, link);
        etcd_list_del(&w->link);
        w->ready(w, -ECANCELED, "client closing");
    }
    etcd_watch_client_close(c);
    etcd_lease_client_close(c);
    etcd_unary_cancel_all(c);
    etcd_stream_cancel_all(c);
    etcd_client_maybe_closed(c);
}

void etcd_client_maybe_closed(etcd_client_t *c)
{
    if (!c->closing || !etcd_list_empty(&c->calls) || !etcd_list_empty(&c->streams) || !c->cq)
        return;
    etcd_cq_t *q = c->cq;
    c->cq = NULL;
    rpc_loop_close(q, client_final, c);
}

void *etcd_result_take(const etcd_result_t *res)
{
    etcd_result_t *r = (etcd_result_t *)res;
    if (!r->response || !r->owned_)
        return NULL;
    r->owned_ = 0;
    return (void *)r->response;
}

void etcd_response_free(void *response)
{
    if (response)
        protobuf_c_message_free_unpacked(response, NULL);
}

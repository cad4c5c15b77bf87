/*
 * GET /install-authorization/<raw query> (spec 3.5): may this machine
 * install now? 200 "Granted" or 403 "Locked by <holder's raw query>", as
 * text, as the installer expects. The token is atomic and released by the
 * install report (model/install_lock.h); a raw query without a usable mac=
 * is a 400 (the original: 500), an unknown MAC a 404.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "etcd/lease.h"
#include "model/install_lock.h"
#include "model/rawquery.h"

/* The decision, shared with the gRPC Lifecycle.AuthorizeInstall. */
typedef struct install_auth_s {
    model_install_lock_op_t op; /* first */
    api_t *api;
    char *query;
    api_install_cb done;
    void *data;
} install_auth_t;

static void ignore_revoke(const etcd_result_t *res, void *data)
{
    (void)res, (void)data; /* an unused lease expires by itself anyway */
}

static void auth_end(install_auth_t *a, int err, const char *msg, int64_t revision)
{
    model_install_lock_op_t *op = &a->op;
    if (op->lease && !op->lease_used)
        etcd_lease_revoke(a->api->etcd, op->lease, NULL, ignore_revoke, NULL);
    api_install_result_t res = {.err = err,
                                .message = msg,
                                .granted = op->granted,
                                .holder = op->holder,
                                .revision = revision};
    if (!err && op->granted && op->lease_used)
        res.expires_ms = a->api->install_lock_seconds * 1000LL;
    a->done(&res, a->data);
    free(a->query);
    free(a);
}

static void decided(model_install_lock_op_t *op, int err, int64_t revision)
{
    install_auth_t *a = (install_auth_t *)op;
    if (!err)
        api_cache_wrote(&a->api->cache, revision);
    auth_end(a, err, op->mop.op.err.msg, revision);
}

static void start_decision(install_auth_t *a, int64_t lease)
{
    a->op.lease = lease;
    a->op.query = a->query;
    int rc = model_install_lock_op_start(&a->api->store, &a->op, a->op.mop.mac, decided);
    if (rc)
        auth_end(a, rc, NULL, 0);
}

static void lease_granted(const etcd_result_t *res, void *data)
{
    install_auth_t *a = data;
    if (res->err) {
        auth_end(a, res->err, res->message, 0);
        return;
    }
    const Etcdserverpb__LeaseGrantResponse *g = res->response;
    start_decision(a, g->id);
}

int api_install_authorize(api_t *api, const char *mac, const char *query, api_install_cb done,
                          void *data)
{
    install_auth_t *a = calloc(1, sizeof(*a));
    if (!a || !(a->query = strdup(query))) {
        free(a);
        return -ENOMEM;
    }
    a->api = api;
    a->done = done;
    a->data = data;
    snprintf(a->op.mop.mac, sizeof a->op.mop.mac, "%s", mac);
    if (api->install_lock_seconds <= 0) {
        start_decision(a, 0);
        return 0;
    }
    int rc = etcd_lease_grant(api->etcd, api->install_lock_seconds, 0, NULL, lease_granted, a);
    if (rc) {
        free(a->query);
        free(a);
    }
    return rc;
}

/* ---- GET /install-authorization/<q> --------------------------------------- */

static void answered(const api_install_result_t *res, void *data)
{
    http_request_t *req = data;
    if (res->revision)
        api_wrote(NULL, req, res->revision);
    if (res->err) {
        api_reply_write_error(req, res->err, res->message);
    } else if (res->granted) {
        http_request_respond_text(req, 200, "Granted");
    } else {
        char msg[600];
        snprintf(msg, sizeof msg, "Locked by %s", res->holder);
        http_request_respond_text(req, 403, msg);
    }
}

static void install_authorization(http_request_t *req, void *data)
{
    api_t *api = data;
    const char *q = http_request_rest(req);
    model_err_t err = {{0}};
    char mac[MODEL_MAC_LEN + 1];
    if (model_query_mac(q, strlen(q), mac, &err) != 0) {
        api_reply_error_with(req, 400, err.msg, json_pack("{s:s}", "request_raw_query", q));
        return;
    }
    int rc = api_install_authorize(api, mac, q, answered, req);
    if (rc)
        api_reply_write_error(req, rc, NULL);
}

int api_install_routes(api_t *api)
{
    return http_server_route(api->http, "GET", "/install-authorization/*", install_authorization,
                             api);
}

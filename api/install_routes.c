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

typedef struct install_auth_s {
    model_install_lock_op_t op; /* first */
    api_t *api;
    http_request_t *req;
    char *query;
} install_auth_t;

static void ignore_revoke(const etcd_result_t *res, void *data)
{
    (void)res, (void)data; /* an unused lease expires by itself anyway */
}

static void decided(model_install_lock_op_t *op, int err, int64_t revision)
{
    install_auth_t *a = (install_auth_t *)op;
    if (!err)
        api_wrote(a->api, a->req, revision);
    if (op->lease && !op->lease_used)
        etcd_lease_revoke(a->api->etcd, op->lease, NULL, ignore_revoke, NULL);
    if (err) {
        api_reply_write_error(a->req, err, op->mop.op.err.msg);
    } else if (op->granted) {
        http_request_respond_text(a->req, 200, "Granted");
    } else {
        char msg[600];
        snprintf(msg, sizeof msg, "Locked by %s", op->holder);
        http_request_respond_text(a->req, 403, msg);
    }
    free(a->query);
    free(a);
}

static void start_decision(install_auth_t *a, int64_t lease)
{
    a->op.lease = lease;
    a->op.query = a->query;
    int rc = model_install_lock_op_start(&a->api->store, &a->op, a->op.mop.mac, decided);
    if (rc) {
        if (lease)
            etcd_lease_revoke(a->api->etcd, lease, NULL, ignore_revoke, NULL);
        api_reply_write_error(a->req, rc, NULL);
        free(a->query);
        free(a);
    }
}

static void lease_granted(const etcd_result_t *res, void *data)
{
    install_auth_t *a = data;
    if (res->err) {
        api_reply_write_error(a->req, res->err, res->message);
        free(a->query);
        free(a);
        return;
    }
    const Etcdserverpb__LeaseGrantResponse *g = res->response;
    start_decision(a, g->id);
}

static void install_authorization(http_request_t *req, void *data)
{
    api_t *api = data;
    const char *q = http_request_rest(req);
    model_err_t err = {{0}};
    install_auth_t *a = calloc(1, sizeof(*a));
    if (!a || !(a->query = strdup(q))) {
        free(a);
        http_request_respond_error(req, 500, "out of memory");
        return;
    }
    a->api = api;
    a->req = req;
    if (model_query_mac(q, strlen(q), a->op.mop.mac, &err) != 0) {
        api_reply_error_with(req, 400, err.msg, json_pack("{s:s}", "request_raw_query", q));
        free(a->query);
        free(a);
        return;
    }
    if (api->install_lock_seconds <= 0) {
        start_decision(a, 0);
        return;
    }
    int rc = etcd_lease_grant(api->etcd, api->install_lock_seconds, 0, NULL, lease_granted, a);
    if (rc) {
        api_reply_write_error(req, rc, NULL);
        free(a->query);
        free(a);
    }
}

int api_install_routes(api_t *api)
{
    return http_server_route(api->http, "GET", "/install-authorization/*", install_authorization,
                             api);
}

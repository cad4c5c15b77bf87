/*
 * The routes that go through matchbox (spec 3.4, 3.6), with the fixes of
 * quirk 18: matchbox's status is passed on (the original said 200 to
 * anything), a matchbox that does not answer gives 502 (504 on a timeout)
 * with a JSON error instead of a hang or a 500, /assets streams instead of
 * buffering whole images.
 *
 *   GET  /ipxe?<q>                 iPXE script; the MAC's state -> booting
 *   GET  /ignition?<q>             Ignition, once the sync flag is set
 *   GET  /ignition-pxe?<q>         Ignition, no sync check (discovery)
 *   GET  /metadata?<q>             matchbox's KEY=value metadata
 *   GET  /assets/<path>            kernel, initrd... streamed
 *   POST /lifecycle/ignition/<q>   is this node's Ignition up to date?
 *                                  200 Up-to-date / 210 Outdated
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "common/log.h"
#include "model/machine_ops.h"
#include "model/rawquery.h"
#include "model/records.h"
#include "model/state.h"

typedef struct proxy_s {
    api_t *api;
    http_request_t *req;
} proxy_t;

static bool matchbox_configured(api_t *api, http_request_t *req)
{
    if (api->matchbox)
        return true;
    http_request_add_header(req, "Retry-After", "60");
    http_request_respond_error(req, 503, "no matchbox is configured (--matchbox-uri)");
    return false;
}

/* A transport failure as an answer: 504 for a timeout, 503 while closing,
 * else 502. */
static void matchbox_failed(http_request_t *req, const http_response_t *res)
{
    char msg[512];
    snprintf(msg, sizeof msg, "matchbox does not answer: %s", res->error);
    unsigned status = res->err == -ETIMEDOUT ? 504 : res->err == -ECANCELED ? 503 : 502;
    http_request_respond_error(req, status, msg);
}

static void proxied(const http_response_t *res, void *data)
{
    proxy_t *p = data;
    if (res->err) {
        matchbox_failed(p->req, res);
    } else {
        const char *ct = res->content_type ? res->content_type : "text/plain; charset=utf-8";
        http_request_respond_bytes(p->req, (unsigned)res->status, ct, res->body, res->body_len);
    }
    free(p);
}

/* GET <matchbox><path>?<the request's raw query>, answered as is. */
static void proxy_get(api_t *api, http_request_t *req, const char *path)
{
    char url[4096];
    const char *q = http_request_query(req);
    if (snprintf(url, sizeof url, "%s%s%s%s", api->matchbox_uri, path, *q ? "?" : "", q) >=
        (int)sizeof url) {
        http_request_respond_error(req, 414, "the query is too long");
        return;
    }
    proxy_t *p = malloc(sizeof(*p));
    http_client_req_t r = {.url = url};
    int rc = p ? http_client_request(api->matchbox, &r, proxied, p, NULL) : -ENOMEM;
    if (rc) {
        free(p);
        http_request_respond_error(req, rc == -ECANCELED ? 503 : 500, "cannot reach matchbox");
        return;
    }
    *p = (proxy_t){api, req};
}

/* ---- /ipxe ---------------------------------------------------------------- */

static void state_set(model_state_op_t *sop, int err, int64_t revision)
{
    api_t *api = sop->op.data;
    if (err)
        log_warn("cannot record the booting state", "mac=%s err=%d", sop->mac, err);
    else
        api_cache_wrote(&api->cache, revision);
    free(sop);
}

static void ipxe(http_request_t *req, void *data)
{
    api_t *api = data;
    if (!matchbox_configured(api, req))
        return;
    /* The state is a side note of the boot: it never delays nor fails it. */
    const char *m = http_request_arg(req, "mac");
    char mac[MODEL_MAC_LEN + 1];
    model_state_op_t *sop =
        m && model_mac_parse(m, mac, NULL, NULL) == 0 ? calloc(1, sizeof(*sop)) : NULL;
    if (sop) {
        sop->op.data = api;
        if (model_state_op_start(&api->store, sop, mac, MODEL_STATE_BOOTING, state_set) != 0)
            free(sop);
    }
    proxy_get(api, req, "/ipxe");
}

/* ---- /ignition, /ignition-pxe, /metadata ------------------------------------ */

static void ignition(http_request_t *req, void *data)
{
    api_t *api = data;
    if (!api_cache_get(&api->cache, "sync-notify", "")) {
        http_request_add_header(req, "Retry-After", "10");
        http_request_respond_text(req, 503, "matchbox is out of sync");
        return;
    }
    if (matchbox_configured(api, req))
        proxy_get(api, req, "/ignition");
}

static void ignition_pxe(http_request_t *req, void *data)
{
    api_t *api = data;
    if (matchbox_configured(api, req))
        proxy_get(api, req, "/ignition");
}

static void metadata(http_request_t *req, void *data)
{
    api_t *api = data;
    if (matchbox_configured(api, req))
        proxy_get(api, req, "/metadata");
}

/* ---- /assets: streamed ------------------------------------------------------ */

typedef struct asset_s {
    api_t *api;
    http_request_t *req;
    http_stream_t *stream; /* the answer being sent, once headers came */
    http_call_t *call;
} asset_t;

static void asset_headers(http_call_t *call, const http_response_t *res, void *data)
{
    asset_t *a = data;
    const char *ct = res->content_type ? res->content_type : "application/octet-stream";
    const char *cl = http_response_header(res, "Content-Length");
    a->stream = http_request_respond_stream(
        a->req, (unsigned)res->status, ct, cl ? strtoull(cl, NULL, 10) : HTTP_SIZE_UNKNOWN,
        (http_stream_pause_fn)http_call_pause, (http_stream_pause_fn)http_call_resume, call);
    a->req = NULL; /* the stream owns the request now */
}

static void asset_data(http_call_t *call, const char *chunk, size_t len, void *data)
{
    asset_t *a = data;
    if (!a->stream || http_stream_write(a->stream, chunk, len) != 0)
        http_call_cancel(call);
}

static void asset_done(const http_response_t *res, void *data)
{
    asset_t *a = data;
    if (a->stream)
        http_stream_end(a->stream, res->err);
    else if (res->err)
        matchbox_failed(a->req, res);
    else
        http_request_respond_bytes(a->req, (unsigned)res->status, "application/octet-stream", "",
                                   0);
    free(a);
}

static void assets(http_request_t *req, void *data)
{
    api_t *api = data;
    if (!matchbox_configured(api, req))
        return;
    const char *rest = http_request_rest(req);
    char url[4096];
    if (strstr(rest, "..") ||
        snprintf(url, sizeof url, "%s/assets/%s", api->matchbox_uri, rest) >= (int)sizeof url) {
        http_request_respond_error(req, 400, "bad asset path");
        return;
    }
    asset_t *a = calloc(1, sizeof(*a));
    http_client_req_t r = {.url = url,
                           .timeout_ms = 30 * 60 * 1000,
                           .on_headers = asset_headers,
                           .on_data = asset_data};
    int rc = a ? http_client_request(api->matchbox, &r, asset_done, a, &a->call) : -ENOMEM;
    if (rc) {
        free(a);
        http_request_respond_error(req, 503, "cannot reach matchbox");
        return;
    }
    a->api = api;
    a->req = req;
}

/* ---- POST /lifecycle/ignition/<q> -------------------------------------------- */

/* The decision, shared with the gRPC Lifecycle.ReportIgnition: fetch what
 * matchbox serves the node, compare digests, record the report. */
typedef struct report_s {
    model_machine_op_t op; /* first */
    api_t *api;
    json_t *running; /* what the node runs */
    char mac[MODEL_MAC_LEN + 1];
    char digest[MODEL_DIGEST_LEN + 1];
    char *query;
    api_ignition_cb done;
    void *data;
} report_t;

static void report_end(report_t *r, const api_ignition_result_t *res)
{
    r->done(res, r->data);
    free(r->query);
    json_decref(r->running);
    free(r);
}

static void report_stored(model_machine_op_t *op, int err, int64_t revision)
{
    report_t *r = (report_t *)op;
    api_ignition_result_t res = {.err = err, .message = op->mop.op.err.msg};
    if (err == -ENOENT) {
        res.outcome = API_IGNITION_UNKNOWN_MAC;
    } else if (err) {
        res.outcome = API_IGNITION_WRITE_FAILED;
    } else {
        api_cache_wrote(&r->api->cache, revision);
        res.outcome = API_IGNITION_RECORDED;
        res.up_to_date = op->up_to_date;
        res.revision = revision;
    }
    report_end(r, &res);
}

static void desired_fetched(const http_response_t *hres, void *data)
{
    report_t *r = data;
    api_ignition_result_t res = {.err = hres->err};
    char msg[512];
    if (hres->err) {
        snprintf(msg, sizeof msg, "matchbox does not answer: %s", hres->error);
        res.outcome = API_IGNITION_MATCHBOX_FAILED;
        res.message = msg;
        report_end(r, &res);
        return;
    }
    json_t *desired = hres->status == 200 ? json_loadb(hres->body, hres->body_len, 0, NULL) : NULL;
    if (!desired) {
        res.outcome = API_IGNITION_NOT_IGNITION;
        res.message = "matchbox did not answer this query with an Ignition JSON";
        report_end(r, &res);
        return;
    }
    /* Equal JSON values: object key order ignored, array order kept. */
    char desired_digest[MODEL_DIGEST_LEN + 1];
    int drc = model_rec_digest(desired, desired_digest);
    json_decref(desired);
    if (drc || model_rec_digest(r->running, r->digest) != 0) {
        res.outcome = API_IGNITION_INTERNAL;
        res.message = "cannot digest the Ignition";
        report_end(r, &res);
        return;
    }
    r->op.up_to_date = strcmp(desired_digest, r->digest) == 0;
    r->op.running_digest = r->digest;
    r->op.query = r->query;
    r->op.kind = MODEL_OP_IGNITION_REPORT;
    int rc = model_machine_op_start(&r->api->store, &r->op, r->mac, report_stored);
    if (rc) {
        res = (api_ignition_result_t){
            .outcome = API_IGNITION_WRITE_FAILED, .err = rc, .message = "cannot start the write"};
        report_end(r, &res);
    }
}

int api_ignition_report(api_t *api, const char *mac, const char *query, json_t *running,
                        api_ignition_cb done, void *data)
{
    if (!api->matchbox) {
        json_decref(running);
        return -ENXIO;
    }
    report_t *r = calloc(1, sizeof(*r));
    if (!r || !(r->query = strdup(query))) {
        free(r);
        json_decref(running);
        return -ENOMEM;
    }
    r->running = running;
    r->api = api;
    r->done = done;
    r->data = data;
    snprintf(r->mac, sizeof r->mac, "%s", mac);
    char url[4096];
    snprintf(url, sizeof url, "%s/ignition?%s", api->matchbox_uri, query);
    http_client_req_t hr = {.url = url};
    int rc = http_client_request(api->matchbox, &hr, desired_fetched, r, NULL);
    if (rc) {
        free(r->query);
        json_decref(r->running);
        free(r);
    }
    return rc;
}

/* ---- POST /lifecycle/ignition/<q> -------------------------------------------- */

static void report_message(http_request_t *req, unsigned status, const char *message,
                           const char *error)
{
    json_t *body = json_pack("{s:s}", "message", message);
    if (error) {
        json_object_set_new(body, "error", json_string(error));
        json_object_set_new(body, "status", json_integer(status));
    }
    http_request_respond_json(req, status, body);
}

static void report_answered(const api_ignition_result_t *res, void *data)
{
    http_request_t *req = data;
    char rev[32];
    switch (res->outcome) {
    case API_IGNITION_RECORDED:
        snprintf(rev, sizeof rev, "%lld", (long long)res->revision);
        http_request_add_header(req, "X-Etcd-Revision", rev);
        report_message(req, res->up_to_date ? 200 : 210,
                       res->up_to_date ? "Up-to-date" : "Outdated", NULL);
        break;
    case API_IGNITION_UNKNOWN_MAC:
        report_message(req, 406, "Unknown", res->message);
        break;
    case API_IGNITION_NOT_IGNITION:
        report_message(req, 406, "MatchboxValueError", res->message);
        break;
    case API_IGNITION_MATCHBOX_FAILED:
        http_request_respond_error(req,
                                   res->err == -ETIMEDOUT   ? 504
                                   : res->err == -ECANCELED ? 503
                                                            : 502,
                                   res->message);
        break;
    case API_IGNITION_WRITE_FAILED:
        api_reply_write_error(req, res->err, res->message);
        break;
    default:
        http_request_respond_error(req, 500, res->message);
    }
}

static void lifecycle_ignition(http_request_t *req, void *data)
{
    api_t *api = data;
    size_t len;
    const char *body = http_request_body(req, &len);
    json_t *running = json_loadb(body, len, 0, NULL);
    if (!running) {
        report_message(req, 406, "FlaskValueError", "the body is not JSON");
        return;
    }
    const char *q = http_request_rest(req);
    model_err_t err = {{0}};
    char mac[MODEL_MAC_LEN + 1];
    if (model_query_mac(q, strlen(q), mac, &err) != 0) {
        json_decref(running);
        report_message(req, 406, "Unknown", err.msg);
        return;
    }
    if (!matchbox_configured(api, req)) {
        json_decref(running);
        return;
    }
    int rc = api_ignition_report(api, mac, q, running, report_answered, req);
    if (rc)
        http_request_respond_error(req, rc == -ENOMEM ? 500 : 503,
                                   rc == -ENOMEM ? "out of memory" : "cannot reach matchbox");
}

int api_matchbox_routes(api_t *api)
{
    int rc = http_server_route(api->http, "GET", "/ipxe", ipxe, api);
    rc = rc ? rc : api_read_route(api, "/ignition", ignition);
    rc = rc ? rc : http_server_route(api->http, "GET", "/ignition-pxe", ignition_pxe, api);
    rc = rc ? rc : http_server_route(api->http, "GET", "/metadata", metadata, api);
    rc = rc ? rc : http_server_route(api->http, "GET", "/assets/*", assets, api);
    rc = rc ? rc : http_server_route(api->http, "GET", "/assets", assets, api);
    rc =
        rc ? rc
           : http_server_route(api->http, "POST", "/lifecycle/ignition/*", lifecycle_ignition, api);
    return rc;
}

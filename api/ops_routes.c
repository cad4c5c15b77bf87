/*
 * Small routes of the original (spec 3.2, 3.4):
 *
 *   GET  /                           the list of routes
 *   GET  /configs, /config           the configuration (secrets redacted)
 *   GET  /boot.ipxe, /boot.ipxe.0    the iPXE script that chains to /ipxe
 *   POST /sync-notify                the sync flag, for sync_notify_ttl s
 *   GET  /sync-notify                200 {"sync-notify": ts} or 503
 *   POST /ignition/version/<name>    keep a template's text
 *   GET  /ignition/version           every kept template (null if none)
 *   GET  /apidocs, /spec...          the OpenAPI document (api/openapi.json)
 *   GET  /metrics                    request counts and durations (Prometheus)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "common/histogram.h"
#include "etcd/kv.h"
#include "etcd/lease.h"
#include "model/clock.h"
#include "model/keys.h"

#define K_SYNC_NOTIFY "sync-notify"
#define K_IGNITION_VERSIONS "ignition-versions/"

/* ---- GET / and /configs ------------------------------------------------- */

static void routes_get(http_request_t *req, void *data)
{
    api_t *api = data;
    json_t *list = json_array();
    http_server_routes_json(api->http, list);
    http_request_respond_json(req, 200, list);
}

static void configs_get(http_request_t *req, void *data)
{
    api_t *api = data;
    json_t *c = api->config_json ? json_deep_copy(api->config_json) : json_object();
    http_request_respond_json(req, 200, c);
}

/* ---- /apidocs, /spec: the OpenAPI document --------------------------------- */

extern const unsigned char api_openapi_json[];
extern const unsigned long api_openapi_json_len;

static void apidocs(http_request_t *req, void *data)
{
    (void)data;
    http_request_respond_bytes(req, 200, "application/json", api_openapi_json,
                               api_openapi_json_len);
}

/* ---- /metrics -------------------------------------------------------------- */

/* The etcd client's request counts, errors and latencies, per method. */
static char *etcd_metrics_text(api_t *api)
{
    char *text = NULL;
    size_t len = 0, n;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    const etcd_method_stats_t *st = etcd_client_stats(api->etcd, &n);
    fprintf(f, "# HELP enjoliver_etcd_request_errors_total etcd requests that failed.\n"
               "# TYPE enjoliver_etcd_request_errors_total counter\n");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "enjoliver_etcd_request_errors_total{method=\"%s\"} %llu\n", st[i].method,
                (unsigned long long)st[i].errors);
    fprintf(f, "# HELP enjoliver_etcd_request_duration_seconds etcd requests, from start to "
               "answer (retries included).\n"
               "# TYPE enjoliver_etcd_request_duration_seconds histogram\n");
    for (size_t i = 0; i < n; i++) {
        char labels[64];
        snprintf(labels, sizeof labels, "method=\"%s\"", st[i].method);
        histogram_write(f, "enjoliver_etcd_request_duration_seconds", labels, etcd_stats_bounds_s,
                        st[i].buckets, ETCD_STATS_BUCKETS, st[i].calls, st[i].sum_s);
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

static void metrics(http_request_t *req, void *data)
{
    api_t *api = data;
    char *text = http_server_metrics_text(api->http);
    if (!text) {
        http_request_respond_error(req, 500, "out of memory");
        return;
    }
    char *extra = api->extra_metrics ? api->extra_metrics(api->extra_metrics_data) : NULL;
    char *etcd = etcd_metrics_text(api);
    char *all = NULL;
    if (asprintf(&all, "%s%s%s", text, etcd ? etcd : "", extra ? extra : "") < 0)
        all = NULL;
    free(text);
    free(etcd);
    free(extra);
    if (!all) {
        http_request_respond_error(req, 500, "out of memory");
        return;
    }
    http_request_respond_bytes(req, 200, "text/plain; version=0.0.4", all, strlen(all));
    free(all);
}

/* ---- /boot.ipxe ---------------------------------------------------------- */

static void boot_ipxe(http_request_t *req, void *data)
{
    api_t *api = data;
    char text[1024];
    snprintf(text, sizeof text,
             "#!ipxe\n"
             "echo start /boot.ipxe\n"
             ":retry_dhcp\n"
             "dhcp || goto retry_dhcp\n"
             "chain %s/ipxe?uuid=${uuid}&mac=${net0/mac:hexhyp}&domain=${domain}"
             "&hostname=${hostname}&serial=${serial}\n",
             api->api_uri);
    http_request_respond_text(req, 200, text);
}

/* ---- /sync-notify -------------------------------------------------------- */

typedef struct put_ctx_s {
    api_t *api;
    http_request_t *req;
    json_t *answer;
    char *key;
    char *value;
    bool existed;
} put_ctx_t;

static void put_ctx_free(put_ctx_t *p)
{
    json_decref(p->answer);
    free(p->key);
    free(p->value);
    free(p);
}

static void put_done(const etcd_result_t *res, void *data)
{
    put_ctx_t *p = data;
    if (res->err) {
        api_reply_write_error(p->req, res->err, res->message);
    } else {
        const Etcdserverpb__PutResponse *r = res->response;
        if (r->header)
            api_wrote(p->api, p->req, r->header->revision);
        json_t *neu = json_object_get(p->answer, "new");
        if (neu)
            json_object_set_new(p->answer, "new", json_boolean(r->prev_kv == NULL));
        http_request_respond_json(p->req, 200, json_incref(p->answer));
    }
    put_ctx_free(p);
}

static void put_now(put_ctx_t *p, int64_t lease)
{
    Etcdserverpb__PutRequest pr;
    etcdserverpb__put_request__init(&pr);
    pr.key.data = (uint8_t *)p->key;
    pr.key.len = strlen(p->key);
    pr.value.data = (uint8_t *)p->value;
    pr.value.len = strlen(p->value);
    pr.lease = lease;
    pr.prev_kv = 1;
    int rc = etcd_kv_put(p->api->etcd, &pr, NULL, put_done, p);
    if (rc) {
        api_reply_write_error(p->req, rc, NULL);
        put_ctx_free(p);
    }
}

static void lease_then_put(const etcd_result_t *res, void *data)
{
    put_ctx_t *p = data;
    if (res->err) {
        api_reply_write_error(p->req, res->err, res->message);
        put_ctx_free(p);
        return;
    }
    put_now(p, ((const Etcdserverpb__LeaseGrantResponse *)res->response)->id);
}

/* Puts kind+id = value (stolen JSON) then answers `answer` (stolen). */
static void put_and_answer(api_t *api, http_request_t *req, const char *kind, const char *id,
                           json_t *value, json_t *answer, int64_t ttl_s)
{
    put_ctx_t *p = calloc(1, sizeof(*p));
    char key[MODEL_KEY_MAX];
    int klen = model_key(key, sizeof key, api->store.prefix, kind, id);
    if (p) {
        p->api = api;
        p->req = req;
        p->answer = answer;
        p->key = klen > 0 ? strdup(key) : NULL;
        p->value = value ? json_dumps(value, JSON_COMPACT) : NULL;
    }
    json_decref(value);
    if (!p || !p->key || !p->value || !p->answer) {
        if (p)
            put_ctx_free(p);
        else
            json_decref(answer);
        http_request_respond_error(req, klen < 0 ? 400 : 500,
                                   klen < 0 ? "name too long" : "out of memory");
        return;
    }
    if (ttl_s <= 0) {
        put_now(p, 0);
        return;
    }
    int rc = etcd_lease_grant(api->etcd, ttl_s, 0, NULL, lease_then_put, p);
    if (rc) {
        api_reply_write_error(req, rc, NULL);
        put_ctx_free(p);
    }
}

static void sync_notify_post(http_request_t *req, void *data)
{
    api_t *api = data;
    double ts = (double)model_now_ms() / 1000.0;
    put_and_answer(
        api, req, K_SYNC_NOTIFY, "", json_pack("{s:i, s:f}", "schema", MODEL_SCHEMA, "ts", ts),
        json_pack("{s:f, s:i}", "ts", ts, "ttl", api->sync_notify_ttl), api->sync_notify_ttl);
}

static void sync_notify_get(http_request_t *req, void *data)
{
    api_t *api = data;
    json_t *v = api_cache_get(&api->cache, K_SYNC_NOTIFY, "");
    json_t *ts = json_object_get(v, "ts");
    if (json_is_number(ts))
        http_request_respond_json(req, 200, json_pack("{s:O}", "sync-notify", ts));
    else
        http_request_respond_json(req, 503, json_pack("{s:b}", "sync-notify", 0));
}

/* ---- /ignition/version --------------------------------------------------- */

static int count_one(const char *id, json_t *v, void *arg)
{
    (void)id, (void)v;
    (*(size_t *)arg)++;
    return 0;
}

static void ignition_version_post(http_request_t *req, void *data)
{
    api_t *api = data;
    const char *name = http_request_rest(req);
    size_t len;
    const char *body = http_request_body(req, &len);
    json_t *j = json_loadb(body, len, 0, NULL);
    json_t *text = json_object_get(j, name);
    if (!*name || strchr(name, '/') || strlen(name) > 200) {
        json_decref(j);
        http_request_respond_error(req, 400, "the template name must be 1..200 bytes, no '/'");
        return;
    }
    if (!json_is_string(text)) {
        unsigned status = json_is_object(j) ? 422 : 406;
        json_decref(j);
        char msg[300];
        snprintf(msg, sizeof msg, "the body must be {\"%s\": \"<template text>\"}", name);
        http_request_respond_error(req, status, msg);
        return;
    }
    size_t total = 0;
    api_cache_foreach(&api->cache, K_IGNITION_VERSIONS, count_one, &total);
    if (!api_cache_get(&api->cache, K_IGNITION_VERSIONS, name))
        total++;
    put_and_answer(api, req, K_IGNITION_VERSIONS, name,
                   json_pack("{s:i, s:O}", "schema", MODEL_SCHEMA, "text", text),
                   json_pack("{s:b, s:I}", "new", 1, "total", (json_int_t)total), 0);
    json_decref(j);
}

static int version_one(const char *id, json_t *v, void *arg)
{
    json_object_set(arg, id, json_object_get(v, "text"));
    return 0;
}

static void ignition_version_get(http_request_t *req, void *data)
{
    api_t *api = data;
    json_t *all = json_object();
    api_cache_foreach(&api->cache, K_IGNITION_VERSIONS, version_one, all);
    if (json_object_size(all) == 0) {
        json_decref(all);
        all = json_null();
    }
    http_request_respond_json(req, 200, all);
}

int api_ops_routes(api_t *api)
{
    int rc = http_server_route(api->http, "GET", "/", routes_get, api);
    rc = rc ? rc : http_server_route(api->http, "GET", "/configs", configs_get, api);
    rc = rc ? rc : http_server_route(api->http, "GET", "/config", configs_get, api);
    rc = rc ? rc : http_server_route(api->http, "GET", "/boot.ipxe", boot_ipxe, api);
    rc = rc ? rc : http_server_route(api->http, "GET", "/boot.ipxe.0", boot_ipxe, api);
    rc = rc ? rc : http_server_route(api->http, "POST", "/sync-notify", sync_notify_post, api);
    rc = rc ? rc : api_read_route(api, "/sync-notify", sync_notify_get);
    rc = rc ? rc
            : http_server_route(api->http, "POST", "/ignition/version/*", ignition_version_post,
                                api);
    rc = rc ? rc : api_read_route(api, "/ignition/version", ignition_version_get);
    static const char *const docs[] = {"/apidocs", "/apidocs/", "/apispec_1.json", "/spec"};
    for (size_t i = 0; rc == 0 && i < sizeof docs / sizeof docs[0]; i++)
        rc = http_server_route(api->http, "GET", docs[i], apidocs, api);
    rc = rc ? rc : http_server_route(api->http, "GET", "/metrics", metrics, api);
    return rc;
}

/*
 * Rolling-update slots, for the node agents and operators (new routes; the
 * original relied on locksmith):
 *
 *   POST   /rollout/slot/<raw query>   ask for a slot: 200 {"state": "granted",
 *                                      "token"} or 202 {"state": "waiting"}
 *   GET    /rollout/slot/<raw query>   the same, without asking
 *   DELETE /rollout/slot/<raw query>?token=N   give it back (409 if stale)
 *   GET    /rollout                    paused, holders, requests, ready
 *                                      reports, group labels, nodes' progress
 *   POST   /rollout/pause, /rollout/resume     (admin)
 *   POST   /rollout/ready/<raw query>  {"ready": bool, "failed": [names]}:
 *                                      the node's ready checks (its agent)
 *   POST   /rollout/group/<raw query>  {"group": "rack-7"} (admin): the
 *                                      node's failure domain, in place of
 *                                      its LLDP chassis; DELETE drops it
 *
 * The leader decides the grants (model/rollout.h); the token is the slot
 * key's mod revision, so a slot given twice (or a stale release) cannot be
 * mistaken for another.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "model/keys.h"
#include "model/rawquery.h"
#include "model/rollout_ops.h"

typedef struct ro_call_s {
    model_ro_op_t op; /* first */
    api_t *api;
    http_request_t *req;
    char *query;
    json_t *body; /* READY, GROUP: what op borrows from */
} ro_call_t;

static void ro_call_free(ro_call_t *c)
{
    json_decref(c->body);
    free(c->query);
    free(c);
}

static void ro_written(model_ro_op_t *op, int err, int64_t revision)
{
    ro_call_t *c = (ro_call_t *)op;
    if (err == -EPERM) {
        http_request_respond_error(c->req, 403, op->mop.op.err.msg);
    } else if (err == -ESTALE) {
        http_request_respond_error(c->req, 409, op->mop.op.err.msg);
    } else if (err) {
        api_reply_write_error(c->req, err, op->mop.op.err.msg);
    } else {
        api_wrote(c->api, c->req, revision);
        if (op->kind == MODEL_RO_READY)
            http_request_respond_json(c->req, 200, json_pack("{s:b}", "ready", op->ready));
        else if (op->kind == MODEL_RO_GROUP)
            http_request_respond_json(c->req, 200, json_pack("{s:s?}", "group", op->group));
        else if (op->kind == MODEL_RO_RELEASE)
            http_request_respond_json(c->req, 200, json_pack("{s:s}", "state", "released"));
        else if (op->granted)
            http_request_respond_json(
                c->req, 200,
                json_pack("{s:s, s:I}", "state", "granted", "token", (json_int_t)op->slot_token));
        else
            http_request_respond_json(c->req, 202, json_pack("{s:s}", "state", "waiting"));
    }
    ro_call_free(c);
}

/* Starts a write of `kind` for the machine the raw query names; body (a
 * reference taken) is what the op's fields point into. */
static void ro_start(http_request_t *req, api_t *api, ro_call_t *c, json_t *body)
{
    c->body = body;
    const char *q = http_request_rest(req);
    char mac[MODEL_MAC_LEN + 1];
    model_err_t err = {{0}};
    if (model_query_mac(q, strlen(q), mac, &err) != 0) {
        ro_call_free(c);
        http_request_respond_error(req, 400, err.msg);
        return;
    }
    if (!(c->query = strdup(q))) {
        ro_call_free(c);
        http_request_respond_error(req, 500, "out of memory");
        return;
    }
    c->api = api;
    c->req = req;
    c->op.query = c->query;
    int rc = model_ro_op_start(&api->store, &c->op, mac, ro_written);
    if (rc) {
        ro_call_free(c);
        api_reply_write_error(req, rc, NULL);
    }
}

static ro_call_t *ro_call(http_request_t *req, model_ro_kind_t kind)
{
    ro_call_t *c = calloc(1, sizeof(*c));
    if (!c)
        http_request_respond_error(req, 500, "out of memory");
    else
        c->op.kind = kind;
    return c;
}

static void slot_write(http_request_t *req, api_t *api, model_ro_kind_t kind, int64_t token)
{
    ro_call_t *c = ro_call(req, kind);
    if (!c)
        return;
    c->op.token = token;
    ro_start(req, api, c, NULL);
}

/* The JSON object of the body, or NULL after answering 400/422. */
static json_t *object_body(http_request_t *req)
{
    size_t len;
    const char *body = http_request_body(req, &len);
    json_error_t jerr;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        http_request_respond_error(req, 400, "the body is not JSON");
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        http_request_respond_error(req, 422, "the body must be a JSON object");
        return NULL;
    }
    return j;
}

static void ready_post(http_request_t *req, void *data)
{
    json_t *j = object_body(req);
    if (!j)
        return;
    json_t *ready = json_object_get(j, "ready"), *failed = json_object_get(j, "failed");
    model_err_t err = {{0}};
    if (!json_is_boolean(ready)) {
        json_decref(j);
        http_request_respond_error(req, 422, "ready: required, true or false");
        return;
    }
    if (model_ro_failed_check(failed, &err) != 0) {
        json_decref(j);
        http_request_respond_error(req, 422, err.msg);
        return;
    }
    ro_call_t *c = ro_call(req, MODEL_RO_READY);
    if (!c) {
        json_decref(j);
        return;
    }
    c->op.ready = json_is_true(ready);
    c->op.failed = failed;
    ro_start(req, data, c, j);
}

static void group_write(http_request_t *req, api_t *api, json_t *j, const char *group)
{
    ro_call_t *c = ro_call(req, MODEL_RO_GROUP);
    if (!c) {
        json_decref(j);
        return;
    }
    c->op.group = group;
    ro_start(req, api, c, j);
}

static void group_post(http_request_t *req, void *data)
{
    if (!api_admin_ok(data, req))
        return;
    json_t *j = object_body(req);
    if (!j)
        return;
    const char *group = json_string_value(json_object_get(j, "group"));
    model_err_t err = {{0}};
    if (model_ro_group_check(group, &err) != 0) {
        json_decref(j);
        http_request_respond_error(req, 422, err.msg);
        return;
    }
    group_write(req, data, j, group);
}

static void group_delete(http_request_t *req, void *data)
{
    if (api_admin_ok(data, req))
        group_write(req, data, NULL, NULL);
}

static void slot_post(http_request_t *req, void *data)
{
    slot_write(req, data, MODEL_RO_REQUEST, 0);
}

static void slot_delete(http_request_t *req, void *data)
{
    const char *t = http_request_arg(req, "token");
    char *end = NULL;
    long long token = t ? strtoll(t, &end, 10) : 0;
    if (!t || !*t || *end || token <= 0) {
        http_request_respond_error(req, 400, "token=<the slot's token> is required");
        return;
    }
    slot_write(req, data, MODEL_RO_RELEASE, token);
}

/* The boot MAC of the machine owning mac, from the cache, or NULL. */
static const char *boot_of(api_t *api, const char *mac)
{
    json_t *idx = api_cache_get(&api->cache, MODEL_K_MACS, mac);
    const char *uuid = json_string_value(json_object_get(idx, "uuid"));
    json_t *m = uuid ? api_cache_get(&api->cache, MODEL_K_MACHINES, uuid) : NULL;
    return json_string_value(json_object_get(m, "boot_mac"));
}

static void slot_get(http_request_t *req, void *data)
{
    api_t *api = data;
    const char *q = http_request_rest(req);
    char mac[MODEL_MAC_LEN + 1], key[MODEL_KEY_MAX];
    model_err_t err = {{0}};
    if (model_query_mac(q, strlen(q), mac, &err) != 0) {
        http_request_respond_error(req, 400, err.msg);
        return;
    }
    const char *boot = boot_of(api, mac);
    if (!boot) {
        http_request_respond_error(req, 404, "no machine has this MAC");
        return;
    }
    model_key(key, sizeof key, api->store.prefix, MODEL_K_RO_SLOTS, boot);
    const char *v;
    size_t len;
    int64_t mod, create;
    if (api_cache_peek(&api->cache, key, &v, &len, &mod, &create)) {
        http_request_respond_json(
            req, 200, json_pack("{s:s, s:I}", "state", "granted", "token", (json_int_t)mod));
        return;
    }
    bool waiting = api_cache_get(&api->cache, MODEL_K_RO_REQUESTS, boot) != NULL;
    http_request_respond_json(req, 200, json_pack("{s:s}", "state", waiting ? "waiting" : "idle"));
}

static int collect(const char *mac, json_t *v, void *arg)
{
    json_t *list = arg;
    json_t *o = json_deep_copy(v);
    json_object_del(o, "schema");
    json_object_set_new(o, "mac", json_string(mac));
    json_array_append_new(list, o);
    return 0;
}

static void rollout_get(http_request_t *req, void *data)
{
    api_t *api = data;
    json_t *state = api_cache_get(&api->cache, MODEL_K_RO_STATE, "");
    json_t *slots = json_array(), *requests = json_array(), *ready = json_array(),
           *groups = json_array(), *progress = json_array();
    api_cache_foreach(&api->cache, MODEL_K_RO_SLOTS, collect, slots);
    api_cache_foreach(&api->cache, MODEL_K_RO_REQUESTS, collect, requests);
    api_cache_foreach(&api->cache, MODEL_K_RO_READY, collect, ready);
    api_cache_foreach(&api->cache, MODEL_K_RO_GROUPS, collect, groups);
    api_cache_foreach(&api->cache, MODEL_K_RO_PROGRESS, collect, progress);
    json_t *last = json_object_get(state, "last_release");
    http_request_respond_json(req, 200,
                              json_pack("{s:b, s:O, s:o, s:o, s:o, s:o, s:o}", "paused",
                                        json_is_true(json_object_get(state, "paused")),
                                        "last_release", last ? last : json_null(), "slots", slots,
                                        "requests", requests, "ready", ready, "groups", groups,
                                        "progress", progress));
}

typedef struct pause_call_s {
    model_ro_pause_t op; /* first */
    api_t *api;
    http_request_t *req;
} pause_call_t;

static void paused(model_ro_pause_t *op, int err, int64_t revision)
{
    pause_call_t *c = (pause_call_t *)op;
    if (err) {
        api_reply_write_error(c->req, err, op->op.err.msg);
    } else {
        api_wrote(c->api, c->req, revision);
        http_request_respond_json(c->req, 200, json_pack("{s:b}", "paused", op->paused));
    }
    free(c);
}

static void pause_route(http_request_t *req, api_t *api, bool pause)
{
    if (!api_admin_ok(api, req))
        return;
    pause_call_t *c = calloc(1, sizeof(*c));
    if (!c) {
        http_request_respond_error(req, 500, "out of memory");
        return;
    }
    c->api = api;
    c->req = req;
    int rc = model_ro_pause_start(&api->store, &c->op, pause, paused);
    if (rc) {
        free(c);
        api_reply_write_error(req, rc, NULL);
    }
}

static void pause_post(http_request_t *req, void *data)
{
    pause_route(req, data, true);
}

static void resume_post(http_request_t *req, void *data)
{
    pause_route(req, data, false);
}

int api_rollout_routes(api_t *api)
{
    int rc = http_server_route(api->http, "POST", "/rollout/slot/*", slot_post, api);
    rc = rc ? rc : http_server_route(api->http, "DELETE", "/rollout/slot/*", slot_delete, api);
    rc = rc ? rc : api_read_route(api, "/rollout/slot/*", slot_get);
    rc = rc ? rc : api_read_route(api, "/rollout", rollout_get);
    rc = rc ? rc : http_server_route(api->http, "POST", "/rollout/pause", pause_post, api);
    rc = rc ? rc : http_server_route(api->http, "POST", "/rollout/resume", resume_post, api);
    rc = rc ? rc : http_server_route(api->http, "POST", "/rollout/ready/*", ready_post, api);
    rc = rc ? rc : http_server_route(api->http, "POST", "/rollout/group/*", group_post, api);
    rc = rc ? rc : http_server_route(api->http, "DELETE", "/rollout/group/*", group_delete, api);
    return rc;
}

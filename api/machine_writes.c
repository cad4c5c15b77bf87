/*
 * The API's writes about one machine (spec 3.3, 3.6), on model/machine_ops:
 *
 *   POST   /scheduler                          add roles to the owner of a MAC
 *   POST   /lifecycle/rolling/<raw query>      enable rolling updates
 *   DELETE /lifecycle/rolling/<raw query>      disable them
 *   POST   /lifecycle/coreos-install/<success|fail>/<raw query>
 *
 * Status codes machines' scripts branch on are kept (401 from the rolling
 * POST for an unknown MAC); where the original crashed (500) the answer is
 * now a 4xx JSON error that says what is wrong: 422 for a bad value, 404 for
 * an unknown MAC, 400 for a raw query without a usable mac=.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "model/machine_ops.h"
#include "model/rawquery.h"

typedef struct write_s {
    model_machine_op_t op; /* first */
    http_request_t *req;
    api_t *api;
    json_t *answer; /* the 200 body */
    char *query;    /* the raw query as received */
} write_t;

static void write_free(write_t *w)
{
    json_decref(w->answer);
    free(w->query);
    free(w);
}

static void written(model_machine_op_t *op, int err, int64_t revision)
{
    write_t *w = (write_t *)op;
    if (err == 0) {
        api_wrote(w->api, w->req, revision);
        http_request_respond_json(w->req, 200, json_incref(w->answer));
    } else if (err == -ENOENT && op->kind == MODEL_OP_ROLLING_ENABLE) {
        /* The original's answer for an unknown MAC, which scripts test. */
        api_reply_error_with(w->req, 401, op->mop.op.err.msg,
                             json_pack("{s:n, s:s, s:s}", "enable", "request_raw_query", w->query,
                                       "strategy", model_strategy_name(op->strategy)));
    } else {
        api_reply_write_error(w->req, err, op->mop.op.err.msg);
    }
    write_free(w);
}

/* Takes answer; responds in every case. */
static void start_write(api_t *api, http_request_t *req, write_t *w, const char *mac,
                        json_t *answer)
{
    w->req = req;
    w->api = api;
    w->answer = answer;
    int rc = answer ? model_machine_op_start(&api->store, &w->op, mac, written) : -ENOMEM;
    if (rc) {
        api_reply_write_error(req, rc, NULL);
        write_free(w);
    }
}

/* The MAC of a raw query path segment; answers 400 and returns -1 when
 * there is none. */
static int query_mac(http_request_t *req, const char *q, char mac[MODEL_MAC_LEN + 1])
{
    model_err_t err = {{0}};
    if (model_query_mac(q, strlen(q), mac, &err) == 0)
        return 0;
    api_reply_error_with(req, 400, err.msg, json_pack("{s:s}", "request_raw_query", q));
    return -1;
}

static write_t *write_new(http_request_t *req, model_machine_op_kind_t kind, const char *q)
{
    write_t *w = calloc(1, sizeof(*w));
    if (w && q && !(w->query = strdup(q))) {
        free(w);
        w = NULL;
    }
    if (!w)
        http_request_respond_error(req, 500, "out of memory");
    else
        w->op.kind = kind;
    return w;
}

/* ---- POST /scheduler ---------------------------------------------------- */

static json_t *scheduler_406(void)
{
    return json_pack("{s:[s,s,s], s:{s:s}}", "roles", "etcd-member", "kubernetes-control-plane",
                     "kubernetes-node", "selector", "mac", "");
}

/* {"roles": [...], "selector": {"mac": "..."}} -> roles and MAC, or 422. */
static int scheduler_body(json_t *j, unsigned *roles, char mac[MODEL_MAC_LEN + 1], model_err_t *err)
{
    json_t *arr = json_object_get(j, "roles");
    json_t *sel = json_object_get(j, "selector");
    json_t *m = json_object_get(sel, "mac");
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return model_err_set(err, "roles", "must be a non-empty list of roles");
    if (!json_is_string(m))
        return model_err_set(err, "selector.mac", "is required");
    size_t i;
    json_t *v;
    char where[32];
    *roles = 0;
    json_array_foreach(arr, i, v)
    {
        model_role_t r;
        snprintf(where, sizeof where, "roles[%zu]", i);
        if (!json_is_string(v))
            return model_err_set(err, where, "must be a string");
        int rc = model_role_parse(json_string_value(v), &r, where, err);
        if (rc)
            return rc;
        *roles |= r;
    }
    return model_mac_parse(json_string_value(m), mac, "selector.mac", err);
}

static void scheduler_post(http_request_t *req, void *data)
{
    if (!api_admin_ok(data, req))
        return;
    size_t len;
    const char *body = http_request_body(req, &len);
    json_error_t jerr;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(j)) {
        json_decref(j);
        api_reply_error_with(req, 406, "the body must be a JSON object", scheduler_406());
        return;
    }
    model_err_t err = {{0}};
    char mac[MODEL_MAC_LEN + 1];
    unsigned roles = 0;
    if (scheduler_body(j, &roles, mac, &err) != 0) {
        json_decref(j);
        http_request_respond_error(req, 422, err.msg);
        return;
    }
    write_t *w = write_new(req, MODEL_OP_SCHEDULE_ADD, NULL);
    if (!w) {
        json_decref(j);
        return;
    }
    w->op.roles = roles;
    start_write(data, req, w, mac, j); /* the original echoes the body */
}

/* ---- /lifecycle/rolling/<q> --------------------------------------------- */

/* The original falls back to kexec for a missing or unparsable body; a
 * strategy that is named but unknown is an error now (it was a 500). */
static int rolling_strategy(http_request_t *req, model_strategy_t *s)
{
    size_t len;
    const char *body = http_request_body(req, &len);
    *s = MODEL_STRATEGY_KEXEC;
    json_t *j = len ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *v = json_object_get(j, "strategy");
    int rc = 0;
    model_err_t err = {{0}};
    if (v && !json_is_string(v))
        rc = model_err_set(&err, "strategy", "must be a string");
    else if (v)
        rc = model_strategy_parse(json_string_value(v), s, "strategy", &err);
    json_decref(j);
    if (rc)
        http_request_respond_error(req, 422, err.msg);
    return rc;
}

static void rolling_post(http_request_t *req, void *data)
{
    if (!api_admin_ok(data, req))
        return;
    const char *q = http_request_rest(req);
    char mac[MODEL_MAC_LEN + 1];
    model_strategy_t s;
    if (query_mac(req, q, mac) != 0 || rolling_strategy(req, &s) != 0)
        return;
    write_t *w = write_new(req, MODEL_OP_ROLLING_ENABLE, q);
    if (!w)
        return;
    w->op.strategy = s;
    start_write(data, req, w, mac,
                json_pack("{s:b, s:s, s:s}", "enable", 1, "request_raw_query", q, "strategy",
                          model_strategy_name(s)));
}

static void rolling_delete(http_request_t *req, void *data)
{
    if (!api_admin_ok(data, req))
        return;
    const char *q = http_request_rest(req);
    char mac[MODEL_MAC_LEN + 1];
    if (query_mac(req, q, mac) != 0)
        return;
    write_t *w = write_new(req, MODEL_OP_ROLLING_DISABLE, q);
    if (w)
        start_write(data, req, w, mac,
                    json_pack("{s:b, s:s}", "enable", 0, "request_raw_query", q));
}

/* ---- POST /lifecycle/coreos-install/<status>/<q> ------------------------- */

static void install_post(http_request_t *req, void *data)
{
    const char *rest = http_request_rest(req);
    const char *slash = strchr(rest, '/');
    char status[16] = "";
    size_t n = slash ? (size_t)(slash - rest) : 0;
    for (size_t i = 0; i < n && i < sizeof status - 1; i++)
        status[i] = (char)tolower((unsigned char)rest[i]);
    status[n < sizeof status - 1 ? n : sizeof status - 1] = '\0';
    bool success = strcmp(status, "success") == 0;
    if (!slash || (!success && strcmp(status, "fail") != 0)) {
        http_request_respond_error(req, 400,
                                   "the path must be /lifecycle/coreos-install/"
                                   "<success|fail>/<raw query>");
        return;
    }
    const char *q = slash + 1;
    char mac[MODEL_MAC_LEN + 1];
    if (query_mac(req, q, mac) != 0)
        return;
    write_t *w = write_new(req, MODEL_OP_INSTALL_REPORT, q);
    if (!w)
        return;
    w->op.success = success;
    start_write(data, req, w, mac,
                json_pack("{s:b, s:s}", "success", success, "request_raw_query", q));
}

int api_machine_write_routes(api_t *api)
{
    int rc = http_server_route(api->http, "POST", "/scheduler", scheduler_post, api);
    if (rc == 0)
        rc = http_server_route(api->http, "POST", "/lifecycle/rolling/*", rolling_post, api);
    if (rc == 0)
        rc = http_server_route(api->http, "DELETE", "/lifecycle/rolling/*", rolling_delete, api);
    if (rc == 0)
        rc = http_server_route(api->http, "POST", "/lifecycle/coreos-install/*", install_post, api);
    return rc;
}

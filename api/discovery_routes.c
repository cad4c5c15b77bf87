/*
 * POST /discovery (spec 3.3, 4): a machine reports its facts.
 *
 * 200 {"new-discovery": true|false}. Unlike the original, only a body that
 * is not JSON or lacks one of the four sections gets the original's 406
 * (with its shape, plus "error" and "status"); a bad value gets 422 saying
 * which field, a MAC owned by another machine 409 (the original: 500 for
 * all of them). etcd unavailable: 503 with Retry-After.
 */
#include <errno.h>
#include <stdlib.h>

#include "api/api_internal.h"
#include "common/log.h"
#include "model/discovery_op.h"
#include "model/forget_op.h"

typedef struct discovery_post_s {
    model_discovery_op_t dop; /* first */
    model_discovery_t *report;
    http_request_t *req;
    api_t *api;
} discovery_post_t;

static json_t *shape_406(void)
{
    return json_pack("{s:{}, s:{}, s:[], s:[]}", "boot-info", "lldp", "interfaces", "disks");
}

static void discovery_written(model_discovery_op_t *dop, int err, int64_t revision)
{
    discovery_post_t *p = (discovery_post_t *)dop;
    if (err) {
        if (err != -EEXIST)
            log_warn("discovery not stored", "uuid=%s err=%d", p->report->uuid, err);
        api_reply_write_error(p->req, err, dop->op.err.msg);
    } else {
        api_wrote(p->api, p->req, revision);
        http_request_respond_json(p->req, 200,
                                  json_pack("{s:b}", "new-discovery", dop->new_machine));
    }
    model_discovery_free(p->report);
    free(p);
}

static void discovery_post(http_request_t *req, void *data)
{
    api_t *api = data;
    size_t len;
    const char *body = http_request_body(req, &len);
    model_err_t err = {{0}};
    model_discovery_t *report = NULL;
    int rc = model_discovery_decode(body, len, &report, &err);
    if (rc == -EBADMSG) {
        api_reply_error_with(req, 406, err.msg, shape_406());
        return;
    }
    if (rc) {
        http_request_respond_error(req, rc == -ENOMEM ? 500 : 422, err.msg);
        return;
    }
    discovery_post_t *p = calloc(1, sizeof(*p));
    if (!p) {
        model_discovery_free(report);
        http_request_respond_error(req, 500, "out of memory");
        return;
    }
    p->report = report;
    p->req = req;
    p->api = api;
    rc = model_discovery_op_start(&api->store, &p->dop, report, discovery_written);
    if (rc) {
        model_discovery_free(report);
        free(p);
        api_reply_write_error(req, rc, NULL);
    }
}

/* DELETE /discovery/<uuid>: forget a machine (admin). 200 {"forgotten":
 * uuid, "mac": boot MAC}, 404 when unknown. */
typedef struct forget_s {
    model_forget_op_t fop; /* first */
    api_t *api;
    http_request_t *req;
} forget_t;

static void forgotten(model_forget_op_t *fop, int err, int64_t revision)
{
    forget_t *f = (forget_t *)fop;
    if (err) {
        api_reply_write_error(f->req, err, fop->op.err.msg);
    } else {
        api_wrote(f->api, f->req, revision);
        http_request_respond_json(
            f->req, 200, json_pack("{s:s, s:s}", "forgotten", fop->uuid, "mac", fop->boot_mac));
    }
    free(f);
}

static void discovery_delete(http_request_t *req, void *data)
{
    api_t *api = data;
    if (!api_admin_ok(api, req))
        return;
    model_err_t err = {{0}};
    char uuid[MODEL_UUID_LEN + 1];
    if (model_uuid_parse(http_request_rest(req), uuid, "uuid", &err) != 0) {
        http_request_respond_error(req, 400, err.msg);
        return;
    }
    forget_t *f = calloc(1, sizeof(*f));
    if (!f) {
        http_request_respond_error(req, 500, "out of memory");
        return;
    }
    f->api = api;
    f->req = req;
    int rc = model_forget_op_start(&api->store, &f->fop, uuid, forgotten);
    if (rc) {
        free(f);
        api_reply_write_error(req, rc, NULL);
    }
}

int api_discovery_routes(api_t *api)
{
    int rc = http_server_route(api->http, "POST", "/discovery", discovery_post, api);
    return rc ? rc : http_server_route(api->http, "DELETE", "/discovery/*", discovery_delete, api);
}

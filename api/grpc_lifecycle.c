/*
 * gRPC: the Lifecycle service, what nodes (their agent) and operators do
 * to a machine's life: Ignition reports, rolling-update policy and slots,
 * ready checks, install reports and authorization.
 *
 * Each write is the domain's operation that the HTTP route of the same
 * name starts (model/machine_ops.h, model/rollout_ops.h, the install
 * lock), so the rules are the same over both.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/grpc_views.h"
#include "model/clock.h"
#include "model/keys.h"
#include "model/machine_ops.h"
#include "model/rawquery.h"
#include "model/rollout_ops.h"
#include "model/validate.h"

/* The MAC of a request, or fails the call and returns -1. */
static int request_mac(rpc_call_t *call, const char *in, char mac[MODEL_MAC_LEN + 1])
{
    model_err_t err = {{0}};
    if (model_mac_parse(in, mac, "mac", &err) == 0)
        return 0;
    rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", err.msg);
    return -1;
}

static void fail_write(rpc_call_t *call, int err, const char *msg)
{
    rpc_call_fail(call, api_grpc_status(err), "%s", api_grpc_message(err, msg));
}

/* ---- machine_ops: SetRolling, ReportInstall -------------------------------- */

typedef struct mop_call_s {
    model_machine_op_t op; /* first */
    api_t *api;
    rpc_call_t *call;
} mop_call_t;

static void mop_written(model_machine_op_t *op, int err, int64_t revision)
{
    mop_call_t *c = (mop_call_t *)op;
    if (err) {
        fail_write(c->call, err, op->mop.op.err.msg);
    } else if (op->kind == MODEL_OP_INSTALL_REPORT) {
        api_cache_wrote(&c->api->cache, revision);
        Enjoliver__V1__ReportInstallResponse r = ENJOLIVER__V1__REPORT_INSTALL_RESPONSE__INIT;
        r.success = op->success;
        r.updated_unix_ms = model_now_ms();
        rpc_call_reply(c->call, &r.base);
    } else {
        api_cache_wrote(&c->api->cache, revision);
        Enjoliver__V1__Rolling r = ENJOLIVER__V1__ROLLING__INIT;
        r.enabled = op->kind == MODEL_OP_ROLLING_ENABLE;
        r.strategy = (char *)(r.enabled ? model_strategy_name(op->strategy) : "");
        rpc_call_reply(c->call, &r.base);
    }
    free(c);
}

static mop_call_t *mop_new(rpc_call_t *call, api_t *api, model_machine_op_kind_t kind)
{
    mop_call_t *c = calloc(1, sizeof(*c));
    if (!c) {
        rpc_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    c->api = api;
    c->call = call;
    c->op.kind = kind;
    return c;
}

static void mop_start(mop_call_t *c, const char *mac)
{
    int rc = model_machine_op_start(&c->api->store, &c->op, mac, mop_written);
    if (rc) {
        fail_write(c->call, rc, c->op.mop.op.err.msg);
        free(c);
    }
}

static void set_rolling(rpc_call_t *call, const ProtobufCMessage *msg, void *data)
{
    const Enjoliver__V1__SetRollingRequest *req = (const void *)msg;
    char mac[MODEL_MAC_LEN + 1];
    model_strategy_t strategy = MODEL_STRATEGY_KEXEC;
    model_err_t err = {{0}};
    if (request_mac(call, req->mac, mac) != 0)
        return;
    if (*req->strategy && model_strategy_parse(req->strategy, &strategy, "strategy", &err) != 0) {
        rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", err.msg);
        return;
    }
    mop_call_t *c =
        mop_new(call, data, req->enabled ? MODEL_OP_ROLLING_ENABLE : MODEL_OP_ROLLING_DISABLE);
    if (!c)
        return;
    c->op.strategy = strategy;
    mop_start(c, mac);
}

static void report_install(rpc_call_t *call, const ProtobufCMessage *msg, void *data)
{
    const Enjoliver__V1__ReportInstallRequest *req = (const void *)msg;
    char mac[MODEL_MAC_LEN + 1];
    if (request_mac(call, req->mac, mac) != 0)
        return;
    mop_call_t *c = mop_new(call, data, MODEL_OP_INSTALL_REPORT);
    if (!c)
        return;
    c->op.success = req->success;
    mop_start(c, mac);
}

/* ---- GetRolling ------------------------------------------------------------ */

static void get_rolling_read(api_t *api, rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Enjoliver__V1__MachineRef *req = (const void *)msg;
    char mac[MODEL_MAC_LEN + 1];
    if (request_mac(call, req->mac, mac) != 0)
        return;
    json_t *m = gv_machine_by_mac(api, mac);
    const char *boot = json_string_value(json_object_get(m, "boot_mac"));
    if (!boot) {
        rpc_call_fail(call, GRPC_STATUS_NOT_FOUND, "no machine has mac %s", mac);
        return;
    }
    json_t *rec = api_cache_get(&api->cache, MODEL_K_LC_ROLLING, boot);
    Enjoliver__V1__Rolling r = ENJOLIVER__V1__ROLLING__INIT;
    r.enabled = json_is_true(json_object_get(rec, "enable"));
    r.strategy = gv_str(json_object_get(rec, "strategy"));
    rpc_call_reply(call, &r.base);
}

static void get_rolling(rpc_call_t *call, const ProtobufCMessage *msg, void *data)
{
    api_grpc_fresh(data, call, msg, get_rolling_read);
}

/* ---- rollout ops: AcquireSlot, ReleaseSlot, ReportReady -------------------- */

typedef struct ro_call_s {
    model_ro_op_t op; /* first */
    api_t *api;
    rpc_call_t *call;
    json_t *failed; /* READY: what op borrows */
    char query[MODEL_MAC_LEN + 8];
} ro_call_t;

static void ro_written(model_ro_op_t *op, int err, int64_t revision)
{
    ro_call_t *c = (ro_call_t *)op;
    if (err) {
        fail_write(c->call, err, op->mop.op.err.msg);
    } else if (op->kind == MODEL_RO_STEP) {
        api_cache_wrote(&c->api->cache, revision);
        Enjoliver__V1__ReportStepResponse r = ENJOLIVER__V1__REPORT_STEP_RESPONSE__INIT;
        rpc_call_reply(c->call, &r.base);
    } else if (op->kind == MODEL_RO_READY) {
        api_cache_wrote(&c->api->cache, revision);
        Enjoliver__V1__ReportReadyResponse r = ENJOLIVER__V1__REPORT_READY_RESPONSE__INIT;
        r.ready = op->ready;
        rpc_call_reply(c->call, &r.base);
    } else {
        api_cache_wrote(&c->api->cache, revision);
        Enjoliver__V1__SlotState r = ENJOLIVER__V1__SLOT_STATE__INIT;
        if (op->kind == MODEL_RO_RELEASE) {
            r.state = ENJOLIVER__V1__SLOT_STATE__STATE__RELEASED;
        } else if (op->granted) {
            r.state = ENJOLIVER__V1__SLOT_STATE__STATE__GRANTED;
            r.token = op->slot_token;
        } else {
            r.state = ENJOLIVER__V1__SLOT_STATE__STATE__WAITING;
        }
        rpc_call_reply(c->call, &r.base);
    }
    json_decref(c->failed);
    free(c);
}

static void ro_start(rpc_call_t *call, api_t *api, const char *in_mac, ro_call_t *c)
{
    char mac[MODEL_MAC_LEN + 1];
    if (request_mac(call, in_mac, mac) != 0) {
        json_decref(c->failed);
        free(c);
        return;
    }
    c->api = api;
    c->call = call;
    /* What the slot request records as the node's query, as over HTTP. */
    snprintf(c->query, sizeof c->query, "mac=%s", mac);
    c->op.query = c->query;
    int rc = model_ro_op_start(&api->store, &c->op, mac, ro_written);
    if (rc) {
        fail_write(call, rc, c->op.mop.op.err.msg);
        json_decref(c->failed);
        free(c);
    }
}

static ro_call_t *ro_new(rpc_call_t *call, model_ro_kind_t kind)
{
    ro_call_t *c = calloc(1, sizeof(*c));
    if (!c)
        rpc_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    else
        c->op.kind = kind;
    return c;
}

static void acquire_slot(rpc_call_t *call, const ProtobufCMessage *msg, void *data)
{
    const Enjoliver__V1__MachineRef *req = (const void *)msg;
    ro_call_t *c = ro_new(call, MODEL_RO_REQUEST);
    if (c)
        ro_start(call, data, req->mac, c);
}

static void release_slot(rpc_call_t *call, const ProtobufCMessage *msg, void *data)
{
    const Enjoliver__V1__ReleaseSlotRequest *req = (const void *)msg;
    if (req->token <= 0) {
        rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                      "token: the slot's token (from AcquireSlot) is required");
        return;
    }
    ro_call_t *c = ro_new(call, MODEL_RO_RELEASE);
    if (!c)
        return;
    c->op.token = req->token;
    ro_start(call, data, req->mac, c);
}

static void report_ready(rpc_call_t *call, const ProtobufCMessage *msg, void *data)
{
    const Enjoliver__V1__ReportReadyRequest *req = (const void *)msg;
    ro_call_t *c = ro_new(call, MODEL_RO_READY);
    if (!c)
        return;
    c->failed = json_array();
    model_err_t err = {{0}};
    for (size_t i = 0; c->failed && i < req->n_failed && !err.msg[0]; i++) {
        json_t *name = json_string(req->failed[i]);
        if (!name) /* jansson takes UTF-8 only */
            model_err_set(&err, NULL, "failed[%zu]: not UTF-8 text", i);
        json_array_append_new(c->failed, name);
    }
    if (!c->failed || err.msg[0] || model_ro_failed_check(c->failed, &err) != 0) {
        rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s",
                      c->failed ? err.msg : "out of memory");
        json_decref(c->failed);
        free(c);
        return;
    }
    c->op.ready = req->ready;
    c->op.failed = c->failed;
    ro_start(call, data, req->mac, c);
}

static void report_step(rpc_call_t *call, const ProtobufCMessage *msg, void *data)
{
    const Enjoliver__V1__ReportStepRequest *req = (const void *)msg;
    model_err_t err = {{0}};
    if (model_ro_step_check(req->step, req->token, req->boot_id, req->failed_step, &err) != 0) {
        rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", err.msg);
        return;
    }
    ro_call_t *c = ro_new(call, MODEL_RO_STEP);
    if (!c)
        return;
    c->op.step = req->step;
    c->op.token = req->token;
    c->op.boot_id = req->boot_id;
    c->op.failed_step = req->failed_step;
    ro_start(call, data, req->mac, c);
}

/* ---- ListSlots ------------------------------------------------------------- */

typedef struct slots_walk_s {
    api_t *api;
    gv_arena_t arena;
    Enjoliver__V1__Slot **slots;
    size_t n_slots;
    char **waiting;
    size_t n_waiting;
    size_t cap;
} slots_walk_t;

static int slot_one(const char *mac, json_t *v, void *arg)
{
    slots_walk_t *w = arg;
    Enjoliver__V1__Slot *s = gv_alloc(&w->arena, sizeof(*s));
    if (!s || w->n_slots == w->cap)
        return -ENOMEM;
    enjoliver__v1__slot__init(s);
    s->mac = (char *)mac;
    s->granted_unix_ms = gv_date_ms(json_object_get(v, "granted"));
    s->granted_by = gv_str(json_object_get(v, "by"));
    s->token = gv_revision(w->api, MODEL_K_RO_SLOTS, mac, NULL);
    w->slots[w->n_slots++] = s;
    return 0;
}

/* Requests without a slot yet, in the order they were made. */
typedef struct waiting_s {
    const char *mac;
    int64_t since; /* create revision of the request */
} waiting_t;

static int cmp_waiting(const void *a, const void *b)
{
    const waiting_t *x = a, *y = b;
    return x->since < y->since ? -1 : x->since > y->since;
}

static int request_one(const char *mac, json_t *v, void *arg)
{
    (void)v;
    slots_walk_t *w = arg;
    if (api_cache_get(&w->api->cache, MODEL_K_RO_SLOTS, mac) || w->n_waiting == w->cap)
        return 0;
    w->waiting[w->n_waiting++] = (char *)mac;
    return 0;
}

static void list_slots_read(api_t *api, rpc_call_t *call, const ProtobufCMessage *msg)
{
    (void)msg;
    slots_walk_t w = {.api = api};
    w.cap = etcd_mirror_count(api->cache.mirror) + 1; /* bounds both lists */
    w.slots = gv_alloc(&w.arena, w.cap * sizeof(*w.slots));
    w.waiting = gv_alloc(&w.arena, w.cap * sizeof(*w.waiting));
    waiting_t *order = gv_alloc(&w.arena, w.cap * sizeof(*order));
    int rc = w.slots && w.waiting && order
                 ? api_cache_foreach(&api->cache, MODEL_K_RO_SLOTS, slot_one, &w)
                 : -ENOMEM;
    rc = rc ? rc : api_cache_foreach(&api->cache, MODEL_K_RO_REQUESTS, request_one, &w);
    if (rc < 0 || w.arena.failed) {
        rpc_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        gv_arena_free(&w.arena);
        return;
    }
    for (size_t i = 0; i < w.n_waiting; i++) {
        order[i].mac = w.waiting[i];
        gv_revision(api, MODEL_K_RO_REQUESTS, w.waiting[i], &order[i].since);
    }
    if (w.n_waiting)
        qsort(order, w.n_waiting, sizeof *order, cmp_waiting);
    for (size_t i = 0; i < w.n_waiting; i++)
        w.waiting[i] = (char *)order[i].mac;
    json_t *state = api_cache_get(&api->cache, MODEL_K_RO_STATE, "");
    Enjoliver__V1__ListSlotsResponse r = ENJOLIVER__V1__LIST_SLOTS_RESPONSE__INIT;
    r.slots = w.slots;
    r.n_slots = w.n_slots;
    r.waiting = w.waiting;
    r.n_waiting = w.n_waiting;
    r.paused = json_is_true(json_object_get(state, "paused"));
    r.last_release_unix_ms = gv_date_ms(json_object_get(state, "last_release"));
    r.revision = api_cache_revision(&api->cache);
    rpc_call_reply(call, &r.base);
    gv_arena_free(&w.arena);
}

static void list_slots(rpc_call_t *call, const ProtobufCMessage *msg, void *data)
{
    api_grpc_fresh(data, call, msg, list_slots_read);
}

/* ---- ReportIgnition -------------------------------------------------------- */

static void ignition_reported(const api_ignition_result_t *res, void *data)
{
    rpc_call_t *call = data;
    switch (res->outcome) {
    case API_IGNITION_RECORDED: {
        Enjoliver__V1__IgnitionStatus r = ENJOLIVER__V1__IGNITION_STATUS__INIT;
        r.reported = 1;
        r.up_to_date = res->up_to_date;
        r.reported_unix_ms = model_now_ms();
        rpc_call_reply(call, &r.base);
        break;
    }
    case API_IGNITION_UNKNOWN_MAC:
        rpc_call_fail(call, GRPC_STATUS_NOT_FOUND, "%s", res->message);
        break;
    case API_IGNITION_NOT_IGNITION:
        rpc_call_fail(call, GRPC_STATUS_FAILED_PRECONDITION, "%s", res->message);
        break;
    case API_IGNITION_MATCHBOX_FAILED:
        rpc_call_fail(
            call, res->err == -ETIMEDOUT ? GRPC_STATUS_DEADLINE_EXCEEDED : GRPC_STATUS_UNAVAILABLE,
            "%s", res->message);
        break;
    case API_IGNITION_WRITE_FAILED:
        fail_write(call, res->err, res->message);
        break;
    default:
        rpc_call_fail(call, GRPC_STATUS_INTERNAL, "%s", res->message);
    }
}

static void report_ignition(rpc_call_t *call, const ProtobufCMessage *msg, void *data)
{
    const Enjoliver__V1__ReportIgnitionRequest *req = (const void *)msg;
    char mac[MODEL_MAC_LEN + 1], query[1024];
    if (request_mac(call, req->mac, mac) != 0)
        return;
    json_error_t jerr;
    json_t *running = json_loads(req->ignition_json, 0, &jerr);
    if (!running) {
        rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "ignition_json: not JSON (line %d: %s)",
                      jerr.line, jerr.text);
        return;
    }
    if (!json_is_object(running)) {
        json_decref(running);
        rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                      "ignition_json: an Ignition document is a JSON object");
        return;
    }
    if (*req->selectors) {
        snprintf(query, sizeof query, "%s", req->selectors);
    } else {
        char dashed[MODEL_MAC_LEN + 1];
        snprintf(dashed, sizeof dashed, "%s", mac);
        for (char *p = dashed; *p; p++)
            *p = *p == ':' ? '-' : *p;
        snprintf(query, sizeof query, "mac=%s&os=installed", dashed);
    }
    if (strlen(req->selectors) >= sizeof query || strpbrk(query, " #\r\n")) {
        json_decref(running);
        rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                      "selectors: a raw query of at most %zu characters, without spaces",
                      sizeof query - 1);
        return;
    }
    int rc = api_ignition_report(data, mac, query, running, ignition_reported, call);
    if (rc == -ENXIO)
        rpc_call_fail(call, GRPC_STATUS_FAILED_PRECONDITION,
                      "no matchbox is configured (--matchbox-uri)");
    else if (rc)
        rpc_call_fail(call, GRPC_STATUS_UNAVAILABLE, "cannot reach matchbox (%d)", rc);
}

/* ---- AuthorizeInstall ------------------------------------------------------ */

static void install_decided(const api_install_result_t *res, void *data)
{
    rpc_call_t *call = data;
    if (res->err) {
        fail_write(call, res->err, res->message);
        return;
    }
    Enjoliver__V1__AuthorizeInstallResponse r = ENJOLIVER__V1__AUTHORIZE_INSTALL_RESPONSE__INIT;
    char holder[MODEL_MAC_LEN + 1] = "";
    model_err_t err = {{0}};
    /* The lock keeps the holder's raw query (what HTTP answers shows);
     * the proto promises its MAC. */
    if (!res->granted && model_query_mac(res->holder, strlen(res->holder), holder, &err) != 0)
        snprintf(holder, sizeof holder, "%s", "");
    r.granted = res->granted;
    r.holder = holder;
    r.expires_unix_ms = res->expires_ms ? model_now_ms() + res->expires_ms : 0;
    rpc_call_reply(call, &r.base);
}

static void authorize_install(rpc_call_t *call, const ProtobufCMessage *msg, void *data)
{
    const Enjoliver__V1__AuthorizeInstallRequest *req = (const void *)msg;
    char mac[MODEL_MAC_LEN + 1], query[MODEL_MAC_LEN + 8];
    if (request_mac(call, req->mac, mac) != 0)
        return;
    snprintf(query, sizeof query, "mac=%s", mac);
    int rc = api_install_authorize(data, mac, query, install_decided, call);
    if (rc)
        fail_write(call, rc, NULL);
}

int api_grpc_lifecycle(api_t *api)
{
#define LC(name) "/enjoliver.v1.Lifecycle/" name
    const rpc_method_t methods[] = {
        {LC("ReportIgnition"), &enjoliver__v1__report_ignition_request__descriptor, report_ignition,
         api, .admin = false},
        {LC("GetRolling"), &enjoliver__v1__machine_ref__descriptor, get_rolling, api,
         .admin = false},
        {LC("SetRolling"), &enjoliver__v1__set_rolling_request__descriptor, set_rolling, api,
         .admin = true},
        {LC("AcquireSlot"), &enjoliver__v1__machine_ref__descriptor, acquire_slot, api,
         .admin = false},
        {LC("ReleaseSlot"), &enjoliver__v1__release_slot_request__descriptor, release_slot, api,
         .admin = false},
        {LC("ListSlots"), &enjoliver__v1__list_slots_request__descriptor, list_slots, api,
         .admin = false},
        {LC("ReportReady"), &enjoliver__v1__report_ready_request__descriptor, report_ready, api,
         .admin = false},
        {LC("ReportStep"), &enjoliver__v1__report_step_request__descriptor, report_step, api,
         .admin = false},
        {LC("ReportInstall"), &enjoliver__v1__report_install_request__descriptor, report_install,
         api, .admin = false},
        {LC("AuthorizeInstall"), &enjoliver__v1__authorize_install_request__descriptor,
         authorize_install, api, .admin = false},
    };
#undef LC
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) {
        int rc = rpc_server_method(api->rpc, &methods[i]);
        if (rc)
            return rc;
    }
    return 0;
}

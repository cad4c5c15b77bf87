/*
 * gRPC: Machines.List, Machines.Get, Schedules.List, Schedules.Set.
 *
 * Reads come from the cache once it holds this replica's last write; the
 * write (Schedules.Set) is model/machine_ops' MODEL_OP_SCHEDULE_ADD, the
 * transaction of POST /scheduler.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/grpc_views.h"
#include "model/keys.h"
#include "model/machine_ops.h"
#include "model/validate.h"

#define PAGE_DEFAULT 500u
#define PAGE_MAX 5000u

/* ---- Machines.List --------------------------------------------------------- */

typedef struct list_walk_s {
    api_t *api;
    const Enjoliver__V1__ListMachinesRequest *req;
    const char *after;    /* the page token: the last UUID of the page before */
    const char *mac_uuid; /* the mac filter, resolved */
    unsigned state_filter;
    size_t limit;
    gv_buf_t out; /* the ListMachinesResponse, built from packed machines */
    size_t n;
    const char *last;
    bool more;
} list_walk_t;

static bool list_matches(list_walk_t *w, const char *uuid, json_t *m)
{
    const Enjoliver__V1__ListMachinesRequest *r = w->req;
    if (w->mac_uuid && strcmp(uuid, w->mac_uuid) != 0)
        return false;
    const char *boot = json_string_value(json_object_get(m, "boot_mac"));
    unsigned roles = boot ? gv_roles_of(w->api, boot) : 0;
    if (r->unscheduled && roles)
        return false;
    if (r->role && !(roles & gv_role_bit(r->role)))
        return false;
    if (*r->state) {
        json_t *st = boot ? api_cache_get(&w->api->cache, MODEL_K_STATES, boot) : NULL;
        const char *name = json_string_value(json_object_get(st, "state"));
        if (!name || strcmp(name, r->state) != 0)
            return false;
    }
    return true;
}

static int list_one(const char *uuid, json_t *m, void *arg)
{
    list_walk_t *w = arg;
    if (!list_matches(w, uuid, m))
        return 0;
    if (w->n == w->limit) {
        w->more = true;
        return 1;
    }
    size_t len = 0;
    const uint8_t *bytes = gv_machine_packed(w->api, m, &len);
    if (!bytes)
        return -ENOMEM;
    gv_put_bytes(&w->out, 1, bytes, len); /* machines = 1 */
    w->n++;
    w->last = uuid;
    return w->out.failed ? -ENOMEM : 0;
}

static void machines_list_read(api_t *api, rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Enjoliver__V1__ListMachinesRequest *req = (const void *)msg;
    list_walk_t w = {.api = api, .req = req};
    w.limit = req->page_size ? req->page_size : PAGE_DEFAULT;
    if (*req->page_token)
        w.after = req->page_token;
    if (*req->mac) {
        char mac[MODEL_MAC_LEN + 1];
        model_err_t err = {{0}};
        if (model_mac_parse(req->mac, mac, "mac", &err) != 0) {
            rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", err.msg);
            return;
        }
        json_t *idx = api_cache_get(&api->cache, MODEL_K_MACS, mac);
        w.mac_uuid = json_string_value(json_object_get(idx, "uuid"));
        if (!w.mac_uuid)
            w.mac_uuid = "-"; /* no machine has it: an empty list */
    }
    int rc = api_cache_foreach_after(&api->cache, MODEL_K_MACHINES, w.after, list_one, &w);
    if (w.more && w.last) /* next_page_token = 2 */
        gv_put_bytes(&w.out, 2, w.last, strlen(w.last));
    gv_put_varint(&w.out, 3, (uint64_t)api_cache_revision(&api->cache)); /* revision = 3 */
    if (rc < 0 || w.out.failed)
        rpc_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    else
        rpc_call_reply_bytes(call, w.out.data ? w.out.data : (uint8_t *)"", w.out.len);
    free(w.out.data);
}

/* A bounded copy of what a client sent, for a message: printable ASCII,
 * anything else as '?'. */
static const char *printable(const char *in, char *out, size_t size)
{
    size_t i = 0;
    for (; in[i] && i + 1 < size; i++)
        out[i] = in[i] >= 0x20 && in[i] < 0x7f && in[i] != '"' ? in[i] : '?';
    out[i] = 0;
    return out;
}

static void machines_list(rpc_call_t *call, const ProtobufCMessage *msg, void *data)
{
    const Enjoliver__V1__ListMachinesRequest *req = (const void *)msg;
    model_err_t err = {{0}};
    char uuid[MODEL_UUID_LEN + 1];
    if (req->page_size > PAGE_MAX)
        rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "page_size: at most %u", PAGE_MAX);
    else if ((int)req->role < 0 || req->role > ENJOLIVER__V1__ROLE__KUBERNETES_NODE)
        rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "role: unknown value %d", (int)req->role);
    else if (*req->page_token &&
             (model_uuid_parse(req->page_token, uuid, "page_token", &err) != 0 ||
              strcmp(uuid, req->page_token) != 0))
        rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                      "page_token: \"%s\" is not a token this API gave (give the "
                      "next_page_token of the previous page)",
                      printable(req->page_token, uuid, sizeof uuid));
    else
        api_grpc_fresh(data, call, msg, machines_list_read);
}

/* ---- Machines.Get ---------------------------------------------------------- */

static void machines_get_read(api_t *api, rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Enjoliver__V1__GetMachineRequest *req = (const void *)msg;
    model_err_t err = {{0}};
    json_t *m = NULL;
    char id[MODEL_UUID_LEN + MODEL_MAC_LEN + 2];
    if (req->key_case == ENJOLIVER__V1__GET_MACHINE_REQUEST__KEY_UUID) {
        if (model_uuid_parse(req->uuid, id, "uuid", &err) != 0) {
            rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", err.msg);
            return;
        }
        m = api_cache_get(&api->cache, MODEL_K_MACHINES, id);
    } else if (req->key_case == ENJOLIVER__V1__GET_MACHINE_REQUEST__KEY_MAC) {
        if (model_mac_parse(req->mac, id, "mac", &err) != 0) {
            rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", err.msg);
            return;
        }
        m = gv_machine_by_mac(api, id);
    } else {
        rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "give a uuid or a mac");
        return;
    }
    if (!m) {
        rpc_call_fail(
            call, GRPC_STATUS_NOT_FOUND, "no machine has %s %s",
            req->key_case == ENJOLIVER__V1__GET_MACHINE_REQUEST__KEY_UUID ? "uuid" : "mac", id);
        return;
    }
    size_t len = 0;
    const uint8_t *bytes = gv_machine_packed(api, m, &len);
    if (!bytes)
        rpc_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    else
        rpc_call_reply_bytes(call, bytes, len);
}

static void machines_get(rpc_call_t *call, const ProtobufCMessage *msg, void *data)
{
    api_grpc_fresh(data, call, msg, machines_get_read);
}

/* ---- Schedules.List -------------------------------------------------------- */

typedef struct sched_walk_s {
    api_t *api;
    unsigned want; /* role bit, 0 = any */
    gv_arena_t arena;
    Enjoliver__V1__Schedule **items;
    size_t n, cap;
} sched_walk_t;

static int sched_one(const char *mac, json_t *v, void *arg)
{
    (void)v;
    sched_walk_t *w = arg;
    unsigned roles = gv_roles_of(w->api, mac);
    if (!roles || (w->want && !(roles & w->want)))
        return 0;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        Enjoliver__V1__Schedule **items = realloc(w->items, cap * sizeof(*items));
        if (!items)
            return -ENOMEM;
        w->items = items;
        w->cap = cap;
    }
    Enjoliver__V1__Schedule *s = gv_alloc(&w->arena, sizeof(*s));
    if (!s)
        return -ENOMEM;
    enjoliver__v1__schedule__init(s);
    s->mac = (char *)mac;
    gv_roles(&w->arena, roles, &s->roles, &s->n_roles);
    s->revision = gv_revision(w->api, MODEL_K_SCHEDULES, mac, NULL);
    w->items[w->n++] = s;
    return 0;
}

static void schedules_list_read(api_t *api, rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Enjoliver__V1__ListSchedulesRequest *req = (const void *)msg;
    sched_walk_t w = {.api = api, .want = gv_role_bit(req->role)};
    int rc = api_cache_foreach(&api->cache, MODEL_K_SCHEDULES, sched_one, &w);
    if (rc < 0 || w.arena.failed) {
        rpc_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    } else {
        Enjoliver__V1__ListSchedulesResponse r = ENJOLIVER__V1__LIST_SCHEDULES_RESPONSE__INIT;
        r.schedules = w.items;
        r.n_schedules = w.n;
        r.revision = api_cache_revision(&api->cache);
        rpc_call_reply(call, &r.base);
    }
    free(w.items);
    gv_arena_free(&w.arena);
}

static void schedules_list(rpc_call_t *call, const ProtobufCMessage *msg, void *data)
{
    const Enjoliver__V1__ListSchedulesRequest *req = (const void *)msg;
    if ((int)req->role < 0 || req->role > ENJOLIVER__V1__ROLE__KUBERNETES_NODE)
        rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "role: unknown value %d", (int)req->role);
    else
        api_grpc_fresh(data, call, msg, schedules_list_read);
}

/* ---- Schedules.Set --------------------------------------------------------- */

typedef struct set_s {
    model_machine_op_t op; /* first */
    api_t *api;
    rpc_call_t *call;
} set_t;

/* The schedule as the cache shows it once it holds the write. */
static void set_answer(api_t *api, rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Enjoliver__V1__SetScheduleRequest *req = (const void *)msg;
    char mac[MODEL_MAC_LEN + 1];
    model_err_t err = {{0}};
    model_mac_parse(req->mac, mac, "mac", &err);
    json_t *m = gv_machine_by_mac(api, mac);
    const char *boot = json_string_value(json_object_get(m, "boot_mac"));
    gv_arena_t a = {0};
    Enjoliver__V1__Schedule s = ENJOLIVER__V1__SCHEDULE__INIT;
    s.mac = (char *)(boot ? boot : mac);
    gv_roles(&a, gv_roles_of(api, s.mac), &s.roles, &s.n_roles);
    s.revision = gv_revision(api, MODEL_K_SCHEDULES, s.mac, NULL);
    rpc_call_reply(call, &s.base);
    gv_arena_free(&a);
}

static void set_written(model_machine_op_t *op, int err, int64_t revision)
{
    set_t *s = (set_t *)op;
    if (err) {
        rpc_call_fail(s->call, api_grpc_status(err), "%s",
                      api_grpc_message(err, op->mop.op.err.msg));
    } else {
        api_cache_wrote(&s->api->cache, revision);
        api_grpc_fresh(s->api, s->call, rpc_call_request(s->call), set_answer);
    }
    free(s);
}

static void schedules_set(rpc_call_t *call, const ProtobufCMessage *msg, void *data)
{
    const Enjoliver__V1__SetScheduleRequest *req = (const void *)msg;
    char mac[MODEL_MAC_LEN + 1];
    model_err_t err = {{0}};
    unsigned roles = 0;
    if (model_mac_parse(req->mac, mac, "mac", &err) != 0) {
        rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", err.msg);
        return;
    }
    if (req->n_roles == 0) {
        rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "roles: give at least one role");
        return;
    }
    for (size_t i = 0; i < req->n_roles; i++) {
        unsigned bit = gv_role_bit(req->roles[i]);
        if (!bit) {
            rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "roles[%zu]: unknown role %d", i,
                          (int)req->roles[i]);
            return;
        }
        roles |= bit;
    }
    set_t *s = calloc(1, sizeof(*s));
    if (!s) {
        rpc_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    s->api = data;
    s->call = call;
    s->op.kind = MODEL_OP_SCHEDULE_ADD;
    s->op.roles = roles;
    int rc = model_machine_op_start(&s->api->store, &s->op, mac, set_written);
    if (rc) {
        rpc_call_fail(call, api_grpc_status(rc), "%s", api_grpc_message(rc, s->op.mop.op.err.msg));
        free(s);
    }
}

int api_grpc_machines(api_t *api)
{
    const rpc_method_t methods[] = {
        {"/enjoliver.v1.Machines/List", &enjoliver__v1__list_machines_request__descriptor,
         machines_list, api, .admin = false},
        {"/enjoliver.v1.Machines/Get", &enjoliver__v1__get_machine_request__descriptor,
         machines_get, api, .admin = false},
        {"/enjoliver.v1.Schedules/List", &enjoliver__v1__list_schedules_request__descriptor,
         schedules_list, api, .admin = false},
        {"/enjoliver.v1.Schedules/Set", &enjoliver__v1__set_schedule_request__descriptor,
         schedules_set, api, .admin = true},
    };
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) {
        int rc = rpc_server_method(api->rpc, &methods[i]);
        if (rc)
            return rc;
    }
    return 0;
}

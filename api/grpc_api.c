/*
 * The gRPC API (proto/enjoliver/v1/enjoliver.proto): the server's start and
 * close, what every service shares (status codes, fresh reads), and
 * Health.Check. The services themselves are in grpc_machines.c,
 * grpc_lifecycle.c, grpc_watch.c and grpc_backup.c; their rules are the
 * domain's (model/), the same the HTTP routes apply.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/grpc_views.h"

#ifndef ENJ_VERSION
#define ENJ_VERSION "0.0.0"
#endif

grpc_status_code api_grpc_status(int err)
{
    switch (err) {
    case 0:
        return GRPC_STATUS_OK;
    case -ENOTCONN:
    case -ETIMEDOUT:
    case -ECANCELED:
    case -EAGAIN:
    case -ECONNREFUSED:
        return GRPC_STATUS_UNAVAILABLE;
    case -EEXIST:
        return GRPC_STATUS_ALREADY_EXISTS;
    case -ENOENT:
        return GRPC_STATUS_NOT_FOUND;
    case -EINVAL:
        return GRPC_STATUS_INVALID_ARGUMENT;
    case -EPERM:
    case -EACCES:
        return GRPC_STATUS_PERMISSION_DENIED;
    case -ESTALE:
        return GRPC_STATUS_FAILED_PRECONDITION;
    case -EBUSY:
        return GRPC_STATUS_ABORTED;
    default:
        return GRPC_STATUS_INTERNAL;
    }
}

const char *api_grpc_message(int err, const char *msg)
{
    return msg && *msg ? msg : etcd_strerror(err);
}

/* ---- read-your-writes ---------------------------------------------------- */

typedef struct fresh_s {
    api_t *api;
    rpc_call_t *call;
    const ProtobufCMessage *req;
    api_grpc_read_fn fn;
} fresh_t;

static void fresh_done(etcd_mirror_t *m, int err, void *data)
{
    (void)m;
    fresh_t *f = data;
    if (err)
        rpc_call_fail(f->call, GRPC_STATUS_UNAVAILABLE,
                      "the cache did not catch up with the last write (%s): retry",
                      etcd_strerror(err));
    else
        f->fn(f->api, f->call, f->req);
    free(f);
}

void api_grpc_fresh(api_t *api, rpc_call_t *call, const ProtobufCMessage *req, api_grpc_read_fn fn)
{
    api_cache_t *c = &api->cache;
    int64_t want = c->last_write > 0 ? c->last_write : 1; /* 1: synced at least */
    if (!c->mirror) {
        rpc_call_fail(call, GRPC_STATUS_UNAVAILABLE, "shutting down");
        return;
    }
    if (etcd_mirror_synced(c->mirror) && etcd_mirror_revision(c->mirror) >= want) {
        fn(api, call, req);
        return;
    }
    fresh_t *f = malloc(sizeof(*f));
    if (!f) {
        rpc_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    *f = (fresh_t){api, call, req, fn};
    int rc = api_cache_wait(c, want, c->wait_ms, fresh_done, f);
    if (rc) {
        free(f);
        rpc_call_fail(call, GRPC_STATUS_UNAVAILABLE, "the cache is not ready: %s",
                      etcd_strerror(rc));
    }
}

/* ---- Health.Check -------------------------------------------------------- */

static void health_answer(health_t *h, void *data)
{
    rpc_call_t *call = data;
    api_t *api = rpc_call_data(call);
    Enjoliver__V1__HealthResponse r = ENJOLIVER__V1__HEALTH_RESPONSE__INIT;
    int is_leader = 0;
    r.etcd = health_etcd_ok(h);
    r.matchbox = health_matchbox_ok(h);
    r.healthy = r.etcd && r.matchbox;
    r.leader = (char *)health_leader(h, &is_leader);
    r.is_leader = is_leader;
    r.replica = api->replica;
    r.version = (char *)ENJ_VERSION;
    r.revision = api_cache_revision(&api->cache);
    rpc_call_reply(call, &r.base);
}

static void health_check_rpc(rpc_call_t *call, const ProtobufCMessage *req, void *data)
{
    (void)req, (void)data;
    api_t *api = data;
    if (health_check(api->health, health_answer, call) != 0)
        rpc_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
}

/* ---- the server ---------------------------------------------------------- */

static bool authorize(const char *authorization, void *data)
{
    return api_admin_token_ok(data, authorization);
}

int api_grpc_start(api_t *api, const api_grpc_config_t *cfg)
{
    rpc_server_config_t rc = {
        .host = cfg->host ? cfg->host : "127.0.0.1",
        .port = (uint16_t)cfg->port,
        .tls_cert_file = cfg->tls_cert_file,
        .tls_key_file = cfg->tls_key_file,
        .authorize = api->admin_token ? authorize : NULL,
        .authorize_data = api,
    };
    if (cfg->port > 65535)
        return -EINVAL;
    int err = rpc_server_new(api->loop, &rc, &api->rpc);
    if (err)
        return err;
    rpc_method_t health = {"/enjoliver.v1.Health/Check", &enjoliver__v1__health_request__descriptor,
                           health_check_rpc, api, .admin = false};
    err = rpc_server_method(api->rpc, &health);
    err = err ? err : api_grpc_machines(api);
    err = err ? err : api_grpc_lifecycle(api);
    err = err ? err : api_grpc_watches(api);
    err = err ? err : api_grpc_backups(api);
    err = err ? err : rpc_server_start(api->rpc);
    if (err) {
        api_grpc_watches_stop(api);
        rpc_server_close(api->rpc, NULL, NULL);
        api->rpc = NULL;
    }
    return err;
}

unsigned api_grpc_port(const api_t *api)
{
    return api->rpc ? rpc_server_port(api->rpc) : 0;
}

void api_grpc_close(api_t *api, void (*done)(void *), void *data)
{
    rpc_server_t *rpc = api->rpc;
    api->rpc = NULL;
    api_grpc_watches_stop(api);
    rpc_server_close(rpc, done, data);
}

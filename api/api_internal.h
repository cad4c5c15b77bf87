/* Shared by the route files of api/; not part of the API's interface. */
#ifndef ENJ_API_INTERNAL_H
#define ENJ_API_INTERNAL_H

#include <stdbool.h>

#include "api/api.h"
#include "api/cache.h"
#include "api/fragments.h"
#include "api/health.h"
#include "api/rpc_server.h"
#include "common/http_client.h"
#include "model/store.h"

/* A GET route answered from the cache once it is fresh enough. */
typedef struct api_read_route_s {
    api_t *api;
    http_handler_fn fn;
} api_read_route_t;

#define API_MAX_READ_ROUTES 48

struct api_s {
    uv_loop_t *loop;
    etcd_client_t *etcd;
    http_server_t *http;
    model_store_t store;
    api_cache_t cache;
    api_read_route_t read_routes[API_MAX_READ_ROUTES];
    size_t n_read_routes;
    int install_lock_seconds;
    int sync_notify_ttl;
    char api_uri[256];
    char matchbox_uri[256];
    char backup_dir[512];
    char replica[256];
    char *admin_token; /* NULL: admin routes are open */
    json_t *config_json;
    http_client_t *matchbox; /* NULL without --matchbox-uri */
    health_t *health;
    char *(*extra_metrics)(void *data);
    void *extra_metrics_data;
    fragments_t *discovery_items; /* GET /discovery's, by uuid */
    fragments_t *available_items; /* GET /scheduler/available's, by uuid */
    rpc_server_t *rpc;            /* the gRPC API; NULL until started */
    struct grpc_hub_s *hub;       /* its watches' fan-out */
    struct gv_packed_s **packed;  /* packed Machine messages (grpc_views.h) */
};

/* Registers GET path, answered by fn through the cache (api/cache.h). */
int api_read_route(api_t *api, const char *path, http_handler_fn fn);

/* Is this "Authorization" value (NULL: none) the admin token's? True
 * when no admin token is configured. */
bool api_admin_token_ok(api_t *api, const char *authorization);

/* True when the request may use an admin route; else answers 401 and
 * returns false. */
bool api_admin_ok(api_t *api, http_request_t *req);

/* Route registration, one function per route file. */
int api_discovery_routes(api_t *api);
int api_machine_write_routes(api_t *api);
int api_install_routes(api_t *api);
int api_view_routes(api_t *api);
int api_ops_routes(api_t *api);
int api_backup_routes(api_t *api);
int api_matchbox_routes(api_t *api);
int api_ui_routes(api_t *api);
int api_rollout_routes(api_t *api);

/*
 * Answers a failed write: etcd unreachable or slow -> 503 with
 * Retry-After; lost races -> 503 with Retry-After; -EEXIST -> 409;
 * -ENOENT -> 404; -EINVAL -> 422; anything else -> 500. The message is
 * the operation's (already escaped where it quotes input).
 */
void api_reply_write_error(http_request_t *req, int err, const char *message);

/* A write of this request landed at `revision`: the cache must show it to
 * the next reads (api may be NULL when already told), and the answer says
 * it (X-Etcd-Revision). */
void api_wrote(api_t *api, http_request_t *req, int64_t revision);

/* {"error", "status"} plus the keys of `extra` (stolen, may be NULL). */
void api_reply_error_with(http_request_t *req, unsigned status, const char *message, json_t *extra);

/* A node's report of the Ignition it runs (POST /lifecycle/ignition/...,
 * Lifecycle.ReportIgnition): matchbox is asked what it serves the node
 * (GET /ignition?<query>), the two are compared, the report recorded. */
typedef enum {
    API_IGNITION_RECORDED,        /* up_to_date, revision */
    API_IGNITION_UNKNOWN_MAC,     /* no machine has the MAC */
    API_IGNITION_NOT_IGNITION,    /* matchbox answered something else */
    API_IGNITION_MATCHBOX_FAILED, /* err: transport error */
    API_IGNITION_WRITE_FAILED,    /* err: the write's */
    API_IGNITION_INTERNAL,
} api_ignition_outcome_t;
typedef struct api_ignition_result_s {
    api_ignition_outcome_t outcome;
    int err;
    const char *message;
    bool up_to_date;
    int64_t revision;
} api_ignition_result_t;
typedef void (*api_ignition_cb)(const api_ignition_result_t *res, void *data);
/* mac: normalised; query: matchbox's query for the node ("mac=..." at
 * least); running is stolen. done runs later, exactly once, unless this
 * returns an error: -ENXIO (no matchbox configured), -ENOMEM, or the
 * HTTP client's. */
int api_ignition_report(api_t *api, const char *mac, const char *query, json_t *running,
                        api_ignition_cb done, void *data);

/* The install authorization (GET /install-authorization/...,
 * Lifecycle.AuthorizeInstall): the token with a TTL, model/install_lock.h. */
typedef struct api_install_result_s {
    int err; /* the write's; then nothing else is set */
    const char *message;
    bool granted;
    const char *holder; /* refused: the holder's raw query */
    int64_t expires_ms; /* granted with a TTL: its length, ms */
    int64_t revision;   /* of the decision's write */
} api_install_result_t;
typedef void (*api_install_cb)(const api_install_result_t *res, void *data);
/* done runs later, exactly once, unless this returns an error. */
int api_install_authorize(api_t *api, const char *mac, const char *query, api_install_cb done,
                          void *data);

/* A backup (POST /backup/db, Backups.Create): an etcd snapshot written
 * atomically into the backup directory, one at a time cluster-wide. */
typedef struct api_backup_result_s {
    int err; /* -EBUSY: another backup runs */
    const char *message;
    const char *path;
    uint64_t size;
    int64_t revision;
    int64_t t0_ms, locked_ms, done_ms;
} api_backup_result_t;
typedef void (*api_backup_cb)(const api_backup_result_t *res, void *data);
/* done runs later, exactly once, unless this returns an error. */
int api_backup_start(api_t *api, api_backup_cb done, void *data);

/* ---- the gRPC API (grpc_*.c) ---- */

/* The status for a negative errno of a write or a read. */
grpc_status_code api_grpc_status(int err);
/* The status message for err: msg when set, else etcd's text of err. */
const char *api_grpc_message(int err, const char *msg);

/* Runs fn(api, call, req) once the cache has reached this replica's last
 * write (read-your-writes, bounded as for HTTP reads); fails the call with
 * UNAVAILABLE when it cannot. */
typedef void (*api_grpc_read_fn)(api_t *api, rpc_call_t *call, const ProtobufCMessage *req);
void api_grpc_fresh(api_t *api, rpc_call_t *call, const ProtobufCMessage *req, api_grpc_read_fn fn);

/* Method registration, one function per file. */
int api_grpc_machines(api_t *api);  /* Machines List/Get, Schedules */
int api_grpc_lifecycle(api_t *api); /* Lifecycle */
int api_grpc_watches(api_t *api);   /* Machines.Watch, Events */
int api_grpc_backups(api_t *api);   /* Backups */
void api_grpc_watches_stop(api_t *api);

#endif

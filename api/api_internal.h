/* Shared by the route files of api/; not part of the API's interface. */
#ifndef ENJ_API_INTERNAL_H
#define ENJ_API_INTERNAL_H

#include <stdbool.h>

#include "api/api.h"
#include "api/cache.h"
#include "api/fragments.h"
#include "api/health.h"
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
    char *admin_token; /* NULL: admin routes are open */
    json_t *config_json;
    http_client_t *matchbox; /* NULL without --matchbox-uri */
    health_t *health;
    char *(*extra_metrics)(void *data);
    void *extra_metrics_data;
    fragments_t *discovery_items; /* GET /discovery's, by uuid */
    fragments_t *available_items; /* GET /scheduler/available's, by uuid */
};

/* Registers GET path, answered by fn through the cache (api/cache.h). */
int api_read_route(api_t *api, const char *path, http_handler_fn fn);

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
 * the next reads, and the answer says it (X-Etcd-Revision). */
void api_wrote(api_t *api, http_request_t *req, int64_t revision);

/* {"error", "status"} plus the keys of `extra` (stolen, may be NULL). */
void api_reply_error_with(http_request_t *req, unsigned status, const char *message, json_t *extra);

#endif

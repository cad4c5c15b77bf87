/* The API object and the answers every route shares. See api.h. */
#include "api/api_internal.h"
#include "api/grpc_views.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/client.h"

/* The elected replica, read from the election keys in the cache (for a
 * replica without a controller, which is never told). */
static void leader_from_election(char *out, size_t size, void *data)
{
    api_t *api = data;
    api_cache_oldest(&api->cache, "election/", out, size);
}

int api_new(uv_loop_t *loop, etcd_client_t *etcd, const api_config_t *cfg, http_server_t *http,
            api_t **out)
{
    if (!loop || !etcd || !http || !out)
        return -EINVAL;
    api_t *api = calloc(1, sizeof(*api));
    if (!api)
        return -ENOMEM;
    api->loop = loop;
    api->etcd = etcd;
    api->http = http;
    api->install_lock_seconds = cfg ? cfg->install_lock_seconds : API_INSTALL_LOCK_DEFAULT;
    api->sync_notify_ttl = cfg ? cfg->sync_notify_ttl : API_SYNC_NOTIFY_TTL_DEFAULT;
    snprintf(api->api_uri, sizeof api->api_uri, "%s",
             cfg && cfg->api_uri ? cfg->api_uri : "http://127.0.0.1:5000");
    snprintf(api->replica, sizeof api->replica, "%s", cfg && cfg->replica ? cfg->replica : "");
    snprintf(api->backup_dir, sizeof api->backup_dir, "%s",
             cfg && cfg->backup_dir ? cfg->backup_dir : "./var/backups");
    snprintf(api->matchbox_uri, sizeof api->matchbox_uri, "%s",
             cfg && cfg->matchbox_uri ? cfg->matchbox_uri : "");
    api->config_json = cfg && cfg->config_json ? json_incref(cfg->config_json) : NULL;
    if (cfg && cfg->admin_token && *cfg->admin_token &&
        !(api->admin_token = strdup(cfg->admin_token))) {
        api_free(api);
        return -ENOMEM;
    }
    int rc = model_store_init(&api->store, etcd, cfg ? cfg->etcd_prefix : NULL);
    if (rc == 0)
        rc = fragments_new(&api->discovery_items);
    if (rc == 0)
        rc = fragments_new(&api->available_items);
    if (rc == 0 && api->matchbox_uri[0])
        rc = http_client_new(loop, NULL, &api->matchbox);
    health_config_t hc = {.matchbox = api->matchbox,
                          .matchbox_uri = api->matchbox_uri,
                          .leader = leader_from_election,
                          .leader_data = api};
    if (rc == 0)
        rc = health_new(loop, etcd, &hc, &api->health);
    if (rc == 0)
        rc = http_server_route(http, "GET", "/healthz", health_handle_healthz, api->health);
    if (rc == 0)
        rc = api_matchbox_routes(api);
    if (rc == 0)
        rc = api_ui_routes(api);
    if (rc == 0)
        rc = api_rollout_routes(api);
    if (rc == 0)
        rc = api_discovery_routes(api);
    if (rc == 0)
        rc = api_machine_write_routes(api);
    if (rc == 0)
        rc = api_install_routes(api);
    if (rc == 0)
        rc = api_view_routes(api);
    if (rc == 0)
        rc = api_ops_routes(api);
    if (rc == 0)
        rc = api_backup_routes(api);
    if (rc == 0)
        rc = api_cache_start(&api->cache, etcd, api->store.prefix);
    /* Writes plan from the cache first; etcd is read only when it is stale. */
    api->store.peek = api_cache_peek;
    api->store.batch_max = 32; /* concurrent writes share Txns (store.h) */
    api->store.peek_data = &api->cache;
    if (rc) {
        api_free(api);
        return rc;
    }
    *out = api;
    return 0;
}

struct api_cache_s *api_cache(api_t *api)
{
    return &api->cache;
}

void api_set_leadership(api_t *api, const char *leader, int is_leader)
{
    health_set_leadership(api->health, leader, is_leader);
}

void api_set_extra_metrics(api_t *api, char *(*fn)(void *data), void *data)
{
    api->extra_metrics = fn;
    api->extra_metrics_data = data;
}

void api_stop(api_t *api)
{
    if (!api)
        return;
    model_store_close(&api->store);
    api_cache_stop(&api->cache);
    if (api->matchbox) /* pending proxies and probes answer 503 */
        http_client_close(api->matchbox, NULL, NULL);
    api->matchbox = NULL;
}

void api_free(api_t *api)
{
    if (!api)
        return;
    model_store_close(&api->store);
    api_cache_stop(&api->cache);
    if (api->matchbox)
        http_client_close(api->matchbox, NULL, NULL);
    health_free(api->health);
    gv_packed_free(api); /* reads that waited past the gRPC API's close */
    fragments_free(api->discovery_items);
    fragments_free(api->available_items);
    json_decref(api->config_json);
    free(api->admin_token);
    free(api);
}

static void through_cache(http_request_t *req, void *data)
{
    api_read_route_t *r = data;
    api_cache_read(&r->api->cache, req, r->fn, r->api);
}

int api_read_route(api_t *api, const char *path, http_handler_fn fn)
{
    if (api->n_read_routes == API_MAX_READ_ROUTES)
        return -ENOSPC;
    api_read_route_t *r = &api->read_routes[api->n_read_routes++];
    *r = (api_read_route_t){api, fn};
    return http_server_route(api->http, "GET", path, through_cache, r);
}

/* Compares in time independent of where the first difference is. */
static bool same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;
    for (size_t i = 0; i < lb; i++)
        diff |= (unsigned char)(a[i % (la ? la : 1)] ^ b[i]);
    return diff == 0;
}

bool api_admin_token_ok(api_t *api, const char *authorization)
{
    return !api->admin_token || (authorization && strncmp(authorization, "Bearer ", 7) == 0 &&
                                 same_secret(authorization + 7, api->admin_token));
}

bool api_admin_ok(api_t *api, http_request_t *req)
{
    if (!api->admin_token)
        return true;
    const char *h = http_request_header(req, "Authorization");
    if (api_admin_token_ok(api, h))
        return true;
    http_request_add_header(req, "WWW-Authenticate", "Bearer realm=\"enjoliver\"");
    http_request_respond_error(req, 401,
                               h ? "the bearer token is not the admin token"
                                 : "this route needs Authorization: Bearer <admin token>");
    return false;
}

void api_wrote(api_t *api, http_request_t *req, int64_t revision)
{
    char rev[32];
    if (api)
        api_cache_wrote(&api->cache, revision);
    snprintf(rev, sizeof rev, "%lld", (long long)revision);
    http_request_add_header(req, "X-Etcd-Revision", rev);
}

void api_reply_error_with(http_request_t *req, unsigned status, const char *message, json_t *extra)
{
    json_t *body = extra ? extra : json_object();
    json_object_set_new(body, "error", json_string(message));
    json_object_set_new(body, "status", json_integer(status));
    http_request_respond_json(req, status, body);
}

void api_reply_write_error(http_request_t *req, int err, const char *message)
{
    unsigned status;
    switch (err) {
    case -ENOTCONN:
    case -ETIMEDOUT:
    case -ECANCELED:
    case -EAGAIN:
        status = 503;
        http_request_add_header(req, "Retry-After", "1");
        break;
    case -EEXIST:
        status = 409;
        break;
    case -ENOENT:
        status = 404;
        break;
    case -EINVAL:
        status = 422;
        break;
    default:
        status = 500;
    }
    if (!message || !*message)
        message = etcd_strerror(err);
    http_request_respond_error(req, status, message);
}

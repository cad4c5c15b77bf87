/*
 * The Enjoliver API: the original's HTTP routes (spec section 3) on an
 * http_server_t, backed by etcd through the domain's transactions.
 *
 *     api_new(loop, etcd, &cfg, http, &api);   // registers every route
 *     ... http_server_start(http, ...) ...
 *     ... on shutdown: api_stop(api) (the cache lets go of etcd; reads
 *         waiting for it answer 503), close the etcd client (pending writes
 *         answer 503), http_server_close(), then api_free(api).
 *
 * Loop thread only.
 */
#ifndef ENJ_API_H
#define ENJ_API_H

#include <jansson.h>
#include <uv.h>

#include "api/http_server.h"
#include "etcd/client.h"

typedef struct api_s api_t;

#define API_INSTALL_LOCK_DEFAULT 45
#define API_SYNC_NOTIFY_TTL_DEFAULT 60

typedef struct api_config_s {
    const char *etcd_prefix; /* NULL = "/enjoliver/" */
    /* TTL of the install token (coreos_install_lock_seconds); <= 0 disables
     * it. Use API_INSTALL_LOCK_DEFAULT for the original's default. */
    int install_lock_seconds;
    /* Lifetime of the sync flag (POST /sync-notify), s; <= 0 = for ever. */
    int sync_notify_ttl;
    /* The public URL of the API (iPXE script, profiles); NULL =
     * "http://127.0.0.1:5000". */
    const char *api_uri;
    /* matchbox's URL ("http://host:port"); NULL or "" = no matchbox. */
    const char *matchbox_uri;
    /* Where POST /backup/db writes snapshots (must exist); NULL =
     * "./var/backups". */
    const char *backup_dir;
    /* When set, admin routes (POST /scheduler, POST and DELETE
     * /lifecycle/rolling/..., POST /backup/db) need
     * "Authorization: Bearer <token>". Copied. */
    const char *admin_token;
    /* This replica's name (Health.Check); NULL = "". Copied. */
    const char *replica;
    /* What GET /configs shows (secrets already redacted); borrowed ref. */
    json_t *config_json;
} api_config_t;

/* Registers the routes on http (before it starts). The client and the
 * server are borrowed. 0, -EINVAL (bad prefix), -ENOMEM. */
int api_new(uv_loop_t *loop, etcd_client_t *etcd, const api_config_t *cfg, http_server_t *http,
            api_t **out);

/* The cache of the whole prefix (api/cache.h), for the controller. */
struct api_cache_s;
struct api_cache_s *api_cache(api_t *api);

/* Leadership as /healthz shows it ("leader", "is_leader"). */
void api_set_leadership(api_t *api, const char *leader, int is_leader);

/* More Prometheus text for /metrics (the controller's); fn returns a
 * malloc'ed string or NULL. */
void api_set_extra_metrics(api_t *api, char *(*fn)(void *data), void *data);

/* The gRPC API (proto/enjoliver/v1/enjoliver.proto) on the same loop. */
typedef struct api_grpc_config_s {
    const char *host;                         /* NULL = "127.0.0.1" */
    unsigned port;                            /* 0 = any free port (api_grpc_port() tells) */
    const char *tls_cert_file, *tls_key_file; /* PEM; both or neither */
} api_grpc_config_t;
/* 0, -EADDRINUSE, -EINVAL (TLS files), -ENOMEM. */
int api_grpc_start(api_t *api, const api_grpc_config_t *cfg);
unsigned api_grpc_port(const api_t *api);
/* Ends every call (watches get UNAVAILABLE) and stops listening; done runs
 * once gRPC let go of everything. Before api_stop(). */
void api_grpc_close(api_t *api, void (*done)(void *), void *data);

/* Stops reading etcd; call before the client closes. */
void api_stop(api_t *api);

void api_free(api_t *api);

#endif

/*
 * enjoliverd, minimal for now: flags, a supervised local etcd (or external
 * endpoints), the etcd client, and the HTTP server with GET /healthz; all
 * state is owned by one libuv loop. SIGINT/SIGTERM stop it in order: HTTP
 * refuses new requests, the etcd client closes (pending probes are answered),
 * HTTP stops, the local etcd stops; exit 0.
 */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "config.h"
#include "etcd/client.h"
#include "api/api.h"
#include "common/http_client.h"
#include "controller.h"
#include "api/http_server.h"
#include "local_etcd.h"
#include "common/log.h"

typedef struct app_s {
    uv_loop_t loop;
    config_t cfg;
    uv_signal_t sigint;
    uv_signal_t sigterm;
    uv_signal_t sighup;
    int argc;
    char **argv;
    local_etcd_t *etcd;
    etcd_client_t *client;
    http_server_t *http;
    api_t *api;
    controller_t *controller;
    int stopping;
    int grpc_open; /* the gRPC server still holds calls or its port */
    int http_closed;
    int exit_code;
} app_t;

static void on_signal_closed(uv_handle_t *h)
{
    (void)h;
}

static void on_etcd_stopped(void *data)
{
    app_t *app = data;
    app->etcd = NULL;
    uv_close((uv_handle_t *)&app->sigint, on_signal_closed);
    uv_close((uv_handle_t *)&app->sigterm, on_signal_closed);
    uv_close((uv_handle_t *)&app->sighup, on_signal_closed);
}

/* The HTTP server and the gRPC server are both closed: free the rest. */
static void on_servers_closed(app_t *app)
{
    if (app->grpc_open || !app->http_closed)
        return;
    controller_free(app->controller);
    app->controller = NULL;
    api_free(app->api);
    app->api = NULL;
    if (app->etcd != NULL) {
        local_etcd_stop(app->etcd, on_etcd_stopped, app);
    } else {
        on_etcd_stopped(app);
    }
}

static void on_http_closed(void *data)
{
    app_t *app = data;
    app->http = NULL;
    app->http_closed = 1;
    on_servers_closed(app);
}

static void on_grpc_closed(void *data)
{
    app_t *app = data;
    app->grpc_open = 0;
    on_servers_closed(app);
}

static void on_client_closed(void *data)
{
    app_t *app = data;
    app->client = NULL;
    /* Every probe has completed (with -ECANCELED at worst). */
    if (app->http != NULL) {
        http_server_close(app->http, on_http_closed, app);
    } else {
        on_http_closed(app);
    }
}

static void app_stop_client(void *data)
{
    app_t *app = data;
    api_stop(app->api);
    if (app->client != NULL) {
        etcd_client_close(app->client, on_client_closed, app);
    } else {
        on_client_closed(app);
    }
}

static void app_stop(app_t *app, const char *why)
{
    if (app->stopping) {
        if (app->etcd != NULL) {
            local_etcd_kill_now(app->etcd);
        }
        return;
    }
    app->stopping = 1;
    log_info("stopping", "reason=%s", why);
    if (app->http != NULL) {
        http_server_shutdown(app->http);
    }
    /* Watches end now (UNAVAILABLE: their clients resume on another
     * replica); calls in flight finish as their etcd requests do. */
    if (app->grpc_open)
        api_grpc_close(app->api, on_grpc_closed, app);
    /* Hand the leadership over first: another replica leads at once. */
    if (app->controller != NULL) {
        controller_resign(app->controller, app_stop_client, app);
    } else {
        app_stop_client(app);
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    app_t *app = h->data;
    app_stop(app, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/* SIGHUP: read the configuration again (file, environment, flags). What
 * can change live does (log level and format); the rest needs a restart,
 * and a configuration that does not parse changes nothing. */
static void on_sighup(uv_signal_t *h, int signum)
{
    app_t *app = h->data;
    (void)signum;
    config_t fresh;
    int rc = config_parse(app->argc, app->argv, &fresh, stdout, stderr);
    if (rc != CONFIG_OK) {
        log_error("SIGHUP: the configuration does not parse; nothing changed", "rc=%d", rc);
        config_free(&fresh);
        return;
    }
    log_set_level(fresh.log_level);
    log_set_format(fresh.log_format == CONFIG_LOG_JSON ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT);
    app->cfg.log_level = fresh.log_level;
    app->cfg.log_format = fresh.log_format;
    log_info("SIGHUP: configuration reloaded", "log_level=%s applied=%s",
             log_level_name(fresh.log_level), "\"log level and format; other keys at restart\"");
    config_free(&fresh);
}

static void on_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    log_error("handle still open at exit", "type=%s active=%d", uv_handle_type_name(h->type),
              uv_is_active(h));
}

/* mkdir -p */
static int make_dirs(const char *path)
{
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0750) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0750) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int app_start(app_t *app)
{
    const char *local_endpoint[1];
    const char *const *endpoints = (const char *const *)app->cfg.etcd_endpoints.v;
    size_t n_endpoints = app->cfg.etcd_endpoints.n;
    char q[512], qerr[128];

    if (n_endpoints == 0) {
        local_etcd_config_t lc = {
            .etcd_bin = app->cfg.etcd_bin,
            .data_dir = app->cfg.data_dir,
            .client_port = app->cfg.local_etcd_client_port,
            .peer_port = app->cfg.local_etcd_peer_port,
        };
        int rc = local_etcd_start(&app->loop, &lc, &app->etcd);
        if (rc != 0) {
            return rc;
        }
        local_endpoint[0] = local_etcd_endpoint(app->etcd);
        endpoints = local_endpoint;
        n_endpoints = 1;
    }

    etcd_config_t ec = {.endpoints = endpoints,
                        .n_endpoints = n_endpoints,
                        .ca_file = app->cfg.etcd_cacert,
                        .cert_file = app->cfg.etcd_cert,
                        .key_file = app->cfg.etcd_key};
    int rc = etcd_client_new(&app->loop, &ec, &app->client);
    if (rc != 0) {
        app->client = NULL;
        log_error("cannot create the etcd client", "endpoint=%s error=%s",
                  log_quote(endpoints[0], q, sizeof q),
                  log_quote(etcd_strerror(rc), qerr, sizeof qerr));
        return rc;
    }
    rc = http_server_new(&app->loop, &app->http);
    if (rc != 0) {
        return rc;
    }
    rc = make_dirs(app->cfg.backup_dir);
    if (rc != 0) {
        log_error("cannot create the backup directory", "dir=%s error=%s",
                  log_quote(app->cfg.backup_dir, q, sizeof q), strerror(-rc));
        return rc;
    }
    if (!app->cfg.admin_token)
        log_warn("no admin token: admin routes are open to anyone who reaches the API", "hint=%s",
                 "\"--admin-token-file or ENJOLIVER_ADMIN_TOKEN\"");
    json_t *shown = config_to_json(&app->cfg);
    api_config_t ac = {.etcd_prefix = app->cfg.etcd_prefix,
                       .replica = app->cfg.name,
                       .install_lock_seconds = app->cfg.install_lock_seconds,
                       .sync_notify_ttl = app->cfg.sync_notify_ttl,
                       .api_uri = app->cfg.api_uri,
                       .matchbox_uri = app->cfg.matchbox_uri,
                       .admin_token = app->cfg.admin_token,
                       .backup_dir = app->cfg.backup_dir,
                       .config_json = shown};
    rc = api_new(&app->loop, app->client, &ac, app->http, &app->api);
    json_decref(shown);
    if (rc != 0) {
        log_error("cannot set up the API", "error=%d", rc);
        return rc;
    }
    controller_config_t cc = {
        .prefix = app->cfg.etcd_prefix,
        .name = app->cfg.name,
        .lease_ttl = app->cfg.lease_ttl,
        .expected_cp = (unsigned)app->cfg.etcd_member_kubernetes_control_plane_expected_nb,
        .config = &app->cfg,
    };
    rc = app->cfg.reconcile
             ? controller_start(&app->loop, app->client, app->api, &cc, &app->controller)
             : 0;
    if (rc != 0) {
        log_error("cannot start the controller", "error=%d", rc);
        return rc;
    }
    api_grpc_config_t gc = {.host = app->cfg.listen_grpc.host,
                            .port = (unsigned)app->cfg.listen_grpc.port,
                            .tls_cert_file = app->cfg.grpc_tls_cert,
                            .tls_key_file = app->cfg.grpc_tls_key};
    rc = api_grpc_start(app->api, &gc);
    if (rc != 0) {
        log_error("cannot start the gRPC API", "address=%s:%d error=%s",
                  log_quote(app->cfg.listen_grpc.host, q, sizeof q), app->cfg.listen_grpc.port,
                  rc == -EINVAL ? "\"bad TLS certificate or key (see above)\""
                                : log_quote(strerror(-rc), qerr, sizeof qerr));
        return rc;
    }
    app->grpc_open = 1;
    http_server_config_t hc = {.host = app->cfg.listen_http.host,
                               .port = (uint16_t)app->cfg.listen_http.port};
    rc = http_server_start(app->http, &hc);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < n_endpoints; i++) {
        log_info("etcd endpoint", "index=%zu endpoint=%s local=%d", i,
                 log_quote(endpoints[i], q, sizeof q), app->etcd != NULL);
    }
    log_info("enjoliverd started", "version=%s http_port=%u grpc_port=%u", ENJ_VERSION,
             (unsigned)http_server_port(app->http), api_grpc_port(app->api));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], LOCAL_ETCD_EXEC_FLAG) == 0) {
        return local_etcd_exec_main(argc, argv);
    }

    app_t app;
    memset(&app, 0, sizeof app);
    int rc = config_parse(argc, argv, &app.cfg, stdout, stderr);
    if (rc != CONFIG_OK) {
        config_free(&app.cfg);
        if (rc == CONFIG_HELP) {
            return 0;
        }
        if (rc < 0) {
            fprintf(stderr, "enjoliverd: %s\n", strerror(-rc));
            return 1;
        }
        return 2;
    }
    log_set_level(app.cfg.log_level);
    log_set_format(app.cfg.log_format == CONFIG_LOG_JSON ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT);
    app.argc = argc;
    app.argv = argv;
    signal(SIGPIPE, SIG_IGN);
    /* Seed jansson's hash function and set libcurl up before any thread
     * exists. */
    json_object_seed(0);
    if (http_client_global_init() != 0) {
        log_error("cannot initialise libcurl", "%s", "");
        config_free(&app.cfg);
        return 1;
    }

    rc = uv_loop_init(&app.loop);
    if (rc != 0) {
        log_error("uv_loop_init failed", "error=\"%s\"", uv_strerror(rc));
        config_free(&app.cfg);
        return 1;
    }
    uv_signal_init(&app.loop, &app.sigint);
    uv_signal_init(&app.loop, &app.sigterm);
    app.sigint.data = &app;
    app.sigterm.data = &app;
    uv_signal_start(&app.sigint, on_signal, SIGINT);
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);
    uv_signal_init(&app.loop, &app.sighup);
    app.sighup.data = &app;
    uv_signal_start(&app.sighup, on_sighup, SIGHUP);

    rc = app_start(&app);
    if (rc != 0) {
        app.exit_code = 1;
        app_stop(&app, "start-up failed");
    }
    uv_run(&app.loop, UV_RUN_DEFAULT);

    if (uv_loop_close(&app.loop) != 0) {
        uv_walk(&app.loop, on_walk, NULL);
        app.exit_code = 1;
    }
    log_info("enjoliverd exited", "exit_code=%d", app.exit_code);
    config_free(&app.cfg);
    return app.exit_code;
}

/*
 * enjoliverd's configuration: one table of keys (config.c, `keys[]`), each
 * with a type, a default, an environment variable and, for some, a flag.
 *
 * Precedence, lowest first:
 *
 *     defaults  <  YAML file  <  environment  <  flags
 *
 * - defaults: the original's shipped app/configs.yaml (spec section 2), one
 *   table, so code and YAML can no longer disagree (quirk 19);
 * - YAML file: --config PATH, else $ENJOLIVER_CONFIGS_YAML when set and not
 *   empty; no file = defaults. The original's keys (and this daemon's own,
 *   e.g. data_dir, listen_http); the original's keys that mean nothing here
 *   (gunicorn_*, db_*, aws_*, backup_bucket_*, ...) are accepted and ignored;
 *   any other key is a warning naming the closest known key;
 * - environment: ENJOLIVER_<KEY in upper case> for every key, typed: ints,
 *   bools (true/false/yes/no/1/0, any case), lists and dicts in YAML flow
 *   syntax (ENJOLIVER_ETC_HOSTS='["172.20.0.1 enjoliver.local"]',
 *   ENJOLIVER_EXTRA_SELECTORS='{os: installed}'); strings as they are;
 * - flags: "--flag=value" or "--flag value"; config_usage() lists them.
 *
 * A bad value anywhere (even one a later source overrides) is an error that
 * names the key, where the value came from ("file:line", "$ENJOLIVER_X" or
 * "--flag") and what was expected: config_parse() returns CONFIG_INVALID and
 * enjoliverd exits 2.
 *
 * SIGHUP reload (not implemented yet) is meant to go like this: keep argv
 * (and the environment) of the start, call config_parse_env() again into a
 * fresh config_t (an error keeps the running one), then walk the key table:
 * each entry knows its field (offset and type) and whether a change needs a
 * restart (CONFIG_KEY_RESTART: etcd endpoints and TLS, prefix, listen
 * addresses, name, local etcd...). Keys without it are moved from the fresh
 * struct into the running one (a swap of the field, generic per type like
 * config_free()'s loop, with its `sources` entry), then whoever caches them is
 * told (e.g. the API's copies); the others are compared and a change is
 * logged as "needs a restart". Nothing in config_t points into another field,
 * so moving one field never invalidates another. The loop owns the struct, so
 * the reload runs on it (uv_signal_t for SIGHUP).
 */
#ifndef ENJ_CONFIG_H
#define ENJ_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/log.h"

/* A list of strings (YAML sequence). */
typedef struct config_strlist_s {
    char **v;
    size_t n;
} config_strlist_t;

/* A dict of strings, in the order given. */
typedef struct config_strdict_s {
    char **keys;
    char **values;
    size_t n;
} config_strdict_t;

/* A dict of ints, in the order given. */
typedef struct config_intdict_s {
    char **keys;
    int *values;
    size_t n;
} config_intdict_t;

/* HOST:PORT; host is an IPv4 or IPv6 literal ("localhost" = 127.0.0.1). */
typedef struct config_addr_s {
    char *host;
    int port; /* 0 = any free port */
} config_addr_t;

typedef enum {
    CONFIG_LOG_TEXT = 0,
    CONFIG_LOG_JSON = 1,
} config_log_format_t;

/* Where a value came from. */
typedef enum {
    CONFIG_SRC_DEFAULT = 0,
    CONFIG_SRC_YAML = 1,
    CONFIG_SRC_ENV = 2,
    CONFIG_SRC_FLAG = 3,
} config_src_kind_t;

typedef struct config_source_s {
    config_src_kind_t kind;
    int line;         /* YAML: 1-based line of the value */
    const char *flag; /* FLAG: the flag as spelled (static string) */
} config_source_t;

/* The number of keys in the table (config.c checks it). */
#define CONFIG_N_KEYS 70

typedef struct config_s {
    /* ---- this daemon's own keys (YAML/env too) ---------------------------- */
    /* etcd_endpoints (--etcd-endpoints): empty = start and supervise a local
     * etcd. */
    config_strlist_t etcd_endpoints;
    /* etcd_cacert, etcd_cert, etcd_key: PEM files, NULL = none; checked
     * readable at parse time. Stored only for now. */
    char *etcd_cacert;
    char *etcd_cert;
    char *etcd_key;
    /* etcd_prefix (--etcd-prefix, --prefix): every key of Enjoliver's state
     * lives under it; ends with '/'. */
    char *etcd_prefix;
    /* data_dir: the local etcd's data directory (no trailing '/'). */
    char *data_dir;
    /* local_etcd_client_port, local_etcd_peer_port, etcd_bin */
    int local_etcd_client_port;
    int local_etcd_peer_port;
    char *etcd_bin;
    /* listen_http (the HTTP API), listen_grpc (the gRPC API). */
    config_addr_t listen_http;
    config_addr_t listen_grpc;
    /* grpc_tls_cert, grpc_tls_key: PEM files; both or neither (NULL). */
    char *grpc_tls_cert;
    char *grpc_tls_key;
    /* name (--name): the replica id; default the hostname. */
    char *name;
    /* lease_ttl (--lease-ttl): TTL of the session lease, s (1..60). */
    int lease_ttl;
    /* reconcile (--reconcile): false = never campaign, serve the API only. */
    bool reconcile;
    /* logging_level (--log-level), log_format (--log-format; stored only). */
    log_level_t log_level;
    config_log_format_t log_format;
    /* backup_dir: where POST /backup/db writes etcd snapshots. */
    char *backup_dir;
    /* admin_token_file (--admin-token-file) and admin_token
     * ($ENJOLIVER_ADMIN_TOKEN): the one of higher precedence wins (the file
     * at equal precedence); admin_token is the effective token, NULL = admin
     * routes are open. Secret: never printed. */
    char *admin_token_file;
    char *admin_token;

    /* ---- the original's keys (spec section 2) ----------------------------- */
    char *api_uri;         /* --api-uri */
    char *matchbox_uri;    /* --matchbox-uri; NULL = no matchbox */
    char *matchbox_path;   /* --matchbox-path */
    char *matchbox_assets; /* default <matchbox_path>/assets */
    config_strlist_t matchbox_urls;
    char *assets_server_uri; /* NULL = api_uri */
    char *kernel;
    char *initrd;
    int etcd_member_kubernetes_control_plane_expected_nb; /* odd, >= 1 */
    config_strdict_t extra_selectors;
    struct {
        char *discovery;
        char *etcd_member_kubernetes_control_plane;
        char *kubernetes_nodes;
    } ignition_dict;
    int sync_notify_ttl;      /* --sync-notify-ttl; 0 = for ever */
    int install_lock_seconds; /* coreos_install_lock_seconds,
                                 --install-lock-seconds; 0 disables */
    int sub_ips;
    int range_nb_ips;
    int skip_ips;
    char *perennial_local_host_ip;
    int kubernetes_apiserver_insecure_port;
    char *kubernetes_apiserver_insecure_bind_address;
    char *kubernetes_service_cluster_ip_range;
    int kubelet_healthz_port;
    int vault_port;
    char *kubernetes_etcd_data_dir;
    int kubernetes_etcd_client_port;
    int kubernetes_etcd_peer_port;
    char *vault_etcd_data_dir;
    int vault_etcd_client_port;
    int vault_etcd_peer_port;
    char *fleet_etcd_data_dir;
    int fleet_etcd_client_port;
    int fleet_etcd_peer_port;
    char *hyperkube_image_url;
    char *cephtools_image_url;
    char *lldp_image_url; /* "" = no lldpd in discovery */
    config_strlist_t etc_hosts;
    config_strlist_t nameservers;
    config_strlist_t ntp;
    config_strlist_t fallbackntp;
    int vault_polling_sec;
    int lifecycle_update_polling_sec;
    config_intdict_t disks_ladder_gb;
    char *coreos_install_base_url;
    bool discovery_fqdn_verify;
    bool sync_replace_ip_by_fqdn;
    /* The rolling-update policy: slots at once, per rack/group (0 = no
     * limit), the pause after a release, the longest hold before a slot is
     * reclaimed (0 = never), and the maintenance window ("always" or e.g.
     * "Mon-Fri 02:00 4h UTC+01:00"). */
    int rollout_max_unavailable;
    int rollout_max_unavailable_per_group;
    int rollout_settle_seconds;
    int rollout_max_hold_seconds;
    char *rollout_window;

    /* ---- bookkeeping ------------------------------------------------------- */
    char *config_file;                      /* the YAML file read, NULL = none */
    config_strlist_t ignored_keys;          /* accepted-and-ignored keys that were set */
    config_source_t sources[CONFIG_N_KEYS]; /* in key table order */
} config_t;

enum {
    CONFIG_OK = 0,
    CONFIG_HELP = 1,    /* --help or --version was printed: exit 0 */
    CONFIG_INVALID = 2, /* the error was printed: exit 2 */
};

/* Restart-only keys (see the reload note above). */
#define CONFIG_KEY_RESTART 0x1

/*
 * Builds cfg from the defaults, the YAML file, the environment envp (NULL-
 * terminated "NAME=value" strings) and argv, in that order. Errors and
 * warnings go to `err`, --help and --version to `out`. Returns CONFIG_*, or
 * -ENOMEM. Free with config_free() in every case.
 */
int config_parse_env(int argc, char **argv, char *const *envp, config_t *cfg, FILE *out, FILE *err);
/* config_parse_env() with the process environment. */
int config_parse(int argc, char **argv, config_t *cfg, FILE *out, FILE *err);
void config_free(config_t *cfg);
void config_usage(FILE *f);

/*
 * What GET /configs shows: every key with its effective value, plus
 * "from_yaml", "from_env", "from_flags" and "default" (each key in the one
 * it came from), "sources" (key -> "default", "FILE:LINE", "$ENJOLIVER_X" or
 * "--flag"), "config_file" and "ignored_keys". The admin token is
 * "<redacted>" everywhere (null when unset).
 */
json_t *config_to_json(const config_t *cfg);

/* The key table, for tests and tools: index of a key (-1 if unknown), its
 * name, and where its value came from as text (as in "sources"). */
int config_key_index(const char *key);
const char *config_key_name(int index);
const char *config_source_text(const config_t *cfg, const char *key, char *buf, size_t len);

#endif

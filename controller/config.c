/* enjoliverd's configuration: see config.h. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#ifndef ENJ_VERSION
#define ENJ_VERSION "0.0.0"
#endif

extern char **environ;

#define ENV_PREFIX "ENJOLIVER_"
#define ENV_CONFIGS_YAML "ENJOLIVER_CONFIGS_YAML"
#define REDACTED "<redacted>"

/* ---- the key table ------------------------------------------------------ */

typedef enum {
    T_STR,       /* char *; check V_* */
    T_INT,       /* int in min..max */
    T_BOOL,      /* bool */
    T_LIST,      /* config_strlist_t; items checked with V_* */
    T_DICT,      /* config_strdict_t */
    T_IDICT,     /* config_intdict_t; values in min..max */
    T_IGNITION,  /* cfg->ignition_dict */
    T_ENDPOINTS, /* config_strlist_t of etcd endpoints */
    T_ADDR,      /* config_addr_t */
    T_LOGLEVEL,  /* log_level_t */
    T_LOGFORMAT, /* config_log_format_t */
} ktype_t;

/* Checks of strings (and of list items). */
enum {
    V_ANY = 0,
    V_NONEMPTY,
    V_URL,     /* http(s)://..., <= 200 bytes, no trailing '/' */
    V_URL_ANY, /* http(s)://... */
    V_URLPATH, /* /... */
    V_PREFIX,  /* 1..100 bytes ending with '/' */
    V_IP,      /* IPv4 or IPv6 literal */
    V_IPV4,
    V_CIDR,  /* IPv4 or IPv6 network/len */
    V_FILE,  /* non-empty; readable (checked once every source is in) */
    V_NAME,  /* replica name */
    V_TOKEN, /* >= 16 characters */
    V_WORD,  /* non-empty, no blanks (space-joined in metadata) */
};

/* Key flags (CONFIG_KEY_RESTART is 0x1). */
#define K_NULLABLE 0x100 /* null (YAML) or "" (env, flag) unsets it */
#define K_SECRET 0x200   /* never printed */
#define K_ODD 0x400      /* ints: odd */

typedef struct kdef_s {
    const char *name;
    ktype_t type;
    size_t off;
    /* The default, as YAML text (flow syntax for lists and dicts); NULL =
     * none, or derived (def_doc says how). */
    const char *def;
    int flags;
    int check;
    long min, max;
    /* The flag (NULL = none), an alias, its metavariable and its help. */
    const char *flag, *alias, *metavar, *help;
    const char *def_doc; /* the default as --help shows it, if not def */
} kdef_t;

#define OFF(f) offsetof(config_t, f)
#define RESTART CONFIG_KEY_RESTART
#define PORT(key, d, r)                                                                            \
    {                                                                                              \
        .name = #key, .type = T_INT, .off = OFF(key), .def = d, .flags = r, .min = 1, .max = 65535 \
    }
#define STRK(key, d, c)                                                                            \
    {                                                                                              \
        .name = #key, .type = T_STR, .off = OFF(key), .def = d, .check = c                         \
    }
#define INTK(key, d, lo, hi)                                                                       \
    {                                                                                              \
        .name = #key, .type = T_INT, .off = OFF(key), .def = d, .min = lo, .max = hi               \
    }

/*
 * Every key, in the order --help and GET /configs list them. The defaults of
 * the original's keys are the values of its shipped app/configs.yaml (spec
 * section 2, the YAML column; the code's defaults where the YAML has none),
 * which also fixes the code's vault etcd ports (= fleet's) and its ntp lists
 * without commas (quirk 19). Two exceptions keep enjoliverd's behaviour from
 * before the file: matchbox_uri has no default (the YAML says
 * http://127.0.0.1:8080; without matchbox /healthz would fail) and
 * logging_level is info (the YAML says DEBUG).
 */
static const kdef_t keys[] = {
    /* ---- this daemon's own keys ---- */
    {.name = "etcd_endpoints",
     .type = T_ENDPOINTS,
     .off = OFF(etcd_endpoints),
     .flags = RESTART | K_NULLABLE,
     .flag = "--etcd-endpoints",
     .metavar = "LIST",
     .help = "comma-separated etcd client endpoints,\n"
             "host:port or http(s)://host:port, tried in\n"
             "order (YAML, env: a list or the same string)",
     .def_doc = "none: start and supervise a local etcd"},
    {.name = "etcd_cacert",
     .type = T_STR,
     .off = OFF(etcd_cacert),
     .flags = RESTART | K_NULLABLE,
     .check = V_FILE,
     .flag = "--etcd-cacert",
     .metavar = "PATH",
     .help = "PEM CA bundle to verify etcd (readable)",
     .def_doc = "none"},
    {.name = "etcd_cert",
     .type = T_STR,
     .off = OFF(etcd_cert),
     .flags = RESTART | K_NULLABLE,
     .check = V_FILE,
     .flag = "--etcd-cert",
     .metavar = "PATH",
     .help = "PEM client certificate for etcd; needs\n"
             "--etcd-key",
     .def_doc = "none"},
    {.name = "etcd_key",
     .type = T_STR,
     .off = OFF(etcd_key),
     .flags = RESTART | K_NULLABLE,
     .check = V_FILE,
     .flag = "--etcd-key",
     .metavar = "PATH",
     .help = "PEM private key of --etcd-cert",
     .def_doc = "none"},
    {.name = "etcd_prefix",
     .type = T_STR,
     .off = OFF(etcd_prefix),
     .def = "/enjoliver/",
     .flags = RESTART,
     .check = V_PREFIX,
     .flag = "--etcd-prefix",
     .alias = "--prefix",
     .metavar = "PREFIX",
     .help = "etcd key prefix of all Enjoliver state,\n"
             "ending with '/'"},
    {.name = "data_dir",
     .type = T_STR,
     .off = OFF(data_dir),
     .def = "./var/etcd",
     .flags = RESTART,
     .check = V_NONEMPTY,
     .flag = "--data-dir",
     .metavar = "DIR",
     .help = "data directory of the local etcd; its log\n"
             "goes to DIR.log"},
    {.name = "local_etcd_client_port",
     .type = T_INT,
     .off = OFF(local_etcd_client_port),
     .def = "2379",
     .flags = RESTART,
     .min = 1,
     .max = 65535,
     .flag = "--local-etcd-client-port",
     .metavar = "N",
     .help = "client port of the local etcd on 127.0.0.1"},
    {.name = "local_etcd_peer_port",
     .type = T_INT,
     .off = OFF(local_etcd_peer_port),
     .def = "2380",
     .flags = RESTART,
     .min = 1,
     .max = 65535,
     .flag = "--local-etcd-peer-port",
     .metavar = "N",
     .help = "peer port of the local etcd on 127.0.0.1"},
    {.name = "etcd_bin",
     .type = T_STR,
     .off = OFF(etcd_bin),
     .def = "/usr/bin/etcd",
     .flags = RESTART,
     .check = V_NONEMPTY,
     .flag = "--etcd-bin",
     .metavar = "PATH",
     .help = "etcd binary for the local etcd"},
    {.name = "listen_http",
     .type = T_ADDR,
     .off = OFF(listen_http),
     .def = "127.0.0.1:5000",
     .flags = RESTART,
     .flag = "--listen-http",
     .metavar = "HOST:PORT",
     .help = "address of the HTTP API; IPv4, [IPv6] or\n"
             "localhost; port 0 = any free port (logged)"},
    {.name = "listen_grpc",
     .type = T_ADDR,
     .off = OFF(listen_grpc),
     .def = "127.0.0.1:5001",
     .flags = RESTART,
     .flag = "--listen-grpc",
     .metavar = "HOST:PORT",
     .help = "address of the gRPC API (enjoliverctl, agents);\n"
             "port 0 = any free port (logged)"},
    {.name = "grpc_tls_cert",
     .type = T_STR,
     .off = OFF(grpc_tls_cert),
     .flags = K_NULLABLE | RESTART,
     .check = V_FILE,
     .flag = "--grpc-tls-cert",
     .metavar = "PATH",
     .help = "PEM certificate (chain) of the gRPC API; with\n"
             "--grpc-tls-key it serves TLS only",
     .def_doc = "none: plaintext"},
    {.name = "grpc_tls_key",
     .type = T_STR,
     .off = OFF(grpc_tls_key),
     .flags = K_NULLABLE | RESTART,
     .check = V_FILE,
     .flag = "--grpc-tls-key",
     .metavar = "PATH",
     .help = "PEM private key of --grpc-tls-cert",
     .def_doc = "none"},
    {.name = "name",
     .type = T_STR,
     .off = OFF(name),
     .flags = RESTART,
     .check = V_NAME,
     .flag = "--name",
     .metavar = "NAME",
     .help = "replica id: letters, digits, '.', '_', '-'",
     .def_doc = "the hostname"},
    {.name = "lease_ttl",
     .type = T_INT,
     .off = OFF(lease_ttl),
     .def = "5",
     .flags = RESTART,
     .min = 1,
     .max = 60,
     .flag = "--lease-ttl",
     .metavar = "SECONDS",
     .help = "TTL of the replica's session lease (1..60)"},
    {.name = "reconcile",
     .type = T_BOOL,
     .off = OFF(reconcile),
     .def = "true",
     .flags = RESTART,
     .flag = "--reconcile",
     .metavar = "BOOL",
     .help = "campaign for leadership and run the reconcilers\n"
             "when leading; false = an API-only replica"},
    {.name = "logging_level",
     .type = T_LOGLEVEL,
     .off = OFF(log_level),
     .def = "info",
     .flag = "--log-level",
     .metavar = "LEVEL",
     .help = "debug, info, warn (warning) or error\n"
             "(critical), in any case"},
    {.name = "log_format",
     .type = T_LOGFORMAT,
     .off = OFF(log_format),
     .def = "text",
     .flags = RESTART,
     .flag = "--log-format",
     .metavar = "FORMAT",
     .help = "text (level=... msg=... key=value) or json"},
    {.name = "backup_dir",
     .type = T_STR,
     .off = OFF(backup_dir),
     .def = "./var/backups",
     .check = V_NONEMPTY,
     .flag = "--backup-dir",
     .metavar = "DIR",
     .help = "where POST /backup/db writes etcd snapshots\n"
             "(created if missing)"},
    {.name = "admin_token_file",
     .type = T_STR,
     .off = OFF(admin_token_file),
     .flags = K_NULLABLE,
     .check = V_FILE,
     .flag = "--admin-token-file",
     .metavar = "PATH",
     .help = "file whose first line is the bearer token\n"
             "(>= 16 characters) of the admin routes:\n"
             "POST /scheduler, POST/DELETE\n"
             "/lifecycle/rolling/.., DELETE\n"
             "/discovery/<uuid>, POST /backup/db. Without\n"
             "it: $ENJOLIVER_ADMIN_TOKEN (key admin_token);\n"
             "neither: admin routes are open (a warning)",
     .def_doc = "none"},
    {.name = "admin_token",
     .type = T_STR,
     .off = OFF(admin_token),
     .flags = K_NULLABLE | K_SECRET,
     .check = V_TOKEN,
     .def_doc = "none"},

    /* ---- the original's keys (spec section 2) ---- */
    {.name = "api_uri",
     .type = T_STR,
     .off = OFF(api_uri),
     .def = "http://127.0.0.1:5000",
     .check = V_URL,
     .flag = "--api-uri",
     .metavar = "URL",
     .help = "the public URL of this API, as machines\n"
             "reach it (iPXE script, profiles)"},
    {.name = "matchbox_uri",
     .type = T_STR,
     .off = OFF(matchbox_uri),
     .flags = K_NULLABLE,
     .check = V_URL,
     .flag = "--matchbox-uri",
     .metavar = "URL",
     .help = "matchbox's URL, e.g. http://127.0.0.1:8080\n"
             "(the original's shipped value)",
     .def_doc = "none (matchbox routes answer 503)"},
    {.name = "matchbox_path",
     .type = T_STR,
     .off = OFF(matchbox_path),
     .def = "/var/lib/matchbox",
     .check = V_NONEMPTY,
     .flag = "--matchbox-path",
     .metavar = "DIR",
     .help = "matchbox's data directory (groups/,\n"
             "profiles/, ignition/)"},
    {.name = "matchbox_assets",
     .type = T_STR,
     .off = OFF(matchbox_assets),
     .check = V_NONEMPTY,
     .def_doc = "<matchbox_path>/assets"},
    {.name = "matchbox_urls",
     .type = T_LIST,
     .off = OFF(matchbox_urls),
     .def = "[/, /boot.ipxe, /boot.ipxe.0, /assets, /metadata]",
     .check = V_URLPATH},
    {.name = "assets_server_uri",
     .type = T_STR,
     .off = OFF(assets_server_uri),
     .flags = K_NULLABLE,
     .check = V_URL,
     .def_doc = "none (api_uri)"},
    STRK(kernel, "/assets/coreos/serve/coreos_production_pxe.vmlinuz", V_URLPATH),
    STRK(initrd, "/assets/coreos/serve/coreos_production_pxe_image.cpio.gz", V_URLPATH),
    {.name = "etcd_member_kubernetes_control_plane_expected_nb",
     .type = T_INT,
     .off = OFF(etcd_member_kubernetes_control_plane_expected_nb),
     .def = "3",
     .flags = K_ODD,
     .min = 1,
     /* The control plane is given in one Txn (model/scheduler.h). */
     .max = 31},
    {.name = "extra_selectors",
     .type = T_DICT,
     .off = OFF(extra_selectors),
     .def = "{os: installed}"},
    {.name = "ignition_dict",
     .type = T_IGNITION,
     .off = OFF(ignition_dict),
     .def = "{discovery: discovery, etcd_member_kubernetes_control_plane: "
            "etcd-member-kubernetes-control-plane, kubernetes_nodes: kubernetes-node}"},
    {.name = "sync_notify_ttl",
     .type = T_INT,
     .off = OFF(sync_notify_ttl),
     .def = "60",
     .min = 0,
     .max = 86400,
     .flag = "--sync-notify-ttl",
     .metavar = "SECONDS",
     .help = "lifetime of the sync flag; 0 = for ever"},
    {.name = "coreos_install_lock_seconds",
     .type = T_INT,
     .off = OFF(install_lock_seconds),
     .def = "45",
     .min = 0,
     .max = 86400,
     .flag = "--install-lock-seconds",
     .metavar = "SECONDS",
     .help = "how long an install authorization holds\n"
             "the install token unless the install report\n"
             "comes first; 0 disables the token"},
    INTK(sub_ips, "256", 0, 65536),
    INTK(range_nb_ips, "253", 1, 65535),
    INTK(skip_ips, "1", 0, 65535),
    STRK(perennial_local_host_ip, "172.31.255.255", V_IPV4),
    PORT(kubernetes_apiserver_insecure_port, "8080", 0),
    STRK(kubernetes_apiserver_insecure_bind_address, "0.0.0.0", V_IP),
    STRK(kubernetes_service_cluster_ip_range, "172.30.0.0/24", V_CIDR),
    PORT(kubelet_healthz_port, "10248", 0),
    PORT(vault_port, "8200", 0),
    STRK(kubernetes_etcd_data_dir, "/var/lib/etcd3/kubernetes", V_NONEMPTY),
    PORT(kubernetes_etcd_client_port, "4003", 0),
    PORT(kubernetes_etcd_peer_port, "7003", 0),
    STRK(vault_etcd_data_dir, "/var/lib/etcd3/vault", V_NONEMPTY),
    PORT(vault_etcd_client_port, "4002", 0),
    PORT(vault_etcd_peer_port, "7002", 0),
    STRK(fleet_etcd_data_dir, "/var/lib/etcd3/fleet", V_NONEMPTY),
    PORT(fleet_etcd_client_port, "4001", 0),
    PORT(fleet_etcd_peer_port, "7001", 0),
    STRK(hyperkube_image_url, "enjoliver.local/hyperkube:1.9.2", V_NONEMPTY),
    STRK(cephtools_image_url, "enjoliver.local/ceph-tools:latest", V_NONEMPTY),
    STRK(lldp_image_url, "enjoliver.local/lldp:latest", V_ANY),
    {.name = "etc_hosts",
     .type = T_LIST,
     .off = OFF(etc_hosts),
     .def = "['172.20.0.1 enjoliver.local']",
     .check = V_NONEMPTY},
    {.name = "nameservers",
     .type = T_LIST,
     .off = OFF(nameservers),
     .def = "[8.8.8.8, 8.8.4.4]",
     .check = V_WORD},
    {.name = "ntp",
     .type = T_LIST,
     .off = OFF(ntp),
     .def = "[0.arch.pool.ntp.org, 1.arch.pool.ntp.org, 2.arch.pool.ntp.org, "
            "3.arch.pool.ntp.org]",
     .check = V_WORD},
    {.name = "fallbackntp",
     .type = T_LIST,
     .off = OFF(fallbackntp),
     .def = "[0.pool.ntp.org, 1.pool.ntp.org, 0.fr.pool.ntp.org]",
     .check = V_WORD},
    INTK(vault_polling_sec, "30", 1, 86400),
    INTK(lifecycle_update_polling_sec, "30", 1, 86400),
    {.name = "disks_ladder_gb",
     .type = T_IDICT,
     .off = OFF(disks_ladder_gb),
     .def = "{S: 10, M: 20, L: 30}",
     .min = 1,
     .max = 1000000},
    STRK(coreos_install_base_url, "http://enjoliver.local:5000/assets/coreos", V_URL_ANY),
    {.name = "discovery_fqdn_verify",
     .type = T_BOOL,
     .off = OFF(discovery_fqdn_verify),
     .def = "true"},
    {.name = "sync_replace_ip_by_fqdn",
     .type = T_BOOL,
     .off = OFF(sync_replace_ip_by_fqdn),
     .def = "false"},
    /* The rolling-update policy (model/rollout.h). */
    INTK(rollout_max_unavailable, "1", 1, 1000),
    INTK(rollout_max_unavailable_per_group, "0", 0, 1000),
    INTK(rollout_settle_seconds, "0", 0, 86400),
    INTK(rollout_max_hold_seconds, "1800", 0, 604800),
    STRK(rollout_window, "always", V_NONEMPTY),
};
#define N_KEYS (sizeof keys / sizeof keys[0])
_Static_assert(N_KEYS == CONFIG_N_KEYS, "CONFIG_N_KEYS must be the number of keys[]");

/* The original's keys that mean nothing here: accepted and ignored. */
static const char *const dropped_keys[] = {
    "gunicorn_workers",         /* one libuv loop; run more replicas instead */
    "gunicorn_worker_type",     /* idem */
    "gunicorn_bind",            /* listen_http */
    "matchbox_logging_level",   /* enjoliverd does not start matchbox */
    "db_path",                  /* the state is in etcd */
    "db_uri",                   /* etcd_endpoints */
    "ignition_journal_dir",     /* journals live in etcd */
    "werkzeug_fs_cache_dir",    /* no file cache */
    "prometheus_multiproc_dir", /* /metrics is always on */
    "aws_id",                   /* no S3 upload: snapshots go to backup_dir */
    "aws_secret",               /* idem */
    "backup_bucket_name",       /* idem */
    "backup_bucket_directory",  /* idem */
    "backup_lock_key",          /* the backup lock is an etcd lease */
    "apply_deps_tries",         /* no plan loop */
    "apply_deps_delay",         /* idem */
    "sync_cache_ttl",           /* watch-driven, no polling cache */
};
#define N_DROPPED (sizeof dropped_keys / sizeof dropped_keys[0])

int config_key_index(const char *key)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        if (strcmp(keys[i].name, key) == 0) {
            return (int)i;
        }
    }
    return -1;
}

const char *config_key_name(int index)
{
    return index >= 0 && (size_t)index < N_KEYS ? keys[index].name : NULL;
}

static int dropped_index(const char *key)
{
    for (size_t i = 0; i < N_DROPPED; i++) {
        if (strcmp(dropped_keys[i], key) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static void *field(config_t *cfg, const kdef_t *k)
{
    return (char *)cfg + k->off;
}

static const void *cfield(const config_t *cfg, const kdef_t *k)
{
    return (const char *)cfg + k->off;
}

/* ---- small helpers ------------------------------------------------------ */

static void strlist_free(config_strlist_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i]);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int strlist_push(config_strlist_t *l, const char *s, size_t len)
{
    char **v = realloc(l->v, (l->n + 1) * sizeof *v);
    if (v == NULL) {
        return -ENOMEM;
    }
    l->v = v;
    if ((v[l->n] = strndup(s, len)) == NULL) {
        return -ENOMEM;
    }
    l->n++;
    return 0;
}

static void strdict_free(config_strdict_t *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->keys[i]);
        free(d->values[i]);
    }
    free(d->keys);
    free(d->values);
    memset(d, 0, sizeof *d);
}

static void intdict_free(config_intdict_t *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->keys[i]);
    }
    free(d->keys);
    free(d->values);
    memset(d, 0, sizeof *d);
}

static void free_field(config_t *cfg, const kdef_t *k)
{
    void *p = field(cfg, k);
    switch (k->type) {
    case T_STR:
        free(*(char **)p);
        *(char **)p = NULL;
        break;
    case T_LIST:
    case T_ENDPOINTS:
        strlist_free(p);
        break;
    case T_DICT:
        strdict_free(p);
        break;
    case T_IDICT:
        intdict_free(p);
        break;
    case T_IGNITION:
        free(cfg->ignition_dict.discovery);
        free(cfg->ignition_dict.etcd_member_kubernetes_control_plane);
        free(cfg->ignition_dict.kubernetes_nodes);
        memset(&cfg->ignition_dict, 0, sizeof cfg->ignition_dict);
        break;
    case T_ADDR:
        free(((config_addr_t *)p)->host);
        ((config_addr_t *)p)->host = NULL;
        break;
    case T_INT:
    case T_BOOL:
    case T_LOGLEVEL:
    case T_LOGFORMAT:
        break;
    }
}

void config_free(config_t *cfg)
{
    if (cfg == NULL) {
        return;
    }
    for (size_t i = 0; i < N_KEYS; i++) {
        free_field(cfg, &keys[i]);
    }
    free(cfg->config_file);
    strlist_free(&cfg->ignored_keys);
    memset(cfg, 0, sizeof *cfg);
}

static int set_str(char **dst, const char *v)
{
    char *copy = strdup(v);
    if (copy == NULL) {
        return -ENOMEM;
    }
    free(*dst);
    *dst = copy;
    return 0;
}

/* "ENJOLIVER_" + the key in upper case. */
static void env_name(const char *key, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, ENV_PREFIX "%s", key);
    for (size_t i = strlen(ENV_PREFIX); i < n && i < len; i++) {
        buf[i] = (char)toupper((unsigned char)buf[i]);
    }
}

static const char *env_get(char *const *envp, const char *name)
{
    size_t n = strlen(name);
    for (char *const *e = envp; e != NULL && *e != NULL; e++) {
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') {
            return *e + n + 1;
        }
    }
    return NULL;
}

/* Levenshtein distance of two short strings (capped at 64 bytes). */
static int distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int row[65];
    if (la > 64 || lb > 64) {
        return INT_MAX;
    }
    for (size_t j = 0; j <= lb; j++) {
        row[j] = (int)j;
    }
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int best =
                diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            if (row[j - 1] + 1 < best) {
                best = row[j - 1] + 1;
            }
            if (up + 1 < best) {
                best = up + 1;
            }
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The known (or ignored) key closest to `key`, NULL if none is close. */
static const char *closest_key(const char *key)
{
    const char *best = NULL;
    int best_d = INT_MAX;
    for (size_t i = 0; i < N_KEYS + N_DROPPED; i++) {
        const char *name = i < N_KEYS ? keys[i].name : dropped_keys[i - N_KEYS];
        int d = distance(key, name);
        if (d < best_d) {
            best_d = d;
            best = name;
        }
    }
    int limit = 2 + (int)strlen(key) / 4;
    return best_d <= limit ? best : NULL;
}

/* ---- parse state, sources and messages ---------------------------------- */

typedef struct st_s {
    config_t *cfg;
    FILE *err;
} st_t;

typedef struct src_s {
    config_src_kind_t kind;
    int line;         /* YAML */
    const char *flag; /* FLAG: as spelled (static) */
} src_t;

static void where_text(const config_t *cfg, const kdef_t *k, const src_t *s, char *buf, size_t len)
{
    switch (s->kind) {
    case CONFIG_SRC_DEFAULT:
        snprintf(buf, len, "default");
        break;
    case CONFIG_SRC_YAML:
        snprintf(buf, len, "%s:%d", cfg->config_file ? cfg->config_file : "?", s->line);
        break;
    case CONFIG_SRC_ENV:
        buf[0] = '$';
        env_name(k->name, buf + 1, len - 1);
        break;
    case CONFIG_SRC_FLAG:
        snprintf(buf, len, "%s", s->flag);
        break;
    }
}

const char *config_source_text(const config_t *cfg, const char *key, char *buf, size_t len)
{
    int i = config_key_index(key);
    if (i < 0) {
        return NULL;
    }
    const config_source_t *cs = &cfg->sources[i];
    src_t s = {.kind = cs->kind, .line = cs->line, .flag = cs->flag};
    where_text(cfg, &keys[i], &s, buf, len);
    return buf;
}

/* "enjoliverd: WHERE: KEY: MESSAGE"; returns CONFIG_INVALID. */
__attribute__((format(printf, 4, 5))) static int fail(st_t *st, const kdef_t *k, const src_t *s,
                                                      const char *fmt, ...)
{
    char where[512];
    va_list ap;
    where_text(st->cfg, k, s, where, sizeof where);
    fprintf(st->err, "enjoliverd: %s: %s: ", where, k->name);
    va_start(ap, fmt);
    vfprintf(st->err, fmt, ap);
    va_end(ap);
    fputc('\n', st->err);
    return CONFIG_INVALID;
}

/* A value as messages show it: quoted, escaped, truncated; secrets hidden. */
static const char *shown(const kdef_t *k, const char *s, size_t len, char *buf, size_t cap)
{
    if (k != NULL && (k->flags & K_SECRET)) {
        snprintf(buf, cap, "a secret of %zu characters", len);
        return buf;
    }
    size_t o = 0;
    buf[o++] = '\'';
    for (size_t i = 0; i < len && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i >= 80) {
            o += (size_t)snprintf(buf + o, cap - o, "...");
            break;
        }
        if (c < 0x20 || c == 0x7f || c == '\\' || c == '\'') {
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '\'';
    buf[o] = '\0';
    return buf;
}

static const char *node_kind(const yaml_node_t *n)
{
    return n->type == YAML_SEQUENCE_NODE  ? "a list"
           : n->type == YAML_MAPPING_NODE ? "a mapping"
                                          : "a value";
}

/* What a key wants, for messages. */
static const char *expected_str(int check)
{
    switch (check) {
    case V_NONEMPTY:
        return "a non-empty string";
    case V_URL:
        return "an http(s):// URL of at most 200 bytes without a trailing '/', e.g. "
               "http://172.20.0.1:5000";
    case V_URL_ANY:
        return "an http(s):// URL";
    case V_URLPATH:
        return "a URL path starting with '/'";
    case V_PREFIX:
        return "1..100 bytes ending with '/', e.g. /enjoliver/";
    case V_IP:
        return "an IPv4 or IPv6 address";
    case V_IPV4:
        return "an IPv4 address";
    case V_CIDR:
        return "a network as ADDRESS/LENGTH, e.g. 172.30.0.0/24";
    case V_FILE:
        return "a file path";
    case V_NAME:
        return "1..253 letters, digits, '.', '_' or '-'";
    case V_TOKEN:
        return "a token of at least 16 characters";
    case V_WORD:
        return "a non-empty string without blanks";
    default:
        return "a string";
    }
}

static int check_url(const char *v, int strict)
{
    size_t vl = strlen(v);
    size_t scheme = strncmp(v, "http://", 7) == 0 ? 7 : strncmp(v, "https://", 8) == 0 ? 8 : 0;
    if (scheme == 0 || vl == scheme || v[scheme] == '/') {
        return 0;
    }
    return !strict || (vl <= 200 && v[vl - 1] != '/');
}

static int check_cidr(const char *v)
{
    const char *slash = strchr(v, '/');
    char host[INET6_ADDRSTRLEN];
    unsigned char buf[sizeof(struct in6_addr)];
    if (slash == NULL || (size_t)(slash - v) >= sizeof host || slash[1] == '\0') {
        return 0;
    }
    memcpy(host, v, (size_t)(slash - v));
    host[slash - v] = '\0';
    int max = inet_pton(AF_INET, host, buf) == 1    ? 32
              : inet_pton(AF_INET6, host, buf) == 1 ? 128
                                                    : -1;
    char *end = NULL;
    long n = strtol(slash + 1, &end, 10);
    return max > 0 && isdigit((unsigned char)slash[1]) && *end == '\0' && n >= 0 && n <= max;
}

/* 1 if v passes the check. */
static int check_string(int check, const char *v)
{
    unsigned char buf[sizeof(struct in6_addr)];
    size_t n = strlen(v);
    switch (check) {
    case V_ANY:
        return 1;
    case V_NONEMPTY:
    case V_FILE:
        return n > 0;
    case V_URL:
        return check_url(v, 1);
    case V_URL_ANY:
        return check_url(v, 0);
    case V_URLPATH:
        return v[0] == '/';
    case V_PREFIX:
        return n > 0 && n <= 100 && v[n - 1] == '/';
    case V_IP:
        return inet_pton(AF_INET, v, buf) == 1 || inet_pton(AF_INET6, v, buf) == 1;
    case V_IPV4:
        return inet_pton(AF_INET, v, buf) == 1;
    case V_CIDR:
        return check_cidr(v);
    case V_NAME:
        if (n == 0 || n > 253) {
            return 0;
        }
        for (size_t i = 0; i < n; i++) {
            if (!isalnum((unsigned char)v[i]) && v[i] != '.' && v[i] != '_' && v[i] != '-') {
                return 0;
            }
        }
        return 1;
    case V_TOKEN:
        return n >= 16;
    case V_WORD:
        if (n == 0) {
            return 0;
        }
        for (size_t i = 0; i < n; i++) {
            if (isspace((unsigned char)v[i])) {
                return 0;
            }
        }
        return 1;
    }
    return 0;
}

/* Decimal integer, optional sign, nothing else. */
static int parse_long(const char *s, long *out)
{
    const char *p = s;
    if (*p == '-' || *p == '+') {
        p++;
    }
    if (!isdigit((unsigned char)*p)) {
        return -EINVAL;
    }
    for (const char *q = p; *q; q++) {
        if (!isdigit((unsigned char)*q)) {
            return -EINVAL;
        }
    }
    errno = 0;
    long v = strtol(s, NULL, 10);
    if (errno != 0) {
        return -EINVAL;
    }
    *out = v;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "1"};
    static const char *const no[] = {"false", "no", "0"};
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -EINVAL;
}

static int parse_port_text(const char *v, int allow_zero, int *out)
{
    long n;
    if (!isdigit((unsigned char)v[0]) || parse_long(v, &n) != 0 || n > 65535 ||
        (n == 0 && !allow_zero)) {
        return -EINVAL;
    }
    *out = (int)n;
    return 0;
}

/* "host:port" with host = IPv4 literal, [IPv6 literal] or localhost. */
static int parse_addr(const char *v, config_addr_t *out)
{
    const char *colon;
    char host[INET6_ADDRSTRLEN + 2];
    if (v[0] == '[') {
        const char *close = strchr(v, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - v - 1) >= sizeof host) {
            return -EINVAL;
        }
        memcpy(host, v + 1, (size_t)(close - v - 1));
        host[close - v - 1] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1) {
            return -EINVAL;
        }
        colon = close + 1;
    } else {
        colon = strrchr(v, ':');
        if (colon == NULL || (size_t)(colon - v) >= sizeof host) {
            return -EINVAL;
        }
        memcpy(host, v, (size_t)(colon - v));
        host[colon - v] = '\0';
        struct in_addr a4;
        if (strcmp(host, "localhost") == 0) {
            strcpy(host, "127.0.0.1");
        } else if (inet_pton(AF_INET, host, &a4) != 1) {
            return -EINVAL;
        }
    }
    int port;
    if (parse_port_text(colon + 1, 1, &port) != 0) {
        return -EINVAL;
    }
    char *h = strdup(host);
    if (h == NULL) {
        return -ENOMEM;
    }
    free(out->host);
    out->host = h;
    out->port = port;
    return 0;
}

/* One etcd endpoint: [http://|https://]host:port, port 1..65535. */
static int endpoint_valid(const char *e)
{
    const char *p = e;
    if (strncmp(p, "http://", 7) == 0) {
        p += 7;
    } else if (strncmp(p, "https://", 8) == 0) {
        p += 8;
    } else if (strstr(p, "://") != NULL) {
        return 0;
    }
    const char *colon = strrchr(p, ':');
    if (colon == NULL || colon == p || strchr(p, '/') != NULL || strchr(p, ' ') != NULL) {
        return 0;
    }
    int port;
    return parse_port_text(colon + 1, 0, &port) == 0;
}

#define EXPECT_ENDPOINT                                                                            \
    "an etcd endpoint host:port or http(s)://host:port, e.g. 127.0.0.1:2379 (a list: "             \
    "comma-separated, e.g. 127.0.0.1:2379,http://10.0.0.2:2379)"
#define EXPECT_ADDR                                                                                \
    "HOST:PORT (HOST an IPv4 address, [IPv6 address] or localhost; PORT 0..65535), e.g. "          \
    "127.0.0.1:5000"
#define EXPECT_LEVEL "one of debug, info, warn (warning), error (critical), in any case"
#define EXPECT_BOOL "a boolean (true/false/yes/no/1/0, any case)"

/* ---- setting one value -------------------------------------------------- */

static int is_yaml_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return 0;
    }
    const char *v = (const char *)n->data.scalar.value;
    return n->data.scalar.length == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* The source of a YAML node inside the value: its own line. */
static src_t at_node(const src_t *s, const yaml_node_t *n)
{
    src_t r = *s;
    if (r.kind == CONFIG_SRC_YAML && n != NULL) {
        r.line = (int)n->start_mark.line + 1;
    }
    return r;
}

static const char *int_expected(const kdef_t *k, char *buf, size_t len)
{
    snprintf(buf, len, "%s integer in %ld..%ld", (k->flags & K_ODD) ? "an odd" : "an", k->min,
             k->max);
    return buf;
}

/* A scalar value (text) for a scalar-typed key. null: unset (nullable). */
static int set_scalar(st_t *st, const kdef_t *k, const char *v, size_t len, int null,
                      const src_t *s)
{
    char sb[256], eb[128];
    void *p = field(st->cfg, k);
    if (null) {
        if (!(k->flags & K_NULLABLE)) {
            return fail(st, k, s, "expected %s, got null",
                        k->type == T_STR ? expected_str(k->check) : "a value");
        }
        if (k->type == T_STR) {
            free(*(char **)p);
            *(char **)p = NULL;
        } else if (k->type == T_ENDPOINTS) {
            strlist_free(p);
        }
        return 0;
    }
    if (strlen(v) != len) {
        return fail(st, k, s, "the value contains a NUL byte");
    }
    switch (k->type) {
    case T_STR:
        if (!check_string(k->check, v)) {
            return fail(st, k, s, "expected %s, got %s", expected_str(k->check),
                        shown(k, v, len, sb, sizeof sb));
        }
        return set_str(p, v);
    case T_INT: {
        long n;
        if (parse_long(v, &n) != 0 || n < k->min || n > k->max ||
            ((k->flags & K_ODD) && n % 2 == 0)) {
            return fail(st, k, s, "expected %s, got %s", int_expected(k, eb, sizeof eb),
                        shown(k, v, len, sb, sizeof sb));
        }
        *(int *)p = (int)n;
        return 0;
    }
    case T_BOOL:
        if (parse_bool(v, p) != 0) {
            return fail(st, k, s, "expected " EXPECT_BOOL ", got %s",
                        shown(k, v, len, sb, sizeof sb));
        }
        return 0;
    case T_ADDR: {
        int rc = parse_addr(v, p);
        if (rc == -EINVAL) {
            return fail(st, k, s, "expected " EXPECT_ADDR ", got %s",
                        shown(k, v, len, sb, sizeof sb));
        }
        return rc;
    }
    case T_LOGLEVEL: {
        char low[16];
        size_t i;
        for (i = 0; i < len && i + 1 < sizeof low; i++) {
            low[i] = (char)tolower((unsigned char)v[i]);
        }
        low[i] = '\0';
        if (len < sizeof low && strcmp(low, "critical") == 0) {
            *(log_level_t *)p = LOG_LEVEL_ERROR;
            return 0;
        }
        if (len >= sizeof low || log_level_parse(low, p) != 0) {
            return fail(st, k, s, "expected " EXPECT_LEVEL ", got %s",
                        shown(k, v, len, sb, sizeof sb));
        }
        return 0;
    }
    case T_LOGFORMAT:
        if (strcasecmp(v, "text") == 0) {
            *(config_log_format_t *)p = CONFIG_LOG_TEXT;
        } else if (strcasecmp(v, "json") == 0) {
            *(config_log_format_t *)p = CONFIG_LOG_JSON;
        } else {
            return fail(st, k, s, "expected text or json, got %s", shown(k, v, len, sb, sizeof sb));
        }
        return 0;
    default:
        break;
    }
    return -EINVAL;
}

/* "a,b,c" -> the endpoint list. */
static int set_endpoints_text(st_t *st, const kdef_t *k, const char *v, const src_t *s)
{
    config_strlist_t l = {0};
    char sb[256];
    const char *start = v;
    for (;;) {
        const char *end = strchr(start, ',');
        size_t len = end != NULL ? (size_t)(end - start) : strlen(start);
        if (strlist_push(&l, start, len) != 0) {
            strlist_free(&l);
            return -ENOMEM;
        }
        if (!endpoint_valid(l.v[l.n - 1])) {
            int rc = fail(st, k, s, "expected " EXPECT_ENDPOINT ", got %s",
                          shown(k, start, len, sb, sizeof sb));
            strlist_free(&l);
            return rc;
        }
        if (end == NULL) {
            break;
        }
        start = end + 1;
    }
    strlist_free(field(st->cfg, k));
    *(config_strlist_t *)field(st->cfg, k) = l;
    return 0;
}

/* The scalar text of a YAML node; fails on lists, mappings and NULs. */
static int node_text(st_t *st, const kdef_t *k, const yaml_node_t *n, const src_t *s,
                     const char *what, const char **out)
{
    src_t at = at_node(s, n);
    if (n->type != YAML_SCALAR_NODE) {
        return fail(st, k, &at, "expected %s, got %s", what, node_kind(n));
    }
    if (is_yaml_null(n)) {
        return fail(st, k, &at, "expected %s, got null", what);
    }
    *out = (const char *)n->data.scalar.value;
    if (strlen(*out) != n->data.scalar.length) {
        return fail(st, k, &at, "the value contains a NUL byte");
    }
    return 0;
}

static const char *composite_expected(const kdef_t *k)
{
    switch (k->type) {
    case T_LIST:
        return k->check == V_WORD ? "a list of strings without blanks (e.g. [a, b])"
                                  : "a list of strings (e.g. [\"a\", \"b\"])";
    case T_ENDPOINTS:
        return "a list of etcd endpoints (e.g. [127.0.0.1:2379, http://10.0.0.2:2379])";
    case T_DICT:
        return "a mapping of strings to strings (e.g. {os: installed})";
    case T_IDICT:
        return "a mapping of strings to integers (e.g. {S: 10, M: 20, L: 30})";
    case T_IGNITION:
        return "a mapping with keys among discovery, etcd_member_kubernetes_control_plane, "
               "kubernetes_nodes, to template names";
    default:
        return "a value";
    }
}

static int set_list_node(st_t *st, const kdef_t *k, yaml_document_t *doc, yaml_node_t *node,
                         const src_t *s)
{
    config_strlist_t l = {0};
    char sb[256];
    size_t idx = 0;
    for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top;
         it++, idx++) {
        yaml_node_t *n = yaml_document_get_node(doc, *it);
        const char *v;
        src_t at = at_node(s, n);
        int rc = node_text(st, k, n, s, k->type == T_ENDPOINTS ? EXPECT_ENDPOINT : "a string", &v);
        if (rc == 0 && k->type == T_ENDPOINTS && !endpoint_valid(v)) {
            rc = fail(st, k, &at, "item %zu: expected " EXPECT_ENDPOINT ", got %s", idx + 1,
                      shown(k, v, strlen(v), sb, sizeof sb));
        } else if (rc == 0 && k->type == T_LIST && !check_string(k->check, v)) {
            rc = fail(st, k, &at, "item %zu: expected %s, got %s", idx + 1, expected_str(k->check),
                      shown(k, v, strlen(v), sb, sizeof sb));
        }
        if (rc == 0) {
            rc = strlist_push(&l, v, strlen(v));
        }
        if (rc != 0) {
            strlist_free(&l);
            return rc;
        }
    }
    strlist_free(field(st->cfg, k));
    *(config_strlist_t *)field(st->cfg, k) = l;
    return 0;
}

/* Mappings: every key a non-empty string, no duplicates. */
static int map_key(st_t *st, const kdef_t *k, yaml_document_t *doc, yaml_node_pair_t *pair,
                   yaml_node_t *node, const src_t *s, const char **out)
{
    yaml_node_t *kn = yaml_document_get_node(doc, pair->key);
    src_t at = at_node(s, kn);
    int rc = node_text(st, k, kn, s, "string keys", out);
    if (rc != 0) {
        return rc;
    }
    if (**out == '\0') {
        return fail(st, k, &at, "expected non-empty keys, got ''");
    }
    for (yaml_node_pair_t *q = node->data.mapping.pairs.start; q < pair; q++) {
        yaml_node_t *qn = yaml_document_get_node(doc, q->key);
        if (qn->type == YAML_SCALAR_NODE &&
            strcmp((const char *)qn->data.scalar.value, *out) == 0) {
            return fail(st, k, &at, "the key '%s' is given twice", *out);
        }
    }
    return 0;
}

static int set_dict_node(st_t *st, const kdef_t *k, yaml_document_t *doc, yaml_node_t *node,
                         const src_t *s)
{
    size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    char sb[256], eb[128];
    int rc = 0;
    config_strdict_t sd = {0};
    config_intdict_t id = {0};
    if (k->type == T_DICT) {
        sd.keys = calloc(n + 1, sizeof *sd.keys);
        sd.values = calloc(n + 1, sizeof *sd.values);
        rc = sd.keys && sd.values ? 0 : -ENOMEM;
    } else {
        id.keys = calloc(n + 1, sizeof *id.keys);
        id.values = calloc(n + 1, sizeof *id.values);
        rc = id.keys && id.values ? 0 : -ENOMEM;
        if (rc == 0 && n == 0) {
            src_t at = at_node(s, node);
            rc = fail(st, k, &at, "expected %s, got an empty mapping", composite_expected(k));
        }
    }
    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
         rc == 0 && pair < node->data.mapping.pairs.top; pair++) {
        const char *key, *v;
        yaml_node_t *vn = yaml_document_get_node(doc, pair->value);
        src_t at = at_node(s, vn);
        rc = map_key(st, k, doc, pair, node, s, &key);
        if (rc == 0) {
            char what[160];
            snprintf(what, sizeof what, "%s for '%.100s'",
                     k->type == T_DICT ? "a string" : "an integer", key);
            rc = node_text(st, k, vn, s, what, &v);
        }
        if (rc != 0) {
            break;
        }
        if (k->type == T_DICT) {
            sd.keys[sd.n] = strdup(key);
            sd.values[sd.n] = strdup(v);
            rc = sd.keys[sd.n] && sd.values[sd.n] ? 0 : -ENOMEM;
            sd.n++;
        } else {
            long x;
            if (parse_long(v, &x) != 0 || x < k->min || x > k->max) {
                rc = fail(st, k, &at, "%s: expected %s, got %s", key,
                          int_expected(k, eb, sizeof eb), shown(k, v, strlen(v), sb, sizeof sb));
                break;
            }
            id.keys[id.n] = strdup(key);
            id.values[id.n] = (int)x;
            rc = id.keys[id.n] ? 0 : -ENOMEM;
            id.n++;
        }
    }
    if (rc != 0) {
        strdict_free(&sd);
        intdict_free(&id);
        return rc;
    }
    free_field(st->cfg, k);
    if (k->type == T_DICT) {
        *(config_strdict_t *)field(st->cfg, k) = sd;
    } else {
        *(config_intdict_t *)field(st->cfg, k) = id;
    }
    return 0;
}

/* ignition_dict: the given template names replace the current ones. */
static int set_ignition_node(st_t *st, const kdef_t *k, yaml_document_t *doc, yaml_node_t *node,
                             const src_t *s)
{
    char *next[3] = {NULL, NULL, NULL};
    static const char *const names[3] = {"discovery", "etcd_member_kubernetes_control_plane",
                                         "kubernetes_nodes"};
    char **cur[3] = {&st->cfg->ignition_dict.discovery,
                     &st->cfg->ignition_dict.etcd_member_kubernetes_control_plane,
                     &st->cfg->ignition_dict.kubernetes_nodes};
    int rc = 0;
    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
         rc == 0 && pair < node->data.mapping.pairs.top; pair++) {
        const char *key, *v;
        yaml_node_t *kn = yaml_document_get_node(doc, pair->key);
        yaml_node_t *vn = yaml_document_get_node(doc, pair->value);
        src_t at = at_node(s, kn);
        rc = map_key(st, k, doc, pair, node, s, &key);
        int which = -1;
        for (int i = 0; rc == 0 && i < 3; i++) {
            which = strcmp(key, names[i]) == 0 ? i : which;
        }
        if (rc == 0 && which < 0) {
            rc = fail(st, k, &at,
                      "unknown key '%s': expected discovery, "
                      "etcd_member_kubernetes_control_plane or kubernetes_nodes",
                      key);
        }
        if (rc == 0) {
            rc = node_text(st, k, vn, s, "a template name", &v);
        }
        if (rc == 0 && *v == '\0') {
            src_t vat = at_node(s, vn);
            rc = fail(st, k, &vat, "%s: expected a template name, got ''", key);
        }
        if (rc == 0) {
            free(next[which]);
            rc = (next[which] = strdup(v)) != NULL ? 0 : -ENOMEM;
        }
    }
    for (int i = 0; i < 3; i++) {
        if (rc == 0 && next[i] != NULL) {
            free(*cur[i]);
            *cur[i] = next[i];
        } else {
            free(next[i]);
        }
    }
    return rc;
}

/* A composite value from a YAML node. */
static int set_node(st_t *st, const kdef_t *k, yaml_document_t *doc, yaml_node_t *node,
                    const src_t *s)
{
    src_t at = at_node(s, node);
    char sb[256];
    if (k->type == T_ENDPOINTS && node->type == YAML_SCALAR_NODE) {
        if (is_yaml_null(node)) {
            strlist_free(field(st->cfg, k));
            return 0;
        }
        const char *v;
        int rc = node_text(st, k, node, s, EXPECT_ENDPOINT, &v);
        return rc != 0 ? rc : set_endpoints_text(st, k, v, &at);
    }
    int want = k->type == T_LIST || k->type == T_ENDPOINTS ? YAML_SEQUENCE_NODE : YAML_MAPPING_NODE;
    if ((int)node->type != want) {
        if (node->type == YAML_SCALAR_NODE) {
            const char *v = (const char *)node->data.scalar.value;
            return fail(st, k, &at, "expected %s, got %s", composite_expected(k),
                        is_yaml_null(node) ? "null"
                                           : shown(k, v, node->data.scalar.length, sb, sizeof sb));
        }
        return fail(st, k, &at, "expected %s, got %s", composite_expected(k), node_kind(node));
    }
    switch (k->type) {
    case T_LIST:
    case T_ENDPOINTS:
        return set_list_node(st, k, doc, node, s);
    case T_DICT:
    case T_IDICT:
        return set_dict_node(st, k, doc, node, s);
    case T_IGNITION:
        return set_ignition_node(st, k, doc, node, s);
    default:
        return -EINVAL;
    }
}

static int is_composite(const kdef_t *k)
{
    return k->type == T_LIST || k->type == T_DICT || k->type == T_IDICT || k->type == T_IGNITION ||
           k->type == T_ENDPOINTS;
}

/*
 * Sets key k from text (a default, an environment variable or a flag:
 * composite values in YAML flow syntax; endpoints also comma-separated) or
 * from a YAML node of the file, and records the source.
 */
static int apply(st_t *st, int idx, const char *text, yaml_document_t *doc, yaml_node_t *node,
                 const src_t *s)
{
    const kdef_t *k = &keys[idx];
    int rc;
    if (node != NULL && !is_composite(k)) {
        if (node->type != YAML_SCALAR_NODE) {
            src_t at = at_node(s, node);
            char eb[128];
            const char *what = k->type == T_STR    ? expected_str(k->check)
                               : k->type == T_INT  ? int_expected(k, eb, sizeof eb)
                               : k->type == T_BOOL ? EXPECT_BOOL
                               : k->type == T_ADDR ? EXPECT_ADDR
                                                   : "a single value";
            rc = fail(st, k, &at, "expected %s, got %s", what, node_kind(node));
        } else {
            src_t at = at_node(s, node);
            rc = set_scalar(st, k, (const char *)node->data.scalar.value, node->data.scalar.length,
                            is_yaml_null(node), &at);
        }
    } else if (node != NULL) {
        rc = set_node(st, k, doc, node, s);
    } else if (!is_composite(k)) {
        rc = set_scalar(st, k, text, strlen(text), (k->flags & K_NULLABLE) && *text == '\0', s);
    } else if (k->type == T_ENDPOINTS && text[0] != '[') {
        rc = *text == '\0' && s->kind == CONFIG_SRC_ENV ? (strlist_free(field(st->cfg, k)), 0)
                                                        : set_endpoints_text(st, k, text, s);
    } else {
        /* YAML flow syntax. */
        yaml_parser_t p;
        yaml_document_t d;
        char sb[256];
        if (!yaml_parser_initialize(&p)) {
            return -ENOMEM;
        }
        yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
        if (!yaml_parser_load(&p, &d)) {
            rc = fail(st, k, s,
                      "expected %s in YAML flow syntax, got %s (YAML: %s at character %zu)",
                      composite_expected(k), shown(k, text, strlen(text), sb, sizeof sb),
                      p.problem ? p.problem : "syntax error", p.problem_mark.index + 1);
            yaml_parser_delete(&p);
            return rc;
        }
        yaml_node_t *root = yaml_document_get_root_node(&d);
        if (root == NULL) {
            rc = fail(st, k, s, "expected %s in YAML flow syntax, got %s", composite_expected(k),
                      shown(k, text, strlen(text), sb, sizeof sb));
        } else {
            rc = set_node(st, k, &d, root, s);
        }
        yaml_document_delete(&d);
        yaml_parser_delete(&p);
    }
    if (rc == 0) {
        st->cfg->sources[idx] = (config_source_t){
            .kind = s->kind,
            .line = s->kind == CONFIG_SRC_YAML && node != NULL ? (int)node->start_mark.line + 1
                                                               : s->line,
            .flag = s->kind == CONFIG_SRC_FLAG ? s->flag : NULL};
    }
    return rc;
}

/* ---- the sources ---------------------------------------------------------- */

static int note_ignored(config_t *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->ignored_keys.n; i++) {
        if (strcmp(cfg->ignored_keys.v[i], key) == 0) {
            return 0;
        }
    }
    return strlist_push(&cfg->ignored_keys, key, strlen(key));
}

static int yaml_error(st_t *st, const char *path, yaml_parser_t *p)
{
    fprintf(st->err, "enjoliverd: %s:%zu:%zu: YAML syntax error: %s", path,
            p->problem_mark.line + 1, p->problem_mark.column + 1,
            p->problem ? p->problem : "cannot parse");
    if (p->context != NULL) {
        fprintf(st->err, " (%s, line %zu)", p->context, p->context_mark.line + 1);
    }
    fputc('\n', st->err);
    return CONFIG_INVALID;
}

/* The YAML file; `whence` says who named it ("--config", "$ENJOLIVER_..."). */
static int load_file(st_t *st, const char *path, const char *whence)
{
    config_t *cfg = st->cfg;
    struct stat sb;
    FILE *f = fopen(path, "rb");
    if (f == NULL || fstat(fileno(f), &sb) != 0 || S_ISDIR(sb.st_mode)) {
        fprintf(st->err, "enjoliverd: %s: cannot read the configuration file '%s': %s\n", whence,
                path, f == NULL ? strerror(errno) : strerror(EISDIR));
        if (f != NULL) {
            fclose(f);
        }
        return CONFIG_INVALID;
    }
    if (set_str(&cfg->config_file, path) != 0) {
        fclose(f);
        return -ENOMEM;
    }
    yaml_parser_t p;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&p)) {
        fclose(f);
        return -ENOMEM;
    }
    yaml_parser_set_input_file(&p, f);
    if (!yaml_parser_load(&p, &doc)) {
        int rc = yaml_error(st, path, &p);
        yaml_parser_delete(&p);
        fclose(f);
        return rc;
    }
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root != NULL && is_yaml_null(root)) {
        root = NULL; /* "~" or an empty document: no keys */
    }
    if (root != NULL && root->type != YAML_MAPPING_NODE) {
        fprintf(st->err, "enjoliverd: %s:%zu: expected a mapping of configuration keys, got %s\n",
                path, root->start_mark.line + 1,
                root->type == YAML_SEQUENCE_NODE ? "a list" : "a single value");
        rc = CONFIG_INVALID;
    }
    yaml_node_pair_t *first = root != NULL ? root->data.mapping.pairs.start : NULL;
    yaml_node_pair_t *top = root != NULL ? root->data.mapping.pairs.top : NULL;
    for (yaml_node_pair_t *pair = first; rc == 0 && pair < top; pair++) {
        yaml_node_t *kn = yaml_document_get_node(&doc, pair->key);
        yaml_node_t *vn = yaml_document_get_node(&doc, pair->value);
        size_t line = kn->start_mark.line + 1;
        if (kn->type != YAML_SCALAR_NODE) {
            fprintf(st->err, "enjoliverd: %s:%zu: expected a key name, got %s\n", path, line,
                    node_kind(kn));
            rc = CONFIG_INVALID;
            break;
        }
        const char *key = (const char *)kn->data.scalar.value;
        for (yaml_node_pair_t *q = first; q < pair; q++) {
            yaml_node_t *qn = yaml_document_get_node(&doc, q->key);
            if (qn->type == YAML_SCALAR_NODE &&
                strcmp((const char *)qn->data.scalar.value, key) == 0) {
                fprintf(st->err,
                        "enjoliverd: %s:%zu: %s: the key is given twice (first at line "
                        "%zu)\n",
                        path, line, key, qn->start_mark.line + 1);
                rc = CONFIG_INVALID;
            }
        }
        if (rc != 0) {
            break;
        }
        int idx = config_key_index(key);
        if (idx >= 0) {
            src_t s = {.kind = CONFIG_SRC_YAML, .line = (int)vn->start_mark.line + 1};
            rc = apply(st, idx, NULL, &doc, vn, &s);
        } else if (dropped_index(key) >= 0) {
            rc = note_ignored(cfg, key);
        } else {
            const char *near = closest_key(key);
            char sb[256];
            fprintf(st->err, "enjoliverd: warning: %s:%zu: unknown key %s ignored", path, line,
                    shown(NULL, key, strlen(key), sb, sizeof sb));
            if (near != NULL) {
                fprintf(st->err, " (did you mean '%s'?)", near);
            }
            fputc('\n', st->err);
        }
    }
    yaml_document_delete(&doc);
    if (rc == 0) {
        /* One document only. */
        if (!yaml_parser_load(&p, &doc)) {
            rc = yaml_error(st, path, &p);
        } else {
            if (yaml_document_get_root_node(&doc) != NULL) {
                fprintf(st->err, "enjoliverd: %s:%zu: expected one YAML document, got more\n", path,
                        yaml_document_get_root_node(&doc)->start_mark.line + 1);
                rc = CONFIG_INVALID;
            }
            yaml_document_delete(&doc);
        }
    }
    yaml_parser_delete(&p);
    fclose(f);
    return rc;
}

static int load_env(st_t *st, char *const *envp)
{
    char name[128];
    for (size_t i = 0; i < N_KEYS; i++) {
        env_name(keys[i].name, name, sizeof name);
        const char *v = env_get(envp, name);
        if (v != NULL) {
            src_t s = {.kind = CONFIG_SRC_ENV};
            int rc = apply(st, (int)i, v, NULL, NULL, &s);
            if (rc != 0) {
                return rc;
            }
        }
    }
    /* ENJOLIVER_* variables that are no key: ignored, or a warning. */
    for (char *const *e = envp; e != NULL && *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        size_t pl = strlen(ENV_PREFIX);
        size_t vl = eq != NULL ? (size_t)(eq - *e) : 0;
        if (eq == NULL || strncmp(*e, ENV_PREFIX, pl) != 0 || vl <= pl || vl >= 100) {
            continue;
        }
        char key[128];
        for (size_t j = 0; j < vl - pl; j++) {
            key[j] = (char)tolower((unsigned char)(*e)[pl + j]);
        }
        key[vl - pl] = '\0';
        env_name(key, name, sizeof name);
        int exact = strncmp(name, *e, vl) == 0 && name[vl] == '\0';
        int known = config_key_index(key) >= 0 || strcmp(key, "configs_yaml") == 0;
        if (exact && known) {
            continue;
        }
        if (exact && dropped_index(key) >= 0) {
            if (note_ignored(st->cfg, key) != 0) {
                return -ENOMEM;
            }
            continue;
        }
        const char *near = known ? key : closest_key(key);
        fprintf(st->err, "enjoliverd: warning: $%.*s is not a configuration variable; ignored",
                (int)vl, *e);
        if (near != NULL) {
            env_name(near, name, sizeof name);
            fprintf(st->err, " (did you mean $%s?)", name);
        }
        fputc('\n', st->err);
    }
    return 0;
}

/* The token is the file's first line, without surrounding blanks. */
static int read_token(st_t *st, const src_t *s)
{
    const kdef_t *k = &keys[config_key_index("admin_token_file")];
    const char *path = st->cfg->admin_token_file;
    FILE *f = fopen(path, "r");
    char buf[512];
    if (f == NULL) {
        return fail(st, k, s, "cannot read '%s': %s", path, strerror(errno));
    }
    char *line = fgets(buf, sizeof buf, f);
    fclose(f);
    size_t n = line ? strlen(line) : 0;
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
                 line[n - 1] == '\t')) {
        line[--n] = '\0';
    }
    while (line && (*line == ' ' || *line == '\t')) {
        line++, n--;
    }
    if (line == NULL || n < 16) {
        return fail(st, k, s, "'%s' must hold a token of at least 16 characters on its first line",
                    path);
    }
    return set_str(&st->cfg->admin_token, line);
}

static src_t source_of(const config_t *cfg, const char *key)
{
    const config_source_t *cs = &cfg->sources[config_key_index(key)];
    return (src_t){.kind = cs->kind, .line = cs->line, .flag = cs->flag};
}

/* What depends on several keys, once every source is in. */
static int finish(st_t *st)
{
    config_t *cfg = st->cfg;
    int rc;
    if (cfg->name == NULL) {
        char host[256] = "";
        if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') {
            snprintf(host, sizeof host, "enjoliverd");
        }
        if ((rc = set_str(&cfg->name, host)) != 0) {
            return rc;
        }
    }
    if (cfg->matchbox_assets == NULL) {
        size_t n = strlen(cfg->matchbox_path) + sizeof "/assets";
        char *a = malloc(n);
        if (a == NULL) {
            return -ENOMEM;
        }
        snprintf(a, n, "%s%s", cfg->matchbox_path,
                 cfg->matchbox_path[strlen(cfg->matchbox_path) - 1] == '/' ? "assets" : "/assets");
        cfg->matchbox_assets = a;
    }
    /* Trailing slashes of the data dir go (DIR.log must sit beside it). */
    size_t dl = strlen(cfg->data_dir);
    while (dl > 1 && cfg->data_dir[dl - 1] == '/') {
        cfg->data_dir[--dl] = '\0';
    }
    if (strcmp(cfg->data_dir, "/") == 0) {
        src_t s = source_of(cfg, "data_dir");
        return fail(st, &keys[config_key_index("data_dir")], &s,
                    "'/' cannot be etcd's data directory");
    }
    char w1[512], w2[512];
    if (cfg->etcd_endpoints.n == 0 && cfg->local_etcd_client_port == cfg->local_etcd_peer_port) {
        fprintf(st->err,
                "enjoliverd: local_etcd_client_port (%s) and local_etcd_peer_port (%s) are both "
                "%d; they must differ (--local-etcd-client-port, --local-etcd-peer-port)\n",
                config_source_text(cfg, "local_etcd_client_port", w1, sizeof w1),
                config_source_text(cfg, "local_etcd_peer_port", w2, sizeof w2),
                cfg->local_etcd_client_port);
        return CONFIG_INVALID;
    }
    if (cfg->listen_http.port != 0 && cfg->listen_http.port == cfg->listen_grpc.port &&
        strcmp(cfg->listen_http.host, cfg->listen_grpc.host) == 0) {
        fprintf(st->err,
                "enjoliverd: listen_http (%s) and listen_grpc (%s) are both %s:%d; they must "
                "differ\n",
                config_source_text(cfg, "listen_http", w1, sizeof w1),
                config_source_text(cfg, "listen_grpc", w2, sizeof w2), cfg->listen_http.host,
                cfg->listen_http.port);
        return CONFIG_INVALID;
    }
    if ((cfg->etcd_cert == NULL) != (cfg->etcd_key == NULL)) {
        const char *set = cfg->etcd_cert != NULL ? "etcd_cert" : "etcd_key";
        src_t s = source_of(cfg, set);
        return fail(st, &keys[config_key_index(set)], &s,
                    "etcd_cert and etcd_key go together (--etcd-cert, --etcd-key); %s is missing",
                    cfg->etcd_cert != NULL ? "etcd_key" : "etcd_cert");
    }
    if ((cfg->grpc_tls_cert == NULL) != (cfg->grpc_tls_key == NULL)) {
        const char *set = cfg->grpc_tls_cert != NULL ? "grpc_tls_cert" : "grpc_tls_key";
        src_t s = source_of(cfg, set);
        return fail(st, &keys[config_key_index(set)], &s,
                    "grpc_tls_cert and grpc_tls_key go together (--grpc-tls-cert, "
                    "--grpc-tls-key); %s is missing",
                    cfg->grpc_tls_cert != NULL ? "grpc_tls_key" : "grpc_tls_cert");
    }
    static const char *const tls[] = {"etcd_cacert", "etcd_cert", "etcd_key", "grpc_tls_cert",
                                      "grpc_tls_key"};
    for (size_t i = 0; i < sizeof tls / sizeof *tls; i++) {
        const kdef_t *k = &keys[config_key_index(tls[i])];
        const char *path = *(char **)field(cfg, k);
        FILE *f = path != NULL ? fopen(path, "r") : NULL;
        struct stat sb;
        if (path != NULL && (f == NULL || fstat(fileno(f), &sb) != 0 || S_ISDIR(sb.st_mode))) {
            int e = f == NULL ? errno : EISDIR;
            if (f != NULL) {
                fclose(f);
            }
            src_t s = source_of(cfg, tls[i]);
            return fail(st, k, &s, "cannot read '%s': %s", path, strerror(e));
        }
        if (f != NULL) {
            fclose(f);
        }
    }
    /* The admin token: the file unless the token itself comes from a source
     * of higher precedence. */
    if (cfg->admin_token_file != NULL) {
        int ti = config_key_index("admin_token"), fi = config_key_index("admin_token_file");
        if (cfg->admin_token == NULL || cfg->sources[fi].kind >= cfg->sources[ti].kind) {
            src_t s = source_of(cfg, "admin_token_file");
            if ((rc = read_token(st, &s)) != 0) {
                return rc;
            }
            cfg->sources[ti] = cfg->sources[fi];
        }
    }
    return 0;
}

int config_parse_env(int argc, char **argv, char *const *envp, config_t *cfg, FILE *out, FILE *err)
{
    memset(cfg, 0, sizeof *cfg);
    st_t st = {.cfg = cfg, .err = err};
    int rc = 0;

    /* 1. Defaults, through the same parsers as every other source. */
    for (size_t i = 0; rc == 0 && i < N_KEYS; i++) {
        if (keys[i].def != NULL) {
            src_t s = {.kind = CONFIG_SRC_DEFAULT};
            rc = apply(&st, (int)i, keys[i].def, NULL, NULL, &s);
        }
    }
    if (rc != 0) {
        return rc < 0 ? rc : -EINVAL; /* a bad default is a bug */
    }

    /* 2. The command line, checked (and --help, --version, --config acted on)
     * before anything is read; its values are applied last. */
    typedef struct {
        int key;
        const char *flag;
        const char *value;
    } fv_t;
    fv_t *fv = calloc((size_t)(argc > 0 ? argc : 1), sizeof *fv);
    size_t nfv = 0;
    const char *config_path = NULL;
    if (fv == NULL) {
        return -ENOMEM;
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            config_usage(out);
            free(fv);
            return CONFIG_HELP;
        }
        if (strcmp(arg, "--version") == 0) {
            fprintf(out, "enjoliverd %s\n", ENJ_VERSION);
            free(fv);
            return CONFIG_HELP;
        }
        /* Split "--flag=value" / "--flag value". */
        char flag[64];
        const char *eq = strchr(arg, '=');
        size_t flen = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        if (strncmp(arg, "--", 2) != 0 || flen >= sizeof flag) {
            fprintf(err, "enjoliverd: unexpected argument '%s' (see --help)\n", arg);
            free(fv);
            return CONFIG_INVALID;
        }
        memcpy(flag, arg, flen);
        flag[flen] = '\0';
        int key = -1;
        const char *spelled = NULL;
        for (size_t k = 0; k < N_KEYS && key < 0; k++) {
            if (keys[k].flag != NULL && strcmp(flag, keys[k].flag) == 0) {
                key = (int)k, spelled = keys[k].flag;
            } else if (keys[k].alias != NULL && strcmp(flag, keys[k].alias) == 0) {
                key = (int)k, spelled = keys[k].alias;
            }
        }
        if (key < 0 && strcmp(flag, "--config") != 0) {
            fprintf(err, "enjoliverd: unknown flag '%s' (see --help)\n", flag);
            free(fv);
            return CONFIG_INVALID;
        }
        const char *value;
        if (eq != NULL) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            fprintf(err, "enjoliverd: %s needs a value (see --help)\n", flag);
            free(fv);
            return CONFIG_INVALID;
        }
        if (key < 0) {
            if (*value == '\0') {
                fprintf(err, "enjoliverd: --config: expected a file path, got ''\n");
                free(fv);
                return CONFIG_INVALID;
            }
            config_path = value;
        } else {
            fv[nfv++] = (fv_t){.key = key, .flag = spelled, .value = value};
        }
    }

    /* 3. The YAML file. */
    if (config_path != NULL) {
        rc = load_file(&st, config_path, "--config");
    } else {
        const char *p = env_get(envp, ENV_CONFIGS_YAML);
        if (p != NULL && *p != '\0') {
            rc = load_file(&st, p, "$" ENV_CONFIGS_YAML);
        }
    }
    /* 4. The environment, 5. the flags, 6. what depends on several keys. */
    if (rc == 0) {
        rc = load_env(&st, envp);
    }
    for (size_t i = 0; rc == 0 && i < nfv; i++) {
        src_t s = {.kind = CONFIG_SRC_FLAG, .flag = fv[i].flag};
        rc = apply(&st, fv[i].key, fv[i].value, NULL, NULL, &s);
    }
    free(fv);
    if (rc == 0) {
        rc = finish(&st);
    }
    return rc;
}

int config_parse(int argc, char **argv, config_t *cfg, FILE *out, FILE *err)
{
    return config_parse_env(argc, argv, environ, cfg, out, err);
}

/* ---- --help --------------------------------------------------------------- */

static const char *type_text(const kdef_t *k, char *buf, size_t len)
{
    switch (k->type) {
    case T_STR:
        return k->flags & K_SECRET ? "secret string" : "string";
    case T_INT:
        snprintf(buf, len, "%sint %ld..%ld", (k->flags & K_ODD) ? "odd " : "", k->min, k->max);
        return buf;
    case T_BOOL:
        return "bool";
    case T_LIST:
        return "list";
    case T_ENDPOINTS:
        return "list of endpoints";
    case T_DICT:
        return "dict of strings";
    case T_IDICT:
        return "dict of ints";
    case T_IGNITION:
        return "dict of template names";
    case T_ADDR:
        return "host:port";
    case T_LOGLEVEL:
        return "level";
    case T_LOGFORMAT:
        return "text|json";
    }
    return "?";
}

/* Help text lines after the first are indented to column 32. */
static void print_indented(FILE *f, const char *text)
{
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        fprintf(f, "%.*s\n", (int)n, p);
        p += n + (nl != NULL);
        if (*p) {
            fprintf(f, "%32s", "");
        }
    }
}

void config_usage(FILE *f)
{
    char head[96], tb[64];
    fprintf(f, "usage: enjoliverd [FLAGS]\n"
               "\n"
               "Enjoliver controller: serves the HTTP and gRPC APIs; all state lives in etcd v3.\n"
               "Without --etcd-endpoints it starts and supervises a local single-member etcd.\n"
               "SIGINT or SIGTERM stops it (and its local etcd) cleanly.\n"
               "\n"
               "  --config PATH                 YAML configuration file (keys below).\n"
               "                                Default: $" ENV_CONFIGS_YAML "\n");
    for (size_t i = 0; i < N_KEYS; i++) {
        const kdef_t *k = &keys[i];
        if (k->flag == NULL) {
            continue;
        }
        snprintf(head, sizeof head, "  %s %s", k->flag, k->metavar);
        fprintf(f, "%-30s", head);
        if (strlen(head) >= 30) {
            fprintf(f, "\n%32s", "");
        } else {
            fprintf(f, "  ");
        }
        print_indented(f, k->help);
        const char *d = k->def_doc ? k->def_doc : k->def;
        fprintf(f, "%32sDefault: %s;%s key %s\n", "", d,
                strlen(d) + strlen(k->name) > 80 - 32 - 15 ? "\n                               "
                                                           : "",
                k->name);
        if (k->alias != NULL) {
            snprintf(head, sizeof head, "  %s %s", k->alias, k->metavar);
            fprintf(f, "%-30s  the same as %s\n", head, k->flag);
        }
    }
    fprintf(f, "  --help                        this text\n"
               "  --version                     print the version\n"
               "\n"
               "Configuration, lowest precedence first: defaults (the original Enjoliver's\n"
               "shipped configs.yaml), the YAML file (--config, else $" ENV_CONFIGS_YAML "),\n"
               "the environment (ENJOLIVER_<KEY in upper case>, e.g. ENJOLIVER_API_URI), then\n"
               "the flags. Values are typed everywhere: ints, bools (true/false/yes/no/1/0,\n"
               "any case), lists and dicts in YAML flow syntax in the environment, e.g.\n"
               "ENJOLIVER_ETC_HOSTS='[\"172.20.0.1 enjoliver.local\"]' or\n"
               "ENJOLIVER_EXTRA_SELECTORS='{os: installed}'. A bad value names the key and\n"
               "where it came from, and enjoliverd exits 2. The original's keys that mean\n"
               "nothing here are accepted and ignored:");
    for (size_t i = 0; i < N_DROPPED; i++) {
        fprintf(f, "%s%s", i % 4 == 0 ? "\n  " : " ", dropped_keys[i]);
    }
    fprintf(f, "\nOther unknown keys are a warning. GET /configs shows every value and its\n"
               "source. Keys (type: default):\n");
    for (size_t i = 0; i < N_KEYS; i++) {
        const kdef_t *k = &keys[i];
        fprintf(f, "  %s (%s): %s\n", k->name, type_text(k, tb, sizeof tb),
                k->def_doc ? k->def_doc : k->def);
    }
    fprintf(f, "\nExit status: 0 after SIGINT/SIGTERM, 1 on a runtime failure, 2 on a bad\n"
               "flag or configuration value.\n");
}

/* ---- GET /configs ----------------------------------------------------------- */

static json_t *value_json(const config_t *cfg, const kdef_t *k)
{
    const void *p = cfield(cfg, k);
    json_t *v = NULL;
    char buf[INET6_ADDRSTRLEN + 16];
    switch (k->type) {
    case T_STR: {
        const char *s = *(char *const *)p;
        if (s != NULL && (k->flags & K_SECRET)) {
            return json_string(REDACTED);
        }
        return s != NULL ? json_string(s) : json_null();
    }
    case T_INT:
        return json_integer(*(const int *)p);
    case T_BOOL:
        return json_boolean(*(const bool *)p);
    case T_LIST:
    case T_ENDPOINTS: {
        const config_strlist_t *l = p;
        v = json_array();
        for (size_t i = 0; v != NULL && i < l->n; i++) {
            json_array_append_new(v, json_string(l->v[i]));
        }
        return v;
    }
    case T_DICT: {
        const config_strdict_t *d = p;
        v = json_object();
        for (size_t i = 0; v != NULL && i < d->n; i++) {
            json_object_set_new(v, d->keys[i], json_string(d->values[i]));
        }
        return v;
    }
    case T_IDICT: {
        const config_intdict_t *d = p;
        v = json_object();
        for (size_t i = 0; v != NULL && i < d->n; i++) {
            json_object_set_new(v, d->keys[i], json_integer(d->values[i]));
        }
        return v;
    }
    case T_IGNITION:
        return json_pack("{s:s?, s:s?, s:s?}", "discovery", cfg->ignition_dict.discovery,
                         "etcd_member_kubernetes_control_plane",
                         cfg->ignition_dict.etcd_member_kubernetes_control_plane,
                         "kubernetes_nodes", cfg->ignition_dict.kubernetes_nodes);
    case T_ADDR: {
        const config_addr_t *a = p;
        if (a->host == NULL) {
            return json_null();
        }
        snprintf(buf, sizeof buf, strchr(a->host, ':') ? "[%s]:%d" : "%s:%d", a->host, a->port);
        return json_string(buf);
    }
    case T_LOGLEVEL:
        return json_string(log_level_name(*(const log_level_t *)p));
    case T_LOGFORMAT:
        return json_string(*(const config_log_format_t *)p == CONFIG_LOG_JSON ? "json" : "text");
    }
    return json_null();
}

json_t *config_to_json(const config_t *cfg)
{
    json_t *all = json_object();
    json_t *by[4] = {json_object(), json_object(), json_object(), json_object()};
    json_t *sources = json_object();
    json_t *ignored = json_array();
    char buf[512];
    if (all == NULL || sources == NULL || ignored == NULL || !by[0] || !by[1] || !by[2] || !by[3]) {
        json_decref(all), json_decref(sources), json_decref(ignored);
        for (int i = 0; i < 4; i++) {
            json_decref(by[i]);
        }
        return NULL;
    }
    for (size_t i = 0; i < N_KEYS; i++) {
        const kdef_t *k = &keys[i];
        json_t *v = value_json(cfg, k);
        json_object_set(all, k->name, v);
        json_object_set_new(by[cfg->sources[i].kind], k->name, v);
        json_object_set_new(sources, k->name,
                            json_string(config_source_text(cfg, k->name, buf, sizeof buf)));
    }
    for (size_t i = 0; i < cfg->ignored_keys.n; i++) {
        json_array_append_new(ignored, json_string(cfg->ignored_keys.v[i]));
    }
    json_object_set_new(all, "default", by[CONFIG_SRC_DEFAULT]);
    json_object_set_new(all, "from_yaml", by[CONFIG_SRC_YAML]);
    json_object_set_new(all, "from_env", by[CONFIG_SRC_ENV]);
    json_object_set_new(all, "from_flags", by[CONFIG_SRC_FLAG]);
    json_object_set_new(all, "sources", sources);
    json_object_set_new(all, "config_file",
                        cfg->config_file ? json_string(cfg->config_file) : json_null());
    json_object_set_new(all, "ignored_keys", ignored);
    return all;
}

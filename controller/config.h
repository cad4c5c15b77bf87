/*
 * enjoliverd's command line. Every flag accepts "--flag=value" and
 * "--flag value". config_usage() is the reference for flags and defaults.
 */
#ifndef ENJ_CONFIG_H
#define ENJ_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/log.h"

typedef struct config_s {
    /* --etcd-endpoints: NULL/0 = start and supervise a local etcd. */
    char **etcd_endpoints;
    size_t n_etcd_endpoints;
    /* --data-dir: the local etcd's data directory. */
    char *data_dir;
    /* --listen-http host and port (port 0 = any free port). */
    char *listen_host;
    uint16_t listen_port;
    log_level_t log_level;
    /* --local-etcd-client-port, --local-etcd-peer-port, --etcd-bin */
    uint16_t local_etcd_client_port;
    uint16_t local_etcd_peer_port;
    char *etcd_bin;
    /* --etcd-prefix: every key of Enjoliver's state lives under it. */
    char *etcd_prefix;
    /* --install-lock-seconds: TTL of the install token; <= 0 disables it. */
    int install_lock_seconds;
    /* --sync-notify-ttl: lifetime of the sync flag, s (0 = for ever). */
    int sync_notify_ttl;
    /* --api-uri, --matchbox-uri */
    char *api_uri;
    char *matchbox_uri;
    /* The admin token: --admin-token-file, else $ENJOLIVER_ADMIN_TOKEN;
     * NULL = admin routes are open. */
    char *admin_token;
    /* --backup-dir: where POST /backup/db writes etcd snapshots. */
    char *backup_dir;
} config_t;

/* The configuration as GET /configs shows it (the token redacted). */
#include <jansson.h>
json_t *config_to_json(const config_t *cfg);

enum {
    CONFIG_OK = 0,
    CONFIG_HELP = 1,    /* --help or --version was printed: exit 0 */
    CONFIG_INVALID = 2, /* the error was printed: exit 2 */
};

/*
 * Parses argv into cfg (defaults first). Errors name the flag and the value
 * and go to `err`; --help and --version go to `out`. Returns CONFIG_*;
 * -ENOMEM on allocation failure. Free with config_free() in every case.
 */
int config_parse(int argc, char **argv, config_t *cfg, FILE *out, FILE *err);
void config_free(config_t *cfg);
void config_usage(FILE *f);

#endif

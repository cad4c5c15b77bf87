/*
 * enjoliverd's command line. Every flag accepts "--flag=value" and
 * "--flag value". config_usage() is the reference for flags and defaults.
 */
#ifndef ENJ_CONFIG_H
#define ENJ_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"

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
} config_t;

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

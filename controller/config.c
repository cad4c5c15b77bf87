/* enjoliverd's command line: see config.h. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifndef ENJ_VERSION
#define ENJ_VERSION "0.0.0"
#endif

#define DEFAULT_DATA_DIR "./var/etcd"
#define DEFAULT_LISTEN_HOST "127.0.0.1"
#define DEFAULT_LISTEN_PORT 5000
#define DEFAULT_ETCD_CLIENT_PORT 2379
#define DEFAULT_ETCD_PEER_PORT 2380
#define DEFAULT_ETCD_BIN "/usr/bin/etcd"
#define DEFAULT_ETCD_PREFIX "/enjoliver/"
#define DEFAULT_API_URI "http://127.0.0.1:5000"
#define DEFAULT_BACKUP_DIR "./var/backups"

void config_usage(FILE *f)
{
    fprintf(
        f,
        "usage: enjoliverd [FLAGS]\n"
        "\n"
        "Enjoliver controller: serves the HTTP API; all state lives in etcd v3.\n"
        "Without --etcd-endpoints it starts and supervises a local single-member etcd.\n"
        "SIGINT or SIGTERM stops it (and its local etcd) cleanly.\n"
        "\n"
        "  --etcd-endpoints LIST         comma-separated etcd client endpoints,\n"
        "                                host:port or http(s)://host:port, tried in order.\n"
        "                                Default: none, i.e. run a local etcd (below).\n"
        "  --data-dir DIR                data directory of the local etcd; its log goes to\n"
        "                                DIR.log. Default: " DEFAULT_DATA_DIR "\n"
        "  --local-etcd-client-port N    client port of the local etcd on 127.0.0.1.\n"
        "                                Default: %d\n"
        "  --local-etcd-peer-port N      peer port of the local etcd on 127.0.0.1.\n"
        "                                Default: %d\n"
        "  --etcd-bin PATH               etcd binary for the local etcd.\n"
        "                                Default: " DEFAULT_ETCD_BIN "\n"
        "  --etcd-prefix PREFIX          etcd key prefix of all Enjoliver state, ending\n"
        "                                with '/'. Default: " DEFAULT_ETCD_PREFIX "\n"
        "  --api-uri URL                 the public URL of this API, as machines reach it\n"
        "                                (iPXE script, profiles). Default: " DEFAULT_API_URI "\n"
        "  --matchbox-uri URL            matchbox's URL, e.g. http://127.0.0.1:8080.\n"
        "                                Default: none (matchbox routes answer 503)\n"
        "  --sync-notify-ttl N           lifetime of the sync flag in seconds; 0 = for ever.\n"
        "                                Default: 60\n"
        "  --backup-dir DIR              where POST /backup/db writes etcd snapshots\n"
        "                                (created if missing). Default: " DEFAULT_BACKUP_DIR "\n"
        "  --admin-token-file PATH       file holding the admin bearer token (admin routes:\n"
        "                                POST /scheduler, POST/DELETE /lifecycle/rolling/..,\n"
        "                                DELETE /discovery/<uuid>, POST /backup/db).\n"
        "                                Default: $ENJOLIVER_ADMIN_TOKEN; neither: admin\n"
        "                                routes are open (logged as a warning)\n"
        "  --install-lock-seconds N      how long an install authorization holds the\n"
        "                                install token unless the install report comes\n"
        "                                first; 0 disables the token. Default: 45\n"
        "  --listen-http HOST:PORT       address of the HTTP API; IPv4, [IPv6] or\n"
        "                                localhost; port 0 = any free port (logged).\n"
        "                                Default: " DEFAULT_LISTEN_HOST ":%d\n"
        "  --log-level LEVEL             debug, info, warn or error. Default: info\n"
        "  --help                        this text\n"
        "  --version                     print the version\n"
        "\n"
        "Exit status: 0 after SIGINT/SIGTERM, 1 on a runtime failure, 2 on a bad flag.\n",
        DEFAULT_ETCD_CLIENT_PORT, DEFAULT_ETCD_PEER_PORT, DEFAULT_LISTEN_PORT);
}

void config_free(config_t *cfg)
{
    if (cfg == NULL) {
        return;
    }
    for (size_t i = 0; i < cfg->n_etcd_endpoints; i++) {
        free(cfg->etcd_endpoints[i]);
    }
    free(cfg->etcd_endpoints);
    free(cfg->data_dir);
    free(cfg->listen_host);
    free(cfg->etcd_bin);
    free(cfg->etcd_prefix);
    free(cfg->api_uri);
    free(cfg->matchbox_uri);
    free(cfg->admin_token);
    free(cfg->backup_dir);
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

/* The token is the file's first line, without surrounding blanks. */
static int read_token(const char *path, config_t *cfg, FILE *err)
{
    FILE *f = fopen(path, "r");
    char buf[512];
    if (!f) {
        fprintf(err, "enjoliverd: --admin-token-file: cannot read '%s': %s\n", path,
                strerror(errno));
        return -1;
    }
    char *line = fgets(buf, sizeof buf, f);
    fclose(f);
    size_t n = line ? strlen(line) : 0;
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
        line[--n] = '\0';
    while (line && *line == ' ')
        line++, n--;
    if (!line || n < 16) {
        fprintf(err,
                "enjoliverd: --admin-token-file: '%s' must hold a token of at least 16 "
                "characters on its first line\n",
                path);
        return -1;
    }
    return set_str(&cfg->admin_token, line);
}

static int parse_port(const char *v, int allow_zero, uint16_t *out)
{
    char *end = NULL;
    errno = 0;
    if (v[0] < '0' || v[0] > '9') {
        return -EINVAL;
    }
    unsigned long n = strtoul(v, &end, 10);
    if (errno != 0 || *end != '\0' || n > 65535 || (n == 0 && !allow_zero)) {
        return -EINVAL;
    }
    *out = (uint16_t)n;
    return 0;
}

/* "host:port" with host = IPv4 literal, [IPv6 literal] or localhost. */
static int parse_listen(const char *v, config_t *cfg, FILE *err)
{
    const char *colon;
    char host[INET6_ADDRSTRLEN + 2];
    if (v[0] == '[') {
        const char *close = strchr(v, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - v - 1) >= sizeof host) {
            goto bad;
        }
        memcpy(host, v + 1, (size_t)(close - v - 1));
        host[close - v - 1] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1) {
            goto bad;
        }
        colon = close + 1;
    } else {
        colon = strrchr(v, ':');
        if (colon == NULL || (size_t)(colon - v) >= sizeof host) {
            goto bad;
        }
        memcpy(host, v, (size_t)(colon - v));
        host[colon - v] = '\0';
        struct in_addr a4;
        if (strcmp(host, "localhost") == 0) {
            strcpy(host, "127.0.0.1");
        } else if (inet_pton(AF_INET, host, &a4) != 1) {
            goto bad;
        }
    }
    if (parse_port(colon + 1, 1, &cfg->listen_port) != 0) {
        goto bad;
    }
    return set_str(&cfg->listen_host, host);
bad:
    fprintf(err,
            "enjoliverd: --listen-http: '%s' is not HOST:PORT (HOST an IPv4 address, "
            "[IPv6 address] or localhost; PORT 0..65535), e.g. 127.0.0.1:5000\n",
            v);
    return CONFIG_INVALID;
}

/* One endpoint: [http://|https://]host:port, port 1..65535. */
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
    uint16_t port;
    return parse_port(colon + 1, 0, &port) == 0;
}

static int parse_endpoints(const char *v, config_t *cfg, FILE *err)
{
    for (size_t i = 0; i < cfg->n_etcd_endpoints; i++) {
        free(cfg->etcd_endpoints[i]);
    }
    free(cfg->etcd_endpoints);
    cfg->etcd_endpoints = NULL;
    cfg->n_etcd_endpoints = 0;

    size_t n = 1;
    for (const char *p = v; *p != '\0'; p++) {
        n += *p == ',';
    }
    cfg->etcd_endpoints = calloc(n, sizeof *cfg->etcd_endpoints);
    if (cfg->etcd_endpoints == NULL) {
        return -ENOMEM;
    }
    const char *start = v;
    for (size_t i = 0; i < n; i++) {
        const char *end = strchr(start, ',');
        size_t len = end != NULL ? (size_t)(end - start) : strlen(start);
        char *e = strndup(start, len);
        if (e == NULL) {
            return -ENOMEM;
        }
        cfg->etcd_endpoints[cfg->n_etcd_endpoints++] = e;
        if (!endpoint_valid(e)) {
            fprintf(err,
                    "enjoliverd: --etcd-endpoints: '%s' is not an endpoint: expected a "
                    "comma-separated list of host:port or http(s)://host:port, e.g. "
                    "127.0.0.1:2379,http://10.0.0.2:2379\n",
                    e);
            return CONFIG_INVALID;
        }
        start = end != NULL ? end + 1 : start + len;
    }
    return 0;
}

static int bad_port(FILE *err, const char *flag, const char *v)
{
    fprintf(err, "enjoliverd: %s: '%s' is not a port number in 1..65535\n", flag, v);
    return CONFIG_INVALID;
}

int config_parse(int argc, char **argv, config_t *cfg, FILE *out, FILE *err)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->listen_port = DEFAULT_LISTEN_PORT;
    cfg->log_level = LOG_LEVEL_INFO;
    cfg->install_lock_seconds = 45;
    cfg->sync_notify_ttl = 60;
    cfg->local_etcd_client_port = DEFAULT_ETCD_CLIENT_PORT;
    cfg->local_etcd_peer_port = DEFAULT_ETCD_PEER_PORT;
    if (set_str(&cfg->data_dir, DEFAULT_DATA_DIR) != 0 ||
        set_str(&cfg->listen_host, DEFAULT_LISTEN_HOST) != 0 ||
        set_str(&cfg->etcd_bin, DEFAULT_ETCD_BIN) != 0 ||
        set_str(&cfg->etcd_prefix, DEFAULT_ETCD_PREFIX) != 0 ||
        set_str(&cfg->api_uri, DEFAULT_API_URI) != 0 ||
        set_str(&cfg->backup_dir, DEFAULT_BACKUP_DIR) != 0) {
        return -ENOMEM;
    }

    static const char *const with_value[] = {
        "--etcd-endpoints",
        "--data-dir",
        "--listen-http",
        "--log-level",
        "--etcd-bin",
        "--local-etcd-client-port",
        "--local-etcd-peer-port",
        "--etcd-prefix",
        "--install-lock-seconds",
        "--sync-notify-ttl",
        "--api-uri",
        "--matchbox-uri",
        "--admin-token-file",
        "--backup-dir",
    };
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            config_usage(out);
            return CONFIG_HELP;
        }
        if (strcmp(arg, "--version") == 0) {
            fprintf(out, "enjoliverd %s\n", ENJ_VERSION);
            return CONFIG_HELP;
        }
        /* Split "--flag=value" / "--flag value". */
        char flag[64];
        const char *value = NULL;
        const char *eq = strchr(arg, '=');
        size_t flen = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        if (strncmp(arg, "--", 2) != 0 || flen >= sizeof flag) {
            fprintf(err, "enjoliverd: unexpected argument '%s' (see --help)\n", arg);
            return CONFIG_INVALID;
        }
        memcpy(flag, arg, flen);
        flag[flen] = '\0';
        int known = 0;
        for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++) {
            known |= strcmp(flag, with_value[k]) == 0;
        }
        if (!known) {
            fprintf(err, "enjoliverd: unknown flag '%s' (see --help)\n", flag);
            return CONFIG_INVALID;
        }
        if (eq != NULL) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            fprintf(err, "enjoliverd: %s needs a value (see --help)\n", flag);
            return CONFIG_INVALID;
        }

        int rc = 0;
        if (strcmp(flag, "--etcd-endpoints") == 0) {
            rc = parse_endpoints(value, cfg, err);
        } else if (strcmp(flag, "--data-dir") == 0 || strcmp(flag, "--etcd-bin") == 0 ||
                   strcmp(flag, "--backup-dir") == 0) {
            if (value[0] == '\0') {
                fprintf(err, "enjoliverd: %s: the path must not be empty\n", flag);
                return CONFIG_INVALID;
            }
            rc = set_str(flag[2] == 'd'   ? &cfg->data_dir
                         : flag[2] == 'b' ? &cfg->backup_dir
                                          : &cfg->etcd_bin,
                         value);
        } else if (strcmp(flag, "--listen-http") == 0) {
            rc = parse_listen(value, cfg, err);
        } else if (strcmp(flag, "--log-level") == 0) {
            if (log_level_parse(value, &cfg->log_level) != 0) {
                fprintf(err,
                        "enjoliverd: --log-level: '%s' is not one of debug, info, warn, "
                        "error\n",
                        value);
                return CONFIG_INVALID;
            }
        } else if (strcmp(flag, "--local-etcd-client-port") == 0) {
            if (parse_port(value, 0, &cfg->local_etcd_client_port) != 0) {
                return bad_port(err, flag, value);
            }
        } else if (strcmp(flag, "--sync-notify-ttl") == 0) {
            char *end = NULL;
            long v = strtol(value, &end, 10);
            if (*value == '\0' || *end != '\0' || v < 0 || v > 86400) {
                fprintf(err,
                        "enjoliverd: --sync-notify-ttl: '%s' is not a number of seconds in "
                        "0..86400 (0 = for ever)\n",
                        value);
                return CONFIG_INVALID;
            }
            cfg->sync_notify_ttl = (int)v;
        } else if (strcmp(flag, "--api-uri") == 0 || strcmp(flag, "--matchbox-uri") == 0) {
            size_t vl = strlen(value);
            if ((strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0) ||
                vl > 200 || value[vl - 1] == '/') {
                fprintf(err,
                        "enjoliverd: %s: '%s' must be an http(s):// URL of at most 200 bytes "
                        "without a trailing '/', e.g. http://172.20.0.1:5000\n",
                        flag, value);
                return CONFIG_INVALID;
            }
            rc = set_str(flag[2] == 'a' ? &cfg->api_uri : &cfg->matchbox_uri, value);
        } else if (strcmp(flag, "--admin-token-file") == 0) {
            if (read_token(value, cfg, err) != 0)
                return CONFIG_INVALID;
        } else if (strcmp(flag, "--install-lock-seconds") == 0) {
            char *end = NULL;
            long v = strtol(value, &end, 10);
            if (*value == '\0' || *end != '\0' || v < 0 || v > 86400) {
                fprintf(err,
                        "enjoliverd: --install-lock-seconds: '%s' is not a number of seconds "
                        "in 0..86400 (0 disables the install lock)\n",
                        value);
                return CONFIG_INVALID;
            }
            cfg->install_lock_seconds = (int)v;
        } else if (strcmp(flag, "--etcd-prefix") == 0) {
            size_t pl = strlen(value);
            if (pl == 0 || pl > 100 || value[pl - 1] != '/') {
                fprintf(err,
                        "enjoliverd: --etcd-prefix: '%s' must be 1..100 bytes ending with '/', "
                        "e.g. /enjoliver/\n",
                        value);
                return CONFIG_INVALID;
            }
            rc = set_str(&cfg->etcd_prefix, value);
        } else if (strcmp(flag, "--local-etcd-peer-port") == 0) {
            if (parse_port(value, 0, &cfg->local_etcd_peer_port) != 0) {
                return bad_port(err, flag, value);
            }
        }
        if (rc != 0) {
            return rc;
        }
    }
    if (cfg->n_etcd_endpoints == 0 && cfg->local_etcd_client_port == cfg->local_etcd_peer_port) {
        fprintf(err,
                "enjoliverd: --local-etcd-client-port and --local-etcd-peer-port are both %u; "
                "they must differ\n",
                (unsigned)cfg->local_etcd_client_port);
        return CONFIG_INVALID;
    }
    const char *env_token = getenv("ENJOLIVER_ADMIN_TOKEN");
    if (!cfg->admin_token && env_token && *env_token) {
        if (strlen(env_token) < 16) {
            fprintf(err, "enjoliverd: ENJOLIVER_ADMIN_TOKEN must be at least 16 characters\n");
            return CONFIG_INVALID;
        }
        if (set_str(&cfg->admin_token, env_token) != 0)
            return -ENOMEM;
    }
    /* Strip trailing slashes of the data dir (DIR.log must sit beside it). */
    size_t dl = strlen(cfg->data_dir);
    while (dl > 1 && cfg->data_dir[dl - 1] == '/') {
        cfg->data_dir[--dl] = '\0';
    }
    if (strcmp(cfg->data_dir, "/") == 0) {
        fprintf(err, "enjoliverd: --data-dir: '/' cannot be etcd's data directory\n");
        return CONFIG_INVALID;
    }
    return CONFIG_OK;
}

json_t *config_to_json(const config_t *cfg)
{
    json_t *eps = json_array();
    for (size_t i = 0; i < cfg->n_etcd_endpoints; i++)
        json_array_append_new(eps, json_string(cfg->etcd_endpoints[i]));
    return json_pack("{s:o, s:s, s:s, s:s, s:i, s:s, s:s?, s:i, s:i, s:s, s:s, s:b, s:s}",
                     "etcd_endpoints", eps, "data_dir", cfg->data_dir, "etcd_prefix",
                     cfg->etcd_prefix, "listen_host", cfg->listen_host, "listen_port",
                     (int)cfg->listen_port, "api_uri", cfg->api_uri, "matchbox_uri",
                     cfg->matchbox_uri, "coreos_install_lock_seconds", cfg->install_lock_seconds,
                     "sync_notify_ttl", cfg->sync_notify_ttl, "backup_dir", cfg->backup_dir,
                     "log_level", log_level_name(cfg->log_level), "admin_token_set",
                     cfg->admin_token != NULL, "admin_token", cfg->admin_token ? "<redacted>" : "");
}

/* enjoliver-agent: flags, signals, the loop. The daemon is agent.c. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "common/http_client.h"
#include "common/log.h"

#define MAX_SERVERS 16

static const char usage[] =
    "usage: enjoliver-agent --server URL [options]\n"
    "\n"
    "Runs on every machine: reports its facts to enjoliverd (the discovery\n"
    "report) and the Ignition it runs, learns through a watch whether it is\n"
    "outdated, and then rolls it: a slot of the rolling-update semaphore,\n"
    "drain, kexec/reboot/poweroff, ready checks, uncordon, release, each step\n"
    "journaled in --state-dir. It talks only to enjoliverd, never to etcd.\n"
    "\n"
    "  --server URL          enjoliverd's HTTP API, e.g. http://10.0.0.1:5000;\n"
    "                        repeat (or separate with commas) for replicas:\n"
    "                        the agent moves to the next one when one fails\n"
    "  --grpc-server H:P     enjoliverd's gRPC API; repeatable. Default: the\n"
    "                        host of each --server with port 5001\n"
    "  --root DIR            read the facts under DIR (default /): proc/, sys/,\n"
    "                        etc/metadata.env, run/ignition.journal,\n"
    "                        usr/share/oem/coreos-install.json\n"
    "  --lldp-file PATH      `lldpctl -f keyvalue` output to read; default: run\n"
    "                        `lldpctl -f keyvalue` every minute when lldpctl\n"
    "                        (lldpd) is installed, else no LLDP\n"
    "  --interval S          Ignition report period, s (default 60; a change of\n"
    "                        the installed file is reported at once)\n"
    "  --facts-interval S    how often the facts are read again, s (default 10)\n"
    "  --state-dir DIR       the rolling-update journal (default\n"
    "                        /var/lib/enjoliver-agent)\n"
    "  --hooks-dir DIR       the site's hooks: drain, uncordon, kexec, reboot,\n"
    "                        poweroff (executables), ready.d/* (ready checks, in\n"
    "                        name order), blockers.d/* (while one fails, no\n"
    "                        slot is asked). Missing ones: kubectl drain/uncordon\n"
    "                        with the kubelet's kubeconfig, systemctl <strategy>,\n"
    "                        and the original's ready checks (etcd, apiserver,\n"
    "                        kubelet, node registered)\n"
    "                        An executable `install` there (or --install-hook)\n"
    "                        makes a discovery system install itself once it\n"
    "                        has roles: install authorization, the hook, the\n"
    "                        install report\n"
    "  --install-hook CMD    the disk install command (run with /bin/sh -c)\n"
    "  --hook-timeout S      drain, strategy, uncordon and install hooks\n"
    "                        (default 600; install 1800 when unset)\n"
    "  --check-timeout S     one ready check or blocker (default 30)\n"
    "  --check-retries N     attempts of a ready check (default 60)\n"
    "  --check-interval S    between attempts (default 5)\n"
    "  --token-file PATH     bearer token sent with gRPC calls\n"
    "  --tls-ca PATH         PEM roots: gRPC over TLS (default plaintext)\n"
    "  --log-level LEVEL     debug, info, warn or error (default info)\n"
    "  --log-format FORMAT   text or json (default text)\n"
    "  --help                this text\n"
    "  --version             the version\n"
    "\n"
    "Exit status: 0 after SIGINT/SIGTERM, 1 when it cannot start, 2 for a\n"
    "usage error.\n";

typedef struct opts_s {
    char *servers[MAX_SERVERS];
    size_t n_servers;
    char *grpc[MAX_SERVERS];
    size_t n_grpc;
    agent_config_t cfg;
    char *token;
} opts_t;

static int add_list(char **v, size_t *n, const char *arg, const char *what)
{
    char *copy = strdup(arg), *save = NULL;
    for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if (*n == MAX_SERVERS) {
            fprintf(stderr, "enjoliver-agent: at most %d %s\n", MAX_SERVERS, what);
            free(copy);
            return -1;
        }
        v[(*n)++] = strdup(p);
    }
    free(copy);
    return 0;
}

/* "http://host:5000/x" -> "host:5001" ("[v6]" kept). */
static int grpc_from_http(const char *url, char **out)
{
    const char *h = strstr(url, "://");
    h = h ? h + 3 : url;
    size_t n = *h == '[' ? strcspn(h, "]") + 1 : strcspn(h, ":/");
    return asprintf(out, "%.*s:5001", (int)n, h) < 0 ? -1 : 0;
}

static unsigned seconds(const char *arg, const char *flag)
{
    char *end = NULL;
    unsigned long v = strtoul(arg, &end, 10);
    if (!*arg || *end || v == 0 || v > 86400) {
        fprintf(stderr, "enjoliver-agent: %s wants seconds from 1 to 86400, not '%s'\n", flag, arg);
        exit(2);
    }
    return (unsigned)v;
}

static char *read_token(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[512] = "";
    if (!f || !fgets(line, sizeof line, f)) {
        fprintf(stderr, "enjoliver-agent: cannot read the token file %s: %s\n", path,
                f ? "empty" : strerror(errno));
        if (f)
            fclose(f);
        exit(2);
    }
    fclose(f);
    line[strcspn(line, "\r\n \t")] = 0;
    return strdup(line);
}

static void parse(int argc, char **argv, opts_t *o)
{
    static const struct option longs[] = {{"server", required_argument, 0, 's'},
                                          {"grpc-server", required_argument, 0, 'g'},
                                          {"root", required_argument, 0, 'r'},
                                          {"lldp-file", required_argument, 0, 'l'},
                                          {"interval", required_argument, 0, 'i'},
                                          {"facts-interval", required_argument, 0, 'f'},
                                          {"token-file", required_argument, 0, 't'},
                                          {"tls-ca", required_argument, 0, 'c'},
                                          {"log-level", required_argument, 0, 'L'},
                                          {"log-format", required_argument, 0, 'F'},
                                          {"state-dir", required_argument, 0, 'S'},
                                          {"hooks-dir", required_argument, 0, 'H'},
                                          {"hook-timeout", required_argument, 0, 'T'},
                                          {"check-timeout", required_argument, 0, 'C'},
                                          {"check-retries", required_argument, 0, 'R'},
                                          {"check-interval", required_argument, 0, 'I'},
                                          {"install-hook", required_argument, 0, 'N'},
                                          {"help", no_argument, 0, 'h'},
                                          {"version", no_argument, 0, 'V'},
                                          {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 's':
            if (add_list(o->servers, &o->n_servers, optarg, "--server") != 0)
                exit(2);
            break;
        case 'g':
            if (add_list(o->grpc, &o->n_grpc, optarg, "--grpc-server") != 0)
                exit(2);
            break;
        case 'r':
            o->cfg.root = optarg;
            break;
        case 'l':
            o->cfg.lldp_file = optarg;
            break;
        case 'i':
            o->cfg.interval_s = seconds(optarg, "--interval");
            break;
        case 'f':
            o->cfg.facts_interval_s = seconds(optarg, "--facts-interval");
            break;
        case 't':
            o->token = read_token(optarg);
            break;
        case 'c':
            o->cfg.tls_ca_file = optarg;
            break;
        case 'S':
            o->cfg.state_dir = optarg;
            break;
        case 'H':
            o->cfg.hooks_dir = optarg;
            break;
        case 'N':
            o->cfg.install_command = optarg;
            break;
        case 'T':
            o->cfg.hook_timeout_s = seconds(optarg, "--hook-timeout");
            break;
        case 'C':
            o->cfg.check_timeout_s = seconds(optarg, "--check-timeout");
            break;
        case 'R':
            o->cfg.check_retries = seconds(optarg, "--check-retries");
            break;
        case 'I':
            o->cfg.check_interval_s = seconds(optarg, "--check-interval");
            break;
        case 'L': {
            log_level_t lv;
            if (log_level_parse(optarg, &lv) != 0) {
                fprintf(stderr, "enjoliver-agent: --log-level: debug, info, warn or error\n");
                exit(2);
            }
            log_set_level(lv);
            break;
        }
        case 'F':
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0) {
                fprintf(stderr, "enjoliver-agent: --log-format: text or json\n");
                exit(2);
            }
            log_set_format(strcmp(optarg, "json") == 0 ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT);
            break;
        case 'h':
            fputs(usage, stdout);
            exit(0);
        case 'V':
            printf("enjoliver-agent %s\n", ENJ_VERSION);
            exit(0);
        default:
            fputs("see enjoliver-agent --help\n", stderr);
            exit(2);
        }
    }
    if (optind < argc || o->n_servers == 0) {
        fprintf(stderr, "enjoliver-agent: %s (see --help)\n",
                optind < argc ? "unexpected argument" : "--server is required");
        exit(2);
    }
    if (o->n_grpc == 0)
        for (size_t i = 0; i < o->n_servers; i++)
            if (grpc_from_http(o->servers[i], &o->grpc[o->n_grpc]) == 0)
                o->n_grpc++;
    o->cfg.servers = (const char *const *)o->servers;
    o->cfg.n_servers = o->n_servers;
    o->cfg.grpc_servers = (const char *const *)o->grpc;
    o->cfg.n_grpc_servers = o->n_grpc;
    o->cfg.token = o->token;
}

typedef struct app_s {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    agent_t *agent;
} app_t;

static void noop_close(uv_handle_t *h)
{
    (void)h;
}

static void stopped(void *data)
{
    app_t *app = data;
    app->agent = NULL;
    uv_close((uv_handle_t *)&app->sigint, noop_close);
    uv_close((uv_handle_t *)&app->sigterm, noop_close);
}

static void on_signal(uv_signal_t *s, int signum)
{
    app_t *app = s->data;
    log_info("stopping", "signal=%d", signum);
    if (app->agent)
        agent_stop(app->agent, stopped, app);
}

int main(int argc, char **argv)
{
    opts_t o;
    memset(&o, 0, sizeof o);
    parse(argc, argv, &o);
    signal(SIGPIPE, SIG_IGN);
    if (http_client_global_init() != 0)
        return 1;
    app_t app;
    memset(&app, 0, sizeof app);
    uv_loop_init(&app.loop);
    uv_signal_init(&app.loop, &app.sigint);
    uv_signal_init(&app.loop, &app.sigterm);
    app.sigint.data = app.sigterm.data = &app;
    uv_signal_start(&app.sigint, on_signal, SIGINT);
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);
    int rc = agent_start(&app.loop, &o.cfg, &app.agent);
    if (rc) {
        log_error("cannot start", "error=\"%s\"", strerror(-rc));
        uv_close((uv_handle_t *)&app.sigint, noop_close);
        uv_close((uv_handle_t *)&app.sigterm, noop_close);
    } else {
        log_info("enjoliver-agent started", "version=%s server=%s grpc=%s root=%s", ENJ_VERSION,
                 o.servers[0], o.grpc[0], o.cfg.root ? o.cfg.root : "/");
    }
    uv_run(&app.loop, UV_RUN_DEFAULT);
    uv_loop_close(&app.loop);
    for (size_t i = 0; i < o.n_servers; i++)
        free(o.servers[i]);
    for (size_t i = 0; i < o.n_grpc; i++)
        free(o.grpc[i]);
    free(o.token);
    http_client_global_cleanup();
    log_info("enjoliver-agent exited", "exit_code=%d", rc ? 1 : 0);
    return rc ? 1 : 0;
}

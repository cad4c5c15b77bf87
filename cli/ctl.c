/*
 * Global flags, flag parsing and error reporting shared by the commands.
 * Global flags are accepted before and after the command word
 * ("enjoliverctl -o json get machines" and "enjoliverctl get machines -o
 * json"), so every command parses them along with its own.
 */
#include "ctl.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_SERVER = 0x100, OPT_TOKEN_FILE, OPT_TIMEOUT, OPT_TLS_CA };

const struct option CTL_GLOBAL_OPTIONS[] = {
    {"server", required_argument, NULL, OPT_SERVER},
    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
    {"output", required_argument, NULL, 'o'},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"tls-ca", required_argument, NULL, OPT_TLS_CA},
    {"help", no_argument, NULL, 'h'},
    {0},
};

#define MAX_OPTIONS 32

void ctl_init(struct ctl *ctl)
{
    const char *s = getenv("ENJOLIVER_SERVER");
    const char *t = getenv("ENJOLIVER_TOKEN_FILE");

    memset(ctl, 0, sizeof *ctl);
    ctl->server = s != NULL && *s ? s : DEFAULT_SERVER;
    ctl->token_file = t != NULL && *t ? t : NULL;
    ctl->out = OUT_TABLE;
    ctl->timeout_ms = DEFAULT_TIMEOUT_S * 1000;
}

static void vreport(const char *fmt, va_list ap)
{
    fputs("enjoliverctl: ", stderr);
    vfprintf(stderr, fmt, ap);
}

int ctl_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nRun 'enjoliverctl%s%s --help' for usage.\n", cmd ? " " : "", cmd ? cmd : "");
    return EXIT_USAGE;
}

int ctl_rpc_error(const struct rpc_status *st, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
    fprintf(stderr, ": %s: %s\n", rpc_status_name(st->code),
            st->message != NULL && *st->message ? st->message : "(no message)");
    return EXIT_FAIL;
}

int ctl_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_FAIL;
}

int ctl_emit(const struct ctl *ctl, json_t *v)
{
    int rc;

    if (v == NULL)
        return ctl_error("out of memory");
    rc = out_document(v, ctl->out, stdout);
    json_decref(v);
    if (rc < 0 || fflush(stdout) == EOF)
        return ctl_error("cannot write the output");
    return EXIT_OK;
}

volatile sig_atomic_t ctl_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    ctl_stop = 1;
}

void ctl_catch_stop_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int ctl_parse_ll(const char *s, long long min, long long max, long long *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

/* Seconds, fractions allowed, at most a day: the deadline of a call. */
static int parse_timeout(const char *s, int *ms)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v > 0) || v > 86400)
        return -EINVAL;
    *ms = (int)(v * 1000 + 0.5);
    if (*ms == 0)
        *ms = 1;
    return 0;
}

int ctl_global_flag(struct ctl *ctl, const char *cmd, int opt, const char *value)
{
    switch (opt) {
    case OPT_SERVER:
        if (*value == '\0')
            return ctl_usage_error(cmd, "--server: empty address");
        ctl->server = value;
        return 0;
    case OPT_TOKEN_FILE:
        ctl->token_file = value;
        return 0;
    case OPT_TLS_CA:
        ctl->tls_ca = value;
        return 0;
    case 'o':
        if (out_format_parse(value, &ctl->out) < 0)
            return ctl_usage_error(cmd, "-o: '%s' is not table, json or yaml", value);
        return 0;
    case OPT_TIMEOUT:
        if (parse_timeout(value, &ctl->timeout_ms) < 0)
            return ctl_usage_error(
                cmd, "--timeout: '%s' is not a number of seconds (0 < s <= 86400)", value);
        return 0;
    }
    return 1;
}

/* The command's options followed by the global ones, in one table. */
static int merge_options(const struct option *own, struct option *all)
{
    size_t n = 0;

    for (; own != NULL && own->name != NULL; own++)
        all[n++] = *own;
    for (const struct option *g = CTL_GLOBAL_OPTIONS; g->name != NULL; g++) {
        if (n + 1 >= MAX_OPTIONS)
            return -E2BIG;
        all[n++] = *g;
    }
    memset(&all[n], 0, sizeof all[n]);
    return 0;
}

/* getopt's view of a bad flag, in our words. */
static int bad_flag(const char *cmd, char **argv, int opt)
{
    const char *arg = argv[optind - 1];

    if (opt == ':')
        return ctl_usage_error(cmd, "%s needs a value", arg);
    if (optopt != 0 && strncmp(arg, "--", 2) != 0)
        return ctl_usage_error(cmd, "unknown flag '-%c'", optopt);
    return ctl_usage_error(cmd, "unknown flag '%s'", arg);
}

int ctl_parse(struct ctl *ctl, const struct ctl_cmd *cmd, int argc, char **argv,
              const struct option *own, ctl_flag_fn on_flag, void *arg, int *operands)
{
    struct option all[MAX_OPTIONS];
    int opt, rc;

    if (merge_options(own, all) < 0)
        return ctl_error("internal error: too many flags");
    optind = 0; /* glibc: start over, argv is not the previous one */
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":" CTL_GLOBAL_SHORT, all, NULL)) != -1) {
        if (opt == 'h') {
            cmd->help(stdout);
            return -1;
        }
        if (opt == '?' || opt == ':')
            return bad_flag(cmd->name, argv, opt);
        rc = ctl_global_flag(ctl, cmd->name, opt, optarg);
        if (rc == 1)
            rc = on_flag != NULL ? on_flag(arg, opt, optarg) : 1;
        if (rc == 1)
            return bad_flag(cmd->name, argv, '?');
        if (rc != 0)
            return rc;
    }
    *operands = optind;
    return 0;
}

/* The first line of path without trailing whitespace, as enjoliverd reads
 * its --admin-token-file. */
static int read_token(const char *path, char **token)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    if (f == NULL)
        return -errno;
    n = getline(&line, &cap, f);
    fclose(f);
    if (n < 0) {
        free(line);
        return -ENODATA;
    }
    while (n > 0 && strchr(" \t\r\n", line[n - 1]) != NULL)
        line[--n] = '\0';
    if (n == 0) {
        free(line);
        return -ENODATA;
    }
    *token = line;
    return 0;
}

static int read_file(const char *path, char **text)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0;
    FILE *mem;
    char chunk[4096];
    size_t n;

    if (f == NULL)
        return -errno;
    if ((mem = open_memstream(&buf, &len)) == NULL) {
        fclose(f);
        return -ENOMEM;
    }
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, mem);
    n = ferror(f);
    fclose(f);
    fclose(mem);
    if (n) {
        free(buf);
        return -EIO;
    }
    *text = buf;
    return 0;
}

int ctl_connect(struct ctl *ctl)
{
    struct rpc_options opt = {.target = ctl->server, .timeout_ms = ctl->timeout_ms};
    char *token = NULL, *pem = NULL;
    int rc;

    if (ctl->token_file != NULL && (rc = read_token(ctl->token_file, &token)) < 0)
        return ctl_error("token file %s: %s", ctl->token_file,
                         rc == -ENODATA ? "empty" : strerror(-rc));
    if (ctl->tls_ca != NULL && (rc = read_file(ctl->tls_ca, &pem)) < 0) {
        free(token);
        return ctl_error("--tls-ca %s: %s", ctl->tls_ca, strerror(-rc));
    }
    opt.token = token;
    opt.root_pem = pem;
    rc = rpc_conn_open(&opt, &ctl->conn);
    free(token);
    free(pem);
    if (rc < 0)
        return ctl_error("cannot set up gRPC: %s", strerror(-rc));
    return EXIT_OK;
}

void ctl_close(struct ctl *ctl)
{
    rpc_conn_close(ctl->conn);
    ctl->conn = NULL;
}

/*
 * What every enjoliverctl command shares: the global flags, flag parsing,
 * the connection, and the way failures are reported.
 *
 * Exit codes: 0 success, 1 failure (an RPC, the server unreachable, a
 * file), 2 usage error (unknown command or flag, bad or missing argument).
 */
#ifndef ENJ_CLI_CTL_H
#define ENJ_CLI_CTL_H

#include <getopt.h>
#include <signal.h>
#include <stdio.h>

#include <jansson.h>

#include "output.h"
#include "rpc.h"

#ifndef ENJ_VERSION
#define ENJ_VERSION "0.0.0"
#endif

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

#define DEFAULT_SERVER "127.0.0.1:5001"
#define DEFAULT_TIMEOUT_S 10

struct ctl {
    const char *server;     /* --server, $ENJOLIVER_SERVER */
    const char *token_file; /* --token-file, $ENJOLIVER_TOKEN_FILE */
    const char *tls_ca;     /* --tls-ca */
    enum out_format out;    /* -o */
    int timeout_ms;         /* --timeout */
    struct rpc_conn *conn;  /* opened by ctl_connect */
};

/* A command: its flags beyond the global ones, and its help. */
struct ctl_cmd {
    const char *name;
    const char *summary; /* one line for the top-level help */
    int (*run)(struct ctl *ctl, int argc, char **argv);
    void (*help)(FILE *out);
};

/* Called for each flag of the command's own; returns 0, or EXIT_USAGE after
 * printing why with ctl_usage_error. */
typedef int (*ctl_flag_fn)(void *arg, int opt, const char *value);

/*
 * Parses argv (argv[0] = the command word) with the command's own long
 * options (own, terminated by a zero entry; NULL for none) and the global
 * ones, in any order. On success returns 0 with *operands set to the index
 * of the first operand; -1 when --help was asked for and printed (exit 0);
 * EXIT_USAGE after printing the error.
 */
int ctl_parse(struct ctl *ctl, const struct ctl_cmd *cmd, int argc, char **argv,
              const struct option *own, ctl_flag_fn on_flag, void *arg, int *operands);

/* Defaults, then the environment. */
void ctl_init(struct ctl *ctl);
/* Parses one global flag (by its getopt value); 0, 1 if not global, or
 * EXIT_USAGE. */
int ctl_global_flag(struct ctl *ctl, const char *cmd, int opt, const char *value);
/* The long options of the global flags, terminated by a zero entry. */
extern const struct option CTL_GLOBAL_OPTIONS[];
#define CTL_GLOBAL_SHORT "ho:"

/* Reads the token and CA files and opens the channel; EXIT_OK or EXIT_FAIL
 * (after printing why). */
int ctl_connect(struct ctl *ctl);
void ctl_close(struct ctl *ctl);

/* "enjoliverctl: <msg>" and a pointer to the command's --help, to stderr;
 * returns EXIT_USAGE. cmd may be NULL (top level). */
int ctl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "enjoliverctl: <what>: <STATUS>: <message>" to stderr; returns EXIT_FAIL. */
int ctl_rpc_error(const struct rpc_status *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "enjoliverctl: <msg>" to stderr; returns EXIT_FAIL. */
int ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints v (a new reference, consumed; NULL = out of memory) as -o says
 * (JSON for table); EXIT_OK or EXIT_FAIL. */
int ctl_emit(const struct ctl *ctl, json_t *v);

/* Raised by SIGINT/SIGTERM once ctl_catch_stop_signals has run: streams
 * poll it to end cleanly (a watch exits 0, a download removes its file). */
extern volatile sig_atomic_t ctl_stop;
void ctl_catch_stop_signals(void);

/* Parses a non-negative integer flag value; -EINVAL if it is not one. */
int ctl_parse_ll(const char *s, long long min, long long max, long long *out);

/* The commands (cmd_*.c) and the top-level help (help.c). */
extern const struct ctl_cmd CMD_GET, CMD_WATCH, CMD_SCHEDULE, CMD_ROLLING, CMD_BACKUP, CMD_HEALTH,
    CMD_VERSION;
void help_top(FILE *out);
/* The command called name, NULL if none. */
const struct ctl_cmd *cmd_find(const char *name);
/* The global flags' lines, shared by every command's help. */
void help_global_flags(FILE *out);

#endif

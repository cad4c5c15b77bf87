/*
 * Test harness: a real etcd (Debian's /usr/bin/etcd) on free loopback ports,
 * with its data in a temporary directory.
 *
 *     etcd_server_t *s;
 *     if (etcd_server_start(&s) != 0) abort();
 *     ... connect a client to etcd_server_endpoint(s) ("127.0.0.1:P") ...
 *     etcd_server_free(s);   // stops etcd, removes the temporary directory
 *
 * Layout of the temporary directory (under $TMPDIR, else /tmp):
 *
 *     etcd-harness-XXXXXX/
 *         data/      etcd's --data-dir (etcd_server_data_dir())
 *         etcd.log   etcd's stdout and stderr, appended on every (re)start
 *
 * The binary is $ENJ_ETCD_BIN when set, else /usr/bin/etcd (or opts->etcd_bin).
 *
 * etcd is forked with PR_SET_PDEATHSIG=SIGKILL, so it dies with the thread
 * that started it: a crashed test leaves no etcd behind. Start servers from a
 * thread that lives as long as the server (normally the main thread).
 *
 * Results are 0 or a negative errno. On failure, the functions print what
 * went wrong (and for a start that failed, the tail of etcd's log) to stderr.
 * Every wait is bounded. The functions are not thread-safe: one thread owns a
 * server. The harness reaps only its own children (waitpid on etcd's pid).
 */
#ifndef ETCD_SERVER_H
#define ETCD_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct etcd_server_s etcd_server_t;

/* Start options; NULL or zeroed fields = defaults. Strings are copied. */
typedef struct etcd_server_opts_s {
    /* Extra etcd flags, NULL-terminated (e.g. "--auto-compaction-mode=revision",
     * "--auto-compaction-retention=10"). Used again by etcd_server_restart().
     * They come after the harness's flags; etcd rejects a flag given twice. */
    const char *const *extra_args;
    /* How long to wait for etcd to answer GET /health with "true"
     * (0 = 15000 ms, or $ENJ_ETCD_START_TIMEOUT_MS). */
    unsigned start_timeout_ms;
    /* etcd binary (NULL = $ENJ_ETCD_BIN, else /usr/bin/etcd). */
    const char *etcd_bin;
    /* Member name (NULL = "harness"). */
    const char *name;
    /* Non-zero: serve clients over TLS only, with client certificates
     * required. The harness makes a throw-away CA, a server certificate for
     * IP 127.0.0.1 and a client certificate with openssl(1), in
     * <tmp>/tls/ (etcd_server_tls_file()). Readiness is then checked on a
     * plain-HTTP metrics port. */
    int tls;
} etcd_server_opts_t;

/*
 * Creates the temporary directory, picks two free 127.0.0.1 ports (client,
 * peer), starts etcd and waits until it is healthy. A start that fails
 * because a port was taken in the meantime is retried on new ports.
 * Returns 0 and sets *out, or -ETIMEDOUT (not ready in time), -ECHILD (etcd
 * exited during start-up), -ENOENT/-EACCES (binary not executable), ...;
 * on failure nothing is left behind.
 */
int etcd_server_start(etcd_server_t **out);
int etcd_server_start_opts(const etcd_server_opts_t *opts, etcd_server_t **out);

/* Stops etcd with SIGTERM (SIGKILL after 10 s) and reaps it; the data
 * directory stays. 0 when stopped (or already stopped). */
int etcd_server_stop(etcd_server_t *s);

/* SIGKILL and reap: a crash. 0 when dead (or already stopped). */
int etcd_server_kill(etcd_server_t *s);

/* Stops etcd if it runs, then starts it again with the same data directory,
 * ports and flags, and waits until it is healthy. -EADDRINUSE when a port was
 * taken in the meantime. */
int etcd_server_restart(etcd_server_t *s);

/* SIGSTOP / SIGCONT: a frozen (partitioned-looking) member. pause returns
 * once the process is seen stopped. -ESRCH when not running. */
int etcd_server_pause(etcd_server_t *s);
int etcd_server_resume(etcd_server_t *s);

/* Stops etcd if it runs and removes the temporary directory. NULL is fine. */
void etcd_server_free(etcd_server_t *s);

/* "127.0.0.1:P", stable for the life of the server (restarts included). */
const char *etcd_server_endpoint(const etcd_server_t *s);
/* "http://127.0.0.1:P", or "https://127.0.0.1:P" with opts->tls */
const char *etcd_server_client_url(const etcd_server_t *s);
uint16_t etcd_server_client_port(const etcd_server_t *s);
uint16_t etcd_server_peer_port(const etcd_server_t *s);
/* etcd's --data-dir, inside the temporary directory. */
const char *etcd_server_data_dir(const etcd_server_t *s);
/* The temporary directory removed by etcd_server_free(). */
const char *etcd_server_tmp_dir(const etcd_server_t *s);
/* With opts->tls: the path of one of the generated PEM files, "ca.pem",
 * "client.pem", "client.key" (or "server.pem", "server.key"); the string is
 * static per server and call: copy it before the next call. NULL without
 * TLS. */
const char *etcd_server_tls_file(etcd_server_t *s, const char *name);
/* etcd's log file. */
const char *etcd_server_log_path(const etcd_server_t *s);
/* etcd's pid, or -1 when it is not running (reaps it if it exited). */
pid_t etcd_server_pid(etcd_server_t *s);
/* 1 when etcd runs (possibly paused), 0 when not (reaps it if it exited). */
int etcd_server_running(etcd_server_t *s);

/* Waits until etcd answers GET /health with "true", at most timeout_ms.
 * 0, -ETIMEDOUT, or -ECHILD when etcd exited. */
int etcd_server_wait_ready(etcd_server_t *s, unsigned timeout_ms);

/*
 * One HTTP/1.0 request (Connection: close) to etcd's client URL (e.g. GET /health, GET /metrics,
 * POST /v3/kv/put through etcd's JSON gateway), bounded by timeout_ms.
 * body may be NULL. The response body (NUL-terminated, truncated to fit) goes
 * to buf; *status gets the HTTP status. 0, or -ECONNREFUSED, -ETIMEDOUT,
 * -EPROTO (unparsable answer), ...
 */
int etcd_server_http(const etcd_server_t *s, const char *method, const char *path, const char *body,
                     int *status, char *buf, size_t buflen, unsigned timeout_ms);

/* Prints the last max_bytes of etcd's log to stderr, framed. */
void etcd_server_dump_log(const etcd_server_t *s, size_t max_bytes);

#endif

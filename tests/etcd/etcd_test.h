/*
 * Shared helpers of the etcd client integration tests (tests/etcd/): assertions
 * that clean up after themselves, a real etcd per test through the harness,
 * blocking clients, and small loop helpers for the asynchronous API.
 *
 * A failed CHECK prints where and why, the tail of the log of every server the
 * test started, stops and removes those servers, and exits with status 1.
 */
#ifndef ETCD_TEST_H
#define ETCD_TEST_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "etcd/etcd.h"
#include "etcd/sync.h"
#include "etcd_server.h"

void t_fail(const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));

/* Runs fn (e.g. print another process's log) when a CHECK fails. */
void t_on_fail(void (*fn)(void));

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            t_fail(__FILE__, __LINE__, #cond, NULL);                                               \
    } while (0)

/* CHECK with a printf-style explanation. */
#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            t_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                                        \
    } while (0)

/* expr must return 0. */
#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != 0)                                                                              \
            t_fail(__FILE__, __LINE__, #expr, "returned %d (%s) last error: %s", rc_,              \
                   etcd_strerror(rc_), t_last_error());                                            \
    } while (0)

/* expr must return the negative errno `want`. */
#define CHECK_ERR(expr, want)                                                                      \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != (want))                                                                         \
            t_fail(__FILE__, __LINE__, #expr, "returned %d (%s), expected %d (%s)", rc_,           \
                   etcd_strerror(rc_), (want), etcd_strerror(want));                               \
    } while (0)

/* Monotonic milliseconds. */
uint64_t t_now_ms(void);
void t_sleep_ms(unsigned ms);
/* Logs one line to stderr, prefixed with the time since the test started. */
void t_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Starts etcd (extra flags may be NULL); the server is freed by t_fail too. */
etcd_server_t *t_server_start(const char *const *extra_args);
etcd_server_t *t_server_start_opts(const etcd_server_opts_t *opts);
void t_server_free(etcd_server_t *s);

/* Blocking clients. timeout_ms 0 = 5000. user NULL = no auth. */
etcd_sync_t *t_client_ex(const char *const *endpoints, size_t n, unsigned timeout_ms,
                         const char *user, const char *password);
etcd_sync_t *t_client(const etcd_server_t *s);
/* Any configuration (TLS, ...); registered like t_client_ex's. */
etcd_sync_t *t_client_cfg(const etcd_config_t *cfg);
/* Frees the client; the message of the last failed call is kept for CHECKs. */
void t_client_free(etcd_sync_t *s);
/* The error message of the last failed call of the last client used with t_wait
 * or registered with t_client*. */
const char *t_last_error(void);

/* Runs the client's loop for ms milliseconds. */
void t_pump(etcd_sync_t *s, unsigned ms);
/* Runs the loop until pred(arg) is true (checked every 5 ms) or timeout_ms
 * passed. Returns pred's final value. */
int t_pump_until(etcd_sync_t *s, int (*pred)(void *arg), void *arg, unsigned timeout_ms);

/* One asynchronous call waited for: pass t_wait_cb and &w to an etcd_* call,
 * then t_wait(s, &w, returned_value). The response is taken (w.resp); free it
 * with etcd_response_free(). */
typedef struct t_wait_s {
    int done, err;
    char msg[512];
    void *resp;
} t_wait_t;
void t_wait_cb(const etcd_result_t *res, void *data);
int t_wait(etcd_sync_t *s, t_wait_t *w, int started);

/* A free 127.0.0.1 TCP port where nothing listens. */
uint16_t t_dead_port(void);

/* Runs a shell command line; returns its exit status (or -1). */
int t_system(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Header revision of a Status answer: the store's current revision. */
int64_t t_current_revision(etcd_sync_t *s);

#endif

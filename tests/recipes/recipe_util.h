/*
 * Shared by the drivers of the recipe tests: a harness etcd, contender
 * processes (fork/exec of recipe_contender), a live watch of the test's
 * prefix stamped with the wall clock, and the replay of etcd's own history
 * from the test's first revision, which is what the tests judge.
 *
 * Every wait is bounded. A failed CHECK prints where and what, kills the
 * contenders, stops etcd and exits 1.
 */
#ifndef RECIPE_UTIL_H
#define RECIPE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "etcd/sync.h"
#include "etcd/watch.h"
#include "etcd_server.h"

/* One event of the test's prefix, copied out of the watch. */
typedef struct rec_ev_s {
    int del;         /* 0 put, 1 delete */
    char *key, *val; /* NUL-terminated copies ("" for deletes) */
    int64_t rev, create_rev, version, lease;
    double t; /* monotonic seconds when the driver received it */
} rec_ev_t;

typedef struct rec_log_s {
    rec_ev_t *ev;
    size_t n, cap;
    etcd_watch_t *w;
    int err; /* the watch ended with this error */
    int64_t last_rev;
} rec_log_t;

typedef struct rec_proc_s {
    char name[64];
    char out_path[512]; /* the contender's stdout */
    pid_t pid;
    int running;
    int status; /* waitpid status once exited */
    double t_spawn, t_exit;
} rec_proc_t;

#define REC_MAX_PROCS 64

typedef struct rec_s {
    etcd_server_t *srv;
    etcd_sync_t *sync;
    etcd_client_t *c;
    uv_loop_t *loop;
    uv_timer_t tick;
    const char *bin;
    char prefix[128]; /* "/recipes/<test>", no trailing slash */
    int64_t rev0;     /* the test's events come after this revision */
    rec_log_t live;
    rec_proc_t procs[REC_MAX_PROCS];
    size_t n_procs;
    int spawns;
} rec_t;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            rec_fail(__FILE__, __LINE__, "CHECK failed: %s", #cond);                               \
    } while (0)

#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            rec_fail(__FILE__, __LINE__, __VA_ARGS__);                                             \
    } while (0)

void rec_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

double rec_now(void);
void rec_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* argv[1] is the contender binary. Starts etcd, the client, the live watch. */
void rec_init(rec_t *r, int argc, char **argv, const char *test_name);
/* Kills what is left, stops etcd, frees everything. */
void rec_done(rec_t *r);

/* Starts a contender: MODE ENDPOINT PREFIX NAME then the NULL-terminated
 * extra arguments. */
rec_proc_t *rec_spawn(rec_t *r, const char *mode, const char *name, ...) __attribute__((sentinel));
rec_proc_t *rec_proc(rec_t *r, const char *name); /* the last one of that name */
void rec_signal(rec_proc_t *p, int sig);
/* Reaps what exited (without blocking). */
void rec_reap(rec_t *r);

/* Runs the loop until pred(r, arg) is true (1) or timeout_s passed (0). */
int rec_wait(rec_t *r, int (*pred)(rec_t *, void *), void *arg, double timeout_s);
void rec_sleep(rec_t *r, double s);
int rec_wait_exit(rec_t *r, rec_proc_t *p, double timeout_s);
int rec_wait_all_exit(rec_t *r, double timeout_s);
/* 1 if p exited normally with this code. */
int rec_exited_with(const rec_proc_t *p, int code);
/* Copies the first line of p's stdout starting with `tag` into line; 1 if found. */
int rec_out_line(const rec_proc_t *p, const char *tag, char *line, size_t len);

/* The store's current revision. */
int64_t rec_revision(rec_t *r);

/*
 * The test's history: writes an end marker, replays every event of the
 * prefix from rev0 + 1 up to the marker with a new watch, checks that the
 * live watch delivered exactly the same events, and returns the replay
 * (without the marker). Free with rec_log_free().
 */
void rec_history(rec_t *r, rec_log_t *out);
void rec_log_free(rec_log_t *l);
/* Prints the events of l around index i (stderr). */
void rec_dump(const rec_log_t *l, size_t i, size_t before, size_t after);

/* A failed check about history event i: dumps the events around it, then
 * fails with the revision and the message. */
void rec_fail_at(const rec_log_t *h, size_t i, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

/* The index k of a contender named "<letter><k>", k < n, or -1. */
int rec_name_index(const char *name, char letter, int n);

/* A set of keys, replayed from events (strings borrowed from the events). */
typedef struct rec_kv_s {
    const char *key, *val;
    int64_t create_rev, lease;
} rec_kv_t;
typedef struct rec_set_s {
    rec_kv_t *kv;
    size_t n, cap, max_n;
} rec_set_t;

void rec_set_apply(rec_set_t *s, const rec_ev_t *ev);
const rec_kv_t *rec_set_find(const rec_set_t *s, const char *key);
const rec_kv_t *rec_set_find_val(const rec_set_t *s, const char *val);
const rec_kv_t *rec_set_lowest(const rec_set_t *s); /* lowest create revision */
void rec_set_free(rec_set_t *s);

int rec_has_prefix(const char *s, const char *prefix);
/* The part of `key` after "<prefix>/<sub>" (e.g. sub "work/" gives the
 * contender's name), or NULL when key is not under it. */
const char *rec_key_in(const rec_t *r, const char *key, const char *sub);

/* SIGCONT then SIGTERM to every contender still running, and waits (at most
 * timeout_s) until all exited. */
void rec_stop_all(rec_t *r, double timeout_s);

#endif

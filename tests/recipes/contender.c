/*
 * One contender of the recipe tests, run as a separate process by a test
 * driver (test_*.c). The driver judges from etcd's history, not from what a
 * contender prints; the lines printed on stdout (one event per line, flushed)
 * are only reports (a fence that etcd refused, the slot and token obtained).
 *
 * usage: recipe_contender MODE ENDPOINT PREFIX NAME [options]
 *
 * MODE
 *   election     session (--ttl), campaign on PREFIX/election/ with NAME as
 *                value. When elected: two Txns fenced with
 *                etcd_election_fence() are built at once (a leader holds its
 *                token), "start" is sent: put PREFIX/work/NAME = "start
 *                <token>" (the election key's create revision the Txn is
 *                fenced on); after --hold-ms the other: put PREFIX/work/NAME
 *                = "end <token>"; then resign and campaign again. A fenced
 *                Txn that etcd refuses prints "FENCE_FAILED start|end" and
 *                exits 3. Losing the leadership is only reported ("LOST"):
 *                the write sequence goes on, so a paused ex-leader does try
 *                its next write.
 *   mutex        session, lock PREFIX/lock/, put PREFIX/inside/NAME = the
 *                lock key, sleep, delete it, unlock; --rounds times.
 *   semaphore    session, semaphore PREFIX/ with --slots, holder NAME bound
 *                to the session lease: acquire, put PREFIX/inside/NAME =
 *                NAME, sleep, delete it, release; --rounds times.
 *   semaphore-persistent
 *                semaphore PREFIX/ with --slots, holder NAME, lease 0 with
 *                --persistent, else the session's lease. Acquire, print
 *                "HELD <slot> <token>", put PREFIX/inside/NAME = "<slot>
 *                <token>" in a Txn fenced with etcd_semaphore_fence(), print
 *                "INSIDE", then hold until SIGTERM.
 *
 * options: --ttl S (session TTL, default 2), --rounds N (default 3; 0 =
 * until SIGTERM), --hold-ms A [--hold-max-ms B] (sleep inside, uniform in
 * [A, B]), --slots K (default 3), --persistent.
 *
 * SIGTERM: stop at once and clean up (resign / delete the inside key and
 * release / revoke the session), close the client, exit 0.
 * Exit codes: 0 done, 1 error, 2 usage, 3 a fenced Txn failed, 4 the
 * campaign / lock / acquire failed.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "etcd/election.h"
#include "etcd/mutex.h"
#include "etcd/semaphore.h"
#include "etcd/session.h"
#include "etcd/sync.h"

typedef enum { M_ELECTION, M_MUTEX, M_SEMAPHORE, M_PERSISTENT } mode_t_;

static struct {
    mode_t_ mode;
    const char *endpoint, *prefix, *name;
    int64_t ttl;
    int rounds;
    unsigned hold_ms, hold_max_ms, slots;
    int persistent;

    etcd_sync_t *sync;
    etcd_client_t *c;
    uv_loop_t *loop;
    uv_signal_t sigterm;
    uv_timer_t hold;
    int finished, exit_code;
    int round;

    etcd_session_t *session;
    etcd_election_t *el;
    etcd_mutex_t *mx;
    etcd_semaphore_t *sem;
    etcd_txn_t *start_txn, *end_txn;
    char *work_key, *inside_key, *inside_val;
    int inside;                  /* the inside key may exist */
    void (*leave)(uv_timer_t *); /* what to do after the sleep inside */
} g;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

/* Errors go to stderr too, with the contender's name: the driver's log. */
static void complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void complain(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "contender %s: ", g.name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void finish(int code)
{
    if (g.finished)
        return;
    g.finished = 1;
    g.exit_code = code;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        complain("out of memory");
        exit(1);
    }
    return s;
}

static unsigned hold_time(void)
{
    if (g.hold_max_ms <= g.hold_ms)
        return g.hold_ms;
    return g.hold_ms + (unsigned)(rand() % (int)(g.hold_max_ms - g.hold_ms + 1));
}

/* Whether a callback may go on: not finished, and no error (else finish). */
static int ok_to_go_on(int err, const char *what)
{
    if (g.finished)
        return 0;
    if (err) {
        say("ERROR %s %d", what, err);
        complain("%s: %s", what, etcd_strerror(err));
        finish(err == -ECANCELED ? 1 : 4);
        return 0;
    }
    return 1;
}

static void hold_then(void (*next)(uv_timer_t *))
{
    uv_timer_start(&g.hold, next, hold_time(), 0);
}

/* ---- election ---- */

static void campaign(void);

static etcd_txn_t *fenced_work_txn(const char *what)
{
    char value[64];
    snprintf(value, sizeof value, "%s %" PRId64, what, etcd_election_rev(g.el));
    etcd_txn_t *t = etcd_txn_new();
    if (!t || etcd_election_fence(g.el, t) < 0 ||
        etcd_txn_put(t, ETCD_TXN_SUCCESS, g.work_key, strlen(g.work_key), value, strlen(value), 0) <
            0 ||
        !etcd_txn_request(t)) {
        etcd_txn_free(t);
        return NULL;
    }
    return t;
}

static void resigned(const etcd_result_t *res, void *data)
{
    (void)data;
    if (!ok_to_go_on(res->err, "resign"))
        return;
    if (g.rounds && ++g.round >= g.rounds) {
        finish(0);
        return;
    }
    campaign();
}

static void end_done(const etcd_result_t *res, void *data)
{
    (void)data;
    if (!ok_to_go_on(res->err, "end txn"))
        return;
    const Etcdserverpb__TxnResponse *r = res->response;
    if (!r->succeeded) {
        say("FENCE_FAILED end");
        finish(3);
        return;
    }
    say("END");
    etcd_txn_free(g.start_txn);
    etcd_txn_free(g.end_txn);
    g.start_txn = g.end_txn = NULL;
    int err = etcd_election_resign(g.el, resigned, NULL);
    if (err < 0)
        ok_to_go_on(err, "resign");
}

static void send_end(uv_timer_t *t)
{
    (void)t;
    if (g.finished)
        return;
    int err = etcd_kv_txn(g.c, etcd_txn_request(g.end_txn), NULL, end_done, NULL);
    if (err < 0)
        ok_to_go_on(err, "end txn");
}

static void start_done(const etcd_result_t *res, void *data)
{
    (void)data;
    if (!ok_to_go_on(res->err, "start txn"))
        return;
    const Etcdserverpb__TxnResponse *r = res->response;
    if (!r->succeeded) {
        say("FENCE_FAILED start");
        finish(3);
        return;
    }
    say("START");
    hold_then(send_end);
}

static void elected(etcd_election_t *e, int err, void *data)
{
    (void)data;
    if (!ok_to_go_on(err, "campaign"))
        return;
    if (!etcd_election_is_leader(e)) {
        say("ERROR elected but not leader");
        finish(1);
        return;
    }
    say("ELECTED %s %" PRId64, etcd_election_key(e), etcd_election_rev(e));
    /* Both writes are fenced now, with the token of this leadership. */
    g.start_txn = fenced_work_txn("start");
    g.end_txn = fenced_work_txn("end");
    if (!g.start_txn || !g.end_txn) {
        say("ERROR fence");
        finish(1);
        return;
    }
    err = etcd_kv_txn(g.c, etcd_txn_request(g.start_txn), NULL, start_done, NULL);
    if (err < 0)
        ok_to_go_on(err, "start txn");
}

static void leadership_lost(etcd_election_t *e, int err, void *data)
{
    (void)e, (void)data;
    say("LOST %d", err);
}

static void campaign(void)
{
    int err = etcd_election_campaign(g.el, g.name, strlen(g.name), elected, NULL);
    if (err < 0)
        ok_to_go_on(err, "campaign");
}

/* ---- mutex ---- */

static void lock(void);

static void unlocked(const etcd_result_t *res, void *data)
{
    (void)data;
    if (!ok_to_go_on(res->err, "unlock"))
        return;
    if (g.rounds && ++g.round >= g.rounds) {
        finish(0);
        return;
    }
    lock();
}

static void mutex_inside_deleted(const etcd_result_t *res, void *data)
{
    (void)data;
    if (!ok_to_go_on(res->err, "delete inside"))
        return;
    g.inside = 0;
    int err = etcd_mutex_unlock(g.mx, unlocked, NULL);
    if (err < 0)
        ok_to_go_on(err, "unlock");
}

static void delete_inside(etcd_cb cb)
{
    Etcdserverpb__DeleteRangeRequest req = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
    req.key = (ProtobufCBinaryData){strlen(g.inside_key), (uint8_t *)g.inside_key};
    int err = etcd_kv_delete(g.c, &req, NULL, cb, NULL);
    if (err < 0)
        ok_to_go_on(err, "delete inside");
}

static void mutex_leave(uv_timer_t *t)
{
    (void)t;
    if (!g.finished)
        delete_inside(mutex_inside_deleted);
}

static void inside_put(const etcd_result_t *res, void *data)
{
    (void)data;
    if (!ok_to_go_on(res->err, "put inside"))
        return;
    hold_then(g.leave);
}

static void put_inside(void (*leave)(uv_timer_t *))
{
    Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
    req.key = (ProtobufCBinaryData){strlen(g.inside_key), (uint8_t *)g.inside_key};
    req.value = (ProtobufCBinaryData){strlen(g.inside_val), (uint8_t *)g.inside_val};
    g.inside = 1;
    g.leave = leave;
    int err = etcd_kv_put(g.c, &req, NULL, inside_put, NULL);
    if (err < 0)
        ok_to_go_on(err, "put inside");
}

static void locked(etcd_mutex_t *m, int err, void *data)
{
    (void)data;
    if (!ok_to_go_on(err, "lock"))
        return;
    if (!etcd_mutex_is_held(m)) {
        say("ERROR locked but not held");
        finish(1);
        return;
    }
    free(g.inside_val);
    g.inside_val = xasprintf("%s", etcd_mutex_key(m));
    put_inside(mutex_leave);
}

static void lock(void)
{
    int err = etcd_mutex_lock(g.mx, locked, NULL);
    if (err < 0)
        ok_to_go_on(err, "lock");
}

/* ---- semaphore ---- */

static void acquire(void);

static void released(const etcd_result_t *res, void *data)
{
    (void)data;
    if (!ok_to_go_on(res->err, "release"))
        return;
    if (g.rounds && ++g.round >= g.rounds) {
        finish(0);
        return;
    }
    acquire();
}

static void sem_inside_deleted(const etcd_result_t *res, void *data)
{
    (void)data;
    if (!ok_to_go_on(res->err, "delete inside"))
        return;
    g.inside = 0;
    int err = etcd_semaphore_release(g.sem, released, NULL);
    if (err < 0)
        ok_to_go_on(err, "release");
}

static void sem_leave(uv_timer_t *t)
{
    (void)t;
    if (!g.finished)
        delete_inside(sem_inside_deleted);
}

static void fenced_inside_done(const etcd_result_t *res, void *data)
{
    (void)data;
    if (!ok_to_go_on(res->err, "fenced put inside"))
        return;
    const Etcdserverpb__TxnResponse *r = res->response;
    if (!r->succeeded) {
        say("FENCE_FAILED inside");
        finish(3);
        return;
    }
    say("INSIDE");
    /* Hold until SIGTERM. */
}

static void acquired(etcd_semaphore_t *s, int err, void *data)
{
    (void)data;
    if (!ok_to_go_on(err, "acquire"))
        return;
    int slot = etcd_semaphore_slot(s);
    int64_t token = etcd_semaphore_token(s);
    if (!etcd_semaphore_is_held(s) || slot < 0 || (unsigned)slot >= g.slots || token <= 0) {
        say("ERROR acquired but slot %d token %" PRId64, slot, token);
        finish(1);
        return;
    }
    say("HELD %d %" PRId64, slot, token);
    if (g.mode == M_SEMAPHORE) {
        free(g.inside_val);
        g.inside_val = xasprintf("%s", g.name);
        put_inside(sem_leave);
        return;
    }
    free(g.inside_val);
    g.inside_val = xasprintf("%d %" PRId64, slot, token);
    etcd_txn_t *t = etcd_txn_new();
    err = t ? etcd_semaphore_fence(s, t) : -ENOMEM;
    if (!err)
        err = etcd_txn_put(t, ETCD_TXN_SUCCESS, g.inside_key, strlen(g.inside_key), g.inside_val,
                           strlen(g.inside_val), 0);
    g.inside = 1;
    if (!err)
        err = etcd_kv_txn(g.c, etcd_txn_request(t), NULL, fenced_inside_done, NULL);
    etcd_txn_free(t);
    if (err < 0)
        ok_to_go_on(err, "fenced put inside");
}

static void acquire(void)
{
    int err = etcd_semaphore_acquire(g.sem, acquired, NULL);
    if (err < 0)
        ok_to_go_on(err, "acquire");
}

static void start_semaphore(int64_t lease)
{
    etcd_semaphore_opts_t o = {.prefix = NULL, .slots = g.slots, .holder = g.name, .lease = lease};
    char *prefix = xasprintf("%s/", g.prefix);
    o.prefix = prefix;
    int err = etcd_semaphore_new(g.c, &o, &g.sem);
    free(prefix);
    if (err < 0) {
        ok_to_go_on(err, "semaphore_new");
        return;
    }
    acquire();
}

/* ---- session ---- */

static void session_ready(etcd_session_t *s, int err, void *data)
{
    (void)data;
    if (!ok_to_go_on(err, "session"))
        return;
    char *p;
    switch (g.mode) {
    case M_ELECTION:
        p = xasprintf("%s/election/", g.prefix);
        err = etcd_election_new(s, p, &g.el);
        free(p);
        if (err < 0) {
            ok_to_go_on(err, "election_new");
            return;
        }
        etcd_election_on_lost(g.el, leadership_lost, NULL);
        campaign();
        break;
    case M_MUTEX:
        p = xasprintf("%s/lock/", g.prefix);
        err = etcd_mutex_new(s, p, &g.mx);
        free(p);
        if (err < 0) {
            ok_to_go_on(err, "mutex_new");
            return;
        }
        lock();
        break;
    default:
        start_semaphore(etcd_session_lease(s));
        break;
    }
}

static void session_lost(etcd_session_t *s, int err, void *data)
{
    (void)s, (void)data;
    say("SESSION_LOST %d", err);
}

static void on_sigterm(uv_signal_t *h, int sig)
{
    (void)h, (void)sig;
    finish(0);
}

/* ---- clean-up, outside every callback ---- */

static void flag_done(const etcd_result_t *res, void *data)
{
    (void)res;
    *(int *)data = 1;
}

static void cleanup(void)
{
    uv_timer_stop(&g.hold);
    int done;
    if (g.inside) {
        etcd_sync_delete(g.sync, g.inside_key, strlen(g.inside_key), 0, NULL);
        g.inside = 0;
    }
    if (g.el) {
        done = 0;
        if (etcd_election_resign(g.el, flag_done, &done) == 0)
            etcd_sync_run_until(g.sync, &done);
        etcd_election_free(g.el);
    }
    if (g.mx) {
        done = 0;
        if (etcd_mutex_unlock(g.mx, flag_done, &done) == 0)
            etcd_sync_run_until(g.sync, &done);
        etcd_mutex_free(g.mx);
    }
    if (g.sem) {
        done = 0;
        if (etcd_semaphore_release(g.sem, flag_done, &done) == 0)
            etcd_sync_run_until(g.sync, &done);
        etcd_semaphore_free(g.sem);
    }
    etcd_txn_free(g.start_txn);
    etcd_txn_free(g.end_txn);
    if (g.session) {
        int64_t lease = etcd_session_lease(g.session);
        etcd_session_close(g.session, 0);
        if (lease)
            etcd_sync_lease_revoke(g.sync, lease); /* -ENOENT when expired: fine */
    }
    uv_close((uv_handle_t *)&g.hold, NULL);
    uv_close((uv_handle_t *)&g.sigterm, NULL);
    etcd_sync_free(g.sync);
    free(g.work_key);
    free(g.inside_key);
    free(g.inside_val);
}

/*
 * The first contact. When many processes start at once (and more so under
 * ASan), gRPC's first connection attempts can time out before etcd's HTTP/2
 * SETTINGS arrive, and the client gives up after two: wait, bounded, until
 * etcd answered once, so that every contender starts connected.
 */
static int wait_for_etcd(void)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int attempt = 1;; attempt++) {
        Etcdserverpb__RangeRequest req;
        etcd_range_init_key(&req, g.prefix, strlen(g.prefix));
        req.count_only = 1;
        Etcdserverpb__RangeResponse *resp;
        int err = etcd_sync_range(g.sync, &req, &resp);
        if (!err) {
            etcd_response_free(resp);
            return 0;
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (err != -ENOTCONN || g.finished || t.tv_sec - t0.tv_sec >= 15)
            return err;
        complain("etcd not reachable yet (attempt %d: %s), again", attempt,
                 etcd_sync_error(g.sync));
        usleep(100 * 1000);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: recipe_contender election|mutex|semaphore|semaphore-persistent "
                    "ENDPOINT PREFIX NAME [--ttl S] [--rounds N] [--hold-ms A] "
                    "[--hold-max-ms B] [--slots K] [--persistent]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"ttl", required_argument, NULL, 't'},
                                         {"rounds", required_argument, NULL, 'r'},
                                         {"hold-ms", required_argument, NULL, 'h'},
                                         {"hold-max-ms", required_argument, NULL, 'H'},
                                         {"slots", required_argument, NULL, 's'},
                                         {"persistent", no_argument, NULL, 'p'},
                                         {NULL, 0, NULL, 0}};
    g.ttl = 2;
    g.rounds = 3;
    g.slots = 3;
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 't':
            g.ttl = atoll(optarg);
            break;
        case 'r':
            g.rounds = atoi(optarg);
            break;
        case 'h':
            g.hold_ms = (unsigned)atoi(optarg);
            break;
        case 'H':
            g.hold_max_ms = (unsigned)atoi(optarg);
            break;
        case 's':
            g.slots = (unsigned)atoi(optarg);
            break;
        case 'p':
            g.persistent = 1;
            break;
        default:
            usage();
        }
    }
    if (argc - optind != 4)
        usage();
    const char *mode = argv[optind];
    g.endpoint = argv[optind + 1];
    g.prefix = argv[optind + 2];
    g.name = argv[optind + 3];
    if (!strcmp(mode, "election"))
        g.mode = M_ELECTION;
    else if (!strcmp(mode, "mutex"))
        g.mode = M_MUTEX;
    else if (!strcmp(mode, "semaphore"))
        g.mode = M_SEMAPHORE;
    else if (!strcmp(mode, "semaphore-persistent"))
        g.mode = M_PERSISTENT;
    else
        usage();
    if (g.ttl <= 0 || g.slots == 0 || (g.persistent && g.mode != M_PERSISTENT))
        usage();
    srand((unsigned)getpid() ^ (unsigned)time(NULL));
    g.work_key = xasprintf("%s/work/%s", g.prefix, g.name);
    g.inside_key = xasprintf("%s/inside/%s", g.prefix, g.name);

    const char *eps[] = {g.endpoint};
    etcd_config_t cfg = {.endpoints = eps, .n_endpoints = 1};
    int err = etcd_sync_new(&cfg, &g.sync);
    if (err < 0) {
        complain("etcd_sync_new: %s", etcd_strerror(err));
        return 1;
    }
    g.c = etcd_sync_client(g.sync);
    g.loop = etcd_sync_loop(g.sync);
    uv_timer_init(g.loop, &g.hold);
    uv_signal_init(g.loop, &g.sigterm);
    uv_signal_start(&g.sigterm, on_sigterm, SIGTERM);

    if ((err = wait_for_etcd()) < 0)
        ok_to_go_on(err, "first contact");
    else if (g.mode == M_PERSISTENT && g.persistent)
        start_semaphore(0);
    else if ((err = etcd_session_start(g.c, g.ttl, session_ready, session_lost, NULL, &g.session)) <
             0)
        ok_to_go_on(err, "session_start");
    etcd_sync_run_until(g.sync, &g.finished);
    cleanup();
    say("EXIT %d", g.exit_code);
    return g.exit_code;
}

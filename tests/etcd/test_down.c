/*
 * etcd unreachable: a client pointed at a loopback port where nothing
 * listens, one whose etcd is paused (SIGSTOP), one whose etcd was killed.
 * Every request type fails with a negative errno within its deadline
 * (request_timeout_ms = 1000), watches and keep-alives end cleanly when the
 * client closes, nothing leaks. Then failover: a client configured with
 * [dead port, live etcd] succeeds on every request.
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "etcd_test.h"

#define TIMEOUT_MS 1000
#define WALL_LIMIT_MS 3000

static char snap_dir[] = "/tmp/etcd-down-test-XXXXXX";

enum {
    OP_RANGE,
    OP_PUT,
    OP_DELETE,
    OP_TXN,
    OP_COMPACT,
    OP_GRANT,
    OP_REVOKE,
    OP_TTL,
    OP_LEASES,
    OP_STATUS,
    OP_SNAPSHOT,
    N_OPS
};
static const char *const op_names[N_OPS] = {"range",  "put", "delete", "txn",    "compact", "grant",
                                            "revoke", "ttl", "leases", "status", "snapshot"};

static void snap_cb(const etcd_result_t *res, void *data)
{
    t_wait_t *w = data;
    CHECK(!w->done);
    w->err = res->err;
    snprintf(w->msg, sizeof(w->msg), "%s", res->message);
    w->done = 1;
}

/* Runs one request of kind op; returns its result, *ms its wall time. */
static int run_op(etcd_sync_t *s, int op, uint64_t *ms)
{
    etcd_client_t *c = etcd_sync_client(s);
    t_wait_t w = {0};
    int started;
    uint64_t t = t_now_ms();
    static int64_t lease; /* granted by OP_GRANT when etcd answers */
    switch (op) {
    case OP_RANGE: {
        Etcdserverpb__RangeRequest r;
        etcd_range_init_key(&r, "down/k", 6);
        started = etcd_kv_range(c, &r, NULL, t_wait_cb, &w);
        break;
    }
    case OP_PUT: {
        Etcdserverpb__PutRequest r = ETCDSERVERPB__PUT_REQUEST__INIT;
        r.key = (ProtobufCBinaryData){6, (uint8_t *)"down/k"};
        r.value = (ProtobufCBinaryData){1, (uint8_t *)"v"};
        started = etcd_kv_put(c, &r, NULL, t_wait_cb, &w);
        break;
    }
    case OP_DELETE: {
        Etcdserverpb__DeleteRangeRequest r = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
        r.key = (ProtobufCBinaryData){8, (uint8_t *)"down/del"};
        started = etcd_kv_delete(c, &r, NULL, t_wait_cb, &w);
        break;
    }
    case OP_TXN: {
        etcd_txn_t *tx = etcd_txn_new();
        CHECK(tx != NULL);
        CHECK_OK(etcd_txn_cmp_version(tx, "down/k", 6, ETCD_CMP_GREATER, 0));
        CHECK_OK(etcd_txn_put(tx, ETCD_TXN_SUCCESS, "down/t", 6, "t", 1, 0));
        CHECK_OK(etcd_txn_get(tx, ETCD_TXN_FAILURE, "down/", 5, 1));
        started = etcd_kv_txn(c, etcd_txn_request(tx), NULL, t_wait_cb, &w);
        etcd_txn_free(tx);
        break;
    }
    case OP_COMPACT: {
        Etcdserverpb__CompactionRequest r = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
        r.revision = 1;
        started = etcd_kv_compact(c, &r, NULL, t_wait_cb, &w);
        break;
    }
    case OP_GRANT:
        started = etcd_lease_grant(c, 30, 0, NULL, t_wait_cb, &w);
        break;
    case OP_REVOKE:
        started = etcd_lease_revoke(c, lease ? lease : 1234, NULL, t_wait_cb, &w);
        break;
    case OP_TTL:
        started = etcd_lease_ttl(c, lease ? lease : 1234, 1, NULL, t_wait_cb, &w);
        break;
    case OP_LEASES:
        started = etcd_lease_list(c, NULL, t_wait_cb, &w);
        break;
    case OP_STATUS:
        started = etcd_maint_status(c, NULL, t_wait_cb, &w);
        break;
    case OP_SNAPSHOT: {
        char path[128];
        snprintf(path, sizeof(path), "%s/snap.db", snap_dir);
        etcd_call_opts_t o = {.timeout_ms = TIMEOUT_MS};
        started = etcd_maint_snapshot(c, path, &o, snap_cb, &w);
        break;
    }
    default:
        abort();
    }
    int err = t_wait(s, &w, started);
    *ms = t_now_ms() - t;
    if (!err && op == OP_GRANT)
        lease = ((Etcdserverpb__LeaseGrantResponse *)w.resp)->id;
    if (!err && op == OP_REVOKE)
        lease = 0;
    if (err)
        CHECK(w.resp == NULL);
    etcd_response_free(w.resp);
    return err;
}

/* Every request fails fast with -ENOTCONN or -ETIMEDOUT. */
static void all_fail(etcd_sync_t *s, const char *what)
{
    for (int op = 0; op < N_OPS; op++) {
        uint64_t ms = 0;
        int err = run_op(s, op, &ms);
        CHECKF(err == -ENOTCONN || err == -ETIMEDOUT, "%s: %s returned %d (%s)", what, op_names[op],
               err, etcd_strerror(err));
        CHECKF(ms < WALL_LIMIT_MS, "%s: %s took %llu ms", what, op_names[op],
               (unsigned long long)ms);
        t_log("%s: %-8s -> %s in %llu ms", what, op_names[op],
              err == -ENOTCONN ? "ENOTCONN" : "ETIMEDOUT", (unsigned long long)ms);
    }
    /* A failed snapshot leaves nothing behind. */
    char path[128];
    snprintf(path, sizeof(path), "%s/snap.db", snap_dir);
    struct stat st;
    CHECK(stat(path, &st) < 0);
    strcat(path, ".tmp");
    CHECK(stat(path, &st) < 0);
}

static void all_succeed(etcd_sync_t *s, const char *what)
{
    for (int op = 0; op < N_OPS; op++) {
        uint64_t ms = 0;
        int err = run_op(s, op, &ms);
        /* compact(1) on a store already past it is fine; twice is -ESTALE. */
        if (op == OP_COMPACT && err == -ESTALE)
            err = 0;
        CHECKF(err == 0, "%s: %s returned %d (%s): %s", what, op_names[op], err, etcd_strerror(err),
               t_last_error());
    }
    char path[128];
    snprintf(path, sizeof(path), "%s/snap.db", snap_dir);
    CHECK(unlink(path) == 0);
}

/* ---- watch and keep-alive across an outage ---- */

typedef struct ev_s {
    int calls, err, events;
} ev_t;

static void watch_cb(etcd_watch_t *w, int err, int64_t rev, int64_t compact,
                     Mvccpb__Event *const *events, size_t n, void *data)
{
    ev_t *e = data;
    (void)w, (void)rev, (void)compact, (void)events;
    CHECKF(e->err == 0, "callback after the final one");
    e->calls++;
    if (err)
        e->err = err;
    e->events += (int)n;
}

static void lost_cb(etcd_keepalive_t *ka, int err, void *data)
{
    ev_t *e = data;
    (void)ka;
    e->calls++;
    e->err = err;
}

static int called(void *arg)
{
    return ((ev_t *)arg)->calls > 0;
}

static int got_event(void *arg)
{
    return ((ev_t *)arg)->events > 0;
}

static void test_dead_port(void)
{
    char ep[64], ep_url[80];
    snprintf(ep, sizeof(ep), "127.0.0.1:%u", t_dead_port());
    snprintf(ep_url, sizeof(ep_url), "http://%s/", ep); /* the same, as a URL */
    const char *eps[] = {ep, ep_url};
    etcd_sync_t *s = t_client_ex(eps, 2, TIMEOUT_MS, NULL, NULL);

    /* A watch and a keep-alive on the dead endpoint. */
    ev_t wev = {0}, kev = {0};
    etcd_watch_opts_t wo = {.key = "down/", .key_len = 5, .prefix = 1};
    etcd_watch_t *w = NULL;
    CHECK_OK(etcd_watch_start(etcd_sync_client(s), &wo, watch_cb, &wev, &w));
    etcd_keepalive_t *ka = NULL;
    CHECK_OK(etcd_keepalive_start(etcd_sync_client(s), 4242, 1, lost_cb, &kev, &ka));
    uint64_t t = t_now_ms();

    all_fail(s, "dead port");

    /* The keep-alive was lost (no answer within its TTL) once. */
    CHECK(t_pump_until(s, called, &kev, 3000));
    CHECKF(kev.calls == 1 && kev.err == -ETIMEDOUT, "lost %d times, err %d", kev.calls, kev.err);
    CHECK(t_now_ms() - t >= 900);
    etcd_keepalive_stop(ka);
    /* The watch keeps retrying silently. */
    CHECK(wev.calls == 0);
    /* Closing ends the watch with -ECANCELED; the handle is freed after. */
    t_client_free(s);
    CHECKF(wev.calls == 1 && wev.err == -ECANCELED, "watch: %d calls, err %d", wev.calls, wev.err);
    etcd_watch_stop(w);
    t_log("dead port: ok");
}

static void test_bad_config(void)
{
    etcd_sync_t *s = NULL;
    const char *noport[] = {"127.0.0.1"};
    etcd_config_t cfg = {.endpoints = noport, .n_endpoints = 1};
    CHECK_ERR(etcd_sync_new(&cfg, &s), -EINVAL);
    cfg.n_endpoints = 0;
    CHECK_ERR(etcd_sync_new(&cfg, &s), -EINVAL);
    const char *ok[] = {"127.0.0.1:2379"};
    cfg.endpoints = ok;
    cfg.n_endpoints = 1;
    cfg.user = "root";
    CHECK_ERR(etcd_sync_new(&cfg, &s), -EINVAL); /* a user without a password */
    cfg.user = NULL;
    cfg.ca_file = "/nonexistent/ca.pem";
    CHECK_ERR(etcd_sync_new(&cfg, &s), -EINVAL);
}

static void test_paused_and_killed(etcd_server_t *srv)
{
    const char *ep = etcd_server_endpoint(srv);
    etcd_sync_t *s = t_client_ex(&ep, 1, TIMEOUT_MS, NULL, NULL);
    int64_t rev = 0;
    CHECK_OK(etcd_sync_put(s, "down/k", 6, "v", 1, 0, &rev));
    int64_t lease = 0;
    CHECK_OK(etcd_sync_lease_grant(s, 3, &lease));
    ev_t kev = {0}, wev = {0};
    etcd_keepalive_t *ka = NULL;
    CHECK_OK(etcd_keepalive_start(etcd_sync_client(s), lease, 3, lost_cb, &kev, &ka));
    /* From the revision after the first put: the put below is seen even when
     * it reaches etcd before the watch does. */
    etcd_watch_opts_t wo = {.key = "down/", .key_len = 5, .prefix = 1, .start_revision = rev + 1};
    etcd_watch_t *w = NULL;
    CHECK_OK(etcd_watch_start(etcd_sync_client(s), &wo, watch_cb, &wev, &w));
    CHECK_OK(etcd_sync_put(s, "down/k", 6, "w", 1, 0, NULL));
    CHECK(t_pump_until(s, got_event, &wev, 3000));

    /* Paused: requests run into their deadline. */
    CHECK_OK(etcd_server_pause(srv));
    for (int op = OP_RANGE; op <= OP_PUT; op++) {
        uint64_t ms = 0;
        int err = run_op(s, op, &ms);
        CHECKF(err == -ETIMEDOUT, "paused: %s returned %d", op_names[op], err);
        CHECKF(ms >= TIMEOUT_MS - 50 && ms < WALL_LIMIT_MS, "paused: %s took %llu ms", op_names[op],
               (unsigned long long)ms);
    }
    /* Shorter per-call deadline. */
    t_wait_t tw = {0};
    etcd_call_opts_t o = {.timeout_ms = 200};
    uint64_t t = t_now_ms();
    CHECK_ERR(t_wait(s, &tw, etcd_maint_status(etcd_sync_client(s), &o, t_wait_cb, &tw)),
              -ETIMEDOUT);
    CHECK(t_now_ms() - t < 1000);
    CHECK_OK(etcd_server_resume(srv));
    uint64_t ms;
    CHECK_OK(run_op(s, OP_RANGE, &ms));
    t_log("paused: ok");

    /* Killed: everything fails fast; the keep-alive is lost. */
    CHECK_OK(etcd_server_kill(srv));
    all_fail(s, "killed");
    /* The keep-alive is lost (maybe already while paused), once. */
    CHECK(t_pump_until(s, called, &kev, 5000));
    CHECK(kev.calls == 1 && kev.err == -ETIMEDOUT);
    CHECK(wev.err == 0); /* the watch waits for etcd to come back */
    etcd_keepalive_stop(ka);
    /* Stop a watch while its stream is broken. */
    etcd_watch_stop(w);
    t_client_free(s);
    t_log("killed: ok");
}

static void test_failover(etcd_server_t *srv)
{
    char dead[64];
    snprintf(dead, sizeof(dead), "127.0.0.1:%u", t_dead_port());
    const char *eps[] = {dead, etcd_server_endpoint(srv)};
    etcd_sync_t *s = t_client_ex(eps, 2, TIMEOUT_MS, NULL, NULL);
    all_succeed(s, "failover");
    CHECK(!strcmp(etcd_client_endpoint(etcd_sync_client(s)), etcd_server_endpoint(srv)));
    /* A watch and a keep-alive on the live endpoint. */
    ev_t wev = {0};
    etcd_watch_opts_t wo = {.key = "down/", .key_len = 5, .prefix = 1};
    etcd_watch_t *w = NULL;
    CHECK_OK(etcd_watch_start(etcd_sync_client(s), &wo, watch_cb, &wev, &w));
    t_pump(s, 200);
    CHECK_OK(etcd_sync_put(s, "down/f", 6, "f", 1, 0, NULL));
    CHECK(t_pump_until(s, got_event, &wev, 3000));
    etcd_watch_stop(w);
    t_client_free(s);

    /* A fresh client whose very first request is a write marked idempotent
     * (retry_mutation): it fails over too. (Without the flag, see
     * test_failover_write.c.) */
    s = t_client_ex(eps, 2, TIMEOUT_MS, NULL, NULL);
    Etcdserverpb__PutRequest pr = ETCDSERVERPB__PUT_REQUEST__INIT;
    pr.key = (ProtobufCBinaryData){10, (uint8_t *)"down/first"};
    pr.value = (ProtobufCBinaryData){1, (uint8_t *)"x"};
    etcd_call_opts_t idem = {.retry_mutation = 1};
    t_wait_t pw = {0};
    CHECK_OK(t_wait(s, &pw, etcd_kv_put(etcd_sync_client(s), &pr, &idem, t_wait_cb, &pw)));
    etcd_response_free(pw.resp);
    t_client_free(s);

    /* And the same with the live endpoint first: no detour at all. */
    const char *eps2[] = {etcd_server_endpoint(srv), dead};
    s = t_client_ex(eps2, 2, TIMEOUT_MS, NULL, NULL);
    all_succeed(s, "live first");
    t_client_free(s);
    t_log("failover: ok");
}

int main(void)
{
    CHECK(mkdtemp(snap_dir) != NULL);
    test_bad_config();
    test_dead_port();
    etcd_server_t *srv = t_server_start(NULL);
    test_paused_and_killed(srv);
    CHECK_OK(etcd_server_restart(srv));
    test_failover(srv);
    t_server_free(srv);
    CHECK(rmdir(snap_dir) == 0);
    t_log("test_down: all passed");
    return 0;
}

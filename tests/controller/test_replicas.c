/*
 * Replicated enjoliverd on one real etcd, judged from etcd's own history:
 *   - three replicas, one leader (the oldest election key); the fixture
 *     machines get exactly the spec's roles, and every schedule record was
 *     written by the replica leading at its revision;
 *   - SIGKILL of the leader: another leads within TTL + 1 s and goes on
 *     scheduling;
 *   - SIGTERM of the leader: another leads within 1 s (it resigns);
 *   - fencing: a leader SIGSTOPped past its TTL and resumed after another
 *     took over writes nothing after that moment.
 */
#include <jansson.h>
#include <stdlib.h>

#include "api_test.h"

#define TTL_S 2

static api_env_t reps[4];
static etcd_sync_t *ec; /* the test's own client, to read etcd */
static api_resp_t r;
static const char *bin;
static char mbdir[] = "/tmp/enj-replicas-mb-XXXXXX";

static void start(int i, api_env_t *first)
{
    char name[16];
    snprintf(name, sizeof name, "r%d", i);
    /* The sync writes into a directory of the test, never a system one. */
    const char *flags[] = {"--name",          name,  "--lease-ttl", "2", "--reconcile", "true",
                           "--matchbox-path", mbdir, NULL};
    if (first)
        api_env_start_on(&reps[i], bin, flags, first);
    else
        api_env_start(&reps[i], bin, flags);
}

/* The leader per etcd: the value of the oldest election key ("" if none). */
static void leader_now(char *out, size_t n)
{
    Etcdserverpb__RangeRequest rq;
    etcdserverpb__range_request__init(&rq);
    uint8_t end[64];
    etcd_range_init_prefix(&rq, "/enjoliver/election/", 20, end);
    rq.sort_target = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__CREATE;
    rq.sort_order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__ASCEND;
    rq.limit = 1;
    Etcdserverpb__RangeResponse *rr = NULL;
    CHECK_OK(etcd_sync_range(ec, &rq, &rr));
    snprintf(out, n, "%.*s", rr->n_kvs ? (int)rr->kvs[0]->value.len : 0,
             rr->n_kvs ? (char *)rr->kvs[0]->value.data : "");
    etcd_response_free(rr);
}

/* Waits until the leader is not `old` (and not ""), at most ms. */
static uint64_t wait_new_leader(const char *old, char *out, size_t n, unsigned ms)
{
    uint64_t t0 = t_now_ms();
    do {
        leader_now(out, n);
        if (*out && strcmp(out, old) != 0)
            return t_now_ms() - t0;
        t_sleep_ms(10);
    } while (t_now_ms() - t0 < ms);
    CHECKF(0, "no new leader within %u ms (still '%s')", ms, out);
    return 0;
}

static int env_of(const char *name)
{
    return name[0] == 'r' ? atoi(name + 1) : -1;
}

static void discover(api_env_t *via, int i)
{
    api_discover_fixture(via, i, &r);
}

/* Waits until `n` machines have roles (through etcd), at most ms. */
static void wait_scheduled(size_t want, unsigned ms)
{
    uint64_t t0 = t_now_ms();
    int64_t count = 0;
    do {
        Etcdserverpb__RangeRequest rq;
        etcdserverpb__range_request__init(&rq);
        uint8_t end[64];
        etcd_range_init_prefix(&rq, "/enjoliver/schedules/", 21, end);
        rq.count_only = 1;
        Etcdserverpb__RangeResponse *rr = NULL;
        CHECK_OK(etcd_sync_range(ec, &rq, &rr));
        count = rr->count;
        etcd_response_free(rr);
        if ((size_t)count >= want)
            return;
        t_sleep_ms(20);
    } while (t_now_ms() - t0 < ms);
    CHECKF(0, "%lld of %zu machines scheduled after %u ms", (long long)count, want, ms);
}

static json_t *roles_of(const char *mac)
{
    char key[128];
    snprintf(key, sizeof key, "/enjoliver/schedules/%s", mac);
    Mvccpb__KeyValue *kv = NULL;
    CHECK_OK(etcd_sync_get(ec, key, strlen(key), &kv));
    json_t *j = json_loadb((char *)kv->value.data, kv->value.len, 0, NULL);
    etcd_response_free(kv);
    return j;
}

/* ---- etcd's history ------------------------------------------------------ */

typedef struct hist_ev_s {
    int del;
    char key[160];
    char by[32]; /* schedule writes: the "by" of the record */
    char val[64];
    int64_t rev, create;
} hist_ev_t;

#define MAX_EVS 8192
static hist_ev_t evs[MAX_EVS];
static size_t n_evs;
static int64_t hist_last;

static void on_history(etcd_watch_t *w, int err, int64_t rev, int64_t crev,
                       Mvccpb__Event *const *ev, size_t n, void *data)
{
    (void)w, (void)rev, (void)crev, (void)data;
    CHECKF(err == 0, "history watch ended: %d", err);
    for (size_t i = 0; i < n && n_evs < MAX_EVS; i++) {
        const Mvccpb__KeyValue *kv = ev[i]->kv;
        hist_ev_t *e = &evs[n_evs++];
        e->del = ev[i]->type == MVCCPB__EVENT__EVENT_TYPE__DELETE;
        snprintf(e->key, sizeof e->key, "%.*s", (int)kv->key.len, (char *)kv->key.data);
        snprintf(e->val, sizeof e->val, "%.*s", (int)kv->value.len, (char *)kv->value.data);
        e->rev = kv->mod_revision;
        e->create = kv->create_revision;
        e->by[0] = '\0';
        if (!e->del && strncmp(e->key, "/enjoliver/schedules/", 21) == 0) {
            json_t *j = json_loadb((char *)kv->value.data, kv->value.len, 0, NULL);
            const char *by = json_string_value(json_object_get(j, "by"));
            snprintf(e->by, sizeof e->by, "%s", by ? by : "");
            json_decref(j);
        }
        hist_last = e->rev;
    }
}

static int history_complete(void *arg)
{
    return hist_last >= *(int64_t *)arg;
}

/* Every event of the prefix from revision 1 to now, in order. */
static void read_history(void)
{
    n_evs = 0;
    hist_last = 0;
    int64_t now = t_current_revision(ec);
    etcd_watch_opts_t o = {.key = "/enjoliver/", .key_len = 11, .prefix = 1, .start_revision = 1};
    etcd_watch_t *w = NULL;
    CHECK_OK(etcd_watch_start(etcd_sync_client(ec), &o, on_history, NULL, &w));
    /* The revision may be ahead of the prefix's last event: wait for the
     * last event at or below it, bounded. */
    t_pump_until(ec, history_complete, &now, 3000);
    etcd_watch_stop(w);
    CHECK(n_evs > 0 && n_evs < MAX_EVS);
}

/* At each schedule write, the writer ("by") is the replica whose election
 * key is the oldest at that revision. `stale` (may be NULL) must write
 * nothing after revision stale_after. Returns the writes checked. */
static int check_history(const char *stale, int64_t stale_after)
{
    read_history();
    struct {
        char key[160], val[64];
        int64_t create;
    } live[64];
    size_t n_live = 0;
    int checked = 0;
    for (size_t i = 0; i < n_evs; i++) {
        hist_ev_t *e = &evs[i];
        if (strncmp(e->key, "/enjoliver/election/", 20) == 0) {
            size_t k = 0;
            while (k < n_live && strcmp(live[k].key, e->key) != 0)
                k++;
            if (e->del && k < n_live)
                live[k] = live[--n_live];
            else if (!e->del && k == n_live && n_live < 64) {
                snprintf(live[n_live].key, sizeof live[n_live].key, "%s", e->key);
                snprintf(live[n_live].val, sizeof live[n_live].val, "%s", e->val);
                live[n_live++].create = e->create;
            }
            continue;
        }
        if (e->del || !e->by[0] || strcmp(e->by, "scheduler") == 0)
            continue;
        const char *leader = "";
        int64_t oldest = 0;
        for (size_t k = 0; k < n_live; k++) {
            if (!oldest || live[k].create < oldest) {
                oldest = live[k].create;
                leader = live[k].val;
            }
        }
        CHECKF(strcmp(leader, e->by) == 0, "%s written at revision %lld by %s while %s led", e->key,
               (long long)e->rev, e->by, leader[0] ? leader : "nobody");
        CHECKF(!stale || strcmp(e->by, stale) != 0 || e->rev <= stale_after,
               "stale leader %s wrote %s at revision %lld, after %lld", stale, e->key,
               (long long)e->rev, (long long)stale_after);
        checked++;
    }
    return checked;
}

int main(int argc, char **argv)
{
    CHECK(argc == 2);
    bin = argv[1];
    CHECK(mkdtemp(mbdir) != NULL);
    start(0, NULL);
    ec = t_client(reps[0].etcd);
    start(1, &reps[0]);
    start(2, &reps[0]);
    char leader[64], next[64];
    wait_new_leader("", leader, sizeof leader, 5000);
    t_log("leader: %s", leader);

    /* Machines discovered through a replica that does not lead. */
    int lead = env_of(leader), other = (lead + 1) % 3;
    for (int i = 1; i <= 4; i++)
        discover(&reps[other], i);
    wait_scheduled(4, 5000);
    const char *cp[] = {"52:54:00:5b:45:35", "52:54:00:a5:24:f5", "52:54:00:e8:32:5b"};
    for (int i = 0; i < 3; i++) {
        json_t *j = roles_of(cp[i]);
        CHECK(json_array_size(json_object_get(j, "roles")) == 2);
        json_decref(j);
    }
    json_t *j = roles_of("52:54:00:ea:6f:41");
    CHECK(json_array_size(json_object_get(j, "roles")) == 1);
    CHECK(strcmp(json_string_value(json_array_get(json_object_get(j, "roles"), 0)),
                 "kubernetes-node") == 0);
    json_decref(j);
    t_log("roles as the spec: M03, M02, M01 control plane; M04 node (written by %s)", leader);

    /* SIGKILL of the leader. */
    api_env_kill(&reps[lead]);
    uint64_t ms = wait_new_leader(leader, next, sizeof next, (TTL_S + 1) * 1000);
    t_log("SIGKILL of %s: %s leads after %llu ms (TTL %d s)", leader, next, (unsigned long long)ms,
          TTL_S);
    discover(&reps[env_of(next)], 5);
    wait_scheduled(5, 5000);

    /* SIGTERM of the new leader: it resigns, the last one leads at once. */
    snprintf(leader, sizeof leader, "%s", next);
    lead = env_of(leader);
    uint64_t t0 = t_now_ms();
    api_env_stop(&reps[lead]);
    ms = wait_new_leader(leader, next, sizeof next, 1000);
    t_log("SIGTERM of %s: %s leads after %llu ms (stop included: %llu ms)", leader, next,
          (unsigned long long)ms, (unsigned long long)(t_now_ms() - t0));

    /* Fencing: the leader frozen past its TTL, another leads, then it
     * wakes up. Nothing of it lands after the new leader's election. */
    snprintf(leader, sizeof leader, "%s", next);
    lead = env_of(leader);
    start(3, &reps[0]);
    api_env_pause(&reps[lead]);
    ms = wait_new_leader(leader, next, sizeof next, (TTL_S + 2) * 1000);
    int64_t takeover = t_current_revision(ec);
    t_log("SIGSTOP of %s: %s leads after %llu ms", leader, next, (unsigned long long)ms);
    discover(&reps[env_of(next)], 6);
    wait_scheduled(6, 5000);
    api_env_resume(&reps[lead]);
    discover(&reps[lead], 7); /* the old one's API still serves */
    wait_scheduled(7, 5000);
    t_sleep_ms(1000);
    int checked = check_history(leader, takeover);
    t_log("history: %d schedule writes, each by the leader of its revision; none by %s after %lld",
          checked, leader, (long long)takeover);
    CHECK(checked >= 7);

    for (int i = 0; i < 4; i++)
        if (reps[i].pid > 0 && i != 0)
            api_env_stop(&reps[i]);
    etcd_server_t *etcd = reps[0].etcd;
    if (reps[0].pid > 0)
        api_env_stop(&reps[0]); /* stops etcd too */
    else
        t_server_free(etcd);
    t_client_free(ec);
    t_system("rm -rf '%s'", mbdir);
    api_resp_free(&r);
    t_log("test_replicas: all passed");
    return 0;
}

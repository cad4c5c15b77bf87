/*
 * The matchbox sync through a real enjoliverd (leading alone) on a real
 * etcd, writing into a temporary matchbox directory: the original's
 * example (M01-M04) gives the three profiles and the discovery group
 * byte-equal to the fixtures and one group per machine (the spec's
 * metadata, stable ids); a restart rewrites no file (mtimes) and no key
 * (revision); a forgotten machine's group goes, a file the sync does not
 * own stays; a broken directory is logged and retried until it is back.
 * Pod ranges are recorded in etcd and stay with their machines when
 * machines with lower IPs join; a machine with no room for a range is
 * reported and does not stop the others.
 */
#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_test.h"

#define KEY                                                                                        \
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC0example0key0material0only0for0documentation "         \
    "admin@enjoliver\n"

static api_env_t env;
static api_resp_t r;
static char dir[] = "/tmp/enj-sync-XXXXXX";
static const char *bin;

static void start(int first)
{
    const char *flags[] = {"--reconcile",     "true", "--name",    "sync0",
                           "--matchbox-path", dir,    "--api-uri", "http://172.20.0.1:5000",
                           "--lease-ttl",     "2",    NULL};
    if (first)
        api_env_start(&env, bin, flags);
    else {
        api_env_t again;
        api_env_start_on(&again, bin, flags, &env);
        env.pid = again.pid;
        env.port = again.port;
        snprintf(env.base, sizeof env.base, "%s", again.base);
        snprintf(env.log_path, sizeof env.log_path, "%s", again.log_path);
        t_client_free(again.cli);
    }
}

static char *file(const char *rel, size_t *n)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return api_fixture_path(path, n);
}

static int exists(const char *rel)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return access(path, F_OK) == 0;
}

static long mtime_ns(const char *rel)
{
    char path[600];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    CHECK(stat(path, &st) == 0);
    return st.st_mtim.tv_sec * 1000000000L + st.st_mtim.tv_nsec;
}

static void wait_file(const char *rel, unsigned ms)
{
    uint64_t t0 = t_now_ms();
    while (!exists(rel) && t_now_ms() - t0 < ms)
        t_sleep_ms(20);
    CHECKF(exists(rel), "%s not written within %u ms", rel, ms);
}

static void same_as_fixture(const char *rel, const char *fixture)
{
    size_t a, b;
    char *got = file(rel, &a), *want = api_fixture(fixture, &b);
    CHECKF(a == b && memcmp(got, want, a) == 0, "%s differs from %s", rel, fixture);
    free(got);
    free(want);
}

/* The recorded pod range of mac ("start-end"), "" when none. */
static void recorded(const char *mac, char *out, size_t size)
{
    char key[128];
    snprintf(key, sizeof key, "/enjoliver/allocations/%s", mac);
    Mvccpb__KeyValue *kv = NULL;
    out[0] = '\0';
    if (etcd_sync_get(env.cli, key, strlen(key), &kv) != 0 || !kv)
        return;
    json_t *v = json_loadb((char *)kv->value.data, kv->value.len, 0, NULL);
    snprintf(out, size, "%s-%s", json_string_value(json_object_get(v, "start")),
             json_string_value(json_object_get(v, "end")));
    json_decref(v);
    mvccpb__key_value__free_unpacked(kv, NULL);
}

/* The CNI range a group file gives ("start-end"). */
static void group_range(const char *rel, char *out, size_t size)
{
    size_t n;
    char *text = file(rel, &n);
    json_t *g = json_loads(text, 0, NULL);
    free(text);
    json_t *cni = json_loads(
        json_string_value(json_object_get(json_object_get(g, "metadata"), "cni")), 0, NULL);
    snprintf(out, size, "%s-%s", json_string_value(json_object_get(cni, "rangeStart")),
             json_string_value(json_object_get(cni, "rangeEnd")));
    json_decref(cni);
    json_decref(g);
}

static void post(const char *uuid, const char *mac, const char *ip, unsigned plen, const char *gw)
{
    char *body = api_discovery_body(uuid, mac, ip, plen, gw);
    api_req(&env, "POST", "/discovery", body, strlen(body), &r);
    CHECKF(r.status == 200, "%s: %ld %s", mac, r.status, r.body);
    free(body);
}

static const char *groups[] = {
    "groups/etcd_member_kubernetes_control_plane-5254005b4535.json",
    "groups/etcd_member_kubernetes_control_plane-525400a524f5.json",
    "groups/etcd_member_kubernetes_control_plane-525400e8325b.json",
    "groups/kubernetes_nodes-525400ea6f41.json",
};

static void test_example(void)
{
    for (int i = 1; i <= 4; i++)
        api_discover_fixture(&env, i, &r);
    for (int i = 0; i < 4; i++)
        wait_file(groups[i], 5000);
    same_as_fixture("profiles/etcd_member_kubernetes_control_plane.json",
                    "matchbox-profile-etcd_member_kubernetes_control_plane.json");
    same_as_fixture("profiles/kubernetes_nodes.json", "matchbox-profile-kubernetes_nodes.json");
    same_as_fixture("profiles/discovery.json", "matchbox-profile-discovery.json");
    same_as_fixture("groups/discovery.json", "matchbox-group-discovery.json");
    /* Machine groups: the fixture's metadata, ids and CNI ranges aside. */
    size_t n;
    char *text = file(groups[3], &n);
    json_t *got = json_loads(text, 0, NULL);
    free(text);
    text = api_fixture("matchbox-group-kubernetes_nodes-0.json", &n);
    json_t *want = json_loads(text, 0, NULL);
    free(text);
    json_t *gm = json_object_get(got, "metadata"), *wm = json_object_get(want, "metadata");
    const char *k;
    json_t *v;
    int compared = 0;
    json_object_foreach(wm, k, v)
    {
        if (!strcmp(k, "cni"))
            continue;
        CHECKF(json_equal(json_object_get(gm, k), v), "nodes group metadata.%s differs", k);
        compared++;
    }
    CHECK(compared > 30 &&
          json_equal(json_object_get(got, "selector"), json_object_get(want, "selector")));
    json_decref(got);
    json_decref(want);
    /* The sync flag says what it reflects; /ignition is open. */
    api_req(&env, "GET", "/sync-notify", NULL, 0, &r);
    CHECKF(r.status == 200, "sync flag: %ld %s", r.status, r.body);
    t_log("example: 3 profiles and the discovery group equal to the fixtures, 4 groups");
}

/* The event log and the metrics say what the leader did. */
static void test_events_and_metrics(void)
{
    /* Events follow the writes they report: wait for the last kind. */
    CHECK(api_wait_body(&env, "/events?limit=1000", "\"files-written\"", 2000));
    CHECK(api_wait_body(&env, "/events?machine=52:54:00:ea:6f:41", "\"role-given\"", 2000));
    api_req(&env, "GET", "/events?machine=52-54-00-EA-6F-41", NULL, 0, &r);
    CHECKF(r.status == 200, "%ld %s", r.status, r.body);
    json_t *list = json_loads(r.body, 0, NULL);
    int role = 0;
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        role |= !strcmp(json_string_value(json_object_get(e, "kind")), "role-given") &&
                !strcmp(json_string_value(json_object_get(e, "message")), "kubernetes-node");
        CHECK(!strcmp(json_string_value(json_object_get(e, "machine")), "52:54:00:ea:6f:41"));
    }
    CHECK(role);
    json_decref(list);
    api_req(&env, "GET", "/events?limit=1000", NULL, 0, &r);
    CHECK(strstr(r.body, "\"leader-elected\"") && strstr(r.body, "\"files-written\""));
    Mvccpb__KeyValue *kv = NULL;
    Etcdserverpb__RangeRequest rq;
    etcdserverpb__range_request__init(&rq);
    uint8_t end[64];
    etcd_range_init_prefix(&rq, "/enjoliver/events/", 18, end);
    rq.limit = 1;
    Etcdserverpb__RangeResponse *rr = NULL;
    CHECK_OK(etcd_sync_range(env.cli, &rq, &rr));
    CHECK(rr->n_kvs == 1 && rr->kvs[0]->lease != 0); /* bounded by a lease */
    etcd_response_free(rr);
    (void)kv;
    api_req(&env, "GET", "/events?limit=0", NULL, 0, &r);
    CHECK(r.status == 400);
    api_req(&env, "GET", "/metrics", NULL, 0, &r);
    CHECK(strstr(r.body, "enjoliver_is_leader{replica=\"sync0\"} 1"));
    CHECK(strstr(r.body, "enjoliver_reconcile_total{reconciler=\"sync\"}"));
    /* Latencies: the reconcilers' and etcd's, as histograms. */
    CHECK(strstr(r.body, "# TYPE enjoliver_reconcile_duration_seconds histogram"));
    CHECK(strstr(r.body,
                 "enjoliver_reconcile_duration_seconds_bucket{reconciler=\"sync\",le=\"10\"}"));
    CHECK(!strstr(r.body, "enjoliver_reconcile_duration_seconds_count{reconciler=\"sync\"} 0\n"));
    CHECK(strstr(r.body,
                 "enjoliver_etcd_request_duration_seconds_bucket{method=\"Txn\",le=\"+Inf\"}"));
    CHECK(strstr(r.body, "enjoliver_etcd_request_errors_total{method=\"Range\"}"));
    t_log("events: role-given, leader-elected, files-written, lease-bound; metrics: is_leader 1, "
          "reconciler and etcd latency histograms");
}

static void test_restart_rewrites_nothing(void)
{
    long before[4];
    for (int i = 0; i < 4; i++)
        before[i] = mtime_ns(groups[i]);
    long prof = mtime_ns("profiles/kubernetes_nodes.json");
    t_sleep_ms(300);
    api_env_stop_keep_etcd(&env);
    int64_t rev0 = t_current_revision(env.cli);
    start(0);
    /* It leads again and runs every reconciler (level-triggered). */
    uint64_t t0 = t_now_ms();
    int leading = 0;
    while (!leading && t_now_ms() - t0 < 6000) {
        api_req(&env, "GET", "/healthz", NULL, 0, &r);
        leading = strstr(r.body, "\"is_leader\": true") != NULL;
        if (!leading)
            t_sleep_ms(50);
    }
    CHECK(leading);
    t_sleep_ms(500);
    for (int i = 0; i < 4; i++)
        CHECKF(mtime_ns(groups[i]) == before[i], "%s rewritten after a restart", groups[i]);
    CHECK(mtime_ns("profiles/kubernetes_nodes.json") == prof);
    /* Only the election and the event log moved: no record was rewritten. */
    Etcdserverpb__RangeRequest rq;
    etcdserverpb__range_request__init(&rq);
    uint8_t end[64];
    etcd_range_init_prefix(&rq, "/enjoliver/", 11, end);
    rq.min_mod_revision = rev0 + 1;
    Etcdserverpb__RangeResponse *rr = NULL;
    CHECK_OK(etcd_sync_range(env.cli, &rq, &rr));
    for (size_t i = 0; i < rr->n_kvs; i++)
        CHECKF(strncmp((char *)rr->kvs[i]->key.data, "/enjoliver/election/", 20) == 0 ||
                   strncmp((char *)rr->kvs[i]->key.data, "/enjoliver/events/", 18) == 0,
               "%.*s rewritten after a restart", (int)rr->kvs[i]->key.len,
               (char *)rr->kvs[i]->key.data);
    etcd_response_free(rr);
    t_log("restart: no file and no key rewritten");
}

static void test_orphans_and_foreign_files(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/groups/custom.json", dir);
    FILE *f = fopen(path, "w");
    CHECK(f && fputs("{}\n", f) >= 0);
    fclose(f);
    api_req(&env, "DELETE", "/discovery/b7f5f93a-b029-475f-b3a4-479ba198cb8a", NULL, 0, &r);
    CHECK(r.status == 200);
    uint64_t t0 = t_now_ms();
    while (exists(groups[2]) && t_now_ms() - t0 < 5000)
        t_sleep_ms(20);
    CHECKF(!exists(groups[2]), "the forgotten machine's group is still there");
    CHECK(exists("groups/custom.json"));
    char rec[64];
    recorded("52:54:00:e8:32:5b", rec, sizeof rec);
    CHECKF(rec[0] == '\0', "the forgotten machine's pod range is still recorded: %s", rec);
    t_log("forgotten machine: its group removed; a foreign file kept");
}

/* A fault root cannot write through: groups/ replaced by a plain file. */
static void test_fault_then_recovery(void)
{
    char groups_dir[600], moved[600];
    snprintf(groups_dir, sizeof groups_dir, "%s/groups", dir);
    snprintf(moved, sizeof moved, "%s/groups.moved", dir);
    CHECK(rename(groups_dir, moved) == 0);
    FILE *f = fopen(groups_dir, "w");
    CHECK(f != NULL);
    fclose(f);
    size_t n;
    char *body = api_fixture("discovery-m05.json", &n);
    api_req(&env, "POST", "/discovery", body, n, &r);
    CHECK(r.status == 200);
    free(body);
    /* The failure is logged and retried (backoff from 100 ms). */
    uint64_t t0 = t_now_ms();
    int logged = 0;
    while (!logged && t_now_ms() - t0 < 5000) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "grep -q 'sync: failed; retrying' '%s'", env.log_path);
        logged = t_system("%s", cmd) == 0;
        if (!logged)
            t_sleep_ms(50);
    }
    CHECK(logged);
    CHECK(unlink(groups_dir) == 0 && rename(moved, groups_dir) == 0);
    wait_file("groups/kubernetes_nodes-525400c1b789.json", 35000);
    CHECK(api_wait_body(&env, "/events?limit=1000", "\"sync-recovered\"", 2000));
    api_req(&env, "GET", "/events?limit=1000", NULL, 0, &r);
    CHECK(strstr(r.body, "\"sync-failed\"") != NULL);
    api_req(&env, "GET", "/metrics", NULL, 0, &r);
    CHECK(strstr(r.body, "enjoliver_reconcile_errors_total{reconciler=\"sync\"} 0\n") == NULL);
    t_log("groups/ unusable: the sync logged, retried, and wrote once it was back (%llu ms)",
          (unsigned long long)(t_now_ms() - t0));
}

/* Every group's range is recorded; a machine with a lower IP than all of
 * them joins: no existing group changes, it takes the next free block. */
static void test_ranges_stay(void)
{
    const char *macs[] = {"52:54:00:5b:45:35", "52:54:00:a5:24:f5", "52:54:00:e8:32:5b",
                          "52:54:00:ea:6f:41"};
    long before[4];
    char rec[64], got[64];
    for (int i = 0; i < 4; i++) {
        recorded(macs[i], rec, sizeof rec);
        group_range(groups[i], got, sizeof got);
        CHECKF(rec[0] && strcmp(rec, got) == 0, "%s: recorded %s, group %s", macs[i], rec, got);
        before[i] = mtime_ns(groups[i]);
    }
    post("0c0c0c0c-0000-4000-8000-000000000001", "52:54:00:00:00:07", "172.20.0.7", 21,
         "172.20.0.1");
    wait_file("groups/kubernetes_nodes-525400000007.json", 5000);
    for (int i = 0; i < 4; i++)
        CHECKF(mtime_ns(groups[i]) == before[i], "%s rewritten when a lower IP joined", groups[i]);
    recorded("52:54:00:00:00:07", rec, sizeof rec);
    group_range("groups/kubernetes_nodes-525400000007.json", got, sizeof got);
    CHECKF(strcmp(rec, got) == 0 && strcmp(got, "172.20.5.1-172.20.5.254") == 0,
           "new machine: recorded %s, group %s", rec, got);
    t_log("pod ranges: recorded in etcd; a lower IP joined and no group changed (it got %s)", got);
}

/* A /30 has no room for a pod block: that machine is reported (log,
 * event, metric) and keeps no group; a machine after it is synced. */
static void test_no_room_for_one(void)
{
    post("0c0c0c0c-0000-4000-8000-000000000002", "52:54:00:00:00:30", "192.168.30.2", 30,
         "192.168.30.1");
    CHECK(api_wait_body(&env, "/events?machine=52:54:00:00:00:30", "\"machine-not-synced\"", 5000));
    CHECK(api_wait_body(&env, "/metrics", "enjoliver_sync_skipped_machines 1\n", 2000));
    post("0c0c0c0c-0000-4000-8000-000000000003", "52:54:00:00:00:08", "172.20.0.8", 21,
         "172.20.0.1");
    wait_file("groups/kubernetes_nodes-525400000008.json", 5000);
    CHECK(!exists("groups/kubernetes_nodes-525400000030.json"));
    char cmd[700];
    snprintf(cmd, sizeof cmd,
             "grep -q 'machine left without a group.*machine=52:54:00:00:00:30.*too small' '%s'",
             env.log_path);
    CHECK(t_system("%s", cmd) == 0);
    /* Forgotten, it is not reported any more. */
    api_req(&env, "DELETE", "/discovery/0c0c0c0c-0000-4000-8000-000000000002", NULL, 0, &r);
    CHECK(r.status == 200);
    CHECK(api_wait_body(&env, "/metrics", "enjoliver_sync_skipped_machines 0\n", 5000));
    t_log("a machine without room for pods: reported, the others synced");
}

int main(int argc, char **argv)
{
    CHECK(argc == 2);
    bin = argv[1];
    CHECK(mkdtemp(dir) != NULL);
    char keys[600];
    snprintf(keys, sizeof keys, "%s/ssh_authorized_keys", dir);
    CHECK(mkdir(keys, 0755) == 0);
    snprintf(keys, sizeof keys, "%s/ssh_authorized_keys/admin.pub", dir);
    FILE *f = fopen(keys, "w");
    CHECK(f && fputs(KEY, f) >= 0);
    fclose(f);
    start(1);
    test_example();
    test_events_and_metrics();
    test_restart_rewrites_nothing();
    test_ranges_stay();
    test_no_room_for_one();
    test_orphans_and_foreign_files();
    test_fault_then_recovery();
    api_resp_free(&r);
    api_env_stop(&env);
    t_system("rm -rf '%s'", dir);
    t_log("test_sync: all passed");
    return 0;
}

/*
 * Rolling-update slots end to end, through a real enjoliverd leading alone
 * on a real etcd: nodes ask (POST /rollout/slot), the leader grants one
 * slot at a time (max_unavailable 1), a release with the slot's token lets
 * the next one in, a stale token is refused, a machine without a rolling
 * policy is refused, a slot held past rollout_max_hold_seconds is taken
 * back, and a paused rollout grants nothing until resumed; a control-plane
 * member waits while another member reports not ready; group labels are
 * kept and dropped. "One at a time" is judged from etcd's history of the
 * slot keys.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>

#include "api_test.h"

static api_env_t env;
static api_resp_t r;
static char dir[] = "/tmp/enj-rollout-XXXXXX";

#define Q(mac) "mac=" mac

static void post(const char *path)
{
    api_req(&env, "POST", path, NULL, 0, &r);
}

static void post_body(const char *path, const char *body)
{
    api_req(&env, "POST", path, body, strlen(body), &r);
}

/* Waits until GET /rollout/slot/<q> says `state`; returns the token. */
static long long wait_state(const char *q, const char *state, unsigned ms)
{
    char path[128];
    snprintf(path, sizeof path, "/rollout/slot/%s", q);
    uint64_t t0 = t_now_ms();
    do {
        api_req(&env, "GET", path, NULL, 0, &r);
        json_t *j = json_loads(r.body, 0, NULL);
        const char *s = json_string_value(json_object_get(j, "state"));
        long long token = json_integer_value(json_object_get(j, "token"));
        int ok = s && !strcmp(s, state);
        json_decref(j);
        if (ok)
            return token;
        t_sleep_ms(20);
    } while (t_now_ms() - t0 < ms);
    CHECKF(0, "%s is not %s after %u ms: %s", q, state, ms, r.body);
    return 0;
}

/* The mod revision of a key (0: absent). */
static int64_t mod_rev(const char *key)
{
    Mvccpb__KeyValue *kv = NULL;
    int rc = etcd_sync_get(env.cli, key, strlen(key), &kv);
    CHECKF(rc == 0 || rc == -ENOENT, "get %s: %d", key, rc);
    int64_t rev = rc == 0 && kv ? kv->mod_revision : 0;
    if (kv)
        mvccpb__key_value__free_unpacked(kv, NULL);
    return rev;
}

/* A control-plane member rolls only while the other members are ready. */
/* The MACs of two control-plane members, as the scheduler gave the roles
 * (which three machines got them depends on how many were discovered when
 * it first ran): "mac=..." queries and the second one's record key. */
static void two_members(char m1[32], char m2[32], char key2[96])
{
    api_req(&env, "GET", "/scheduler/etcd-member", NULL, 0, &r);
    json_t *list = json_loads(r.body, 0, NULL);
    CHECKF(json_array_size(list) == 3, "%s", r.body);
    const char *a = json_string_value(json_object_get(json_array_get(list, 0), "mac"));
    const char *b = json_string_value(json_object_get(json_array_get(list, 1), "mac"));
    CHECK(a && b);
    snprintf(m1, 32, "mac=%s", a ? a : "");
    snprintf(m2, 32, "mac=%s", b ? b : "");
    snprintf(key2, 96, "/enjoliver/rollout/ready/%s", b ? b : "");
    json_decref(list);
}

static void test_ready_checks(void)
{
    char m1[32], m2[32], key[96];
    two_members(m1, m2, key);
    char path[128];
    snprintf(path, sizeof path, "/lifecycle/rolling/%s", m1);
    post(path);
    CHECK(r.status == 200);
    snprintf(path, sizeof path, "/rollout/ready/%s", m2);
    post_body(path, "{\"ready\": false, \"failed\": [\"etcd-member-healthy\"]}");
    CHECKF(r.status == 200, "%ld %s", r.status, r.body);
    snprintf(path, sizeof path, "/rollout/slot/%s", m1);
    post(path);
    CHECK(r.status == 202);
    t_sleep_ms(500);
    wait_state(m1, "waiting", 100);
    api_req(&env, "GET", "/rollout", NULL, 0, &r);
    CHECK(strstr(r.body, "etcd-member-healthy") != NULL);
    snprintf(path, sizeof path, "/rollout/ready/%s", m2);
    post_body(path, "{\"ready\": true}");
    CHECK(r.status == 200);
    uint64_t t0 = t_now_ms();
    long long token = wait_state(m1, "granted", 3000);
    t_log("a member not ready held another back; ready again -> slot in %llu ms",
          (unsigned long long)(t_now_ms() - t0));
    snprintf(path, sizeof path, "/rollout/slot/%s?token=%lld", m1, token);
    api_req(&env, "DELETE", path, NULL, 0, &r);
    CHECK(r.status == 200);

    /* Bad reports change nothing (the leader's own writes, events, may go
     * on meanwhile: judge the report's key). */
    int64_t rev = mod_rev(key);
    CHECK(rev > 0);
    snprintf(path, sizeof path, "/rollout/ready/%s", m2);
    const char *bad[] = {"not json",
                         "[]",
                         "{\"ready\": \"yes\"}",
                         "{}",
                         "{\"ready\": true, \"failed\": [1]}",
                         "{\"ready\": true, \"failed\": \"etcd\"}"};
    const long want[] = {400, 422, 422, 422, 422, 422};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        post_body(path, bad[i]);
        CHECKF(r.status == want[i] && strstr(r.body, "\"error\""), "%s: %ld %s", bad[i], r.status,
               r.body);
    }
    post_body("/rollout/ready/" Q("52-54-00-00-00-99"), "{\"ready\": true}");
    CHECKF(r.status == 404, "%ld %s", r.status, r.body);
    CHECK(mod_rev(key) == rev);
    CHECK(mod_rev("/enjoliver/rollout/ready/52:54:00:00:00:99") == 0);
}

/* Group labels: kept, shown, dropped; a bad one is refused. */
static void test_group_labels(void)
{
    char path[128];
    snprintf(path, sizeof path, "/rollout/group/%s", Q("52-54-00-ea-6f-41"));
    post_body(path, "{\"group\": \"rack 7\"}");
    CHECKF(r.status == 422, "%ld %s", r.status, r.body);
    post_body(path, "{\"group\": \"rack-7\"}");
    CHECKF(r.status == 200, "%ld %s", r.status, r.body);
    api_req(&env, "GET", "/rollout", NULL, 0, &r);
    CHECK(strstr(r.body, "\"rack-7\"") != NULL);
    const char *key = "/enjoliver/rollout/groups/52:54:00:ea:6f:41";
    int64_t rev = mod_rev(key);
    post_body(path, "{\"group\": \"rack-7\"}"); /* the same again: nothing written */
    CHECK(r.status == 200 && rev > 0 && mod_rev(key) == rev);
    api_req(&env, "DELETE", path, NULL, 0, &r);
    CHECK(r.status == 200);
    api_req(&env, "GET", "/rollout", NULL, 0, &r);
    CHECK(strstr(r.body, "\"rack-7\"") == NULL);
    t_log("group labels: kept, shown, dropped; a bad label refused");
}

/* The most slot keys that existed at once, from etcd's history. */
static int max_concurrent_slots(void)
{
    Etcdserverpb__RangeRequest rq;
    etcdserverpb__range_request__init(&rq);
    uint8_t end[64];
    etcd_range_init_prefix(&rq, "/enjoliver/rollout/slots/", 25, end);
    rq.keys_only = 1;
    /* Replay from revision 1 with a watch would be exact; the history of
     * this prefix is short, so read it at every revision instead. */
    int64_t now = t_current_revision(env.cli);
    int most = 0;
    for (int64_t rev = 1; rev <= now; rev++) {
        rq.revision = rev;
        rq.count_only = 1;
        Etcdserverpb__RangeResponse *rr = NULL;
        CHECK_OK(etcd_sync_range(env.cli, &rq, &rr));
        if (rr->count > most)
            most = (int)rr->count;
        etcd_response_free(rr);
    }
    return most;
}

int main(int argc, char **argv)
{
    CHECK(argc == 2);
    CHECK(mkdtemp(dir) != NULL);
    setenv("ENJOLIVER_ROLLOUT_MAX_HOLD_SECONDS", "3", 1);
    const char *flags[] = {"--reconcile", "true", "--matchbox-path", dir, "--lease-ttl", "2", NULL};
    api_env_start(&env, argv[1], flags);
    for (int i = 1; i <= 5; i++)
        api_discover_fixture(&env, i, &r);
    /* M04 52:54:00:ea:6f:41 and M05 52:54:00:c1:b7:89 take the slots below. */
    const char *m04 = Q("52-54-00-ea-6f-41"), *m05 = Q("52-54-00-c1-b7-89");
    char path[128];
    /* Every machine has its roles (which three are the control plane
     * depends on how many were discovered when the scheduler first ran). */
    CHECK(api_wait_body(&env, "/scheduler", "52:54:00:c1:b7:89", 5000));
    snprintf(path, sizeof path, "/lifecycle/rolling/%s", m04);
    post(path);
    snprintf(path, sizeof path, "/lifecycle/rolling/%s", m05);
    post(path);

    /* M03 has no rolling policy: refused. */
    post("/rollout/slot/" Q("52-54-00-5b-45-35"));
    CHECKF(r.status == 403, "%ld %s", r.status, r.body);

    snprintf(path, sizeof path, "/rollout/slot/%s", m04);
    post(path);
    CHECK(r.status == 200 || r.status == 202);
    long long t04 = wait_state(m04, "granted", 3000);
    snprintf(path, sizeof path, "/rollout/slot/%s", m05);
    post(path);
    CHECK(r.status == 202);
    t_sleep_ms(300);
    wait_state(m05, "waiting", 100); /* one slot at a time */

    /* A stale token is refused; the right one releases, and M05 gets in. */
    snprintf(path, sizeof path, "/rollout/slot/%s?token=%lld", m04, t04 + 1000);
    api_req(&env, "DELETE", path, NULL, 0, &r);
    CHECKF(r.status == 409, "%ld %s", r.status, r.body);
    snprintf(path, sizeof path, "/rollout/slot/%s?token=%lld", m04, t04);
    api_req(&env, "DELETE", path, NULL, 0, &r);
    CHECKF(r.status == 200, "%ld %s", r.status, r.body);
    uint64_t t0 = t_now_ms();
    wait_state(m05, "granted", 3000);
    t_log("release -> next slot given in %llu ms", (unsigned long long)(t_now_ms() - t0));
    wait_state(m04, "idle", 100);

    /* Held past rollout_max_hold_seconds (3 s): taken back. */
    t0 = t_now_ms();
    wait_state(m05, "idle", 6000);
    t_log("slot held too long: reclaimed after %llu ms", (unsigned long long)(t_now_ms() - t0));
    /* The event follows the reclaim's commit: give it a moment. */
    int seen = 0;
    for (int i = 0; i < 100 && !seen; i++) {
        api_req(&env, "GET", "/events?machine=52:54:00:c1:b7:89", NULL, 0, &r);
        seen = strstr(r.body, "\"slot-reclaimed\"") != NULL;
        if (!seen)
            t_sleep_ms(20);
    }
    CHECK(seen);

    /* Paused: nothing is given until resumed. */
    post("/rollout/pause");
    CHECK(r.status == 200 && strstr(r.body, "\"paused\": true"));
    snprintf(path, sizeof path, "/rollout/slot/%s", m04);
    post(path);
    CHECK(r.status == 202);
    t_sleep_ms(500);
    wait_state(m04, "waiting", 100);
    post("/rollout/resume");
    CHECK(r.status == 200);
    wait_state(m04, "granted", 3000);
    api_req(&env, "GET", "/rollout", NULL, 0, &r);
    CHECK(strstr(r.body, "\"paused\": false") && strstr(r.body, "52:54:00:ea:6f:41"));

    /* A restart of the (only) replica mid-roll: the holder keeps its slot
     * and token, nobody else gets one. */
    long long t_before = wait_state(m04, "granted", 100);
    snprintf(path, sizeof path, "/rollout/slot/%s", m05);
    post(path);
    CHECK(r.status == 202);
    api_env_stop_keep_etcd(&env);
    api_env_t again;
    api_env_start_on(&again, argv[1], flags, &env);
    env.pid = again.pid;
    env.port = again.port;
    snprintf(env.base, sizeof env.base, "%s", again.base);
    snprintf(env.log_path, sizeof env.log_path, "%s", again.log_path);
    t_client_free(again.cli);
    for (int i = 0; i < 300; i++) { /* until it leads again */
        api_req(&env, "GET", "/healthz", NULL, 0, &r);
        if (strstr(r.body, "\"is_leader\": true"))
            break;
        t_sleep_ms(20);
    }
    t_sleep_ms(500);
    CHECK(wait_state(m04, "granted", 100) == t_before);
    wait_state(m05, "waiting", 100);
    t_log("restart mid-roll: the holder kept its slot and token, no second grant");

    /* Free the slots for the control-plane member's turn. */
    snprintf(path, sizeof path, "/rollout/slot/%s?token=%lld", m04, t_before);
    api_req(&env, "DELETE", path, NULL, 0, &r);
    CHECK(r.status == 200);
    long long t05 = wait_state(m05, "granted", 3000);
    snprintf(path, sizeof path, "/rollout/slot/%s?token=%lld", m05, t05);
    api_req(&env, "DELETE", path, NULL, 0, &r);
    CHECK(r.status == 200);
    test_ready_checks();
    test_group_labels();

    int most = max_concurrent_slots();
    CHECKF(most == 1, "%d slots held at once at some revision", most);
    t_log("etcd's history: never more than %d slot at once", most);
    api_resp_free(&r);
    api_env_stop(&env);
    t_system("rm -rf '%s'", dir);
    t_log("test_rollout: all passed");
    return 0;
}

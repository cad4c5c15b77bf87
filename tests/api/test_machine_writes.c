/*
 * The per-machine writes through a real enjoliverd on a real etcd:
 * POST /scheduler, POST and DELETE /lifecycle/rolling/<q>, POST
 * /lifecycle/coreos-install/<status>/<q>. Answers are compared with the
 * original's fixtures (plus "error"/"status" on errors); what etcd holds is
 * read back; refused requests leave etcd's revision unchanged.
 */
#include <jansson.h>
#include <stdlib.h>

#include "api_test.h"

#define Q_M01 "uuid=b7f5f93a-b029-475f-b3a4-479ba198cb8a&mac=52-54-00-e8-32-5b&os=installed"

static api_env_t env;
static api_resp_t r;

static void discover(int i)
{
    api_discover_fixture(&env, i, &r);
}

static void post_fixture(const char *method, const char *path, const char *fixture)
{
    size_t n = 0;
    char *body = fixture ? api_fixture(fixture, &n) : NULL;
    api_req(&env, method, path, body, n, &r);
    free(body);
}

/* The answer holds every key of the fixture with the same value. */
static void answer_has(long status, const char *fixture)
{
    CHECKF(r.status == status, "status %ld, expected %ld: %s", r.status, status, r.body);
    json_t *got = json_loads(r.body, 0, NULL);
    char *want_text = api_fixture(fixture, NULL);
    json_t *want = json_loads(want_text, 0, NULL);
    free(want_text);
    const char *k;
    json_t *v;
    json_object_foreach(want, k, v)
    {
        CHECKF(json_equal(json_object_get(got, k), v), "key %s of %s differs in %s", k, fixture,
               r.body);
    }
    json_decref(got);
    json_decref(want);
}

static json_t *etcd_json(const char *key)
{
    Mvccpb__KeyValue *kv = NULL;
    int rc = etcd_sync_get(env.cli, key, strlen(key), &kv);
    if (rc == -ENOENT)
        return NULL;
    CHECK_OK(rc);
    json_t *j = json_loadb((char *)kv->value.data, kv->value.len, 0, NULL);
    etcd_response_free(kv);
    return j;
}

static void unchanged(const char *what, long status, int64_t rev0)
{
    CHECKF(r.status == status, "%s: %ld, expected %ld: %s", what, r.status, status, r.body);
    CHECKF(strstr(r.body, "\"error\"") != NULL, "%s: no error in %s", what, r.body);
    CHECKF(t_current_revision(env.cli) == rev0, "%s changed etcd", what);
}

static void test_scheduler(void)
{
    post_fixture("POST", "/scheduler", "scheduler-post-body-control-plane.json");
    answer_has(200, "scheduler-post-body-control-plane.json");
    json_t *s = etcd_json("/enjoliver/schedules/52:54:00:5b:45:35");
    CHECK(s != NULL);
    json_t *want = json_pack("[s,s]", "etcd-member", "kubernetes-control-plane");
    CHECK(json_equal(json_object_get(s, "roles"), want));
    json_decref(want);
    json_decref(s);
    /* Again: nothing to write. */
    int64_t rev0 = t_current_revision(env.cli);
    post_fixture("POST", "/scheduler", "scheduler-post-body-control-plane.json");
    CHECK(r.status == 200 && t_current_revision(env.cli) == rev0);
    /* Upper-case MAC with dashes: the same machine. */
    const char *up = "{\"roles\": [\"kubernetes-node\"], \"selector\": {\"mac\": "
                     "\"52-54-00-EA-6F-41\"}}";
    api_req(&env, "POST", "/scheduler", up, strlen(up), &r);
    CHECKF(r.status == 200, "%ld %s", r.status, r.body);
    s = etcd_json("/enjoliver/schedules/52:54:00:ea:6f:41");
    CHECK(s && json_array_size(json_object_get(s, "roles")) == 1);
    json_decref(s);

    rev0 = t_current_revision(env.cli);
    api_req(&env, "POST", "/scheduler", "nope", 4, &r);
    unchanged("scheduler not JSON", 406, rev0);
    answer_has(406, "scheduler-post-response-406.json");
    const char *bad_role = "{\"roles\": [\"kubernetes-master\"], \"selector\": {\"mac\": "
                           "\"52:54:00:ea:6f:41\"}}";
    api_req(&env, "POST", "/scheduler", bad_role, strlen(bad_role), &r);
    unchanged("unknown role", 422, rev0);
    CHECK(strstr(r.body, "roles[0]") != NULL);
    const char *unknown = "{\"roles\": [\"kubernetes-node\"], \"selector\": {\"mac\": "
                          "\"02:00:00:00:00:99\"}}";
    api_req(&env, "POST", "/scheduler", unknown, strlen(unknown), &r);
    unchanged("unknown MAC", 404, rev0);
    t_log("POST /scheduler: ok");
}

static void test_rolling(void)
{
    post_fixture("POST", "/lifecycle/rolling/" Q_M01, NULL);
    answer_has(200, "lifecycle-rolling-response-enabled.json");
    json_t *j = etcd_json("/enjoliver/lifecycle/rolling/52:54:00:e8:32:5b");
    CHECK(j && json_is_true(json_object_get(j, "enable")));
    CHECK(strcmp(json_string_value(json_object_get(j, "strategy")), "kexec") == 0);
    const char *created = json_string_value(json_object_get(j, "created"));
    char created0[64];
    snprintf(created0, sizeof created0, "%s", created);
    json_decref(j);

    post_fixture("POST", "/lifecycle/rolling/" Q_M01, "lifecycle-rolling-post-body-reboot.json");
    CHECK(r.status == 200 && strstr(r.body, "\"strategy\": \"reboot\""));
    j = etcd_json("/enjoliver/lifecycle/rolling/52:54:00:e8:32:5b");
    CHECK(strcmp(json_string_value(json_object_get(j, "strategy")), "reboot") == 0);
    CHECK(strcmp(json_string_value(json_object_get(j, "created")), created0) == 0);
    json_decref(j);

    post_fixture("DELETE", "/lifecycle/rolling/" Q_M01, NULL);
    answer_has(200, "lifecycle-rolling-response-delete.json");
    j = etcd_json("/enjoliver/lifecycle/rolling/52:54:00:e8:32:5b");
    CHECK(j && json_is_false(json_object_get(j, "enable")) &&
          json_is_null(json_object_get(j, "strategy")));
    json_decref(j);

    int64_t rev0 = t_current_revision(env.cli);
    const char *bad = "{\"strategy\": \"shutdown\"}";
    api_req(&env, "POST", "/lifecycle/rolling/" Q_M01, bad, strlen(bad), &r);
    unchanged("unknown strategy", 422, rev0);
    api_req(&env, "POST", "/lifecycle/rolling/uuid=x&mac=02-00-00-00-00-99", NULL, 0, &r);
    unchanged("rolling POST, unknown MAC", 401, rev0);
    CHECK(strstr(r.body, "\"enable\": null") && strstr(r.body, "\"strategy\": \"kexec\"") &&
          strstr(r.body, "\"request_raw_query\": \"uuid=x&mac=02-00-00-00-00-99\""));
    api_req(&env, "DELETE", "/lifecycle/rolling/uuid=x&mac=02-00-00-00-00-99", NULL, 0, &r);
    unchanged("rolling DELETE, unknown MAC", 404, rev0);
    api_req(&env, "POST", "/lifecycle/rolling/uuid=x&os=installed", NULL, 0, &r);
    unchanged("no mac=", 400, rev0);
    t_log("rolling POST/DELETE: ok");
}

static void test_install(void)
{
    post_fixture("POST", "/lifecycle/coreos-install/success/" Q_M01, NULL);
    answer_has(200, "lifecycle-coreos-install-response.json");
    json_t *j = etcd_json("/enjoliver/lifecycle/install/52:54:00:e8:32:5b");
    CHECK(j && json_is_true(json_object_get(j, "success")));
    json_decref(j);
    j = etcd_json("/enjoliver/states/52:54:00:e8:32:5b");
    CHECK(j && strcmp(json_string_value(json_object_get(j, "state")), "installation_succeed") == 0);
    json_decref(j);
    /* A re-report updates the result (the original never did: quirk 13). */
    post_fixture("POST", "/lifecycle/coreos-install/FAIL/" Q_M01, NULL);
    CHECK(r.status == 200 && strstr(r.body, "\"success\": false"));
    j = etcd_json("/enjoliver/lifecycle/install/52:54:00:e8:32:5b");
    CHECK(j && json_is_false(json_object_get(j, "success")));
    json_decref(j);
    int64_t rev0 = t_current_revision(env.cli);
    post_fixture("POST", "/lifecycle/coreos-install/maybe/" Q_M01, NULL);
    unchanged("install status maybe", 400, rev0);
    post_fixture("POST", "/lifecycle/coreos-install/success/mac=02-00-00-00-00-99", NULL);
    unchanged("install report, unknown MAC", 404, rev0);
    t_log("coreos-install reports: ok");
}

#define Q_M02 "uuid=a21a9123-302d-488d-976c-5d6ded84a32d&mac=52-54-00-a5-24-f5&os=installed"
#define Q_M03 "mac=52-54-00-5b-45-35"

static const char *state_of(const char *mac, char *buf, size_t n)
{
    char key[128];
    snprintf(key, sizeof key, "/enjoliver/states/%s", mac);
    json_t *j = etcd_json(key);
    snprintf(buf, n, "%s", j ? json_string_value(json_object_get(j, "state")) : "(none)");
    json_decref(j);
    return buf;
}

/* Runs with --install-lock-seconds 2. */
static void test_install_lock(void)
{
    char st[64];
    api_req(&env, "GET", "/install-authorization/" Q_M01, NULL, 0, &r);
    CHECKF(r.status == 200 && strcmp(r.body, "Granted") == 0, "%ld %s", r.status, r.body);
    CHECK(strcmp(state_of("52:54:00:e8:32:5b", st, sizeof st), "os_installation_granted") == 0);
    Mvccpb__KeyValue *lock = NULL;
    CHECK_OK(etcd_sync_get(env.cli, "/enjoliver/locks/install", 24, &lock));
    CHECK(lock->lease != 0);
    etcd_response_free(lock);
    /* Another machine is refused, with the holder named; the holder may ask again. */
    api_req(&env, "GET", "/install-authorization/" Q_M02, NULL, 0, &r);
    CHECKF(r.status == 403 && strcmp(r.body, "Locked by " Q_M01) == 0, "%ld %s", r.status, r.body);
    CHECK(strcmp(state_of("52:54:00:a5:24:f5", st, sizeof st), "os_installation_denied") == 0);
    api_req(&env, "GET", "/install-authorization/" Q_M01, NULL, 0, &r);
    CHECK(r.status == 200);
    /* The holder's install report releases the token at once. */
    post_fixture("POST", "/lifecycle/coreos-install/success/" Q_M01, NULL);
    CHECK(r.status == 200);
    CHECK(etcd_sync_get(env.cli, "/enjoliver/locks/install", 24, &lock) == -ENOENT);
    api_req(&env, "GET", "/install-authorization/" Q_M02, NULL, 0, &r);
    CHECKF(r.status == 200, "%ld %s", r.status, r.body);
    /* Without a report the token expires with its lease (2 s here). */
    api_req(&env, "GET", "/install-authorization/" Q_M03, NULL, 0, &r);
    CHECK(r.status == 403);
    uint64_t t0 = t_now_ms();
    int granted = 0;
    while (!granted && t_now_ms() - t0 < 6000) {
        t_sleep_ms(250);
        api_req(&env, "GET", "/install-authorization/" Q_M03, NULL, 0, &r);
        granted = r.status == 200;
    }
    CHECKF(granted, "the token did not expire: %ld %s", r.status, r.body);
    t_log("install token: atomic, released by the report, expired after %llu ms",
          (unsigned long long)(t_now_ms() - t0));
    int64_t rev0 = t_current_revision(env.cli);
    api_req(&env, "GET", "/install-authorization/uuid=1&os=installed", NULL, 0, &r);
    unchanged("install authorization without mac=", 400, rev0);
    api_req(&env, "GET", "/install-authorization/mac=02-00-00-00-00-99", NULL, 0, &r);
    unchanged("install authorization, unknown MAC", 404, rev0);
}

int main(int argc, char **argv)
{
    CHECK(argc == 2);
    const char *flags[] = {"--install-lock-seconds", "2", NULL};
    api_env_start(&env, argv[1], flags);
    for (int i = 1; i <= 4; i++)
        discover(i);
    test_scheduler();
    test_rolling();
    test_install();
    test_install_lock();
    api_resp_free(&r);
    api_env_stop(&env);
    t_log("test_machine_writes: all passed");
    return 0;
}

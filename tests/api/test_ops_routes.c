/*
 * The small routes and the admin token, through a real enjoliverd on a
 * real etcd: GET /, /configs (token redacted), /boot.ipxe, the sync flag
 * and its TTL, /ignition/version, and admin routes refused without the
 * bearer token while machine routes stay open.
 */
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#include "api_test.h"

#define TOKEN "s3cret-admin-token-0123456789"

static api_env_t env;
static api_resp_t r;

static void request(const char *method, const char *path, const char *body)
{
    api_req(&env, method, path, body, body ? strlen(body) : 0, &r);
}

static void test_routes_and_configs(void)
{
    request("GET", "/", NULL);
    CHECK(r.status == 200);
    json_t *list = json_loads(r.body, 0, NULL);
    CHECK(json_is_array(list) && json_array_size(list) > 20);
    const char *prev = "";
    size_t i;
    json_t *v;
    int has_discovery = 0, has_sched = 0;
    json_array_foreach(list, i, v)
    {
        CHECKF(strcmp(prev, json_string_value(v)) < 0, "GET / is not sorted: %s", r.body);
        prev = json_string_value(v);
        has_discovery |= strcmp(prev, "/discovery") == 0;
        has_sched |= strcmp(prev, "/scheduler/<path>") == 0;
    }
    CHECK(has_discovery && has_sched);
    json_decref(list);

    request("GET", "/configs", NULL);
    CHECK(r.status == 200 && strstr(r.body, "\"admin_token\": \"<redacted>\"") &&
          !strstr(r.body, TOKEN));
    CHECK(strstr(r.body, "\"api_uri\": \"http://172.20.0.1:5000\""));

    request("GET", "/boot.ipxe", NULL);
    CHECK(r.status == 200);
    CHECK(strcmp(r.body, "#!ipxe\n"
                         "echo start /boot.ipxe\n"
                         ":retry_dhcp\n"
                         "dhcp || goto retry_dhcp\n"
                         "chain http://172.20.0.1:5000/ipxe?uuid=${uuid}&mac=${net0/mac:hexhyp}"
                         "&domain=${domain}&hostname=${hostname}&serial=${serial}\n") == 0);
    t_log("GET /, /configs, /boot.ipxe: ok");
}

static void test_sync_notify(void)
{
    request("GET", "/sync-notify", NULL);
    CHECK(r.status == 503 && strstr(r.body, "\"sync-notify\": false"));
    request("POST", "/sync-notify", NULL);
    CHECKF(r.status == 200, "%ld %s", r.status, r.body);
    json_t *p = json_loads(r.body, 0, NULL);
    CHECK(json_is_real(json_object_get(p, "ts")) &&
          json_integer_value(json_object_get(p, "ttl")) == 2);
    request("GET", "/sync-notify", NULL);
    json_t *g = json_loads(r.body, 0, NULL);
    CHECK(r.status == 200 &&
          json_equal(json_object_get(g, "sync-notify"), json_object_get(p, "ts")));
    json_decref(p);
    json_decref(g);
    uint64_t t0 = t_now_ms();
    do {
        t_sleep_ms(200);
        request("GET", "/sync-notify", NULL);
    } while (r.status == 200 && t_now_ms() - t0 < 6000);
    CHECKF(r.status == 503, "the sync flag outlived its TTL: %ld", r.status);
    t_log("sync flag: set, read, expired after %llu ms", (unsigned long long)(t_now_ms() - t0));
}

static void test_ignition_version(void)
{
    request("GET", "/ignition/version", NULL);
    CHECK(r.status == 200 && strcmp(r.body, "null\n") == 0);
    size_t n;
    char *body = api_fixture("ignition-version-post-body.json", &n);
    api_req(&env, "POST", "/ignition/version/kubernetes-node", body, n, &r);
    CHECKF(r.status == 200 && strstr(r.body, "\"new\": true") && strstr(r.body, "\"total\": 1"),
           "%ld %s", r.status, r.body);
    api_req(&env, "POST", "/ignition/version/kubernetes-node", body, n, &r);
    CHECK(r.status == 200 && strstr(r.body, "\"new\": false") && strstr(r.body, "\"total\": 1"));
    request("GET", "/ignition/version", NULL);
    json_t *all = json_loads(r.body, 0, NULL), *want = json_loads(body, 0, NULL);
    CHECK(json_equal(all, want));
    json_decref(all);
    json_decref(want);
    free(body);
    int64_t rev0 = t_current_revision(env.cli);
    request("POST", "/ignition/version/discovery", "{\"other\": \"x\"}");
    CHECKF(r.status == 422 && t_current_revision(env.cli) == rev0, "%ld %s rev %lld/%lld", r.status,
           r.body, (long long)t_current_revision(env.cli), (long long)rev0);
    request("POST", "/ignition/version/discovery", "not json");
    CHECK(r.status == 406 && t_current_revision(env.cli) == rev0);
    t_log("ignition versions: ok");
}

static void test_admin(void)
{
    size_t n;
    char *m01 = api_fixture("discovery-m01.json", &n);
    api_req(&env, "POST", "/discovery", m01, n, &r); /* machines need no token */
    CHECK(r.status == 200);
    free(m01);
    const char *body = "{\"roles\": [\"kubernetes-node\"], \"selector\": {\"mac\": "
                       "\"52:54:00:e8:32:5b\"}}";
    int64_t rev0 = t_current_revision(env.cli);
    request("POST", "/scheduler", body);
    CHECKF(r.status == 401 && strstr(r.headers, "WWW-Authenticate: Bearer"), "%ld %s", r.status,
           r.body);
    request("DELETE", "/lifecycle/rolling/mac=52-54-00-e8-32-5b", NULL);
    CHECK(r.status == 401);
    CHECK(t_current_revision(env.cli) == rev0);

    /* With the token, through curl's own header option. */
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "curl -sf -o /dev/null -H 'Authorization: Bearer %s' -d '%s' %s/scheduler", TOKEN,
             body, env.base);
    CHECK(t_system("%s", cmd) == 0);
    snprintf(cmd, sizeof cmd,
             "test \"$(curl -s -o /dev/null -w '%%{http_code}' -H 'Authorization: Bearer wrong' "
             "-d '%s' %s/scheduler)\" = 401",
             body, env.base);
    CHECK(t_system("%s", cmd) == 0);
    CHECK(t_current_revision(env.cli) > rev0);
    t_log("admin token: refused without it, accepted with it");
}

int main(int argc, char **argv)
{
    CHECK(argc == 2);
    char path[] = "/tmp/enj-token-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, TOKEN "\n", sizeof TOKEN) == (ssize_t)sizeof TOKEN);
    close(fd);
    const char *flags[] = {"--admin-token-file", path, "--api-uri", "http://172.20.0.1:5000",
                           "--sync-notify-ttl",  "2",  NULL};
    api_env_start(&env, argv[1], flags);
    unlink(path);
    test_routes_and_configs();
    test_sync_notify();
    test_ignition_version();
    test_admin();
    api_resp_free(&r);
    api_env_stop(&env);
    t_log("test_ops_routes: all passed");
    return 0;
}

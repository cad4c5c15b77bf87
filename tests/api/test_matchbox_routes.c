/*
 * The routes through matchbox, with a stand-in matchbox (matchbox is not
 * in Debian; tests/api/matchbox_standin.c serves files the test writes):
 * /healthz with the original's matchbox probes, /ipxe (and the booting
 * state), /ignition behind the sync flag, /ignition-pxe, /metadata with the
 * raw query passed as sent, /assets streamed byte for byte, POST
 * /lifecycle/ignition (200 / 210 / 406), and matchbox down -> 502.
 */
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api_test.h"

#define Q_M01 "uuid=b7f5f93a-b029-475f-b3a4-479ba198cb8a&mac=52-54-00-e8-32-5b&os=installed"

static api_env_t env;
static api_resp_t r;
static char dir[] = "/tmp/enj-matchbox-XXXXXX";
static pid_t standin = -1;

static void request(const char *method, const char *path, const char *body)
{
    api_req(&env, method, path, body, body ? strlen(body) : 0, &r);
}

static void put_file(const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "w");
    CHECK(f && fputs(text, f) >= 0);
    fclose(f);
}

static void test_health(void)
{
    request("GET", "/healthz", NULL);
    CHECKF(r.status == 503 && strstr(r.body, "\"ipxe\": false"), "%ld %s", r.status, r.body);
    CHECK(strstr(r.body, "\"/boot.ipxe\": true"));
    put_file("ipxe", "#!ipxe\nkernel /assets/vmlinuz\nboot\n");
    put_file("ignition/default.json", "{\"ignition\": {\"version\": \"2.0.0\"}}");
    t_sleep_ms(1100); /* past the 1 s reuse of a probe result */
    request("GET", "/healthz", NULL);
    json_t *got = json_loads(r.body, 0, NULL);
    char *text = api_fixture("healthz-response-healthy.json", NULL);
    json_t *want = json_loads(text, 0, NULL);
    free(text);
    json_object_del(got, "etcd"); /* ours, beside the original's "db" */
    CHECKF(r.status == 200 && json_equal(got, want), "%ld %s", r.status, r.body);
    json_decref(got);
    json_decref(want);
    t_log("healthz with matchbox: 503 without a default group, then 200 as the fixture");
}

static void test_ipxe_and_ignition(void)
{
    request("GET", "/ipxe?" Q_M01, NULL);
    CHECK(r.status == 200 && strcmp(r.body, "#!ipxe\nkernel /assets/vmlinuz\nboot\n") == 0);
    Mvccpb__KeyValue *kv = NULL;
    for (int i = 0; i < 100; i++) { /* the state is written beside the answer */
        if (etcd_sync_get(env.cli, "/enjoliver/states/52:54:00:e8:32:5b", 35, &kv) == 0)
            break;
        t_sleep_ms(20);
    }
    CHECK(kv && strstr((char *)kv->value.data, "\"state\":\"booting\""));
    etcd_response_free(kv);
    char log[600];
    snprintf(log, sizeof log, "grep -qxF 'GET /ipxe?%s' %s/requests.log", Q_M01, dir);
    CHECK(t_system("%s", log) == 0);

    char path[600];
    snprintf(path, sizeof path, "%s/ipxe", dir);
    unlink(path);
    request("GET", "/ipxe?mac=52-54-00-e8-32-5b", NULL);
    CHECKF(r.status == 404, "matchbox's 404 is not passed on: %ld", r.status);

    request("GET", "/ignition?" Q_M01, NULL);
    CHECK(r.status == 503 && strstr(r.body, "matchbox is out of sync"));
    request("GET", "/ignition-pxe?" Q_M01, NULL);
    CHECK(r.status == 200 && strstr(r.body, "2.0.0"));
    request("POST", "/sync-notify", NULL);
    CHECK(r.status == 200);
    request("GET", "/ignition?" Q_M01, NULL);
    CHECKF(r.status == 200 && strstr(r.body, "2.0.0"), "%ld %s", r.status, r.body);

    request("GET", "/metadata?a=1&mac=52-54-00-e8-32-5b", NULL);
    CHECK(r.status == 200 && strcmp(r.body, "REQUEST_RAW_QUERY=a=1&mac=52-54-00-e8-32-5b\n") == 0);
    t_log("ipxe, ignition (behind the sync flag), ignition-pxe, metadata: ok");
}

static void test_assets(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/assets", dir);
    CHECK(mkdir(path, 0755) == 0);
    CHECK(t_system("head -c 6000000 /dev/urandom > %s/assets/image.bin", dir) == 0);
    request("GET", "/assets/image.bin", NULL);
    CHECK(r.status == 200 && r.len == 6000000);
    snprintf(path, sizeof path, "%s/assets/image.bin", dir);
    size_t n;
    char *want = api_fixture_path(path, &n);
    CHECK(n == r.len && memcmp(want, r.body, n) == 0);
    free(want);
    request("GET", "/assets/missing.bin", NULL);
    CHECK(r.status == 404);
    t_log("assets: 6 MB streamed byte for byte; 404 passed on");
}

static void test_lifecycle_ignition(void)
{
    size_t n;
    char *m01 = api_fixture("discovery-m01.json", &n);
    api_req(&env, "POST", "/discovery", m01, n, &r);
    CHECK(r.status == 200);
    free(m01);
    const char *v1 = "{\"ignition\": {\"version\": \"2.0.0\"}, \"storage\": {\"files\": []}}";
    const char *v1_reordered =
        "{\"storage\": {\"files\": []}, \"ignition\": {\"version\": \"2.0.0\"}}";
    put_file("ignition/52-54-00-e8-32-5b.json", v1);
    request("POST", "/lifecycle/ignition/" Q_M01, v1_reordered);
    CHECKF(r.status == 200 && strstr(r.body, "\"message\": \"Up-to-date\""), "%ld %s", r.status,
           r.body);
    put_file("ignition/52-54-00-e8-32-5b.json",
             "{\"ignition\": {\"version\": \"2.0.0\"}, \"storage\": {\"files\": [1]}}");
    request("POST", "/lifecycle/ignition/" Q_M01, v1);
    CHECKF(r.status == 210 && strstr(r.body, "\"message\": \"Outdated\""), "%ld %s", r.status,
           r.body);
    Mvccpb__KeyValue *kv = NULL;
    CHECK_OK(etcd_sync_get(env.cli, "/enjoliver/lifecycle/ignition/52:54:00:e8:32:5b", 47, &kv));
    json_t *rec = json_loadb((char *)kv->value.data, kv->value.len, 0, NULL);
    CHECK(json_is_false(json_object_get(rec, "up_to_date")) &&
          json_is_string(json_object_get(rec, "last_change")));
    json_decref(rec);
    etcd_response_free(kv);
    request("GET", "/lifecycle/ignition", NULL);
    json_t *list = json_loads(r.body, 0, NULL);
    json_t *e = json_array_get(list, 0);
    CHECK(json_array_size(list) == 1 && json_is_false(json_object_get(e, "up-to-date")) &&
          json_is_string(json_object_get(e, "last_change_date")));
    json_decref(list);

    int64_t rev0 = t_current_revision(env.cli);
    request("POST", "/lifecycle/ignition/" Q_M01, "not json");
    CHECK(r.status == 406 && strstr(r.body, "FlaskValueError"));
    request("POST", "/lifecycle/ignition/mac=02-00-00-00-00-99", v1);
    CHECK(r.status == 406 && strstr(r.body, "\"message\": \"Unknown\""));
    put_file("ignition/52-54-00-e8-32-5b.json", "not json either");
    request("POST", "/lifecycle/ignition/" Q_M01, v1);
    CHECK(r.status == 406 && strstr(r.body, "MatchboxValueError"));
    CHECK(t_current_revision(env.cli) == rev0);
    t_log("lifecycle ignition: 200 up to date (key order ignored), 210 outdated, 406s");
}

static void test_matchbox_down(void)
{
    api_standin_stop(standin);
    standin = -1;
    uint64_t t0 = t_now_ms();
    request("GET", "/ipxe?mac=52-54-00-e8-32-5b", NULL);
    CHECKF(r.status == 502 && strstr(r.body, "\"error\""), "%ld %s", r.status, r.body);
    CHECK(t_now_ms() - t0 < 3000);
    t_sleep_ms(1100);
    request("GET", "/healthz", NULL);
    CHECK(r.status == 503 && strstr(r.body, "\"/\": false"));
    t_log("matchbox down: 502 JSON in %llu ms, healthz 503", (unsigned long long)(t_now_ms() - t0));
}

int main(int argc, char **argv)
{
    CHECK(argc == 3);
    CHECK(mkdtemp(dir) != NULL);
    char sub[600];
    snprintf(sub, sizeof sub, "%s/ignition", dir);
    CHECK(mkdir(sub, 0755) == 0);
    unsigned port;
    standin = api_standin_start(argv[2], dir, &port);
    char uri[64];
    snprintf(uri, sizeof uri, "http://127.0.0.1:%u", port);
    const char *flags[] = {"--matchbox-uri", uri, NULL};
    api_env_start(&env, argv[1], flags);
    test_health();
    test_ipxe_and_ignition();
    test_assets();
    test_lifecycle_ignition();
    test_matchbox_down();
    api_resp_free(&r);
    api_env_stop(&env);
    t_system("rm -rf '%s'", dir);
    t_log("test_matchbox_routes: all passed");
    return 0;
}

/*
 * POST /discovery through a real enjoliverd on a real etcd: the 23 fixture
 * bodies answer exactly the original's bodies (new, then known); bad input
 * gets its 4xx with a JSON error and leaves etcd's revision unchanged;
 * etcd down gives 503 with Retry-After, and writes work again once etcd is
 * back.
 */
#include <jansson.h>
#include <stdlib.h>

#include "api_test.h"

static api_env_t env;
static api_resp_t r;

static void post(const char *body, size_t len)
{
    api_req(&env, "POST", "/discovery", body, len, &r);
}

/* The answer equals a fixture byte for byte (jsonify format). */
static void body_is_fixture(const char *name)
{
    size_t n;
    char *want = api_fixture(name, &n);
    CHECKF(r.len == n && memcmp(r.body, want, n) == 0, "answer %s differs from %s", r.body, name);
    free(want);
}

/* A 4xx with a JSON {"error": "...", "status": N} and nothing written. */
static void refused(const char *what, long status, const char *needle, int64_t rev0)
{
    CHECKF(r.status == status, "%s: status %ld, expected %ld: %s", what, r.status, status, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    CHECKF(json_is_object(j) && json_is_string(json_object_get(j, "error")) &&
               json_integer_value(json_object_get(j, "status")) == status,
           "%s: not a JSON error body: %s", what, r.body);
    if (needle)
        CHECKF(strstr(json_string_value(json_object_get(j, "error")), needle) != NULL,
               "%s: the error does not mention %s: %s", what, needle, r.body);
    json_decref(j);
    CHECKF(t_current_revision(env.cli) == rev0, "%s changed etcd", what);
    t_log("%s: %ld %s", what, status, r.body);
}

static void test_fixtures(void)
{
    char name[64];
    for (int i = 1; i <= 23; i++) {
        snprintf(name, sizeof name, "discovery-m%02d.json", i);
        size_t n;
        char *body = api_fixture(name, &n);
        post(body, n);
        CHECKF(r.status == 200, "%s: %ld %s", name, r.status, r.body);
        body_is_fixture("discovery-post-response-new.json");
        if (i == 1) {
            post(body, n);
            CHECK(r.status == 200);
            body_is_fixture("discovery-post-response-known.json");
        }
        free(body);
    }
    size_t n;
    char *body = api_fixture("discovery-synthetic-discoveryc.json", &n);
    post(body, n);
    CHECKF(r.status == 200, "synthetic: %ld %s", r.status, r.body);
    free(body);
    t_log("24 reports stored, answers equal to the original's");
}

static void test_bad_input(void)
{
    int64_t rev0 = t_current_revision(env.cli);
    post("{not json", 9);
    refused("not JSON", 406, "not JSON", rev0);
    CHECK(strstr(r.body, "\"boot-info\": {}") && strstr(r.body, "\"interfaces\": []"));
    post("{\"boot-info\": {}, \"disks\": [], \"lldp\": {}}", 42);
    refused("no interfaces", 406, "interfaces", rev0);

    size_t n;
    char *good = api_fixture("discovery-m02.json", &n);
    json_t *j = json_loads(good, 0, NULL);
    free(good);
    json_t *ifs = json_object_get(j, "interfaces");
    json_object_set_new(json_array_get(ifs, 1), "mac", json_string("52:54:00:zz:24:f5"));
    char *bad = json_dumps(j, 0);
    post(bad, strlen(bad));
    refused("bad MAC", 422, "interfaces[1].mac", rev0);
    free(bad);
    json_object_set_new(json_array_get(ifs, 1), "mac", json_string("52:54:00:a5:24:f5"));
    json_object_set_new(json_object_get(j, "boot-info"), "uuid", json_string("not-a-uuid"));
    bad = json_dumps(j, 0);
    post(bad, strlen(bad));
    refused("bad UUID", 422, "boot-info.uuid", rev0);
    free(bad);
    /* m02's interface under another machine's UUID: the MAC is taken. */
    json_object_set_new(json_object_get(j, "boot-info"), "uuid",
                        json_string("11111111-2222-4333-8444-555555555555"));
    bad = json_dumps(j, 0);
    post(bad, strlen(bad));
    refused("MAC of another machine", 409, "52:54:00:a5:24:f5", rev0);
    free(bad);
    json_decref(j);

    size_t big = (1u << 20) + 1;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    post(huge, big);
    refused("body over 1 MiB", 413, NULL, rev0);
    free(huge);
    api_req(&env, "PUT", "/discovery", "{}", 2, &r);
    refused("PUT", 405, NULL, rev0);
}

static void test_etcd_down(void)
{
    size_t n;
    char *body = api_fixture("discovery-m05.json", &n);
    CHECK_OK(etcd_server_stop(env.etcd));
    uint64_t t0 = t_now_ms();
    post(body, n);
    uint64_t ms = t_now_ms() - t0;
    CHECKF(r.status == 503, "etcd down: %ld %s", r.status, r.body);
    CHECK(strstr(r.headers, "Retry-After:") != NULL);
    CHECKF(ms < 12000, "etcd down: the answer took %llu ms", (unsigned long long)ms);
    t_log("etcd down: 503 in %llu ms: %s", (unsigned long long)ms, r.body);
    CHECK_OK(etcd_server_restart(env.etcd));
    int ok = 0;
    for (int i = 0; i < 50 && !ok; i++) {
        post(body, n);
        ok = r.status == 200;
        if (!ok)
            t_sleep_ms(200);
    }
    CHECKF(ok, "after etcd came back: %ld %s", r.status, r.body);
    free(body);
    t_log("etcd back: writes work again");
}

int main(int argc, char **argv)
{
    CHECK(argc == 2);
    api_env_start(&env, argv[1], NULL);
    test_fixtures();
    test_bad_input();
    test_etcd_down();
    api_resp_free(&r);
    api_env_stop(&env);
    t_log("test_discovery_route: all passed");
    return 0;
}

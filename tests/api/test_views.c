/*
 * The read routes through a real enjoliverd on a real etcd, after the
 * original's test scenario (M01-M05 discovered; M03, M02, M01 control
 * plane, M04 node): each answer has the fixture's shape and values (dates
 * aside, which are ours, in the same RFC 1123 form). Then read-your-writes
 * (a GET right after a POST sees it, 50 times over) and two replicas on one
 * etcd (a write through one is visible through the other).
 */
#include <jansson.h>
#include <regex.h>
#include <stdlib.h>

#include "api_test.h"

#define Q_M01 "uuid=b7f5f93a-b029-475f-b3a4-479ba198cb8a&mac=52-54-00-e8-32-5b&os=installed"

static api_env_t env;
static api_resp_t r;

static void request(const char *method, const char *path, const char *body)
{
    api_req(&env, method, path, body, body ? strlen(body) : 0, &r);
}

static json_t *get_json(const char *path, long status)
{
    request("GET", path, NULL);
    CHECKF(r.status == status, "GET %s: %ld, expected %ld: %s", path, r.status, status, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    CHECKF(j != NULL, "GET %s: not JSON: %s", path, r.body);
    return j;
}

static json_t *fixture(const char *name)
{
    char *text = api_fixture(name, NULL);
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    CHECK(j != NULL);
    return j;
}

static int is_rfc1123(json_t *v)
{
    regex_t re;
    CHECK(regcomp(&re,
                  "^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
                  "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
                  "[0-9]{2}:[0-9]{2}:[0-9]{2} GMT$",
                  REG_EXTENDED | REG_NOSUB) == 0);
    int ok = json_is_string(v) && regexec(&re, json_string_value(v), 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

static int is_date_key(const char *k)
{
    size_t n = strlen(k);
    return !strcmp(k, "date") ||
           (n > 5 && (!strcmp(k + n - 5, "_date") || !strcmp(k + n - 5, "-date"))) ||
           !strcmp(k, "LastReport") || !strcmp(k, "LastChange");
}

/* Same keys; same values except dates (which must be RFC 1123) and the
 * keys listed in `skip`. */
static void same_shape(json_t *got, json_t *want, const char *const *skip, const char *where)
{
    CHECKF(json_object_size(got) == json_object_size(want), "%s: %zu keys, expected %zu", where,
           json_object_size(got), json_object_size(want));
    const char *k;
    json_t *v;
    json_object_foreach(want, k, v)
    {
        json_t *g = json_object_get(got, k);
        CHECKF(g != NULL, "%s: no key %s", where, k);
        int skipped = 0;
        for (size_t i = 0; skip && skip[i]; i++)
            skipped |= strcmp(skip[i], k) == 0;
        if (skipped)
            continue;
        if (is_date_key(k)) {
            CHECKF(json_is_null(v) || is_rfc1123(g), "%s.%s: not an RFC 1123 date", where, k);
        } else {
            char *a = json_dumps(g, JSON_SORT_KEYS | JSON_ENCODE_ANY);
            char *b = json_dumps(v, JSON_SORT_KEYS | JSON_ENCODE_ANY);
            CHECKF(json_equal(g, v), "%s.%s: %s, expected %s", where, k, a, b);
            free(a);
            free(b);
        }
    }
}

static json_t *find_by(json_t *list, const char *key, const char *value)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        if (json_is_string(json_object_get(e, key)) &&
            strcmp(json_string_value(json_object_get(e, key)), value) == 0)
            return e;
    }
    return NULL;
}

static void setup(void)
{
    for (int i = 1; i <= 5; i++)
        api_discover_fixture(&env, i, &r);
    const char *cp = "{\"roles\": [\"etcd-member\", \"kubernetes-control-plane\"], "
                     "\"selector\": {\"mac\": \"%s\"}}";
    const char *macs[] = {"52:54:00:5b:45:35", "52:54:00:a5:24:f5", "52:54:00:e8:32:5b"};
    char body[256];
    for (int i = 0; i < 3; i++) {
        snprintf(body, sizeof body, cp, macs[i]);
        request("POST", "/scheduler", body);
        CHECK(r.status == 200);
    }
    size_t n;
    char *node = api_fixture("scheduler-post-body-node.json", &n);
    api_req(&env, "POST", "/scheduler", node, n, &r);
    CHECK(r.status == 200);
    free(node);
}

static void test_scheduler_views(void)
{
    json_t *got = get_json("/scheduler", 200), *want = fixture("scheduler-get-response.json");
    CHECKF(json_equal(got, want), "GET /scheduler: %s", r.body);
    json_decref(got);
    json_decref(want);

    got = get_json("/scheduler/etcd-member&kubernetes-control-plane", 200);
    want = fixture("scheduler-roles-response-multi.json");
    CHECK(json_array_size(got) == 3);
    same_shape(find_by(got, "mac", "52:54:00:5b:45:35"), json_array_get(want, 0), NULL,
               "roles multi");
    json_decref(got);
    json_decref(want);

    got = get_json("/scheduler/kubernetes-node", 200);
    want = fixture("scheduler-role-response-single.json");
    CHECK(json_array_size(got) == 1);
    same_shape(json_array_get(got, 0), json_array_get(want, 0), NULL, "role single");
    json_decref(got);
    json_decref(want);

    got = get_json("/scheduler/etcd-member", 200);
    CHECK(json_array_size(got) == 3);
    json_decref(got);
    got = get_json("/scheduler/kubernetes-master", 200);
    CHECK(json_array_size(got) == 0);
    json_decref(got);

    got = get_json("/scheduler/available", 200);
    want = fixture("scheduler-available-response.json");
    CHECK(json_array_size(got) == 1);
    same_shape(json_array_get(got, 0), json_array_get(want, 0), NULL, "available");
    json_decref(got);
    json_decref(want);

    got = get_json("/scheduler/ip-list/etcd-member", 200);
    want = fixture("scheduler-ip-list-response.json");
    CHECK(json_array_size(got) == 3);
    size_t i;
    json_t *ip;
    json_array_foreach(want, i, ip)
    {
        int found = 0;
        for (size_t k = 0; k < 3; k++)
            found |= json_equal(json_array_get(got, k), ip);
        CHECKF(found, "ip-list lacks %s", json_string_value(ip));
    }
    json_decref(got);
    json_decref(want);
    t_log("scheduler views: equal to the fixtures");
}

static void test_discovery_views(void)
{
    json_t *got = get_json("/discovery", 200);
    json_t *want = fixture("discovery-get-response.json");
    CHECK(json_array_size(got) == 5);
    json_t *m01 = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(got, i, e)
    {
        if (strcmp(json_string_value(json_object_get(json_object_get(e, "boot-info"), "mac")),
                   "52:54:00:e8:32:5b") == 0)
            m01 = e;
    }
    CHECK(m01 != NULL);
    json_t *w = json_array_get(want, 0);
    same_shape(json_object_get(m01, "boot-info"), json_object_get(w, "boot-info"), NULL,
               "boot-info");
    CHECK(json_equal(json_object_get(m01, "disks"), json_object_get(w, "disks")));
    /* fqdn: the original verified names by reverse DNS and found none;
     * we keep the reported one (README). */
    const char *skip[] = {"fqdn", NULL};
    same_shape(json_array_get(json_object_get(m01, "interfaces"), 0),
               json_array_get(json_object_get(w, "interfaces"), 0), skip, "interfaces[0]");
    json_decref(got);
    json_decref(want);

    got = get_json("/discovery/interfaces", 200);
    CHECK(json_array_size(got) == 5);
    json_t *it = find_by(got, "mac", "52:54:00:e8:32:5b");
    CHECK(it && strcmp(json_string_value(json_object_get(it, "machine")),
                       "b7f5f93a-b029-475f-b3a4-479ba198cb8a") == 0);
    CHECK(strcmp(json_string_value(json_object_get(it, "chassis_name")),
                 "rkt-fe037484-d9c1-4f73-be5e-2c6a7b622fb4") == 0);
    json_decref(got);

    got = get_json("/discovery/ignition-journal", 200);
    CHECK(json_array_size(got) >= 1);
    json_decref(got);
    got = get_json("/discovery/ignition-journal/b7f5f93a-b029-475f-b3a4-479ba198cb8a", 200);
    json_t *m01_body = fixture("discovery-m01.json");
    CHECK(json_equal(got, json_object_get(m01_body, "ignition-journal")));
    json_decref(got);
    json_decref(m01_body);
    request("GET", "/discovery/ignition-journal/not-a-uuid", NULL);
    CHECK(r.status == 400);
    t_log("discovery views: ok");
}

static void test_lifecycle_views(void)
{
    request("POST", "/lifecycle/rolling/" Q_M01, NULL);
    CHECK(r.status == 200);
    json_t *got = get_json("/lifecycle/rolling/" Q_M01, 200);
    json_t *want = fixture("lifecycle-rolling-response-enabled.json");
    CHECK(json_equal(got, want));
    json_decref(got);
    json_decref(want);

    got = get_json("/lifecycle/rolling", 200);
    want = fixture("lifecycle-rolling-get-response.json");
    CHECK(json_array_size(got) == 1);
    const char *skip_fqdn[] = {"fqdn", NULL}; /* m01's reported name (see above) */
    same_shape(json_array_get(got, 0), json_array_get(want, 0), skip_fqdn, "rolling list");
    json_decref(got);
    json_decref(want);

    request("DELETE", "/lifecycle/rolling/" Q_M01, NULL);
    got = get_json("/lifecycle/rolling/" Q_M01, 403);
    want = fixture("lifecycle-rolling-response-disabled-get.json");
    CHECK(json_equal(got, want));
    json_decref(got);
    got = get_json("/lifecycle/rolling/uuid=1&mac=52-54-00-a5-24-f5", 401);
    CHECK(json_is_false(json_object_get(got, "enable")) &&
          json_is_null(json_object_get(got, "strategy")));
    json_decref(got);
    json_decref(want);
    got = get_json("/lifecycle/rolling/uuid=1", 403);
    CHECK(json_is_null(json_object_get(got, "enable")));
    json_decref(got);

    request("POST", "/lifecycle/coreos-install/success/" Q_M01, NULL);
    request("POST", "/lifecycle/coreos-install/fail/mac=52-54-00-a5-24-f5", NULL);
    got = get_json("/lifecycle/coreos-install", 200);
    want = fixture("lifecycle-coreos-install-get-response.json");
    CHECK(json_array_size(got) == 2);
    same_shape(find_by(got, "mac", "52:54:00:e8:32:5b"), json_array_get(want, 0), skip_fqdn,
               "install list");
    same_shape(find_by(got, "mac", "52:54:00:a5:24:f5"), json_array_get(want, 1), NULL,
               "install list");
    json_decref(got);
    json_decref(want);
    t_log("lifecycle views: ok");
}

static void test_ui_views(void)
{
    json_t *got = get_json("/ui/view/machine", 200);
    CHECK(strstr(r.headers, "Access-Control-Allow-Origin: *") != NULL);
    CHECK(json_array_size(got) == 5);
    json_t *want = fixture("ui-view-machine-response.json");
    json_t *m03 = find_by(got, "MAC", "52:54:00:5b:45:35");
    /* No lifecycle report yet for m03: those are null here. */
    const char *skip[] = {"LastState", "LastReport", "UpToDate", "UpdateStrategy", NULL};
    CHECK(json_is_null(json_object_get(m03, "LastReport")) &&
          json_is_null(json_object_get(m03, "UpToDate")));
    same_shape(m03, json_array_get(want, 0), skip, "ui machine");
    CHECK(strcmp(json_string_value(json_object_get(m03, "LastState")), "discovery") == 0);
    CHECK(strcmp(json_string_value(json_object_get(m03, "UpdateStrategy")), "Disable") == 0);
    json_decref(got);
    json_decref(want);

    got = get_json("/ui/view/states?data_since_last_min=30", 200);
    CHECK(json_array_size(got) == 5);
    want = fixture("ui-view-states-response.json");
    same_shape(json_array_get(got, 0), json_array_get(want, 0),
               (const char *[]){"mac", "state", NULL}, "ui states");
    /* Newest first: m02's failed install report came last. */
    CHECK(strcmp(json_string_value(json_object_get(json_array_get(got, 0), "mac")),
                 "52:54:00:a5:24:f5") == 0);
    json_decref(got);
    json_decref(want);
    got = get_json("/ui/view/states?data_since_last_min=0", 200);
    CHECK(json_array_size(got) == 0);
    json_decref(got);
    request("GET", "/ui/view/states?data_since_last_min=soon", NULL);
    CHECK(r.status == 400);
    t_log("ui views: ok");
}

/* Keys of etcd that mention s. */
static int etcd_mentions(const char *s)
{
    Etcdserverpb__RangeRequest rq;
    etcdserverpb__range_request__init(&rq);
    uint8_t end[32];
    etcd_range_init_prefix(&rq, "/enjoliver/", 11, end);
    Etcdserverpb__RangeResponse *rr = NULL;
    CHECK_OK(etcd_sync_range(env.cli, &rq, &rr));
    int n = 0;
    for (size_t i = 0; i < rr->n_kvs; i++) {
        const Mvccpb__KeyValue *kv = rr->kvs[i];
        n += memmem(kv->key.data, kv->key.len, s, strlen(s)) != NULL ||
             memmem(kv->value.data, kv->value.len, s, strlen(s)) != NULL;
    }
    etcd_response_free(rr);
    return n;
}

static void test_forget(void)
{
    const char *uuid = "c766db82-99ae-467c-869a-fb0d372fcb04";
    CHECK(etcd_mentions("52:54:00:c1:b7:89") >= 3);
    char path[128];
    snprintf(path, sizeof path, "/discovery/%s", uuid);
    request("DELETE", path, NULL);
    CHECKF(r.status == 200 && strstr(r.body, "52:54:00:c1:b7:89"), "%ld %s", r.status, r.body);
    CHECK(etcd_mentions("52:54:00:c1:b7:89") == 0 && etcd_mentions(uuid) == 0);
    json_t *got = get_json("/discovery", 200);
    CHECK(json_array_size(got) == 4);
    json_decref(got);
    int64_t rev0 = t_current_revision(env.cli);
    request("DELETE", path, NULL);
    CHECK(r.status == 404 && t_current_revision(env.cli) == rev0);
    request("DELETE", "/discovery/not-a-uuid", NULL);
    CHECK(r.status == 400 && t_current_revision(env.cli) == rev0);
    t_log("forget a machine: every key about it gone in one transaction");
}

/* A distinct synthetic machine number i. */
static char *synthetic(int i)
{
    json_t *j = fixture("discovery-m06.json");
    char uuid[40], mac[20];
    snprintf(uuid, sizeof uuid, "00000000-0000-4000-8000-%012d", i);
    snprintf(mac, sizeof mac, "02:00:00:00:%02x:%02x", (i >> 8) & 0xff, i & 0xff);
    json_object_set_new(json_object_get(j, "boot-info"), "uuid", json_string(uuid));
    json_object_set_new(json_object_get(j, "boot-info"), "mac", json_string(mac));
    json_object_set_new(json_array_get(json_object_get(j, "interfaces"), 1), "mac",
                        json_string(mac));
    char *s = json_dumps(j, 0);
    json_decref(j);
    return s;
}

static void test_read_your_writes(void)
{
    for (int i = 1; i <= 50; i++) {
        char *body = synthetic(i);
        request("POST", "/discovery", body);
        CHECK(r.status == 200);
        free(body);
        json_t *got = get_json("/scheduler/available", 200);
        char mac[20];
        snprintf(mac, sizeof mac, "02:00:00:00:%02x:%02x", (i >> 8) & 0xff, i & 0xff);
        CHECKF(find_by(got, "mac", mac) != NULL, "GET right after POST #%d misses %s", i, mac);
        json_decref(got);
    }
    t_log("read-your-writes: 50 of 50");
}

/* Lists keep each item's text between requests: they still follow every
 * change (a new schedule, a new report), and their bytes are what jansson
 * writes for the whole list. */
static void test_kept_items(void)
{
    request("GET", "/discovery", NULL);
    char *first = strdup(r.body);
    json_t *parsed = json_loads(first, 0, NULL);
    char *whole = json_dumps(parsed, JSON_SORT_KEYS | JSON_INDENT(2));
    CHECK(whole && strlen(first) == strlen(whole) + 1 && strncmp(first, whole, strlen(whole)) == 0);
    request("GET", "/discovery", NULL);
    CHECK(strcmp(first, r.body) == 0); /* served from the kept texts */
    free(whole);
    free(first);
    json_decref(parsed);

    /* Scheduled: no longer available, though its text is kept. */
    json_t *got = get_json("/scheduler/available", 200);
    CHECK(find_by(got, "mac", "02:00:00:00:00:01") != NULL);
    json_decref(got);
    request("POST", "/scheduler",
            "{\"roles\": [\"kubernetes-node\"], \"selector\": {\"mac\": \"02:00:00:00:00:01\"}}");
    CHECKF(r.status == 200, "%ld %s", r.status, r.body);
    got = get_json("/scheduler/available", 200);
    CHECK(find_by(got, "mac", "02:00:00:00:00:01") == NULL);
    json_decref(got);

    /* A new report of machine 2 with another disk: its item changes. */
    char *two = synthetic(2);
    json_t *j = json_loads(two, 0, NULL);
    free(two);
    json_object_set_new(json_array_get(json_object_get(j, "disks"), 0), "size-bytes",
                        json_integer(3LL << 40));
    char *body = json_dumps(j, 0);
    json_decref(j);
    request("POST", "/discovery", body);
    CHECK(r.status == 200);
    free(body);
    got = get_json("/discovery", 200);
    size_t i;
    json_t *e;
    int seen = 0;
    json_array_foreach(got, i, e)
    {
        json_t *bi = json_object_get(e, "boot-info");
        if (strcmp(json_string_value(json_object_get(bi, "mac")), "02:00:00:00:00:02") != 0)
            continue;
        json_t *d0 = json_array_get(json_object_get(e, "disks"), 0);
        seen = json_integer_value(json_object_get(d0, "size-bytes")) == (3LL << 40);
    }
    CHECK(seen);
    json_decref(got);
    t_log("kept list items: same bytes as a whole dump; a schedule and a new report show at once");
}

static void test_two_replicas(const char *bin)
{
    api_env_t b;
    api_env_start_on(&b, bin, NULL, &env);
    char *body = synthetic(1000);
    request("POST", "/discovery", body);
    CHECK(r.status == 200);
    free(body);
    uint64_t t0 = t_now_ms();
    int seen = 0;
    api_resp_t rb = {0};
    while (!seen && t_now_ms() - t0 < 5000) {
        api_req(&b, "GET", "/scheduler/available", NULL, 0, &rb);
        seen = rb.status == 200 && strstr(rb.body, "02:00:00:00:03:e8") != NULL;
        if (!seen)
            t_sleep_ms(5);
    }
    CHECKF(seen, "a write through replica A is not visible through B after 5 s");
    /* With the revision A answered, B waits for it instead of answering
     * stale: an immediate read through B sees A's write. */
    body = synthetic(1001);
    request("POST", "/discovery", body);
    free(body);
    const char *h = strstr(r.headers, "X-Etcd-Revision: ");
    CHECK(h != NULL);
    long long rev = atoll(h + 17);
    char cmd[512];
    snprintf(
        cmd, sizeof cmd,
        "curl -sf -H 'X-Etcd-Revision: %lld' %s/scheduler/available | grep -q 02:00:00:00:03:e9",
        rev, b.base);
    CHECK(t_system("%s", cmd) == 0);
    t_log("two replicas: write via A visible via B after %llu ms",
          (unsigned long long)(t_now_ms() - t0));
    api_resp_free(&rb);
    api_env_stop(&b);
}

int main(int argc, char **argv)
{
    CHECK(argc == 2);
    api_env_start(&env, argv[1], NULL);
    setup();
    test_scheduler_views();
    test_discovery_views();
    test_lifecycle_views();
    test_ui_views();
    test_forget();
    test_read_your_writes();
    test_kept_items();
    test_two_replicas(argv[1]);
    api_resp_free(&r);
    api_env_stop(&env);
    t_log("test_views: all passed");
    return 0;
}

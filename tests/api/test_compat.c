/*
 * Compatibility: the original's scenario replayed through a real enjoliverd
 * (real etcd, stand-in matchbox), every API fixture of ../shared/spec/
 * fixtures used as a request body or compared, as a shape, with the answer:
 * same status, every key of the fixture present with the same JSON type
 * (recursively; lists by their first element; null on either side stands
 * for a value not known, as the original printed it). Keys the
 * README lists as fixed quirks are named in `relaxed`. At the end, every
 * fixture but the matchbox files (the sync's, not the API's) must have
 * been used.
 */
#include <dirent.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api_test.h"

#define Q_M01 "uuid=b7f5f93a-b029-475f-b3a4-479ba198cb8a&mac=52-54-00-e8-32-5b&os=installed"
#define Q_M04 "uuid=c105a609-1139-4c7d-8b20-2e59f3caa88e&mac=52-54-00-ea-6f-41&os=installed"

static api_env_t env;
static api_resp_t r;
static char dir[] = "/tmp/enj-compat-XXXXXX";
static pid_t standin = -1;
static json_t *used; /* fixture names used */

static char *fixture_text(const char *name, size_t *n)
{
    json_object_set_new(used, name, json_true());
    return api_fixture(name, n);
}

static json_t *fixture_json(const char *name)
{
    char *t = fixture_text(name, NULL);
    json_t *j = json_loads(t, 0, NULL);
    free(t);
    CHECKF(j != NULL, "%s is not JSON", name);
    return j;
}

static int relaxed_key(const char *key, const char *const *relaxed)
{
    for (size_t i = 0; relaxed && relaxed[i]; i++)
        if (strcmp(relaxed[i], key) == 0)
            return 1;
    return 0;
}

static void same_shape(json_t *got, json_t *want, const char *where, const char *const *relaxed)
{
    /* null stands for "not known" on both sides (a machine without a
     * report has no report date). */
    if (json_is_null(want) || json_is_null(got))
        return;
    int ok = json_typeof(got) == json_typeof(want) ||
             (json_is_number(got) && json_is_number(want)) ||
             (json_is_boolean(got) && json_is_boolean(want));
    CHECKF(ok, "%s: type %d in the answer, %d in the fixture", where,
           got ? (int)json_typeof(got) : -1, (int)json_typeof(want));
    char sub[512];
    if (json_is_object(want)) {
        const char *k;
        json_t *v;
        json_object_foreach(want, k, v)
        {
            if (relaxed_key(k, relaxed))
                continue;
            snprintf(sub, sizeof sub, "%s.%s", where, k);
            CHECKF(json_object_get(got, k) != NULL, "%s: missing", sub);
            same_shape(json_object_get(got, k), v, sub, relaxed);
        }
    } else if (json_is_array(want) && json_array_size(want) && json_array_size(got)) {
        snprintf(sub, sizeof sub, "%s[0]", where);
        same_shape(json_array_get(got, 0), json_array_get(want, 0), sub, relaxed);
    }
}

/* method path [body fixture | NULL] -> status, compared with fixture (may be NULL). */
static void step(const char *method, const char *path, const char *body_fixture, long status,
                 const char *answer_fixture, const char *const *relaxed)
{
    size_t n = 0;
    char *body = body_fixture ? fixture_text(body_fixture, &n) : NULL;
    api_req(&env, method, path, body, n, &r);
    free(body);
    CHECKF(r.status == status, "%s %s: %ld, expected %ld: %s", method, path, r.status, status,
           r.body);
    if (!answer_fixture)
        return;
    json_t *got = json_loads(r.body, JSON_DECODE_ANY, NULL);
    json_t *want = fixture_json(answer_fixture);
    char where[300];
    snprintf(where, sizeof where, "%s %s vs %s", method, path, answer_fixture);
    same_shape(got, want, where, relaxed);
    json_decref(got);
    json_decref(want);
}

static void put_file(const char *rel, const char *fixture)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    size_t n;
    char *t = fixture ? fixture_text(fixture, &n) : strdup("{}");
    FILE *f = fopen(path, "w");
    CHECK(f && fputs(t, f) >= 0);
    fclose(f);
    free(t);
}

static void scenario(void)
{
    char name[64];
    for (int i = 1; i <= 23; i++) {
        snprintf(name, sizeof name, "discovery-m%02d.json", i);
        step("POST", "/discovery", name, 200, "discovery-post-response-new.json", NULL);
    }
    step("POST", "/discovery", "discovery-synthetic-discoveryc.json", 200,
         "discovery-post-response-new.json", NULL);
    step("POST", "/discovery", "discovery-m01.json", 200, "discovery-post-response-known.json",
         NULL);
    api_req(&env, "POST", "/discovery", "{", 1, &r);
    CHECK(r.status == 406);
    json_t *got = json_loads(r.body, 0, NULL),
           *want = fixture_json("discovery-post-response-406.json");
    same_shape(got, want, "discovery 406", NULL);
    json_decref(got);
    json_decref(want);
    step("GET", "/discovery", NULL, 200, "discovery-get-response.json", NULL);

    step("POST", "/scheduler", "scheduler-post-body-control-plane.json", 200,
         "scheduler-post-body-control-plane.json", NULL);
    const char *cps[] = {"52:54:00:a5:24:f5", "52:54:00:e8:32:5b"};
    for (int i = 0; i < 2; i++) {
        char body[200];
        snprintf(body, sizeof body,
                 "{\"roles\": [\"etcd-member\", \"kubernetes-control-plane\"], \"selector\": "
                 "{\"mac\": \"%s\"}}",
                 cps[i]);
        api_req(&env, "POST", "/scheduler", body, strlen(body), &r);
        CHECK(r.status == 200);
    }
    step("POST", "/scheduler", "scheduler-post-body-node.json", 200,
         "scheduler-post-body-node.json", NULL);
    api_req(&env, "POST", "/scheduler", "x", 1, &r);
    CHECK(r.status == 406);
    got = json_loads(r.body, 0, NULL);
    want = fixture_json("scheduler-post-response-406.json");
    same_shape(got, want, "scheduler 406", NULL);
    json_decref(got);
    json_decref(want);
    step("GET", "/scheduler", NULL, 200, "scheduler-get-response.json", NULL);
    step("GET", "/scheduler/etcd-member&kubernetes-control-plane", NULL, 200,
         "scheduler-roles-response-multi.json", NULL);
    step("GET", "/scheduler/kubernetes-node", NULL, 200, "scheduler-role-response-single.json",
         NULL);
    step("GET", "/scheduler/available", NULL, 200, "scheduler-available-response.json", NULL);
    step("GET", "/scheduler/ip-list/etcd-member", NULL, 200, "scheduler-ip-list-response.json",
         NULL);

    step("GET", "/sync-notify", NULL, 503, "sync-notify-get-response-503.json", NULL);
    step("POST", "/sync-notify", NULL, 200, "sync-notify-post-response.json", NULL);
    step("GET", "/sync-notify", NULL, 200, "sync-notify-get-response.json", NULL);
    step("POST", "/ignition/version/kubernetes-node", "ignition-version-post-body.json", 200,
         "ignition-version-post-response.json", NULL);

    step("POST", "/lifecycle/rolling/" Q_M01, "lifecycle-rolling-post-body-poweroff.json", 200,
         "lifecycle-rolling-response-enabled.json", NULL);
    step("POST", "/lifecycle/rolling/" Q_M01, "lifecycle-rolling-post-body-reboot.json", 200,
         "lifecycle-rolling-response-enabled.json", NULL);
    step("POST", "/lifecycle/rolling/" Q_M01, "lifecycle-rolling-post-body-kexec.json", 200,
         "lifecycle-rolling-response-enabled.json", NULL);
    step("GET", "/lifecycle/rolling/" Q_M01, NULL, 200, "lifecycle-rolling-response-enabled.json",
         NULL);
    step("GET", "/lifecycle/rolling", NULL, 200, "lifecycle-rolling-get-response.json", NULL);
    step("DELETE", "/lifecycle/rolling/" Q_M01, NULL, 200, "lifecycle-rolling-response-delete.json",
         NULL);
    step("GET", "/lifecycle/rolling/" Q_M01, NULL, 403,
         "lifecycle-rolling-response-disabled-get.json", NULL);
    step("GET", "/lifecycle/rolling/" Q_M04, NULL, 401,
         "lifecycle-rolling-response-disabled-get.json", NULL);
    step("POST", "/lifecycle/rolling/mac=02-00-00-00-00-99", NULL, 401,
         "lifecycle-rolling-response-unknown-post.json", NULL);

    step("POST", "/lifecycle/coreos-install/success/" Q_M01, NULL, 200,
         "lifecycle-coreos-install-response.json", NULL);
    step("POST", "/lifecycle/coreos-install/fail/mac=52-54-00-a5-24-f5", NULL, 200,
         "lifecycle-coreos-install-response.json", NULL);
    step("GET", "/lifecycle/coreos-install", NULL, 200,
         "lifecycle-coreos-install-get-response.json", NULL);

    /* The node runs the fixture's Ignition; matchbox renders it, then not. */
    put_file("ignition/52-54-00-ea-6f-41.json", "lifecycle-ignition-post-body.json");
    step("POST", "/lifecycle/ignition/" Q_M04, "lifecycle-ignition-post-body.json", 200,
         "lifecycle-ignition-response-up-to-date.json", NULL);
    put_file("ignition/52-54-00-ea-6f-41.json", NULL);
    step("POST", "/lifecycle/ignition/" Q_M04, "lifecycle-ignition-post-body.json", 210,
         "lifecycle-ignition-response-outdated.json", NULL);
    step("POST", "/lifecycle/ignition/mac=02-00-00-00-00-99", "lifecycle-ignition-post-body.json",
         406, "lifecycle-ignition-response-unknown.json", NULL);
    step("GET", "/lifecycle/ignition", NULL, 200, "lifecycle-ignition-get-response.json", NULL);

    step("GET", "/healthz", NULL, 200, "healthz-response-healthy.json", NULL);
    step("GET", "/ui/view/machine", NULL, 200, "ui-view-machine-response.json", NULL);
    step("GET", "/ui/view/states", NULL, 200, "ui-view-states-response.json", NULL);
    /* Fixed: the original's export gave cidrv4 without its prefix, fqdn [null]. */
    const char *export_fixed[] = {"fqdn", NULL};
    step("GET", "/backup/export", NULL, 200, "backup-export-response.json", export_fixed);
    step("POST", "/backup/db", NULL, 200, "backup-db-response.json", NULL);

    api_standin_stop(standin);
    standin = -1;
    t_sleep_ms(1100); /* past the reuse of the last probe */
    step("GET", "/healthz", NULL, 503, "healthz-response-matchbox-down.json", NULL);
}

static void every_fixture_used(void)
{
    DIR *d = opendir(ENJ_FIXTURES_DIR);
    CHECK(d != NULL);
    struct dirent *e;
    size_t n = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".json") != 0 ||
            strncmp(e->d_name, "matchbox-", 9) == 0)
            continue;
        CHECKF(json_object_get(used, e->d_name) != NULL, "fixture %s was not replayed", e->d_name);
        n++;
    }
    closedir(d);
    t_log("%zu API fixtures replayed, every answer in the original's shape", n);
}

int main(int argc, char **argv)
{
    CHECK(argc == 3);
    used = json_object();
    CHECK(mkdtemp(dir) != NULL);
    char sub[600];
    snprintf(sub, sizeof sub, "%s/ignition", dir);
    CHECK(mkdir(sub, 0755) == 0);
    put_file("ipxe", "discovery-post-response-new.json"); /* any 200 body will do */
    put_file("ignition/default.json", "lifecycle-ignition-post-body.json");
    unsigned port;
    standin = api_standin_start(argv[2], dir, &port);
    char uri[64], backups[600];
    snprintf(uri, sizeof uri, "http://127.0.0.1:%u", port);
    snprintf(backups, sizeof backups, "%s/backups", dir);
    const char *flags[] = {"--matchbox-uri", uri, "--backup-dir", backups, NULL};
    api_env_start(&env, argv[1], flags);
    scenario();
    every_fixture_used();
    json_decref(used);
    api_resp_free(&r);
    api_env_stop(&env);
    t_system("rm -rf '%s'", dir);
    t_log("test_compat: all passed");
    return 0;
}

/*
 * The lifecycle reconciler through a real enjoliverd (leading alone), a
 * real etcd and the stand-in matchbox: after a node reported the Ignition
 * it runs, a change of what matchbox serves (announced by the sync flag)
 * makes the leader mark the node outdated by itself, without a new report
 * from the node, and up to date again when matchbox serves the node's
 * Ignition again; each flip is an event.
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
#define DOC_A "{\"ignition\": {\"version\": \"2.0.0\"}, \"storage\": {\"files\": []}}"
#define DOC_B "{\"ignition\": {\"version\": \"2.0.0\"}, \"storage\": {\"files\": [1]}}"

static char dir[] = "/tmp/enj-lifecycle-XXXXXX";
static api_env_t env;
static api_resp_t r;

static void serve(const char *doc)
{
    char path[600];
    snprintf(path, sizeof path, "%s/mb/ignition/52-54-00-e8-32-5b.json", dir);
    FILE *f = fopen(path, "w");
    CHECK(f && fputs(doc, f) >= 0);
    fclose(f);
}

/* Waits until GET /lifecycle/ignition shows up-to-date == want. */
static void wait_up_to_date(int want, unsigned ms)
{
    uint64_t t0 = t_now_ms();
    int got = -1;
    while (t_now_ms() - t0 < ms) {
        api_req(&env, "GET", "/lifecycle/ignition", NULL, 0, &r);
        json_t *l = json_loads(r.body, 0, NULL);
        json_t *u = json_object_get(json_array_get(l, 0), "up-to-date");
        got = json_is_boolean(u) ? json_is_true(u) : -1;
        json_decref(l);
        if (got == want)
            return;
        t_sleep_ms(20);
    }
    CHECKF(0, "up-to-date is %d, not %d, after %u ms", got, want, ms);
}

int main(int argc, char **argv)
{
    CHECK(argc == 3);
    CHECK(mkdtemp(dir) != NULL);
    CHECK(t_system("mkdir -p '%s/mb/ignition' '%s/sync'", dir, dir) == 0);
    char mb[600];
    unsigned port;
    snprintf(mb, sizeof mb, "%s/mb", dir);
    pid_t standin = api_standin_start(argv[2], mb, &port);
    char uri[64], sync[600];
    snprintf(uri, sizeof uri, "http://127.0.0.1:%u", port);
    snprintf(sync, sizeof sync, "%s/sync", dir);
    const char *flags[] = {
        "--reconcile", "true", "--matchbox-uri", uri, "--matchbox-path", sync, "--lease-ttl",
        "2",           NULL};
    api_env_start(&env, argv[1], flags);

    size_t n;
    char *m01 = api_fixture("discovery-m01.json", &n);
    api_req(&env, "POST", "/discovery", m01, n, &r);
    CHECK(r.status == 200);
    free(m01);
    serve(DOC_A);
    api_req(&env, "POST", "/lifecycle/ignition/" Q_M01, DOC_A, strlen(DOC_A), &r);
    CHECKF(r.status == 200, "%ld %s", r.status, r.body);

    /* matchbox changes what it serves; the sync flag says so. */
    serve(DOC_B);
    uint64_t t0 = t_now_ms();
    api_req(&env, "POST", "/sync-notify", NULL, 0, &r);
    CHECK(r.status == 200);
    wait_up_to_date(0, 5000);
    t_log("outdated by the leader %llu ms after matchbox changed, with no report from the node",
          (unsigned long long)(t_now_ms() - t0));
    CHECK(api_wait_body(&env, "/events?machine=52:54:00:e8:32:5b", "\"machine-outdated\"", 2000));

    serve(DOC_A);
    api_req(&env, "POST", "/sync-notify", NULL, 0, &r);
    wait_up_to_date(1, 5000);
    CHECK(api_wait_body(&env, "/events?machine=52:54:00:e8:32:5b", "\"machine-up-to-date\"", 2000));
    t_log("up to date again once matchbox serves the node's Ignition");

    api_resp_free(&r);
    api_env_stop(&env);
    api_standin_stop(standin);
    t_system("rm -rf '%s'", dir);
    t_log("test_lifecycle: all passed");
    return 0;
}

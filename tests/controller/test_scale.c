/*
 * Many machines at once on a real etcd: 200 machines are discovered
 * through an API-only replica, then a leader starts and finds them all
 * waiting: they all get roles (in batches: one Txn stays within etcd's
 * operation limit) and their matchbox groups, without the work queue
 * stalling. (A single plan of every waiting machine once froze the
 * scheduler: too many keys for one Txn.)
 */
#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>

#include "api_test.h"

#define N 200

static api_env_t env;
static char dir[] = "/tmp/enj-scale-XXXXXX";

static int count_groups(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/groups", dir);
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strncmp(e->d_name, "kubernetes_nodes-", 17) == 0 ||
             strncmp(e->d_name, "etcd_member_kubernetes_control_plane-", 37) == 0;
    if (d)
        closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    CHECK(argc == 2);
    CHECK(mkdtemp(dir) != NULL);
    api_env_start(&env, argv[1], NULL); /* API only: nobody schedules yet */
    api_resp_t r = {0};
    uint64_t t0 = t_now_ms();
    for (int i = 0; i < N; i++) {
        char uuid[40], mac[20], ip[20];
        snprintf(uuid, sizeof uuid, "00000000-0000-4000-8000-%012d", i);
        snprintf(mac, sizeof mac, "02:00:00:00:%02x:%02x", i / 256, i % 256);
        /* Hosts packed at the start of a /16: the rest of it holds the
         * pods' CNI blocks (model/matchbox_gen.h). */
        snprintf(ip, sizeof ip, "10.1.%d.%d", (i + 10) / 250, (i + 10) % 250 + 1);
        char *body = api_discovery_body(uuid, mac, ip, 16, "10.1.0.1");
        api_req(&env, "POST", "/discovery", body, strlen(body), &r);
        CHECKF(r.status == 200, "machine %d: %ld %s", i, r.status, r.body);
        free(body);
    }
    t_log("%d machines discovered in %llu ms", N, (unsigned long long)(t_now_ms() - t0));
    api_req(&env, "GET", "/scheduler/available", NULL, 0, &r);
    CHECK(strstr(r.body, "02:00:00:00:00:c7") != NULL); /* all still waiting */
    api_env_t leader;
    const char *flags[] = {"--reconcile", "true", "--matchbox-path", dir, NULL};
    api_env_start_on(&leader, argv[1], flags, &env);
    t0 = t_now_ms();
    int groups = 0;
    while ((groups = count_groups()) < N && t_now_ms() - t0 < 30000)
        t_sleep_ms(50);
    CHECKF(groups == N, "%d of %d groups after 30 s", groups, N);
    api_req(&env, "GET", "/scheduler/available", NULL, 0, &r);
    CHECK(strcmp(r.body, "[]\n") == 0);
    api_req(&leader, "GET", "/metrics", NULL, 0, &r);
    CHECK(strstr(r.body, "enjoliver_workqueue_depth 0") != NULL);
    t_log("a new leader scheduled and synced all %d in %llu ms", N,
          (unsigned long long)(t_now_ms() - t0));
    api_env_stop(&leader);
    api_resp_free(&r);
    api_env_stop(&env);
    t_system("rm -rf '%s'", dir);
    return 0;
}

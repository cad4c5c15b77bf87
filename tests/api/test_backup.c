/*
 * Backups through a real enjoliverd on a real etcd: POST /backup/db writes
 * a snapshot etcdctl can read, is refused without the admin token and
 * while another backup holds the lock; GET /backup/export replayed into a
 * second, empty enjoliverd + etcd gives the same machines and schedules.
 */
#include <jansson.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_test.h"

#define TOKEN "backup-admin-token-0123456789"

static api_env_t env;
static api_resp_t r;
static char token_path[] = "/tmp/enj-token-XXXXXX";

static void admin(api_env_t *e, const char *method, const char *path, const char *body)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "curl -s -o %s/answer -w '%%{http_code}' -X %s -H 'Authorization: Bearer %s' "
             "%s%s%s%s%s > %s/code",
             etcd_server_tmp_dir(e->etcd), method, TOKEN, body ? "--data-binary '" : "",
             body ? body : "", body ? "' " : "", e->base, path, etcd_server_tmp_dir(e->etcd));
    CHECK(t_system("%s", cmd) == 0);
    char p[600];
    snprintf(p, sizeof p, "%s/code", etcd_server_tmp_dir(e->etcd));
    FILE *f = fopen(p, "r");
    CHECK(f && fscanf(f, "%ld", &r.status) == 1);
    fclose(f);
    snprintf(p, sizeof p, "%s/answer", etcd_server_tmp_dir(e->etcd));
    free(r.body);
    r.body = api_fixture_path(p, &r.len);
}

static void populate(void)
{
    for (int i = 1; i <= 5; i++)
        api_discover_fixture(&env, i, &r);
    const char *cp = "{\"roles\": [\"etcd-member\", \"kubernetes-control-plane\"], "
                     "\"selector\": {\"mac\": \"%s\"}}";
    const char *macs[] = {"52:54:00:5b:45:35", "52:54:00:a5:24:f5", "52:54:00:e8:32:5b"};
    char body[256];
    for (int i = 0; i < 3; i++) {
        snprintf(body, sizeof body, cp, macs[i]);
        admin(&env, "POST", "/scheduler", body);
        CHECK(r.status == 200);
    }
    admin(&env, "POST", "/scheduler",
          "{\"roles\": [\"kubernetes-node\"], \"selector\": {\"mac\": \"52:54:00:ea:6f:41\"}}");
    CHECK(r.status == 200);
}

static void test_backup_db(const char *dir)
{
    api_req(&env, "POST", "/backup/db", NULL, 0, &r);
    CHECK(r.status == 401);
    admin(&env, "POST", "/backup/db", NULL);
    CHECKF(r.status == 200, "%ld %s", r.status, r.body);
    json_t *a = json_loads(r.body, 0, NULL);
    const char *path = json_string_value(json_object_get(a, "path"));
    CHECK(path && strncmp(path, dir, strlen(dir)) == 0);
    struct stat st;
    CHECK(stat(path, &st) == 0);
    CHECK(json_integer_value(json_object_get(a, "size")) == st.st_size && st.st_size > 0);
    CHECK(json_integer_value(json_object_get(a, "revision")) > 0);
    CHECK(json_is_false(json_object_get(a, "already_locked")));
    CHECK(t_system("ETCDCTL_API=3 etcdctl snapshot status '%s' >/dev/null 2>&1", path) == 0);
    t_log("backup: %s, %lld bytes at revision %lld", path, (long long)st.st_size,
          (long long)json_integer_value(json_object_get(a, "revision")));
    json_decref(a);

    /* Another backup holds the lock. */
    CHECK_OK(etcd_sync_put(env.cli, "/enjoliver/locks/backup", 23, "{}", 2, 0, NULL));
    admin(&env, "POST", "/backup/db", NULL);
    CHECKF(r.status == 409 && strstr(r.body, "\"already_locked\": true"), "%ld %s", r.status,
           r.body);
    CHECK_OK(etcd_sync_delete(env.cli, "/enjoliver/locks/backup", 23, 0, NULL));
    admin(&env, "POST", "/backup/db", NULL);
    CHECK(r.status == 200);
    Mvccpb__KeyValue *kv = NULL;
    CHECK(etcd_sync_get(env.cli, "/enjoliver/locks/backup", 23, &kv) == -ENOENT);
    t_log("backup lock: 409 while held, released after each backup");
}

static void test_export_replay(const char *bin)
{
    json_t *sched_before = NULL;
    api_req(&env, "GET", "/scheduler", NULL, 0, &r);
    sched_before = json_loads(r.body, 0, NULL);
    api_req(&env, "GET", "/backup/export", NULL, 0, &r);
    CHECK(r.status == 200);
    json_t *list = json_loads(r.body, 0, NULL);
    CHECKF(json_array_size(list) == 9, "%zu entries", json_array_size(list));
    /* Control plane first. */
    json_t *first = json_object_get(json_array_get(list, 1), "data");
    CHECK(json_array_size(json_object_get(first, "roles")) == 2);

    api_env_t fresh;
    const char *flags[] = {"--admin-token-file", token_path, NULL};
    api_env_start(&fresh, bin, flags);
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        char *body = json_dumps(json_object_get(e, "data"), 0);
        const char *route = json_string_value(json_object_get(e, "route"));
        admin(&fresh, "POST", route, body);
        CHECKF(r.status == 200, "replay of %s: %ld %s", route, r.status, r.body);
        free(body);
    }
    api_req(&fresh, "GET", "/scheduler", NULL, 0, &r);
    json_t *sched_after = json_loads(r.body, 0, NULL);
    CHECK(json_equal(sched_before, sched_after));
    api_req(&fresh, "GET", "/discovery", NULL, 0, &r);
    json_t *disc = json_loads(r.body, 0, NULL);
    CHECK(json_array_size(disc) == 5);
    json_decref(disc);
    json_decref(sched_after);
    json_decref(sched_before);
    json_decref(list);
    api_env_stop(&fresh);
    t_log("export replayed into an empty enjoliverd: same machines and schedules");
}

int main(int argc, char **argv)
{
    CHECK(argc == 2);
    int fd = mkstemp(token_path);
    CHECK(fd >= 0 && write(fd, TOKEN "\n", sizeof TOKEN) == (ssize_t)sizeof TOKEN);
    close(fd);
    char dir[] = "/tmp/enj-backups-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char sub[64];
    snprintf(sub, sizeof sub, "%s/b", dir); /* created by enjoliverd */
    const char *flags[] = {"--admin-token-file", token_path, "--backup-dir", sub, NULL};
    api_env_start(&env, argv[1], flags);
    populate();
    test_backup_db(sub);
    test_export_replay(argv[1]);
    api_resp_free(&r);
    api_env_stop(&env);
    t_system("rm -rf '%s'", dir);
    unlink(token_path);
    t_log("test_backup: all passed");
    return 0;
}

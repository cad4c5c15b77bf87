/*
 * Maintenance against a real etcd: Status, and Snapshot to a file (complete,
 * renamed into place, restorable by etcdctl; overwrite; failures leave
 * nothing behind).
 */
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "etcd_test.h"

static etcd_sync_t *cli;

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static off_t file_size(const char *p)
{
    struct stat st;
    CHECK(stat(p, &st) == 0);
    return st.st_size;
}

/* Entries of dir other than . and .. */
static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void snapshot_done(const etcd_result_t *res, void *data)
{
    t_wait_t *w = data;
    CHECK(!w->done);
    w->err = res->err;
    if (!res->err) {
        const etcd_snapshot_info_t *info = res->response;
        CHECK(info && info->path && info->size > 0 && info->revision > 0);
        /* The file is complete and in place when the callback runs. */
        CHECK(exists(info->path) && (uint64_t)file_size(info->path) == info->size);
        CHECK(etcd_result_take(res) == NULL); /* not a protobuf message */
    } else {
        CHECK(res->response == NULL && res->message && *res->message);
    }
    w->done = 1;
}

int main(void)
{
    etcd_server_t *srv = t_server_start(NULL);
    cli = t_client(srv);

    /* Status */
    int64_t rev = 0;
    char val[4096];
    memset(val, 'v', sizeof(val));
    for (int i = 0; i < 200; i++) {
        char key[32];
        snprintf(key, sizeof(key), "snap/%03d", i);
        CHECK_OK(etcd_sync_put(cli, key, strlen(key), val, sizeof(val), 0, &rev));
    }
    /* etcd commits its backend in batches (every 100 ms by default): the
     * reported size catches up with the puts shortly after them. */
    Etcdserverpb__StatusResponse *st = NULL;
    for (int i = 0; i < 60; i++) {
        etcd_response_free(st);
        st = NULL;
        CHECK_OK(etcd_sync_status(cli, &st));
        if (st->dbsize > 200 * 4096)
            break;
        t_sleep_ms(50);
    }
    CHECKF(st->version && !strncmp(st->version, "3.", 2), "version %s", st->version);
    CHECK(st->header && st->header->revision == rev && st->header->member_id != 0);
    CHECK(st->leader != 0 && st->leader == st->header->member_id); /* one member */
    CHECK(st->dbsize > 200 * 4096);
    CHECK(st->raftindex > 0 && st->raftterm > 0);
    t_log("status: version %s, db %lld bytes, revision %lld", st->version, (long long)st->dbsize,
          (long long)st->header->revision);
    etcd_response_free(st);

    /* Snapshot into a fresh temporary directory. */
    char dir[] = "/tmp/etcd-snap-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[512], tmp[600];
    snprintf(path, sizeof(path), "%s/snap.db", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    uint64_t size = 0;
    int64_t srev = 0;
    CHECK_OK(etcd_sync_snapshot(cli, path, &size, &srev));
    CHECK(exists(path) && !exists(tmp));
    CHECK(size > 200 * 4096 && (uint64_t)file_size(path) == size);
    CHECK(srev > 0 && srev <= t_current_revision(cli) && srev >= rev);
    CHECK(dir_entries(dir) == 1);
    t_log("snapshot: %llu bytes at revision %lld", (unsigned long long)size, (long long)srev);

    /* etcdctl verifies its integrity hash while restoring it, and the data
     * is there. */
    char restored[600];
    snprintf(restored, sizeof(restored), "%s/restored", dir);
    CHECKF(t_system("ETCDCTL_API=3 etcdctl snapshot restore '%s' --data-dir '%s' >/dev/null 2>&1",
                    path, restored) == 0,
           "etcdctl snapshot restore failed");
    CHECK(exists(restored));
    CHECK(t_system("rm -rf '%s'", restored) == 0);

    /* A second snapshot over the first (asynchronous API): replaced whole. */
    CHECK_OK(etcd_sync_put(cli, "snap/more", 9, val, sizeof(val), 0, NULL));
    t_wait_t w = {0};
    etcd_call_opts_t opts = {.timeout_ms = 20000};
    CHECK_OK(etcd_maint_snapshot(etcd_sync_client(cli), path, &opts, snapshot_done, &w));
    CHECK(exists(tmp)); /* written aside, renamed at the end */
    etcd_sync_run_until(cli, &w.done);
    CHECK_OK(w.err);
    CHECK(exists(path) && !exists(tmp) && dir_entries(dir) == 1);

    /* Into a directory that does not exist: a negative errno, nothing left. */
    char bad[600];
    snprintf(bad, sizeof(bad), "%s/no/such/dir/snap.db", dir);
    int err = etcd_sync_snapshot(cli, bad, &size, &srev);
    CHECKF(err == -ENOENT, "snapshot into a missing directory returned %d", err);
    CHECK(dir_entries(dir) == 1);
    /* An unwritable path (a directory as the file): negative errno. */
    err = etcd_sync_snapshot(cli, dir, &size, &srev);
    CHECKF(err < 0, "snapshot onto a directory returned %d", err);
    CHECK(dir_entries(dir) == 1);
    char dtmp[600];
    snprintf(dtmp, sizeof(dtmp), "%s.tmp", dir);
    /* The ".tmp" beside a directory target is cleaned up as well. */
    CHECKF(!exists(dtmp), "%s left behind", dtmp);
    /* Bad arguments. */
    CHECK_ERR(etcd_maint_snapshot(etcd_sync_client(cli), "", NULL, snapshot_done, &w), -EINVAL);
    CHECK_ERR(etcd_maint_snapshot(etcd_sync_client(cli), NULL, NULL, snapshot_done, &w), -EINVAL);

    CHECK(unlink(path) == 0);
    CHECK(rmdir(dir) == 0);
    t_client_free(cli);
    t_server_free(srv);
    t_log("test_snapshot_status: all passed");
    return 0;
}

/*
 * Self-test of the etcd test harness: start, health, a write through etcd's
 * JSON gateway, pause/resume, stop/restart on the same data directory (the
 * write survives), kill/restart, two servers side by side, extra flags, bad
 * binary, and free removes the temporary directory.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "etcd_server.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check_fatal.h"

#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != 0) {                                                                            \
            fprintf(stderr, "%s:%d: %s returned %d (%s)\n", __FILE__, __LINE__, #expr, rc_,        \
                    strerror(-rc_));                                                               \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* base64("harness-key") and base64("harness-value") for etcd's JSON gateway. */
#define KEY_B64 "aGFybmVzcy1rZXk="
#define VAL_B64 "aGFybmVzcy12YWx1ZQ=="

static int path_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static void check_healthy(etcd_server_t *s)
{
    int status = 0;
    char body[512];
    CHECK_OK(etcd_server_http(s, "GET", "/health", NULL, &status, body, sizeof body, 2000));
    CHECK(status == 200);
    CHECK(strstr(body, "\"health\":\"true\"") != NULL);
}

static void put_key(etcd_server_t *s)
{
    int status = 0;
    char body[1024];
    CHECK_OK(etcd_server_http(s, "POST", "/v3/kv/put",
                              "{\"key\":\"" KEY_B64 "\",\"value\":\"" VAL_B64 "\"}", &status, body,
                              sizeof body, 5000));
    if (status != 200) {
        fprintf(stderr, "put answered %d: %s\n", status, body);
    }
    CHECK(status == 200);
}

static int key_present(etcd_server_t *s)
{
    int status = 0;
    char body[2048];
    CHECK_OK(etcd_server_http(s, "POST", "/v3/kv/range", "{\"key\":\"" KEY_B64 "\"}", &status, body,
                              sizeof body, 5000));
    CHECK(status == 200);
    return strstr(body, VAL_B64) != NULL;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void test_lifecycle(void)
{
    etcd_server_t *s = NULL;
    CHECK_OK(etcd_server_start(&s));
    CHECK(s != NULL);

    char endpoint[64], tmp[4096], data[4096];
    snprintf(endpoint, sizeof endpoint, "%s", etcd_server_endpoint(s));
    snprintf(tmp, sizeof tmp, "%s", etcd_server_tmp_dir(s));
    snprintf(data, sizeof data, "%s", etcd_server_data_dir(s));
    CHECK(strncmp(endpoint, "127.0.0.1:", 10) == 0);
    CHECK(atoi(endpoint + 10) == etcd_server_client_port(s));
    CHECK(etcd_server_client_port(s) != etcd_server_peer_port(s));
    CHECK(strncmp(data, tmp, strlen(tmp)) == 0);
    CHECK(path_exists(data));
    CHECK(path_exists(etcd_server_log_path(s)));
    pid_t pid1 = etcd_server_pid(s);
    CHECK(pid1 > 0);
    CHECK(etcd_server_running(s));

    check_healthy(s);
    put_key(s);
    CHECK(key_present(s));

    /* Paused: the request times out (bounded), then works again. */
    CHECK_OK(etcd_server_pause(s));
    int status = 0;
    char body[256];
    uint64_t t0 = now_ms();
    int rc = etcd_server_http(s, "GET", "/health", NULL, &status, body, sizeof body, 300);
    CHECK(rc == -ETIMEDOUT);
    CHECK(now_ms() - t0 < 2000);
    CHECK_OK(etcd_server_resume(s));
    CHECK_OK(etcd_server_wait_ready(s, 5000));
    check_healthy(s);

    /* Stopped: nothing listens, the data stays. */
    CHECK_OK(etcd_server_stop(s));
    CHECK(etcd_server_pid(s) == -1);
    CHECK(!etcd_server_running(s));
    rc = etcd_server_http(s, "GET", "/health", NULL, &status, body, sizeof body, 1000);
    CHECK(rc == -ECONNREFUSED);
    CHECK(path_exists(data));
    CHECK(etcd_server_stop(s) == 0); /* idempotent */
    CHECK(etcd_server_pause(s) == -ESRCH);

    /* Restart: same endpoint, same data dir, the key is still there. */
    CHECK_OK(etcd_server_restart(s));
    CHECK(strcmp(endpoint, etcd_server_endpoint(s)) == 0);
    CHECK(strcmp(data, etcd_server_data_dir(s)) == 0);
    CHECK(etcd_server_pid(s) > 0 && etcd_server_pid(s) != pid1);
    check_healthy(s);
    CHECK(key_present(s));

    /* A crash (SIGKILL) while paused, then restart: the key survives. */
    CHECK_OK(etcd_server_pause(s));
    CHECK_OK(etcd_server_kill(s));
    CHECK(etcd_server_pid(s) == -1);
    CHECK_OK(etcd_server_restart(s));
    check_healthy(s);
    CHECK(key_present(s));

    /* Restart of a running server stops it first. */
    pid_t pid2 = etcd_server_pid(s);
    CHECK_OK(etcd_server_restart(s));
    CHECK(etcd_server_pid(s) != pid2);
    check_healthy(s);

    pid_t last = etcd_server_pid(s);
    etcd_server_free(s);
    CHECK(!path_exists(tmp));
    /* The process is gone (reaped by free). */
    CHECK(kill(last, 0) != 0 && errno == ESRCH);
}

static void test_two_servers_and_extra_args(void)
{
    const char *extra[] = {"--auto-compaction-mode=revision", "--auto-compaction-retention=100",
                           NULL};
    etcd_server_opts_t opts = {.extra_args = extra, .name = "second"};
    etcd_server_t *a = NULL, *b = NULL;
    CHECK_OK(etcd_server_start(&a));
    CHECK_OK(etcd_server_start_opts(&opts, &b));
    CHECK(etcd_server_client_port(a) != etcd_server_client_port(b));
    CHECK(strcmp(etcd_server_tmp_dir(a), etcd_server_tmp_dir(b)) != 0);
    check_healthy(a);
    check_healthy(b);
    put_key(a);
    CHECK(key_present(a));
    CHECK(!key_present(b));
    /* The extra flags are kept across a restart. */
    CHECK_OK(etcd_server_restart(b));
    check_healthy(b);
    char tmp_a[4096], tmp_b[4096];
    snprintf(tmp_a, sizeof tmp_a, "%s", etcd_server_tmp_dir(a));
    snprintf(tmp_b, sizeof tmp_b, "%s", etcd_server_tmp_dir(b));
    etcd_server_free(b);
    etcd_server_free(a);
    CHECK(!path_exists(tmp_a));
    CHECK(!path_exists(tmp_b));
    etcd_server_free(NULL);
}

static void test_failures(void)
{
    etcd_server_t *s = (etcd_server_t *)&s; /* must be reset to NULL */
    uint64_t t0 = now_ms();

    etcd_server_opts_t nobin = {.etcd_bin = "/nonexistent/etcd"};
    CHECK(etcd_server_start_opts(&nobin, &s) == -ENOENT);
    CHECK(s == NULL);

    /* etcd rejects an unknown flag and exits: fails fast, not at the timeout. */
    const char *bad[] = {"--no-such-flag-for-etcd", NULL};
    etcd_server_opts_t badflag = {.extra_args = bad, .start_timeout_ms = 20000};
    CHECK(etcd_server_start_opts(&badflag, &s) == -ECHILD);
    CHECK(s == NULL);
    CHECK(now_ms() - t0 < 10000);

    /* A binary that never becomes healthy: bounded by start_timeout_ms, and
     * killed afterwards. */
    char script[4096];
    snprintf(script, sizeof script, "%s/never-ready.sh", getenv("TMPDIR"));
    FILE *f = fopen(script, "w");
    CHECK(f != NULL);
    fprintf(f, "#!/bin/sh\nexec sleep 30\n");
    CHECK(fclose(f) == 0);
    CHECK(chmod(script, 0755) == 0);
    etcd_server_opts_t slow = {.etcd_bin = script, .start_timeout_ms = 500};
    t0 = now_ms();
    CHECK(etcd_server_start_opts(&slow, &s) == -ETIMEDOUT);
    CHECK(s == NULL);
    CHECK(now_ms() - t0 < 5000);
    CHECK(unlink(script) == 0);

    CHECK(etcd_server_start(NULL) == -EINVAL);
}

int main(void)
{
    setvbuf(stderr, NULL, _IONBF, 0);
    /* A private TMPDIR, so that we can assert that nothing is left behind. */
    const char *base = getenv("TMPDIR");
    char tmpdir[4096];
    snprintf(tmpdir, sizeof tmpdir, "%s/harness-selftest-XXXXXX",
             base != NULL && base[0] != '\0' ? base : "/tmp");
    CHECK(mkdtemp(tmpdir) != NULL);
    CHECK(setenv("TMPDIR", tmpdir, 1) == 0);

    test_lifecycle();
    test_two_servers_and_extra_args();
    test_failures();

    DIR *d = opendir(tmpdir);
    CHECK(d != NULL);
    struct dirent *e;
    int leftovers = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            fprintf(stderr, "left behind: %s/%s\n", tmpdir, e->d_name);
            leftovers++;
        }
    }
    closedir(d);
    CHECK(leftovers == 0);
    CHECK(rmdir(tmpdir) == 0);
    fprintf(stderr, "harness_selftest: ok\n");
    return 0;
}

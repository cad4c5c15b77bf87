/* Helpers of the agent's process tests. See agent_test.h. */
#include "agent_test.h"

#include "common/file.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

void agent_root_put(const char *root, const char *rel, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    CHECK(t_system("mkdir -p \"$(dirname '%s')\"", path) == 0);
    FILE *f = fopen(path, "w");
    CHECKF(f != NULL, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

void agent_root_make(const char *root, const char *uuid, const char *mac, unsigned host,
                     const char *boot_id, const char *installed)
{
    char text[512], dashed[32];
    snprintf(dashed, sizeof dashed, "%s", mac);
    for (char *p = dashed; *p; p++)
        *p = *p == ':' ? '-' : *p;
    snprintf(text, sizeof text, "coreos.config.url=http://10.9.0.1:5000/ignition?uuid=%s&mac=%s\n",
             uuid, dashed);
    agent_root_put(root, "proc/cmdline", text);
    snprintf(text, sizeof text, "%s\n", boot_id);
    agent_root_put(root, "proc/sys/kernel/random/boot_id", text);
    agent_root_put(root, "sys/class/net/lo/address", "00:00:00:00:00:00\n");
    snprintf(text, sizeof text, "%s\n", mac);
    agent_root_put(root, "sys/class/net/eth0/address", text);
    agent_root_put(root, "proc/net/route",
                   "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
                   "eth0\t00000000\t0100090A\t0003\t0\t0\t0\t00000000\n"
                   "eth0\t0000090A\t00000000\t0001\t0\t0\t0\t00FFFFFF\n");
    snprintf(text, sizeof text,
             "Local:\n  +-- 10.9.0.0/24 2 0 2\n     |-- 10.9.0.%u\n"
             "        /32 host LOCAL\n",
             host);
    agent_root_put(root, "proc/net/fib_trie", text);
    agent_root_put(root, "sys/block/sda/size", "41943040\n");
    if (installed)
        agent_root_put(root, "usr/share/oem/coreos-install.json", installed);
}

pid_t agent_spawn(const char *bin, api_env_t *env, const char *root, const char *log,
                  const char *const *extra)
{
    char server[64], grpc[64];
    snprintf(server, sizeof server, "http://127.0.0.1:%u", env->port);
    snprintf(grpc, sizeof grpc, "127.0.0.1:%u", env->grpc_port);
    const char *argv[40] = {bin,    "--server",   server, "--grpc-server",    grpc, "--root",
                            root,   "--interval", "1",    "--facts-interval", "1",  "--log-level",
                            "debug"};
    size_t n = 13;
    for (size_t i = 0; extra && extra[i] && n < 39; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    pid_t parent = getpid(), pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd < 0 || dup2(fd, 2) < 0 || dup2(fd, 1) < 0)
            _exit(127);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

int agent_wait_exit(pid_t pid, unsigned ms)
{
    uint64_t end = t_now_ms() + ms;
    int st = 0;
    do {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return st;
        t_sleep_ms(20);
    } while (t_now_ms() < end);
    return -1;
}

void agent_stop_clean(pid_t pid)
{
    CHECK(kill(pid, SIGTERM) == 0);
    int st = agent_wait_exit(pid, 5000);
    CHECKF(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the agent exited with status %d", st);
}

int agent_file_count(const char *path, const char *needle)
{
    char *text = file_read_all(path, NULL); /* NULL: not there (yet) */
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(text);
    return n;
}

int agent_file_wait(const char *path, const char *needle, unsigned ms)
{
    uint64_t end = t_now_ms() + ms;
    do {
        if (agent_file_count(path, needle) > 0)
            return 1;
        t_sleep_ms(50);
    } while (t_now_ms() < end);
    return 0;
}

void agent_hook_put(const char *hooks_dir, const char *name, const char *body)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", hooks_dir, name);
    CHECK(t_system("mkdir -p \"$(dirname '%s')\"", path) == 0);
    FILE *f = fopen(path, "w");
    CHECKF(f != NULL, "cannot write %s", path);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    CHECK(t_system("chmod +x '%s'", path) == 0);
}

void agent_make_rollable(api_env_t *env, const char *mac)
{
    char path[128], body[256], dashed[32];
    api_resp_t r = {0};
    snprintf(dashed, sizeof dashed, "%s", mac);
    for (char *p = dashed; *p; p++)
        *p = *p == ':' ? '-' : *p;
    snprintf(path, sizeof path, "/lifecycle/rolling/mac=%s", dashed);
    api_req(env, "POST", path, "{\"strategy\": \"kexec\"}", 21, &r);
    CHECKF(r.status == 200, "enable rolling: %ld %s", r.status, r.body);
    snprintf(body, sizeof body,
             "{\"roles\": [\"kubernetes-node\"], \"selector\": {\"mac\": \"%s\"}}", mac);
    api_req(env, "POST", "/scheduler", body, strlen(body), &r);
    CHECKF(r.status == 200, "schedule: %ld %s", r.status, r.body);
    api_resp_free(&r);
}

pid_t agent_env_start(api_env_t *env, const char *enjoliverd, const char *standin, const char *dir,
                      const char *const *extra)
{
    char mb[512], sync_dir[512], mb_uri[64];
    snprintf(mb, sizeof mb, "%s/mb", dir);
    snprintf(sync_dir, sizeof sync_dir, "%s/sync", dir);
    CHECK(t_system("mkdir -p '%s/ignition' '%s'", mb, sync_dir) == 0);
    unsigned port = 0;
    pid_t pid = api_standin_start(standin, mb, &port);
    snprintf(mb_uri, sizeof mb_uri, "http://127.0.0.1:%u", port);
    const char *flags[24] = {"--reconcile",    "true", "--matchbox-path", sync_dir,
                             "--matchbox-uri", mb_uri, "--lease-ttl",     "2"};
    size_t n = 8;
    for (size_t i = 0; extra && extra[i] && n < 23; i++)
        flags[n++] = extra[i];
    flags[n] = NULL;
    api_env_start(env, enjoliverd, flags);
    return pid;
}

/*
 * enjoliver-agent as a process, on a fake root, against a real enjoliverd
 * (real etcd) and the stand-in matchbox:
 *   - it reports the machine (GET /discovery shows it, etcd holds it);
 *   - it reports the installed Ignition: up to date while matchbox serves
 *     the same document;
 *   - matchbox serves a new one: the next report says outdated, and the
 *     agent learns it through its watch (its log says so);
 *   - a new disk appears: the agent reports the machine again;
 *   - SIGTERM: exit 0.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api_test.h"

#define UUID "aaaaaaaa-0000-4000-8000-00000000a001"
#define MAC "52:54:00:aa:00:01"
#define DOC_A "{\"ignition\": {\"version\": \"2.0.0\"}, \"storage\": {\"files\": []}}"
#define DOC_B "{\"ignition\": {\"version\": \"2.0.0\"}, \"storage\": {\"files\": [1]}}"

static char dir[400], root[450], agent_log[450];

static void put(const char *rel, const char *text)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    CHECK(t_system("mkdir -p \"$(dirname '%s')\"", path) == 0);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
}

static void make_root(void)
{
    put("proc/cmdline", "coreos.config.url=http://10.9.0.1:5000/ignition?uuid=" UUID
                        "&mac=52-54-00-aa-00-01\n");
    put("proc/sys/kernel/random/boot_id", "11111111-2222-3333-4444-555555555555\n");
    put("sys/class/net/lo/address", "00:00:00:00:00:00\n");
    put("sys/class/net/eth0/address", MAC "\n");
    put("proc/net/route", "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
                          "eth0\t00000000\t0100090A\t0003\t0\t0\t0\t00000000\n"
                          "eth0\t0000090A\t00000000\t0001\t0\t0\t0\t00FFFFFF\n");
    put("proc/net/fib_trie", "Local:\n  +-- 10.9.0.0/24 2 0 2\n     |-- 10.9.0.5\n"
                             "        /32 host LOCAL\n");
    put("sys/block/sda/size", "41943040\n");
    put("usr/share/oem/coreos-install.json", DOC_A);
}

static pid_t start_agent(const char *bin, api_env_t *env)
{
    char server[64], grpc[64];
    snprintf(server, sizeof server, "http://127.0.0.1:%u", env->port);
    snprintf(grpc, sizeof grpc, "127.0.0.1:%u", env->grpc_port);
    pid_t parent = getpid(), pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int fd = open(agent_log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, 2) < 0 || dup2(fd, 1) < 0)
            _exit(127);
        execl(bin, bin, "--server", server, "--grpc-server", grpc, "--root", root, "--interval",
              "1", "--facts-interval", "1", "--log-level", "debug", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Waits until the agent's log holds needle (1) or ms passed (0). */
static int wait_log(const char *needle, unsigned ms)
{
    uint64_t end = t_now_ms() + ms;
    do {
        size_t len = 0;
        char *text = api_fixture_path(agent_log, &len);
        int found = text && strstr(text, needle);
        free(text);
        if (found)
            return 1;
        t_sleep_ms(50);
    } while (t_now_ms() < end);
    return 0;
}

static void dump_agent_log(void)
{
    t_system("echo '----- agent log'; tail -n 40 '%s' >&2", agent_log);
}

int main(int argc, char **argv)
{
    CHECKF(argc == 4, "usage: %s ENJOLIVERD MATCHBOX_STANDIN ENJOLIVER_AGENT", argv[0]);
    snprintf(dir, sizeof dir, "%s/agent-test-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(root, sizeof root, "%s/root", dir);
    snprintf(agent_log, sizeof agent_log, "%s/agent.log", dir);
    make_root();
    char mb[450], doc[500];
    snprintf(mb, sizeof mb, "%s/mb", dir);
    snprintf(doc, sizeof doc, "%s/ignition/52-54-00-aa-00-01.json", mb);
    CHECK(t_system("mkdir -p '%s/ignition' && printf '%%s' '%s' > '%s'", mb, DOC_A, doc) == 0);
    unsigned mb_port = 0;
    pid_t standin = api_standin_start(argv[2], mb, &mb_port);
    char mb_uri[64];
    snprintf(mb_uri, sizeof mb_uri, "http://127.0.0.1:%u", mb_port);
    const char *flags[] = {"--matchbox-uri", mb_uri, NULL};
    api_env_t env;
    api_env_start(&env, argv[1], flags);
    t_on_fail(dump_agent_log);
    pid_t agent = start_agent(argv[3], &env);

    /* The machine is reported, and etcd holds it. */
    CHECKF(api_wait_body(&env, "/discovery", UUID, 10000), "the agent did not report the machine");
    CHECK(api_wait_body(&env, "/discovery", "10.9.0.5/24", 1000));
    Mvccpb__KeyValue *kv = NULL;
    const char *key = "/enjoliver/machines/" UUID;
    CHECK(etcd_sync_get(env.cli, key, strlen(key), &kv) == 0 && kv != NULL);
    if (kv)
        protobuf_c_message_free_unpacked(&kv->base, NULL);

    /* Its Ignition report: up to date. */
    CHECKF(api_wait_body(&env, "/lifecycle/ignition", "\"up-to-date\": true", 10000),
           "no up-to-date report");
    /* matchbox serves something else now: outdated, learnt by the watch. */
    CHECK(t_system("printf '%%s' '%s' > '%s'", DOC_B, doc) == 0);
    CHECKF(api_wait_body(&env, "/lifecycle/ignition", "\"up-to-date\": false", 10000),
           "no outdated report");
    CHECKF(wait_log("this machine is outdated", 10000), "the watch did not tell the agent");

    /* A new disk: reported again. */
    put("sys/block/sdb/size", "2097152\n");
    CHECKF(api_wait_body(&env, "/discovery", "/dev/sdb", 10000), "the new disk was not reported");

    int st = 0;
    CHECK(kill(agent, SIGTERM) == 0);
    for (int i = 0; i < 100 && waitpid(agent, &st, WNOHANG) != agent; i++)
        t_sleep_ms(50);
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the agent exited with status %d", st);
    CHECK(wait_log("enjoliver-agent exited", 1000));

    api_env_stop(&env);
    api_standin_stop(standin);
    t_system("rm -rf '%s'", dir);
    t_log("test_agent: ok");
    return 0;
}

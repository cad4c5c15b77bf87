/*
 * enjoliver-agent as a process, on a fake root, against a real enjoliverd
 * (real etcd) and the stand-in matchbox:
 *   - it reports the machine (GET /discovery shows it, etcd holds it);
 *   - it reports the installed Ignition: up to date while matchbox serves
 *     the same document;
 *   - matchbox serves a new one: the next report says outdated, and the
 *     agent learns it through its watch (its log says so);
 *   - a new disk appears: the agent reports the machine again;
 *   - lldpd's neighbours: a `lldpctl` in its PATH (a script of the test's)
 *     is run and its answer reported;
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

#include "agent_test.h"

#define UUID "aaaaaaaa-0000-4000-8000-00000000a001"
#define MAC "52:54:00:aa:00:01"
#define DOC_A "{\"ignition\": {\"version\": \"2.0.0\"}, \"storage\": {\"files\": []}}"
#define DOC_B "{\"ignition\": {\"version\": \"2.0.0\"}, \"storage\": {\"files\": [1]}}"

static char dir[400], root[450], agent_log[450];

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
    agent_root_make(root, UUID, MAC, 5, "11111111-2222-3333-4444-555555555555", DOC_A);
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
    char state[500];
    snprintf(state, sizeof state, "%s/state", dir);
    const char *agent_flags[] = {"--state-dir", state, NULL};
    /* A stand-in lldpctl, found in PATH as lldpd's would be. */
    char bin[500], path_env[4096];
    snprintf(bin, sizeof bin, "%s/bin", dir);
    agent_hook_put(bin, "lldpctl",
                   "[ \"$1 $2\" = '-f keyvalue' ] || exit 2\n"
                   "echo lldp.eth0.chassis.mac=58:8d:09:1a:2b:00\n"
                   "echo lldp.eth0.chassis.name=tor-fake-1\n"
                   "echo lldp.eth0.port.ifname=Ethernet1/7");
    snprintf(path_env, sizeof path_env, "%s:%s", bin,
             getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    setenv("PATH", path_env, 1);
    pid_t agent = agent_spawn(argv[3], &env, root, agent_log, agent_flags);

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
    CHECKF(agent_file_wait(agent_log, "this machine is outdated", 10000),
           "the watch did not tell the agent");

    /* lldpd's view, through the agent's lldpctl run: in the record. */
    bool lldp = false;
    for (int i = 0; i < 200 && !lldp; i++) {
        Mvccpb__KeyValue *rec = NULL;
        if (etcd_sync_get(env.cli, key, strlen(key), &rec) == 0 && rec) {
            lldp = memmem(rec->value.data, rec->value.len, "tor-fake-1", 10) != NULL;
            protobuf_c_message_free_unpacked(&rec->base, NULL);
        }
        if (!lldp)
            t_sleep_ms(50);
    }
    CHECKF(lldp, "lldpctl's neighbours were not reported");

    /* A new disk: reported again. */
    agent_root_put(root, "sys/block/sdb/size", "2097152\n");
    CHECKF(api_wait_body(&env, "/discovery", "/dev/sdb", 10000), "the new disk was not reported");

    agent_stop_clean(agent);
    CHECK(agent_file_wait(agent_log, "enjoliver-agent exited", 1000));

    api_env_stop(&env);
    api_standin_stop(standin);
    t_system("rm -rf '%s'", dir);
    t_log("test_agent: ok");
    return 0;
}

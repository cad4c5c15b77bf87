/*
 * Fencing: a slot the leader takes back (held longer than
 * rollout_max_hold_seconds) stops the node's sequence. The drain hook
 * outlives the hold; before the strategy step the agent finds the slot is
 * no longer its own (its token), stops there (journal "failed",
 * "stale-slot"), and the strategy hook never runs. The leader's event
 * says the slot was taken back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_test.h"

#define UUID "aaaaaaaa-0000-4000-8000-00000000d001"
#define MAC "52:54:00:dd:00:01"
#define Q "mac=52-54-00-dd-00-01"
#define DOC_A "{\"ignition\": {\"version\": \"2.0.0\"}, \"storage\": {\"files\": []}}"
#define DOC_B "{\"ignition\": {\"version\": \"2.0.0\"}, \"storage\": {\"files\": [1]}}"

static char dir[300], agent_log[350], hook_log[350];

static void dump(void)
{
    t_system("echo '----- agent log'; tail -n 40 '%s' >&2; echo '----- hooks'; cat '%s' >&2",
             agent_log, hook_log);
}

static void hook(const char *hooks, const char *name, const char *body)
{
    char path[500];
    snprintf(path, sizeof path, "%s/%s", hooks, name);
    CHECK(t_system("mkdir -p '%s'", hooks) == 0);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    CHECK(t_system("chmod +x '%s'", path) == 0);
}

int main(int argc, char **argv)
{
    CHECKF(argc == 4, "usage: %s ENJOLIVERD MATCHBOX_STANDIN ENJOLIVER_AGENT", argv[0]);
    snprintf(dir, sizeof dir, "%s/agent-fence-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    CHECK(mkdtemp(dir) != NULL);
    char root[350], hooks[350], state[350], journal[400], mb[350], sync_dir[350], doc[400],
        body[600], mb_uri[64];
    snprintf(root, sizeof root, "%s/root", dir);
    snprintf(hooks, sizeof hooks, "%s/hooks", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(journal, sizeof journal, "%s/rollout.json", state);
    snprintf(agent_log, sizeof agent_log, "%s/agent.log", dir);
    snprintf(hook_log, sizeof hook_log, "%s/hooks.log", dir);
    snprintf(mb, sizeof mb, "%s/mb", dir);
    snprintf(sync_dir, sizeof sync_dir, "%s/sync", dir);
    snprintf(doc, sizeof doc, "%s/ignition/52-54-00-dd-00-01.json", mb);
    snprintf(body, sizeof body, "echo \"drain $ENJ_SLOT_TOKEN\" >> '%s'; sleep 4", hook_log);
    hook(hooks, "drain", body);
    snprintf(body, sizeof body, "echo \"kexec $ENJ_SLOT_TOKEN\" >> '%s'", hook_log);
    hook(hooks, "kexec", body);
    agent_root_make(root, UUID, MAC, 9, "boot-fence-1", DOC_A);
    CHECK(t_system("mkdir -p '%s/ignition' '%s' && printf '%%s' '%s' > '%s'", mb, sync_dir, DOC_A,
                   doc) == 0);
    unsigned mb_port = 0;
    pid_t standin = api_standin_start(argv[2], mb, &mb_port);
    snprintf(mb_uri, sizeof mb_uri, "http://127.0.0.1:%u", mb_port);
    /* A slot held more than 2 s is taken back. */
    setenv("ENJOLIVER_ROLLOUT_MAX_HOLD_SECONDS", "2", 1);
    const char *flags[] = {"--reconcile", "true", "--matchbox-path", sync_dir, "--matchbox-uri",
                           mb_uri, "--lease-ttl", "2", NULL};
    api_env_t env;
    api_env_start(&env, argv[1], flags);
    t_on_fail(dump);
    const char *agent_flags[] = {"--state-dir", state, "--hooks-dir", hooks, NULL};
    pid_t agent = agent_spawn(argv[3], &env, root, agent_log, agent_flags);
    api_resp_t r = {0};
    CHECKF(api_wait_body(&env, "/lifecycle/ignition", "\"up-to-date\": true", 15000),
           "no up-to-date report");
    api_req(&env, "POST", "/lifecycle/rolling/" Q, "{\"strategy\": \"kexec\"}", 21, &r);
    CHECK(r.status == 200);
    const char *sched = "{\"roles\": [\"kubernetes-node\"], \"selector\": {\"mac\": \"" MAC "\"}}";
    api_req(&env, "POST", "/scheduler", sched, strlen(sched), &r);
    CHECK(r.status == 200);
    CHECK(t_system("printf '%%s' '%s' > '%s'", DOC_B, doc) == 0);

    CHECKF(agent_file_wait(hook_log, "drain ", 20000), "no drain");
    CHECKF(agent_file_wait(journal, "stale-slot", 20000), "the agent did not stop on the lost slot");
    CHECK(agent_file_count(journal, "\"failed\"") == 1);
    CHECKF(agent_file_count(hook_log, "kexec ") == 0, "the strategy ran without the slot");
    CHECK(agent_file_wait(agent_log, "the slot is no longer ours", 1000));
    CHECKF(api_wait_body(&env, "/events", "slot-reclaimed", 5000), "no event for the reclaim");

    agent_stop_clean(agent);
    api_resp_free(&r);
    api_env_stop(&env);
    api_standin_stop(standin);
    t_system("rm -rf '%s'", dir);
    t_log("test_agent_fence: ok");
    return 0;
}

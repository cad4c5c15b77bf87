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
#define DOC_A "{\"ignition\": {\"version\": \"2.0.0\"}, \"storage\": {\"files\": []}}"
#define DOC_B "{\"ignition\": {\"version\": \"2.0.0\"}, \"storage\": {\"files\": [1]}}"

static char dir[300], agent_log[350], hook_log[350];

static void dump(void)
{
    t_system("echo '----- agent log'; tail -n 40 '%s' >&2; echo '----- hooks'; cat '%s' >&2",
             agent_log, hook_log);
}

int main(int argc, char **argv)
{
    CHECKF(argc == 4, "usage: %s ENJOLIVERD MATCHBOX_STANDIN ENJOLIVER_AGENT", argv[0]);
    snprintf(dir, sizeof dir, "%s/agent-fence-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    CHECK(mkdtemp(dir) != NULL);
    char root[350], hooks[350], state[350], journal[400], doc[400], body[600];
    snprintf(root, sizeof root, "%s/root", dir);
    snprintf(hooks, sizeof hooks, "%s/hooks", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(journal, sizeof journal, "%s/rollout.json", state);
    snprintf(agent_log, sizeof agent_log, "%s/agent.log", dir);
    snprintf(hook_log, sizeof hook_log, "%s/hooks.log", dir);
    snprintf(doc, sizeof doc, "%s/mb/ignition/52-54-00-dd-00-01.json", dir);
    snprintf(body, sizeof body, "echo \"drain $ENJ_SLOT_TOKEN\" >> '%s'; sleep 4", hook_log);
    agent_hook_put(hooks, "drain", body);
    snprintf(body, sizeof body, "echo \"kexec $ENJ_SLOT_TOKEN\" >> '%s'", hook_log);
    agent_hook_put(hooks, "kexec", body);
    agent_root_make(root, UUID, MAC, 9, "boot-fence-1", DOC_A);
    CHECK(t_system("mkdir -p '%s/mb/ignition' && printf '%%s' '%s' > '%s'", dir, DOC_A, doc) == 0);
    /* A slot held more than 2 s is taken back. */
    setenv("ENJOLIVER_ROLLOUT_MAX_HOLD_SECONDS", "2", 1);
    api_env_t env;
    pid_t standin = agent_env_start(&env, argv[1], argv[2], dir, NULL);
    t_on_fail(dump);
    const char *agent_flags[] = {"--state-dir", state, "--hooks-dir", hooks, NULL};
    pid_t agent = agent_spawn(argv[3], &env, root, agent_log, agent_flags);
    api_resp_t r = {0};
    CHECKF(api_wait_body(&env, "/lifecycle/ignition", "\"up-to-date\": true", 15000),
           "no up-to-date report");
    agent_make_rollable(&env, MAC);
    CHECK(t_system("printf '%%s' '%s' > '%s'", DOC_B, doc) == 0);

    CHECKF(agent_file_wait(hook_log, "drain ", 20000), "no drain");
    CHECKF(agent_file_wait(journal, "stale-slot", 20000),
           "the agent did not stop on the lost slot");
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

/*
 * The disk install from the discovery system: two agents (two machines)
 * with an install hook, on a real enjoliverd. Once they have roles, each
 * takes the install authorization, runs its hook and reports: the hooks
 * never overlap (the lock is one at a time), the first install succeeds,
 * the second machine's hook fails and is reported as failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_test.h"

#define MAC_1 "52:54:00:cc:00:01"
#define MAC_2 "52:54:00:cc:00:02"

static char dir[300], log_1[350], log_2[350], hooks_log[350];

static void dump(void)
{
    t_system("for f in '%s' '%s' '%s'; do echo \"----- $f\"; tail -n 30 \"$f\"; done >&2", log_1,
             log_2, hooks_log);
}

static void schedule(api_env_t *env, const char *mac)
{
    char body[200];
    api_resp_t r = {0};
    snprintf(body, sizeof body,
             "{\"roles\": [\"kubernetes-node\"], \"selector\": {\"mac\": \"%s\"}}", mac);
    api_req(env, "POST", "/scheduler", body, strlen(body), &r);
    CHECK(r.status == 200);
    api_resp_free(&r);
}

int main(int argc, char **argv)
{
    CHECKF(argc == 4, "usage: %s ENJOLIVERD MATCHBOX_STANDIN ENJOLIVER_AGENT", argv[0]);
    snprintf(dir, sizeof dir, "%s/agent-install-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(log_1, sizeof log_1, "%s/agent1.log", dir);
    snprintf(log_2, sizeof log_2, "%s/agent2.log", dir);
    snprintf(hooks_log, sizeof hooks_log, "%s/hooks.log", dir);
    char root_1[350], root_2[350], state_1[350], state_2[350], hook[1200];
    snprintf(root_1, sizeof root_1, "%s/root1", dir);
    snprintf(root_2, sizeof root_2, "%s/root2", dir);
    snprintf(state_1, sizeof state_1, "%s/state1", dir);
    snprintf(state_2, sizeof state_2, "%s/state2", dir);
    agent_root_make(root_1, "aaaaaaaa-0000-4000-8000-00000000c001", MAC_1, 11, "boot-1", NULL);
    agent_root_make(root_2, "aaaaaaaa-0000-4000-8000-00000000c002", MAC_2, 12, "boot-2", NULL);
    /* Records its start and end; the second machine's disk "fails". */
    snprintf(hook, sizeof hook,
             "echo \"start $ENJ_MAC\" >> '%s'; sleep 1; echo \"end $ENJ_MAC\" >> '%s'; "
             "[ \"$ENJ_MAC\" != '" MAC_2 "' ]",
             hooks_log, hooks_log);
    const char *flags[] = {"--install-lock-seconds", "30", NULL};
    api_env_t env;
    api_env_start(&env, argv[1], flags);
    t_on_fail(dump);
    const char *f1[] = {"--state-dir", state_1, "--install-hook", hook, NULL};
    const char *f2[] = {"--state-dir", state_2, "--install-hook", hook, NULL};
    pid_t a1 = agent_spawn(argv[3], &env, root_1, log_1, f1);
    pid_t a2 = agent_spawn(argv[3], &env, root_2, log_2, f2);
    CHECK(api_wait_body(&env, "/discovery", MAC_1, 10000));
    CHECK(api_wait_body(&env, "/discovery", MAC_2, 10000));
    /* Nothing installs before it has roles. */
    t_sleep_ms(1500);
    CHECK(agent_file_count(hooks_log, "start") == 0);
    schedule(&env, MAC_1);
    schedule(&env, MAC_2);
    CHECKF(agent_file_wait(hooks_log, "end " MAC_1, 20000), "machine 1 did not install");
    CHECKF(agent_file_wait(hooks_log, "end " MAC_2, 20000), "machine 2 did not install");
    /* One at a time: each start follows the other's end. */
    size_t len = 0;
    char *text = api_fixture_path(hooks_log, &len);
    const char *s1 = strstr(text, "start " MAC_1), *e1 = strstr(text, "end " MAC_1),
               *s2 = strstr(text, "start " MAC_2), *e2 = strstr(text, "end " MAC_2);
    CHECKF(s1 && e1 && s2 && e2 && ((e1 < s2) || (e2 < s1)), "the installs overlapped:\n%s", text);
    free(text);
    CHECKF(agent_file_wait(log_2, "install: reported\" success=0", 10000),
           "the failed install was not reported");
    CHECK(agent_file_wait(log_1, "install: reported\" success=1", 10000));
    CHECK(api_wait_body(&env, "/lifecycle/coreos-install", "\"success\": false", 5000));
    CHECK(api_wait_body(&env, "/lifecycle/coreos-install", "\"success\": true", 5000));
    agent_stop_clean(a1);
    agent_stop_clean(a2);
    CHECK(agent_file_count(hooks_log, "start") == 2); /* none ran again */
    api_env_stop(&env);
    t_system("rm -rf '%s'", dir);
    t_log("test_agent_install: ok");
    return 0;
}

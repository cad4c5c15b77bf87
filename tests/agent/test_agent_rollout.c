/*
 * A rolling update on one machine, end to end: a real enjoliverd leading
 * alone on a real etcd (it grants the slots), the stand-in matchbox, and
 * enjoliver-agent as a process with the test's hooks (they write what they
 * do to a log; the strategy hook ends the agent, as a reboot would).
 *
 *   0. a blocker hook fails: outdated, the agent asks for no slot until the
 *      blocker passes;
 *   1. matchbox serves a new Ignition: the agent learns it is outdated,
 *      gets a slot, drains; killed in the middle of the drain, its journal
 *      lost too (the state directory removed), and started again on the
 *      same boot, it resumes from the API's record of its progress: it
 *      drains again under the SAME slot (token unchanged, no second
 *      request), then runs the strategy hook;
 *   2. "rebooted" (new boot id, the new Ignition installed), it runs the
 *      ready checks, uncordons and releases the slot: the slot key is gone
 *      from etcd, the node reports up to date, the journal is idle;
 *   3. another Ignition, a ready check that never passes: the sequence
 *      stops at the checks, the slot stays held, uncordon never runs, and
 *      the node's ready report says which check failed.
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_test.h"

#define UUID "aaaaaaaa-0000-4000-8000-00000000b001"
#define MAC "52:54:00:bb:00:01"
#define Q "mac=52-54-00-bb-00-01"
#define DOC_A "{\"ignition\": {\"version\": \"2.0.0\"}, \"storage\": {\"files\": []}}"
#define DOC_B "{\"ignition\": {\"version\": \"2.0.0\"}, \"storage\": {\"files\": [1]}}"
#define DOC_C "{\"ignition\": {\"version\": \"2.0.0\"}, \"storage\": {\"files\": [2]}}"

static char dir[300], root[350], agent_log[350], hooks[350], hook_log[350], state[350], mb_doc[400],
    journal[400];

static void dump(void)
{
    t_system("echo '----- agent log'; tail -n 60 '%s' >&2; echo '----- hooks'; cat '%s' >&2",
             agent_log, hook_log);
}

static void hook(const char *name, const char *body)
{
    agent_hook_put(hooks, name, body);
}

static void make_hooks(void)
{
    char body[1200];
    /* The first drain takes long enough to be killed in the middle. */
    snprintf(body, sizeof body,
             "echo \"drain $ENJ_SLOT_TOKEN\" >> '%s'\n"
             "if [ ! -e '%s/drained-once' ]; then touch '%s/drained-once'; sleep 30; fi",
             hook_log, dir, dir);
    hook("drain", body);
    /* A reboot ends the agent at once. */
    snprintf(body, sizeof body,
             "echo \"kexec $ENJ_SLOT_TOKEN $ENJ_STRATEGY\" >> '%s'\nkill -KILL \"$(cat "
             "'%s/agent.pid')\"",
             hook_log, dir);
    hook("kexec", body);
    snprintf(body, sizeof body, "echo \"uncordon $ENJ_SLOT_TOKEN\" >> '%s'", hook_log);
    hook("uncordon", body);
    /* Ready unless the test says otherwise. */
    snprintf(body, sizeof body, "echo ready >> '%s'\n[ ! -e '%s/not-ready' ]", hook_log, dir);
    hook("ready.d/10-kubelet", body);
    /* Holds the update back while the test says so. */
    snprintf(body, sizeof body, "[ ! -e '%s/blocked' ]", dir);
    hook("blockers.d/10-maintenance", body);
}

static long long token_in_log(const char *step)
{
    FILE *f = fopen(hook_log, "r");
    long long t = 0;
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, step, strlen(step)) == 0 && line[strlen(step)] == ' ')
            t = atoll(line + strlen(step) + 1);
    }
    if (f)
        fclose(f);
    return t;
}

static void serve(const char *doc)
{
    CHECK(t_system("printf '%%s' '%s' > '%s'", doc, mb_doc) == 0);
}

static pid_t start(const char *bin, api_env_t *env)
{
    const char *flags[] = {"--state-dir",      state, "--hooks-dir", hooks, "--check-retries", "3",
                           "--check-interval", "1",   NULL};
    pid_t pid = agent_spawn(bin, env, root, agent_log, flags);
    CHECK(t_system("echo %d > '%s/agent.pid'", (int)pid, dir) == 0);
    return pid;
}

/* The machine "reboots" into doc: a new boot id, doc installed. */
static void reboot_into(const char *boot_id, const char *doc)
{
    agent_root_put(root, "proc/sys/kernel/random/boot_id", boot_id);
    agent_root_put(root, "usr/share/oem/coreos-install.json", doc);
}

int main(int argc, char **argv)
{
    CHECKF(argc == 4, "usage: %s ENJOLIVERD MATCHBOX_STANDIN ENJOLIVER_AGENT", argv[0]);
    snprintf(dir, sizeof dir, "%s/agent-rollout-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(root, sizeof root, "%s/root", dir);
    snprintf(agent_log, sizeof agent_log, "%s/agent.log", dir);
    snprintf(hooks, sizeof hooks, "%s/hooks", dir);
    snprintf(hook_log, sizeof hook_log, "%s/hooks.log", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(journal, sizeof journal, "%s/rollout.json", state);
    snprintf(mb_doc, sizeof mb_doc, "%s/mb/ignition/52-54-00-bb-00-01.json", dir);
    make_hooks();
    agent_root_make(root, UUID, MAC, 7, "boot-0000-0001", DOC_A);
    api_env_t env;
    CHECK(t_system("mkdir -p '%s/mb/ignition'", dir) == 0);
    serve(DOC_A);
    pid_t standin = agent_env_start(&env, argv[1], argv[2], dir, NULL);
    t_on_fail(dump);
    api_resp_t r = {0};

    pid_t agent = start(argv[3], &env);
    CHECKF(api_wait_body(&env, "/lifecycle/ignition", "\"up-to-date\": true", 15000),
           "no up-to-date report");
    agent_make_rollable(&env, MAC); /* only machines with roles roll */

    /* 0. Outdated while a blocker fails: no slot asked. */
    CHECK(t_system("touch '%s/blocked'", dir) == 0);
    serve(DOC_B);
    CHECKF(agent_file_wait(agent_log, "a blocker holds the update back", 15000),
           "the blocker was not run");
    t_sleep_ms(1500);
    api_req(&env, "GET", "/rollout/slot/" Q, NULL, 0, &r);
    CHECKF(r.status == 200 && strstr(r.body, "\"idle\""), "a slot was asked while blocked: %s",
           r.body);
    CHECK(agent_file_count(hook_log, "drain ") == 0);

    /* 1. Unblocked: slot, drain — killed in the middle — drain again. */
    CHECK(t_system("rm '%s/blocked'", dir) == 0);
    CHECKF(agent_file_wait(hook_log, "drain ", 20000), "the agent did not start draining");
    long long token = token_in_log("drain");
    CHECK(token > 0);
    CHECK(kill(agent, SIGKILL) == 0);
    CHECK(agent_wait_exit(agent, 5000) >= 0);
    CHECKF(api_wait_body(&env, "/rollout", "\"draining\"", 5000),
           "GET /rollout does not show the node's progress");
    CHECK(t_system("rm -rf '%s'", state) == 0); /* the journal is lost */
    agent = start(argv[3], &env);
    CHECKF(agent_file_wait(hook_log, "kexec ", 20000), "no strategy hook after the resumed drain");
    CHECKF(agent_file_count(hook_log, "drain ") == 2, "the drain ran %d times",
           agent_file_count(hook_log, "drain "));
    CHECK(agent_file_wait(agent_log, "resuming from the API's record", 1000));
    CHECKF(token_in_log("drain") == token && token_in_log("kexec") == token,
           "the resumed sequence changed slots: %lld -> %lld", token, token_in_log("kexec"));
    CHECK(agent_file_count(hook_log, "kexec ") == 1);
    int st = agent_wait_exit(agent, 5000); /* the strategy hook ended it */
    CHECKF(st >= 0 && WIFSIGNALED(st), "the agent should have been ended by its strategy hook");
    CHECK(agent_file_count(journal, "\"rebooting\"") == 1);

    /* 2. The new boot: ready, uncordon, release. */
    reboot_into("boot-0000-0002", DOC_B);
    agent = start(argv[3], &env);
    CHECKF(agent_file_wait(hook_log, "uncordon ", 20000), "no uncordon after the reboot");
    CHECK(token_in_log("uncordon") == token);
    CHECKF(agent_file_wait(agent_log, "rollout: done", 10000), "the slot was not released");
    CHECK(agent_file_count(journal, "\"idle\"") == 1);
    CHECKF(api_wait_body(&env, "/rollout", "\"step\": \"idle\"", 5000),
           "the progress is not back to idle");
    char key[128];
    snprintf(key, sizeof key, "/enjoliver/rollout/slots/%s", MAC);
    Mvccpb__KeyValue *kv = NULL;
    CHECKF(etcd_sync_get(env.cli, key, strlen(key), &kv) == -ENOENT, "the slot key is still there");
    CHECKF(api_wait_body(&env, "/lifecycle/ignition", "\"up-to-date\": true", 10000),
           "not up to date after the roll");

    /* 3. A ready check that never passes: stop at the checks, slot held. */
    CHECK(t_system("touch '%s/not-ready'", dir) == 0);
    serve(DOC_C);
    for (int i = 0; i < 400 && agent_file_count(hook_log, "kexec ") < 2; i++)
        t_sleep_ms(50);
    CHECKF(agent_file_count(hook_log, "kexec ") == 2, "no second roll");
    long long token2 = token_in_log("kexec");
    CHECK(token2 > token);
    CHECK(agent_wait_exit(agent, 5000) >= 0);
    reboot_into("boot-0000-0003", DOC_C);
    agent = start(argv[3], &env);
    CHECKF(agent_file_wait(journal, "\"failed\"", 20000), "the sequence did not stop");
    CHECK(agent_file_count(hook_log, "uncordon ") == 1); /* still cordoned */
    CHECK(agent_file_count(hook_log, "ready") >= 4);     /* 1 + 3 attempts */
    api_req(&env, "GET", "/rollout/slot/" Q, NULL, 0, &r);
    CHECKF(r.status == 200 && strstr(r.body, "granted"), "the slot should still be held: %s",
           r.body);
    CHECKF(api_wait_body(&env, "/rollout", "10-kubelet", 5000), "the failed check is not reported");
    agent_stop_clean(agent);

    api_resp_free(&r);
    api_env_stop(&env);
    api_standin_stop(standin);
    t_system("rm -rf '%s'", dir);
    t_log("test_agent_rollout: ok");
    return 0;
}

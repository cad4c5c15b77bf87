/*
 * Hooks: the site's commands the agent runs at each step of a rolling
 * update (drain, the strategy, ready checks, uncordon, blockers).
 *
 * A hook is a shell command (/bin/sh -c) run as a child process with the
 * agent's environment plus the step's variables (ENJ_*), its stdout and
 * stderr logged line by line, and a timeout: SIGTERM when it passes, SIGKILL
 * 5 s later. The result is the exit status.
 *
 * Loop thread only.
 */
#ifndef ENJ_AGENT_HOOKS_H
#define ENJ_AGENT_HOOKS_H

#include <uv.h>

typedef struct agent_hook_s agent_hook_t;

/* status: the exit code (0 = success), or a negative errno: -ETIMEDOUT
 * (killed at the timeout), -EINTR (killed by a signal, or by
 * agent_hook_kill), -ENOENT (could not be started). */
typedef void (*agent_hook_cb)(const char *name, int status, void *data);

/* env: "NAME=value" strings added to the agent's environment (NULL-ended,
 * copied). 0, or a negative errno (then cb never runs). */
int agent_hook_run(uv_loop_t *loop, const char *name, const char *command, const char *const *env,
                   unsigned timeout_ms, agent_hook_cb cb, void *data, agent_hook_t **out);

/* Kills the hook (SIGKILL); cb still runs, with -EINTR. */
void agent_hook_kill(agent_hook_t *h);

#endif

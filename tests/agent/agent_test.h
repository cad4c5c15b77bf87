/*
 * Helpers of the agent's process tests: a fake root (the files
 * agent/facts.h reads), the agent as a child process, waits on its log.
 * Assertions are etcd_test.h's (through api_test.h).
 */
#ifndef AGENT_TEST_H
#define AGENT_TEST_H

#include <sys/types.h>

#include "api_test.h"

/* A machine's files under root: boot query (uuid, mac), boot id, one NIC
 * eth0 with mac and 10.9.0.<host>/24 (gateway 10.9.0.1), disk sda, and the
 * installed Ignition `installed` (NULL: none). */
void agent_root_make(const char *root, const char *uuid, const char *mac, unsigned host,
                     const char *boot_id, const char *installed);
/* Writes text to root/rel (directories made). */
void agent_root_put(const char *root, const char *rel, const char *text);

/* Starts enjoliver-agent against env with --root root, logging to log,
 * polling every second, plus extra flags (NULL-ended, may be NULL). */
pid_t agent_spawn(const char *bin, api_env_t *env, const char *root, const char *log,
                  const char *const *extra);
/* Waits up to ms for pid to exit; its wait status, or -1 (still running). */
int agent_wait_exit(pid_t pid, unsigned ms);
/* SIGTERM, then checks a clean exit within 5 s. */
void agent_stop_clean(pid_t pid);

/* Writes an executable hook hooks_dir/name: "#!/bin/sh" then body. */
void agent_hook_put(const char *hooks_dir, const char *name, const char *body);

/* What a machine needs before it rolls: rolling updates enabled (kexec)
 * and a role (kubernetes-node), through env's HTTP API; mac as
 * "52:54:00:..". */
void agent_make_rollable(api_env_t *env, const char *mac);

/* The stand-in matchbox serving dir/mb (its Ignition files under
 * dir/mb/ignition), and enjoliverd leading alone with it and a matchbox
 * sync directory dir/sync; extra flags (NULL-ended, may be NULL). */
pid_t agent_env_start(api_env_t *env, const char *enjoliverd, const char *standin, const char *dir,
                      const char *const *extra);

/* Waits until the file holds needle (1) or ms passed (0). */
int agent_file_wait(const char *path, const char *needle, unsigned ms);
/* How many times needle is in the file (0 when absent). */
int agent_file_count(const char *path, const char *needle);

#endif

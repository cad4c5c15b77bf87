/*
 * The disk install, for an agent running in the discovery (live) system:
 * once the machine has roles and is not installed yet, take the install
 * authorization (Lifecycle.AuthorizeInstall: one machine at a time within
 * the lock's TTL, as the original's /install-authorization), run the install
 * hook (it writes the OS to disk with the machine's Ignition, then reboots),
 * and report the result (Lifecycle.ReportInstall), which frees the lock.
 *
 * Without an install hook nothing happens: an installed system has none.
 * Loop thread only.
 */
#ifndef ENJ_AGENT_INSTALL_H
#define ENJ_AGENT_INSTALL_H

#include <stdbool.h>
#include <uv.h>

#include "common/rpc_client.h"

typedef struct agent_install_s agent_install_t;

typedef struct agent_install_config_s {
    const char *command;      /* the install hook; NULL: never install */
    unsigned timeout_s;       /* 0 = 1800 */
    const char *ignition_url; /* for the hook: ENJ_IGNITION_URL */
} agent_install_config_t;

int agent_install_start(uv_loop_t *loop, rpc_client_t *rpc, const agent_install_config_t *cfg,
                        const char *mac, const char *uuid, agent_install_t **out);
/* What the watch says: roles given, and the machine's state name. */
void agent_install_update(agent_install_t *in, bool scheduled, const char *state);
void agent_install_stop(agent_install_t *in, void (*done)(void *), void *data);

#endif

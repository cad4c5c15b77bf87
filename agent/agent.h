/*
 * enjoliver-agent's daemon: on one machine, on one libuv loop.
 *
 *   - facts: read every facts_interval (agent/facts.h); posted to
 *     POST /discovery when they differ from what was last accepted (at start,
 *     after a reboot, when a NIC or disk changes), retried with backoff,
 *     moving to the next server on failure;
 *   - lifecycle: the installed Ignition (<root>/usr/share/oem/
 *     coreos-install.json) reported every `interval` and as soon as the file
 *     changes (Lifecycle.ReportIgnition);
 *   - a watch on its own machine (Machines.Watch with its boot MAC) tells it
 *     whether its Ignition is outdated and its rolling policy, without
 *     polling; the watch resumes from its last revision when it breaks;
 *   - what the watch says drives the rolling-update sequence
 *     (agent/rollout.h), journaled in the state directory.
 *
 * Loop thread only. Errors are negative errno values.
 */
#ifndef ENJ_AGENT_H
#define ENJ_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef struct agent_s agent_t;

typedef struct agent_config_s {
    const char *const *servers; /* enjoliverd HTTP API URLs, tried in turn */
    size_t n_servers;
    const char *const *grpc_servers; /* its gRPC API, "host:port" */
    size_t n_grpc_servers;
    const char *root;          /* facts are read under it; NULL = "/" */
    const char *lldp_file;     /* `lldpctl -f keyvalue` output; NULL: none */
    const char *token;         /* admin token, for nothing the agent needs yet; may be NULL */
    const char *tls_ca_file;   /* gRPC over TLS with these roots; NULL: plaintext */
    unsigned interval_s;       /* lifecycle report period; 0 = 60 */
    unsigned facts_interval_s; /* facts re-read period; 0 = 10 */
    const char *state_dir;     /* the rollout journal; NULL = /var/lib/enjoliver-agent */
    const char *hooks_dir;     /* see agent/rollout.h; NULL: the defaults */
    unsigned hook_timeout_s, check_timeout_s, check_retries, check_interval_s; /* 0: defaults */
    /* The disk install (agent/install.h); NULL: <hooks_dir>/install when it
     * is there, else no install. */
    const char *install_command;
} agent_config_t;

int agent_start(uv_loop_t *loop, const agent_config_t *cfg, agent_t **out);
/* Ends every request and the watch, then frees a and calls done. */
void agent_stop(agent_t *a, void (*done)(void *), void *data);

#endif

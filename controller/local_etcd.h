/*
 * The local etcd: a single-member etcd that enjoliverd starts, supervises and
 * stops when no --etcd-endpoints are given.
 *
 * It listens on 127.0.0.1 only (client and peer ports from the config), keeps
 * its data in data_dir and appends its output to "<data_dir>.log". When it
 * dies unexpectedly it is started again after a jittered exponential backoff
 * (250 ms doubling up to 30 s; reset after 60 s of uptime). It runs in its own
 * session (a Ctrl-C at the terminal reaches enjoliverd only, which then stops
 * it in order) and with PR_SET_PDEATHSIG=SIGKILL, set by re-executing
 * enjoliverd as a tiny wrapper (local_etcd_exec_main()), so that it never
 * outlives a crashed enjoliverd.
 *
 * All functions run on the loop thread.
 */
#ifndef ENJ_LOCAL_ETCD_H
#define ENJ_LOCAL_ETCD_H

#include <stdint.h>
#include <uv.h>

typedef struct local_etcd_s local_etcd_t;

typedef struct local_etcd_config_s {
    const char *etcd_bin;
    const char *data_dir;
    uint16_t client_port;
    uint16_t peer_port;
    /* SIGTERM grace before SIGKILL when stopping (0 = 5000 ms). */
    unsigned stop_grace_ms;
} local_etcd_config_t;

/* argv[1] that makes enjoliverd act as the exec wrapper. */
#define LOCAL_ETCD_EXEC_FLAG "--internal-exec-with-pdeathsig"

/*
 * Creates the parent directory of data_dir, spawns etcd and returns at once
 * (etcd becomes ready in the background). Returns 0, or a negative errno when
 * the first spawn fails (the error is logged; *out is NULL).
 */
int local_etcd_start(uv_loop_t *loop, const local_etcd_config_t *cfg, local_etcd_t **out);

/*
 * Stops etcd: SIGTERM, SIGKILL after the grace period; no more restarts.
 * `done` runs on the loop once etcd has exited and every handle is closed;
 * the object is freed after `done` returns. Call it once.
 */
void local_etcd_stop(local_etcd_t *e, void (*done)(void *data), void *data);

/* SIGKILL now (a second Ctrl-C); the pending stop completes as usual. */
void local_etcd_kill_now(local_etcd_t *e);

/* "127.0.0.1:<client port>" */
const char *local_etcd_endpoint(const local_etcd_t *e);

/*
 * Entry point of the wrapper: argv = {enjoliverd, LOCAL_ETCD_EXEC_FLAG,
 * <expected parent pid>, <etcd binary>, <etcd args>...}. Sets the parent
 * death signal and execs etcd; returns 127 only on failure.
 */
int local_etcd_exec_main(int argc, char **argv);

#endif

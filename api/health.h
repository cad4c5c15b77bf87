/*
 * GET /healthz: is the store usable?
 *
 * Answers as the original (spec section 9.1):
 *
 *     {"db": true, "etcd": true, "flask": true, "global": true,
 *      "matchbox": {"/": true, "/boot.ipxe": true, "/boot.ipxe.0": true,
 *                   "/assets": true, "/metadata": true},
 *      "discovery": {"ipxe": true, "ignition": true}}
 *
 * "etcd" (and "db", the original's name for the store) is true when etcd's
 * Maintenance.Status answered within the probe timeout, reports a leader and
 * no alarm errors. "flask" is kept for clients of the original: true when the
 * API process answers. matchbox[p]: GET <matchbox><p> got an HTTP answer;
 * discovery.ipxe: matchbox's /ipxe answered 200 (a default group exists);
 * discovery.ignition: /ignition?mac=00-00-00-00-00-00 answered 200 with
 * JSON. "matchbox" and "discovery" are left out when no matchbox is
 * configured (they would make "global" false for good). Any
 * false -> "global" false -> 503, else 200; header
 * Access-Control-Allow-Origin: *.
 *
 * Unlike the original (quirk 17) the probe has a timeout, concurrent requests
 * share one probe, and a result is reused for a short time.
 *
 * Loop thread only.
 */
#ifndef ENJ_HEALTH_H
#define ENJ_HEALTH_H

#include <uv.h>

#include "api/http_server.h"
#include "common/http_client.h"
#include "etcd/client.h"

typedef struct health_s health_t;

typedef struct health_config_s {
    unsigned probe_timeout_ms; /* 0 = 2000 */
    unsigned cache_ms;         /* 0 = 1000; how long a probe result is reused */
    http_client_t *matchbox;   /* NULL: no matchbox probes; borrowed */
    const char *matchbox_uri;  /* copied */
    /* Until health_set_leadership() is called (a replica that does not
     * reconcile never calls it), the leader's name comes from here: fills
     * out ("" when none). NULL: unknown, left out. */
    void (*leader)(char *out, size_t size, void *data);
    void *leader_data;
} health_config_t;

/* The clients are borrowed and must outlive every probe (close them first:
 * pending probes then complete with -ECANCELED and answer their waiters). */
int health_new(uv_loop_t *loop, etcd_client_t *client, const health_config_t *cfg, health_t **out);

/* Calls fn(h, data) with a fresh enough result: now, or once the probes
 * of a new round are in (or from health_free: not healthy). Read the
 * result with the accessors below, during the call. 0 or -ENOMEM. */
typedef void (*health_cb)(health_t *h, void *data);
int health_check(health_t *h, health_cb fn, void *data);
int health_etcd_ok(const health_t *h);
/* Every matchbox probe succeeded (1 when no matchbox is configured). */
int health_matchbox_ok(const health_t *h);
/* The leading replica's name ("" when none or not known yet). */
const char *health_leader(health_t *h, int *is_leader);

/* The http_handler_fn of GET /healthz; data = the health_t. */
void health_handle_healthz(http_request_t *req, void *data);

/* Adds "leader" (a replica name, "" when none) and "is_leader" to the
 * answer (informational: they do not change "global"). */
void health_set_leadership(health_t *h, const char *leader, int is_leader);

/* Frees it. No probe may be pending (close the client first). */
void health_free(health_t *h);

#endif

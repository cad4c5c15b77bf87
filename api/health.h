/*
 * GET /healthz: is the store usable?
 *
 * Answers, as the original (spec section 9.1) minus the parts that do not
 * exist yet:
 *
 *     {"db": true, "etcd": true, "flask": true, "global": true}
 *
 * "etcd" (and "db", the original's name for the store) is true when etcd's
 * Maintenance.Status answered within the probe timeout, reports a leader and
 * no alarm errors. "flask" is kept for clients of the original: true when the
 * API process answers. "matchbox" and "discovery" are left out while no
 * matchbox is configured (they would make "global" false for good). Any
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

#include "etcd/client.h"
#include "api/http_server.h"

typedef struct health_s health_t;

typedef struct health_config_s {
    unsigned probe_timeout_ms; /* 0 = 2000 */
    unsigned cache_ms;         /* 0 = 1000; how long a probe result is reused */
} health_config_t;

/* The client is borrowed and must outlive every probe (close it first: its
 * pending probe then completes with -ECANCELED and answers its waiters). */
int health_new(uv_loop_t *loop, etcd_client_t *client, const health_config_t *cfg, health_t **out);

/* The http_handler_fn of GET /healthz; data = the health_t. */
void health_handle_healthz(http_request_t *req, void *data);

/* Frees it. No probe may be pending (close the client first). */
void health_free(health_t *h);

#endif

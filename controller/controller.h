/*
 * The controller: leadership (leader.h) and, while this replica leads, the
 * reconcilers, fed by the API's cache of etcd (api/cache.h) through a work
 * queue (workqueue.h). Every reconciler write goes through a model store
 * fenced on the leader key's create revision.
 *
 * Reconcilers so far: the scheduler (model/scheduler.h) and the matchbox
 * sync (sync.h).
 *
 * Loop thread only.
 */
#ifndef ENJ_CONTROLLER_H
#define ENJ_CONTROLLER_H

#include <stdbool.h>
#include <uv.h>

#include "api/api.h"
#include "etcd/client.h"

typedef struct controller_s controller_t;

typedef struct controller_config_s {
    const char *prefix;            /* etcd prefix, ending with '/' */
    const char *name;              /* this replica */
    int lease_ttl;                 /* seconds */
    unsigned expected_cp;          /* control-plane size, odd */
    const struct config_s *config; /* the whole configuration (the sync's
                                      keys); NULL = no matchbox sync */
} controller_config_t;

int controller_start(uv_loop_t *loop, etcd_client_t *etcd, api_t *api,
                     const controller_config_t *cfg, controller_t **out);

/* SIGTERM: stop the reconcilers, resign so another replica leads at once
 * (the election key is deleted and the lease revoked), then call done.
 * The etcd client must stay open until done runs. */
void controller_resign(controller_t *c, void (*done)(void *data), void *data);

/* Frees it, after controller_resign's done and once the etcd client is
 * closed (writes still in flight have then called back). */
void controller_free(controller_t *c);

bool controller_is_leader(const controller_t *c);

/* Prometheus text: is_leader, terms, work queue depth, reconciler runs and
 * errors, events. malloc'ed; NULL on ENOMEM. */
char *controller_metrics_text(controller_t *c);

#endif

/*
 * The event log: what the controller did and why, in etcd under
 * <prefix>events/<time>-<replica>-<seq> = {"ts", "replica", "kind",
 * "machine", "message"}, each key bound to a lease of `ttl_s` seconds so
 * the log bounds itself (a lease is shared by the events of TTL/2 seconds).
 * Served by GET /events. Writing an event never blocks nor fails the work
 * that reports it: a failed write is logged and dropped.
 *
 * Loop thread only.
 */
#ifndef ENJ_EVENTS_H
#define ENJ_EVENTS_H

#include <stdint.h>
#include <uv.h>

#include "etcd/client.h"

typedef struct events_s events_t;

int events_new(uv_loop_t *loop, etcd_client_t *etcd, const char *prefix, const char *replica,
               int ttl_s, events_t **out);

/* kind: "role-given", "files-written", "leader-elected", ...; machine may
 * be NULL. The message is a printf format. */
void events_emit(events_t *ev, const char *kind, const char *machine, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

uint64_t events_emitted(const events_t *ev);
uint64_t events_dropped(const events_t *ev);

/* Frees it; writes in flight complete against the (still open) client. */
void events_free(events_t *ev);

#endif

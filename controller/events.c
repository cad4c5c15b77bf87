/* The event log. See events.h. */
#include "events.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "etcd/kv.h"
#include "etcd/lease.h"
#include "model/clock.h"

typedef struct pending_s {
    struct pending_s *next;
    char *key, *value;
} pending_t;

struct events_s {
    uv_loop_t *loop;
    etcd_client_t *etcd;
    char *prefix, *replica;
    int ttl_s;
    int64_t lease;
    uint64_t lease_at; /* uv_now() of the grant */
    int granting;
    pending_t *queue; /* waiting for a lease */
    uint64_t seq, emitted, dropped;
    int *alive; /* shared with callbacks in flight: set to 0 on free */
};

typedef struct put_ctx_s {
    int *alive;
    events_t *ev;
} put_ctx_t;

static void put_done(const etcd_result_t *res, void *data)
{
    put_ctx_t *p = data;
    if (*p->alive && res->err) {
        p->ev->dropped++;
        log_warn("event not recorded", "err=%d", res->err);
    }
    if (--p->alive[1] == 0 && !p->alive[0])
        free(p->alive);
    free(p);
}

static void put_now(events_t *ev, const char *key, const char *value)
{
    Etcdserverpb__PutRequest pr;
    etcdserverpb__put_request__init(&pr);
    pr.key = (ProtobufCBinaryData){strlen(key), (uint8_t *)key};
    pr.value = (ProtobufCBinaryData){strlen(value), (uint8_t *)value};
    pr.lease = ev->lease;
    put_ctx_t *p = malloc(sizeof(*p));
    if (!p) {
        ev->dropped++;
        return;
    }
    *p = (put_ctx_t){ev->alive, ev};
    ev->alive[1]++;
    if (etcd_kv_put(ev->etcd, &pr, NULL, put_done, p) != 0) {
        ev->alive[1]--;
        free(p);
        ev->dropped++;
    }
}

static void flush(events_t *ev)
{
    pending_t *q = ev->queue;
    ev->queue = NULL;
    /* The queue is newest first: put in emission order. */
    pending_t *rev = NULL;
    while (q) {
        pending_t *n = q->next;
        q->next = rev;
        rev = q;
        q = n;
    }
    while (rev) {
        pending_t *n = rev->next;
        if (ev->lease)
            put_now(ev, rev->key, rev->value);
        else
            ev->dropped++;
        free(rev->key);
        free(rev->value);
        free(rev);
        rev = n;
    }
}

static void granted(const etcd_result_t *res, void *data)
{
    put_ctx_t *p = data;
    events_t *ev = p->ev;
    int alive = *p->alive;
    if (--p->alive[1] == 0 && !p->alive[0])
        free(p->alive);
    free(p);
    if (!alive)
        return;
    ev->granting = 0;
    if (res->err) {
        log_warn("events: no lease; events dropped", "err=%d", res->err);
        ev->lease = 0;
    } else {
        ev->lease = ((const Etcdserverpb__LeaseGrantResponse *)res->response)->id;
        ev->lease_at = uv_now(ev->loop);
    }
    flush(ev);
}

/* One lease per TTL/2: every event lives between TTL/2 and TTL. */
static void ensure_lease(events_t *ev)
{
    if (ev->granting)
        return;
    if (ev->lease && uv_now(ev->loop) - ev->lease_at < (uint64_t)ev->ttl_s * 500) {
        flush(ev);
        return;
    }
    put_ctx_t *p = malloc(sizeof(*p));
    if (!p)
        return;
    *p = (put_ctx_t){ev->alive, ev};
    ev->alive[1]++;
    ev->granting = 1;
    if (etcd_lease_grant(ev->etcd, ev->ttl_s, 0, NULL, granted, p) != 0) {
        ev->alive[1]--;
        free(p);
        ev->granting = 0;
        ev->lease = 0;
        flush(ev);
    }
}

void events_emit(events_t *ev, const char *kind, const char *machine, const char *fmt, ...)
{
    if (!ev)
        return;
    char msg[512], key[512], date[MODEL_DATE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int64_t now = model_now_ms();
    /* Time first: keys sort by time across replicas. */
    snprintf(key, sizeof key, "%sevents/%013lld-%s-%06llu", ev->prefix, (long long)now, ev->replica,
             (unsigned long long)(ev->seq++ % 1000000));
    json_t *v =
        json_pack("{s:i, s:s, s:s, s:s, s:s?, s:s}", "schema", 1, "ts", model_rfc3339(now, date),
                  "replica", ev->replica, "kind", kind, "machine", machine, "message", msg);
    pending_t *p = calloc(1, sizeof(*p));
    if (!v || !p || !(p->key = strdup(key)) || !(p->value = json_dumps(v, JSON_COMPACT))) {
        json_decref(v);
        if (p) {
            free(p->key);
            free(p);
        }
        ev->dropped++;
        return;
    }
    json_decref(v);
    ev->emitted++;
    p->next = ev->queue;
    ev->queue = p;
    ensure_lease(ev);
}

int events_new(uv_loop_t *loop, etcd_client_t *etcd, const char *prefix, const char *replica,
               int ttl_s, events_t **out)
{
    if (!loop || !etcd || !prefix || !replica || ttl_s < 2 || !out)
        return -EINVAL;
    events_t *ev = calloc(1, sizeof(*ev));
    if (!ev)
        return -ENOMEM;
    ev->loop = loop;
    ev->etcd = etcd;
    ev->ttl_s = ttl_s;
    ev->prefix = strdup(prefix);
    ev->replica = strdup(replica);
    ev->alive = calloc(2, sizeof(int)); /* [0] alive, [1] callbacks in flight */
    if (!ev->prefix || !ev->replica || !ev->alive) {
        free(ev->prefix);
        free(ev->replica);
        free(ev->alive);
        free(ev);
        return -ENOMEM;
    }
    ev->alive[0] = 1;
    *out = ev;
    return 0;
}

uint64_t events_emitted(const events_t *ev)
{
    return ev ? ev->emitted : 0;
}

uint64_t events_dropped(const events_t *ev)
{
    return ev ? ev->dropped : 0;
}

void events_free(events_t *ev)
{
    if (!ev)
        return;
    ev->lease = 0;
    flush(ev); /* drops what waits for a lease */
    ev->alive[0] = 0;
    if (ev->alive[1] == 0)
        free(ev->alive);
    free(ev->prefix);
    free(ev->replica);
    free(ev);
}

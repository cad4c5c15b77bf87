/*
 * Leases. Keep-alives of every lease share one LeaseKeepAlive stream; each
 * lease has its own timer that sends a keep-alive every TTL/3 and declares
 * the lease lost when no answer came for a whole TTL.
 */
#include <errno.h>
#include <stdlib.h>

#include "etcd/internal.h"
#include "etcd/lease.h"

struct etcd_keepalive_s {
    etcd_list_t link;
    etcd_client_t *c; /* NULL once the client closed */
    int64_t id, ttl;
    uint64_t last_ok;
    uv_timer_t *timer;
    etcd_lease_lost_cb lost;
    void *data;
    bool lost_fired;
};

struct etcd_lease_stream_s {
    etcd_client_t *c;
    etcd_stream_t *st;
    etcd_list_t kas;
    unsigned failures;
    uint64_t next_open_at;
};

int etcd_lease_grant(etcd_client_t *c, int64_t ttl_s, int64_t id, const etcd_call_opts_t *opts,
                     etcd_cb cb, void *data)
{
    if (ttl_s <= 0)
        return -EINVAL;
    Etcdserverpb__LeaseGrantRequest req = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
    req.ttl = ttl_s;
    req.id = id;
    return etcd_unary(c, &etcd_m_lease_grant, &req.base, opts, cb, data);
}

int etcd_lease_revoke(etcd_client_t *c, int64_t id, const etcd_call_opts_t *opts, etcd_cb cb,
                      void *data)
{
    Etcdserverpb__LeaseRevokeRequest req = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
    req.id = id;
    return etcd_unary(c, &etcd_m_lease_revoke, &req.base, opts, cb, data);
}

int etcd_lease_ttl(etcd_client_t *c, int64_t id, int with_keys, const etcd_call_opts_t *opts,
                   etcd_cb cb, void *data)
{
    Etcdserverpb__LeaseTimeToLiveRequest req = ETCDSERVERPB__LEASE_TIME_TO_LIVE_REQUEST__INIT;
    req.id = id;
    req.keys = with_keys != 0;
    return etcd_unary(c, &etcd_m_lease_ttl, &req.base, opts, cb, data);
}

int etcd_lease_list(etcd_client_t *c, const etcd_call_opts_t *opts, etcd_cb cb, void *data)
{
    Etcdserverpb__LeaseLeasesRequest req = ETCDSERVERPB__LEASE_LEASES_REQUEST__INIT;
    return etcd_unary(c, &etcd_m_lease_leases, &req.base, opts, cb, data);
}

/* ---- keep-alive ---- */

static void ka_fire_lost(etcd_keepalive_t *ka, int err)
{
    if (ka->lost_fired)
        return;
    ka->lost_fired = true;
    uv_timer_stop(ka->timer);
    if (ka->lost)
        ka->lost(ka, err, ka->data); /* may stop (free) ka */
}

static void ls_on_message(etcd_stream_t *st, grpc_byte_buffer *bb, void *owner)
{
    etcd_lease_stream_t *ls = owner;
    (void)st;
    Etcdserverpb__LeaseKeepAliveResponse *r = (Etcdserverpb__LeaseKeepAliveResponse *)rpc_unpack(
        &etcdserverpb__lease_keep_alive_response__descriptor, bb);
    if (!r)
        return;
    ls->failures = 0;
    for (etcd_list_t *l = ls->kas.next; l != &ls->kas; l = l->next) {
        etcd_keepalive_t *ka = etcd_container_of(l, etcd_keepalive_t, link);
        if (ka->id != r->id)
            continue;
        if (r->ttl <= 0)
            ka_fire_lost(ka, -ENOENT);
        else
            ka->last_ok = etcd_now_ms(ls->c);
        break;
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void ls_on_closed(etcd_stream_t *st, int err, const char *msg, void *owner)
{
    etcd_lease_stream_t *ls = owner;
    (void)st;
    (void)err;
    (void)msg;
    ls->st = NULL;
    ls->failures++;
    ls->next_open_at = etcd_now_ms(ls->c) + etcd_backoff_ms(ls->c, ls->failures - 1);
}

static const etcd_stream_ops_t ls_ops = {ls_on_message, ls_on_closed};

static void ka_send(etcd_lease_stream_t *ls, etcd_keepalive_t *ka)
{
    Etcdserverpb__LeaseKeepAliveRequest req = ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
    req.id = ka->id;
    etcd_stream_send(ls->st, &req.base);
}

static bool ls_ensure_open(etcd_lease_stream_t *ls)
{
    if (ls->st)
        return true;
    if (etcd_now_ms(ls->c) < ls->next_open_at)
        return false;
    if (etcd_stream_open(ls->c, etcd_path_keepalive, 0, &ls_ops, ls, NULL, false, &ls->st) < 0) {
        ls->st = NULL;
        return false;
    }
    /* A fresh stream after a break: refresh every lease at once. */
    for (etcd_list_t *l = ls->kas.next; ls->st && l != &ls->kas; l = l->next)
        ka_send(ls, etcd_container_of(l, etcd_keepalive_t, link));
    return ls->st != NULL;
}

static void ka_tick(uv_timer_t *t)
{
    etcd_keepalive_t *ka = t->data;
    etcd_client_t *c = ka->c;
    if (!c || ka->lost_fired)
        return;
    if (etcd_now_ms(c) - ka->last_ok >= (uint64_t)ka->ttl * 1000) {
        ka_fire_lost(ka, -ETIMEDOUT);
        return;
    }
    bool fresh = !c->lease->st;
    if (ls_ensure_open(c->lease) && !fresh)
        ka_send(c->lease, ka);
}

int etcd_keepalive_start(etcd_client_t *c, int64_t id, int64_t ttl_s, etcd_lease_lost_cb lost,
                         void *data, etcd_keepalive_t **out)
{
    if (!c || ttl_s <= 0 || !out)
        return -EINVAL;
    if (c->closing)
        return -ECANCELED;
    if (!c->lease) {
        if (!(c->lease = calloc(1, sizeof(*c->lease))))
            return -ENOMEM;
        c->lease->c = c;
        etcd_list_init(&c->lease->kas);
    }
    etcd_keepalive_t *ka = calloc(1, sizeof(*ka));
    if (!ka || !(ka->timer = malloc(sizeof(*ka->timer)))) {
        free(ka);
        return -ENOMEM;
    }
    uv_timer_init(c->loop, ka->timer);
    ka->timer->data = ka;
    ka->c = c;
    ka->id = id;
    ka->ttl = ttl_s;
    ka->lost = lost;
    ka->data = data;
    ka->last_ok = etcd_now_ms(c);
    etcd_list_add_tail(&c->lease->kas, &ka->link);
    uint64_t every = (uint64_t)ttl_s * 1000 / 3;
    uv_timer_start(ka->timer, ka_tick, every, every);
    ls_ensure_open(c->lease);
    *out = ka;
    return 0;
}

void etcd_keepalive_stop(etcd_keepalive_t *ka)
{
    if (!ka)
        return;
    etcd_list_del(&ka->link);
    if (ka->timer)
        uv_close((uv_handle_t *)ka->timer, (uv_close_cb)free);
    free(ka);
}

int64_t etcd_keepalive_id(const etcd_keepalive_t *ka)
{
    return ka->id;
}

uint64_t etcd_keepalive_last_ok(const etcd_keepalive_t *ka)
{
    return ka->last_ok;
}

void etcd_lease_client_close(etcd_client_t *c)
{
    etcd_lease_stream_t *ls = c->lease;
    if (!ls)
        return;
    /* Handles stay valid for their owners, who still call stop(). */
    while (!etcd_list_empty(&ls->kas)) {
        etcd_keepalive_t *ka = etcd_container_of(ls->kas.next, etcd_keepalive_t, link);
        etcd_list_del(&ka->link);
        uv_close((uv_handle_t *)ka->timer, (uv_close_cb)free);
        ka->timer = NULL;
        ka->c = NULL;
    }
    if (ls->st)
        etcd_stream_detach(ls->st);
    free(ls);
    c->lease = NULL;
}

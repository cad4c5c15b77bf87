/* Session: a granted lease kept alive until closed. */
#include <errno.h>
#include <stdlib.h>

#include "etcd/lease.h"
#include "etcd/session.h"

struct etcd_session_s {
    etcd_client_t *c;
    int64_t ttl, lease;
    etcd_keepalive_t *ka;
    etcd_session_cb ready, lost;
    void *data;
    bool granting, abandoned, alive, revoke_on_grant;
};

static void revoke_done(const etcd_result_t *res, void *data)
{
    (void)res;
    (void)data;
}

static void session_lost(etcd_keepalive_t *ka, int err, void *data)
{
    etcd_session_t *s = data;
    (void)ka;
    s->alive = false;
    if (s->lost)
        s->lost(s, err, s->data);
}

static void grant_done(const etcd_result_t *res, void *data)
{
    etcd_session_t *s = data;
    s->granting = false;
    const Etcdserverpb__LeaseGrantResponse *r = res->response;
    if (s->abandoned) {
        /* Closed while the grant was in flight: do not leave the lease. */
        if (!res->err && s->revoke_on_grant)
            etcd_lease_revoke(s->c, r->id, NULL, revoke_done, NULL);
        free(s);
        return;
    }
    int err = res->err;
    if (!err) {
        s->lease = r->id;
        s->ttl = r->ttl;
        err = etcd_keepalive_start(s->c, s->lease, s->ttl, session_lost, s, &s->ka);
    }
    s->alive = err == 0;
    if (s->ready)
        s->ready(s, err, s->data);
}

int etcd_session_start(etcd_client_t *c, int64_t ttl_s, etcd_session_cb ready, etcd_session_cb lost,
                       void *data, etcd_session_t **out)
{
    if (!c || ttl_s <= 0 || !out)
        return -EINVAL;
    etcd_session_t *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->c = c;
    s->ttl = ttl_s;
    s->ready = ready;
    s->lost = lost;
    s->data = data;
    s->granting = true;
    int err = etcd_lease_grant(c, ttl_s, 0, NULL, grant_done, s);
    if (err < 0) {
        free(s);
        return err;
    }
    *out = s;
    return 0;
}

int64_t etcd_session_lease(const etcd_session_t *s)
{
    return s->lease;
}

int64_t etcd_session_ttl(const etcd_session_t *s)
{
    return s->ttl;
}

int etcd_session_is_alive(const etcd_session_t *s)
{
    return s->alive;
}

etcd_client_t *etcd_session_client(const etcd_session_t *s)
{
    return s->c;
}

void etcd_session_close(etcd_session_t *s, int revoke)
{
    if (!s)
        return;
    if (s->granting) {
        s->abandoned = true;
        s->revoke_on_grant = revoke != 0;
        return;
    }
    etcd_keepalive_stop(s->ka);
    if (revoke && s->lease) /* -ECANCELED when the client is closing: fine */
        etcd_lease_revoke(s->c, s->lease, NULL, revoke_done, NULL);
    free(s);
}

uint64_t etcd_session_last_ok(const etcd_session_t *s)
{
    return s && s->ka ? etcd_keepalive_last_ok(s->ka) : 0;
}

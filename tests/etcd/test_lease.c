/*
 * Leases against a real etcd: expiry without keep-alive, survival with
 * etcd_keepalive_start past 3 x TTL, revoke, TimeToLive with keys, Leases,
 * and the lost callback (-ENOENT) of a keep-alive on a revoked lease.
 */
#include <stdlib.h>

#include "etcd_test.h"

static etcd_sync_t *cli;

typedef struct lost_s {
    int fired, err;
    int64_t id;
    etcd_keepalive_t *ka;
} lost_t;

static void on_lost(etcd_keepalive_t *ka, int err, void *data)
{
    lost_t *l = data;
    CHECK(ka == l->ka);
    l->fired++;
    l->err = err;
    l->id = etcd_keepalive_id(ka);
}

static int lost_fired(void *arg)
{
    return ((lost_t *)arg)->fired != 0;
}

static int key_exists(const char *key)
{
    Mvccpb__KeyValue *kv = NULL;
    int err = etcd_sync_get(cli, key, strlen(key), &kv);
    if (err == -ENOENT)
        return 0;
    CHECK_OK(err);
    etcd_response_free(kv);
    return 1;
}

static Etcdserverpb__LeaseTimeToLiveResponse *ttl(int64_t id, int keys)
{
    t_wait_t w = {0};
    CHECK_OK(t_wait(cli, &w, etcd_lease_ttl(etcd_sync_client(cli), id, keys, NULL, t_wait_cb, &w)));
    CHECK(w.resp != NULL);
    return w.resp;
}

int main(void)
{
    etcd_server_t *srv = t_server_start(NULL);
    cli = t_client(srv);

    /* Two leases of 2 s: one left alone, one kept alive. */
    int64_t l_free = 0, l_kept = 0;
    CHECK_OK(etcd_sync_lease_grant(cli, 2, &l_free));
    CHECK_OK(etcd_sync_lease_grant(cli, 2, &l_kept));
    CHECK(l_free != 0 && l_kept != 0 && l_free != l_kept);
    uint64_t granted_at = t_now_ms();
    CHECK_OK(etcd_sync_put(cli, "lease/free", 10, "x", 1, l_free, NULL));
    CHECK_OK(etcd_sync_put(cli, "lease/kept", 10, "y", 1, l_kept, NULL));
    lost_t kept_lost = {0};
    CHECK_OK(
        etcd_keepalive_start(etcd_sync_client(cli), l_kept, 2, on_lost, &kept_lost, &kept_lost.ka));
    CHECK(etcd_keepalive_id(kept_lost.ka) == l_kept);

    /* TimeToLive with keys. */
    Etcdserverpb__LeaseTimeToLiveResponse *tr = ttl(l_kept, 1);
    CHECK(tr->id == l_kept && tr->grantedttl == 2 && tr->ttl > 0 && tr->ttl <= 2);
    CHECK(tr->n_keys == 1 && tr->keys[0].len == 10 && !memcmp(tr->keys[0].data, "lease/kept", 10));
    etcd_response_free(tr);
    tr = ttl(l_kept, 0);
    CHECK(tr->n_keys == 0 && tr->ttl > 0);
    etcd_response_free(tr);

    /* Leases lists both. */
    t_wait_t w = {0};
    CHECK_OK(t_wait(cli, &w, etcd_lease_list(etcd_sync_client(cli), NULL, t_wait_cb, &w)));
    Etcdserverpb__LeaseLeasesResponse *ll = w.resp;
    int found = 0;
    for (size_t i = 0; i < ll->n_leases; i++)
        found += ll->leases[i]->id == l_free || ll->leases[i]->id == l_kept;
    CHECK(found == 2);
    etcd_response_free(ll);

    /* Without keep-alive the key goes once the TTL passed (bounded wait). */
    CHECK(key_exists("lease/free"));
    uint64_t gone_at = 0;
    while (t_now_ms() - granted_at < 8000) {
        if (!key_exists("lease/free")) {
            gone_at = t_now_ms();
            break;
        }
        t_pump(cli, 100);
    }
    CHECKF(gone_at != 0, "the key of an expired lease is still there after 8 s");
    CHECKF(gone_at - granted_at >= 1500, "lease expired after %llu ms, TTL is 2 s",
           (unsigned long long)(gone_at - granted_at));
    t_log("un-kept lease expired after %llu ms", (unsigned long long)(gone_at - granted_at));
    tr = ttl(l_free, 1);
    CHECK(tr->ttl == -1 && tr->n_keys == 0); /* etcd's answer for an unknown lease */
    etcd_response_free(tr);

    /* With keep-alive the key outlives 3 x TTL. */
    while (t_now_ms() - granted_at < 6500) {
        CHECK(key_exists("lease/kept"));
        t_pump(cli, 250);
    }
    CHECK(key_exists("lease/kept"));
    CHECK(kept_lost.fired == 0);
    CHECK(etcd_keepalive_last_ok(kept_lost.ka) > 0);
    CHECK(uv_now(etcd_sync_loop(cli)) - etcd_keepalive_last_ok(kept_lost.ka) < 2000);
    tr = ttl(l_kept, 1);
    CHECK(tr->ttl > 0 && tr->n_keys == 1);
    etcd_response_free(tr);
    t_log("kept lease alive past 3 x TTL");

    /* Revoke deletes the keys at once. */
    int64_t l_rev = 0;
    CHECK_OK(etcd_sync_lease_grant(cli, 60, &l_rev));
    CHECK_OK(etcd_sync_put(cli, "lease/revoked/a", 15, "a", 1, l_rev, NULL));
    CHECK_OK(etcd_sync_put(cli, "lease/revoked/b", 15, "b", 1, l_rev, NULL));
    CHECK(key_exists("lease/revoked/a"));
    CHECK_OK(etcd_sync_lease_revoke(cli, l_rev));
    CHECK(!key_exists("lease/revoked/a") && !key_exists("lease/revoked/b"));
    /* A revoked lease: revoke again -ENOENT, attach a key -ENOENT. */
    CHECK_ERR(etcd_sync_lease_revoke(cli, l_rev), -ENOENT);
    CHECK_ERR(etcd_sync_put(cli, "lease/revoked/c", 15, "c", 1, l_rev, NULL), -ENOENT);
    t_log("revoke: ok");

    /* Keep-alive of a revoked lease: lost with -ENOENT (on the stream that
     * is already open for l_kept). The TTL given is 3 s, as if granted so. */
    lost_t rev_lost = {0};
    CHECK_OK(
        etcd_keepalive_start(etcd_sync_client(cli), l_rev, 3, on_lost, &rev_lost, &rev_lost.ka));
    uint64_t t = t_now_ms();
    CHECKF(t_pump_until(cli, lost_fired, &rev_lost, 5000), "lost callback did not run");
    CHECK(rev_lost.fired == 1 && rev_lost.err == -ENOENT && rev_lost.id == l_rev);
    t_log("lost(-ENOENT) after %llu ms", (unsigned long long)(t_now_ms() - t));
    /* Once only, and the other lease is unaffected. */
    t_pump(cli, 1200);
    CHECK(rev_lost.fired == 1 && kept_lost.fired == 0);
    etcd_keepalive_stop(rev_lost.ka);

    /* A fresh client whose first keep-alive is for a revoked lease: lost too
     * (this one opens the stream). */
    etcd_sync_t *c2 = t_client(srv);
    lost_t fresh_lost = {0};
    CHECK_OK(etcd_keepalive_start(etcd_sync_client(c2), l_rev, 30, on_lost, &fresh_lost,
                                  &fresh_lost.ka));
    CHECK(t_pump_until(c2, lost_fired, &fresh_lost, 5000));
    CHECK(fresh_lost.err == -ENOENT);
    etcd_keepalive_stop(fresh_lost.ka);

    /* Stopping a keep-alive does not revoke; the lease then expires. */
    etcd_keepalive_stop(kept_lost.ka);
    tr = ttl(l_kept, 0);
    CHECK(tr->ttl > 0);
    etcd_response_free(tr);
    CHECK_OK(etcd_sync_lease_revoke(cli, l_kept));
    CHECK(!key_exists("lease/kept"));

    /* Bad arguments. */
    CHECK_ERR(etcd_lease_grant(etcd_sync_client(cli), 0, 0, NULL, t_wait_cb, &w), -EINVAL);
    etcd_keepalive_t *ka = NULL;
    CHECK_ERR(etcd_keepalive_start(etcd_sync_client(cli), 1, 0, on_lost, NULL, &ka), -EINVAL);

    t_client_free(c2);
    t_client_free(cli);
    t_server_free(srv);
    t_log("test_lease: all passed");
    return 0;
}

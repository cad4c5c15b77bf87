/*
 * User/password authentication against a real etcd with auth enabled
 * (users and roles made with Debian's etcdctl): the right password works
 * for KV and watches; a wrong password, no user, and a user without the
 * permission get distinct, clear errors and write nothing; an expired
 * token (--auth-token-ttl=1) is refreshed without the caller noticing.
 */
#include <stdlib.h>

#include "etcd/watch.h"
#include "etcd_test.h"

static const char *ep;

static void etcdctl(const char *auth, const char *args)
{
    int rc = t_system("ETCDCTL_API=3 etcdctl --endpoints=%s %s%s %s >/dev/null 2>&1", ep,
                      auth ? "--user=" : "", auth ? auth : "", args);
    CHECKF(rc == 0, "etcdctl %s failed (%d)", args, rc);
}

typedef struct seen_s {
    int events, err;
} seen_t;

static void on_watch(etcd_watch_t *w, int err, int64_t revision, int64_t compact,
                     Mvccpb__Event *const *ev, size_t n, void *data)
{
    (void)w, (void)revision, (void)compact, (void)ev;
    seen_t *s = data;
    if (err)
        s->err = err;
    s->events += (int)n;
}

static int got_event(void *arg)
{
    return ((seen_t *)arg)->events > 0;
}

static void put_fails(const char *what, const char *user, const char *pw, const char *key, int want)
{
    etcd_sync_t *s = t_client_ex(&ep, 1, 2000, user, pw);
    int err = etcd_sync_put(s, key, strlen(key), "v", 1, 0, NULL);
    CHECKF(err == want, "%s: put returned %d (%s), expected %d (%s): %s", what, err,
           etcd_strerror(err), want, etcd_strerror(want), etcd_sync_error(s));
    CHECKF(etcd_sync_error(s)[0] != '\0', "%s: no message", what);
    t_log("%s: %s: %s", what, etcd_strerror(err), etcd_sync_error(s));
    t_client_free(s);
}

int main(void)
{
    /* Simple tokens that expire after 1 s without use. */
    const char *args[] = {"--auth-token=simple", "--auth-token-ttl=1", NULL};
    etcd_server_t *srv = t_server_start(args);
    ep = etcd_server_endpoint(srv);

    etcdctl(NULL, "user add root --new-user-password=rootpw");
    etcdctl(NULL, "user add reader --new-user-password=readerpw");
    etcdctl(NULL, "role add ro");
    etcdctl(NULL, "role grant-permission ro read /pub/ --prefix=true");
    etcdctl(NULL, "user grant-role reader ro");
    etcdctl(NULL, "auth enable");

    /* The right password: KV and watch. */
    etcd_sync_t *root = t_client_ex(&ep, 1, 5000, "root", "rootpw");
    int64_t rev = 0;
    CHECK_OK(etcd_sync_put(root, "/pub/a", 6, "1", 1, 0, &rev));
    seen_t seen = {0};
    etcd_watch_opts_t wo = {.key = "/pub/", .key_len = 5, .prefix = 1, .start_revision = rev};
    etcd_watch_t *w = NULL;
    CHECK_OK(etcd_watch_start(etcd_sync_client(root), &wo, on_watch, &seen, &w));
    CHECK(t_pump_until(root, got_event, &seen, 5000));
    CHECKF(seen.err == 0 && seen.events == 1, "watch with auth: err %d, %d events", seen.err,
           seen.events);
    etcd_watch_stop(w);
    t_log("root: put and watch ok");

    /* Refused callers, each with its own error, and nothing written. */
    put_fails("wrong password", "root", "nope", "/pub/wrong", -EACCES);
    put_fails("no user", NULL, NULL, "/pub/anon", -EACCES);
    put_fails("unknown user", "ghost", "x", "/pub/ghost", -EACCES);
    put_fails("read-only user writes", "reader", "readerpw", "/pub/ro", -EPERM);
    {
        etcd_sync_t *r = t_client_ex(&ep, 1, 2000, "reader", "readerpw");
        Mvccpb__KeyValue *kv = NULL;
        CHECK_OK(etcd_sync_get(r, "/pub/a", 6, &kv));
        CHECK(kv->value.len == 1 && kv->value.data[0] == '1');
        etcd_response_free(kv);
        CHECK_ERR(etcd_sync_get(r, "/priv", 5, &kv), -EPERM);
        t_client_free(r);
    }
    Etcdserverpb__RangeRequest all = {0};
    etcdserverpb__range_request__init(&all);
    all.key.data = (uint8_t *)"/pub/";
    all.key.len = 5;
    all.range_end.data = (uint8_t *)"/pub0";
    all.range_end.len = 5;
    all.count_only = 1;
    Etcdserverpb__RangeResponse *rr = NULL;
    CHECK_OK(etcd_sync_range(root, &all, &rr));
    CHECKF(rr->count == 1, "refused puts wrote something: %lld keys under /pub/",
           (long long)rr->count);
    etcd_response_free(rr);

    /* The token expires after 1 s idle; the next call fetches a new one. */
    for (int i = 0; i < 2; i++) {
        t_sleep_ms(2500);
        CHECK_OK(etcd_sync_put(root, "/pub/after-expiry", 17, "x", 1, 0, NULL));
    }
    t_log("token refreshed after expiry");

    t_client_free(root);
    t_server_free(srv);
    t_log("test_auth: all passed");
    return 0;
}

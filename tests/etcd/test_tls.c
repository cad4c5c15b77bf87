/*
 * TLS against a real etcd that serves clients over TLS only and requires
 * client certificates (the harness makes a throw-away CA with openssl):
 * with CA + client certificate every call works (https:// endpoint, or a
 * bare host:port with ca_file); without a client certificate, with plain
 * text, or trusting another CA, calls fail with an error within their
 * deadline; an unreadable PEM file is refused at configuration time.
 */
#include <stdlib.h>

#include "etcd/watch.h"
#include "etcd_test.h"

typedef struct tls_files_s {
    char ca[512], cert[512], key[512];
} tls_files_t;

static etcd_server_t *start_tls(tls_files_t *f)
{
    etcd_server_opts_t o = {.tls = 1};
    etcd_server_t *srv = t_server_start_opts(&o);
    snprintf(f->ca, sizeof f->ca, "%s", etcd_server_tls_file(srv, "ca.pem"));
    snprintf(f->cert, sizeof f->cert, "%s", etcd_server_tls_file(srv, "client.pem"));
    snprintf(f->key, sizeof f->key, "%s", etcd_server_tls_file(srv, "client.key"));
    return srv;
}

typedef struct seen_s {
    int events;
    int64_t rev;
} seen_t;

static void on_watch(etcd_watch_t *w, int err, int64_t revision, int64_t compact,
                     Mvccpb__Event *const *ev, size_t n, void *data)
{
    (void)w, (void)revision, (void)compact, (void)ev;
    seen_t *s = data;
    CHECKF(err == 0, "watch over TLS ended with %d (%s)", err, etcd_strerror(err));
    s->events += (int)n;
    if (n)
        s->rev = ev[n - 1]->kv->mod_revision;
}

static int got_event(void *arg)
{
    return ((seen_t *)arg)->events > 0;
}

/* Put, get and a watched put over a client with the full TLS setup. */
static void works(const char *endpoint, const tls_files_t *f)
{
    const char *eps[] = {endpoint};
    etcd_config_t cfg = {.endpoints = eps,
                         .n_endpoints = 1,
                         .ca_file = f->ca,
                         .cert_file = f->cert,
                         .key_file = f->key,
                         .request_timeout_ms = 5000};
    etcd_sync_t *s = t_client_cfg(&cfg);
    int64_t rev = 0;
    CHECK_OK(etcd_sync_put(s, "tls/a", 5, "secret", 6, 0, &rev));
    Mvccpb__KeyValue *kv = NULL;
    CHECK_OK(etcd_sync_get(s, "tls/a", 5, &kv));
    CHECK(kv->value.len == 6 && memcmp(kv->value.data, "secret", 6) == 0);
    CHECK(kv->mod_revision == rev);
    etcd_response_free(kv);

    seen_t seen = {0};
    etcd_watch_opts_t wo = {.key = "tls/", .key_len = 4, .prefix = 1, .start_revision = rev + 1};
    etcd_watch_t *w = NULL;
    CHECK_OK(etcd_watch_start(etcd_sync_client(s), &wo, on_watch, &seen, &w));
    int64_t rev2 = 0;
    CHECK_OK(etcd_sync_put(s, "tls/b", 5, "x", 1, 0, &rev2));
    CHECK(t_pump_until(s, got_event, &seen, 5000));
    CHECK(seen.events == 1 && seen.rev == rev2);
    etcd_watch_stop(w);
    t_client_free(s);
    t_log("%s with CA and client certificate: put, get, watch ok", endpoint);
}

/* Every call fails, with a message, within about its deadline. */
static void fails(const char *what, const char *endpoint, const char *ca, const char *cert,
                  const char *key)
{
    const char *eps[] = {endpoint};
    etcd_config_t cfg = {.endpoints = eps,
                         .n_endpoints = 1,
                         .ca_file = ca,
                         .cert_file = cert,
                         .key_file = key,
                         .request_timeout_ms = 1500,
                         .backoff_min_ms = 50,
                         .backoff_max_ms = 200};
    etcd_sync_t *s = t_client_cfg(&cfg);
    for (int i = 0; i < 2; i++) {
        uint64_t t0 = t_now_ms();
        int err = etcd_sync_put(s, "tls/no", 6, "v", 1, 0, NULL);
        uint64_t ms = t_now_ms() - t0;
        CHECKF(err == -ENOTCONN || err == -ETIMEDOUT || err == -EIO, "%s: put returned %d (%s)",
               what, err, etcd_strerror(err));
        CHECKF(ms < 3000, "%s: the failure took %llu ms", what, (unsigned long long)ms);
        CHECKF(etcd_sync_error(s)[0] != '\0', "%s: no error message", what);
        if (i == 0)
            t_log("%s: %d (%s) in %llu ms: %s", what, err, etcd_strerror(err),
                  (unsigned long long)ms, etcd_sync_error(s));
    }
    t_client_free(s);
}

int main(void)
{
    tls_files_t f, other;
    etcd_server_t *srv = start_tls(&f);
    /* A second CA that did not sign the server's certificate. */
    etcd_server_t *srv2 = start_tls(&other);

    const char *hostport = etcd_server_endpoint(srv);
    const char *url = etcd_server_client_url(srv);
    CHECK(strncmp(url, "https://", 8) == 0);

    works(url, &f);
    works(hostport, &f); /* TLS implied by ca_file */

    fails("no client certificate", url, f.ca, NULL, NULL);
    fails("server not signed by the trusted CA", url, other.ca, other.cert, other.key);
    {
        /* Plain text to a TLS port. */
        const char *eps[] = {hostport};
        etcd_sync_t *s = t_client_ex(eps, 1, 1500, NULL, NULL);
        int err = etcd_sync_put(s, "tls/no", 6, "v", 1, 0, NULL);
        CHECKF(err != 0, "plaintext put to a TLS-only etcd succeeded");
        t_log("plaintext to TLS port: %d (%s)", err, etcd_strerror(err));
        t_client_free(s);
    }

    /* Unreadable PEM files are a configuration error, found at once. */
    const char *eps[] = {url};
    etcd_config_t bad = {.endpoints = eps, .n_endpoints = 1, .ca_file = "/nonexistent/ca.pem"};
    etcd_sync_t *s = NULL;
    CHECK_ERR(etcd_sync_new(&bad, &s), -EINVAL);
    bad.ca_file = f.ca;
    bad.cert_file = f.cert; /* a certificate without its key */
    CHECK_ERR(etcd_sync_new(&bad, &s), -EINVAL);

    /* Nothing of the failed attempts was written. */
    works(url, &f);
    {
        const char *e2[] = {url};
        etcd_config_t cfg = {.endpoints = e2,
                             .n_endpoints = 1,
                             .ca_file = f.ca,
                             .cert_file = f.cert,
                             .key_file = f.key};
        etcd_sync_t *c = t_client_cfg(&cfg);
        Mvccpb__KeyValue *kv = NULL;
        CHECK_ERR(etcd_sync_get(c, "tls/no", 6, &kv), -ENOENT);
        t_client_free(c);
    }
    t_server_free(srv2);
    t_server_free(srv);
    t_log("test_tls: all passed");
    return 0;
}

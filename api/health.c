/* GET /healthz: see health.h. */
#include "api/health.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/maint.h"
#include "common/log.h"

#define DEFAULT_PROBE_TIMEOUT_MS 2000u
#define DEFAULT_CACHE_MS 1000u

typedef struct waiter_s {
    health_cb fn;
    void *data;
    struct waiter_s *next;
} waiter_t;

static const char *const matchbox_paths[] = {"/", "/boot.ipxe", "/boot.ipxe.0", "/assets",
                                             "/metadata"};
#define N_PATHS (sizeof matchbox_paths / sizeof matchbox_paths[0])

struct health_s {
    uv_loop_t *loop;
    etcd_client_t *client;
    http_client_t *matchbox;
    char matchbox_uri[256];
    int pending; /* probes of the current round still out */
    int path_ok[N_PATHS];
    int ipxe_ok, ignition_ok;
    unsigned probe_timeout_ms;
    unsigned cache_ms;

    int probing;
    waiter_t *waiters;

    int have_result;
    int etcd_ok;
    uint64_t result_ms; /* uv_now() of the last result */
    int logged_state;   /* -1 unknown, else the last logged etcd_ok */
    char leader[256];
    int is_leader, leadership_known;
    void (*leader_fn)(char *out, size_t size, void *data);
    void *leader_data;
};

/* The leader as the controller said, or as the election keys say; false
 * when nobody knows (no controller here, no candidate anywhere). */
static bool leadership(health_t *h)
{
    if (h->leadership_known)
        return true;
    *h->leader = 0;
    h->is_leader = 0;
    if (h->leader_fn)
        h->leader_fn(h->leader, sizeof h->leader, h->leader_data);
    return *h->leader != 0;
}

static void respond(health_t *h, void *data)
{
    http_request_t *req = data;
    int ok = h->etcd_ok;
    json_t *body = json_pack("{s:b, s:b, s:b}", "etcd", ok, "db", ok, "flask", 1);
    if (h->matchbox) {
        json_t *m = json_object();
        for (size_t i = 0; i < N_PATHS; i++) {
            json_object_set_new(m, matchbox_paths[i], json_boolean(h->path_ok[i]));
            ok &= h->path_ok[i];
        }
        ok &= h->ipxe_ok && h->ignition_ok;
        json_object_set_new(body, "matchbox", m);
        json_object_set_new(
            body, "discovery",
            json_pack("{s:b, s:b}", "ipxe", h->ipxe_ok, "ignition", h->ignition_ok));
    }
    json_object_set_new(body, "global", json_boolean(ok));
    if (leadership(h)) {
        json_object_set_new(body, "leader", json_string(h->leader));
        json_object_set_new(body, "is_leader", json_boolean(h->is_leader));
    }
    http_request_add_header(req, "Access-Control-Allow-Origin", "*");
    http_request_add_header(req, "Cache-Control", "no-store");
    http_request_respond_json(req, ok ? 200 : 503, body);
}

static void round_done(health_t *h);

static void record(health_t *h, int ok, int err, const char *why)
{
    h->etcd_ok = ok;
    h->result_ms = uv_now(h->loop);
    if (h->logged_state != ok) {
        char q[256];
        if (ok) {
            log_info("etcd is healthy", "endpoint=%s",
                     h->client != NULL ? etcd_client_endpoint(h->client) : "-");
        } else {
            log_warn("etcd is unhealthy", "error=%d reason=%s", err, log_quote(why, q, sizeof q));
        }
        h->logged_state = ok;
    }
    round_done(h);
}

/* Every probe of the round is in: answer the waiters. */
static void round_done(health_t *h)
{
    if (--h->pending > 0)
        return;
    h->probing = 0;
    h->have_result = 1;
    h->result_ms = uv_now(h->loop);
    waiter_t *w = h->waiters;
    h->waiters = NULL;
    while (w != NULL) {
        waiter_t *next = w->next;
        w->fn(h, w->data);
        free(w);
        w = next;
    }
}

static void on_status(const etcd_result_t *res, void *data)
{
    health_t *h = data;
    if (res->err != 0) {
        record(h, 0, res->err, res->message[0] != '\0' ? res->message : etcd_strerror(res->err));
        return;
    }
    const Etcdserverpb__StatusResponse *st = res->response;
    if (st == NULL) {
        record(h, 0, -EIO, "empty status response");
    } else if (st->leader == 0) {
        record(h, 0, 0, "no leader");
    } else if (st->n_errors > 0) {
        record(h, 0, 0, st->errors[0]);
    } else {
        record(h, 1, 0, "");
    }
}

typedef struct probe_s {
    health_t *h;
    int *ok;
    int kind; /* 0 any answer, 1 status 200, 2 status 200 with JSON */
} probe_t;

static void probe_done(const http_response_t *res, void *data)
{
    probe_t *p = data;
    int ok = res->err == 0;
    if (ok && p->kind >= 1)
        ok = res->status == 200;
    if (ok && p->kind == 2) {
        json_t *j = json_loadb(res->body, res->body_len, 0, NULL);
        ok = j != NULL;
        json_decref(j);
    }
    *p->ok = ok;
    health_t *h = p->h;
    free(p);
    round_done(h);
}

static void probe(health_t *h, const char *path, int *ok, int kind)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", h->matchbox_uri, path);
    probe_t *p = malloc(sizeof(*p));
    http_client_req_t r = {.url = url, .timeout_ms = h->probe_timeout_ms};
    *ok = 0;
    if (p) {
        *p = (probe_t){h, ok, kind};
        if (http_client_request(h->matchbox, &r, probe_done, p, NULL) == 0) {
            h->pending++;
            return;
        }
        free(p);
    }
}

/* The original's probes of matchbox, all at once, each with a timeout. */
static void probe_matchbox(health_t *h)
{
    for (size_t i = 0; i < N_PATHS; i++)
        probe(h, matchbox_paths[i], &h->path_ok[i], 0);
    probe(h, "/ipxe", &h->ipxe_ok, 1);
    probe(h, "/ignition?mac=00-00-00-00-00-00", &h->ignition_ok, 2);
}

int health_check(health_t *h, health_cb fn, void *data)
{
    if (!h->probing && h->have_result && uv_now(h->loop) - h->result_ms < h->cache_ms) {
        fn(h, data);
        return 0;
    }
    waiter_t *w = malloc(sizeof *w);
    if (w == NULL)
        return -ENOMEM;
    *w = (waiter_t){fn, data, h->waiters};
    h->waiters = w;
    if (h->probing)
        return 0;
    etcd_call_opts_t opts = {.timeout_ms = h->probe_timeout_ms};
    h->probing = 1;
    h->pending = 1;
    if (h->matchbox)
        probe_matchbox(h);
    int rc = etcd_maint_status(h->client, &opts, on_status, h);
    if (rc != 0)
        record(h, 0, rc, etcd_strerror(rc));
    return 0;
}

void health_handle_healthz(http_request_t *req, void *data)
{
    if (health_check(data, respond, req) != 0)
        http_request_respond_error(req, 500, "out of memory");
}

int health_etcd_ok(const health_t *h)
{
    return h->etcd_ok;
}

int health_matchbox_ok(const health_t *h)
{
    if (!h->matchbox)
        return 1;
    int ok = h->ipxe_ok && h->ignition_ok;
    for (size_t i = 0; i < N_PATHS; i++)
        ok &= h->path_ok[i];
    return ok;
}

const char *health_leader(health_t *h, int *is_leader)
{
    leadership(h);
    *is_leader = h->is_leader;
    return h->leader;
}

int health_new(uv_loop_t *loop, etcd_client_t *client, const health_config_t *cfg, health_t **out)
{
    *out = NULL;
    health_t *h = calloc(1, sizeof *h);
    if (h == NULL) {
        return -ENOMEM;
    }
    h->loop = loop;
    h->client = client;
    if (cfg != NULL && cfg->matchbox != NULL && cfg->matchbox_uri != NULL) {
        h->matchbox = cfg->matchbox;
        snprintf(h->matchbox_uri, sizeof h->matchbox_uri, "%s", cfg->matchbox_uri);
    }
    h->probe_timeout_ms =
        cfg != NULL && cfg->probe_timeout_ms ? cfg->probe_timeout_ms : DEFAULT_PROBE_TIMEOUT_MS;
    h->cache_ms = cfg != NULL && cfg->cache_ms ? cfg->cache_ms : DEFAULT_CACHE_MS;
    h->logged_state = -1;
    if (cfg != NULL) {
        h->leader_fn = cfg->leader;
        h->leader_data = cfg->leader_data;
    }
    *out = h;
    return 0;
}

void health_set_leadership(health_t *h, const char *leader, int is_leader)
{
    snprintf(h->leader, sizeof h->leader, "%s", leader ? leader : "");
    h->is_leader = is_leader;
    h->leadership_known = 1;
}

void health_free(health_t *h)
{
    if (h == NULL) {
        return;
    }
    /* A pending probe would call back into freed memory: answer its waiters
     * and refuse. The owner closes the client first, so this stays empty. */
    if (h->probing) {
        log_error("health freed with a probe pending", "waiters=%d", h->waiters != NULL);
    }
    waiter_t *w = h->waiters;
    while (w != NULL) {
        waiter_t *next = w->next;
        h->etcd_ok = 0; /* what the waiter learns: not healthy */
        w->fn(h, w->data);
        free(w);
        w = next;
    }
    free(h);
}

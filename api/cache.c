/* The API's cache of etcd. See cache.h. */
#include "api/cache.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* Kinds read rarely or by one reader, kept only as the mirror's bytes and
 * parsed when read: journals (big), events (many, read by GET /events),
 * allocations (read by the sync, a few per pass). Parsed, they took more
 * than a third of a replica's memory at 10,000 machines. */
static const char *const raw_kinds[] = {"journals/", "events/", "allocations/"};

bool api_cache_kept_raw(const api_cache_t *c, const char *key)
{
    size_t plen = strlen(c->prefix);
    if (strncmp(key, c->prefix, plen) != 0)
        return false;
    for (size_t i = 0; i < sizeof raw_kinds / sizeof *raw_kinds; i++)
        if (strncmp(key + plen, raw_kinds[i], strlen(raw_kinds[i])) == 0)
            return true;
    return false;
}

static void notify(api_cache_t *c, const char *key, const etcd_mirror_event_t *ev)
{
    if (c->changed)
        c->changed(key, c->changed_data);
    if (c->observe)
        c->observe(key, ev->revision, ev->type == ETCD_MIRROR_DELETE, c->observe_data);
}

static void on_change(etcd_mirror_t *m, const etcd_mirror_event_t *ev, void *data)
{
    (void)m;
    api_cache_t *c = data;
    /* Keys are text here (our own layout); one with a NUL is not ours. */
    if (memchr(ev->key, 0, ev->key_len))
        return;
    const char *key = (const char *)ev->key;
    if (ev->type == ETCD_MIRROR_DELETE) {
        json_object_del(c->values, key);
        notify(c, key, ev);
        return;
    }
    if (api_cache_kept_raw(c, key)) {
        notify(c, key, ev);
        return;
    }
    json_t *v = json_loadb((const char *)ev->entry->value, ev->entry->value_len, 0, NULL);
    if (!v && strncmp(key + strlen(c->prefix), "election/", 9) == 0)
        return; /* candidates' values are replica names, not records */
    if (!v) {
        char q[256];
        log_warn("cache: a value is not JSON; ignored", "key=%s", log_quote(key, q, sizeof q));
        json_object_del(c->values, key);
        return;
    }
    json_object_set_new(c->values, key, v);
    notify(c, key, ev);
}

static void on_synced(etcd_mirror_t *m, int64_t revision, void *data)
{
    api_cache_t *c = data;
    log_info("cache: synced", "revision=%lld keys=%zu", (long long)revision, etcd_mirror_count(m));
#ifdef __GLIBC__
    /* The initial list arrived as one big response, parsed and copied:
     * give the pages it leaves free back to the system. */
    malloc_trim(0);
#endif
    if (c->changed)
        c->changed("", c->changed_data);
    if (c->observe_synced)
        c->observe_synced(revision, c->observe_data);
}

static void on_error(etcd_mirror_t *m, int err, const char *message, void *data)
{
    (void)m, (void)data;
    char q[256];
    log_warn("cache: etcd", "err=%d message=%s", err, log_quote(message, q, sizeof q));
}

int api_cache_start(api_cache_t *c, etcd_client_t *etcd, const char *prefix)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->prefix, sizeof c->prefix, "%s", prefix);
    c->wait_ms = 2000;
    c->values = json_object();
    if (!c->values)
        return -ENOMEM;
    etcd_mirror_opts_t o = {.prefix = prefix, .prefix_len = strlen(prefix)};
    etcd_mirror_callbacks_t cbs = {on_change, on_synced, on_error};
    int rc = etcd_mirror_start(etcd, &o, &cbs, c, &c->mirror);
    if (rc) {
        json_decref(c->values);
        c->values = NULL;
    }
    return rc;
}

void api_cache_stop(api_cache_t *c)
{
    etcd_mirror_stop(c->mirror);
    c->mirror = NULL;
    json_decref(c->values);
    c->values = NULL;
}

void api_cache_wrote(api_cache_t *c, int64_t revision)
{
    if (revision > c->last_write)
        c->last_write = revision;
}

int api_cache_peek(void *data, const char *key, const char **value, size_t *len, int64_t *mod_rev,
                   int64_t *create_rev)
{
    api_cache_t *c = data;
    if (!c->mirror || !etcd_mirror_synced(c->mirror))
        return 0;
    const etcd_mirror_entry_t *e = etcd_mirror_get(c->mirror, key, strlen(key));
    if (!e)
        return 0;
    *value = (const char *)e->value;
    *len = e->value_len;
    *mod_rev = e->mod_revision;
    *create_rev = e->create_revision;
    return 1;
}

int64_t api_cache_revision(const api_cache_t *c)
{
    return c->mirror ? etcd_mirror_revision(c->mirror) : 0;
}

int api_cache_wait(api_cache_t *c, int64_t revision, unsigned timeout_ms, etcd_mirror_wait_cb cb,
                   void *data)
{
    return c->mirror ? etcd_mirror_wait(c->mirror, revision, timeout_ms, cb, data) : -ECANCELED;
}

/* "<prefix><kind><id>" into key (512 bytes); its length, or 0. */
static size_t full_key(const api_cache_t *c, const char *kind, const char *id, char key[512])
{
    /* Reconcilers call this for every machine of a pass: no printf. */
    size_t p = strlen(c->prefix), k = strlen(kind), i = strlen(id);
    if (p + k + i >= 512)
        return 0;
    memcpy(key, c->prefix, p);
    memcpy(key + p, kind, k);
    memcpy(key + p + k, id, i + 1);
    return p + k + i;
}

json_t *api_cache_get(api_cache_t *c, const char *kind, const char *id)
{
    char key[512];
    size_t n = full_key(c, kind, id, key);
    return n ? json_object_getn(c->values, key, n) : NULL;
}

json_t *api_cache_load(api_cache_t *c, const char *kind, const char *id)
{
    char key[512];
    size_t n = full_key(c, kind, id, key);
    json_t *v = n ? json_object_getn(c->values, key, n) : NULL;
    if (v || !n || !c->mirror)
        return json_incref(v);
    const etcd_mirror_entry_t *e = etcd_mirror_get(c->mirror, key, n);
    return e ? json_loadb((const char *)e->value, e->value_len, 0, NULL) : NULL;
}

bool api_cache_has(api_cache_t *c, const char *kind, const char *id)
{
    char key[512];
    size_t n = full_key(c, kind, id, key);
    return n && c->mirror && etcd_mirror_get(c->mirror, key, n) != NULL;
}

typedef struct visit_s {
    api_cache_t *c;
    size_t skip;
    api_cache_visit_fn fn;
    void *arg;
} visit_t;

static int visit(const etcd_mirror_entry_t *e, void *arg)
{
    visit_t *v = arg;
    json_t *value = json_object_get(v->c->values, (const char *)e->key);
    if (value)
        return v->fn((const char *)e->key + v->skip, value, v->arg);
    /* Not kept parsed (journals): parse for this walk only. */
    json_t *tmp = json_loadb((const char *)e->value, e->value_len, 0, NULL);
    int rc = tmp ? v->fn((const char *)e->key + v->skip, tmp, v->arg) : 0;
    json_decref(tmp);
    return rc;
}

int api_cache_foreach(api_cache_t *c, const char *kind, api_cache_visit_fn fn, void *arg)
{
    char prefix[512];
    int n = snprintf(prefix, sizeof prefix, "%s%s", c->prefix, kind);
    if (n < 0 || n >= (int)sizeof prefix || !c->mirror)
        return -EINVAL;
    visit_t v = {c, (size_t)n, fn, arg};
    return etcd_mirror_foreach_prefix(c->mirror, prefix, (size_t)n, visit, &v);
}

int api_cache_foreach_after(api_cache_t *c, const char *kind, const char *after,
                            api_cache_visit_fn fn, void *arg)
{
    if (!after || !*after)
        return api_cache_foreach(c, kind, fn, arg);
    char prefix[512], from[1024];
    int n = snprintf(prefix, sizeof prefix, "%s%s", c->prefix, kind);
    int m = snprintf(from, sizeof from, "%s%s", prefix, after);
    if (n < 0 || n >= (int)sizeof prefix || m < 0 || m >= (int)sizeof from || !c->mirror)
        return -EINVAL;
    visit_t v = {c, (size_t)n, fn, arg};
    return etcd_mirror_foreach_after(c->mirror, prefix, (size_t)n, from, (size_t)m, visit, &v);
}

typedef struct pending_read_s {
    http_request_t *req;
    http_handler_fn handler;
    void *data;
} pending_read_t;

static void read_ready(etcd_mirror_t *m, int err, void *arg)
{
    (void)m;
    pending_read_t *p = arg;
    if (err) {
        http_request_add_header(p->req, "Retry-After", "1");
        http_request_respond_error(p->req, 503,
                                   err == -ETIMEDOUT
                                       ? "the cache has not caught up with etcd yet; retry"
                                       : "shutting down");
    } else {
        p->handler(p->req, p->data);
    }
    free(p);
}

void api_cache_read(api_cache_t *c, http_request_t *req, http_handler_fn handler, void *data)
{
    int64_t want = c->last_write;
    const char *h = http_request_header(req, "X-Etcd-Revision");
    if (h) {
        char *end = NULL;
        long long r = strtoll(h, &end, 10);
        if (*h == '\0' || *end != '\0' || r < 0) {
            http_request_respond_error(req, 400, "X-Etcd-Revision must be a revision number");
            return;
        }
        if (r > want)
            want = r;
    }
    if (!c->mirror) {
        http_request_add_header(req, "Retry-After", "1");
        http_request_respond_error(req, 503, "shutting down");
        return;
    }
    /* Fast path: fresh enough, no allocation. */
    if (etcd_mirror_synced(c->mirror) && etcd_mirror_revision(c->mirror) >= want) {
        handler(req, data);
        return;
    }
    pending_read_t *p = malloc(sizeof(*p));
    if (!p) {
        http_request_respond_error(req, 500, "out of memory");
        return;
    }
    *p = (pending_read_t){req, handler, data};
    /* Revision 1 at least: an unsynced mirror is at 0. */
    int rc = etcd_mirror_wait(c->mirror, want > 0 ? want : 1, c->wait_ms, read_ready, p);
    if (rc) {
        free(p);
        http_request_add_header(req, "Retry-After", "1");
        http_request_respond_error(req, 503, "the cache is not available");
    }
}

typedef struct oldest_s {
    const etcd_mirror_entry_t *e;
} oldest_t;

static int keep_oldest(const etcd_mirror_entry_t *e, void *arg)
{
    oldest_t *o = arg;
    if (!o->e || e->create_revision < o->e->create_revision)
        o->e = e;
    return 0;
}

void api_cache_oldest(api_cache_t *c, const char *kind, char *out, size_t size)
{
    char prefix[512];
    oldest_t o = {NULL};
    *out = 0;
    snprintf(prefix, sizeof prefix, "%s%s", c->prefix, kind);
    if (c->mirror)
        etcd_mirror_foreach_prefix(c->mirror, prefix, strlen(prefix), keep_oldest, &o);
    if (o.e)
        snprintf(out, size, "%.*s", (int)o.e->value_len, (const char *)o.e->value);
}

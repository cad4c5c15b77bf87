/*
 * The API's read side: an etcd mirror (etcd/mirror.h) of everything under
 * the prefix, with each value parsed once, when it changes, so that a GET
 * never waits on etcd and never re-parses what did not change (but for a
 * few kinds read rarely, kept as bytes: api_cache_load()).
 *
 * Read-your-writes: every write of this replica records its commit
 * revision (api_cache_wrote); a GET first waits (bounded) until the mirror
 * has reached the highest such revision, or the one a client names in an
 * "X-Etcd-Revision" request header (after writing through another
 * replica). A read that cannot catch up in time answers 503.
 *
 * Loop thread only.
 */
#ifndef ENJ_API_CACHE_H
#define ENJ_API_CACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/http_server.h"
#include "etcd/mirror.h"

typedef struct api_s api_t;

typedef struct api_cache_s {
    etcd_mirror_t *mirror;
    json_t *values;     /* full key -> parsed value (NULL values skipped) */
    int64_t last_write; /* highest revision written by this replica */
    unsigned wait_ms;   /* read-your-writes bound; 2000 by default */
    char prefix[128];
    /* One subscriber (the controller): told of every changed key (after
     * the cache has applied it) and of every (re)sync. */
    void (*changed)(const char *key, void *data);
    void *changed_data;
    /* A second one (the gRPC watches' hub): each change with its revision
     * (a delete's; a put's mod revision), and each (re)sync's revision. */
    void (*observe)(const char *key, int64_t revision, bool deleted, void *data);
    void (*observe_synced)(int64_t revision, void *data);
    void *observe_data;
} api_cache_t;

int api_cache_start(api_cache_t *c, etcd_client_t *etcd, const char *prefix);
/* Stops the mirror (pending reads answer 503). Before the client closes. */
void api_cache_stop(api_cache_t *c);

void api_cache_wrote(api_cache_t *c, int64_t revision);

/* A model_store_t.peek over the mirror (data = the api_cache_t). */
int api_cache_peek(void *data, const char *key, const char **value, size_t *len, int64_t *mod_rev,
                   int64_t *create_rev);

/* The mirror's revision (0 before the first sync). */
int64_t api_cache_revision(const api_cache_t *c);
/* Calls cb(0) once the cache has reached revision (see etcd_mirror_wait). */
int api_cache_wait(api_cache_t *c, int64_t revision, unsigned timeout_ms, etcd_mirror_wait_cb cb,
                   void *data);

/* The parsed value of "<prefix><kind><id>", borrowed, or NULL (also for
 * the kinds kept raw: see api_cache_load()). */
json_t *api_cache_get(api_cache_t *c, const char *kind, const char *id);

/* Keys of a few kinds are kept as bytes only and parsed when read
 * (journals/, events/, allocations/): is key one of them? */
bool api_cache_kept_raw(const api_cache_t *c, const char *key);

/* The value of "<prefix><kind><id>" whatever its kind: a new reference
 * (parsed now for the kinds kept raw), or NULL. */
json_t *api_cache_load(api_cache_t *c, const char *kind, const char *id);

/* Is "<prefix><kind><id>" there (any kind)? */
bool api_cache_has(api_cache_t *c, const char *kind, const char *id);

/* Calls fn for every key "<prefix><kind>..." in key order with the id
 * part and the parsed value; fn returns non-zero to stop. */
typedef int (*api_cache_visit_fn)(const char *id, json_t *value, void *arg);
int api_cache_foreach(api_cache_t *c, const char *kind, api_cache_visit_fn fn, void *arg);

/* api_cache_foreach from the first id strictly after `after` ("" or NULL:
 * from the start), in O(log n) to get there. */
int api_cache_foreach_after(api_cache_t *c, const char *kind, const char *after,
                            api_cache_visit_fn fn, void *arg);

/* The value of the key of "<prefix><kind>..." created first (lowest
 * create revision: an election's leader), copied into out ("" when there
 * is none). */
void api_cache_oldest(api_cache_t *c, const char *kind, char *out, size_t size);

/* Runs handler(req, data) once the cache is fresh enough for req (see
 * above), or answers 503 itself. */
void api_cache_read(api_cache_t *c, http_request_t *req, http_handler_fn handler, void *data);

#endif

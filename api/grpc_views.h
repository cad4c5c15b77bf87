/*
 * The gRPC API's messages (proto/enjoliver/v1) built from the cache.
 *
 * Messages are built to be packed at once: their strings point into the
 * cache's values (valid until control returns to the loop) and everything
 * else — sub-messages, arrays — comes from an arena freed in one go after
 * packing.
 */
#ifndef ENJ_GRPC_VIEWS_H
#define ENJ_GRPC_VIEWS_H

#include <jansson.h>

#include "api/api_internal.h"
#include "enjoliver/v1/enjoliver.pb-c.h"

typedef struct gv_arena_s {
    void **blocks;
    size_t n, cap;
    int failed; /* an allocation failed: the message is incomplete */
} gv_arena_t;

/* Zeroed memory that lives until gv_arena_free; NULL (and a->failed) when
 * memory runs out. */
void *gv_alloc(gv_arena_t *a, size_t size);
/* A copy of s in the arena ("" when out of memory). */
char *gv_strdup(gv_arena_t *a, const char *s);
void gv_arena_free(gv_arena_t *a);

/* Role bits (model_role_t) <-> the proto's enum. */
unsigned gv_role_bit(Enjoliver__V1__Role r);
/* Fills roles/n from bits, in enum order. */
void gv_roles(gv_arena_t *a, unsigned bits, Enjoliver__V1__Role **roles, size_t *n);

/* The machine of a "machines/<uuid>" record with what the other keys say
 * of it (roles, state, rolling, ignition, slot). */
Enjoliver__V1__Machine *gv_machine(api_t *api, json_t *record, gv_arena_t *a);
/* The record of the machine that owns mac (any of its MACs), or NULL. */
json_t *gv_machine_by_mac(api_t *api, const char *mac);
/* The roles given to a boot MAC (0: none). */
unsigned gv_roles_of(api_t *api, const char *boot_mac);

/* An event record ("events/<id>") at its key's mod revision. */
Enjoliver__V1__Event *gv_event(json_t *record, int64_t revision, gv_arena_t *a);

/* The mod revision of "<prefix><kind><id>" in the cache (0: absent);
 * create_rev (may be NULL) gets its create revision. */
int64_t gv_revision(api_t *api, const char *kind, const char *id, int64_t *create_rev);

/* A stored RFC 3339 date as Unix ms (0 when absent or malformed). */
int64_t gv_date_ms(json_t *date);
/* The JSON string's text, or "" (never NULL). */
char *gv_str(json_t *s);

#endif

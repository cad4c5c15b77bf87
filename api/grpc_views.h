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

/*
 * Packed machines: a machine's Machine message is packed once and kept
 * until one of its keys changes (gv_machine_forget, called by the watch
 * hub, which hears every change), so that Get, List and watch snapshots
 * copy bytes instead of building messages.
 */
typedef struct gv_packed_s gv_packed_t;
/* The packed Machine of record (a "machines/<uuid>" record); NULL when
 * memory runs out. Valid until the loop runs again or the machine is
 * forgotten. */
const uint8_t *gv_machine_packed(api_t *api, json_t *record, size_t *len);
void gv_machine_forget(api_t *api, const char *uuid);
void gv_packed_free(api_t *api);

/* Protobuf wire encoding into a growing buffer, for answers built from
 * packed parts. */
typedef struct gv_buf_s {
    uint8_t *data;
    size_t len, cap;
    int failed;
} gv_buf_t;
void gv_put_bytes(gv_buf_t *b, unsigned field, const void *data, size_t len); /* length-delimited */
void gv_put_varint(gv_buf_t *b, unsigned field, uint64_t v);                  /* 0 is left out */

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

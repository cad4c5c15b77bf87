/*
 * Rendered list items, kept between requests. A list route (GET /discovery,
 * /scheduler/available) answers with thousands of items that each depend on
 * one record only; rendering them all again for every request, from the
 * cache's JSON trees, cost more per item the bigger the fleet (the trees no
 * longer fit the CPU caches). Here each item's text is kept, valid for one
 * mod revision of its record, and a list is a concatenation.
 *
 * Texts are what jansson writes for the item inside a list of the API's
 * format (sorted keys, 2-space indent, at depth 1): a list of items
 * a, b is "[\n  " a ",\n  " b "\n]\n" (fragments_list()).
 *
 * Loop thread only.
 */
#ifndef ENJ_API_FRAGMENTS_H
#define ENJ_API_FRAGMENTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fragments_s fragments_t;

int fragments_new(fragments_t **out);
void fragments_free(fragments_t *f);

/* What is kept for one key: the item's text (NULL until it was listed)
 * and a tag, a short string the list route derives from the record to
 * decide whether to list it (e.g. the boot MAC), so that deciding needs no
 * walk of the record. Valid until the next put or sweep. */
typedef struct fragment_s {
    const char *text;
    size_t len;
    const char *tag;
} fragment_t;

/* 1 and *out when something is kept for key at mod_rev (and marks it
 * used), else 0. */
int fragments_get(fragments_t *f, const char *key, int64_t mod_rev, fragment_t *out);

/* Keeps tag (copied; NULL = "") and, when doc is not NULL, its rendering as
 * an item (doc released), for key at mod_rev; marks it used; fills *out.
 * 0 or -ENOMEM. */
int fragments_put(fragments_t *f, const char *key, int64_t mod_rev, const char *tag, json_t *doc,
                  fragment_t *out);

/* Forgets what no get or put used since the last sweep (records gone). */
void fragments_sweep(fragments_t *f);

/* A list being assembled from item texts. */
typedef struct fragments_list_s {
    char *buf;
    size_t len, cap;
    size_t items;
    int err; /* -ENOMEM once an append failed */
} fragments_list_t;

void fragments_list_add(fragments_list_t *l, const char *text, size_t len);
/* The finished body ("[]\n" when empty); the caller owns it. NULL on -ENOMEM. */
char *fragments_list_end(fragments_list_t *l, size_t *len);

#endif

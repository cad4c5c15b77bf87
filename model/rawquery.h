/*
 * The "raw query" machines carry around: the query string of the matchbox
 * request that produced their Ignition, e.g.
 *   uuid=b7f5f93a-b029-475f-b3a4-479ba198cb8a&mac=52-54-00-e8-32-5b&os=installed
 * It reaches the API as a path segment (/lifecycle/ignition/<raw query>)
 * and as a real query string (/ignition?<raw query>).
 *
 * Unlike the original (which took every piece *containing* "mac=" and
 * removed "mac=" from it), parsing is exact: '&'-separated key=value pairs,
 * each percent-decoded ('+' is a space in values); the key "mac" must
 * appear exactly once and hold a valid MAC.
 *
 * Pure functions; no allocation beyond the caller's output.
 */
#ifndef MODEL_RAWQUERY_H
#define MODEL_RAWQUERY_H

#include <stddef.h>

#include "model/validate.h"

#define MODEL_RAWQUERY_MAX 2048 /* longer queries are -E2BIG */
#define MODEL_RAWQUERY_MAX_PAIRS 32

typedef struct model_query_pair_s {
    const char *key;   /* points into the owning model_query_t's buffer */
    const char *value; /* "" for "key" or "key=" */
} model_query_pair_t;

typedef struct model_query_s {
    char buf[MODEL_RAWQUERY_MAX + 1];
    model_query_pair_t pairs[MODEL_RAWQUERY_MAX_PAIRS];
    size_t n_pairs;
} model_query_t;

/*
 * Parses `len` bytes of `in` (one leading '?' is skipped). Empty pieces
 * ("a=1&&b=2") are skipped. Returns 0, -EINVAL (bad percent escape, NUL
 * byte, empty key), -E2BIG (too long, too many pairs), with err filled.
 */
int model_query_parse(const char *in, size_t len, model_query_t *q, model_err_t *err);

/* The value of the first pair with this key, or NULL. */
const char *model_query_get(const model_query_t *q, const char *key);
/* How many pairs have this key. */
size_t model_query_count(const model_query_t *q, const char *key);

/*
 * The machine's MAC from a raw query: exactly one "mac" key with a valid
 * MAC ('-' or ':' separated), normalised into out ("aa:bb:cc:dd:ee:ff").
 * -ENOENT when there is no "mac" key, -EINVAL when there are several or the
 * value is not a MAC; err says which.
 */
int model_query_mac(const char *raw, size_t len, char out[MODEL_MAC_LEN + 1], model_err_t *err);

#endif

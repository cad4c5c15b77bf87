/* Exact parsing of matchbox raw queries: see rawquery.h for the contract. */
#include "model/rawquery.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define QUOTE_BUF 112
#define WHERE "query"

/* The input being parsed, for error messages that quote it. */
typedef struct query_src_s {
    const char *in;
    size_t len;
    size_t skip; /* bytes before `in` in the caller's text (the '?') */
} query_src_t;

static const char *quote_src(const query_src_t *src, char out[QUOTE_BUF])
{
    return model_quote(src->in, src->len, out, QUOTE_BUF);
}

/* The escape at `at` of a piece ending at `to` is not %XX. */
static int bad_escape(const query_src_t *src, size_t at, size_t to, model_err_t *err)
{
    char q[QUOTE_BUF], e[16];
    size_t n = to - at < 3 ? to - at : 3;
    return model_err_set(
        err, WHERE, "bad percent escape %s at byte %zu of %s (want %%XX, XX two hex digits)",
        model_quote(src->in + at, n, e, sizeof(e)), at + src->skip, quote_src(src, q));
}

/*
 * Percent-decodes src->in[from..to) into out (NUL-terminated); '+' becomes
 * a space when plus_space. Returns the bytes written, NUL included, or
 * -EINVAL.
 */
static long decode(const query_src_t *src, size_t from, size_t to, bool plus_space, char *out,
                   model_err_t *err)
{
    size_t o = 0;
    for (size_t i = from; i < to; i++) {
        char c = src->in[i];
        if (c == '+' && plus_space) {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < to ? model_hex_value(src->in[i + 1]) : -1;
            int lo = i + 2 < to ? model_hex_value(src->in[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return bad_escape(src, i, to, err);
            c = (char)(hi << 4 | lo);
            if (c == '\0') /* would cut the key or value short */
                return bad_escape(src, i, to, err);
            i += 2;
        }
        out[o++] = c;
    }
    out[o++] = '\0';
    return (long)o;
}

/* Adds the pair src->in[from..to) (non-empty, no '&'); *used = bytes of
 * q->buf taken so far. */
static int add_pair(const query_src_t *src, size_t from, size_t to, model_query_t *q, size_t *used,
                    model_err_t *err)
{
    char qs[QUOTE_BUF];
    if (q->n_pairs == MODEL_RAWQUERY_MAX_PAIRS) {
        model_err_set(err, WHERE, "more than %d key=value pairs in %s", MODEL_RAWQUERY_MAX_PAIRS,
                      quote_src(src, qs));
        return -E2BIG;
    }
    const char *eq = memchr(src->in + from, '=', to - from);
    size_t key_end = eq != NULL ? (size_t)(eq - src->in) : to;
    if (key_end == from)
        return model_err_set(err, WHERE, "empty key at byte %zu of %s", from + src->skip,
                             quote_src(src, qs));
    /* Decoding never grows text and each piece of n bytes takes at most
     * n + 1 with its terminators ('=' or '&' pays for one): the whole query
     * fits in buf, which has room for MODEL_RAWQUERY_MAX + 1. */
    char *key = q->buf + *used;
    long n = decode(src, from, key_end, false, key, err);
    if (n < 0)
        return (int)n;
    *used += (size_t)n;
    const char *value = key + n - 1; /* "" for "key" */
    if (eq != NULL) {
        char *v = q->buf + *used;
        n = decode(src, key_end + 1, to, true, v, err);
        if (n < 0)
            return (int)n;
        *used += (size_t)n;
        value = v;
    }
    q->pairs[q->n_pairs].key = key;
    q->pairs[q->n_pairs].value = value;
    q->n_pairs++;
    return 0;
}

static int parse_pairs(const query_src_t *src, model_query_t *q, model_err_t *err)
{
    size_t used = 0, from = 0;
    while (from <= src->len) {
        const char *amp = memchr(src->in + from, '&', src->len - from);
        size_t to = amp != NULL ? (size_t)(amp - src->in) : src->len;
        if (to > from) {
            int rc = add_pair(src, from, to, q, &used, err);
            if (rc < 0)
                return rc;
        }
        from = to + 1;
    }
    return 0;
}

int model_query_parse(const char *in, size_t len, model_query_t *q, model_err_t *err)
{
    query_src_t src = {in != NULL ? in : "", in != NULL ? len : 0, 0};
    char qs[QUOTE_BUF];
    q->n_pairs = 0;
    if (src.len > 0 && src.in[0] == '?') {
        src.in++;
        src.len--;
        src.skip = 1;
    }
    if (src.len > MODEL_RAWQUERY_MAX) {
        model_err_set(err, WHERE, "%s is too long (%zu bytes, want at most %d)",
                      quote_src(&src, qs), src.len, MODEL_RAWQUERY_MAX);
        return -E2BIG;
    }
    const char *nul = memchr(src.in, '\0', src.len);
    if (nul != NULL)
        return model_err_set(err, WHERE, "NUL byte at byte %zu of %s",
                             (size_t)(nul - src.in) + src.skip, quote_src(&src, qs));
    int rc = parse_pairs(&src, q, err);
    if (rc < 0)
        q->n_pairs = 0; /* no half-parsed query */
    return rc;
}

const char *model_query_get(const model_query_t *q, const char *key)
{
    for (size_t i = 0; i < q->n_pairs; i++) {
        if (strcmp(q->pairs[i].key, key) == 0)
            return q->pairs[i].value;
    }
    return NULL;
}

size_t model_query_count(const model_query_t *q, const char *key)
{
    size_t n = 0;
    for (size_t i = 0; i < q->n_pairs; i++)
        n += strcmp(q->pairs[i].key, key) == 0;
    return n;
}

int model_query_mac(const char *raw, size_t len, char out[MODEL_MAC_LEN + 1], model_err_t *err)
{
    model_query_t q;
    int rc = model_query_parse(raw, len, &q, err);
    if (rc < 0)
        return rc;
    size_t n = model_query_count(&q, "mac");
    char qs[QUOTE_BUF];
    if (n == 0) {
        model_err_set(err, WHERE, "%s has no mac key",
                      model_quote(raw, raw != NULL ? len : 0, qs, sizeof(qs)));
        return -ENOENT;
    }
    if (n > 1)
        return model_err_set(err, WHERE, "%s has %zu mac keys (want exactly one)",
                             model_quote(raw, len, qs, sizeof(qs)), n);
    return model_mac_parse(model_query_get(&q, "mac"), out, WHERE ".mac", err);
}

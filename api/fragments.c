/* Rendered list items. See fragments.h. */
#include "api/fragments.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct frag_s {
    struct frag_s *next;
    int64_t rev;
    bool used;
    size_t len;
    char *text; /* NULL: not rendered yet */
    char *tag;
    char key[]; /* NUL-terminated */
} frag_t;

struct fragments_s {
    frag_t **buckets;
    size_t nbuckets, count;
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

int fragments_new(fragments_t **out)
{
    fragments_t *f = calloc(1, sizeof(*f));
    if (f)
        f->buckets = calloc(f->nbuckets = 1024, sizeof(*f->buckets));
    if (!f || !f->buckets) {
        free(f);
        return -ENOMEM;
    }
    *out = f;
    return 0;
}

void fragments_free(fragments_t *f)
{
    if (!f)
        return;
    for (size_t b = 0; b < f->nbuckets; b++)
        for (frag_t *e = f->buckets[b], *next; e; e = next) {
            next = e->next;
            free(e->text);
            free(e->tag);
            free(e);
        }
    free(f->buckets);
    free(f);
}

static frag_t **slot(fragments_t *f, const char *key)
{
    frag_t **pp = &f->buckets[hash(key) & (f->nbuckets - 1)];
    while (*pp && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->next;
    return pp;
}

static void grow(fragments_t *f)
{
    size_t n = f->nbuckets * 2;
    frag_t **b = calloc(n, sizeof(*b));
    if (!b)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < f->nbuckets; i++)
        for (frag_t *e = f->buckets[i], *next; e; e = next) {
            next = e->next;
            frag_t **pp = &b[hash(e->key) & (n - 1)];
            e->next = *pp;
            *pp = e;
        }
    free(f->buckets);
    f->buckets = b;
    f->nbuckets = n;
}

static void fill(const frag_t *e, fragment_t *out)
{
    *out = (fragment_t){e->text, e->len, e->tag};
}

int fragments_get(fragments_t *f, const char *key, int64_t mod_rev, fragment_t *out)
{
    frag_t *e = *slot(f, key);
    if (!e || e->rev != mod_rev)
        return 0;
    e->used = true;
    fill(e, out);
    return 1;
}

/* jansson's text of doc at depth 0, indented one level deeper. */
static char *render(json_t *doc, size_t *len)
{
    char *flat = json_dumps(doc, JSON_SORT_KEYS | JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (!flat)
        return NULL;
    size_t n = 0, lines = 0;
    for (const char *p = flat; *p; p++, n++)
        lines += *p == '\n';
    char *out = malloc(n + 2 * lines + 1), *o = out;
    for (const char *p = flat; out && *p; p++) {
        *o++ = *p;
        if (*p == '\n') {
            *o++ = ' ';
            *o++ = ' ';
        }
    }
    if (out) {
        *o = '\0';
        *len = (size_t)(o - out);
    }
    free(flat);
    return out;
}

int fragments_put(fragments_t *f, const char *key, int64_t mod_rev, const char *tag, json_t *doc,
                  fragment_t *out)
{
    size_t len = 0;
    char *text = doc ? render(doc, &len) : NULL;
    json_decref(doc);
    char *t = strdup(tag ? tag : "");
    frag_t **pp = slot(f, key), *e = *pp;
    if (!e && t && (!doc || text)) {
        size_t klen = strlen(key);
        e = calloc(1, sizeof(*e) + klen + 1);
        if (e) {
            memcpy(e->key, key, klen + 1);
            *pp = e;
            if (++f->count > f->nbuckets)
                grow(f);
        }
    }
    if (!e || !t || (doc && !text)) {
        free(text);
        free(t);
        return -ENOMEM;
    }
    free(e->text);
    free(e->tag);
    e->text = text;
    e->len = len;
    e->tag = t;
    e->rev = mod_rev;
    e->used = true;
    fill(e, out);
    return 0;
}

void fragments_sweep(fragments_t *f)
{
    for (size_t b = 0; b < f->nbuckets; b++)
        for (frag_t **pp = &f->buckets[b]; *pp;) {
            frag_t *e = *pp;
            if (e->used) {
                e->used = false;
                pp = &e->next;
                continue;
            }
            *pp = e->next;
            free(e->text);
            free(e->tag);
            free(e);
            f->count--;
        }
}

static void append(fragments_list_t *l, const char *s, size_t n)
{
    if (l->err)
        return;
    if (l->len + n + 1 > l->cap) {
        size_t cap = l->cap ? l->cap : 4096;
        while (cap < l->len + n + 1)
            cap *= 2;
        char *b = realloc(l->buf, cap);
        if (!b) {
            l->err = -ENOMEM;
            return;
        }
        l->buf = b;
        l->cap = cap;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

void fragments_list_add(fragments_list_t *l, const char *text, size_t len)
{
    append(l, l->items++ ? ",\n  " : "[\n  ", 4);
    append(l, text, len);
}

char *fragments_list_end(fragments_list_t *l, size_t *len)
{
    append(l, l->items ? "\n]\n" : "[]\n", 3);
    if (l->err) {
        free(l->buf);
        l->buf = NULL;
        return NULL;
    }
    char *out = l->buf;
    *len = l->len;
    l->buf = NULL;
    return out;
}

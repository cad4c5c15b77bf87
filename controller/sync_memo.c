/* The sync's memory between passes. See sync_memo.h. */
#include "sync_memo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int grow(sync_memo_t *m)
{
    if (m->n < m->cap)
        return 0;
    size_t cap = m->cap ? m->cap * 2 : 64;
    sync_memo_entry_t *v = realloc(m->v, cap * sizeof *v);
    if (!v)
        return -1;
    m->v = v;
    m->cap = cap;
    return 0;
}

/* The index where mac is or belongs. */
static size_t lower_bound(const sync_memo_t *m, const char *mac)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(m->v[mid].mac, mac) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int cmp_mac(const void *key, const void *e)
{
    return strcmp(key, ((const sync_memo_entry_t *)e)->mac);
}

sync_memo_entry_t *sync_memo_find(const sync_memo_t *m, const char *mac)
{
    if (!m->n)
        return NULL;
    return bsearch(mac, m->v, m->n, sizeof *m->v, cmp_mac);
}

sync_memo_entry_t *sync_memo_carry(sync_memo_t *prev, sync_memo_t *next, const char *mac)
{
    if (grow(next) != 0)
        return NULL;
    sync_memo_entry_t *e = &next->v[next->n++];
    sync_memo_entry_t *old = sync_memo_find(prev, mac);
    if (old && !old->carried) {
        *e = *old;
        old->carried = true;
        e->carried = false;
        return e;
    }
    memset(e, 0, sizeof *e);
    snprintf(e->mac, sizeof e->mac, "%s", mac);
    return e;
}

sync_memo_entry_t *sync_memo_upsert(sync_memo_t *m, const char *mac)
{
    size_t i = lower_bound(m, mac);
    if (i < m->n && strcmp(m->v[i].mac, mac) == 0)
        return &m->v[i];
    if (grow(m) != 0)
        return NULL;
    memmove(&m->v[i + 1], &m->v[i], (m->n - i) * sizeof *m->v);
    m->n++;
    memset(&m->v[i], 0, sizeof *m->v);
    snprintf(m->v[i].mac, sizeof m->v[i].mac, "%s", mac);
    return &m->v[i];
}

void sync_memo_remove(sync_memo_t *m, const char *mac)
{
    size_t i = lower_bound(m, mac);
    if (i < m->n && strcmp(m->v[i].mac, mac) == 0) {
        memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof *m->v);
        m->n--;
    }
}

void sync_memo_free(sync_memo_t *m)
{
    free(m->v);
    memset(m, 0, sizeof *m);
}

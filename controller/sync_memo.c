/* The sync's memory between passes. See sync_memo.h. */
#include "sync_memo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    if (next->n == next->cap) {
        size_t cap = next->cap ? next->cap * 2 : 64;
        sync_memo_entry_t *v = realloc(next->v, cap * sizeof *v);
        if (!v)
            return NULL;
        next->v = v;
        next->cap = cap;
    }
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

void sync_memo_free(sync_memo_t *m)
{
    free(m->v);
    memset(m, 0, sizeof *m);
}

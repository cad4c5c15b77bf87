/* The etcd key layout. See keys.h. */
#include "model/keys.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int model_key(char *out, size_t out_size, const char *prefix, const char *kind, const char *id)
{
    int n = snprintf(out, out_size, "%s%s%s", prefix, kind, id);
    if (n < 0 || (size_t)n >= out_size)
        return -ENAMETOOLONG;
    return n;
}

const char *model_key_id(const char *key, size_t key_len, const char *prefix, const char *kind)
{
    size_t p = strlen(prefix), k = strlen(kind);
    if (key_len < p + k || memcmp(key, prefix, p) != 0 || memcmp(key + p, kind, k) != 0)
        return NULL;
    return key + p + k;
}

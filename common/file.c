/* See file.h. */
#include "common/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

char *file_read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t n = 0;
    FILE *mem = open_memstream(&buf, &n);
    char chunk[8192];
    size_t got;
    int err = mem ? 0 : ENOMEM;
    while (!err && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (fwrite(chunk, 1, got, mem) != got)
            err = ENOMEM;
    if (!err && ferror(f))
        err = EIO;
    if (mem)
        fclose(mem); /* buf is NUL-terminated now */
    fclose(f);
    if (err) {
        free(buf);
        errno = err;
        return NULL;
    }
    if (len)
        *len = n;
    return buf;
}

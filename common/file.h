/* Small file helpers shared by the daemons and their tests. */
#ifndef ENJ_FILE_H
#define ENJ_FILE_H

#include <stddef.h>

/* The whole file, NUL-terminated (free()); *len (may be NULL) its size.
 * NULL with errno set when it cannot be read. */
char *file_read_all(const char *path, size_t *len);

#endif

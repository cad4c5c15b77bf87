/* Shared by the fuzz targets: the libFuzzer entry point (also called by the
 * replay driver) and checks that abort, so a broken invariant is a crash
 * libFuzzer records and the replay test reproduces. */
#ifndef TESTS_FUZZ_FUZZ_H
#define TESTS_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* An error message is NUL-terminated inside its buffer and printable ASCII
 * (safe in a log line and a JSON string). Empty is allowed: callers that
 * promise a message check that themselves. */
static inline void fuzz_check_msg(const char *msg, size_t size)
{
    size_t len = strnlen(msg, size);
    FUZZ_CHECK(len < size);
    for (size_t i = 0; i < len; i++)
        FUZZ_CHECK((unsigned char)msg[i] >= 0x20 && (unsigned char)msg[i] < 0x7f);
}

/* A copy of the input with a NUL after it, for the NUL-terminated APIs;
 * free() it. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    FUZZ_CHECK(s != NULL);
    if (size > 0)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif

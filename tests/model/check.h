/* Tiny assertion helpers for the model unit tests: a failed check prints
 * where and what, and the test goes on so one run shows every failure. */
#ifndef TESTS_MODEL_CHECK_H
#define TESTS_MODEL_CHECK_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "model/validate.h"

static int check_failures;
static int check_count;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        check_count++;                                                                             \
        if (!(cond)) {                                                                             \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

/* Like CHECK, with a printf-style explanation. */
#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        check_count++;                                                                             \
        if (!(cond)) {                                                                             \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

/* A message is safe to log and to put in a JSON body: printable ASCII, NUL
 * terminated inside the buffer, every '\' starts a \xNN escape, quotes come
 * in pairs (they only delimit quoted values), and jansson accepts it. */
static inline bool msg_is_safe(const char *msg, size_t size)
{
    size_t len = strnlen(msg, size);
    if (len == size || len == 0)
        return false;
    size_t quotes = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)msg[i];
        if (c < 0x20 || c > 0x7e)
            return false;
        quotes += c == '"';
        if (c == '\\' &&
            (msg[i + 1] != 'x' || !strchr("0123456789abcdef", msg[i + 2]) ||
             !strchr("0123456789abcdef", msg[i + 3]) || msg[i + 2] == '\0' || msg[i + 3] == '\0'))
            return false;
    }
    if (quotes % 2 != 0)
        return false;
    json_t *s = json_string(msg);
    json_decref(s);
    return s != NULL;
}

/* The error message names the place and is safe. */
#define CHECK_MSG(err, where)                                                                      \
    do {                                                                                           \
        CHECKF(msg_is_safe((err).msg, sizeof((err).msg)), "unsafe message: %s", (err).msg);        \
        CHECKF(strncmp((err).msg, where ": ", strlen(where ": ")) == 0,                            \
               "message %s does not start with %s", (err).msg, where ": ");                        \
    } while (0)

static inline int check_report(const char *name)
{
    if (check_failures > 0) {
        fprintf(stderr, "%s: %d of %d checks failed\n", name, check_failures, check_count);
        return 1;
    }
    printf("%s: %d checks passed\n", name, check_count);
    return 0;
}

#endif

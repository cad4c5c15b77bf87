/* CHECK for the small test programs that stop at their first failure
 * (HTTP server and client, work queue, harness self-test): the condition
 * and where it failed on stderr, exit 1. */
#ifndef TESTS_CHECK_FATAL_H
#define TESTS_CHECK_FATAL_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#endif

/*
 * Ignition journal records (model/journal.h): the lines come back as they
 * went in, much smaller; the first format (lines in clear) is still read;
 * anything damaged reads as nothing rather than as wrong lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/journal.h"

static json_t *sample_lines(size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        char line[200];
        snprintf(line, sizeof line,
                 "GET http://172.20.0.1:8080/ignition?uuid=c105a609-1139-4c7d-8b20-2e59f3caa88e"
                 "&mac=52-54-00-ea-6f-41: attempt #%zu \"caf\xc3\xa9\"",
                 i + 1);
        json_array_append_new(a, json_string(line));
    }
    return a;
}

static void test_round_trip(void)
{
    for (size_t n = 0; n <= 64; n = n ? n * 4 : 1) {
        json_t *lines = sample_lines(n);
        json_t *rec = model_journal_record(lines, "2026-11-25T18:00:00Z");
        CHECK(rec != NULL);
        CHECK(strcmp(json_string_value(json_object_get(rec, "encoding")), "zlib+base64") == 0);
        CHECK(json_object_get(rec, "lines") == NULL);
        json_t *back = model_journal_lines(rec);
        CHECKF(back && json_equal(back, lines), "%zu lines do not come back", n);
        if (n == 64) {
            char *clear = json_dumps(lines, JSON_COMPACT);
            size_t packed = strlen(json_string_value(json_object_get(rec, "data")));
            CHECKF(packed * 4 < strlen(clear), "%zu bytes packed for %zu in clear", packed,
                   strlen(clear));
            printf("64 lines: %zu bytes in clear, %zu stored\n", strlen(clear), packed);
            free(clear);
        }
        json_decref(back);
        json_decref(rec);
        json_decref(lines);
    }
}

static void test_first_format(void)
{
    json_t *rec = json_pack("{s:i, s:s, s:[s, s]}", "schema", 1, "ctime", "x", "lines", "a", "b");
    json_t *back = model_journal_lines(rec);
    CHECK(back && json_array_size(back) == 2 &&
          strcmp(json_string_value(json_array_get(back, 1)), "b") == 0);
    json_decref(back);
    json_decref(rec);
}

static void test_damaged(void)
{
    json_t *lines = sample_lines(3);
    json_t *rec = model_journal_record(lines, "t");
    const char *data = json_string_value(json_object_get(rec, "data"));
    char *bad = strdup(data);
    bad[strlen(bad) / 2] ^= 0x01; /* a flipped bit: zlib's check fails */
    const char *cases[] = {bad, "", "abc", "!!!!", "AAAA"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *r = json_pack("{s:s, s:s}", "encoding", "zlib+base64", "data", cases[i]);
        json_t *back = model_journal_lines(r);
        CHECKF(back == NULL || json_equal(back, lines), "case %zu reads as other lines", i);
        json_decref(back);
        json_decref(r);
    }
    json_t *other = json_pack("{s:s, s:s}", "encoding", "gzip", "data", data);
    CHECK(model_journal_lines(other) == NULL);
    CHECK(model_journal_lines(NULL) == NULL);
    json_t *not_array = json_string("x");
    CHECK(model_journal_record(not_array, "t") == NULL);
    json_decref(not_array);
    json_decref(other);
    free(bad);
    json_decref(rec);
    json_decref(lines);
}

int main(void)
{
    test_round_trip();
    test_first_format();
    test_damaged();
    return check_report("test_journal");
}

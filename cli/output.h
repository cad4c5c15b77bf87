/*
 * What enjoliverctl prints: aligned tables for people, JSON and YAML for
 * programs. JSON and YAML come from the same jansson value.
 */
#ifndef ENJ_CLI_OUTPUT_H
#define ENJ_CLI_OUTPUT_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

enum out_format { OUT_TABLE = 0, OUT_JSON, OUT_YAML };

/* "table", "json" or "yaml" -> 0 and *f; else -EINVAL. */
int out_format_parse(const char *s, enum out_format *f);

/*
 * A table: a header in capitals, then rows; every column as wide as its
 * widest cell, two spaces between columns, nothing after the last one.
 * Empty or NULL cells print as "-" so that each line splits into the same
 * number of words.
 */
struct table;

struct table *table_new(size_t ncols, const char *const *headers);
/* Copies ncols cells; -ENOMEM on failure. */
int table_add(struct table *t, const char *const *cells);
size_t table_rows(const struct table *t);
void table_print(const struct table *t, FILE *out);
/* The same, each line after indent spaces. */
void table_print_indent(const struct table *t, FILE *out, int indent);
void table_free(struct table *t);

/*
 * One row of a table whose widths are fixed in advance (a watch cannot
 * measure rows it has not received): each cell padded to widths[i] (at least
 * its own length), the last cell unpadded.
 */
void out_fixed_row(FILE *out, size_t ncols, const size_t *widths, const char *const *cells);

/* Pretty JSON (2-space indent) and a newline. 0, or -EIO. */
int out_json(const json_t *v, FILE *out);
/* Compact JSON on one line, for streams. */
int out_json_line(const json_t *v, FILE *out);
/* Block-style YAML: mappings "key: value", sequences "- item", strings
 * quoted whenever a YAML reader could take them for something else. */
int out_yaml(const json_t *v, FILE *out);
/* out_json or out_yaml as f says (OUT_TABLE: JSON). */
int out_document(const json_t *v, enum out_format f, FILE *out);

/* Unix milliseconds as "2024-05-01T10:00:00Z" into buf; 0 gives "-". */
const char *out_time(long long unix_ms, char *buf, size_t len);

#endif

/*
 * Tables, JSON and YAML. The YAML is written by hand from the jansson value
 * (libyaml's emitter would do, but its event API costs more code than the
 * simple block style needs).
 */
#include "output.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define COLUMN_GAP 2

struct table {
    size_t ncols;
    size_t nrows, cap; /* rows, the header included */
    char **cells;      /* nrows * ncols strings */
};

int out_format_parse(const char *s, enum out_format *f)
{
    if (strcmp(s, "table") == 0)
        *f = OUT_TABLE;
    else if (strcmp(s, "json") == 0)
        *f = OUT_JSON;
    else if (strcmp(s, "yaml") == 0)
        *f = OUT_YAML;
    else
        return -EINVAL;
    return 0;
}

struct table *table_new(size_t ncols, const char *const *headers)
{
    struct table *t = calloc(1, sizeof *t);

    if (t == NULL)
        return NULL;
    t->ncols = ncols;
    if (table_add(t, headers) < 0) {
        table_free(t);
        return NULL;
    }
    return t;
}

int table_add(struct table *t, const char *const *cells)
{
    size_t i;

    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **c = realloc(t->cells, cap * t->ncols * sizeof *c);

        if (c == NULL)
            return -ENOMEM;
        t->cells = c;
        t->cap = cap;
    }
    for (i = 0; i < t->ncols; i++) {
        const char *s = cells[i] != NULL && cells[i][0] != '\0' ? cells[i] : "-";
        char *copy = strdup(s);

        if (copy == NULL) {
            while (i-- > 0)
                free(t->cells[t->nrows * t->ncols + i]);
            return -ENOMEM;
        }
        t->cells[t->nrows * t->ncols + i] = copy;
    }
    t->nrows++;
    return 0;
}

size_t table_rows(const struct table *t)
{
    return t->nrows - 1;
}

/* Characters on screen: UTF-8 continuation bytes take no column. */
static size_t display_width(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void print_cell(FILE *out, const char *s, size_t width, int last)
{
    size_t w = display_width(s);
    size_t pad = (w < width ? width - w : 0) + COLUMN_GAP;

    fputs(s, out);
    if (last)
        return;
    while (pad-- > 0)
        fputc(' ', out);
}

void out_fixed_row(FILE *out, size_t ncols, const size_t *widths, const char *const *cells)
{
    for (size_t i = 0; i < ncols; i++) {
        const char *s = cells[i] != NULL && cells[i][0] != '\0' ? cells[i] : "-";
        print_cell(out, s, widths[i], i + 1 == ncols);
    }
    fputc('\n', out);
}

void table_print(const struct table *t, FILE *out)
{
    table_print_indent(t, out, 0);
}

void table_print_indent(const struct table *t, FILE *out, int indent)
{
    size_t *w = calloc(t->ncols, sizeof *w);
    size_t r, c;

    if (w == NULL)
        return;
    for (r = 0; r < t->nrows; r++)
        for (c = 0; c < t->ncols; c++) {
            size_t n = display_width(t->cells[r * t->ncols + c]);
            w[c] = n > w[c] ? n : w[c];
        }
    for (r = 0; r < t->nrows; r++) {
        fprintf(out, "%*s", indent, "");
        out_fixed_row(out, t->ncols, w, (const char *const *)&t->cells[r * t->ncols]);
    }
    free(w);
}

void table_free(struct table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

static int dump(const json_t *v, size_t flags, FILE *out)
{
    if (json_dumpf(v, out, flags | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER) < 0)
        return -EIO;
    return fputc('\n', out) == EOF ? -EIO : 0;
}

int out_json(const json_t *v, FILE *out)
{
    return dump(v, JSON_INDENT(2), out);
}

int out_json_line(const json_t *v, FILE *out)
{
    return dump(v, JSON_COMPACT, out);
}

/* ---- YAML ---------------------------------------------------------------- */

static int reserved_word(const char *s)
{
    static const char *const words[] = {"null", "~",   "true", "false", "yes", "no",
                                        "on",   "off", "y",    "n",     NULL};

    for (size_t i = 0; words[i] != NULL; i++)
        if (strcasecmp(s, words[i]) == 0)
            return 1;
    return 0;
}

/* Strings a YAML 1.1 reader could resolve to a number (sexagesimal
 * "12:30:00", hex, floats, ".inf"): digits or a dot first, then only
 * characters numbers are made of. MACs and IPs are quoted by this. */
static int number_like(const char *s)
{
    if (!strchr("0123456789+-.", s[0]))
        return 0;
    for (; *s; s++)
        if (!strchr("0123456789abcdefABCDEF+-.:_xXoOiInN", *s))
            return 0;
    return 1;
}

static int needs_quotes(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || reserved_word(s) || number_like(s))
        return 1;
    if (strchr("-?:,[]{}#&*!|>'\"%@` \t", s[0]) || s[n - 1] == ' ' || s[n - 1] == ':')
        return 1;
    if (strstr(s, ": ") != NULL || strstr(s, " #") != NULL)
        return 1;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static void yaml_quoted(const char *s, FILE *out)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void yaml_string(const char *s, FILE *out)
{
    if (needs_quotes(s))
        yaml_quoted(s, out);
    else
        fputs(s, out);
}

/* Scalars, and empty containers in flow style. */
static void yaml_scalar(const json_t *v, FILE *out)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        yaml_string(json_string_value(v), out);
        break;
    case JSON_INTEGER:
        fprintf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        fprintf(out, "%.17g", json_real_value(v));
        break;
    case JSON_TRUE:
        fputs("true", out);
        break;
    case JSON_FALSE:
        fputs("false", out);
        break;
    case JSON_OBJECT:
        fputs("{}", out);
        break;
    case JSON_ARRAY:
        fputs("[]", out);
        break;
    default:
        fputs("null", out);
    }
}

/* A value that needs lines of its own: a non-empty mapping or sequence. */
static int is_block(const json_t *v)
{
    return (json_is_object(v) && json_object_size(v) > 0) ||
           (json_is_array(v) && json_array_size(v) > 0);
}

static void indent_to(int indent, FILE *out)
{
    for (int i = 0; i < indent; i++)
        fputc(' ', out);
}

static void yaml_block(const json_t *v, int indent, int inline_first, FILE *out);

/* After "key:" or "- ": a scalar on the same line, a block below. */
static void yaml_value(const json_t *v, int indent, FILE *out)
{
    if (!is_block(v)) {
        fputc(' ', out);
        yaml_scalar(v, out);
        fputc('\n', out);
        return;
    }
    fputc('\n', out);
    yaml_block(v, indent, 0, out);
}

static void yaml_mapping(const json_t *obj, int indent, int inline_first, FILE *out)
{
    const char *key;
    json_t *v;
    int first = 1;

    json_object_foreach((json_t *)obj, key, v)
    {
        if (!(first && inline_first))
            indent_to(indent, out);
        first = 0;
        yaml_string(key, out);
        fputc(':', out);
        yaml_value(v, indent + 2, out);
    }
}

static void yaml_sequence(const json_t *arr, int indent, int inline_first, FILE *out)
{
    size_t i;
    json_t *v;

    json_array_foreach(arr, i, v)
    {
        if (!(i == 0 && inline_first))
            indent_to(indent, out);
        fputc('-', out);
        if (is_block(v)) {
            /* "- key: value" with the mapping's other keys under the key. */
            fputc(' ', out);
            yaml_block(v, indent + 2, 1, out);
        } else {
            yaml_value(v, indent + 2, out);
        }
    }
}

static void yaml_block(const json_t *v, int indent, int inline_first, FILE *out)
{
    if (json_is_object(v))
        yaml_mapping(v, indent, inline_first, out);
    else
        yaml_sequence(v, indent, inline_first, out);
}

int out_yaml(const json_t *v, FILE *out)
{
    if (is_block(v)) {
        yaml_block(v, 0, 0, out);
    } else {
        yaml_scalar(v, out);
        fputc('\n', out);
    }
    return ferror(out) ? -EIO : 0;
}

int out_document(const json_t *v, enum out_format f, FILE *out)
{
    return f == OUT_YAML ? out_yaml(v, out) : out_json(v, out);
}

const char *out_time(long long unix_ms, char *buf, size_t len)
{
    time_t secs = (time_t)(unix_ms / 1000);
    struct tm tm;

    if (unix_ms <= 0 || gmtime_r(&secs, &tm) == NULL) {
        snprintf(buf, len, "-");
        return buf;
    }
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

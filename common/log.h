/*
 * Logging: one line per event on stderr, logfmt style:
 *
 *     level=info ts=2024-05-01T10:00:00.123Z msg="etcd started" pid=42 port=2379
 *
 * msg is always quoted and escaped; the key=value tail is a printf format
 * written as is, so quote free-text values with log_quote(). Each line is
 * written with one write(2), so lines from several threads never interleave.
 * Safe to call from any thread once log_set_level() has run (or never runs).
 */
#ifndef ENJ_LOG_H
#define ENJ_LOG_H

#include <stddef.h>

typedef enum {
    LOG_LEVEL_DEBUG = 0,
    LOG_LEVEL_INFO = 1,
    LOG_LEVEL_WARN = 2,
    LOG_LEVEL_ERROR = 3,
} log_level_t;

/* "debug", "info", "warn" (or "warning"), "error" -> 0 and *out; else -EINVAL. */
int log_level_parse(const char *s, log_level_t *out);
const char *log_level_name(log_level_t level);

/* text: level=info ts=... msg="..." key=value (the default);
 * json: one JSON object a line, {"level", "ts", "msg", key: "value"...}:
 * the same key=value tail, converted (values as strings). */
typedef enum { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON = 1 } log_format_t;
void log_set_format(log_format_t format);

/* Not thread-safe: call before starting threads. Default: info. */
void log_set_level(log_level_t level);
int log_enabled(log_level_t level);

void log_emit(log_level_t level, const char *msg, const char *kvfmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Writes s as a quoted, escaped logfmt value into buf (capacity len, always
 * NUL-terminated, truncated with "..." if needed) and returns buf, so that
 * log_info("x", "path=%s", log_quote(p, buf, sizeof buf)) is safe for any p.
 */
const char *log_quote(const char *s, char *buf, size_t len);

#define log_debug(msg, ...) log_emit(LOG_LEVEL_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...) log_emit(LOG_LEVEL_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...) log_emit(LOG_LEVEL_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_emit(LOG_LEVEL_ERROR, msg, __VA_ARGS__)

#endif

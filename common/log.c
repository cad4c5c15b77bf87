/* Logging: see log.h. */
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static log_level_t g_level = LOG_LEVEL_INFO;
static log_format_t g_format = LOG_FORMAT_TEXT;

void log_set_format(log_format_t format)
{
    g_format = format;
}

/* Appends s as a JSON string (escaped) to out at *o, within cap. */
static void json_str(char *out, size_t cap, size_t *o, const char *s, size_t n)
{
    if (*o + 2 >= cap)
        return;
    out[(*o)++] = '"';
    for (size_t i = 0; i < n && *o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[(*o)++] = '\\';
            out[(*o)++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            *o += (size_t)snprintf(out + *o, cap - *o, "\\u%04x", c);
        } else {
            out[(*o)++] = (char)c;
        }
    }
    out[(*o)++] = '"';
}

/* Reads one logfmt value at p (quoted with log_quote's escapes, or bare up
 * to a space) into val; returns where it ends. */
static const char *logfmt_value(const char *p, char *val, size_t cap, size_t *len)
{
    size_t n = 0;
    if (*p != '"') {
        while (*p && *p != ' ') {
            if (n + 1 < cap)
                val[n++] = *p;
            p++;
        }
        *len = n;
        return p;
    }
    for (p++; *p && *p != '"'; p++) {
        char c = *p;
        if (c == '\\' && p[1]) {
            p++;
            c = *p == 'n' ? '\n' : *p == 'r' ? '\r' : *p == 't' ? '\t' : *p;
            if (*p == 'x' && p[1] && p[2]) {
                char hex[3] = {p[1], p[2], 0};
                c = (char)strtol(hex, NULL, 16);
                p += 2;
            }
        }
        if (n + 1 < cap)
            val[n++] = c;
    }
    *len = n;
    return *p == '"' ? p + 1 : p;
}

/* The text line's fields as one JSON object. */
static size_t to_json(const char *level, const char *ts, const char *msg, const char *kv, char *out,
                      size_t cap)
{
    size_t o = 0;
    o += (size_t)snprintf(out, cap, "{\"level\":\"%s\",\"ts\":\"%s\",\"msg\":", level, ts);
    json_str(out, cap, &o, msg, strlen(msg));
    const char *p = kv;
    while (p && *p && o + 16 < cap) {
        while (*p == ' ')
            p++;
        const char *eq = strchr(p, '=');
        if (!eq)
            break;
        char val[1024];
        size_t vlen;
        out[o++] = ',';
        json_str(out, cap, &o, p, (size_t)(eq - p));
        out[o++] = ':';
        p = logfmt_value(eq + 1, val, sizeof val, &vlen);
        json_str(out, cap, &o, val, vlen);
    }
    if (o + 2 < cap)
        out[o++] = '}';
    return o < cap ? o : cap - 1;
}

static const char *const g_names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *s, log_level_t *out)
{
    if (s == NULL) {
        return -EINVAL;
    }
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, g_names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *out = LOG_LEVEL_WARN;
        return 0;
    }
    return -EINVAL;
}

const char *log_level_name(log_level_t level)
{
    return level <= LOG_LEVEL_ERROR ? g_names[level] : "unknown";
}

void log_set_level(log_level_t level)
{
    g_level = level;
}

int log_enabled(log_level_t level)
{
    return level >= g_level;
}

const char *log_quote(const char *s, char *buf, size_t len)
{
    if (len < 8) {
        if (len > 0) {
            buf[0] = '\0';
        }
        return buf;
    }
    size_t o = 0;
    buf[o++] = '"';
    const char *p = s != NULL ? s : "";
    for (; *p != '\0'; p++) {
        char esc[8];
        size_t n;
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            n = 2;
        } else if (c == '\n') {
            memcpy(esc, "\\n", 2);
            n = 2;
        } else if (c == '\r') {
            memcpy(esc, "\\r", 2);
            n = 2;
        } else if (c == '\t') {
            memcpy(esc, "\\t", 2);
            n = 2;
        } else if (c < 0x20 || c == 0x7f) {
            n = (size_t)snprintf(esc, sizeof esc, "\\x%02x", c);
        } else {
            esc[0] = (char)c;
            n = 1;
        }
        /* Room for this, the closing quote, "..." and the NUL. */
        if (o + n + 5 > len) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(buf + o, esc, n);
        o += n;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

void log_emit(log_level_t level, const char *msg, const char *kvfmt, ...)
{
    if (!log_enabled(level)) {
        return;
    }
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char qmsg[512];
    int n =
        snprintf(line, sizeof line, "level=%s ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ msg=%s",
                 log_level_name(level), tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L, log_quote(msg, qmsg, sizeof qmsg));
    size_t off = n < 0 ? 0 : (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (kvfmt != NULL && kvfmt[0] != '\0' && off + 2 < sizeof line) {
        line[off++] = ' ';
        va_list ap;
        va_start(ap, kvfmt);
        n = vsnprintf(line + off, sizeof line - off, kvfmt, ap);
        va_end(ap);
        if (n > 0) {
            off += (size_t)n < sizeof line - off ? (size_t)n : sizeof line - off - 1;
        }
    }
    if (off >= sizeof line - 1) {
        off = sizeof line - 2;
    }
    line[off] = '\0';
    char json[4096];
    const char *p = line;
    if (g_format == LOG_FORMAT_JSON) {
        /* The time as the text line has it: " ts=<24 chars> ". */
        char tsbuf[40] = "";
        const char *t = strstr(line, " ts=");
        if (t)
            snprintf(tsbuf, sizeof tsbuf, "%.24s", t + 4);
        const char *tail = strstr(line, " msg=");
        /* Skip the quoted msg to reach the key=value tail. */
        char mbuf[512];
        size_t mlen = 0;
        const char *rest = tail ? logfmt_value(tail + 5, mbuf, sizeof mbuf, &mlen) : "";
        mbuf[mlen < sizeof mbuf ? mlen : sizeof mbuf - 1] = '\0';
        off = to_json(log_level_name(level), tsbuf, mbuf, rest, json, sizeof json - 1);
        p = json;
    }
    ((char *)p)[off++] = '\n';
    while (off > 0) {
        ssize_t w = write(STDERR_FILENO, p, off);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;
        }
        p += w;
        off -= (size_t)w;
    }
}

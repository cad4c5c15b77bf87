/*
 * HTTP/1.1 server: libmicrohttpd driven by the daemon's libuv loop.
 *
 * MHD runs without a thread of its own, in epoll mode: the loop polls MHD's
 * epoll descriptor and calls MHD_run() when it is readable, and a timer
 * follows MHD's connection timeouts. So every handler runs on the loop
 * thread, next to the state it reads (caches, clients), with no hand-off
 * between threads. libmicrohttpd parses HTTP, keeps connections alive,
 * bounds bodies, connections and idle time.
 *
 * A handler answers at once or later (after an etcd call, say) with one of
 * the http_request_respond_*() functions; a request not answered when its
 * handler returns is suspended until it is. Unknown routes (404), wrong
 * methods (405, with Allow) and too large bodies (413) are answered before
 * any handler runs, with a JSON error body.
 *
 * Ownership of an http_request_t: the server's. A handler must respond
 * exactly once; after that the request must not be touched.
 *
 * JSON answers follow the original API's Flask jsonify format: keys sorted,
 * 2-space indent, final newline.
 */
#ifndef ENJ_HTTP_SERVER_H
#define ENJ_HTTP_SERVER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct http_server_s http_server_t;
typedef struct http_request_s http_request_t;

/* Runs on the loop thread. */
typedef void (*http_handler_fn)(http_request_t *req, void *data);

typedef struct http_server_config_s {
    const char *host;              /* IPv4 or IPv6 literal */
    uint16_t port;                 /* 0 = any free port, see http_server_port() */
    unsigned connection_limit;     /* 0 = 1024 concurrent connections */
    unsigned connection_timeout_s; /* 0 = 30 s of inactivity */
    size_t body_limit;             /* 0 = 1 MiB per request body */
    size_t connection_memory;      /* 0 = 64 KiB per connection (headers, buffers) */
} http_server_config_t;

int http_server_new(uv_loop_t *loop, http_server_t **out);

/*
 * Registers a route before http_server_start(). `path` is exact
 * ("/discovery"), or a prefix: a path ending in '*', such as "/scheduler/"
 * followed by '*', that matches every path starting with the part before
 * the '*'; http_request_rest()
 * then gives the remainder. Exact routes win over prefixes, longer prefixes
 * over shorter ones. A GET route also answers HEAD.
 * 0, -EINVAL, -ENOSPC (too many routes), -ENOMEM, -EBUSY when started.
 */
int http_server_route(http_server_t *s, const char *method, const char *path,
                      http_handler_fn handler, void *data);

/* Appends to `list` (a JSON array) every registered path, sorted, once
 * each; a prefix route shows as "<prefix><path>". */
void http_server_routes_json(const http_server_t *s, json_t *list);

/* Prometheus text of the requests served so far, per route: counts by
 * status and duration sums. malloc'ed; NULL on ENOMEM. */
char *http_server_metrics_text(const http_server_t *s);

/* Binds and starts serving. 0, or a negative errno (logged). */
int http_server_start(http_server_t *s, const http_server_config_t *cfg);

/* The bound port (useful with port 0). */
uint16_t http_server_port(const http_server_t *s);

/*
 * First stage of a shutdown: from now on every new request is answered 503
 * with "Connection: close". Requests a handler holds are still
 * answered by it (http_server_close() waits for them).
 */
void http_server_shutdown(http_server_t *s);

/*
 * Waits until handlers have answered every request they hold, stops MHD,
 * closes the loop handles, frees the server, then calls done (may be NULL).
 * Implies http_server_shutdown(). Safe on a server that never started.
 */
void http_server_close(http_server_t *s, void (*done)(void *data), void *data);

/* ---- inside or after a handler, on the loop thread ---- */

const char *http_request_method(const http_request_t *req);
/* The path, percent-decoded by MHD, without the query. */
const char *http_request_path(const http_request_t *req);
/* For a prefix route: the part of the path after the prefix; else "". */
const char *http_request_rest(const http_request_t *req);
/* The query string exactly as sent, without '?'; "" when none. */
const char *http_request_query(const http_request_t *req);
/* A decoded query argument, or NULL. */
const char *http_request_arg(const http_request_t *req, const char *name);
/* A request header (case-insensitive name), or NULL. */
const char *http_request_header(const http_request_t *req, const char *name);
/* The client's address as text ("127.0.0.1", "::1"). */
const char *http_request_peer(const http_request_t *req);
/* The body (NUL-terminated, may be empty) and its length. */
const char *http_request_body(const http_request_t *req, size_t *len);

/* Adds a response header (copied); up to 8 per request. 0 or -ENOSPC/-ENOMEM. */
int http_request_add_header(http_request_t *req, const char *name, const char *value);

/* Answers with body as JSON (reference stolen; NULL = {}). */
void http_request_respond_json(http_request_t *req, unsigned status, json_t *body);

/* Answers {"error": message, "status": status}. */
void http_request_respond_error(http_request_t *req, unsigned status, const char *message);

/* Answers len bytes of data (copied) with this Content-Type. */
/* Answers with a JSON text the server takes (freed after sending). */
void http_request_respond_json_owned(http_request_t *req, unsigned status, char *text, size_t len);
void http_request_respond_bytes(http_request_t *req, unsigned status, const char *content_type,
                                const void *data, size_t len);

/* Answers a NUL-terminated text as "text/plain; charset=utf-8". */
void http_request_respond_text(http_request_t *req, unsigned status, const char *text);

/* ---- streamed answers ---- */

typedef struct http_stream_s http_stream_t;
typedef void (*http_stream_pause_fn)(void *arg);

#define HTTP_SIZE_UNKNOWN UINT64_MAX

/*
 * Answers with a body produced later, piece by piece (e.g. proxied from
 * another server): status and Content-Type now, then http_stream_write()
 * as data comes and http_stream_end() once. The request must not be used
 * afterwards; the stream is the producer's handle until http_stream_end().
 *
 * Back-pressure: when more than 1 MiB waits for a slow client, pause(arg)
 * is called; resume(arg) once it has drained below 256 KiB. Both may be
 * NULL (then the buffer grows). size: the Content-Length, or
 * HTTP_SIZE_UNKNOWN (chunked). Returns NULL when out of memory (the
 * connection is then dropped).
 */
http_stream_t *http_request_respond_stream(http_request_t *req, unsigned status,
                                           const char *content_type, uint64_t size,
                                           http_stream_pause_fn pause, http_stream_pause_fn resume,
                                           void *arg);

/* Queues len bytes. 0, or -EPIPE when the client is gone (stop producing
 * and call http_stream_end()), -ENOMEM. */
int http_stream_write(http_stream_t *st, const void *data, size_t len);

/* The end of the body: err 0 completes it, anything else aborts the
 * connection (the client sees a truncated answer). Frees the producer's
 * side; the stream must not be used afterwards. */
void http_stream_end(http_stream_t *st, int err);

#endif

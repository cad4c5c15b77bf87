/*
 * HTTP/1.1 server (libmicrohttpd) that hands every routed request to the
 * libuv loop.
 *
 * MHD runs its own polling thread. Its access handler never touches loop
 * state: for a routed request it reads the body (bounded), suspends the MHD
 * connection, queues the request (mutex-protected list) and wakes the loop
 * with a uv_async_t. On the loop thread the route's handler runs and answers,
 * now or later, with http_request_respond_*(), which resumes the connection;
 * the MHD thread then sends the answer. Unknown routes (404), wrong methods
 * (405) and too large bodies (413) are answered on the MHD thread with a JSON
 * error body, without the loop.
 *
 * Ownership of an http_request_t: the MHD thread until it is queued, the loop
 * from dispatch until the respond call, the MHD thread again afterwards (it
 * frees it when the connection is done with it). A handler must respond
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

/* Registers a route (exact path) before http_server_start(). A GET route also
 * answers HEAD. 0, -EINVAL, -ENOMEM, -EBUSY when already started. */
int http_server_route(http_server_t *s, const char *method, const char *path,
                      http_handler_fn handler, void *data);

/* Binds and starts the MHD thread. 0, or a negative errno (logged). */
int http_server_start(http_server_t *s, const http_server_config_t *cfg);

/* The bound port (useful with port 0). */
uint16_t http_server_port(const http_server_t *s);

/*
 * First stage of a shutdown: from now on every new request is answered 503,
 * and the queued ones that no handler has seen yet too. Requests a handler
 * holds are still answered by it (http_server_close() waits for them).
 */
void http_server_shutdown(http_server_t *s);

/*
 * Waits until handlers have answered every request they hold, stops MHD,
 * closes the loop handle, frees the server, then calls done (may be NULL).
 * Implies http_server_shutdown(). Safe on a server that never started.
 */
void http_server_close(http_server_t *s, void (*done)(void *data), void *data);

/* ---- on the loop thread, inside or after a handler ---- */

const char *http_request_method(const http_request_t *req);
const char *http_request_path(const http_request_t *req);
/* The body (NUL-terminated, may be empty) and its length. */
const char *http_request_body(const http_request_t *req, size_t *len);

/* Adds a response header (copied); up to 8 per request. 0 or -ENOSPC/-ENOMEM. */
int http_request_add_header(http_request_t *req, const char *name, const char *value);

/* Answers with body as JSON (reference stolen; NULL = {}), resumes the
 * connection. The request must not be used afterwards. */
void http_request_respond_json(http_request_t *req, unsigned status, json_t *body);

/* Answers {"error": message, "status": status}. */
void http_request_respond_error(http_request_t *req, unsigned status, const char *message);

#endif

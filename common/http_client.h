/*
 * Asynchronous HTTP client: libcurl's multi socket API driven by the
 * daemon's libuv loop.
 *
 * One client owns one curl multi handle: curl tells the client which
 * sockets to watch (one uv_poll_t each) and when to wake it up (one
 * uv_timer_t), and the client calls curl_multi_socket_action() from those
 * callbacks. So every transfer runs on the loop thread, without a thread of
 * its own, and every callback of this API runs on the loop thread too.
 * Connections are kept alive and reused by curl's connection cache (one per
 * client), up to max_host_connections per host; transfers beyond that
 * limit wait in curl's queue. HTTPS negotiates HTTP/2 through ALPN (curl's
 * default, nghttp2); plain http:// speaks HTTP/1.1. Redirects are not
 * followed (a 3xx is an answer like any other); proxies from the
 * environment (http_proxy, no_proxy...) apply as in curl.
 *
 * A request either buffers its answer (the body comes with the completion
 * callback) or streams it: on_headers() once the headers have arrived, then
 * on_data() for every chunk, in order. A streaming consumer that cannot
 * keep up calls http_call_pause() and later http_call_resume(): curl stops
 * reading the socket in between, so TCP pushes back on the server.
 *
 * Callbacks never run inside the function that caused them: not in
 * http_client_request() (an early error is delivered on the next loop
 * turn), not in http_call_cancel(), http_call_resume() or
 * http_client_close(). So callers can hold locks or half-built state
 * around these calls without re-entering themselves.
 *
 * Not thread-safe: every function is called on the loop thread, except
 * http_client_global_init()/_cleanup().
 *
 * Errors are negative errno values.
 */
#ifndef ENJ_HTTP_CLIENT_H
#define ENJ_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct http_client_s http_client_t;
typedef struct http_call_s http_call_t;

typedef struct http_header_s {
    const char *name;
    const char *value;
} http_header_t;

/*
 * Initialises libcurl (curl_global_init) for the whole process. Call it
 * once, from main(), before any thread starts and before the first
 * http_client_new(). 0 or -EIO. http_client_global_cleanup() undoes it at
 * exit, once every client is closed (optional; keeps leak checkers quiet).
 */
int http_client_global_init(void);
void http_client_global_cleanup(void);

typedef struct http_client_config_s {
    unsigned connect_timeout_ms;    /* 0 = 2000: TCP (and TLS) connect */
    unsigned timeout_ms;            /* 0 = 10000: whole request, queueing and pauses included */
    unsigned max_host_connections;  /* 0 = 16 per host */
    unsigned max_total_connections; /* 0 = 256 in all */
    const char *user_agent;         /* NULL = "enjoliver"; copied */
} http_client_config_t;

/*
 * Creates a client on `loop` (cfg may be NULL: all defaults). The client
 * holds no active handle while idle, so it does not keep the loop alive by
 * itself; in-flight requests do. 0 and *out, or -EINVAL, -ENOMEM, -EIO
 * (curl_multi_init failed).
 */
int http_client_new(uv_loop_t *loop, const http_client_config_t *cfg, http_client_t **out);

/*
 * The outcome of a request, given to its callbacks. Everything it points to
 * belongs to the client and is valid only during the callback: copy what
 * must outlive it.
 */
typedef struct http_response_s {
    /* 0: an HTTP answer arrived whole, whatever its status. Else one of:
     *   -ETIMEDOUT     connect or total timeout expired
     *   -ECONNREFUSED  nothing listens on that port
     *   -EHOSTUNREACH  no route to the host, or its name did not resolve
     *   -ECONNRESET    the server closed or reset the connection before a
     *                  complete answer (empty reply, truncated body)
     *   -EFBIG         the answer is larger than max_response_size
     *   -ECANCELED     http_call_cancel() or http_client_close()
     *   -EINVAL        URL rejected by curl (malformed, not http(s))
     *   -ENOMEM        out of memory
     *   -EIO           anything else (TLS, protocol error...), see `error`
     */
    int err;
    const char *error;            /* "" when err == 0; else a message (curl's when curl failed) */
    long status;                  /* final HTTP status, even with err (-EFBIG...); else 0 */
    const http_header_t *headers; /* of the final answer (not of 1xx), as received */
    size_t n_headers;
    const char *content_type; /* the Content-Type header, or NULL */
    const char *body;         /* buffered: NUL-terminated, "" if none or err; streaming: NULL */
    size_t body_len;
    uint64_t total_us; /* from http_client_request() to this callback */
} http_response_t;

/* A header of the response by name (case-insensitive; the last one if
 * repeated), or NULL. */
const char *http_response_header(const http_response_t *res, const char *name);

/*
 * Completion: runs exactly once per accepted request, on the loop thread.
 * The call is freed when it returns: drop any http_call_t pointer kept.
 * It may start new requests, cancel others, or close the client.
 */
typedef void (*http_done_fn)(const http_response_t *res, void *data);

/* The final answer's status line and headers have arrived (res->err == 0,
 * res->body NULL). Optional, in both modes; runs at most once, before any
 * on_data(). May call http_call_pause() or http_call_cancel(). */
typedef void (*http_headers_fn)(http_call_t *call, const http_response_t *res, void *data);

/* Streaming: the next `len` bytes of the body (len > 0). `chunk` is valid
 * during the callback only. May call http_call_pause() (it takes effect
 * from the next chunk on) or http_call_cancel(). */
typedef void (*http_data_fn)(http_call_t *call, const char *chunk, size_t len, void *data);

typedef struct http_client_req_s {
    const char *method;           /* NULL = "GET", or "POST" when body_len > 0 */
    const char *url;              /* http:// or https:// only; required */
    const http_header_t *headers; /* extra request headers; value "" sends an empty */
    size_t n_headers;             /* header, value NULL removes one curl adds (Accept) */
    const void *body;             /* copied; sent with Content-Length */
    size_t body_len;
    unsigned timeout_ms;      /* 0 = the client's timeout_ms */
    size_t max_response_size; /* 0 = 64 MiB when buffering, no limit when streaming */
    /* Streaming mode when on_data is set. on_headers: optional, any mode. */
    http_headers_fn on_headers;
    http_data_fn on_data;
} http_client_req_t;

/*
 * Starts a request; `req` and everything it points to is copied, so it may
 * live on the caller's stack. On 0, `done(res, data)` runs exactly once,
 * later, never inside this function (even for an early error such as a
 * malformed URL); *out (when out is not NULL) is the call, for
 * http_call_cancel/pause/resume, valid until done runs.
 * On a negative return, done never runs: -EINVAL (NULL client, url or
 * done; a method or header with CR/LF or empty name), -ECANCELED (the
 * client is closing), -ENOMEM.
 */
int http_client_request(http_client_t *c, const http_client_req_t *req, http_done_fn done,
                        void *data, http_call_t **out);

/*
 * Aborts a request: its done callback runs on a later loop turn with
 * -ECANCELED, and no on_headers/on_data runs from now on. No effect on a
 * request whose done callback already runs (or ran, but then the pointer
 * is stale: don't). Idempotent.
 */
void http_call_cancel(http_call_t *call);

/*
 * Back-pressure for a streaming consumer: after http_call_pause(), curl
 * stops reading this response (at most the chunk in flight is kept for
 * later), until http_call_resume(). Data kept is delivered on a later loop
 * turn, never inside http_call_resume(). The request's total timeout keeps
 * running while paused. Both idempotent; no effect on a finished call.
 */
void http_call_pause(http_call_t *call);
void http_call_resume(http_call_t *call);

/* Requests accepted and not completed yet. */
size_t http_client_inflight(const http_client_t *c);

/*
 * Cancels every request (each done callback runs with -ECANCELED, on a
 * later loop turn), closes the connections and the loop handles, frees the
 * client, then calls done(data) (may be NULL) from a libuv close callback.
 * After that the loop holds nothing of the client: uv_loop_close() can
 * succeed. From now on http_client_request() fails with -ECANCELED. Call it
 * once; the client must not be used after it.
 */
void http_client_close(http_client_t *c, void (*done)(void *data), void *data);

#endif

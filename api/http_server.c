/* HTTP server on the libuv loop: see http_server.h. */
#include "api/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define MAX_ROUTES 96
#define MAX_HEADERS 8
#define DEFAULT_CONNECTION_LIMIT 1024u
#define DEFAULT_CONNECTION_TIMEOUT_S 30u
#define DEFAULT_BODY_LIMIT (1u << 20)
#define DEFAULT_CONNECTION_MEMORY (64u << 10)
/* Delay between the last answer and MHD_stop_daemon(), so that answers
 * given during the shutdown reach their clients. */
#define STOP_FLUSH_MS 100u
/* A body over the limit but under this is read and dropped before the 413
 * (see on_headers); a larger one is cut short. */
#define DRAIN_LIMIT (16u << 20)

#define MAX_STATUSES 12

typedef struct route_s {
    char *method;
    char *path; /* without the '*' of a prefix route */
    size_t len;
    bool prefix;
    http_handler_fn fn;
    void *data;
    /* Served so far (loop thread only). */
    unsigned statuses[MAX_STATUSES];
    uint64_t counts[MAX_STATUSES];
    uint64_t requests;
    double seconds;
} route_t;

struct http_request_s {
    http_server_t *server;
    struct MHD_Connection *conn;
    char *uri; /* as sent: path?query */
    const char *query;
    char *method;
    char *path;
    const route_t *route;
    char peer[INET6_ADDRSTRLEN];
    bool headers_seen, dispatched, in_handler, suspended, answered;
    bool draining; /* the body is over the limit: read and dropped */
    size_t drained;
    char *body;
    size_t body_len, body_cap;
    uint64_t start_ns;
    unsigned status;
    struct MHD_Response *response; /* the answer, until queued */
    int n_headers;
    char *header_names[MAX_HEADERS];
    char *header_values[MAX_HEADERS];
};

struct http_stream_s {
    http_server_t *server;
    struct MHD_Connection *conn; /* NULL once MHD let go of the response */
    char *buf;
    size_t head, len, cap;
    bool ended, failed, suspended, paused;
    int refs; /* the producer's and MHD's */
    http_stream_pause_fn pause, resume;
    void *arg;
    http_stream_t *next, *prev; /* the server's open streams */
};

struct http_server_s {
    http_stream_t *streams;
    uv_loop_t *loop;
    uv_poll_t poll;
    uv_timer_t timer;
    struct MHD_Daemon *mhd;
    route_t routes[MAX_ROUTES];
    size_t n_routes;
    size_t body_limit;
    uint16_t port;
    bool polling, closing, close_requested, stopping, stopped;
    size_t inflight; /* dispatched to a handler, not answered yet */
    int pending_closes;
    void (*close_done)(void *data);
    void *close_data;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- driving MHD from the loop ------------------------------------------ */

static void on_timer(uv_timer_t *t);

/* Runs MHD once and re-arms the timer for its next timeout. */
static void mhd_run(http_server_t *s)
{
    if (s->mhd == NULL)
        return;
    MHD_run(s->mhd);
    if (s->stopping)
        return; /* the timer now belongs to the shutdown sequence */
    MHD_UNSIGNED_LONG_LONG ms = 0;
    if (s->mhd != NULL && MHD_get_timeout(s->mhd, &ms) == MHD_YES)
        uv_timer_start(&s->timer, on_timer, ms, 0);
    else
        uv_timer_stop(&s->timer);
}

static void on_timer(uv_timer_t *t)
{
    mhd_run(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)status, (void)events;
    mhd_run(p->data);
}

/* After a resume: let MHD send the answer on the next loop turn. */
static void kick(http_server_t *s)
{
    if (s->mhd != NULL && !s->stopping)
        uv_timer_start(&s->timer, on_timer, 0, 0);
}

/* ---- responses -------------------------------------------------------- */

/* A JSON response in Flask jsonify's format; steals body. NULL on ENOMEM. */
static struct MHD_Response *json_response(json_t *body)
{
    if (body == NULL)
        body = json_object();
    char *text =
        body != NULL ? json_dumps(body, JSON_SORT_KEYS | JSON_INDENT(2) | JSON_ENCODE_ANY) : NULL;
    json_decref(body);
    if (text == NULL)
        return NULL;
    size_t len = strlen(text);
    char *buf = realloc(text, len + 2);
    if (buf == NULL) {
        free(text);
        return NULL;
    }
    buf[len] = '\n';
    buf[len + 1] = '\0';
    struct MHD_Response *r = MHD_create_response_from_buffer(len + 1, buf, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(buf);
        return NULL;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    return r;
}

static json_t *error_body(unsigned status, const char *message)
{
    return json_pack("{s:s, s:I}", "error", message, "status", (json_int_t)status);
}

static enum MHD_Result queue(struct MHD_Connection *conn, http_request_t *req, unsigned status,
                             struct MHD_Response *r)
{
    if (r == NULL)
        return MHD_NO;
    if (req != NULL)
        req->status = status;
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Answers before any handler runs (404, 405, 413, 503). */
static enum MHD_Result answer_now(struct MHD_Connection *conn, http_request_t *req, unsigned status,
                                  const char *message, const char *allow)
{
    struct MHD_Response *r = json_response(error_body(status, message));
    if (r != NULL && allow != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    if (r != NULL && status == MHD_HTTP_SERVICE_UNAVAILABLE)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    if (req != NULL)
        req->answered = true;
    return queue(conn, req, status, r);
}

static void maybe_finish_close(http_server_t *s);
static void free_request(http_request_t *req);

static void respond(http_request_t *req, unsigned status, struct MHD_Response *r)
{
    http_server_t *s = req->server;
    for (int i = 0; r != NULL && i < req->n_headers; i++)
        MHD_add_response_header(r, req->header_names[i], req->header_values[i]);
    if (r != NULL && s->closing)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    req->status = status;
    req->response = r; /* NULL: the connection is dropped */
    req->answered = true;
    s->inflight--;
    if (req->conn == NULL) {
        /* The connection ended while the handler held the request. */
        free_request(req);
        maybe_finish_close(s);
        return;
    }
    if (req->suspended) {
        req->suspended = false;
        MHD_resume_connection(req->conn);
        kick(s);
    }
    maybe_finish_close(s);
}

void http_request_respond_json(http_request_t *req, unsigned status, json_t *body)
{
    respond(req, status, json_response(body));
}

void http_request_respond_error(http_request_t *req, unsigned status, const char *message)
{
    http_request_respond_json(req, status, error_body(status, message));
}

void http_request_respond_json_owned(http_request_t *req, unsigned status, char *text, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (r == NULL)
        free(text);
    else
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    respond(req, status, r);
}

void http_request_respond_bytes(http_request_t *req, unsigned status, const char *content_type,
                                const void *data, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (r != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    respond(req, status, r);
}

void http_request_respond_text(http_request_t *req, unsigned status, const char *text)
{
    http_request_respond_bytes(req, status, "text/plain; charset=utf-8", text, strlen(text));
}

int http_request_add_header(http_request_t *req, const char *name, const char *value)
{
    if (req->n_headers >= MAX_HEADERS)
        return -ENOSPC;
    char *n = strdup(name), *v = strdup(value);
    if (n == NULL || v == NULL) {
        free(n);
        free(v);
        return -ENOMEM;
    }
    req->header_names[req->n_headers] = n;
    req->header_values[req->n_headers] = v;
    req->n_headers++;
    return 0;
}

/* ---- request accessors ------------------------------------------------ */

const char *http_request_method(const http_request_t *req)
{
    return req->method;
}

const char *http_request_path(const http_request_t *req)
{
    return req->path;
}

const char *http_request_rest(const http_request_t *req)
{
    if (req->route == NULL || !req->route->prefix)
        return "";
    return req->path + req->route->len;
}

const char *http_request_query(const http_request_t *req)
{
    return req->query;
}

const char *http_request_arg(const http_request_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_request_header(const http_request_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_request_peer(const http_request_t *req)
{
    return req->peer;
}

const char *http_request_body(const http_request_t *req, size_t *len)
{
    if (len != NULL)
        *len = req->body_len;
    return req->body != NULL ? req->body : "";
}

/* ---- routing ------------------------------------------------------------ */

static bool route_matches(const route_t *r, const char *path)
{
    return r->prefix ? strncmp(r->path, path, r->len) == 0 : strcmp(r->path, path) == 0;
}

/* Exact before prefix, longer prefix before shorter: a route is better
 * than another when it is exact or its prefix is longer. */
static bool route_better(const route_t *a, const route_t *b)
{
    if (b == NULL)
        return true;
    if (a->prefix != b->prefix)
        return !a->prefix;
    return a->len > b->len;
}

static bool method_matches(const route_t *r, const char *method)
{
    return strcmp(r->method, method) == 0 ||
           (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0);
}

static void allow_add(char *allow, size_t allow_len, const char *method)
{
    if (strstr(allow, method) != NULL)
        return;
    size_t used = strlen(allow);
    snprintf(allow + used, allow_len - used, "%s%s%s", used ? ", " : "", method,
             strcmp(method, "GET") == 0 ? ", HEAD" : "");
}

/* The best route for path and method; when the path is known under other
 * methods only, NULL with *path_known set and allow listing them. */
static const route_t *find_route(const http_server_t *s, const char *method, const char *path,
                                 bool *path_known, char *allow, size_t allow_len)
{
    const route_t *best_path = NULL, *found = NULL;
    for (size_t i = 0; i < s->n_routes; i++) {
        const route_t *r = &s->routes[i];
        if (route_matches(r, path) && route_better(r, best_path))
            best_path = r;
    }
    *path_known = best_path != NULL;
    allow[0] = '\0';
    /* Every method registered for that same pattern. */
    for (size_t i = 0; best_path != NULL && i < s->n_routes; i++) {
        const route_t *r = &s->routes[i];
        if (r->prefix != best_path->prefix || strcmp(r->path, best_path->path) != 0)
            continue;
        allow_add(allow, allow_len, r->method);
        if (method_matches(r, method))
            found = r;
    }
    return found;
}

/* ---- MHD callbacks ------------------------------------------------------ */

static void free_request(http_request_t *req)
{
    if (req->response != NULL)
        MHD_destroy_response(req->response);
    for (int i = 0; i < req->n_headers; i++) {
        free(req->header_names[i]);
        free(req->header_values[i]);
    }
    free(req->uri);
    free(req->method);
    free(req->path);
    free(req->body);
    free(req);
}

/* MHD's first look at a request, with the URI exactly as sent: the only
 * place the raw query string is available. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    http_request_t *req = calloc(1, sizeof *req);
    if (req == NULL)
        return NULL;
    req->server = cls;
    req->conn = conn;
    req->start_ns = now_ns();
    req->uri = strdup(uri != NULL ? uri : "");
    if (req->uri == NULL) {
        free(req);
        return NULL;
    }
    char *q = strchr(req->uri, '?');
    req->query = q != NULL ? q + 1 : "";
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;
    if (sa != NULL && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, req->peer,
                  sizeof req->peer);
    else if (sa != NULL && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, req->peer,
                  sizeof req->peer);
    return req;
}

static enum MHD_Result on_headers(http_server_t *s, struct MHD_Connection *conn,
                                  http_request_t *req, const char *url, const char *method)
{
    req->headers_seen = true;
    req->method = strdup(method);
    req->path = strdup(url);
    if (req->method == NULL || req->path == NULL)
        return MHD_NO;
    if (s->closing)
        return answer_now(conn, req, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down", NULL);
    bool path_known = false;
    char allow[128];
    req->route = find_route(s, method, url, &path_known, allow, sizeof allow);
    if (req->route == NULL)
        return path_known ? answer_now(conn, req, MHD_HTTP_METHOD_NOT_ALLOWED,
                                       "method not allowed on this route", allow)
                          : answer_now(conn, req, MHD_HTTP_NOT_FOUND, "no such route", NULL);
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl != NULL && strtoull(cl, NULL, 10) > s->body_limit) {
        /* Answering before the body is read races with the client still
         * sending it: closing with unread data resets the connection and
         * the client may never see the 413. Read and drop a body of
         * reasonable size first; only a huge one is cut short. */
        if (strtoull(cl, NULL, 10) > DRAIN_LIMIT)
            return answer_now(conn, req, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large",
                              NULL);
        req->draining = true;
    }
    return MHD_YES;
}

static enum MHD_Result on_body(http_server_t *s, http_request_t *req, const char *data,
                               size_t *size)
{
    size_t n = *size;
    *size = 0;
    if (req->answered)
        return MHD_YES; /* an early answer is queued; the body is dropped */
    if (req->draining || req->body_len + n > s->body_limit) {
        /* Over the limit: drop what comes, answer 413 once it is all in
         * (see on_headers), or now past DRAIN_LIMIT. */
        req->draining = true;
        req->drained += n;
        if (req->drained > DRAIN_LIMIT)
            return answer_now(req->conn, req, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large",
                              NULL);
        return MHD_YES;
    }
    if (req->body_len + n + 1 > req->body_cap) {
        size_t cap = req->body_cap ? req->body_cap : 1024;
        while (cap < req->body_len + n + 1)
            cap *= 2;
        char *b = realloc(req->body, cap);
        if (b == NULL)
            return MHD_NO;
        req->body = b;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, n);
    req->body_len += n;
    req->body[req->body_len] = '\0';
    return MHD_YES;
}

/* The complete request goes to its handler; an answer not given during
 * the call is waited for with the connection suspended. */
static enum MHD_Result dispatch(http_server_t *s, struct MHD_Connection *conn, http_request_t *req)
{
    req->dispatched = true;
    s->inflight++;
    req->in_handler = true;
    req->route->fn(req, req->route->data);
    req->in_handler = false;
    if (!req->answered) {
        req->suspended = true;
        MHD_suspend_connection(conn);
        return MHD_YES;
    }
    struct MHD_Response *r = req->response;
    req->response = NULL;
    return queue(conn, req, req->status, r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    http_server_t *s = cls;
    http_request_t *req = *con_cls;
    if (req == NULL)
        return MHD_NO; /* on_uri ran out of memory */
    if (!req->headers_seen)
        return on_headers(s, conn, req, url, method);
    if (*upload_data_size != 0)
        return on_body(s, req, upload_data, upload_data_size);
    if (req->answered && !req->dispatched)
        return MHD_YES; /* answered early, already queued */
    if (req->draining)
        return answer_now(conn, req, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large", NULL);
    if (!req->dispatched)
        return dispatch(s, conn, req);
    /* Resumed: the handler has answered. */
    struct MHD_Response *r = req->response;
    req->response = NULL;
    return queue(conn, req, req->status, r);
}

static void route_count(route_t *r, unsigned status, uint64_t ns)
{
    if (!r)
        return;
    r->requests++;
    r->seconds += (double)ns / 1e9;
    for (int i = 0; i < MAX_STATUSES; i++) {
        if (r->statuses[i] == status || r->statuses[i] == 0) {
            r->statuses[i] = status;
            r->counts[i]++;
            return;
        }
    }
}

char *http_server_metrics_text(const http_server_t *s)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    fprintf(f, "# HELP enjoliver_request_total Requests answered, per route.\n"
               "# TYPE enjoliver_request_total counter\n");
    for (size_t i = 0; i < s->n_routes; i++) {
        const route_t *r = &s->routes[i];
        fprintf(f, "enjoliver_request_total{method=\"%s\",path=\"%s%s\"} %llu\n", r->method,
                r->path, r->prefix ? "<path>" : "", (unsigned long long)r->requests);
    }
    fprintf(f, "# HELP enjoliver_responses_total Responses per route and status.\n"
               "# TYPE enjoliver_responses_total counter\n");
    for (size_t i = 0; i < s->n_routes; i++) {
        const route_t *r = &s->routes[i];
        for (int k = 0; k < MAX_STATUSES && r->statuses[k]; k++)
            fprintf(f,
                    "enjoliver_responses_total{method=\"%s\",path=\"%s%s\",status_code=\"%u\"} "
                    "%llu\n",
                    r->method, r->path, r->prefix ? "<path>" : "", r->statuses[k],
                    (unsigned long long)r->counts[k]);
    }
    fprintf(f, "# HELP enjoliver_requests_duration_seconds Time from request to completion.\n"
               "# TYPE enjoliver_requests_duration_seconds summary\n");
    for (size_t i = 0; i < s->n_routes; i++) {
        const route_t *r = &s->routes[i];
        const char *suffix = r->prefix ? "<path>" : "";
        fprintf(f,
                "enjoliver_requests_duration_seconds_sum{method=\"%s\",path=\"%s%s\"} %.6f\n"
                "enjoliver_requests_duration_seconds_count{method=\"%s\",path=\"%s%s\"} "
                "%llu\n",
                r->method, r->path, suffix, r->seconds, r->method, r->path, suffix,
                (unsigned long long)r->requests);
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn;
    http_request_t *req = *con_cls;
    if (req == NULL)
        return;
    *con_cls = NULL;
    route_count((route_t *)req->route, req->status, now_ns() - req->start_ns);
    if (log_enabled(LOG_LEVEL_DEBUG)) {
        char qpath[256];
        log_debug("http request", "method=%s path=%s status=%u duration_us=%llu toe=%d",
                  req->method != NULL ? req->method : "-", log_quote(req->uri, qpath, sizeof qpath),
                  req->status, (unsigned long long)((now_ns() - req->start_ns) / 1000u), (int)toe);
    }
    if (req->dispatched && !req->answered) {
        /* The client went away while a handler holds the request: the
         * handler still answers it later, into the void. Keep it alive. */
        req->conn = NULL;
        return;
    }
    free_request(req);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512], q[600];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_warn("libmicrohttpd", "detail=%s", log_quote(msg, q, sizeof q));
}

/* ---- streamed answers ---------------------------------------------------- */

#define STREAM_HIGH (1u << 20)
#define STREAM_LOW (256u << 10)

static void stream_unref(http_stream_t *st)
{
    if (--st->refs > 0)
        return;
    if (st->prev)
        st->prev->next = st->next;
    else if (st->server && st->server->streams == st)
        st->server->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    free(st->buf);
    free(st);
}

static void stream_wake(http_stream_t *st)
{
    if (st->suspended && st->conn && st->server) {
        st->suspended = false;
        MHD_resume_connection(st->conn);
        kick(st->server);
    }
}

/* MHD wants body bytes. No data yet: park the connection (MHD's pattern
 * for "nothing yet"); http_stream_write() resumes it. */
static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    http_stream_t *st = cls;
    if (st->len == 0) {
        if (st->ended)
            return st->failed ? MHD_CONTENT_READER_END_WITH_ERROR
                              : MHD_CONTENT_READER_END_OF_STREAM;
        st->suspended = true;
        MHD_suspend_connection(st->conn);
        return 0;
    }
    size_t n = st->len < max ? st->len : max;
    memcpy(out, st->buf + st->head, n);
    st->head += n;
    st->len -= n;
    if (st->len == 0)
        st->head = 0;
    if (st->paused && st->len < STREAM_LOW) {
        st->paused = false;
        if (st->resume && !st->ended)
            st->resume(st->arg);
    }
    return (ssize_t)n;
}

static void stream_released(void *cls)
{
    http_stream_t *st = cls;
    st->conn = NULL;
    st->suspended = false;
    stream_unref(st);
}

http_stream_t *http_request_respond_stream(http_request_t *req, unsigned status,
                                           const char *content_type, uint64_t size,
                                           http_stream_pause_fn pause, http_stream_pause_fn resume,
                                           void *arg)
{
    http_stream_t *st = calloc(1, sizeof(*st));
    struct MHD_Response *r =
        st ? MHD_create_response_from_callback(size == HTTP_SIZE_UNKNOWN ? MHD_SIZE_UNKNOWN : size,
                                               64 * 1024, stream_read, st, stream_released)
           : NULL;
    if (!r) {
        free(st);
        respond(req, status, NULL);
        return NULL;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    st->server = req->server;
    st->conn = req->conn;
    st->refs = 2;
    st->pause = pause;
    st->resume = resume;
    st->arg = arg;
    st->next = req->server->streams;
    if (st->next)
        st->next->prev = st;
    req->server->streams = st;
    respond(req, status, r);
    return st;
}

int http_stream_write(http_stream_t *st, const void *data, size_t len)
{
    if (!st->conn || st->ended)
        return -EPIPE;
    if (st->head + st->len + len > st->cap) {
        if (st->head) {
            memmove(st->buf, st->buf + st->head, st->len);
            st->head = 0;
        }
        size_t cap = st->cap ? st->cap : 64 * 1024;
        while (cap < st->len + len)
            cap *= 2;
        char *b = cap > st->cap ? realloc(st->buf, cap) : st->buf;
        if (!b)
            return -ENOMEM;
        st->buf = b;
        st->cap = cap > st->cap ? cap : st->cap;
    }
    memcpy(st->buf + st->head + st->len, data, len);
    st->len += len;
    if (!st->paused && st->len > STREAM_HIGH && st->pause) {
        st->paused = true;
        st->pause(st->arg);
    }
    stream_wake(st);
    return 0;
}

void http_stream_end(http_stream_t *st, int err)
{
    st->ended = true;
    st->failed = err != 0;
    stream_wake(st);
    stream_unref(st);
}

/* At shutdown: every unfinished stream is cut, so that no connection stays
 * suspended (MHD cannot stop with one). */
static void streams_abort(http_server_t *s)
{
    for (http_stream_t *st = s->streams; st; st = st->next) {
        if (!st->ended) {
            st->ended = true;
            st->failed = true;
        }
        stream_wake(st);
    }
}

/* ---- lifecycle ---------------------------------------------------------- */

int http_server_new(uv_loop_t *loop, http_server_t **out)
{
    if (loop == NULL || out == NULL)
        return -EINVAL;
    *out = NULL;
    http_server_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    s->loop = loop;
    s->body_limit = DEFAULT_BODY_LIMIT;
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    *out = s;
    return 0;
}

int http_server_route(http_server_t *s, const char *method, const char *path,
                      http_handler_fn handler, void *data)
{
    if (s == NULL || method == NULL || path == NULL || handler == NULL || path[0] != '/')
        return -EINVAL;
    if (s->mhd != NULL)
        return -EBUSY;
    if (s->n_routes >= MAX_ROUTES)
        return -ENOSPC;
    route_t *r = &s->routes[s->n_routes];
    size_t len = strlen(path);
    r->prefix = path[len - 1] == '*';
    r->len = r->prefix ? len - 1 : len;
    r->method = strdup(method);
    r->path = strndup(path, r->len);
    if (r->method == NULL || r->path == NULL) {
        free(r->method);
        free(r->path);
        return -ENOMEM;
    }
    r->fn = handler;
    r->data = data;
    s->n_routes++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void http_server_routes_json(const http_server_t *s, json_t *list)
{
    char *paths[MAX_ROUTES];
    size_t n = 0;
    for (size_t i = 0; i < s->n_routes; i++) {
        const route_t *r = &s->routes[i];
        if (asprintf(&paths[n], "%s%s", r->path, r->prefix ? "<path>" : "") >= 0)
            n++;
    }
    qsort(paths, n, sizeof paths[0], cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || strcmp(paths[i], paths[i - 1]) != 0)
            json_array_append_new(list, json_string(paths[i]));
    }
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
}

static int start_polling(http_server_t *s)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    if (info == NULL)
        return -EIO;
    int rc = uv_poll_init(s->loop, &s->poll, info->epoll_fd);
    if (rc != 0)
        return rc;
    s->poll.data = s;
    s->polling = true;
    uv_poll_start(&s->poll, UV_READABLE, on_poll);
    kick(s);
    return 0;
}

static int sockaddr_of(const http_server_config_t *cfg, struct sockaddr_storage *ss,
                       unsigned *flags)
{
    struct sockaddr_in *sa4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sa6 = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof *ss);
    if (inet_pton(AF_INET, cfg->host, &sa4->sin_addr) == 1) {
        sa4->sin_family = AF_INET;
        sa4->sin_port = htons(cfg->port);
        return 0;
    }
    if (inet_pton(AF_INET6, cfg->host, &sa6->sin6_addr) == 1) {
        sa6->sin6_family = AF_INET6;
        sa6->sin6_port = htons(cfg->port);
        *flags |= MHD_USE_IPv6;
        return 0;
    }
    return -EINVAL;
}

int http_server_start(http_server_t *s, const http_server_config_t *cfg)
{
    if (s == NULL || cfg == NULL || cfg->host == NULL)
        return -EINVAL;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    struct sockaddr_storage ss;
    char qhost[128];
    if (sockaddr_of(cfg, &ss, &flags) != 0) {
        log_error("http: not an IP address", "host=%s", log_quote(cfg->host, qhost, sizeof qhost));
        return -EINVAL;
    }
    if (cfg->body_limit != 0)
        s->body_limit = cfg->body_limit;
    unsigned limit = cfg->connection_limit ? cfg->connection_limit : DEFAULT_CONNECTION_LIMIT;
    unsigned timeout =
        cfg->connection_timeout_s ? cfg->connection_timeout_s : DEFAULT_CONNECTION_TIMEOUT_S;
    size_t mem = cfg->connection_memory ? cfg->connection_memory : DEFAULT_CONNECTION_MEMORY;
    errno = 0;
    s->mhd =
        MHD_start_daemon(flags, cfg->port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
                         on_mhd_log, s, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&ss,
                         MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_CONNECTION_TIMEOUT, timeout,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem, MHD_OPTION_URI_LOG_CALLBACK,
                         on_uri, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    if (s->mhd == NULL) {
        int rc = errno != 0 ? -errno : -EIO;
        char qerr[128];
        log_error("http: cannot listen", "host=%s port=%u error=%s",
                  log_quote(cfg->host, qhost, sizeof qhost), (unsigned)cfg->port,
                  log_quote(strerror(-rc), qerr, sizeof qerr));
        return rc;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info != NULL && info->port != 0 ? info->port : cfg->port;
    int rc = start_polling(s);
    if (rc != 0) {
        MHD_stop_daemon(s->mhd);
        s->mhd = NULL;
        return rc;
    }
    log_info("http: listening", "host=%s port=%u connection_limit=%u timeout_s=%u body_limit=%zu",
             log_quote(cfg->host, qhost, sizeof qhost), (unsigned)s->port, limit, timeout,
             s->body_limit);
    return 0;
}

uint16_t http_server_port(const http_server_t *s)
{
    return s->port;
}

void http_server_shutdown(http_server_t *s)
{
    /* Connections are still accepted until the server stops, so that a
     * client hears "503 shutting down" rather than a refused connection. */
    s->closing = true;
}

static void on_handle_closed(uv_handle_t *h)
{
    http_server_t *s = h->data;
    if (--s->pending_closes > 0)
        return;
    void (*done)(void *) = s->close_done;
    void *data = s->close_data;
    /* Producers may still hold streams: they outlive the server, detached. */
    for (http_stream_t *st = s->streams; st; st = st->next) {
        st->server = NULL;
        st->conn = NULL;
    }
    for (size_t i = 0; i < s->n_routes; i++) {
        free(s->routes[i].method);
        free(s->routes[i].path);
    }
    free(s);
    if (done != NULL)
        done(data);
}

static void on_stop_timer(uv_timer_t *t)
{
    http_server_t *s = t->data;
    streams_abort(s);
    if (s->mhd != NULL)
        MHD_run(s->mhd);
    if (s->polling) {
        uv_poll_stop(&s->poll);
    }
    if (s->mhd != NULL) {
        /* Every connection is resumed (inflight == 0), as MHD requires. */
        MHD_stop_daemon(s->mhd);
        s->mhd = NULL;
        log_info("http: stopped", "port=%u", (unsigned)s->port);
    }
    s->pending_closes = s->polling ? 2 : 1;
    if (s->polling)
        uv_close((uv_handle_t *)&s->poll, on_handle_closed);
    uv_close((uv_handle_t *)&s->timer, on_handle_closed);
}

/* Lets MHD flush the last answers, then stops. */
static void on_flush_timer(uv_timer_t *t)
{
    http_server_t *s = t->data;
    streams_abort(s);
    if (s->mhd != NULL)
        MHD_run(s->mhd);
    uv_timer_start(&s->timer, on_stop_timer, 0, 0);
}

static void maybe_finish_close(http_server_t *s)
{
    if (!s->close_requested || s->stopping || s->inflight != 0)
        return;
    s->stopping = true;
    uv_timer_start(&s->timer, s->mhd != NULL ? on_flush_timer : on_stop_timer,
                   s->mhd != NULL ? STOP_FLUSH_MS : 0, 0);
}

void http_server_close(http_server_t *s, void (*done)(void *data), void *data)
{
    s->close_done = done;
    s->close_data = data;
    s->close_requested = true;
    http_server_shutdown(s);
    maybe_finish_close(s);
}

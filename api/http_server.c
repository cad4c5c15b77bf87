/* HTTP server with hand-off to the loop: see http_server.h. */
#include "http_server.h"

#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define MAX_ROUTES 32
#define MAX_HEADERS 8
#define DEFAULT_CONNECTION_LIMIT 1024u
#define DEFAULT_CONNECTION_TIMEOUT_S 30u
#define DEFAULT_BODY_LIMIT (1u << 20)
#define DEFAULT_CONNECTION_MEMORY (64u << 10)
/* Delay between the last answer and MHD_stop_daemon(), so that answers
 * given during the shutdown reach their clients. */
#define STOP_FLUSH_MS 100u

typedef struct route_s {
    char *method;
    char *path;
    http_handler_fn fn;
    void *data;
} route_t;

struct http_request_s {
    http_server_t *server;
    struct MHD_Connection *conn;
    char *method;
    char *path;
    const route_t *route;
    char *body;
    size_t body_len;
    size_t body_cap;
    uint64_t start_ns;
    http_request_t *next; /* hand-off queue */
    /* The answer, set on the loop before resuming. */
    int answered;
    unsigned status;
    struct MHD_Response *response;
    int n_headers;
    char *header_names[MAX_HEADERS];
    char *header_values[MAX_HEADERS];
};

struct http_server_s {
    uv_loop_t *loop;
    uv_async_t async;
    uv_timer_t stop_timer;
    struct MHD_Daemon *mhd;
    route_t routes[MAX_ROUTES];
    size_t n_routes;
    size_t body_limit;
    uint16_t port;

    pthread_mutex_t mu; /* guards head, tail, closing */
    http_request_t *head;
    http_request_t *tail;
    int closing;

    /* Loop thread only. */
    size_t inflight; /* dispatched to the loop, not answered yet */
    int close_requested;
    int stopping;
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

/* ---- responses -------------------------------------------------------- */

/* A JSON response in Flask jsonify's format; steals body. NULL on ENOMEM. */
static struct MHD_Response *json_response(json_t *body)
{
    if (body == NULL) {
        body = json_object();
    }
    char *text = body != NULL ? json_dumps(body, JSON_SORT_KEYS | JSON_INDENT(2)) : NULL;
    json_decref(body);
    if (text == NULL) {
        return NULL;
    }
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

/* MHD thread: queue an answer now. */
static enum MHD_Result answer_now(struct MHD_Connection *conn, http_request_t *req, unsigned status,
                                  const char *message, const char *allow)
{
    struct MHD_Response *r = json_response(error_body(status, message));
    if (r == NULL) {
        return MHD_NO;
    }
    if (allow != NULL) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    }
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    }
    if (req != NULL) {
        req->status = status;
    }
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---- loop side -------------------------------------------------------- */

static void maybe_finish_close(http_server_t *s);

static void respond(http_request_t *req, unsigned status, struct MHD_Response *r)
{
    http_server_t *s = req->server;
    for (int i = 0; r != NULL && i < req->n_headers; i++) {
        MHD_add_response_header(r, req->header_names[i], req->header_values[i]);
    }
    req->status = status;
    req->response = r; /* NULL: the MHD thread drops the connection */
    req->answered = 1;
    s->inflight--;
    /* From here on the MHD thread owns req again. */
    MHD_resume_connection(req->conn);
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

int http_request_add_header(http_request_t *req, const char *name, const char *value)
{
    if (req->n_headers >= MAX_HEADERS) {
        return -ENOSPC;
    }
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

const char *http_request_method(const http_request_t *req)
{
    return req->method;
}

const char *http_request_path(const http_request_t *req)
{
    return req->path;
}

const char *http_request_body(const http_request_t *req, size_t *len)
{
    if (len != NULL) {
        *len = req->body_len;
    }
    return req->body != NULL ? req->body : "";
}

static http_request_t *take_queue(http_server_t *s, int set_closing, int *closing)
{
    pthread_mutex_lock(&s->mu);
    if (set_closing) {
        s->closing = 1;
    }
    http_request_t *list = s->head;
    s->head = s->tail = NULL;
    *closing = s->closing;
    pthread_mutex_unlock(&s->mu);
    return list;
}

static void dispatch(http_server_t *s, http_request_t *list, int closing)
{
    while (list != NULL) {
        http_request_t *req = list;
        list = req->next;
        req->next = NULL;
        s->inflight++;
        if (closing) {
            http_request_respond_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down");
        } else {
            req->route->fn(req, req->route->data);
        }
    }
}

static void on_async(uv_async_t *a)
{
    http_server_t *s = a->data;
    int closing = 0;
    http_request_t *list = take_queue(s, 0, &closing);
    dispatch(s, list, closing);
}

/* ---- MHD side --------------------------------------------------------- */

static void free_request(http_request_t *req)
{
    if (req->response != NULL) {
        MHD_destroy_response(req->response);
    }
    for (int i = 0; i < req->n_headers; i++) {
        free(req->header_names[i]);
        free(req->header_values[i]);
    }
    free(req->method);
    free(req->path);
    free(req->body);
    free(req);
}

static const route_t *find_route(const http_server_t *s, const char *method, const char *path,
                                 int *path_known, char *allow, size_t allow_len)
{
    *path_known = 0;
    allow[0] = '\0';
    const route_t *found = NULL;
    for (size_t i = 0; i < s->n_routes; i++) {
        const route_t *r = &s->routes[i];
        if (strcmp(r->path, path) != 0) {
            continue;
        }
        *path_known = 1;
        size_t used = strlen(allow);
        snprintf(allow + used, allow_len - used, "%s%s%s", used ? ", " : "", r->method,
                 strcmp(r->method, "GET") == 0 ? ", HEAD" : "");
        if (strcmp(r->method, method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0)) {
            found = r;
        }
    }
    return found;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    http_server_t *s = cls;
    http_request_t *req = *con_cls;

    if (req == NULL) {
        /* First call: headers only. */
        req = calloc(1, sizeof *req);
        if (req == NULL) {
            return MHD_NO;
        }
        req->server = s;
        req->conn = conn;
        req->start_ns = now_ns();
        req->method = strdup(method);
        req->path = strdup(url);
        *con_cls = req;
        if (req->method == NULL || req->path == NULL) {
            return MHD_NO;
        }
        int path_known = 0;
        char allow[128];
        req->route = find_route(s, method, url, &path_known, allow, sizeof allow);
        if (req->route == NULL) {
            return path_known ? answer_now(conn, req, MHD_HTTP_METHOD_NOT_ALLOWED,
                                           "method not allowed on this route", allow)
                              : answer_now(conn, req, MHD_HTTP_NOT_FOUND, "no such route", NULL);
        }
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL && strtoull(cl, NULL, 10) > s->body_limit) {
            return answer_now(conn, req, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large",
                              NULL);
        }
        return MHD_YES;
    }

    if (req->route == NULL) {
        /* An early answer is queued; discard any body. */
        *upload_data_size = 0;
        return MHD_YES;
    }

    if (*upload_data_size != 0) {
        size_t n = *upload_data_size;
        if (req->body_len + n > s->body_limit) {
            return MHD_NO; /* chunked body over the limit: drop the connection */
        }
        if (req->body_len + n + 1 > req->body_cap) {
            size_t cap = req->body_cap ? req->body_cap : 1024;
            while (cap < req->body_len + n + 1) {
                cap *= 2;
            }
            char *b = realloc(req->body, cap);
            if (b == NULL) {
                return MHD_NO;
            }
            req->body = b;
            req->body_cap = cap;
        }
        memcpy(req->body + req->body_len, upload_data, n);
        req->body_len += n;
        req->body[req->body_len] = '\0';
        *upload_data_size = 0;
        return MHD_YES;
    }

    if (req->answered) {
        /* Resumed: the loop has answered. */
        if (req->response == NULL) {
            return MHD_NO;
        }
        enum MHD_Result ret = MHD_queue_response(conn, req->status, req->response);
        MHD_destroy_response(req->response);
        req->response = NULL;
        return ret;
    }

    /* Complete request: suspend first (so the loop can only resume a
     * suspended connection), then hand it over. */
    pthread_mutex_lock(&s->mu);
    if (s->closing) {
        pthread_mutex_unlock(&s->mu);
        return answer_now(conn, req, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down", NULL);
    }
    MHD_suspend_connection(conn);
    if (s->tail != NULL) {
        s->tail->next = req;
    } else {
        s->head = req;
    }
    s->tail = req;
    pthread_mutex_unlock(&s->mu);
    uv_async_send(&s->async);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    http_request_t *req = *con_cls;
    if (req == NULL) {
        return;
    }
    *con_cls = NULL;
    if (log_enabled(LOG_LEVEL_DEBUG)) {
        char qpath[256];
        log_debug("http request", "method=%s path=%s status=%u duration_us=%llu toe=%d",
                  req->method != NULL ? req->method : "-",
                  log_quote(req->path, qpath, sizeof qpath), req->status,
                  (unsigned long long)((now_ns() - req->start_ns) / 1000u), (int)toe);
    }
    free_request(req);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512], q[600];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) {
        msg[--n] = '\0';
    }
    log_warn("libmicrohttpd", "detail=%s", log_quote(msg, q, sizeof q));
}

/* ---- lifecycle -------------------------------------------------------- */

int http_server_new(uv_loop_t *loop, http_server_t **out)
{
    *out = NULL;
    http_server_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return -ENOMEM;
    }
    s->loop = loop;
    s->body_limit = DEFAULT_BODY_LIMIT;
    int rc = pthread_mutex_init(&s->mu, NULL);
    if (rc != 0) {
        free(s);
        return -rc;
    }
    rc = uv_async_init(loop, &s->async, on_async);
    if (rc != 0) {
        pthread_mutex_destroy(&s->mu);
        free(s);
        return rc;
    }
    s->async.data = s;
    uv_timer_init(loop, &s->stop_timer);
    s->stop_timer.data = s;
    *out = s;
    return 0;
}

int http_server_route(http_server_t *s, const char *method, const char *path,
                      http_handler_fn handler, void *data)
{
    if (method == NULL || path == NULL || handler == NULL || path[0] != '/') {
        return -EINVAL;
    }
    if (s->mhd != NULL) {
        return -EBUSY;
    }
    if (s->n_routes >= MAX_ROUTES) {
        return -ENOSPC;
    }
    route_t *r = &s->routes[s->n_routes];
    r->method = strdup(method);
    r->path = strdup(path);
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

int http_server_start(http_server_t *s, const http_server_config_t *cfg)
{
    struct sockaddr_in sa4 = {.sin_family = AF_INET, .sin_port = htons(cfg->port)};
    struct sockaddr_in6 sa6 = {.sin6_family = AF_INET6, .sin6_port = htons(cfg->port)};
    const struct sockaddr *sa;
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    char qhost[128];
    if (inet_pton(AF_INET, cfg->host, &sa4.sin_addr) == 1) {
        sa = (const struct sockaddr *)&sa4;
    } else if (inet_pton(AF_INET6, cfg->host, &sa6.sin6_addr) == 1) {
        sa = (const struct sockaddr *)&sa6;
        flags |= MHD_USE_IPv6;
    } else {
        log_error("http: not an IP address", "host=%s", log_quote(cfg->host, qhost, sizeof qhost));
        return -EINVAL;
    }
    if (cfg->body_limit != 0) {
        s->body_limit = cfg->body_limit;
    }
    unsigned limit = cfg->connection_limit ? cfg->connection_limit : DEFAULT_CONNECTION_LIMIT;
    unsigned timeout =
        cfg->connection_timeout_s ? cfg->connection_timeout_s : DEFAULT_CONNECTION_TIMEOUT_S;
    size_t mem = cfg->connection_memory ? cfg->connection_memory : DEFAULT_CONNECTION_MEMORY;
    errno = 0;
    s->mhd =
        MHD_start_daemon(flags, cfg->port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
                         on_mhd_log, s, /* first */
                         MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_CONNECTION_LIMIT, limit,
                         MHD_OPTION_CONNECTION_TIMEOUT, timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                         mem, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
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
    int closing = 0;
    http_request_t *list = take_queue(s, 1, &closing);
    dispatch(s, list, 1);
}

static void on_handle_closed(uv_handle_t *h)
{
    http_server_t *s = h->data;
    if (--s->pending_closes > 0) {
        return;
    }
    void (*done)(void *) = s->close_done;
    void *data = s->close_data;
    for (size_t i = 0; i < s->n_routes; i++) {
        free(s->routes[i].method);
        free(s->routes[i].path);
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
    if (done != NULL) {
        done(data);
    }
}

static void on_stop_timer(uv_timer_t *t)
{
    http_server_t *s = t->data;
    if (s->mhd != NULL) {
        /* Every connection is resumed (inflight == 0 and the queue is
         * empty), as MHD requires; this joins the MHD thread. */
        MHD_stop_daemon(s->mhd);
        s->mhd = NULL;
        log_info("http: stopped", "port=%u", (unsigned)s->port);
    }
    /* No MHD thread any more: nothing can uv_async_send. */
    s->pending_closes = 2;
    uv_close((uv_handle_t *)&s->async, on_handle_closed);
    uv_close((uv_handle_t *)&s->stop_timer, on_handle_closed);
}

static void maybe_finish_close(http_server_t *s)
{
    if (!s->close_requested || s->stopping || s->inflight != 0) {
        return;
    }
    s->stopping = 1;
    uv_timer_start(&s->stop_timer, on_stop_timer, s->mhd != NULL ? STOP_FLUSH_MS : 0, 0);
}

void http_server_close(http_server_t *s, void (*done)(void *data), void *data)
{
    s->close_done = done;
    s->close_data = data;
    s->close_requested = 1;
    http_server_shutdown(s);
    maybe_finish_close(s);
}

/* Asynchronous HTTP client on the libuv loop: see http_client.h. */
#include "common/http_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 2000u
#define DEFAULT_TIMEOUT_MS 10000u
#define DEFAULT_MAX_HOST_CONNECTIONS 16u
#define DEFAULT_MAX_TOTAL_CONNECTIONS 256u
#define DEFAULT_USER_AGENT "enjoliver"
#define DEFAULT_MAX_RESPONSE_SIZE ((size_t)64 << 20)
#define MAX_RESPONSE_HEADERS 128
#define STREAM_BUFFER_SIZE (64L << 10)

typedef struct sock_s sock_t;

struct sock_s {
    uv_poll_t poll;
    http_client_t *client;
    curl_socket_t fd;
    int events; /* UV_READABLE | UV_WRITABLE, as last asked by curl */
    bool closing;
    sock_t *prev, *next;
};

struct http_call_s {
    http_client_t *client;
    CURL *easy;
    struct curl_slist *req_headers;
    char *req_body;
    char *method; /* for the log */
    http_done_fn done;
    http_headers_fn on_headers;
    http_data_fn on_data;
    void *data;

    bool streaming;
    bool attached;      /* added to the multi handle */
    bool cancelled;     /* http_call_cancel() or close: finish with -ECANCELED */
    bool finished;      /* done is running or ran */
    bool paused;        /* the consumer asked for a pause */
    bool curl_paused;   /* the write callback returned CURL_WRITEFUNC_PAUSE */
    bool resume_wanted; /* unpause curl on the next idle turn */
    bool headers_done;  /* the final answer's headers are complete */
    bool queued;        /* in the client's deferred queue */

    int early_err; /* failed before reaching curl: finish on the next turn */
    const char *early_msg;
    int fail_err; /* set by our curl callbacks (-EFBIG, -ENOMEM) */
    const char *fail_msg;

    long status;
    size_t max_size; /* 0 = no limit */
    size_t received;
    char *buf;
    size_t len, cap;
    http_header_t *hdrs; /* name points to one block "name\0value\0" */
    size_t n_hdrs, cap_hdrs;

    uint64_t start_ns;
    char errbuf[CURL_ERROR_SIZE];

    http_call_t *prev, *next;   /* the client's live calls */
    http_call_t *qprev, *qnext; /* the client's deferred queue */
};

struct http_client_s {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer; /* curl's timeout */
    uv_idle_t idle;   /* deferred work: early errors, cancels, resumes, attach, close */
    unsigned connect_timeout_ms, timeout_ms;
    char *user_agent;

    http_call_t *calls;
    size_t n_calls;
    http_call_t *qhead, *qtail;
    sock_t *socks;
    int handles_open; /* initialised uv handles whose close callback has not run */

    bool closing;   /* http_client_close() was called */
    bool torn_down; /* the multi handle is gone, the uv handles are closing */
    void (*close_done)(void *data);
    void *close_data;
};

/* ---- globals --------------------------------------------------------------- */

int http_client_global_init(void)
{
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        log_error("curl_global_init failed", "error=\"%s\"", curl_easy_strerror(rc));
        return -EIO;
    }
    return 0;
}

void http_client_global_cleanup(void)
{
    curl_global_cleanup();
}

/* ---- small helpers -------------------------------------------------------- */

static void on_idle(uv_idle_t *h);

static void queue_push(http_call_t *call)
{
    http_client_t *c = call->client;
    if (call->queued) {
        return;
    }
    call->queued = true;
    call->qnext = NULL;
    call->qprev = c->qtail;
    if (c->qtail != NULL) {
        c->qtail->qnext = call;
    } else {
        c->qhead = call;
    }
    c->qtail = call;
    if (!c->torn_down) {
        uv_idle_start(&c->idle, on_idle);
    }
}

static void queue_remove(http_call_t *call)
{
    http_client_t *c = call->client;
    if (!call->queued) {
        return;
    }
    if (call->qprev != NULL) {
        call->qprev->qnext = call->qnext;
    } else {
        c->qhead = call->qnext;
    }
    if (call->qnext != NULL) {
        call->qnext->qprev = call->qprev;
    } else {
        c->qtail = call->qprev;
    }
    call->qprev = call->qnext = NULL;
    call->queued = false;
}

static int map_curl_error(CURLcode rc, long os_errno)
{
    switch (rc) {
    case CURLE_OK:
        return 0;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_COULDNT_CONNECT:
        switch (os_errno) {
        case EHOSTUNREACH:
        case ENETUNREACH:
        case EHOSTDOWN:
        case ENETDOWN:
            return -EHOSTUNREACH;
        case ETIMEDOUT:
            return -ETIMEDOUT;
        default:
            return -ECONNREFUSED;
        }
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return -EHOSTUNREACH;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2_STREAM:
        return -ECONNRESET;
    case CURLE_FILESIZE_EXCEEDED:
        return -EFBIG;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return -EINVAL;
    default:
        return -EIO;
    }
}

static void free_headers(http_call_t *call)
{
    for (size_t i = 0; i < call->n_hdrs; i++) {
        free((char *)call->hdrs[i].name);
    }
    call->n_hdrs = 0;
}

static void call_free(http_call_t *call)
{
    if (call->easy != NULL) {
        curl_easy_cleanup(call->easy);
    }
    curl_slist_free_all(call->req_headers);
    free(call->req_body);
    free(call->method);
    free(call->buf);
    free_headers(call);
    free(call->hdrs);
    free(call);
}

static const char *find_header(const http_header_t *h, size_t n, const char *name)
{
    for (size_t i = n; i-- > 0;) {
        if (strcasecmp(h[i].name, name) == 0) {
            return h[i].value;
        }
    }
    return NULL;
}

const char *http_response_header(const http_response_t *res, const char *name)
{
    if (res == NULL || name == NULL) {
        return NULL;
    }
    return find_header(res->headers, res->n_headers, name);
}

static void fill_response(http_call_t *call, http_response_t *res)
{
    memset(res, 0, sizeof *res);
    res->error = "";
    res->status = call->status;
    res->headers = call->hdrs;
    res->n_headers = call->n_hdrs;
    res->content_type = find_header(call->hdrs, call->n_hdrs, "Content-Type");
}

/*
 * Completes a call: detaches it from curl and the client, runs done, frees
 * it. Never called from inside a curl callback (curl forbids removing a
 * handle there) nor from inside a public function.
 */
static void finish(http_call_t *call, int err, const char *msg)
{
    http_client_t *c = call->client;
    if (call->finished) {
        return;
    }
    call->finished = true;
    queue_remove(call);
    if (call->attached) {
        curl_multi_remove_handle(c->multi, call->easy);
        call->attached = false;
    }
    if (call->prev != NULL) {
        call->prev->next = call->next;
    } else {
        c->calls = call->next;
    }
    if (call->next != NULL) {
        call->next->prev = call->prev;
    }
    c->n_calls--;

    http_response_t res;
    fill_response(call, &res);
    res.err = err;
    if (err != 0) {
        res.error = (msg != NULL && msg[0] != '\0') ? msg : strerror(-err);
    }
    if (!call->streaming) {
        if (err == 0 && call->buf != NULL) {
            call->buf[call->len] = '\0';
            res.body = call->buf;
            res.body_len = call->len;
        } else {
            res.body = "";
        }
    }
    res.total_us = (uv_hrtime() - call->start_ns) / 1000u;
    if (err != 0 && err != -ECANCELED && log_enabled(LOG_LEVEL_DEBUG)) {
        char *url = NULL;
        char qurl[256], qerr[256];
        if (call->easy != NULL) {
            curl_easy_getinfo(call->easy, CURLINFO_EFFECTIVE_URL, &url);
        }
        log_debug("http request failed", "method=%s url=%s err=%d error=%s",
                  call->method != NULL ? call->method : "?",
                  log_quote(url != NULL ? url : "", qurl, sizeof qurl), err,
                  log_quote(res.error, qerr, sizeof qerr));
    }
    call->done(&res, call->data);
    call_free(call);
}

/* ---- curl callbacks for one transfer -------------------------------------- */

static size_t on_curl_header(char *ptr, size_t size, size_t nitems, void *userdata)
{
    http_call_t *call = userdata;
    size_t n = size * nitems;
    if (call->cancelled || call->finished) {
        return 0;
    }
    size_t len = n;
    while (len > 0 && (ptr[len - 1] == '\n' || ptr[len - 1] == '\r')) {
        len--;
    }
    if (len >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
        /* A status line: a new header block (after a 1xx, say). */
        free_headers(call);
        const char *sp = memchr(ptr, ' ', len);
        long status = 0;
        if (sp != NULL) {
            for (const char *p = sp + 1; p < ptr + len && *p >= '0' && *p <= '9'; p++) {
                status = status * 10 + (*p - '0');
            }
        }
        if (status >= 200 && !call->headers_done) {
            call->status = status;
        }
        return n;
    }
    if (call->headers_done) {
        return n; /* trailers */
    }
    if (len == 0) {
        /* End of a header block: the final one unless it followed a 1xx. */
        if (call->status >= 200) {
            call->headers_done = true;
            if (call->on_headers != NULL) {
                http_response_t res;
                fill_response(call, &res);
                call->on_headers(call, &res, call->data);
            }
        }
        return n;
    }
    if (ptr[0] == ' ' || ptr[0] == '\t') {
        return n; /* obsolete line folding: ignored */
    }
    const char *colon = memchr(ptr, ':', len);
    if (colon == NULL || colon == ptr) {
        return n;
    }
    if (call->n_hdrs == MAX_RESPONSE_HEADERS) {
        call->fail_err = -EFBIG;
        call->fail_msg = "too many response headers";
        return 0;
    }
    if (call->n_hdrs == call->cap_hdrs) {
        size_t cap = call->cap_hdrs == 0 ? 16 : call->cap_hdrs * 2;
        http_header_t *h = realloc(call->hdrs, cap * sizeof *h);
        if (h == NULL) {
            call->fail_err = -ENOMEM;
            return 0;
        }
        call->hdrs = h;
        call->cap_hdrs = cap;
    }
    size_t name_len = (size_t)(colon - ptr);
    const char *v = colon + 1;
    const char *end = ptr + len;
    while (v < end && (*v == ' ' || *v == '\t')) {
        v++;
    }
    while (end > v && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }
    size_t value_len = (size_t)(end - v);
    char *block = malloc(name_len + value_len + 2);
    if (block == NULL) {
        call->fail_err = -ENOMEM;
        return 0;
    }
    memcpy(block, ptr, name_len);
    block[name_len] = '\0';
    memcpy(block + name_len + 1, v, value_len);
    block[name_len + 1 + value_len] = '\0';
    call->hdrs[call->n_hdrs].name = block;
    call->hdrs[call->n_hdrs].value = block + name_len + 1;
    call->n_hdrs++;
    return n;
}

static size_t on_curl_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    http_call_t *call = userdata;
    size_t n = size * nmemb;
    if (call->cancelled || call->finished) {
        return 0;
    }
    if (call->paused) {
        /* curl keeps this chunk and hands it again after the unpause. */
        call->curl_paused = true;
        return CURL_WRITEFUNC_PAUSE;
    }
    if (call->max_size != 0 && (n > call->max_size || call->received > call->max_size - n)) {
        call->fail_err = -EFBIG;
        call->fail_msg = "response larger than max_response_size";
        return 0;
    }
    call->received += n;
    if (call->streaming) {
        if (n > 0) {
            call->on_data(call, ptr, n, call->data);
        }
        return n;
    }
    if (call->len + n + 1 > call->cap) {
        size_t need = call->len + n + 1;
        size_t cap = call->cap * 2;
        if (call->cap == 0) {
            curl_off_t cl = -1;
            curl_easy_getinfo(call->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
            cap = (cl > 0 && (size_t)cl <= call->max_size) ? (size_t)cl + 1 : 16384;
        }
        if (cap < need) {
            cap = need;
        }
        if (call->max_size < SIZE_MAX && cap > call->max_size + 1) {
            cap = call->max_size + 1;
        }
        char *b = realloc(call->buf, cap);
        if (b == NULL) {
            call->fail_err = -ENOMEM;
            return 0;
        }
        call->buf = b;
        call->cap = cap;
    }
    memcpy(call->buf + call->len, ptr, n);
    call->len += n;
    return n;
}

/* ---- driving curl from the loop ------------------------------------------ */

static void check_multi_info(http_client_t *c)
{
    CURLMsg *msg;
    int left;
    while (c->multi != NULL && (msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;
        http_call_t *call = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&call);
        if (call == NULL) {
            continue;
        }
        if (call->cancelled) {
            finish(call, -ECANCELED, "canceled");
        } else if (call->fail_err != 0) {
            finish(call, call->fail_err, call->fail_msg);
        } else {
            long os_errno = 0;
            curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
            int err = map_curl_error(rc, os_errno);
            finish(call, err, call->errbuf[0] != '\0' ? call->errbuf : curl_easy_strerror(rc));
        }
    }
}

static void on_uv_timer(uv_timer_t *t)
{
    http_client_t *c = t->data;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(c);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    http_client_t *c = userp;
    (void)multi;
    if (c->torn_down) {
        return 0;
    }
    if (timeout_ms < 0) {
        uv_timer_stop(&c->timer);
    } else {
        /* Even 0: act on the next loop turn, never inside curl. */
        uv_timer_start(&c->timer, on_uv_timer, (uint64_t)timeout_ms, 0);
    }
    return 0;
}

static void on_handle_closed(uv_handle_t *h);

static void sock_close(sock_t *sk)
{
    http_client_t *c = sk->client;
    if (sk->closing) {
        return;
    }
    sk->closing = true;
    if (sk->prev != NULL) {
        sk->prev->next = sk->next;
    } else {
        c->socks = sk->next;
    }
    if (sk->next != NULL) {
        sk->next->prev = sk->prev;
    }
    uv_close((uv_handle_t *)&sk->poll, on_handle_closed);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    sock_t *sk = h->data;
    http_client_t *c = sk->client;
    int flags = 0;
    if (status < 0) {
        /* libuv stopped the handle (POLLERR); let curl find out why. */
        flags = CURL_CSELECT_ERR | CURL_CSELECT_IN | CURL_CSELECT_OUT;
    } else {
        flags |= (events & UV_READABLE) ? CURL_CSELECT_IN : 0;
        flags |= (events & UV_WRITABLE) ? CURL_CSELECT_OUT : 0;
    }
    int running;
    curl_multi_socket_action(c->multi, sk->fd, flags, &running);
    /* sk is freed only by its close callback: still valid here. */
    if (status < 0 && !sk->closing && !c->torn_down && sk->events != 0) {
        uv_poll_start(&sk->poll, sk->events, on_poll);
    }
    check_multi_info(c);
}

static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    http_client_t *c = userp;
    sock_t *sk = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (sk != NULL) {
            sock_close(sk);
            if (c->multi != NULL && !c->torn_down) {
                curl_multi_assign(c->multi, s, NULL);
            }
        }
        return 0;
    }
    if (c->torn_down) {
        return -1;
    }
    if (sk == NULL) {
        sk = calloc(1, sizeof *sk);
        if (sk == NULL) {
            return -1;
        }
        int rc = uv_poll_init_socket(c->loop, &sk->poll, s);
        if (rc != 0) {
            log_error("http client: cannot poll socket", "fd=%d error=\"%s\"", (int)s,
                      uv_strerror(rc));
            free(sk);
            return -1;
        }
        sk->poll.data = sk;
        sk->client = c;
        sk->fd = s;
        sk->next = c->socks;
        if (c->socks != NULL) {
            c->socks->prev = sk;
        }
        c->socks = sk;
        c->handles_open++;
        curl_multi_assign(c->multi, s, sk);
    }
    int events = 0;
    events |= (what & CURL_POLL_IN) ? UV_READABLE : 0;
    events |= (what & CURL_POLL_OUT) ? UV_WRITABLE : 0;
    sk->events = events;
    int rc = events != 0 ? uv_poll_start(&sk->poll, events, on_poll) : uv_poll_stop(&sk->poll);
    if (rc != 0) {
        log_error("http client: cannot poll socket", "fd=%d error=\"%s\"", (int)s, uv_strerror(rc));
        return -1;
    }
    return 0;
}

/* ---- deferred work and closing ------------------------------------------- */

static void finalize(http_client_t *c)
{
    void (*done)(void *) = c->close_done;
    void *data = c->close_data;
    free(c->user_agent);
    free(c);
    if (done != NULL) {
        done(data);
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    http_client_t *c;
    if (h->type == UV_POLL) {
        sock_t *sk = h->data;
        c = sk->client;
        free(sk);
    } else {
        c = h->data;
    }
    c->handles_open--;
    if (c->torn_down && c->handles_open == 0) {
        finalize(c);
    }
}

static void teardown(http_client_t *c)
{
    c->torn_down = true;
    if (c->multi != NULL) {
        curl_multi_cleanup(c->multi); /* closes the cached connections */
        c->multi = NULL;
    }
    while (c->socks != NULL) {
        sock_close(c->socks);
    }
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->idle, on_handle_closed);
}

static void run_deferred(http_call_t *call)
{
    http_client_t *c = call->client;
    if (call->cancelled) {
        finish(call, -ECANCELED, "canceled");
    } else if (call->early_err != 0) {
        finish(call, call->early_err, call->early_msg);
    } else if (!call->attached) {
        CURLMcode mrc = curl_multi_add_handle(c->multi, call->easy);
        if (mrc != CURLM_OK) {
            finish(call, mrc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO, curl_multi_strerror(mrc));
        } else {
            call->attached = true;
        }
    } else if (call->resume_wanted) {
        call->resume_wanted = false;
        if (!call->paused && call->curl_paused) {
            call->curl_paused = false;
            /* May hand the kept chunk to on_data right away. */
            CURLcode rc = curl_easy_pause(call->easy, CURLPAUSE_CONT);
            if (rc != CURLE_OK && !call->finished) {
                if (call->cancelled) {
                    finish(call, -ECANCELED, "canceled");
                } else if (call->fail_err != 0) {
                    finish(call, call->fail_err, call->fail_msg);
                } else {
                    finish(call, map_curl_error(rc, 0), curl_easy_strerror(rc));
                }
            }
        }
    }
}

static void on_idle(uv_idle_t *h)
{
    http_client_t *c = h->data;
    /* Work queued while this runs waits for the next turn (bounded pass). */
    size_t n = 0;
    for (http_call_t *call = c->qhead; call != NULL; call = call->qnext) {
        n++;
    }
    for (size_t i = 0; i < n && c->qhead != NULL; i++) {
        http_call_t *call = c->qhead;
        queue_remove(call);
        run_deferred(call);
    }
    check_multi_info(c);
    if (c->closing && c->n_calls == 0) {
        teardown(c);
        return;
    }
    if (c->qhead == NULL && !c->closing) {
        uv_idle_stop(&c->idle);
    }
}

/* ---- public API ----------------------------------------------------------- */

int http_client_new(uv_loop_t *loop, const http_client_config_t *cfg, http_client_t **out)
{
    if (loop == NULL || out == NULL) {
        return -EINVAL;
    }
    http_client_config_t def = {0};
    if (cfg == NULL) {
        cfg = &def;
    }
    http_client_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return -ENOMEM;
    }
    c->loop = loop;
    c->connect_timeout_ms =
        cfg->connect_timeout_ms ? cfg->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
    long per_host =
        cfg->max_host_connections ? cfg->max_host_connections : DEFAULT_MAX_HOST_CONNECTIONS;
    long total =
        cfg->max_total_connections ? cfg->max_total_connections : DEFAULT_MAX_TOTAL_CONNECTIONS;
    c->user_agent = strdup(cfg->user_agent != NULL ? cfg->user_agent : DEFAULT_USER_AGENT);
    c->multi = curl_multi_init();
    if (c->user_agent == NULL || c->multi == NULL) {
        int err = c->user_agent == NULL ? -ENOMEM : -EIO;
        if (c->multi != NULL) {
            curl_multi_cleanup(c->multi);
        }
        free(c->user_agent);
        free(c);
        return err;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, per_host);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, total);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, total);

    /* Both always succeed on Unix (they only initialise memory). */
    uv_timer_init(loop, &c->timer);
    uv_idle_init(loop, &c->idle);
    c->timer.data = c;
    c->idle.data = c;
    c->handles_open = 2;
    *out = c;
    return 0;
}

static bool valid_token(const char *s)
{
    if (s == NULL || s[0] == '\0') {
        return false;
    }
    for (const char *p = s; *p != '\0'; p++) {
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 127 ||
            strchr("()<>@,;:\\\"/[]?={}", *p)) {
            return false;
        }
    }
    return true;
}

static bool valid_value(const char *s)
{
    return s == NULL || strpbrk(s, "\r\n") == NULL;
}

/* The request headers as curl wants them; -EINVAL or -ENOMEM. */
static int build_headers(const http_client_req_t *req, struct curl_slist **out)
{
    struct curl_slist *list = NULL;
    bool has_expect = false;
    for (size_t i = 0; i < req->n_headers; i++) {
        const http_header_t *h = &req->headers[i];
        if (!valid_token(h->name) || !valid_value(h->value)) {
            curl_slist_free_all(list);
            return -EINVAL;
        }
        has_expect = has_expect || strcasecmp(h->name, "Expect") == 0;
        size_t len = strlen(h->name) + (h->value != NULL ? strlen(h->value) : 0) + 4;
        char *line = malloc(len);
        if (line == NULL) {
            curl_slist_free_all(list);
            return -ENOMEM;
        }
        if (h->value == NULL) {
            snprintf(line, len, "%s:", h->name); /* removes curl's own */
        } else if (h->value[0] == '\0') {
            snprintf(line, len, "%s;", h->name); /* curl's syntax for an empty value */
        } else {
            snprintf(line, len, "%s: %s", h->name, h->value);
        }
        struct curl_slist *l = curl_slist_append(list, line);
        free(line);
        if (l == NULL) {
            curl_slist_free_all(list);
            return -ENOMEM;
        }
        list = l;
    }
    if (req->body != NULL && !has_expect) {
        /* No "Expect: 100-continue" round trip for large bodies. */
        struct curl_slist *l = curl_slist_append(list, "Expect:");
        if (l == NULL) {
            curl_slist_free_all(list);
            return -ENOMEM;
        }
        list = l;
    }
    *out = list;
    return 0;
}

/* Configures the easy handle; a CURLcode, checked by the caller. */
static CURLcode setup_easy(http_client_t *c, http_call_t *call, const http_client_req_t *req)
{
    CURL *e = call->easy;
    CURLcode rc = CURLE_OK;
    unsigned timeout = req->timeout_ms ? req->timeout_ms : c->timeout_ms;
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (rc == CURLE_OK) {                                                                      \
            rc = curl_easy_setopt(e, opt, val);                                                    \
        }                                                                                          \
    } while (0)
    SET(CURLOPT_PRIVATE, (void *)call);
    SET(CURLOPT_ERRORBUFFER, call->errbuf);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L); /* a proxy's CONNECT answer is not ours */
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
    SET(CURLOPT_TIMEOUT_MS, (long)timeout);
    SET(CURLOPT_USERAGENT, c->user_agent);
    SET(CURLOPT_HTTPHEADER, call->req_headers);
    SET(CURLOPT_HEADERFUNCTION, on_curl_header);
    SET(CURLOPT_HEADERDATA, (void *)call);
    SET(CURLOPT_WRITEFUNCTION, on_curl_write);
    SET(CURLOPT_WRITEDATA, (void *)call);
    if (call->max_size != 0) {
        SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)call->max_size);
    }
    if (call->streaming) {
        SET(CURLOPT_BUFFERSIZE, STREAM_BUFFER_SIZE);
    }
    if (strcmp(call->method, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
    } else if (req->body != NULL) {
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        SET(CURLOPT_POSTFIELDS, call->req_body);
        if (strcmp(call->method, "POST") != 0) {
            SET(CURLOPT_CUSTOMREQUEST, call->method);
        }
    } else if (strcmp(call->method, "GET") != 0) {
        SET(CURLOPT_CUSTOMREQUEST, call->method);
    }
#undef SET
    return rc;
}

int http_client_request(http_client_t *c, const http_client_req_t *req, http_done_fn done,
                        void *data, http_call_t **out)
{
    if (out != NULL) {
        *out = NULL;
    }
    if (c == NULL || req == NULL || req->url == NULL || done == NULL ||
        (req->n_headers > 0 && req->headers == NULL) || (req->body_len > 0 && req->body == NULL)) {
        return -EINVAL;
    }
    const char *method = req->method != NULL ? req->method : (req->body_len > 0 ? "POST" : "GET");
    if (!valid_token(method)) {
        return -EINVAL;
    }
    if (c->closing) {
        return -ECANCELED;
    }
    http_call_t *call = calloc(1, sizeof *call);
    if (call == NULL) {
        return -ENOMEM;
    }
    call->client = c;
    call->done = done;
    call->data = data;
    call->on_headers = req->on_headers;
    call->on_data = req->on_data;
    call->streaming = req->on_data != NULL;
    call->max_size = req->max_response_size != 0
                         ? req->max_response_size
                         : (call->streaming ? 0 : DEFAULT_MAX_RESPONSE_SIZE);
    call->start_ns = uv_hrtime();
    call->method = strdup(method);
    int rc = call->method == NULL ? -ENOMEM : build_headers(req, &call->req_headers);
    if (rc == 0 && req->body != NULL) {
        call->req_body = malloc(req->body_len + 1);
        if (call->req_body == NULL) {
            rc = -ENOMEM;
        } else {
            memcpy(call->req_body, req->body, req->body_len);
            call->req_body[req->body_len] = '\0';
        }
    }
    if (rc == 0) {
        call->easy = curl_easy_init();
        rc = call->easy == NULL ? -ENOMEM : 0;
    }
    if (rc != 0) {
        call_free(call);
        return rc;
    }
    CURLcode crc = setup_easy(c, call, req);
    if (crc != CURLE_OK) {
        call->early_err = map_curl_error(crc, 0);
        call->early_msg = curl_easy_strerror(crc);
    }

    call->next = c->calls;
    if (c->calls != NULL) {
        c->calls->prev = call;
    }
    c->calls = call;
    c->n_calls++;

    if (call->early_err == 0) {
        CURLMcode mrc = curl_multi_add_handle(c->multi, call->easy);
        if (mrc == CURLM_OK) {
            call->attached = true; /* curl asks for a 0 ms timer: starts next turn */
        } else if (mrc != CURLM_RECURSIVE_API_CALL) {
            call->early_err = mrc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
            call->early_msg = curl_multi_strerror(mrc);
        }
        /* CURLM_RECURSIVE_API_CALL (called from on_headers/on_data): the
         * idle handler adds it. */
    }
    if (!call->attached) {
        queue_push(call);
    }
    if (out != NULL) {
        *out = call;
    }
    return 0;
}

void http_call_cancel(http_call_t *call)
{
    if (call == NULL || call->finished || call->cancelled) {
        return;
    }
    call->cancelled = true;
    queue_push(call);
}

void http_call_pause(http_call_t *call)
{
    if (call == NULL || call->finished || call->cancelled) {
        return;
    }
    call->paused = true;
}

void http_call_resume(http_call_t *call)
{
    if (call == NULL || call->finished || call->cancelled || !call->paused) {
        return;
    }
    call->paused = false;
    if (call->curl_paused) {
        call->resume_wanted = true;
        queue_push(call);
    }
}

size_t http_client_inflight(const http_client_t *c)
{
    return c != NULL ? c->n_calls : 0;
}

void http_client_close(http_client_t *c, void (*done)(void *data), void *data)
{
    if (c == NULL) {
        return;
    }
    if (c->closing) {
        log_warn("http_client_close called twice", "inflight=%zu", c->n_calls);
        return;
    }
    c->closing = true;
    c->close_done = done;
    c->close_data = data;
    for (http_call_t *call = c->calls; call != NULL; call = call->next) {
        http_call_cancel(call);
    }
    uv_idle_start(&c->idle, on_idle);
}

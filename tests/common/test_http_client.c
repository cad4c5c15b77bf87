/*
 * http_client: libcurl's multi socket API on a libuv loop, against real
 * HTTP servers on loopback.
 *
 * Servers, each in a thread of its own: libmicrohttpd (routes below,
 * counting accepted connections), and a raw socket server that accepts
 * and then either never answers or closes at once. Each test runs on a
 * fresh loop, closes its client and then checks that uv_loop_close()
 * succeeds (no handle left behind). Every wait is bounded.
 *
 * Checks: GET with body and headers; status passthrough (404, 503, 210);
 * POST/PUT body round trip (binary, 1 MiB); request headers and user agent;
 * HEAD; keep-alive (50 sequential requests on one connection, idle client
 * leaves the loop free to exit); 200 concurrent requests within the
 * per-host connection limit; refused connection; timeout; reset; -EFBIG by
 * Content-Length, by chunked size and when streaming; streaming 20 MiB
 * with pause/resume back-pressure (every byte checked, in order, FNV
 * checksum); cancel (in flight, before the first turn, from on_data);
 * early errors delivered on the next turn; a request started from inside
 * on_headers; close with requests in flight.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "common/http_client.h"
#include "common/log.h"

#include "../harness/check_fatal.h"

#define USER_AGENT "enj-test/1"
#define STREAM_SIZE ((size_t)20 << 20)

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000u;
}

/* Byte i of the generated bodies: depends on the position, so any loss,
 * duplication or reordering shows. */
static uint8_t pattern(uint64_t i)
{
    return (uint8_t)((i * 0x9E3779B97F4A7C15ull) >> 56) ^ (uint8_t)i;
}

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

#define FNV_INIT 0xcbf29ce484222325ull

/* ---- libmicrohttpd test server ------------------------------------------ */

static struct MHD_Daemon *g_mhd;
static uint16_t g_mhd_port;
static atomic_int g_mhd_conns;

typedef struct {
    char *buf;
    size_t len, cap;
} upload_t;

static void on_mhd_conn(void *cls, struct MHD_Connection *conn, void **socket_context,
                        enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)conn;
    (void)socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&g_mhd_conns, 1);
    }
}

static void on_mhd_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                             enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    upload_t *u = *con_cls;
    if (u != NULL) {
        free(u->buf);
        free(u);
        *con_cls = NULL;
    }
}

/* How far the server got in the body it last generated. */
static atomic_ullong g_server_pos;

static ssize_t pattern_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    uint64_t total = (uint64_t)(uintptr_t)cls;
    if (pos >= total) {
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = total - pos < max ? (size_t)(total - pos) : max;
    atomic_store(&g_server_pos, pos + n);
    for (size_t i = 0; i < n; i++) {
        buf[i] = (char)pattern(pos + i);
    }
    return (ssize_t)n;
}

static enum MHD_Result queue(struct MHD_Connection *conn, unsigned status, struct MHD_Response *r)
{
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_mhd_request(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    (void)cls;
    (void)version;
    if (*con_cls == NULL) {
        upload_t *u = calloc(1, sizeof *u);
        if (u == NULL) {
            return MHD_NO;
        }
        *con_cls = u;
        return MHD_YES;
    }
    upload_t *u = *con_cls;
    if (*upload_data_size > 0) {
        if (u->len + *upload_data_size > u->cap) {
            size_t cap = (u->len + *upload_data_size) * 2;
            char *b = realloc(u->buf, cap);
            if (b == NULL) {
                return MHD_NO;
            }
            u->buf = b;
            u->cap = cap;
        }
        memcpy(u->buf + u->len, upload_data, *upload_data_size);
        u->len += *upload_data_size;
        *upload_data_size = 0;
        return MHD_YES;
    }

    struct MHD_Response *r;
    if (strcmp(url, "/hello") == 0) {
        static const char hello[] = "hello world";
        r = MHD_create_response_from_buffer(sizeof hello - 1, (void *)hello,
                                            MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Content-Type", "text/plain");
        MHD_add_response_header(r, "X-Test", "yes");
        return queue(conn, 200, r);
    }
    if (strncmp(url, "/status/", 8) == 0) {
        unsigned status = (unsigned)atoi(url + 8);
        char body[32];
        int n = snprintf(body, sizeof body, "status %u", status);
        r = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
        return queue(conn, status, r);
    }
    if (strcmp(url, "/echo") == 0) {
        r = MHD_create_response_from_buffer(u->len, u->buf != NULL ? u->buf : "",
                                            MHD_RESPMEM_MUST_COPY);
        const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Req");
        MHD_add_response_header(r, "X-Echo", v != NULL ? v : "(none)");
        v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "User-Agent");
        MHD_add_response_header(r, "X-UA", v != NULL ? v : "(none)");
        v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Expect");
        MHD_add_response_header(r, "X-Expect", v != NULL ? v : "(none)");
        MHD_add_response_header(r, "X-Method", method);
        v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
        MHD_add_response_header(r, "Content-Type", v != NULL ? v : "application/octet-stream");
        return queue(conn, 200, r);
    }
    if (strncmp(url, "/big/", 5) == 0 || strncmp(url, "/chunked/", 9) == 0) {
        bool chunked = url[1] == 'c';
        uint64_t total = strtoull(strchr(url + 1, '/') + 1, NULL, 10);
        r = MHD_create_response_from_callback(chunked ? MHD_SIZE_UNKNOWN : total, 64 * 1024,
                                              pattern_reader, (void *)(uintptr_t)total, NULL);
        MHD_add_response_header(r, "Content-Type", "application/octet-stream");
        return queue(conn, 200, r);
    }
    r = MHD_create_response_from_buffer(9, "not found", MHD_RESPMEM_PERSISTENT);
    return queue(conn, 404, r);
}

static void mhd_start(void)
{
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    g_mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL,
                             on_mhd_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                             MHD_OPTION_NOTIFY_CONNECTION, on_mhd_conn, NULL,
                             MHD_OPTION_NOTIFY_COMPLETED, on_mhd_completed, NULL,
                             MHD_OPTION_CONNECTION_LIMIT, 1000u, MHD_OPTION_END);
    CHECK(g_mhd != NULL);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(g_mhd, MHD_DAEMON_INFO_BIND_PORT);
    CHECK(info != NULL && info->port != 0);
    g_mhd_port = info->port;
}

/* ---- raw socket server: accepts, then never answers or closes --------- */

typedef enum { RAW_SILENT, RAW_CLOSE } raw_mode_t;

typedef struct {
    int lfd;
    uint16_t port;
    raw_mode_t mode;
    atomic_int stop;
    atomic_int accepted;
    pthread_t thread;
} raw_server_t;

static int listen_loopback(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    socklen_t len = sizeof sa;
    CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void *raw_main(void *arg)
{
    raw_server_t *s = arg;
    int held[256];
    int n_held = 0;
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {.fd = s->lfd, .events = POLLIN};
        if (poll(&p, 1, 20) <= 0) {
            continue;
        }
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        atomic_fetch_add(&s->accepted, 1);
        if (s->mode == RAW_CLOSE) {
            char buf[4096];
            struct pollfd q = {.fd = fd, .events = POLLIN};
            if (poll(&q, 1, 1000) > 0) {
                ssize_t r = read(fd, buf, sizeof buf);
                (void)r;
            }
            close(fd);
        } else if (n_held < 256) {
            held[n_held++] = fd;
        } else {
            close(fd);
        }
    }
    for (int i = 0; i < n_held; i++) {
        close(held[i]);
    }
    return NULL;
}

static void raw_start(raw_server_t *s, raw_mode_t mode)
{
    memset(s, 0, sizeof *s);
    s->mode = mode;
    s->lfd = listen_loopback(&s->port);
    CHECK(listen(s->lfd, 128) == 0);
    CHECK(pthread_create(&s->thread, NULL, raw_main, s) == 0);
}

static void raw_stop(raw_server_t *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
    close(s->lfd);
}

/* ---- loop helpers ----------------------------------------------------------- */

static uv_loop_t g_loop;
static http_client_t *g_client;
static bool g_in_api; /* set around calls that must not run callbacks */

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until *counter >= target or timeout_ms passed. */
static bool run_until(const int *counter, int target, unsigned timeout_ms)
{
    uint64_t deadline = now_ms() + timeout_ms;
    uv_timer_t tick;
    uv_timer_init(&g_loop, &tick);
    uv_timer_start(&tick, on_tick, 10, 10);
    while (*counter < target && now_ms() < deadline) {
        uv_run(&g_loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&g_loop, UV_RUN_NOWAIT);
    return *counter >= target;
}

static void run_for(unsigned ms)
{
    int never = 0;
    run_until(&never, 1, ms);
}

static void client_new(const http_client_config_t *cfg)
{
    CHECK(uv_loop_init(&g_loop) == 0);
    http_client_config_t def = {.user_agent = USER_AGENT};
    CHECK(http_client_new(&g_loop, cfg != NULL ? cfg : &def, &g_client) == 0);
}

static int g_closed;

static void on_client_closed(void *data)
{
    CHECK(data == &g_closed);
    CHECK(!g_in_api);
    g_closed++;
}

/* Closes the client, drains the loop and closes it: nothing may be left. */
static void client_close(void)
{
    g_closed = 0;
    g_in_api = true;
    http_client_close(g_client, on_client_closed, &g_closed);
    g_in_api = false;
    CHECK(g_closed == 0);
    CHECK(run_until(&g_closed, 1, 5000));
    CHECK(g_closed == 1);
    g_client = NULL;
    CHECK(uv_loop_close(&g_loop) == 0);
}

/* ---- a buffered result ---------------------------------------------------- */

typedef struct {
    int called;
    int err;
    long status;
    char *body;
    size_t body_len;
    bool body_null;
    char content_type[64];
    char hdr[4][64]; /* values of the headers named in want[] */
    const char *want[4];
    uint64_t total_us;
    uint64_t at_ms;
    char error[256];
} result_t;

static void on_done(const http_response_t *res, void *data)
{
    result_t *r = data;
    CHECK(!g_in_api);
    r->called++;
    r->err = res->err;
    r->status = res->status;
    r->total_us = res->total_us;
    r->at_ms = now_ms();
    CHECK(res->error != NULL);
    CHECK((res->err == 0) == (res->error[0] == '\0'));
    snprintf(r->error, sizeof r->error, "%s", res->error);
    r->body_null = res->body == NULL;
    free(r->body);
    r->body = NULL;
    if (res->body != NULL) {
        CHECK(res->body[res->body_len] == '\0');
        r->body = malloc(res->body_len + 1);
        CHECK(r->body != NULL);
        memcpy(r->body, res->body, res->body_len + 1);
        r->body_len = res->body_len;
    }
    snprintf(r->content_type, sizeof r->content_type, "%s",
             res->content_type != NULL ? res->content_type : "(null)");
    for (int i = 0; i < 4 && r->want[i] != NULL; i++) {
        const char *v = http_response_header(res, r->want[i]);
        snprintf(r->hdr[i], sizeof r->hdr[i], "%s", v != NULL ? v : "(null)");
    }
}

static void result_free(result_t *r)
{
    free(r->body);
    r->body = NULL;
}

static char g_url[256];

static const char *mhd_url(const char *path)
{
    snprintf(g_url, sizeof g_url, "http://127.0.0.1:%u%s", g_mhd_port, path);
    return g_url;
}

static http_call_t *start(const http_client_req_t *req, result_t *r)
{
    http_call_t *call = NULL;
    g_in_api = true;
    int rc = http_client_request(g_client, req, on_done, r, &call);
    g_in_api = false;
    CHECK(rc == 0);
    CHECK(call != NULL);
    CHECK(r->called == 0);
    return call;
}

/* One buffered request, run to completion. */
static void fetch(const http_client_req_t *req, result_t *r, unsigned timeout_ms)
{
    start(req, r);
    CHECK(run_until(&r->called, 1, timeout_ms));
    CHECK(r->called == 1);
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_get(void)
{
    client_new(NULL);
    result_t r = {.want = {"X-Test", "Content-Length"}};
    http_client_req_t req = {.url = mhd_url("/hello")};
    fetch(&req, &r, 5000);
    CHECK(r.err == 0);
    CHECK(r.status == 200);
    CHECK(r.body_len == 11 && strcmp(r.body, "hello world") == 0);
    CHECK(strcmp(r.content_type, "text/plain") == 0);
    CHECK(strcmp(r.hdr[0], "yes") == 0);
    CHECK(strcmp(r.hdr[1], "11") == 0);
    CHECK(r.total_us > 0 && r.total_us < 5000000);
    result_free(&r);

    /* By name (curl's resolver), and on_headers in buffered mode. */
    char url[64];
    snprintf(url, sizeof url, "http://localhost:%u/hello", g_mhd_port);
    result_t l = {0};
    http_client_req_t lreq = {.url = url};
    fetch(&lreq, &l, 5000);
    CHECK(l.err == 0 && l.status == 200 && strcmp(l.body, "hello world") == 0);
    result_free(&l);

    /* HEAD: headers, no body. */
    result_t h = {.want = {"X-Test"}};
    http_client_req_t head = {.method = "HEAD", .url = mhd_url("/hello")};
    fetch(&head, &h, 5000);
    CHECK(h.err == 0 && h.status == 200);
    CHECK(h.body_len == 0 && h.body != NULL && h.body[0] == '\0');
    CHECK(strcmp(h.hdr[0], "yes") == 0);
    result_free(&h);
    CHECK(http_client_inflight(g_client) == 0);
    client_close();
}

static void test_status(void)
{
    client_new(NULL);
    const long codes[] = {404, 503, 210, 204};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        char path[32];
        snprintf(path, sizeof path, "/status/%ld", codes[i]);
        result_t r = {0};
        http_client_req_t req = {.url = mhd_url(path)};
        fetch(&req, &r, 5000);
        CHECK(r.err == 0);
        CHECK(r.status == codes[i]);
        if (codes[i] != 204) {
            char want[32];
            snprintf(want, sizeof want, "status %ld", codes[i]);
            CHECK(strcmp(r.body, want) == 0);
        }
        result_free(&r);
    }
    client_close();
}

static void test_post(void)
{
    client_new(NULL);
    /* Binary body with NUL bytes, request headers, user agent. */
    static const char body[] = "some\0binary\r\ndata\xff";
    http_header_t hdrs[] = {{"X-Req", "abc 123"}, {"Content-Type", "application/x-test"}};
    result_t r = {.want = {"X-Echo", "X-UA", "X-Method", "X-Expect"}};
    http_client_req_t req = {.method = "POST",
                             .url = mhd_url("/echo"),
                             .headers = hdrs,
                             .n_headers = 2,
                             .body = body,
                             .body_len = sizeof body - 1};
    fetch(&req, &r, 5000);
    CHECK(r.err == 0 && r.status == 200);
    CHECK(r.body_len == sizeof body - 1 && memcmp(r.body, body, sizeof body - 1) == 0);
    CHECK(strcmp(r.content_type, "application/x-test") == 0);
    CHECK(strcmp(r.hdr[0], "abc 123") == 0);
    CHECK(strcmp(r.hdr[1], USER_AGENT) == 0);
    CHECK(strcmp(r.hdr[2], "POST") == 0);
    result_free(&r);

    /* PUT of 1 MiB, body copied (the caller's buffer is gone at once), no
     * Expect: 100-continue. */
    size_t big_len = (size_t)1 << 20;
    char *big = malloc(big_len);
    CHECK(big != NULL);
    for (size_t i = 0; i < big_len; i++) {
        big[i] = (char)pattern(i);
    }
    result_t p = {.want = {"X-Echo", "X-UA", "X-Method", "X-Expect"}};
    http_client_req_t put = {
        .method = "PUT", .url = mhd_url("/echo"), .body = big, .body_len = big_len};
    start(&put, &p);
    memset(big, 0, big_len);
    CHECK(run_until(&p.called, 1, 5000));
    CHECK(p.err == 0 && p.status == 200);
    CHECK(strcmp(p.hdr[2], "PUT") == 0);
    CHECK(strcmp(p.hdr[3], "(none)") == 0);
    CHECK(p.body_len == big_len);
    for (size_t i = 0; i < big_len; i++) {
        CHECK((uint8_t)p.body[i] == pattern(i));
    }
    free(big);
    result_free(&p);

    /* Body without method: POST. */
    result_t d = {.want = {"X-Echo", "X-UA", "X-Method"}};
    http_client_req_t def = {.url = mhd_url("/echo"), .body = "x", .body_len = 1};
    fetch(&def, &d, 5000);
    CHECK(d.err == 0 && strcmp(d.hdr[2], "POST") == 0 && strcmp(d.body, "x") == 0);
    result_free(&d);
    client_close();
}

typedef struct {
    int done;
    int ok;
    int remaining;
    http_client_req_t req;
} chain_t;

static void on_chain_done(const http_response_t *res, void *data)
{
    chain_t *ch = data;
    CHECK(!g_in_api);
    if (res->err == 0 && res->status == 200 && strcmp(res->body, "hello world") == 0) {
        ch->ok++;
    }
    if (--ch->remaining > 0) {
        /* From inside a done callback: the next one. */
        CHECK(http_client_request(g_client, &ch->req, on_chain_done, ch, NULL) == 0);
    } else {
        ch->done = 1;
    }
}

static void test_keepalive(void)
{
    client_new(NULL);
    int before = atomic_load(&g_mhd_conns);
    chain_t ch = {.remaining = 50, .req = {.url = mhd_url("/hello")}};
    CHECK(http_client_request(g_client, &ch.req, on_chain_done, &ch, NULL) == 0);
    uint64_t t0 = uv_hrtime();
    CHECK(run_until(&ch.done, 1, 10000));
    uint64_t us = (uv_hrtime() - t0) / 1000u;
    CHECK(ch.ok == 50);
    int used = atomic_load(&g_mhd_conns) - before;
    printf("  keep-alive: 50 sequential requests in %llu us over %d connection(s)\n",
           (unsigned long long)us, used);
    CHECK(used == 1);
    /* Idle: the client keeps no active handle, so the loop may exit. */
    run_for(50);
    CHECK(uv_loop_alive(&g_loop) == 0);
    CHECK(http_client_inflight(g_client) == 0);
    client_close();
}

typedef struct {
    int done;
    int ok;
} many_t;

static void on_many_done(const http_response_t *res, void *data)
{
    many_t *m = data;
    CHECK(!g_in_api);
    if (res->err == 0 && res->status == 200 && res->body_len == 11) {
        m->ok++;
    } else {
        fprintf(stderr, "  concurrent: err=%d status=%ld error=%s\n", res->err, res->status,
                res->error);
    }
    m->done++;
}

static void test_concurrent(void)
{
    http_client_config_t cfg = {.user_agent = USER_AGENT, .max_host_connections = 8};
    client_new(&cfg);
    int before = atomic_load(&g_mhd_conns);
    many_t m = {0};
    http_client_req_t req = {.url = mhd_url("/hello")};
    uint64_t t0 = now_ms();
    g_in_api = true;
    for (int i = 0; i < 200; i++) {
        CHECK(http_client_request(g_client, &req, on_many_done, &m, NULL) == 0);
    }
    g_in_api = false;
    CHECK(http_client_inflight(g_client) == 200);
    CHECK(run_until(&m.done, 200, 15000));
    int used = atomic_load(&g_mhd_conns) - before;
    printf("  concurrent: 200 requests in %llu ms over %d connection(s)\n",
           (unsigned long long)(now_ms() - t0), used);
    CHECK(m.ok == 200);
    CHECK(used >= 1 && used <= 8);
    client_close();
}

static void test_refused(void)
{
    client_new(NULL);
    uint16_t port;
    int fd = listen_loopback(&port); /* bound, not listening, then closed */
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/x", port);
    result_t r = {0};
    http_client_req_t req = {.url = url};
    uint64_t t0 = now_ms();
    fetch(&req, &r, 5000);
    uint64_t ms = now_ms() - t0;
    printf("  refused: %llu ms (%s)\n", (unsigned long long)ms, r.error);
    CHECK(r.err == -ECONNREFUSED);
    CHECK(r.status == 0);
    CHECK(ms < 1000);
    result_free(&r);
    client_close();
}

static void test_timeout_and_reset(void)
{
    raw_server_t silent, closer;
    raw_start(&silent, RAW_SILENT);
    raw_start(&closer, RAW_CLOSE);
    client_new(NULL);

    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/never", silent.port);
    result_t r = {0};
    http_client_req_t req = {.url = url, .timeout_ms = 500};
    uint64_t t0 = now_ms();
    fetch(&req, &r, 5000);
    uint64_t ms = now_ms() - t0;
    printf("  timeout: 500 ms asked, %llu ms taken (%s)\n", (unsigned long long)ms, r.error);
    CHECK(r.err == -ETIMEDOUT);
    CHECK(ms >= 490 && ms <= 800);
    CHECK(r.total_us >= 490000 && r.total_us <= 800000);
    result_free(&r);

    snprintf(url, sizeof url, "http://127.0.0.1:%u/close", closer.port);
    result_t c = {0};
    http_client_req_t creq = {.url = url};
    fetch(&creq, &c, 5000);
    printf("  reset: %s\n", c.error);
    CHECK(c.err == -ECONNRESET);
    result_free(&c);

    client_close();
    raw_stop(&silent);
    raw_stop(&closer);
}

static void test_efbig(void)
{
    client_new(NULL);
    /* Announced by Content-Length. */
    result_t a = {0};
    http_client_req_t ra = {.url = mhd_url("/big/200000"), .max_response_size = 100000};
    fetch(&ra, &a, 5000);
    CHECK(a.err == -EFBIG);
    CHECK(a.body != NULL && a.body_len == 0);
    result_free(&a);
    /* Chunked: found while receiving. */
    result_t b = {0};
    http_client_req_t rb = {.url = mhd_url("/chunked/200000"), .max_response_size = 100000};
    fetch(&rb, &b, 5000);
    CHECK(b.err == -EFBIG);
    CHECK(b.status == 200);
    result_free(&b);
    /* Exactly the limit is fine, chunked or not. */
    result_t c = {0};
    http_client_req_t rc = {.url = mhd_url("/chunked/100000"), .max_response_size = 100000};
    fetch(&rc, &c, 5000);
    CHECK(c.err == 0 && c.body_len == 100000);
    for (size_t i = 0; i < c.body_len; i++) {
        CHECK((uint8_t)c.body[i] == pattern(i));
    }
    result_free(&c);
    result_t d = {0};
    http_client_req_t rd = {.url = mhd_url("/big/100000"), .max_response_size = 100000};
    fetch(&rd, &d, 5000);
    CHECK(d.err == 0 && d.body_len == 100000);
    result_free(&d);
    client_close();
}

/* ---- streaming --------------------------------------------------------------- */

typedef struct {
    result_t res; /* first: the data pointer is both a stream_t and on_done's result_t */
    http_call_t *call;
    int headers_called;
    long status;
    char content_length[32];
    size_t received;
    uint64_t fnv;
    bool bad_byte;
    bool paused; /* the consumer's view */
    bool data_while_paused;
    bool data_before_headers;
    size_t pause_every; /* pause after that many bytes; 0 = never */
    size_t next_pause;
    int pauses;
    bool in_resume;
    bool data_in_resume;
    uv_timer_t resume_timer;
    size_t cancel_at; /* cancel once that many bytes arrived; 0 = never */
    bool cancelled;
    int data_after_cancel;
    /* one long pause: back-pressure reaches the server, the loop sleeps */
    size_t long_pause_at; /* 0 = none */
    unsigned long_pause_ms;
    bool long_pause_done;
    uint64_t iterations; /* loop turns, counted by `check` */
    uint64_t iterations_at_pause, iterations_paused;
    uint64_t server_pos_paused;
    uv_check_t check;
    /* a request started from inside on_headers */
    bool nested;
    result_t nested_res;
} stream_t;

static void on_resume_timer(uv_timer_t *t)
{
    stream_t *s = t->data;
    /* The pause may come with the last bytes: the transfer then ends (and
     * its call is freed) before this timer fires. */
    if (s->res.called)
        return;
    s->paused = false;
    s->in_resume = true;
    http_call_resume(s->call);
    http_call_resume(s->call); /* idempotent */
    s->in_resume = false;
}

static void on_long_resume(uv_timer_t *t)
{
    stream_t *s = t->data;
    s->iterations_paused = s->iterations - s->iterations_at_pause;
    s->server_pos_paused = atomic_load(&g_server_pos);
    on_resume_timer(t);
}

static void on_check(uv_check_t *h)
{
    stream_t *s = h->data;
    s->iterations++;
}

static void on_stream_headers(http_call_t *call, const http_response_t *res, void *data)
{
    stream_t *s = data;
    CHECK(!g_in_api);
    CHECK(call == s->call);
    CHECK(res->err == 0 && res->body == NULL);
    s->headers_called++;
    s->status = res->status;
    const char *cl = http_response_header(res, "content-length");
    snprintf(s->content_length, sizeof s->content_length, "%s", cl != NULL ? cl : "(null)");
    if (s->nested) {
        http_client_req_t req = {.url = mhd_url("/hello")};
        CHECK(http_client_request(g_client, &req, on_done, &s->nested_res, NULL) == 0);
        CHECK(s->nested_res.called == 0);
    }
}

static void on_stream_data(http_call_t *call, const char *chunk, size_t len, void *data)
{
    stream_t *s = data;
    CHECK(!g_in_api);
    CHECK(call == s->call);
    CHECK(len > 0);
    if (s->headers_called == 0) {
        s->data_before_headers = true;
    }
    if (s->paused) {
        s->data_while_paused = true;
    }
    if (s->in_resume) {
        s->data_in_resume = true;
    }
    if (s->cancelled) {
        s->data_after_cancel++;
        return;
    }
    for (size_t i = 0; i < len; i++) {
        if ((uint8_t)chunk[i] != pattern(s->received + i)) {
            s->bad_byte = true;
        }
    }
    s->fnv = fnv1a(s->fnv, (const uint8_t *)chunk, len);
    s->received += len;
    if (s->cancel_at != 0 && s->received >= s->cancel_at) {
        s->cancelled = true;
        http_call_cancel(call);
        http_call_cancel(call);
        return;
    }
    if (s->long_pause_at != 0 && !s->long_pause_done && s->received >= s->long_pause_at) {
        s->long_pause_done = true;
        http_call_pause(call);
        s->paused = true;
        s->iterations_at_pause = s->iterations;
        uv_timer_start(&s->resume_timer, on_long_resume, s->long_pause_ms, 0);
        return;
    }
    if (s->pause_every != 0 && s->received >= s->next_pause) {
        s->next_pause = s->received + s->pause_every;
        http_call_pause(call);
        http_call_pause(call); /* idempotent */
        s->paused = true;
        s->pauses++;
        uv_timer_start(&s->resume_timer, on_resume_timer, 2, 0);
    }
}

static void stream_init(stream_t *s)
{
    s->fnv = FNV_INIT;
    s->next_pause = s->pause_every;
    uv_timer_init(&g_loop, &s->resume_timer);
    s->resume_timer.data = s;
    uv_check_init(&g_loop, &s->check);
    s->check.data = s;
    uv_check_start(&s->check, on_check);
    uv_unref((uv_handle_t *)&s->check);
}

static void stream_start(stream_t *s, const char *path)
{
    http_client_req_t req = {.url = mhd_url(path),
                             .timeout_ms = 30000,
                             .on_headers = on_stream_headers,
                             .on_data = on_stream_data};
    s->call = start(&req, &s->res);
}

static void stream_fini(stream_t *s)
{
    uv_close((uv_handle_t *)&s->resume_timer, NULL);
    uv_close((uv_handle_t *)&s->check, NULL);
    run_for(1);
    result_free(&s->res);
    result_free(&s->nested_res);
}

static void test_stream(void)
{
    client_new(NULL);
    char path[64];
    snprintf(path, sizeof path, "/big/%zu", STREAM_SIZE);

    /* Reference checksum. */
    uint64_t want = FNV_INIT;
    uint8_t block[4096];
    for (size_t off = 0; off < STREAM_SIZE; off += sizeof block) {
        for (size_t i = 0; i < sizeof block; i++) {
            block[i] = pattern(off + i);
        }
        want = fnv1a(want, block, sizeof block);
    }

    stream_t *s = calloc(1, sizeof *s);
    CHECK(s != NULL);
    s->pause_every = 256 << 10;
    s->nested = true;
    stream_init(s);
    uint64_t t0 = now_ms();
    stream_start(s, path);
    CHECK(run_until(&s->res.called, 1, 30000));
    uint64_t ms = now_ms() - t0;
    printf("  stream: %zu MiB in %llu ms with %d pause/resume cycles\n", STREAM_SIZE >> 20,
           (unsigned long long)ms, s->pauses);
    CHECK(s->res.called == 1);
    CHECK(s->res.err == 0);
    CHECK(s->res.status == 200);
    CHECK(s->res.body_null);
    CHECK(s->headers_called == 1 && s->status == 200);
    char cl[32];
    snprintf(cl, sizeof cl, "%zu", STREAM_SIZE);
    CHECK(strcmp(s->content_length, cl) == 0);
    CHECK(s->received == STREAM_SIZE);
    CHECK(!s->bad_byte);
    CHECK(s->fnv == want);
    CHECK(!s->data_while_paused);
    CHECK(!s->data_before_headers);
    CHECK(!s->data_in_resume);
    CHECK(s->pauses >= 40);
    /* The request started from inside on_headers went through. */
    CHECK(run_until(&s->nested_res.called, 1, 5000));
    CHECK(s->nested_res.err == 0 && s->nested_res.status == 200);
    stream_fini(s);
    free(s);

    /* One long pause at 1 MiB: curl stops reading, so the server stalls
     * once the socket buffers are full, and the loop sleeps meanwhile
     * (no busy polling on a readable socket). */
    s = calloc(1, sizeof *s);
    CHECK(s != NULL);
    s->long_pause_at = 1 << 20;
    s->long_pause_ms = 300;
    stream_init(s);
    stream_start(s, path);
    CHECK(run_until(&s->res.called, 1, 30000));
    printf("  long pause: 300 ms at %zu KiB, server at %llu KiB meanwhile, %llu loop turns\n",
           s->long_pause_at >> 10, (unsigned long long)(s->server_pos_paused >> 10),
           (unsigned long long)s->iterations_paused);
    CHECK(s->res.err == 0 && s->received == STREAM_SIZE && !s->bad_byte);
    CHECK(!s->data_while_paused);
    CHECK(s->server_pos_paused < STREAM_SIZE);
    CHECK(s->iterations_paused < 100);
    stream_fini(s);
    free(s);

    /* Chunked stream, no pauses, 3 MiB. */
    s = calloc(1, sizeof *s);
    CHECK(s != NULL);
    stream_init(s);
    stream_start(s, "/chunked/3145728");
    CHECK(run_until(&s->res.called, 1, 10000));
    CHECK(s->res.err == 0 && s->received == 3145728 && !s->bad_byte);
    CHECK(strcmp(s->content_length, "(null)") == 0);
    stream_fini(s);
    free(s);

    /* A streaming limit, when asked for. */
    s = calloc(1, sizeof *s);
    CHECK(s != NULL);
    stream_init(s);
    http_client_req_t lim = {.url = mhd_url("/chunked/3145728"),
                             .max_response_size = 1 << 20,
                             .on_data = on_stream_data};
    s->call = start(&lim, &s->res);
    CHECK(run_until(&s->res.called, 1, 10000));
    CHECK(s->res.err == -EFBIG);
    CHECK(s->received <= (1u << 20) && !s->bad_byte);
    stream_fini(s);
    free(s);
    client_close();
}

/* ---- cancel and close ---------------------------------------------------------- */

typedef struct {
    http_call_t *call;
    int fired;
} cancel_timer_t;

static void on_cancel_timer(uv_timer_t *t)
{
    cancel_timer_t *ct = t->data;
    g_in_api = true;
    http_call_cancel(ct->call);
    http_call_cancel(ct->call);
    g_in_api = false;
    ct->fired++;
}

static void test_cancel(void)
{
    raw_server_t silent;
    raw_start(&silent, RAW_SILENT);
    client_new(NULL);

    /* In flight, on a server that never answers. */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/never", silent.port);
    result_t r = {0};
    http_client_req_t req = {.url = url};
    cancel_timer_t ct = {.call = start(&req, &r)};
    uv_timer_t t;
    uv_timer_init(&g_loop, &t);
    t.data = &ct;
    uv_timer_start(&t, on_cancel_timer, 100, 0);
    uint64_t t0 = now_ms();
    CHECK(run_until(&r.called, 1, 5000));
    uint64_t ms = now_ms() - t0;
    CHECK(ct.fired == 1);
    CHECK(r.err == -ECANCELED);
    CHECK(ms >= 90 && ms < 1000);
    run_for(200);
    CHECK(r.called == 1);
    uv_close((uv_handle_t *)&t, NULL);
    result_free(&r);

    /* Before the first loop turn. */
    result_t e = {0};
    http_client_req_t hreq = {.url = mhd_url("/hello")};
    http_call_t *call = start(&hreq, &e);
    g_in_api = true;
    http_call_cancel(call);
    http_call_cancel(call);
    g_in_api = false;
    CHECK(e.called == 0);
    CHECK(run_until(&e.called, 1, 5000));
    CHECK(e.err == -ECANCELED);
    run_for(100);
    CHECK(e.called == 1);
    result_free(&e);

    /* From inside on_data: no data after it. */
    stream_t *s = calloc(1, sizeof *s);
    CHECK(s != NULL);
    s->cancel_at = 1 << 20;
    stream_init(s);
    char path[64];
    snprintf(path, sizeof path, "/big/%zu", STREAM_SIZE);
    stream_start(s, path);
    CHECK(run_until(&s->res.called, 1, 10000));
    CHECK(s->res.err == -ECANCELED);
    CHECK(s->data_after_cancel == 0);
    CHECK(s->received >= (1u << 20) && s->received < STREAM_SIZE && !s->bad_byte);
    run_for(100);
    CHECK(s->res.called == 1);
    stream_fini(s);
    free(s);

    /* The connection is still good for the next request. */
    result_t n = {0};
    fetch(&hreq, &n, 5000);
    CHECK(n.err == 0 && n.status == 200);
    result_free(&n);

    CHECK(http_client_inflight(g_client) == 0);
    client_close();
    raw_stop(&silent);
}

static void test_early_errors(void)
{
    client_new(NULL);
    /* Rejected by curl: on the next turn, never inside the call. */
    const char *bad[] = {"http://[::1", "ftp://127.0.0.1/", "nonsense://x/"};
    for (size_t i = 0; i < 3; i++) {
        result_t r = {0};
        http_client_req_t req = {.url = bad[i]};
        fetch(&req, &r, 5000);
        CHECK(r.err == -EINVAL);
        CHECK(r.error[0] != '\0');
        result_free(&r);
    }
    /* Caller mistakes: refused at once, no callback. */
    result_t r = {0};
    http_client_req_t noreq = {.url = NULL};
    CHECK(http_client_request(g_client, &noreq, on_done, &r, NULL) == -EINVAL);
    http_header_t crlf[] = {{"X-Bad", "a\r\nInjected: yes"}};
    http_client_req_t inj = {.url = mhd_url("/hello"), .headers = crlf, .n_headers = 1};
    CHECK(http_client_request(g_client, &inj, on_done, &r, NULL) == -EINVAL);
    http_header_t noname[] = {{"", "x"}};
    inj.headers = noname;
    CHECK(http_client_request(g_client, &inj, on_done, &r, NULL) == -EINVAL);
    http_client_req_t meth = {.method = "GET /x", .url = mhd_url("/hello")};
    CHECK(http_client_request(g_client, &meth, on_done, &r, NULL) == -EINVAL);
    CHECK(http_client_request(g_client, &meth, NULL, &r, NULL) == -EINVAL);
    run_for(50);
    CHECK(r.called == 0);
    CHECK(http_client_inflight(g_client) == 0);
    client_close();
}

typedef struct {
    int cancelled;
    int other;
    int calls;
} close_count_t;

static void on_close_done(const http_response_t *res, void *data)
{
    close_count_t *cc = data;
    CHECK(!g_in_api);
    cc->calls++;
    if (res->err == -ECANCELED) {
        cc->cancelled++;
    } else {
        cc->other++;
    }
    /* The client is closing: nothing new is accepted. */
    http_client_req_t req = {.url = mhd_url("/hello")};
    CHECK(http_client_request(g_client, &req, on_close_done, cc, NULL) == -ECANCELED);
}

static void on_paused_headers(http_call_t *call, const http_response_t *res, void *data)
{
    (void)res;
    (void)data;
    http_call_pause(call);
}

static void on_ignore_data(http_call_t *call, const char *chunk, size_t len, void *data)
{
    (void)call;
    (void)chunk;
    (void)len;
    (void)data;
}

static void test_close_inflight(void)
{
    raw_server_t silent;
    raw_start(&silent, RAW_SILENT);
    client_new(NULL);
    close_count_t cc = {0};
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/never", silent.port);
    http_client_req_t never = {.url = url};
    char path[64];
    snprintf(path, sizeof path, "/big/%zu", STREAM_SIZE);
    http_client_req_t paused = {
        .url = mhd_url(path), .on_headers = on_paused_headers, .on_data = on_ignore_data};
    int n = 0;
    for (int i = 0; i < 10; i++, n++) {
        CHECK(http_client_request(g_client, &never, on_close_done, &cc, NULL) == 0);
    }
    for (int i = 0; i < 5; i++, n++) {
        CHECK(http_client_request(g_client, &paused, on_close_done, &cc, NULL) == 0);
    }
    run_for(200); /* all connected, streams paused */
    CHECK(cc.calls == 0);
    CHECK(http_client_inflight(g_client) == (size_t)n);
    g_closed = 0;
    g_in_api = true;
    http_client_close(g_client, on_client_closed, &g_closed);
    g_in_api = false;
    CHECK(cc.calls == 0);
    http_client_req_t req = {.url = mhd_url("/hello")};
    CHECK(http_client_request(g_client, &req, on_close_done, &cc, NULL) == -ECANCELED);
    uint64_t t0 = now_ms();
    CHECK(run_until(&g_closed, 1, 5000));
    printf("  close: %d in-flight requests cancelled, closed in %llu ms\n", cc.cancelled,
           (unsigned long long)(now_ms() - t0));
    CHECK(cc.calls == n && cc.cancelled == n && cc.other == 0);
    CHECK(g_closed == 1);
    g_client = NULL;
    /* Nothing left on the loop: it closes without another turn. */
    CHECK(uv_loop_close(&g_loop) == 0);

    /* Closing an idle client that never ran a request. */
    client_new(NULL);
    client_close();
    raw_stop(&silent);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    /* Loopback only: no proxy from the environment. */
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("https_proxy");
    unsetenv("HTTPS_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    log_set_level(LOG_LEVEL_WARN);
    CHECK(http_client_global_init() == 0);
    mhd_start();

    struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"get", test_get},
        {"status", test_status},
        {"post", test_post},
        {"keepalive", test_keepalive},
        {"concurrent", test_concurrent},
        {"refused", test_refused},
        {"timeout_and_reset", test_timeout_and_reset},
        {"efbig", test_efbig},
        {"stream", test_stream},
        {"cancel", test_cancel},
        {"early_errors", test_early_errors},
        {"close_inflight", test_close_inflight},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        uint64_t t0 = now_ms();
        tests[i].fn();
        printf("ok %zu - %s (%llu ms)\n", i + 1, tests[i].name,
               (unsigned long long)(now_ms() - t0));
    }
    MHD_stop_daemon(g_mhd);
    http_client_global_cleanup();
    printf("all %zu http_client tests passed\n", sizeof tests / sizeof tests[0]);
    return 0;
}

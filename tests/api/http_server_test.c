/*
 * http_server: libmicrohttpd driven by the libuv loop.
 *
 * The loop runs on the main thread; a client thread drives curl requests
 * and, through uv_async_t "commands", asks the loop to shut down, release a
 * held request, and close. Checks: asynchronous and immediate answers,
 * prefix routes (longest wins, exact beats prefix), raw query, decoded
 * arguments, headers, peer address, text answers with any status, bodies, 404/405
 * (Allow header), 413 by Content-Length, oversized chunked body dropped,
 * many concurrent requests, and a shutdown with a request held by a handler
 * (new requests get 503, the held one still gets its answer, close waits for
 * it and then completes).
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "api/http_server.h"
#include "common/log.h"

#include "../harness/check_fatal.h"

#define BODY_LIMIT 4096

static uv_loop_t g_loop;
static http_server_t *g_server;
static uint16_t g_port;
static uv_async_t g_cmd;
static atomic_int g_cmd_code; /* 1 shutdown, 2 release the held request, 3 close */
static atomic_int g_held_ready;
static atomic_int g_closed;
static http_request_t *g_held;

/* ---- loop side ---- */

typedef struct later_s {
    uv_timer_t timer;
    http_request_t *req;
} later_t;

static void on_later_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_later(uv_timer_t *t)
{
    later_t *l = t->data;
    json_t *body = json_pack("{s:s, s:b}", "path", http_request_path(l->req), "later", 1);
    http_request_respond_json(l->req, 200, body);
    uv_close((uv_handle_t *)&l->timer, on_later_closed);
}

/* Answers 10 ms later, from a timer: the answer does not come from the handler. */
static void handle_later(http_request_t *req, void *data)
{
    (void)data;
    later_t *l = calloc(1, sizeof *l);
    CHECK(l != NULL);
    l->req = req;
    uv_timer_init(&g_loop, &l->timer);
    l->timer.data = l;
    uv_timer_start(&l->timer, on_later, 10, 0);
}

static void handle_body(http_request_t *req, void *data)
{
    (void)data;
    size_t len = 0;
    const char *body = http_request_body(req, &len);
    CHECK(strlen(body) == len);
    http_request_respond_json(req, 201, json_pack("{s:I}", "length", (json_int_t)len));
}

/* Answers during the handler call, with what the request carried. */
static void handle_echo(http_request_t *req, void *data)
{
    const char *tag = data;
    const char *a = http_request_arg(req, "a");
    const char *h = http_request_header(req, "x-test");
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "route", tag, "rest",
                             http_request_rest(req), "query", http_request_query(req), "a",
                             a ? a : "", "header", h ? h : "", "peer", http_request_peer(req));
    http_request_respond_json(req, 200, body);
}

static void handle_text(http_request_t *req, void *data)
{
    (void)data;
    http_request_respond_text(req, 210, "Outdated\n");
}

static void handle_hold(http_request_t *req, void *data)
{
    (void)data;
    CHECK(g_held == NULL);
    g_held = req;
    atomic_store(&g_held_ready, 1);
}

static void on_closed(void *data)
{
    (void)data;
    atomic_store(&g_closed, 1);
    uv_close((uv_handle_t *)&g_cmd, NULL);
}

static void on_cmd(uv_async_t *a)
{
    (void)a;
    int code = atomic_exchange(&g_cmd_code, 0);
    if (code == 1) {
        http_server_shutdown(g_server);
    } else if (code == 2) {
        CHECK(g_held != NULL);
        http_request_add_header(g_held, "X-Held", "yes");
        http_request_respond_json(g_held, 200, json_pack("{s:b}", "held", 1));
        g_held = NULL;
    } else if (code == 3) {
        http_server_close(g_server, on_closed, NULL);
    }
}

/* ---- client side ---- */

typedef struct buf_s {
    char data[8192];
    size_t len;
} buf_t;

static size_t on_write(char *p, size_t size, size_t n, void *userdata)
{
    buf_t *b = userdata;
    size_t len = size * n;
    size_t room = sizeof b->data - 1 - b->len;
    size_t take = len < room ? len : room;
    memcpy(b->data + b->len, p, take);
    b->len += take;
    b->data[b->len] = '\0';
    return len;
}

/* Returns the HTTP status, or -1 when the transfer failed. */
static long request(const char *method, const char *path, const char *body, size_t body_len,
                    int chunked, buf_t *out, buf_t *headers)
{
    CURL *c = curl_easy_init();
    CHECK(c != NULL);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", (unsigned)g_port, path);
    buf_t sink, hsink;
    if (out == NULL) {
        out = &sink;
    }
    if (headers == NULL) {
        headers = &hsink;
    }
    out->len = 0;
    out->data[0] = '\0';
    headers->len = 0;
    headers->data[0] = '\0';
    struct curl_slist *hdrs = NULL;
    if (chunked) {
        hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
    }
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    }
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        if (!chunked) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        }
    }
    long status = -1;
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return status;
}

static void command(int code)
{
    atomic_store(&g_cmd_code, code);
    uv_async_send(&g_cmd);
    /* Wait (bounded) until the loop took it. */
    for (int i = 0; i < 5000 && atomic_load(&g_cmd_code) != 0; i++) {
        uv_sleep(1);
    }
    CHECK(atomic_load(&g_cmd_code) == 0);
}

static void *concurrent_client(void *arg)
{
    (void)arg;
    for (int i = 0; i < 25; i++) {
        buf_t b;
        if (request("GET", "/later", NULL, 0, 0, &b, NULL) != 200 ||
            strstr(b.data, "\"later\": true") == NULL) {
            return (void *)1;
        }
    }
    return NULL;
}

static void *held_client(void *arg)
{
    buf_t *b = arg;
    buf_t h;
    long status = request("GET", "/hold", NULL, 0, 0, b, &h);
    if (status != 200 || strstr(h.data, "X-Held: yes") == NULL) {
        return (void *)1;
    }
    return NULL;
}

static void *client_main(void *arg)
{
    (void)arg;
    buf_t b, h;

    /* Asynchronous answer, JSON in jsonify's format. */
    CHECK(request("GET", "/later", NULL, 0, 0, &b, &h) == 200);
    CHECK(strcmp(b.data, "{\n  \"later\": true,\n  \"path\": \"/later\"\n}\n") == 0);
    CHECK(strstr(h.data, "Content-Type: application/json") != NULL);
    CHECK(request("HEAD", "/later", NULL, 0, 0, &b, NULL) == 200);
    CHECK(b.len == 0);

    /* Prefix routes: the longest prefix wins, an exact route beats both;
     * the raw query comes as sent, arguments decoded. */
    CHECK(request("GET", "/echo/x/uuid=1&mac=52-54-00-e8-32-5b?a=b%20c&z=%2F", NULL, 0, 0, &b,
                  NULL) == 200);
    CHECK(strstr(b.data, "\"route\": \"echo-x\"") != NULL);
    CHECK(strstr(b.data, "\"rest\": \"uuid=1&mac=52-54-00-e8-32-5b\"") != NULL);
    CHECK(strstr(b.data, "\"query\": \"a=b%20c&z=%2F\"") != NULL);
    CHECK(strstr(b.data, "\"a\": \"b c\"") != NULL);
    CHECK(strstr(b.data, "\"peer\": \"127.0.0.1\"") != NULL);
    CHECK(request("GET", "/echo/y", NULL, 0, 0, &b, NULL) == 200);
    CHECK(strstr(b.data, "\"route\": \"echo\"") != NULL);
    CHECK(strstr(b.data, "\"rest\": \"y\"") != NULL);
    CHECK(request("GET", "/echo/exact", NULL, 0, 0, &b, NULL) == 200);
    CHECK(strstr(b.data, "\"route\": \"exact\"") != NULL);
    CHECK(request("POST", "/echo/x/1", NULL, 0, 0, &b, &h) == 405);
    CHECK(strstr(h.data, "Allow: GET, HEAD") != NULL);
    CHECK(request("GET", "/echo", NULL, 0, 0, &b, NULL) == 404);

    /* Text answers keep their status, whatever it is. */
    CHECK(request("GET", "/text", NULL, 0, 0, &b, &h) == 210);
    CHECK(strcmp(b.data, "Outdated\n") == 0);
    CHECK(strstr(h.data, "Content-Type: text/plain") != NULL);

    /* Unknown route, wrong method. */
    CHECK(request("GET", "/nope", NULL, 0, 0, &b, NULL) == 404);
    CHECK(strstr(b.data, "\"error\"") != NULL && strstr(b.data, "404") != NULL);
    CHECK(request("DELETE", "/later", NULL, 0, 0, &b, &h) == 405);
    CHECK(strstr(h.data, "Allow: GET, HEAD") != NULL);

    /* Bodies: within the limit, over it by Content-Length, over it chunked. */
    static char big[3 * BODY_LIMIT];
    memset(big, 'x', sizeof big);
    big[sizeof big - 1] = '\0';
    CHECK(request("POST", "/body", big, 1000, 0, &b, NULL) == 201);
    CHECK(strstr(b.data, "\"length\": 1000") != NULL);
    CHECK(request("POST", "/body", big, BODY_LIMIT, 0, &b, NULL) == 201);
    CHECK(request("POST", "/body", big, BODY_LIMIT + 1, 0, &b, NULL) == 413);
    CHECK(strstr(b.data, "\"error\"") != NULL);
    long st = request("POST", "/body", big, 0, 1, &b, NULL); /* chunked, 12 KiB */
    CHECK(st == -1 || st >= 400);
    CHECK(request("POST", "/body", "small", 0, 1, &b, NULL) == 201); /* chunked, small */
    CHECK(strstr(b.data, "\"length\": 5") != NULL);

    /* Concurrency: 4 threads x 25 requests. */
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        CHECK(pthread_create(&t[i], NULL, concurrent_client, NULL) == 0);
    }
    for (int i = 0; i < 4; i++) {
        void *res = NULL;
        CHECK(pthread_join(t[i], &res) == 0);
        CHECK(res == NULL);
    }

    /* Shutdown with a request held by a handler. */
    buf_t held;
    pthread_t ht;
    CHECK(pthread_create(&ht, NULL, held_client, &held) == 0);
    for (int i = 0; i < 5000 && !atomic_load(&g_held_ready); i++) {
        uv_sleep(1);
    }
    CHECK(atomic_load(&g_held_ready));
    command(1); /* shutdown: new requests get 503 */
    CHECK(request("GET", "/later", NULL, 0, 0, &b, NULL) == 503);
    CHECK(strstr(b.data, "shutting down") != NULL);
    command(3); /* close: must wait for the held request */
    uv_sleep(300);
    CHECK(!atomic_load(&g_closed));
    command(2); /* the handler answers */
    void *res = NULL;
    CHECK(pthread_join(ht, &res) == 0);
    CHECK(res == NULL);
    CHECK(strstr(held.data, "\"held\": true") != NULL);
    for (int i = 0; i < 5000 && !atomic_load(&g_closed); i++) {
        uv_sleep(1);
    }
    CHECK(atomic_load(&g_closed));
    return NULL;
}

int main(void)
{
    setvbuf(stderr, NULL, _IONBF, 0);
    log_set_level(LOG_LEVEL_WARN);
    json_object_seed(0);
    CHECK(curl_global_init(CURL_GLOBAL_DEFAULT) == 0);
    CHECK(uv_loop_init(&g_loop) == 0);
    CHECK(uv_async_init(&g_loop, &g_cmd, on_cmd) == 0);

    CHECK(http_server_new(&g_loop, &g_server) == 0);
    CHECK(http_server_route(g_server, "GET", "/later", handle_later, NULL) == 0);
    CHECK(http_server_route(g_server, "POST", "/body", handle_body, NULL) == 0);
    CHECK(http_server_route(g_server, "GET", "/echo/*", handle_echo, "echo") == 0);
    CHECK(http_server_route(g_server, "GET", "/echo/x/*", handle_echo, "echo-x") == 0);
    CHECK(http_server_route(g_server, "GET", "/echo/exact", handle_echo, "exact") == 0);
    CHECK(http_server_route(g_server, "GET", "/text", handle_text, NULL) == 0);
    CHECK(http_server_route(g_server, "GET", "/hold", handle_hold, NULL) == 0);
    CHECK(http_server_route(g_server, "GET", "no-slash", handle_hold, NULL) == -EINVAL);
    http_server_config_t cfg = {.host = "127.0.0.1", .port = 0, .body_limit = BODY_LIMIT};
    CHECK(http_server_start(g_server, &cfg) == 0);
    g_port = http_server_port(g_server);
    CHECK(g_port != 0);
    CHECK(http_server_route(g_server, "GET", "/late", handle_hold, NULL) == -EBUSY);

    pthread_t client;
    CHECK(pthread_create(&client, NULL, client_main, NULL) == 0);
    CHECK(uv_run(&g_loop, UV_RUN_DEFAULT) == 0);
    CHECK(pthread_join(client, NULL) == 0);
    CHECK(atomic_load(&g_closed));
    CHECK(uv_loop_close(&g_loop) == 0);
    curl_global_cleanup();
    fprintf(stderr, "http_server_test: ok\n");
    return 0;
}

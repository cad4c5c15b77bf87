/*
 * common/rpc_client.h against a real enjoliverd (and its gRPC API): unary
 * answers and statuses, a watch that sees a discovery made over HTTP, a
 * cancelled stream, moving to the next server when one is down, and a
 * close with a stream still open.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api_test.h"
#include "common/rpc_client.h"
#include "enjoliver/v1/enjoliver.pb-c.h"

static uv_loop_t loop;

/* Runs the loop until *flag is set or ms passed; the flag's value. */
static int run_until(const int *flag, unsigned ms)
{
    uint64_t end = t_now_ms() + ms;
    while (!*flag && t_now_ms() < end) {
        uv_run(&loop, UV_RUN_NOWAIT);
        t_sleep_ms(2);
    }
    return *flag;
}

typedef struct unary_s {
    int done;
    grpc_status_code status;
    char msg[512];
    char text[512]; /* something of the answer */
    int64_t number;
} unary_t;

static void health_cb(grpc_status_code st, const char *msg, const ProtobufCMessage *resp,
                      void *data)
{
    unary_t *u = data;
    u->status = st;
    snprintf(u->msg, sizeof u->msg, "%s", msg);
    if (resp) {
        const Enjoliver__V1__HealthResponse *h = (const void *)resp;
        snprintf(u->text, sizeof u->text, "%s", h->version);
        u->number = h->etcd;
    }
    u->done = 1;
}

static void machine_cb(grpc_status_code st, const char *msg, const ProtobufCMessage *resp,
                       void *data)
{
    unary_t *u = data;
    u->status = st;
    snprintf(u->msg, sizeof u->msg, "%s", msg);
    if (resp)
        snprintf(u->text, sizeof u->text, "%s", ((const Enjoliver__V1__Machine *)resp)->boot_mac);
    u->done = 1;
}

static void health(rpc_client_t *c, unary_t *u)
{
    Enjoliver__V1__HealthRequest req = ENJOLIVER__V1__HEALTH_REQUEST__INIT;
    memset(u, 0, sizeof(*u));
    CHECK(rpc_client_unary(c, "/enjoliver.v1.Health/Check", &req.base,
                           &enjoliver__v1__health_response__descriptor, 5000, health_cb, u) == 0);
    CHECKF(run_until(&u->done, 8000), "no answer to Health.Check");
}

static void get_by_mac(rpc_client_t *c, const char *mac, unary_t *u)
{
    Enjoliver__V1__GetMachineRequest req = ENJOLIVER__V1__GET_MACHINE_REQUEST__INIT;
    req.key_case = ENJOLIVER__V1__GET_MACHINE_REQUEST__KEY_MAC;
    req.mac = (char *)mac;
    memset(u, 0, sizeof(*u));
    CHECK(rpc_client_unary(c, "/enjoliver.v1.Machines/Get", &req.base,
                           &enjoliver__v1__machine__descriptor, 5000, machine_cb, u) == 0);
    CHECKF(run_until(&u->done, 8000), "no answer to Machines.Get");
}

typedef struct watch_s {
    int snapshot_end, puts, closed;
    grpc_status_code status;
    int64_t last_revision;
    char mac[32];
} watch_t;

static void on_event(rpc_stream_t *st, const ProtobufCMessage *m, void *data)
{
    (void)st;
    watch_t *w = data;
    const Enjoliver__V1__MachineEvent *ev = (const void *)m;
    if (ev->type == ENJOLIVER__V1__MACHINE_EVENT__TYPE__SNAPSHOT_END)
        w->snapshot_end = 1;
    if (ev->type == ENJOLIVER__V1__MACHINE_EVENT__TYPE__PUT && ev->machine) {
        CHECK(ev->revision > w->last_revision);
        w->puts++;
        snprintf(w->mac, sizeof w->mac, "%s", ev->machine->boot_mac);
    }
    w->last_revision = ev->revision;
}

static void on_close(rpc_stream_t *st, grpc_status_code status, const char *msg, void *data)
{
    (void)st, (void)msg;
    watch_t *w = data;
    w->status = status;
    w->closed = 1;
}

static const rpc_stream_ops_t watch_ops = {on_event, on_close};

static rpc_stream_t *watch(rpc_client_t *c, watch_t *w)
{
    Enjoliver__V1__WatchMachinesRequest req = ENJOLIVER__V1__WATCH_MACHINES_REQUEST__INIT;
    rpc_stream_t *st = NULL;
    memset(w, 0, sizeof(*w));
    CHECK(rpc_client_stream(c, "/enjoliver.v1.Machines/Watch", &req.base,
                            &enjoliver__v1__machine_event__descriptor, &watch_ops, w, &st) == 0);
    return st;
}

/* A loopback port nobody listens on (bound, then let go). */
static unsigned dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
          getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void closed(void *data)
{
    *(int *)data = 1;
}

int main(int argc, char **argv)
{
    CHECKF(argc == 2, "usage: %s ENJOLIVERD", argv[0]);
    api_env_t env;
    api_env_start(&env, argv[1], NULL);
    CHECK(env.grpc_port > 0);
    uv_loop_init(&loop);

    /* The first server is down: the call fails UNAVAILABLE and the client
     * moves on; the next call reaches the live one. */
    char dead[64], live[64];
    snprintf(dead, sizeof dead, "127.0.0.1:%u", dead_port());
    snprintf(live, sizeof live, "127.0.0.1:%u", env.grpc_port);
    const char *servers[] = {dead, live};
    rpc_client_config_t cfg = {servers, 2, NULL, NULL, 3000};
    rpc_client_t *c = NULL;
    CHECK(rpc_client_new(&loop, &cfg, &c) == 0);
    unary_t u;
    health(c, &u);
    CHECKF(u.status == GRPC_STATUS_UNAVAILABLE, "status %d (%s)", u.status, u.msg);
    CHECK(strcmp(rpc_client_server(c), live) == 0);
    health(c, &u);
    CHECKF(u.status == GRPC_STATUS_OK && strcmp(u.text, ENJ_VERSION) == 0 && u.number == 1,
           "status %d (%s) version %s", u.status, u.msg, u.text);

    /* A status with its message. */
    get_by_mac(c, "not-a-mac", &u);
    CHECK(u.status == GRPC_STATUS_INVALID_ARGUMENT && strstr(u.msg, "mac"));
    get_by_mac(c, "52:54:00:00:00:01", &u);
    CHECK(u.status == GRPC_STATUS_NOT_FOUND);

    /* A watch sees what HTTP writes. */
    watch_t w;
    rpc_stream_t *st = watch(c, &w);
    CHECKF(run_until(&w.snapshot_end, 5000), "no SNAPSHOT_END");
    api_resp_t r = {0};
    char *body = api_discovery_body("aaaaaaaa-0000-4000-8000-000000000001", "52:54:00:00:00:01",
                                    "10.1.0.1", 24, "10.1.0.254");
    api_req(&env, "POST", "/discovery", body, strlen(body), &r);
    CHECK(r.status == 200);
    CHECKF(run_until(&w.puts, 5000), "the watch did not see the discovery");
    CHECK(strcmp(w.mac, "52:54:00:00:00:01") == 0);
    get_by_mac(c, "52-54-00-00-00-01", &u);
    CHECK(u.status == GRPC_STATUS_OK && strcmp(u.text, "52:54:00:00:00:01") == 0);

    /* Cancelled by us: CANCELLED, once. */
    rpc_stream_cancel(st);
    CHECKF(run_until(&w.closed, 5000), "the cancelled stream did not close");
    CHECK(w.status == GRPC_STATUS_CANCELLED);

    /* Closing with a stream open: it ends, then the client is freed. */
    watch_t w2;
    watch(c, &w2);
    CHECK(run_until(&w2.snapshot_end, 5000));
    int done = 0;
    rpc_client_close(c, closed, &done);
    CHECKF(run_until(&done, 5000), "the client did not close");
    CHECK(w2.closed && w2.status == GRPC_STATUS_CANCELLED);

    free(body);
    api_resp_free(&r);
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(uv_loop_close(&loop) == 0);
    api_env_stop(&env);
    t_log("test_grpc_client: ok");
    return 0;
}

/*
 * The reconcilers' work queue on a real libuv loop: dedup of queued keys,
 * one process at a time per key (a key added while in process runs again
 * after), the parallel limit, retries with growing backoff after failures,
 * failures forgotten after a success, pause dropping the queued keys, and
 * a free with retries pending that leaves no handle behind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "workqueue.h"

#include "../harness/check_fatal.h"

static uv_loop_t loop;
static workqueue_t *q;

typedef struct held_s {
    char key[32];
    uv_timer_t t;
    int err;
} held_t;

static int calls_a, calls_b, running_now, running_max, fail_b_times;
static uint64_t b_times[8];
static int n_b;

static void held_closed(uv_handle_t *h)
{
    free(h->data);
}

static void finish(uv_timer_t *t)
{
    held_t *h = t->data;
    running_now--;
    workqueue_done(q, h->key, h->err);
    uv_close((uv_handle_t *)t, held_closed);
}

/* Every key takes 20 ms; "b" fails its first fail_b_times runs. */
static void process(workqueue_t *wq, const char *key, void *data)
{
    (void)wq, (void)data;
    held_t *h = calloc(1, sizeof(*h));
    CHECK(h != NULL);
    snprintf(h->key, sizeof h->key, "%s", key);
    if (!strcmp(key, "a"))
        calls_a++;
    if (!strcmp(key, "b")) {
        calls_b++;
        b_times[n_b < 8 ? n_b++ : 7] = uv_now(&loop);
        h->err = calls_b <= fail_b_times ? -5 : 0;
    }
    running_now++;
    if (running_now > running_max)
        running_max = running_now;
    uv_timer_init(&loop, &h->t);
    h->t.data = h;
    uv_timer_start(&h->t, finish, 20, 0);
}

static void stop_loop(uv_timer_t *t)
{
    uv_stop(t->loop);
}

static void run_ms(unsigned ms)
{
    uv_timer_t stop;
    uv_timer_init(&loop, &stop);
    uv_timer_start(&stop, stop_loop, ms, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&stop, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
}

int main(void)
{
    CHECK(uv_loop_init(&loop) == 0);
    workqueue_config_t cfg = {.parallel = 2, .backoff_min = 50, .backoff_max = 400};
    CHECK(workqueue_new(&loop, &cfg, process, NULL, &q) == 0);

    /* Dedup: "a" three times while queued runs once. */
    CHECK(workqueue_add(q, "a") == 0 && workqueue_add(q, "a") == 0 && workqueue_add(q, "a") == 0);
    run_ms(100);
    CHECK(calls_a == 1);

    /* Added while in process: runs once more afterwards, never twice at once. */
    calls_a = 0;
    running_max = 0;
    CHECK(workqueue_add(q, "a") == 0);
    run_ms(5); /* "a" is in process now */
    CHECK(workqueue_add(q, "a") == 0 && workqueue_add(q, "a") == 0);
    run_ms(150);
    CHECK(calls_a == 2 && running_max == 1);

    /* Parallel limit: 5 keys, at most 2 at a time. */
    running_max = 0;
    for (int i = 0; i < 5; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%d", i);
        CHECK(workqueue_add(q, k) == 0);
    }
    run_ms(200);
    CHECK(running_max == 2);
    CHECK(workqueue_depth(q) == 0);

    /* Retries: "b" fails 3 times, then succeeds; delays grow. */
    fail_b_times = 3;
    CHECK(workqueue_add(q, "b") == 0);
    run_ms(1500);
    CHECK(calls_b == 4);
    CHECK(workqueue_failures(q) == 3);
    uint64_t d1 = b_times[1] - b_times[0], d3 = b_times[3] - b_times[2];
    CHECK(d1 >= 20 + 25 && d3 > d1); /* jittered backoff: 50 ms base, doubling */
    CHECK(workqueue_depth(q) == 0);

    /* After a success, failures are forgotten: the next failure waits the
     * base delay again. */
    calls_b = 0;
    n_b = 0;
    fail_b_times = 1;
    CHECK(workqueue_add(q, "b") == 0);
    run_ms(400);
    CHECK(calls_b == 2 && b_times[1] - b_times[0] < 20 + 60);

    /* Pause drops what is queued; resume runs new additions. */
    calls_a = 0;
    workqueue_pause(q);
    CHECK(workqueue_add(q, "a") == 0);
    run_ms(60);
    CHECK(calls_a == 0);
    workqueue_pause(q);
    workqueue_resume(q);
    CHECK(workqueue_add(q, "a") == 0);
    run_ms(60);
    CHECK(calls_a == 1);

    /* Free with a retry pending leaves nothing on the loop. */
    calls_b = 0;
    fail_b_times = 100;
    CHECK(workqueue_add(q, "b") == 0);
    run_ms(40); /* failed once, a retry timer is pending */
    CHECK(calls_b == 1 && workqueue_depth(q) == 1);
    workqueue_free(q);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
    printf("test_workqueue: ok\n");
    return 0;
}

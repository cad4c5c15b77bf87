/* The reconcilers' work queue. See workqueue.h. */
#include "workqueue.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Per key, in `keys` (a jansson object used as a hash map): */
enum { K_QUEUED = 1, K_RUNNING = 2, K_DIRTY = 4, K_WAITING = 8 };

typedef struct retry_s {
    uv_timer_t timer;
    workqueue_t *q;
    char *key;
    struct retry_s *next, *prev; /* the queue's pending retries */
} retry_t;

struct workqueue_s {
    uv_loop_t *loop;
    workqueue_config_t cfg;
    workqueue_process_fn process;
    void *data;
    json_t *keys; /* key -> {"flags": int, "failures": int} */
    char **fifo;  /* queued keys, in order */
    size_t head, len, cap;
    unsigned running;
    bool paused;
    uv_idle_t kick; /* runs the queue on the next loop turn */
    bool kick_active;
    uint64_t processed, failures;
    size_t waiting;
    retry_t *retries;
};

static json_t *state(workqueue_t *q, const char *key, bool create)
{
    json_t *s = json_object_get(q->keys, key);
    if (!s && create) {
        s = json_pack("{s:i, s:i}", "flags", 0, "failures", 0);
        if (s && json_object_set_new(q->keys, key, s) != 0)
            s = NULL;
    }
    return s;
}

static int flags_of(json_t *s)
{
    return (int)json_integer_value(json_object_get(s, "flags"));
}

static void set_flags(json_t *s, int f)
{
    json_object_set_new(s, "flags", json_integer(f));
}

static void forget_if_idle(workqueue_t *q, const char *key, json_t *s)
{
    if (flags_of(s) == 0 && json_integer_value(json_object_get(s, "failures")) == 0)
        json_object_del(q->keys, key);
}

static void run(workqueue_t *q);

static void on_kick(uv_idle_t *h)
{
    workqueue_t *q = h->data;
    uv_idle_stop(h);
    q->kick_active = false;
    run(q);
}

static void kick(workqueue_t *q)
{
    if (!q->kick_active && !q->paused) {
        q->kick_active = true;
        uv_idle_start(&q->kick, on_kick);
    }
}

static int push(workqueue_t *q, const char *key)
{
    if (q->len == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        char **f = malloc(cap * sizeof(*f));
        if (!f)
            return -ENOMEM;
        for (size_t i = 0; i < q->len; i++)
            f[i] = q->fifo[(q->head + i) % q->cap];
        free(q->fifo);
        q->fifo = f;
        q->head = 0;
        q->cap = cap;
    }
    char *k = strdup(key);
    if (!k)
        return -ENOMEM;
    q->fifo[(q->head + q->len++) % q->cap] = k;
    return 0;
}

int workqueue_add(workqueue_t *q, const char *key)
{
    json_t *s = state(q, key, true);
    if (!s)
        return -ENOMEM;
    int f = flags_of(s);
    if (f & K_RUNNING) {
        set_flags(s, f | K_DIRTY);
        return 0;
    }
    if (f & (K_QUEUED | K_WAITING))
        return 0; /* a waiting retry will see the new state anyway */
    int rc = push(q, key);
    if (rc)
        return rc;
    set_flags(s, f | K_QUEUED);
    kick(q);
    return 0;
}

static void run(workqueue_t *q)
{
    unsigned parallel = q->cfg.parallel ? q->cfg.parallel : 1;
    while (!q->paused && q->len && q->running < parallel) {
        char *key = q->fifo[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
        json_t *s = state(q, key, false);
        if (s) {
            set_flags(s, (flags_of(s) & ~K_QUEUED) | K_RUNNING);
            json_object_set_new(s, "started_ns", json_integer((json_int_t)uv_hrtime()));
            q->running++;
            q->process(q, key, q->data);
        }
        free(key);
    }
}

static void retry_unlink(retry_t *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        r->q->retries = r->next;
    if (r->next)
        r->next->prev = r->prev;
}

static void retry_closed(uv_handle_t *h)
{
    retry_t *r = h->data;
    free(r->key);
    free(r);
}

static void on_retry(uv_timer_t *t)
{
    retry_t *r = t->data;
    workqueue_t *q = r->q;
    retry_unlink(r);
    q->waiting--;
    json_t *s = state(q, r->key, false);
    if (s) {
        set_flags(s, flags_of(s) & ~K_WAITING);
        workqueue_add(q, r->key);
    }
    uv_close((uv_handle_t *)t, retry_closed);
}

static void retry_later(workqueue_t *q, const char *key, json_t *s)
{
    json_int_t n = json_integer_value(json_object_get(s, "failures")) + 1;
    json_object_set_new(s, "failures", json_integer(n));
    unsigned min = q->cfg.backoff_min ? q->cfg.backoff_min : 100;
    unsigned max = q->cfg.backoff_max ? q->cfg.backoff_max : 30000;
    uint64_t delay = min;
    for (json_int_t i = 1; i < n && delay < max; i++)
        delay *= 2;
    if (delay > max)
        delay = max;
    delay = delay / 2 + (uint64_t)rand() % (delay / 2 + 1);
    retry_t *r = calloc(1, sizeof(*r));
    if (!r || !(r->key = strdup(key))) {
        free(r);
        return; /* out of memory: the next change of the key brings it back */
    }
    r->q = q;
    r->next = q->retries;
    if (r->next)
        r->next->prev = r;
    q->retries = r;
    uv_timer_init(q->loop, &r->timer);
    r->timer.data = r;
    set_flags(s, flags_of(s) | K_WAITING);
    q->waiting++;
    uv_timer_start(&r->timer, on_retry, delay, 0);
}

void workqueue_done(workqueue_t *q, const char *key, int err)
{
    json_t *s = state(q, key, false);
    q->running--;
    q->processed++;
    json_int_t started = json_integer_value(json_object_get(s, "started_ns"));
    if (q->cfg.finished && started > 0)
        q->cfg.finished(key, err, uv_hrtime() - (uint64_t)started, q->data);
    if (!s) {
        kick(q);
        return;
    }
    int f = flags_of(s) & ~K_RUNNING;
    set_flags(s, f & ~K_DIRTY);
    if (err) {
        q->failures++;
        if (!q->paused)
            retry_later(q, key, s);
    } else {
        json_object_set_new(s, "failures", json_integer(0));
    }
    if ((f & K_DIRTY) && !q->paused && !(flags_of(s) & K_WAITING))
        workqueue_add(q, key);
    forget_if_idle(q, key, s);
    kick(q);
}

void workqueue_pause(workqueue_t *q)
{
    q->paused = true;
    while (q->len) {
        char *key = q->fifo[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
        json_t *s = state(q, key, false);
        if (s) {
            set_flags(s, flags_of(s) & ~K_QUEUED);
            forget_if_idle(q, key, s);
        }
        free(key);
    }
}

void workqueue_resume(workqueue_t *q)
{
    q->paused = false;
    kick(q);
}

size_t workqueue_depth(const workqueue_t *q)
{
    return q->len + q->running + q->waiting;
}

uint64_t workqueue_processed(const workqueue_t *q)
{
    return q->processed;
}

uint64_t workqueue_failures(const workqueue_t *q)
{
    return q->failures;
}

int workqueue_new(uv_loop_t *loop, const workqueue_config_t *cfg, workqueue_process_fn process,
                  void *data, workqueue_t **out)
{
    if (!loop || !process || !out)
        return -EINVAL;
    workqueue_t *q = calloc(1, sizeof(*q));
    if (!q || !(q->keys = json_object())) {
        free(q);
        return -ENOMEM;
    }
    q->loop = loop;
    q->cfg = cfg ? *cfg : (workqueue_config_t){0};
    q->process = process;
    q->data = data;
    uv_idle_init(loop, &q->kick);
    q->kick.data = q;
    *out = q;
    return 0;
}

static void free_closed(uv_handle_t *h)
{
    workqueue_t *q = h->data;
    free(q);
}

void workqueue_free(workqueue_t *q)
{
    if (!q)
        return;
    workqueue_pause(q);
    for (retry_t *r = q->retries, *next; r; r = next) {
        next = r->next;
        uv_close((uv_handle_t *)&r->timer, retry_closed);
    }
    q->retries = NULL;
    free(q->fifo);
    json_decref(q->keys);
    q->keys = NULL;
    uv_close((uv_handle_t *)&q->kick, free_closed);
}

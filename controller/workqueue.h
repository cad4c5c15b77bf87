/*
 * A work queue of keys for level-triggered reconcilers (the client-go
 * pattern): adding a key that is already queued does nothing; a key is
 * never processed twice at once (added while processing: processed again
 * afterwards); a failed key comes back after a per-key exponential backoff
 * (base doubling up to max, jittered), a succeeded one forgets its
 * failures. At most `parallel` keys are processed at a time.
 *
 *   workqueue_new(loop, &cfg, process, data, &q);
 *   workqueue_add(q, "machines/52:54:..");
 *   ... process(q, key, data) runs on the loop; it calls
 *       workqueue_done(q, key, err) exactly once, now or later.
 *
 * Loop thread only.
 */
#ifndef ENJ_WORKQUEUE_H
#define ENJ_WORKQUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct workqueue_s workqueue_t;

typedef void (*workqueue_process_fn)(workqueue_t *q, const char *key, void *data);

typedef struct workqueue_config_s {
    unsigned parallel;    /* 0 = 1 */
    unsigned backoff_min; /* ms, 0 = 100 */
    unsigned backoff_max; /* ms, 0 = 30000 */
    /* Optional: told of every run's end, with its time from process() to
     * workqueue_done() (data = the process data). */
    void (*finished)(const char *key, int err, uint64_t ns, void *data);
} workqueue_config_t;

int workqueue_new(uv_loop_t *loop, const workqueue_config_t *cfg, workqueue_process_fn process,
                  void *data, workqueue_t **out);
/* Queues key (copied). 0 or -ENOMEM. */
int workqueue_add(workqueue_t *q, const char *key);
/* The end of process(): err 0 forgets the key's failures; otherwise the
 * key is retried after its backoff. */
void workqueue_done(workqueue_t *q, const char *key, int err);
/* Stops processing new keys; queued ones are dropped (a new leader lists
 * everything again). Keys in process still call workqueue_done(). */
void workqueue_pause(workqueue_t *q);
void workqueue_resume(workqueue_t *q);
/* Queued + waiting for a retry + in process. */
size_t workqueue_depth(const workqueue_t *q);
uint64_t workqueue_processed(const workqueue_t *q);
uint64_t workqueue_failures(const workqueue_t *q);
/* Frees it; no key may be in process (pause, wait for the done calls). */
void workqueue_free(workqueue_t *q);

#endif

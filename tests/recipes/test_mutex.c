/*
 * Mutex across processes: 20 recipe_contender processes lock
 * <prefix>/lock/ (lease-bound candidate keys, FIFO by create revision),
 * put <prefix>/inside/<name> = <their lock key>, sleep, delete it and
 * unlock, ROUNDS times each.
 *
 * Judged from etcd's history of the prefix, in revision order:
 *   - never more than one inside key at any revision;
 *   - whoever enters holds the lock at that revision: its lock key exists
 *     and has the lowest create revision of the lock keys, and stays so
 *     until it left (no lock key of a holder is deleted while it is inside);
 *   - every contender entered exactly ROUNDS times, and they contended (the
 *     queue held many candidates at once).
 *
 * usage: recipe_test_mutex PATH_TO_recipe_contender
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recipe_util.h"

#define N_CONTENDERS 20
#define ROUNDS 5

static void check_history(rec_t *r, const rec_log_t *h)
{
    rec_set_t locks = {0}, inside = {0};
    int entered[N_CONTENDERS] = {0};
    size_t max_queue = 0;
    for (size_t i = 0; i < h->n; i++) {
        const rec_ev_t *e = &h->ev[i];
        const char *who;
        if (rec_key_in(r, e->key, "lock/")) {
            if (!e->del && (e->lease == 0 || e->version != 1 || *e->val))
                rec_fail_at(h, i, "lock key %s: not a lease-bound creation", e->key);
            if (e->del) {
                const rec_kv_t *in = rec_set_find_val(&inside, e->key);
                if (in)
                    rec_fail_at(h, i, "lock key %s deleted while its holder is inside (%s)", e->key,
                                in->key);
            }
            rec_set_apply(&locks, e);
            if (locks.n > max_queue)
                max_queue = locks.n;
        } else if ((who = rec_key_in(r, e->key, "inside/"))) {
            int k = rec_name_index(who, 'm', N_CONTENDERS);
            if (k < 0)
                rec_fail_at(h, i, "inside key of an unknown contender: %s", e->key);
            const rec_kv_t *held = rec_set_lowest(&locks);
            if (!e->del) {
                /* Entering: the lock key it names is the holder's at this revision. */
                if (!held || strcmp(held->key, e->val))
                    rec_fail_at(h, i, "%s enters with lock key %s, but the holder is %s", who,
                                e->val, held ? held->key : "nobody");
                if (rec_set_find(&inside, e->key))
                    rec_fail_at(h, i, "%s enters twice", who);
                entered[k]++;
            } else {
                const rec_kv_t *in = rec_set_find(&inside, e->key);
                if (!in)
                    rec_fail_at(h, i, "%s leaves without being inside", who);
                if (!held || strcmp(held->key, in->val))
                    rec_fail_at(h, i, "%s leaves, but no longer holds the lock (holder %s)", who,
                                held ? held->key : "nobody");
            }
            rec_set_apply(&inside, e);
        } else {
            rec_fail_at(h, i, "unexpected key %s", e->key);
        }
        if (inside.n > 1)
            rec_fail_at(h, i, "%zu contenders inside at once", inside.n);
    }
    CHECKF(inside.n == 0 && locks.n == 0, "%zu inside / %zu lock keys left at the end", inside.n,
           locks.n);
    for (int k = 0; k < N_CONTENDERS; k++)
        CHECKF(entered[k] == ROUNDS, "m%d entered %d times, not %d", k, entered[k], ROUNDS);
    rec_say("history: %d entries, at most 1 inside, up to %zu candidates queued",
            N_CONTENDERS * ROUNDS, max_queue);
    /* All started at once: the queue must have been long. */
    CHECKF(max_queue >= N_CONTENDERS / 2, "at most %zu candidates queued: no contention",
           max_queue);
    rec_set_free(&locks);
    rec_set_free(&inside);
}

int main(int argc, char **argv)
{
    static rec_t rec;
    rec_t *r = &rec;
    double t_begin = rec_now();
    rec_init(r, argc, argv, "mutex");
    char rounds[16];
    snprintf(rounds, sizeof rounds, "%d", ROUNDS);
    for (int i = 0; i < N_CONTENDERS; i++) {
        char name[16];
        snprintf(name, sizeof name, "m%d", i);
        rec_spawn(r, "mutex", name, "--ttl", "5", "--rounds", rounds, "--hold-ms", "5",
                  "--hold-max-ms", "25", (char *)NULL);
    }
    CHECKF(rec_wait_all_exit(r, 25), "contenders still run after 25 s");
    double t_run = rec_now() - t_begin;
    for (size_t i = 0; i < r->n_procs; i++)
        CHECKF(rec_exited_with(&r->procs[i], 0), "%s ended with status 0x%x", r->procs[i].name,
               r->procs[i].status);

    rec_log_t h;
    rec_history(r, &h);
    check_history(r, &h);
    rec_log_free(&h);
    rec_done(r);
    fprintf(stderr, "PASS test_mutex (%.1f s; contenders done after %.1f s)\n", rec_now() - t_begin,
            t_run);
    return 0;
}

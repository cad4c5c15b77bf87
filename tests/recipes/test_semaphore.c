/*
 * Counting semaphore across processes: 20 recipe_contender processes
 * acquire a 3-slot semaphore on <prefix>/ (slot keys <prefix>/slot/<i>,
 * bound to each contender's session lease), put <prefix>/inside/<name>,
 * sleep, delete it and release, ROUNDS times each.
 *
 * Judged from etcd's history of the prefix, in revision order:
 *   - slot keys are only <prefix>/slot/0..2, each put is a creation (no one
 *     overwrites a held slot), so never more than 3 holders;
 *   - never more than 3 inside keys; whoever enters holds a slot at that
 *     revision (a slot key whose value is its name) and still holds it when
 *     it leaves (no slot of a contender inside is deleted);
 *   - all 20 got in, ROUNDS times each, and 3 were inside at once at some
 *     point (the semaphore does admit 3).
 *
 * usage: recipe_test_semaphore PATH_TO_recipe_contender
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recipe_util.h"

#define N_CONTENDERS 20
#define SLOTS 3
#define ROUNDS 3

static int slot_index(const char *s)
{
    char *end;
    long i = strtol(s, &end, 10);
    return *s && !*end && i >= 0 && i < SLOTS ? (int)i : -1;
}

static void check_history(rec_t *r, const rec_log_t *h)
{
    rec_set_t slots = {0}, inside = {0};
    int entered[N_CONTENDERS] = {0}, acquired[N_CONTENDERS] = {0};
    size_t max_inside = 0;
    for (size_t i = 0; i < h->n; i++) {
        const rec_ev_t *e = &h->ev[i];
        const char *rest;
        if ((rest = rec_key_in(r, e->key, "slot/"))) {
            if (slot_index(rest) < 0)
                rec_fail_at(h, i, "slot key %s beyond the %d slots", e->key, SLOTS);
            if (!e->del) {
                int k = rec_name_index(e->val, 's', N_CONTENDERS);
                if (k < 0 || e->lease == 0)
                    rec_fail_at(h, i, "slot %s taken by \"%s\" (lease %" PRIx64 ")", e->key, e->val,
                                (uint64_t)e->lease);
                if (e->version != 1 || rec_set_find(&slots, e->key))
                    rec_fail_at(h, i, "slot %s overwritten: a held slot taken by %s", e->key,
                                e->val);
                if (rec_set_find_val(&slots, e->val))
                    rec_fail_at(h, i, "%s holds two slots", e->val);
                acquired[k]++;
            } else {
                const rec_kv_t *s = rec_set_find(&slots, e->key);
                if (!s)
                    rec_fail_at(h, i, "slot %s deleted while free", e->key);
                char in_key[256];
                snprintf(in_key, sizeof in_key, "%s/inside/%s", r->prefix, s->val);
                if (rec_set_find(&inside, in_key))
                    rec_fail_at(h, i, "slot %s of %s freed while it is inside", e->key, s->val);
            }
            rec_set_apply(&slots, e);
        } else if ((rest = rec_key_in(r, e->key, "inside/"))) {
            int k = rec_name_index(rest, 's', N_CONTENDERS);
            if (k < 0)
                rec_fail_at(h, i, "inside key of an unknown contender: %s", e->key);
            const rec_kv_t *held = rec_set_find_val(&slots, rest);
            if (!held)
                rec_fail_at(h, i, "%s %s without holding a slot", rest,
                            e->del ? "leaves" : "enters");
            if (!e->del) {
                if (rec_set_find(&inside, e->key))
                    rec_fail_at(h, i, "%s enters twice", rest);
                entered[k]++;
            } else if (!rec_set_find(&inside, e->key)) {
                rec_fail_at(h, i, "%s leaves without being inside", rest);
            }
            rec_set_apply(&inside, e);
            if (inside.n > max_inside)
                max_inside = inside.n;
        } else {
            rec_fail_at(h, i, "unexpected key %s", e->key);
        }
        if (slots.n > SLOTS || inside.n > SLOTS)
            rec_fail_at(h, i, "%zu slots held, %zu inside, with %d slots", slots.n, inside.n,
                        SLOTS);
    }
    CHECKF(inside.n == 0 && slots.n == 0, "%zu inside / %zu slots held at the end", inside.n,
           slots.n);
    for (int k = 0; k < N_CONTENDERS; k++)
        CHECKF(entered[k] == ROUNDS && acquired[k] == ROUNDS,
               "s%d acquired %d times and entered %d times, not %d", k, acquired[k], entered[k],
               ROUNDS);
    rec_say("history: %d entries, at most %zu inside at once", N_CONTENDERS * ROUNDS, max_inside);
    CHECKF(max_inside == SLOTS, "never %d inside at once (at most %zu)", SLOTS, max_inside);
    rec_set_free(&slots);
    rec_set_free(&inside);
}

int main(int argc, char **argv)
{
    static rec_t rec;
    rec_t *r = &rec;
    double t_begin = rec_now();
    rec_init(r, argc, argv, "semaphore");
    char rounds[16], slots[16];
    snprintf(rounds, sizeof rounds, "%d", ROUNDS);
    snprintf(slots, sizeof slots, "%d", SLOTS);
    for (int i = 0; i < N_CONTENDERS; i++) {
        char name[16];
        snprintf(name, sizeof name, "s%d", i);
        rec_spawn(r, "semaphore", name, "--ttl", "5", "--slots", slots, "--rounds", rounds,
                  "--hold-ms", "30", "--hold-max-ms", "90", (char *)NULL);
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
    fprintf(stderr, "PASS test_semaphore (%.1f s; contenders done after %.1f s)\n",
            rec_now() - t_begin, t_run);
    return 0;
}

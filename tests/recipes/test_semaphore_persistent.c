/*
 * A persistent semaphore holder (lease 0) keeps its slot across its own
 * restart. Semaphore of 2 slots on <prefix>/:
 *   1. P (semaphore-persistent --persistent) acquires slot S, token T (the
 *      slot key's create revision), and puts <prefix>/inside/P = "S T" in a
 *      Txn fenced on the token;
 *   2. 4 lease-bound contenders cycle on the semaphore (acquire, inside,
 *      release) for the rest of the test;
 *   3. P is SIGKILLed and stays dead for longer than any session lease
 *      (TTL + 1.5 s) while the others go on;
 *   4. P is restarted with the same holder name and enters again.
 *
 * Judged from etcd's history of the prefix:
 *   - slot S's key has exactly one event until the end of the test: its
 *     creation by P (lease 0, create revision T); it is never deleted nor
 *     taken while P is dead, although the others kept acquiring the other
 *     slot meanwhile;
 *   - P's inside key is put twice, before the kill and after the restart,
 *     both times with "S T" while slot S holds create revision T;
 *   - never more than 2 slot keys nor 2 inside keys; whoever enters holds a
 *     slot at that revision.
 * P's "HELD S T" lines (the same before and after) are a secondary check.
 *
 * usage: recipe_test_semaphore_persistent PATH_TO_recipe_contender
 */
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "recipe_util.h"

#define SLOTS 2
#define N_OTHERS 4
#define TTL_S 2

static rec_proc_t *spawn_p(rec_t *r)
{
    char slots[16];
    snprintf(slots, sizeof slots, "%d", SLOTS);
    return rec_spawn(r, "semaphore-persistent", "P", "--slots", slots, "--persistent",
                     (char *)NULL);
}

/* P's slot as first seen by the live watch. */
typedef struct {
    char key[192];
    int slot;
    int64_t token, inside_rev;
    char inside_val[64];
} p_slot_t;

/* P holds a slot and has put its inside key after revision *after. */
typedef struct {
    p_slot_t *ps;
    int64_t after;
} p_wait_t;

static int p_inside(rec_t *r, void *arg)
{
    p_wait_t *w = arg;
    for (size_t i = 0; i < r->live.n; i++) {
        const rec_ev_t *e = &r->live.ev[i];
        const char *rest = rec_key_in(r, e->key, "slot/");
        if (rest && !e->del && !strcmp(e->val, "P") && !w->ps->token) {
            snprintf(w->ps->key, sizeof w->ps->key, "%s", e->key);
            w->ps->slot = atoi(rest);
            w->ps->token = e->create_rev;
        }
        rest = rec_key_in(r, e->key, "inside/");
        if (rest && !e->del && !strcmp(rest, "P") && e->rev > w->after) {
            w->ps->inside_rev = e->rev;
            snprintf(w->ps->inside_val, sizeof w->ps->inside_val, "%s", e->val);
            return 1;
        }
    }
    return 0;
}

typedef struct {
    size_t from;
    int want;
} entries_wait_t;

/* At least want entries of the others from live index from on. */
static int others_entered(rec_t *r, void *arg)
{
    entries_wait_t *w = arg;
    int n = 0;
    for (size_t i = w->from; i < r->live.n; i++) {
        const rec_ev_t *e = &r->live.ev[i];
        const char *rest = rec_key_in(r, e->key, "inside/");
        n += rest && !e->del && strcmp(rest, "P");
    }
    return n >= w->want;
}

static void check_history(rec_t *r, const rec_log_t *h, const p_slot_t *ps, int64_t rev_kill,
                          int64_t rev_restart, int64_t rev_term)
{
    rec_set_t slots = {0}, inside = {0};
    char p_val[64];
    snprintf(p_val, sizeof p_val, "%d %" PRId64, ps->slot, ps->token);
    int ks_events = 0, ks_deleted_after = 0, p_entries = 0, others_while_dead = 0;
    int64_t p_first = 0, p_second = 0;
    for (size_t i = 0; i < h->n; i++) {
        const rec_ev_t *e = &h->ev[i];
        const char *rest;
        if ((rest = rec_key_in(r, e->key, "slot/"))) {
            char *end;
            long idx = strtol(rest, &end, 10);
            if (!*rest || *end || idx < 0 || idx >= SLOTS)
                rec_fail_at(h, i, "slot key %s beyond the %d slots", e->key, SLOTS);
            if (!strcmp(e->key, ps->key)) {
                if (e->rev <= rev_term) {
                    ks_events++;
                    if (e->del || e->create_rev != ps->token || strcmp(e->val, "P") ||
                        e->lease != 0)
                        rec_fail_at(h, i, "P's slot %s changed while P held it", e->key);
                } else if (e->del) {
                    ks_deleted_after = 1; /* P's release on SIGTERM */
                }
            }
            if (!e->del) {
                int persistent = !strcmp(e->val, "P");
                if (persistent != (e->lease == 0))
                    rec_fail_at(h, i, "slot %s of %s has lease %" PRIx64, e->key, e->val,
                                (uint64_t)e->lease);
                if (e->version != 1 || rec_set_find(&slots, e->key))
                    rec_fail_at(h, i, "slot %s overwritten: a held slot taken by %s", e->key,
                                e->val);
                if (rec_set_find_val(&slots, e->val))
                    rec_fail_at(h, i, "%s holds two slots", e->val);
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
            const rec_kv_t *held = rec_set_find_val(&slots, rest);
            if (!held)
                rec_fail_at(h, i, "%s %s without holding a slot", rest,
                            e->del ? "leaves" : "enters");
            if (!strcmp(rest, "P")) {
                if (!e->del && e->rev <= rev_term) {
                    if (strcmp(held->key, ps->key) || held->create_rev != ps->token ||
                        strcmp(e->val, p_val))
                        rec_fail_at(h, i,
                                    "P enters with \"%s\" holding %s (created at %" PRId64 ")",
                                    e->val, held->key, held->create_rev);
                    p_entries++;
                    if (!p_first)
                        p_first = e->rev;
                    else if (!p_second)
                        p_second = e->rev;
                }
            } else if (!e->del) {
                if (rec_set_find(&inside, e->key))
                    rec_fail_at(h, i, "%s enters twice", rest);
                if (e->rev > rev_kill && e->rev < rev_restart)
                    others_while_dead++;
            }
            rec_set_apply(&inside, e);
        } else {
            rec_fail_at(h, i, "unexpected key %s", e->key);
        }
        if (slots.n > SLOTS || inside.n > SLOTS)
            rec_fail_at(h, i, "%zu slots held, %zu inside, with %d slots", slots.n, inside.n,
                        SLOTS);
    }
    CHECKF(ks_events == 1, "P's slot %s: %d events until the end of the test, not 1", ps->key,
           ks_events);
    CHECKF(ks_deleted_after, "P's slot %s was not released on SIGTERM", ps->key);
    CHECKF(p_entries == 2 && p_first < rev_kill && p_second > rev_restart,
           "P entered %d times (revisions %" PRId64 ", %" PRId64 "), expected once before the "
           "kill (%" PRId64 ") and once after the restart (%" PRId64 ")",
           p_entries, p_first, p_second, rev_kill, rev_restart);
    CHECKF(others_while_dead >= 5, "the others entered %d times while P was dead",
           others_while_dead);
    CHECKF(inside.n == 0 && slots.n == 0, "%zu inside / %zu slots held at the end", inside.n,
           slots.n);
    rec_say("history: P's slot %s (token %" PRId64 ") never changed; P entered at revisions "
            "%" PRId64 " and %" PRId64 "; the others entered %d times while P was dead",
            ps->key, ps->token, p_first, p_second, others_while_dead);
    rec_set_free(&slots);
    rec_set_free(&inside);
}

int main(int argc, char **argv)
{
    static rec_t rec;
    rec_t *r = &rec;
    double t_begin = rec_now();
    rec_init(r, argc, argv, "semaphore_persistent");

    /* 1. P acquires a slot and enters. */
    rec_proc_t *p1 = spawn_p(r);
    p_slot_t ps = {0}, ps2 = {0};
    p_wait_t pw = {&ps, 0};
    CHECKF(rec_wait(r, p_inside, &pw, 10), "P did not get in within 10 s");
    CHECKF(ps.token > 0, "P's inside key came before its slot");
    rec_say("P holds %s (slot %d, token %" PRId64 ")", ps.key, ps.slot, ps.token);

    /* 2. The others cycle on the semaphore. */
    char slots[16], ttl[16];
    snprintf(slots, sizeof slots, "%d", SLOTS);
    snprintf(ttl, sizeof ttl, "%d", TTL_S);
    for (int i = 0; i < N_OTHERS; i++) {
        char name[16];
        snprintf(name, sizeof name, "o%d", i);
        rec_spawn(r, "semaphore", name, "--ttl", ttl, "--slots", slots, "--rounds", "0",
                  "--hold-ms", "50", "--hold-max-ms", "150", (char *)NULL);
    }
    entries_wait_t ew = {r->live.n, 3};
    CHECKF(rec_wait(r, others_entered, &ew, 10), "the others did not get in within 10 s");

    /* 3. SIGKILL P; it stays dead longer than any lease would live. */
    int64_t rev_kill = rec_revision(r);
    rec_signal(p1, SIGKILL);
    CHECKF(rec_wait_exit(r, p1, 5), "P survived SIGKILL");
    ew = (entries_wait_t){r->live.n, 5};
    rec_sleep(r, TTL_S + 1.5);
    CHECKF(rec_wait(r, others_entered, &ew, 10), "the others did not go on while P was dead");

    /* 4. P again, with the same holder name. */
    int64_t rev_restart = rec_revision(r);
    rec_proc_t *p2 = spawn_p(r);
    pw = (p_wait_t){&ps2, rev_restart};
    CHECKF(rec_wait(r, p_inside, &pw, 10), "the restarted P did not get in within 10 s");
    rec_say("P is back in at revision %" PRId64 " (%.1f s after its kill)", ps2.inside_rev,
            rec_now() - p1->t_exit);
    CHECKF(!strcmp(ps2.inside_val, ps.inside_val),
           "the restarted P entered with \"%s\", not with its slot and token \"%s\"",
           ps2.inside_val, ps.inside_val);
    ew = (entries_wait_t){r->live.n, 3};
    CHECKF(rec_wait(r, others_entered, &ew, 10), "the others did not go on after P's restart");

    int64_t rev_term = rec_revision(r);
    rec_stop_all(r, 10);
    CHECKF(WIFSIGNALED(p1->status) && WTERMSIG(p1->status) == SIGKILL, "P: status 0x%x",
           p1->status);
    for (size_t i = 0; i < r->n_procs; i++)
        if (&r->procs[i] != p1)
            CHECKF(rec_exited_with(&r->procs[i], 0), "%s ended with status 0x%x", r->procs[i].name,
                   r->procs[i].status);

    rec_log_t h;
    rec_history(r, &h);
    check_history(r, &h, &ps, rev_kill, rev_restart, rev_term);

    /* Secondary: what P said, before and after. */
    char held1[64], held2[64], want[64];
    snprintf(want, sizeof want, "HELD %d %" PRId64, ps.slot, ps.token);
    CHECKF(rec_out_line(p1, "HELD", held1, sizeof held1) && !strcmp(held1, want),
           "P said \"%s\", expected \"%s\"", held1, want);
    CHECKF(rec_out_line(p2, "HELD", held2, sizeof held2) && !strcmp(held2, want),
           "the restarted P said \"%s\", expected \"%s\"", held2, want);

    rec_log_free(&h);
    rec_done(r);
    fprintf(stderr, "PASS test_semaphore_persistent (%.1f s)\n", rec_now() - t_begin);
    return 0;
}

/*
 * Leader election across processes: 5 recipe_contender processes campaign
 * on <prefix>/election/; each leader writes <prefix>/work/<name> = "start
 * <token>" then "end <token>" in Txns fenced on its election key's create
 * revision (the token), then resigns and campaigns again.
 *
 * Judged from etcd's history of the prefix (replayed from the test's start
 * revision), never from what the contenders print:
 *   - the leader at revision r is the election key with the lowest create
 *     revision that exists at r; every work write at r comes from that leader
 *     and carries its token, and leadership terms never overlap;
 *   - every contender gets to lead, twice (FIFO campaign queue);
 *   - SIGKILL of the leader: its key is deleted by lease expiry within
 *     TTL + 1 s of the kill (live watch stamps), and another candidate leads
 *     from that revision on;
 *   - SIGSTOP of the leader while it holds its token, until its lease expired
 *     and another leader works, then SIGCONT: no write of the ex-leader lands
 *     after its key was deleted (its fenced "end" is refused; that it reports
 *     FENCE_FAILED and exits 3 is only a secondary check).
 *
 * usage: recipe_test_election PATH_TO_recipe_contender
 */
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "recipe_util.h"

#define N_CONTENDERS 5
#define TTL_S 2
#define MAX_ATTEMPTS 3
#define MAX_NAMES 16

static rec_t R;
static rec_proc_t *sigkilled[2 * MAX_ATTEMPTS];
static int n_sigkilled;
static char names[MAX_NAMES][16];
static int n_names;

/* The election keys as the live watch shows them now. */
static rec_set_t live_el;
static size_t live_next;

/* One leadership term: the leader's key, name and token. */
typedef struct term_s {
    char key[192], name[16];
    int64_t crev;
} term_t;

static void spawn(rec_t *r)
{
    CHECK(n_names < MAX_NAMES);
    char *name = names[n_names++];
    snprintf(name, sizeof names[0], "c%d", n_names - 1);
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%d", TTL_S);
    /* Holds long enough (>= 150 ms) for the driver to stop a leader at work. */
    rec_spawn(r, "election", name, "--ttl", ttl, "--rounds", "0", "--hold-ms", "150",
              "--hold-max-ms", "250", (char *)NULL);
}

static void live_update(rec_t *r)
{
    for (; live_next < r->live.n; live_next++) {
        const rec_ev_t *e = &r->live.ev[live_next];
        if (rec_key_in(r, e->key, "election/"))
            rec_set_apply(&live_el, e);
    }
}

/* "start T" / "end T": 0 start, 1 end, -1 unparsable. */
static int parse_work(const char *val, int64_t *tok)
{
    char what[8];
    if (sscanf(val, "%7s %" SCNd64, what, tok) != 2)
        return -1;
    return !strcmp(what, "start") ? 0 : !strcmp(what, "end") ? 1 : -1;
}

/* Index of the first put of work "<what> <tok>" by name in l at or after
 * from, or -1. */
static long find_work(const rec_t *r, const rec_log_t *l, size_t from, const char *name, int what,
                      int64_t tok)
{
    for (size_t i = from; i < l->n; i++) {
        const rec_ev_t *e = &l->ev[i];
        const char *who = rec_key_in(r, e->key, "work/");
        int64_t t;
        if (who && !e->del && !strcmp(who, name) && parse_work(e->val, &t) == what && t == tok)
            return (long)i;
    }
    return -1;
}

/* Index of the first deletion of key after revision rev, or -1. */
static long find_del(const rec_log_t *l, const char *key, int64_t rev)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->ev[i].del && l->ev[i].rev > rev && !strcmp(l->ev[i].key, key))
            return (long)i;
    return -1;
}

/* ---- wait conditions (on the live watch) ---- */

/* Every contender has completed at least *arg terms. */
static int all_led(rec_t *r, void *arg)
{
    int want = *(int *)arg, ends[MAX_NAMES] = {0};
    for (size_t i = 0; i < r->live.n; i++) {
        const rec_ev_t *e = &r->live.ev[i];
        const char *who = rec_key_in(r, e->key, "work/");
        int64_t t;
        if (!who || e->del || parse_work(e->val, &t) != 1)
            continue;
        for (int k = 0; k < n_names; k++)
            ends[k] += !strcmp(who, names[k]);
    }
    for (int k = 0; k < N_CONTENDERS; k++)
        if (ends[k] < want)
            return 0;
    return 1;
}

typedef struct {
    size_t from;
    int want;
} ends_wait_t;

/* At least want terms were completed (by anyone) from index from on. */
static int ends_since(rec_t *r, void *arg)
{
    ends_wait_t *w = arg;
    int n = 0;
    for (size_t i = w->from; i < r->live.n; i++) {
        const rec_ev_t *e = &r->live.ev[i];
        int64_t t;
        n += rec_key_in(r, e->key, "work/") && !e->del && parse_work(e->val, &t) == 1;
    }
    return n >= w->want;
}

/* The leader (per the live watch) has written its "start" and not its "end". */
static int leader_working(rec_t *r, void *arg)
{
    term_t *t = arg;
    live_update(r);
    const rec_kv_t *lead = rec_set_lowest(&live_el);
    if (!lead || !rec_proc(r, lead->val)->running)
        return 0;
    if (find_work(r, &r->live, 0, lead->val, 0, lead->create_rev) < 0 ||
        find_work(r, &r->live, 0, lead->val, 1, lead->create_rev) >= 0)
        return 0;
    snprintf(t->key, sizeof t->key, "%s", lead->key);
    snprintf(t->name, sizeof t->name, "%s", lead->val);
    t->crev = lead->create_rev;
    return 1;
}

typedef struct {
    const term_t *t;
    long idx;
} del_wait_t;

static int key_deleted(rec_t *r, void *arg)
{
    del_wait_t *d = arg;
    d->idx = find_del(&r->live, d->t->key, d->t->crev);
    return d->idx >= 0;
}

typedef struct {
    const char *not_name;
    size_t from;
    long idx;
} start_wait_t;

/* A "start" by someone else than not_name, at or after index from. */
static int other_started(rec_t *r, void *arg)
{
    start_wait_t *s = arg;
    for (size_t i = s->from; i < r->live.n; i++) {
        const rec_ev_t *e = &r->live.ev[i];
        const char *who = rec_key_in(r, e->key, "work/");
        int64_t t;
        if (who && !e->del && strcmp(who, s->not_name) && parse_work(e->val, &t) == 0) {
            s->idx = (long)i;
            return 1;
        }
    }
    return 0;
}

/* ---- the judgement, from etcd's history ---- */

typedef struct {
    const char *name;
    int64_t open; /* token of the term started and not ended, 0 if none */
    int starts, ends;
} cstate_t;

static cstate_t *cstate(cstate_t *cs, const char *name)
{
    for (int k = 0; k < n_names; k++)
        if (!strcmp(cs[k].name, name))
            return &cs[k];
    return NULL;
}

static void check_history(rec_t *r, const rec_log_t *h, const term_t *killed, const term_t *stopped,
                          int64_t rev_cont)
{
    cstate_t cs[MAX_NAMES];
    for (int k = 0; k < n_names; k++)
        cs[k] = (cstate_t){names[k], 0, 0, 0};
    rec_set_t el = {0};
    int64_t del_killed = 0, del_stopped = 0, last_leader_create = 0;
    int leaders = 0, started_after_stop = 0;
    const char *after_kill = NULL;

    for (size_t i = 0; i < h->n; i++) {
        const rec_ev_t *e = &h->ev[i];
        const char *who;
        if ((who = rec_key_in(r, e->key, "election/"))) {
            if (!e->del) {
                if (!cstate(cs, e->val))
                    rec_fail_at(h, i, "election key %s has the value \"%s\", no contender's name",
                                e->key, e->val);
                if (e->lease == 0 || e->version != 1 || rec_set_find(&el, e->key))
                    rec_fail_at(h, i, "election key %s: not a lease-bound creation", e->key);
            } else {
                const rec_kv_t *kv = rec_set_find(&el, e->key);
                if (!kv)
                    rec_fail_at(h, i, "deletion of %s, which does not exist", e->key);
                if (!strcmp(e->key, killed->key) && kv->create_rev == killed->crev)
                    del_killed = e->rev;
                if (!strcmp(e->key, stopped->key) && kv->create_rev == stopped->crev)
                    del_stopped = e->rev;
            }
            rec_set_apply(&el, e);
        } else if ((who = rec_key_in(r, e->key, "work/"))) {
            int64_t tok;
            int what = e->del ? -1 : parse_work(e->val, &tok);
            cstate_t *c = cstate(cs, who);
            if (what < 0 || !c)
                rec_fail_at(h, i, "unexpected work event on %s (\"%s\")", e->key, e->val);
            /* The write comes from the leader at this revision, with its token. */
            const rec_kv_t *lead = rec_set_lowest(&el);
            if (!lead)
                rec_fail_at(h, i, "work write by %s while no candidate exists", who);
            if (strcmp(lead->val, who) || lead->create_rev != tok)
                rec_fail_at(h, i, "work write \"%s\" by %s, who is not the leader at this revision",
                            e->val, who);
            if (what == 0) {
                if (c->open)
                    rec_fail_at(h, i, "%s starts a term with the previous one not ended", who);
                /* Terms never overlap: every other open term has lost its key. */
                for (int k = 0; k < n_names; k++) {
                    if (&cs[k] == c || !cs[k].open)
                        continue;
                    for (size_t j = 0; j < el.n; j++)
                        if (el.kv[j].create_rev == cs[k].open && !strcmp(el.kv[j].val, cs[k].name))
                            rec_fail_at(h, i, "%s starts while the term of %s is still on", who,
                                        cs[k].name);
                    cs[k].open = 0; /* its key is gone: that term is over */
                }
                c->open = tok;
                c->starts++;
                if (del_stopped && !started_after_stop && strcmp(who, stopped->name) &&
                    e->rev <= rev_cont)
                    started_after_stop = 1;
            } else {
                if (c->open != tok)
                    rec_fail_at(h, i, "%s ends a term (\"%s\") it did not start", who, e->val);
                c->open = 0;
                c->ends++;
            }
            if (del_killed && !strcmp(who, killed->name))
                rec_fail_at(h, i, "a write of %s landed after its lease expired (%s)", who, e->val);
            if (del_stopped && !strcmp(who, stopped->name))
                rec_fail_at(h, i, "a write of the paused ex-leader %s landed after it lost (%s)",
                            who, e->val);
        } else {
            rec_fail_at(h, i, "unexpected key %s", e->key);
        }
        /* At the end of each revision: follow the leader. */
        if (i + 1 < h->n && h->ev[i + 1].rev == e->rev)
            continue;
        const rec_kv_t *lead = rec_set_lowest(&el);
        if (lead && lead->create_rev != last_leader_create) {
            last_leader_create = lead->create_rev;
            leaders++;
        }
        if (del_killed == e->rev) {
            if (!lead || !strcmp(lead->val, killed->name))
                rec_fail_at(h, i, "no other leader once the key of %s was deleted", killed->name);
            after_kill = lead->val;
        }
    }

    CHECKF(del_killed, "the key %s of the killed leader %s was never deleted", killed->key,
           killed->name);
    CHECKF(del_stopped, "the key %s of the paused leader %s was never deleted", stopped->key,
           stopped->name);
    CHECKF(started_after_stop, "no other leader worked between the loss of %s and its SIGCONT",
           stopped->name);
    CHECKF(find_work(r, h, 0, stopped->name, 0, stopped->crev) >= 0 &&
               find_work(r, h, 0, stopped->name, 1, stopped->crev) < 0,
           "the paused leader's term %" PRId64 " should have a start and no end in history",
           stopped->crev);
    int total = 0;
    for (int k = 0; k < n_names; k++) {
        total += cs[k].starts;
        if (k < N_CONTENDERS)
            CHECKF(cs[k].ends >= 2, "%s completed %d terms, not 2", cs[k].name, cs[k].ends);
    }
    rec_say("history: %d leadership changes, %d terms; after the kill of %s: %s leads; "
            "killed key deleted at rev %" PRId64 ", paused key at rev %" PRId64,
            leaders, total, killed->name, after_kill, del_killed, del_stopped);
    CHECK(total >= 3 * N_CONTENDERS);
    rec_set_free(&el);
}

int main(int argc, char **argv)
{
    rec_t *r = &R;
    double t_begin = rec_now();
    rec_init(r, argc, argv, "election");
    for (int i = 0; i < N_CONTENDERS; i++)
        spawn(r);

    /* A: churn; every contender leads and completes two terms. */
    int terms = 2;
    CHECKF(rec_wait(r, all_led, &terms, 20), "not every contender completed %d terms within 20 s",
           terms);
    rec_say("every contender led %d times", terms);

    /* B: SIGKILL the leader at work. */
    term_t killed;
    double kill_to_del = 0, kill_to_start = 0;
    for (int attempt = 0;; attempt++) {
        CHECKF(attempt < MAX_ATTEMPTS, "could not kill a leader at work in %d attempts",
               MAX_ATTEMPTS);
        CHECKF(rec_wait(r, leader_working, &killed, 10), "no leader at work within 10 s");
        rec_proc_t *p = rec_proc(r, killed.name);
        double t_kill = rec_now();
        rec_signal(p, SIGKILL);
        sigkilled[n_sigkilled++] = p;
        CHECKF(rec_wait_exit(r, p, 5), "%s survived SIGKILL", p->name);
        rec_say("killed the leader %s (key %s, token %" PRId64 ")", killed.name, killed.key,
                killed.crev);
        del_wait_t d = {&killed, -1};
        CHECKF(rec_wait(r, key_deleted, &d, TTL_S + 3),
               "the key %s of the killed leader is still there %d s after the kill", killed.key,
               TTL_S + 3);
        spawn(r); /* keep N_CONTENDERS */
        if (find_work(r, &r->live, 0, killed.name, 1, killed.crev) >= 0) {
            rec_say("%s had ended its term before the kill: again", killed.name);
            continue;
        }
        kill_to_del = r->live.ev[d.idx].t - t_kill;
        start_wait_t s = {killed.name, (size_t)d.idx, -1};
        CHECKF(rec_wait(r, other_started, &s, 5), "no new leader at work 5 s after the deletion");
        kill_to_start = r->live.ev[s.idx].t - t_kill;
        rec_say("kill -> key deleted (lease expiry): %.0f ms; kill -> new leader's first write: "
                "%.0f ms",
                kill_to_del * 1e3, kill_to_start * 1e3);
        CHECKF(kill_to_del <= TTL_S + 1.0, "the killed leader's key went %.3f s after the kill",
               kill_to_del);
        /* The process is dead: only the lease can delete its key, TTL after
         * its last keep-alive (sent every TTL / 3): not at once. */
        CHECKF(kill_to_del >= 0.5,
               "the killed leader's key went %.3f s after the kill: too soon for a lease expiry",
               kill_to_del);
        CHECKF(kill_to_start <= TTL_S + 2.0, "new leader at work %.3f s after the kill",
               kill_to_start);
        break;
    }

    /* C: SIGSTOP the leader at work until it lost, then SIGCONT. */
    term_t stopped;
    int64_t rev_cont = 0;
    rec_proc_t *ex = NULL;
    for (int attempt = 0;; attempt++) {
        CHECKF(attempt < MAX_ATTEMPTS, "could not pause a leader at work in %d attempts",
               MAX_ATTEMPTS);
        CHECKF(rec_wait(r, leader_working, &stopped, 10), "no leader at work within 10 s");
        ex = rec_proc(r, stopped.name);
        double t_stop = rec_now();
        rec_signal(ex, SIGSTOP);
        rec_sleep(r, 0.1); /* a write in flight lands now */
        if (find_work(r, &r->live, 0, stopped.name, 1, stopped.crev) >= 0) {
            rec_say("%s ended its term before the pause: again", stopped.name);
            rec_signal(ex, SIGCONT);
            continue;
        }
        rec_say("paused the leader %s (key %s, token %" PRId64 ")", stopped.name, stopped.key,
                stopped.crev);
        del_wait_t d = {&stopped, -1};
        CHECKF(rec_wait(r, key_deleted, &d, TTL_S + 3),
               "the key %s of the paused leader is still there %d s after the pause", stopped.key,
               TTL_S + 3);
        if (find_work(r, &r->live, 0, stopped.name, 1, stopped.crev) >= 0) {
            /* Its "end" was in flight when it stopped: it ended its term in
             * time, then lost its lease while stopped. Replace it. */
            rec_say("%s ended its term before the pause: again", stopped.name);
            rec_signal(ex, SIGKILL);
            sigkilled[n_sigkilled++] = ex;
            CHECKF(rec_wait_exit(r, ex, 5), "%s survived SIGKILL", ex->name);
            spawn(r);
            continue;
        }
        start_wait_t s = {stopped.name, (size_t)d.idx, -1};
        CHECKF(rec_wait(r, other_started, &s, 5), "no new leader at work 5 s after the deletion");
        rec_say("pause -> key deleted: %.0f ms; pause -> new leader's first write: %.0f ms",
                (r->live.ev[d.idx].t - t_stop) * 1e3, (r->live.ev[s.idx].t - t_stop) * 1e3);
        rev_cont = rec_revision(r);
        rec_signal(ex, SIGCONT);
        CHECKF(rec_wait_exit(r, ex, 10), "the ex-leader %s still runs 10 s after SIGCONT",
               ex->name);
        break;
    }
    /* D: the others go on (and a late write of the ex-leader would land). */
    ends_wait_t w = {r->live.n, N_CONTENDERS};
    CHECKF(rec_wait(r, ends_since, &w, 10), "fewer than %d terms in 10 s after the SIGCONT",
           w.want);

    /* E: stop everyone. */
    rec_stop_all(r, 10);
    rec_log_t h;
    rec_history(r, &h);
    check_history(r, &h, &killed, &stopped, rev_cont);

    /* Secondary: what the processes said. */
    char line[256];
    CHECKF(rec_exited_with(ex, 3) && rec_out_line(ex, "FENCE_FAILED", line, sizeof line),
           "the paused ex-leader %s should have reported FENCE_FAILED and exited 3", ex->name);
    rec_say("%s after SIGCONT: \"%s\", exit 3", ex->name, line);
    for (size_t i = 0; i < r->n_procs; i++) {
        rec_proc_t *p = &r->procs[i];
        int was_killed = 0;
        for (int k = 0; k < n_sigkilled; k++)
            was_killed |= sigkilled[k] == p;
        if (was_killed)
            CHECKF(WIFSIGNALED(p->status) && WTERMSIG(p->status) == SIGKILL,
                   "%s: status 0x%x after SIGKILL", p->name, p->status);
        else if (p != ex)
            CHECKF(rec_exited_with(p, 0), "%s ended with status 0x%x, not exit 0", p->name,
                   p->status);
    }

    rec_log_free(&h);
    rec_set_free(&live_el);
    rec_done(r);
    fprintf(stderr,
            "PASS test_election (%.1f s): kill -> new leader %.0f ms (key deleted), "
            "%.0f ms (first write)\n",
            rec_now() - t_begin, kill_to_del * 1e3, kill_to_start * 1e3);
    return 0;
}

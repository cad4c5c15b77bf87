/* Leadership of replicas. See leader.h. */
#include "leader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "etcd/election.h"
#include "etcd/session.h"

#define RETRY_MIN_MS 200u
#define RETRY_MAX_MS 5000u

struct leader_s {
    uv_loop_t *loop;
    etcd_client_t *etcd;
    char *prefix, *name;
    int ttl_s;
    leader_callbacks_t cbs;
    void *data;
    etcd_session_t *session;
    etcd_election_t *election;
    etcd_observer_t *observer;
    uv_timer_t *retry, *watchdog;
    unsigned failures;
    bool leading, resigning, freed;
    uint64_t terms;
    char current[256];
    void (*resign_done)(void *);
    void *resign_data;
};

static void campaign(leader_t *l);

static void teardown(leader_t *l, bool revoke)
{
    uv_timer_stop(l->watchdog);
    etcd_election_free(l->election);
    l->election = NULL;
    if (l->session)
        etcd_session_close(l->session, revoke);
    l->session = NULL;
}

static void lose(leader_t *l, const char *why)
{
    if (!l->leading)
        return;
    l->leading = false;
    log_warn("leadership lost", "replica=%s reason=\"%s\"", l->name, why);
    if (l->cbs.lost)
        l->cbs.lost(l, why, l->data);
}

static void on_retry(uv_timer_t *t)
{
    campaign(t->data);
}

/* Starts over after a jittered, growing delay. */
static void retry_later(leader_t *l, const char *why)
{
    lose(l, why);
    teardown(l, false);
    if (l->resigning || l->freed)
        return;
    unsigned shift = l->failures < 5 ? l->failures : 5;
    uint64_t delay = (uint64_t)RETRY_MIN_MS << shift;
    if (delay > RETRY_MAX_MS)
        delay = RETRY_MAX_MS;
    delay = delay / 2 + (uint64_t)rand() % (delay / 2 + 1);
    l->failures++;
    uv_timer_start(l->retry, on_retry, delay, 0);
}

/* No keep-alive accepted for 2/3 of the TTL: etcd may expire the lease
 * soon and elect another replica; stop acting before it can. */
static void on_watchdog(uv_timer_t *t)
{
    leader_t *l = t->data;
    uint64_t last = etcd_session_last_ok(l->session);
    if (l->leading && last && uv_now(l->loop) - last > (uint64_t)l->ttl_s * 2000 / 3)
        retry_later(l, "no keep-alive accepted for 2/3 of the lease TTL");
}

static void on_election_lost(etcd_election_t *e, int err, void *data)
{
    (void)e, (void)err;
    retry_later(data, "the election key is gone");
}

static void on_elected(etcd_election_t *e, int err, void *data)
{
    leader_t *l = data;
    if (err) {
        retry_later(l, etcd_strerror(err));
        return;
    }
    l->leading = true;
    l->failures = 0;
    l->terms++;
    etcd_election_on_lost(e, on_election_lost, l);
    uint64_t every = (uint64_t)l->ttl_s * 1000 / 6;
    uv_timer_start(l->watchdog, on_watchdog, every ? every : 1, every ? every : 1);
    log_info("elected leader", "replica=%s key=%s rev=%lld term=%llu", l->name,
             etcd_election_key(e), (long long)etcd_election_rev(e), (unsigned long long)l->terms);
    if (l->cbs.elected)
        l->cbs.elected(l, etcd_election_key(e), etcd_election_rev(e), l->data);
}

static void on_session_ready(etcd_session_t *s, int err, void *data)
{
    leader_t *l = data;
    (void)s;
    if (err) {
        retry_later(l, etcd_strerror(err));
        return;
    }
    int rc = etcd_election_new(l->session, l->prefix, &l->election);
    if (rc == 0)
        rc = etcd_election_campaign(l->election, l->name, strlen(l->name), on_elected, l);
    if (rc)
        retry_later(l, etcd_strerror(rc));
}

static void on_session_lost(etcd_session_t *s, int err, void *data)
{
    (void)s, (void)err;
    retry_later(data, "the session lease is gone");
}

static void campaign(leader_t *l)
{
    if (l->resigning || l->freed || l->session)
        return;
    int rc =
        etcd_session_start(l->etcd, l->ttl_s, on_session_ready, on_session_lost, l, &l->session);
    if (rc) {
        l->session = NULL;
        retry_later(l, etcd_strerror(rc));
    }
}

static void on_observed(etcd_observer_t *o, int err, const Mvccpb__KeyValue *leader, void *data)
{
    leader_t *l = data;
    (void)o;
    if (err)
        return; /* the observer ends only when the client closes */
    char now[256] = "";
    if (leader)
        snprintf(now, sizeof now, "%.*s", (int)leader->value.len, (const char *)leader->value.data);
    if (strcmp(now, l->current) != 0) {
        log_info("leader", "replica=%s leader=%s", l->name, now[0] ? now : "(none)");
        snprintf(l->current, sizeof l->current, "%s", now);
        if (l->cbs.observed)
            l->cbs.observed(l, l->current, l->data);
    }
}

int leader_start(uv_loop_t *loop, etcd_client_t *etcd, const leader_config_t *cfg,
                 const leader_callbacks_t *cbs, void *data, leader_t **out)
{
    if (!loop || !etcd || !cfg || !cfg->election_prefix || !cfg->name || cfg->ttl_s < 1 || !out)
        return -EINVAL;
    leader_t *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->loop = loop;
    l->etcd = etcd;
    l->ttl_s = cfg->ttl_s;
    l->cbs = cbs ? *cbs : (leader_callbacks_t){0};
    l->data = data;
    l->prefix = strdup(cfg->election_prefix);
    l->name = strdup(cfg->name);
    l->retry = malloc(sizeof(*l->retry));
    l->watchdog = malloc(sizeof(*l->watchdog));
    if (!l->prefix || !l->name || !l->retry || !l->watchdog) {
        free(l->prefix);
        free(l->name);
        free(l->retry);
        free(l->watchdog);
        free(l);
        return -ENOMEM;
    }
    uv_timer_init(loop, l->retry);
    uv_timer_init(loop, l->watchdog);
    l->retry->data = l->watchdog->data = l;
    if (etcd_election_observe(etcd, l->prefix, on_observed, l, &l->observer) != 0)
        l->observer = NULL; /* leadership still works; only the view is lost */
    campaign(l);
    *out = l;
    return 0;
}

static void resigned(const etcd_result_t *res, void *data)
{
    leader_t *l = data;
    (void)res;
    teardown(l, true);
    if (l->resign_done)
        l->resign_done(l->resign_data);
}

void leader_resign(leader_t *l, void (*done)(void *data), void *data)
{
    l->resigning = true;
    l->resign_done = done;
    l->resign_data = data;
    uv_timer_stop(l->retry);
    lose(l, "resigning");
    if (l->election && etcd_election_resign(l->election, resigned, l) == 0)
        return;
    resigned(NULL, l);
}

void leader_free(leader_t *l)
{
    if (!l)
        return;
    l->freed = true;
    teardown(l, false);
    etcd_observer_stop(l->observer);
    uv_close((uv_handle_t *)l->retry, (uv_close_cb)free);
    uv_close((uv_handle_t *)l->watchdog, (uv_close_cb)free);
    free(l->prefix);
    free(l->name);
    free(l);
}

bool leader_is_leader(const leader_t *l)
{
    return l && l->leading;
}

const char *leader_current(const leader_t *l)
{
    return l ? l->current : "";
}

uint64_t leader_terms(const leader_t *l)
{
    return l ? l->terms : 0;
}

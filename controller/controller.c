/* The controller. See controller.h. */
#include "controller.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/cache.h"
#include "common/log.h"
#include "leader.h"
#include "etcd/kv.h"
#include "model/clock.h"
#include "model/keys.h"
#include "model/records.h"
#include "model/scheduler.h"
#include "model/store.h"
#include "common/http_client.h"
#include "events.h"
#include "model/machine_ops.h"
#include "model/rollout.h"
#include "model/rollout_ops.h"
#include "allocations.h"
#include "common/histogram.h"
#include "sync.h"
#include "workqueue.h"

#define KEY_SCHEDULER "scheduler"
#define KEY_SYNC "sync"

struct controller_s {
    uv_loop_t *loop;
    etcd_client_t *etcd;
    api_t *api;
    api_cache_t *cache;
    controller_config_t cfg;
    char *prefix, *name;
    leader_t *leader;
    workqueue_t *queue;
    model_store_t store; /* fenced while leading */
    bool leading;
    size_t last_waiting;
    void (*resign_done)(void *);
    void *resign_data;
    sync_t *sync;     /* NULL: no matchbox sync */
    int64_t flag_rev; /* the revision the sync flag last recorded */
    events_t *events;
    bool sync_failing;
    struct sync_run_s *sync_run; /* the pass in flight, NULL: none */
    json_t *sched_pending;       /* uuids the scheduler looks at next run */
    bool sched_all;              /* ... or every machine */
    size_t sync_skipped;         /* machines the last pass left without a group */
    uint64_t skip_sig;           /* which ones, and why (a digest) */
    /* Per reconciler (scheduler, sync, lifecycle, rollout): runs, failures,
     * and how long runs took (process to done, etcd writes included). */
    uint64_t runs[4], errors[4];
    histogram_t took[4];
    http_client_t *matchbox; /* the lifecycle's, NULL without matchbox */
    char matchbox_uri[256];
    model_rollout_config_t rollout;
    uv_timer_t *rollout_timer; /* re-decides when time alone changes the answer */
    bool rollout_timer_ready;
};

/* ---- the scheduler ------------------------------------------------------- */

typedef struct sched_run_s {
    model_sched_op_t op; /* first */
    controller_t *c;
    model_sched_plan_t plan;
} sched_run_t;

typedef struct inputs_s {
    controller_t *c;
    model_sched_input_t *in;
    size_t n, cap;
} inputs_t;

/* Adds machine uuid (m: its record) to the scheduler's inputs when it has
 * no roles yet, and keeps it in the pending set while so. */
static int consider(inputs_t *w, const char *uuid, json_t *m)
{
    const char *mac = json_string_value(json_object_get(m, "boot_mac"));
    bool scheduled = mac && api_cache_get(w->c->cache, MODEL_K_SCHEDULES, mac) != NULL;
    if (!m || scheduled) {
        json_object_del(w->c->sched_pending, uuid);
        return 0;
    }
    if (json_object_set_new(w->c->sched_pending, uuid, json_true()) != 0)
        return -ENOMEM;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        model_sched_input_t *in = realloc(w->in, cap * sizeof(*in));
        if (!in)
            return -ENOMEM;
        w->in = in;
        w->cap = cap;
    }
    w->in[w->n++] = (model_sched_input_t){
        .mac = mac,
        .has_boot_iface = model_rec_boot_iface(m) != NULL,
        .scheduled = false,
    };
    return 0;
}

static int collect(const char *uuid, json_t *m, void *arg)
{
    return consider(arg, uuid, m);
}

/* The scheduler's inputs: the machines without roles. Only scheduled
 * machines are ever left out of a plan, so a run reads the machines that
 * changed since the last one and those still waiting (sched_pending), and
 * every machine only after a resync or a new leadership. */
static int sched_inputs(controller_t *c, inputs_t *w)
{
    if (c->sched_all) {
        json_object_clear(c->sched_pending);
        int rc = api_cache_foreach(c->cache, MODEL_K_MACHINES, collect, w);
        c->sched_all = rc != 0;
        return rc;
    }
    json_t *look = json_copy(c->sched_pending); /* consider() edits the set */
    if (!look)
        return -ENOMEM;
    const char *uuid;
    json_t *v;
    int rc = 0;
    json_object_foreach(look, uuid, v)
    {
        if (rc == 0)
            rc = consider(w, uuid, api_cache_get(c->cache, MODEL_K_MACHINES, uuid));
    }
    json_decref(look);
    return rc;
}

/* A change the scheduler may have to look at: a machine, or the schedule
 * of one (its MAC index names the machine). */
static void sched_changed(controller_t *c, const char *key)
{
    size_t klen = strlen(key);
    const char *id;
    if (!*key) {
        c->sched_all = true;
    } else if ((id = model_key_id(key, klen, c->prefix, MODEL_K_MACHINES))) {
        json_object_set_new(c->sched_pending, id, json_true());
    } else if ((id = model_key_id(key, klen, c->prefix, MODEL_K_SCHEDULES))) {
        const char *uuid =
            json_string_value(json_object_get(api_cache_get(c->cache, MODEL_K_MACS, id), "uuid"));
        if (uuid)
            json_object_set_new(c->sched_pending, uuid, json_true());
    }
}

static void sched_settled(etcd_mirror_t *m, int err, void *data)
{
    sched_run_t *r = data;
    (void)m, (void)err; /* a timeout only delays: the next run reads again */
    workqueue_done(r->c->queue, KEY_SCHEDULER, 0);
    model_sched_plan_free(&r->plan);
    free(r);
}

static void sched_written(model_sched_op_t *op, int err, int64_t revision)
{
    sched_run_t *r = (sched_run_t *)op;
    controller_t *c = r->c;
    if (err) {
        log_warn("scheduler: write failed", "replica=%s err=%d reason=\"%s\"", c->name, err,
                 op->op.err.msg);
        c->errors[0]++;
        workqueue_done(c->queue, KEY_SCHEDULER, err);
        model_sched_plan_free(&r->plan);
        free(r);
        return;
    }
    for (size_t i = 0; i < r->plan.n_cp; i++) {
        log_info("role given", "replica=%s machine=%s roles=%s revision=%lld", c->name,
                 r->plan.cp[i], "etcd-member,kubernetes-control-plane", (long long)revision);
        events_emit(c->events, "role-given", r->plan.cp[i], "etcd-member,kubernetes-control-plane");
    }
    for (size_t i = 0; i < r->plan.n_nodes; i++) {
        log_info("role given", "replica=%s machine=%s roles=%s revision=%lld", c->name,
                 r->plan.nodes[i], "kubernetes-node", (long long)revision);
        events_emit(c->events, "role-given", r->plan.nodes[i], "kubernetes-node");
    }
    /* The next run must see this write: wait for the cache to have it. */
    if (api_cache_wait(c->cache, revision, 5000, sched_settled, r) != 0)
        sched_settled(NULL, 0, r);
}

static void run_scheduler(controller_t *c)
{
    if (!api_cache_revision(c->cache)) {
        workqueue_done(c->queue, KEY_SCHEDULER, -EAGAIN); /* not synced yet */
        return;
    }
    inputs_t w = {.c = c};
    int rc = sched_inputs(c, &w);
    json_t *roster = api_cache_get(c->cache, MODEL_K_ROSTER, "");
    json_t *members = model_roster_members(roster);
    sched_run_t *r = rc == 0 ? calloc(1, sizeof(*r)) : NULL;
    if (r)
        rc = model_sched_plan(w.in, w.n, members ? json_array_size(members) : 0, c->cfg.expected_cp,
                              &r->plan);
    free(w.in);
    if (!r || rc) {
        free(r);
        workqueue_done(c->queue, KEY_SCHEDULER, rc ? rc : -ENOMEM);
        return;
    }
    if (r->plan.waiting != c->last_waiting) {
        log_info("scheduler", "replica=%s control_plane=%zu/%u waiting=%zu", c->name,
                 r->plan.members, c->cfg.expected_cp, r->plan.waiting);
        c->last_waiting = r->plan.waiting;
    }
    if (r->plan.n_cp + r->plan.n_nodes == 0) {
        model_sched_plan_free(&r->plan);
        free(r);
        workqueue_done(c->queue, KEY_SCHEDULER, 0);
        return;
    }
    r->c = c;
    r->op.by = c->name;
    rc = model_sched_op_start(&c->store, &r->op, &r->plan, sched_written);
    if (rc) {
        c->errors[0]++;
        log_warn("scheduler: cannot start the write; retrying", "replica=%s err=%d", c->name, rc);
        model_sched_plan_free(&r->plan);
        free(r);
        workqueue_done(c->queue, KEY_SCHEDULER, rc);
    }
}

/* ---- the matchbox sync --------------------------------------------------- */

static void ignore(const etcd_result_t *res, void *data)
{
    (void)res, (void)data;
}

/* The sync flag: matchbox reflects etcd as of `revision`. Written by the
 * leader only (fenced), so that /ignition serves what the leader synced. */
static void put_sync_flag(controller_t *c, int64_t revision)
{
    char key[MODEL_KEY_MAX];
    int klen = model_key(key, sizeof key, c->prefix, "sync-notify", "");
    json_t *v =
        json_pack("{s:i, s:f, s:I, s:s}", "schema", MODEL_SCHEMA, "ts",
                  (double)model_now_ms() / 1000.0, "revision", (json_int_t)revision, "by", c->name);
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    etcd_txn_t *t = etcd_txn_new();
    int rc = text && t && klen > 0 ? 0 : -ENOMEM;
    rc = rc ? rc
            : etcd_txn_cmp_create(t, c->store.fence_key, strlen(c->store.fence_key), ETCD_CMP_EQUAL,
                                  c->store.fence_rev);
    rc = rc ? rc : etcd_txn_put(t, ETCD_TXN_SUCCESS, key, (size_t)klen, text, strlen(text), 0);
    if (rc == 0 && etcd_kv_txn(c->etcd, etcd_txn_request(t), NULL, ignore, NULL) == 0)
        c->flag_rev = revision;
    free(text);
    etcd_txn_free(t);
}

static void sync_failed(controller_t *c, int rc, const char *why)
{
    c->errors[1]++;
    log_warn("sync: failed; retrying", "replica=%s err=%d reason=\"%s\"", c->name, rc, why);
    if (!c->sync_failing)
        events_emit(c->events, "sync-failed", NULL, "%s", why);
    c->sync_failing = true;
    workqueue_done(c->queue, KEY_SYNC, rc);
}

/* Machines without a group: said once per change of the set, not per pass. */
static void report_skipped(controller_t *c, const model_sync_files_t *f)
{
    uint64_t sig = 1469598103934665603ULL; /* FNV-1a over "mac msg;" */
    for (size_t i = 0; i < f->n_skipped; i++)
        for (const char *p[] = {f->skipped[i].mac, " ", f->skipped[i].msg, ";"}, **q = p; q < p + 4;
             q++)
            for (const char *x = *q; *x; x++)
                sig = (sig ^ (unsigned char)*x) * 1099511628211ULL;
    c->sync_skipped = f->n_skipped;
    if (sig == c->skip_sig)
        return;
    c->skip_sig = sig;
    for (size_t i = 0; i < f->n_skipped && i < 20; i++) {
        const model_sync_skip_t *k = &f->skipped[i];
        log_warn("sync: machine left without a group",
                 "replica=%s machine=%s uuid=%s reason=\"%s\"", c->name, k->mac, k->uuid, k->msg);
        events_emit(c->events, "machine-not-synced", k->mac[0] ? k->mac : NULL, "%s", k->msg);
    }
    if (f->n_skipped > 20)
        log_warn("sync: more machines left without a group", "replica=%s count=%zu", c->name,
                 f->n_skipped - 20);
}

/* One sync pass in flight: collect (loop) -> generate (worker thread) ->
 * records (loop, etcd) -> apply (worker thread) -> report (loop). The
 * worker steps touch only the sync and the plan, never the cache. */
typedef struct sync_run_s {
    uv_work_t work;
    controller_t *c;   /* NULL once the controller is gone: free and leave */
    int64_t fence_rev; /* the term it was planned in */
    sync_t *sync;
    sync_plan_t plan;
    int rc;
    model_err_t err;
    sync_result_t res;
} sync_run_t;

/* Ends a run; false when the controller went meanwhile (nothing to do). */
static bool sync_run_end(sync_run_t *r, controller_t **c)
{
    *c = r->c;
    sync_plan_free(&r->plan);
    if (!r->c)
        sync_free(r->sync); /* controller_free() left it to us */
    else
        r->c->sync_run = NULL;
    free(r);
    return *c != NULL;
}

static void sync_fail_run(sync_run_t *r, int rc, const char *why)
{
    char msg[MODEL_ERR_MAX];
    snprintf(msg, sizeof msg, "%s", why);
    controller_t *c;
    if (sync_run_end(r, &c))
        sync_failed(c, rc, msg);
}

static void apply_work(uv_work_t *w)
{
    sync_run_t *r = w->data;
    r->rc = sync_apply(r->sync, &r->plan, &r->res, &r->err);
}

static void apply_done(uv_work_t *w, int status)
{
    sync_run_t *r = w->data;
    (void)status;
    if (r->rc) {
        sync_fail_run(r, r->rc, r->err.msg);
        return;
    }
    if (r->c)
        report_skipped(r->c, &r->plan.files);
    sync_result_t res = r->res;
    size_t rendered = 0;
    for (size_t i = 0; i < r->plan.files.n; i++)
        rendered += !r->plan.files.files[i].reused;
    controller_t *c;
    if (!sync_run_end(r, &c))
        return;
#ifdef __GLIBC__
    if (rendered > 1000)
        malloc_trim(0); /* a full pass's texts are gone: return their pages */
#endif
    if (c->sync_failing)
        events_emit(c->events, "sync-recovered", NULL, "matchbox files in step again");
    c->sync_failing = false;
    if (res.written || res.removed) {
        events_emit(c->events, "files-written", NULL, "%u written, %u removed in %s", res.written,
                    res.removed, sync_dir(c->sync));
        log_info("sync: matchbox files",
                 "replica=%s dir=%s written=%u unchanged=%u removed=%u revision=%lld", c->name,
                 sync_dir(c->sync), res.written, res.unchanged, res.removed,
                 (long long)res.revision);
    }
    json_t *flag = api_cache_get(c->cache, "sync-notify", "");
    if (res.written || res.removed || !flag || !json_object_get(flag, "revision"))
        put_sync_flag(c, res.revision);
    workqueue_done(c->queue, KEY_SYNC, 0);
}

/* Still leading, in the term the run was planned in? */
static bool same_term(const sync_run_t *r)
{
    return r->c && r->c->leading && r->c->store.fence_rev == r->fence_rev;
}

static void start_apply(sync_run_t *r)
{
    if (!same_term(r)) {
        controller_t *c;
        if (sync_run_end(r, &c))
            workqueue_done(c->queue, KEY_SYNC, 0);
        return;
    }
    r->res.revision = r->plan.revision;
    int rc = uv_queue_work(r->c->loop, &r->work, apply_work, apply_done);
    if (rc)
        sync_fail_run(r, rc, uv_strerror(rc));
}

static void records_settled(etcd_mirror_t *m, int err, void *data)
{
    (void)m, (void)err; /* a timeout only costs the next pass a re-plan */
    start_apply(data);
}

static void records_written(int err, int64_t revision, void *data)
{
    sync_run_t *r = data;
    if (err) {
        sync_fail_run(r, err, err == -EPERM ? "not the leader any more" : etcd_strerror(err));
        return;
    }
    if (!r->c) {
        start_apply(r);
        return;
    }
    log_info("sync: allocations recorded", "replica=%s changes=%zu revision=%lld", r->c->name,
             r->plan.n_allocs, (long long)revision);
    /* The next pass must plan from these records. */
    if (api_cache_wait(r->c->cache, revision, 5000, records_settled, r) != 0)
        start_apply(r);
}

static void generate_work(uv_work_t *w)
{
    sync_run_t *r = w->data;
    r->rc = sync_generate(r->sync, &r->plan, &r->err);
}

static void generate_done(uv_work_t *w, int status)
{
    sync_run_t *r = w->data;
    (void)status;
    controller_t *c = r->c;
    if (r->rc == 0 && same_term(r))
        r->rc = sync_records(r->sync, c->name, &r->plan, &r->err);
    if (r->rc) {
        sync_fail_run(r, r->rc, r->err.msg);
        return;
    }
    if (!same_term(r) || r->plan.n_allocs == 0) {
        start_apply(r);
        return;
    }
    int rc =
        allocations_write(c->etcd, &c->store, r->plan.allocs, r->plan.n_allocs, records_written, r);
    if (rc)
        sync_fail_run(r, rc, etcd_strerror(rc));
}

static void run_sync(controller_t *c)
{
    if (!api_cache_revision(c->cache)) {
        workqueue_done(c->queue, KEY_SYNC, -EAGAIN);
        return;
    }
    sync_run_t *r = calloc(1, sizeof(*r));
    if (!r) {
        sync_failed(c, -ENOMEM, "out of memory");
        return;
    }
    r->c = c;
    r->fence_rev = c->store.fence_rev;
    r->sync = c->sync;
    r->work.data = r;
    c->sync_run = r;
    int rc = sync_collect(c->sync, c->cache, &r->plan, &r->err);
    if (rc == 0)
        rc = uv_queue_work(c->loop, &r->work, generate_work, generate_done);
    if (rc)
        sync_fail_run(r, rc, rc == -ENOMEM ? "out of memory" : r->err.msg);
}

/* ---- lifecycle: is each node's Ignition still what matchbox serves? ---- */

#define KEY_LIFECYCLE "lifecycle/"

typedef struct lc_run_s {
    model_machine_op_t op; /* first */
    controller_t *c;
    char key[64];
    char digest[MODEL_DIGEST_LEN + 1];
    char *query;
} lc_run_t;

static void lc_free(lc_run_t *r)
{
    free(r->query);
    free(r);
}

static void lc_written(model_machine_op_t *op, int err, int64_t revision)
{
    lc_run_t *r = (lc_run_t *)op;
    controller_t *c = r->c;
    (void)revision;
    if (err) {
        c->errors[2]++;
        log_warn("lifecycle: write failed", "replica=%s machine=%s err=%d", c->name, op->mop.mac,
                 err);
    } else {
        log_info(op->up_to_date ? "machine up to date" : "machine outdated",
                 "replica=%s machine=%s", c->name, op->mop.mac);
        events_emit(c->events, op->up_to_date ? "machine-up-to-date" : "machine-outdated",
                    op->mop.mac, "matchbox now serves %s Ignition than the node runs",
                    op->up_to_date ? "the same" : "another");
    }
    workqueue_done(c->queue, r->key, err);
    lc_free(r);
}

static void lc_desired(const http_response_t *res, void *data)
{
    lc_run_t *r = data;
    controller_t *c = r->c;
    json_t *doc =
        !res->err && res->status == 200 ? json_loadb(res->body, res->body_len, 0, NULL) : NULL;
    char desired[MODEL_DIGEST_LEN + 1];
    const char *mac = r->key + strlen(KEY_LIFECYCLE);
    json_t *rec = api_cache_get(c->cache, MODEL_K_LC_IGNITION, mac);
    int rc = doc && rec ? model_rec_digest(doc, desired) : -EIO;
    json_decref(doc);
    if (rc) {
        c->errors[2]++;
        log_warn("lifecycle: matchbox did not render this node's Ignition; retrying",
                 "replica=%s machine=%s err=%d status=%ld", c->name, mac, res->err, res->status);
        workqueue_done(c->queue, r->key, res->err ? res->err : -EIO);
        lc_free(r);
        return;
    }
    bool up = strcmp(desired, r->digest) == 0;
    if (up == json_is_true(json_object_get(rec, "up_to_date"))) {
        workqueue_done(c->queue, r->key, 0);
        lc_free(r);
        return;
    }
    r->op.kind = MODEL_OP_IGNITION_REPORT;
    r->op.up_to_date = up;
    r->op.running_digest = r->digest;
    r->op.query = r->query;
    if (model_machine_op_start(&c->store, &r->op, mac, lc_written) != 0) {
        workqueue_done(c->queue, r->key, -EIO);
        lc_free(r);
    }
}

static void run_lifecycle(controller_t *c, const char *key)
{
    const char *mac = key + strlen(KEY_LIFECYCLE);
    json_t *rec = api_cache_get(c->cache, MODEL_K_LC_IGNITION, mac);
    const char *digest = json_string_value(json_object_get(rec, "running_digest"));
    const char *query = json_string_value(json_object_get(rec, "query"));
    lc_run_t *r = digest && query && c->matchbox ? calloc(1, sizeof(*r)) : NULL;
    if (!r || strlen(digest) != MODEL_DIGEST_LEN || !(r->query = strdup(query))) {
        free(r);
        workqueue_done(c->queue, key, 0); /* nothing to compare (yet) */
        return;
    }
    r->c = c;
    snprintf(r->key, sizeof r->key, "%s", key);
    memcpy(r->digest, digest, sizeof r->digest);
    char url[4096];
    snprintf(url, sizeof url, "%s/ignition?%s", c->matchbox_uri, query);
    http_client_req_t hr = {.url = url};
    if (http_client_request(c->matchbox, &hr, lc_desired, r, NULL) != 0) {
        workqueue_done(c->queue, key, -EIO);
        lc_free(r);
    }
}

static int queue_lifecycle(const char *mac, json_t *rec, void *arg)
{
    controller_t *c = arg;
    char key[64];
    (void)rec;
    snprintf(key, sizeof key, "%s%s", KEY_LIFECYCLE, mac);
    workqueue_add(c->queue, key);
    return 0;
}

/* ---- rollout: who takes a slot now ---------------------------------------- */

#define KEY_ROLLOUT "rollout"

typedef struct ro_inputs_s {
    controller_t *c;
    model_rollout_node_t *nodes;
    char (*macs)[MODEL_MAC_LEN + 1];
    size_t n, cap;
    int64_t next_ms;     /* when to look again (0 = on changes only) */
    bool not_ready_only; /* the ready reports' pass */
} ro_inputs_t;

typedef struct ro_run_s {
    model_ro_apply_t op; /* first */
    controller_t *c;
    const char **grant, **reclaim;
    char (*macs)[MODEL_MAC_LEN + 1]; /* what grant and reclaim point into */
} ro_run_t;

static int64_t date_ms(json_t *v)
{
    int64_t ms = 0;
    const char *s = json_string_value(v);
    return s && model_rfc3339_parse(s, &ms) == 0 ? ms : 0;
}

/* Only nodes that ask for a slot or hold one, and control-plane members
 * that reported not ready, weigh in a decision: the rollout reads those,
 * not every machine. Called for each request, each slot, then each ready
 * report (key order: by MAC, within each kind). */
static int ro_collect(const char *mac, json_t *rec, void *arg)
{
    ro_inputs_t *w = arg;
    controller_t *c = w->c;
    if (w->not_ready_only && !json_is_false(json_object_get(rec, "ready")))
        return 0;
    for (size_t i = 0; i < w->n; i++) /* seen in an earlier walk: a holder that requests */
        if (strcmp(w->macs[i], mac) == 0)
            return 0;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 32;
        model_rollout_node_t *nn = realloc(w->nodes, cap * sizeof(*nn));
        if (nn)
            w->nodes = nn;
        char(*mm)[MODEL_MAC_LEN + 1] = realloc(w->macs, cap * sizeof(*mm));
        if (mm)
            w->macs = mm;
        if (!nn || !mm)
            return -ENOMEM;
        w->cap = cap;
    }
    json_t *schedule = api_cache_get(c->cache, MODEL_K_SCHEDULES, mac);
    if (!schedule)
        return 0; /* no roles: nothing to roll */
    snprintf(w->macs[w->n], MODEL_MAC_LEN + 1, "%s", mac);
    json_t *req = api_cache_get(c->cache, MODEL_K_RO_REQUESTS, mac);
    json_t *slot = api_cache_get(c->cache, MODEL_K_RO_SLOTS, mac);
    json_t *idx = api_cache_get(c->cache, MODEL_K_MACS, mac);
    const char *uuid = json_string_value(json_object_get(idx, "uuid"));
    json_t *m = uuid ? api_cache_get(c->cache, MODEL_K_MACHINES, uuid) : NULL;
    json_t *lldp = json_object_get(model_rec_boot_iface(m), "lldp");
    json_t *label = api_cache_get(c->cache, MODEL_K_RO_GROUPS, mac);
    json_t *ready = api_cache_get(c->cache, MODEL_K_RO_READY, mac);
    const char *group = json_string_value(json_object_get(label, "group"));
    bool control_plane = (model_rec_roles(schedule) & MODEL_ROLE_ETCD_MEMBER) != 0;
    if (w->not_ready_only && !control_plane)
        return 0; /* a node not ready holds back only itself */
    w->nodes[w->n] = (model_rollout_node_t){
        .mac = NULL, /* set below, once the array stops moving */
        .group = group ? group : json_string_value(json_object_get(lldp, "chassis_name")),
        .control_plane = control_plane,
        /* never reported: counted ready (no agent to say otherwise) */
        .ready = !json_is_false(json_object_get(ready, "ready")),
        .requesting = req != NULL,
        .requested_ms = date_ms(json_object_get(req, "requested")),
        .holding = slot != NULL,
        .held_since_ms = date_ms(json_object_get(slot, "granted")),
    };
    w->n++;
    return 0;
}

static void ro_timer_fired(uv_timer_t *t)
{
    controller_t *c = t->data;
    if (c->leading)
        workqueue_add(c->queue, KEY_ROLLOUT);
}

static void ro_written(model_ro_apply_t *op, int err, int64_t revision)
{
    ro_run_t *r = (ro_run_t *)op;
    controller_t *c = r->c;
    (void)revision;
    if (err) {
        c->errors[3]++;
        log_warn("rollout: write failed", "replica=%s err=%d reason=\"%s\"", c->name, err,
                 op->op.err.msg);
    }
    for (size_t i = 0; !err && i < op->n_grant; i++) {
        log_info("slot given", "replica=%s machine=%s", c->name, op->grant[i]);
        events_emit(c->events, "slot-granted", op->grant[i], "rolling-update slot given");
    }
    for (size_t i = 0; !err && i < op->n_reclaim; i++) {
        log_warn("slot reclaimed", "replica=%s machine=%s", c->name, op->reclaim[i]);
        events_emit(c->events, "slot-reclaimed", op->reclaim[i],
                    "held longer than %lld s: taken back",
                    (long long)(c->rollout.max_hold_ms / 1000));
    }
    workqueue_done(c->queue, KEY_ROLLOUT, err == -ESTALE ? -EAGAIN : err);
    free(r->grant);
    free(r->reclaim);
    free(r->macs);
    free(r);
}

static void run_rollout(controller_t *c)
{
    if (!api_cache_revision(c->cache)) {
        workqueue_done(c->queue, KEY_ROLLOUT, -EAGAIN);
        return;
    }
    ro_inputs_t w = {.c = c};
    int rc = api_cache_foreach(c->cache, MODEL_K_RO_REQUESTS, ro_collect, &w);
    if (rc == 0)
        rc = api_cache_foreach(c->cache, MODEL_K_RO_SLOTS, ro_collect, &w);
    w.not_ready_only = true;
    if (rc == 0)
        rc = api_cache_foreach(c->cache, MODEL_K_RO_READY, ro_collect, &w);
    for (size_t i = 0; i < w.n; i++)
        w.nodes[i].mac = w.macs[i];
    json_t *state = api_cache_get(c->cache, MODEL_K_RO_STATE, "");
    model_rollout_config_t cfg = c->rollout;
    cfg.paused = json_is_true(json_object_get(state, "paused"));
    int64_t last = date_ms(json_object_get(state, "last_release"));
    int64_t now = model_now_ms();
    model_rollout_decision_t d = {0};
    if (rc == 0)
        rc = model_rollout_decide(&cfg, w.nodes, w.n, last, now, &d);
    /* Time alone may change the answer: look again when it does. */
    int64_t next = 0;
    for (size_t i = 0; rc == 0 && i < w.n; i++) {
        int64_t at = 0;
        if (d.wait && d.wait[i] == MODEL_WAIT_WINDOW)
            at = now + 30000;
        else if (d.wait && d.wait[i] == MODEL_WAIT_SETTLE)
            at = last + cfg.settle_ms + 10;
        if (w.nodes[i].holding && cfg.max_hold_ms)
            at = at && at < w.nodes[i].held_since_ms + cfg.max_hold_ms + 10
                     ? at
                     : w.nodes[i].held_since_ms + cfg.max_hold_ms + 10;
        if (at && (!next || at < next))
            next = at;
    }
    if (next)
        uv_timer_start(c->rollout_timer, ro_timer_fired, next > now ? (uint64_t)(next - now) : 1,
                       0);
    ro_run_t *r = rc == 0 && d.n_grant + d.n_reclaim ? calloc(1, sizeof(*r)) : NULL;
    if (r) {
        r->grant = calloc(d.n_grant + 1, sizeof(char *));
        r->reclaim = calloc(d.n_reclaim + 1, sizeof(char *));
    }
    if (!r || !r->grant || !r->reclaim) {
        if (r) {
            free(r->grant);
            free(r->reclaim);
            free(r);
        }
        model_rollout_decision_free(&d);
        free(w.nodes);
        free(w.macs);
        workqueue_done(c->queue, KEY_ROLLOUT, rc);
        return;
    }
    /* The decision points into w.macs: the run owns that array now. */
    r->c = c;
    r->macs = w.macs;
    for (size_t i = 0; i < d.n_grant; i++)
        r->grant[i] = d.grant[i];
    for (size_t i = 0; i < d.n_reclaim; i++)
        r->reclaim[i] = d.reclaim[i];
    r->op.grant = r->grant;
    r->op.n_grant = d.n_grant;
    r->op.reclaim = r->reclaim;
    r->op.n_reclaim = d.n_reclaim;
    r->op.by = c->name;
    r->op.leader_rev = c->store.fence_rev;
    model_rollout_decision_free(&d);
    free(w.nodes);
    rc = model_ro_apply_start(&c->store, &r->op, ro_written);
    if (rc) {
        free(r->grant);
        free(r->reclaim);
        free(r->macs);
        free(r);
        workqueue_done(c->queue, KEY_ROLLOUT, rc);
    }
}

/* 0 scheduler, 1 sync, 2 lifecycle, 3 rollout */
static int reconciler_of(const char *key)
{
    return strcmp(key, KEY_SYNC) == 0                                ? 1
           : strncmp(key, KEY_LIFECYCLE, strlen(KEY_LIFECYCLE)) == 0 ? 2
           : strcmp(key, KEY_ROLLOUT) == 0                           ? 3
                                                                     : 0;
}

static void finished(const char *key, int err, uint64_t ns, void *data)
{
    controller_t *c = data;
    (void)err;
    histogram_observe(&c->took[reconciler_of(key)], (double)ns / 1e9);
}

static void process(workqueue_t *q, const char *key, void *data)
{
    controller_t *c = data;
    c->runs[reconciler_of(key)]++;
    if (!c->leading) {
        workqueue_done(q, key, 0);
        return;
    }
    if (strcmp(key, KEY_SCHEDULER) == 0)
        run_scheduler(c);
    else if (strcmp(key, KEY_SYNC) == 0 && c->sync)
        run_sync(c);
    else if (strncmp(key, KEY_LIFECYCLE, strlen(KEY_LIFECYCLE)) == 0)
        run_lifecycle(c, key);
    else if (strcmp(key, KEY_ROLLOUT) == 0)
        run_rollout(c);
    else
        workqueue_done(q, key, 0);
}

/* ---- wiring -------------------------------------------------------------- */

static bool starts_with(const char *s, const char *prefix, const char *kind)
{
    size_t p = strlen(prefix), k = strlen(kind);
    return strncmp(s, prefix, p) == 0 && strncmp(s + p, kind, k) == 0;
}

/* The cache applied a change: queue the reconcilers that depend on it. */
/* A node reported that a step of its update failed (its ready checks, or
 * a hook: the agent reports the step): the roll stops there, and the
 * events say why. Told once per report, by the leader. */
static void ready_report_changed(controller_t *c, const char *key)
{
    const char *mac = model_key_id(key, strlen(key), c->prefix, MODEL_K_RO_READY);
    json_t *rec = mac ? api_cache_get(c->cache, MODEL_K_RO_READY, mac) : NULL;
    if (!json_is_false(json_object_get(rec, "ready")))
        return;
    char failed[512] = "";
    size_t i, n = 0;
    json_t *v;
    json_array_foreach(json_object_get(rec, "failed"), i, v)
    {
        int w = snprintf(failed + n, sizeof failed - n, "%s%s", n ? ", " : "",
                         json_string_value(v) ? json_string_value(v) : "?");
        if (w < 0 || (size_t)w >= sizeof failed - n)
            break;
        n += (size_t)w;
    }
    events_emit(c->events, "node-not-ready", mac,
                "the node's update stopped: %s failed; it keeps its slot and stays cordoned "
                "until it reports ready",
                n ? failed : "a ready check");
}

static void on_changed(const char *key, void *data)
{
    controller_t *c = data;
    if (!c->leading)
        return;
    if (starts_with(key, c->prefix, MODEL_K_RO_READY))
        ready_report_changed(c, key);
    sched_changed(c, key);
    if (!*key || starts_with(key, c->prefix, MODEL_K_MACHINES) ||
        starts_with(key, c->prefix, MODEL_K_SCHEDULES) ||
        starts_with(key, c->prefix, MODEL_K_ROSTER))
        workqueue_add(c->queue, KEY_SCHEDULER);
    if (c->sync)
        sync_changed(c->sync, c->cache, key);
    if (c->sync && (!*key || starts_with(key, c->prefix, MODEL_K_MACHINES) ||
                    starts_with(key, c->prefix, MODEL_K_SCHEDULES)))
        workqueue_add(c->queue, KEY_SYNC);
    if (!*key || starts_with(key, c->prefix, "rollout/") ||
        starts_with(key, c->prefix, MODEL_K_SCHEDULES))
        workqueue_add(c->queue, KEY_ROLLOUT);
    /* matchbox changed (the sync flag moved) or a resync: every node's
     * Ignition may be outdated now. */
    if (c->matchbox && (!*key || starts_with(key, c->prefix, "sync-notify")))
        api_cache_foreach(c->cache, MODEL_K_LC_IGNITION, queue_lifecycle, c);
}

static void on_elected(leader_t *l, const char *key, int64_t rev, void *data)
{
    controller_t *c = data;
    (void)l;
    snprintf(c->store.fence_key, sizeof c->store.fence_key, "%s", key);
    c->store.fence_rev = rev;
    c->leading = true;
    api_set_leadership(c->api, c->name, 1);
    events_emit(c->events, "leader-elected", NULL, "%s leads (election revision %lld)", c->name,
                (long long)rev);
    workqueue_resume(c->queue);
    c->sched_all = true; /* level-triggered: look at everything */
    workqueue_add(c->queue, KEY_SCHEDULER);
    if (c->sync) {
        sync_changed(c->sync, c->cache, ""); /* unseen while following */
        workqueue_add(c->queue, KEY_SYNC);
    }
    if (c->matchbox)
        api_cache_foreach(c->cache, MODEL_K_LC_IGNITION, queue_lifecycle, c);
    workqueue_add(c->queue, KEY_ROLLOUT);
}

static void on_lost(leader_t *l, const char *why, void *data)
{
    controller_t *c = data;
    (void)l;
    c->leading = false;
    uv_timer_stop(c->rollout_timer);
    events_emit(c->events, "leader-lost", NULL, "%s stopped leading: %s", c->name, why);
    /* In-flight writes still carry the old fence: etcd refuses them. */
    workqueue_pause(c->queue);
    api_set_leadership(c->api, leader_current(c->leader), 0);
}

static void on_observed(leader_t *l, const char *name, void *data)
{
    controller_t *c = data;
    (void)l;
    api_set_leadership(c->api, name, c->leading);
}

int controller_start(uv_loop_t *loop, etcd_client_t *etcd, api_t *api,
                     const controller_config_t *cfg, controller_t **out)
{
    if (!loop || !etcd || !api || !cfg || !cfg->prefix || !cfg->name || !out)
        return -EINVAL;
    controller_t *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->loop = loop;
    c->etcd = etcd;
    c->api = api;
    c->cache = api_cache(api);
    c->cfg = *cfg;
    c->prefix = strdup(cfg->prefix);
    c->name = strdup(cfg->name);
    c->last_waiting = (size_t)-1;
    c->sched_pending = json_object();
    c->sched_all = true;
    char election[300];
    snprintf(election, sizeof election, "%selection/", cfg->prefix);
    workqueue_config_t wq = {.parallel = 4, .finished = finished};
    int rc = !c->prefix || !c->name || !c->sched_pending
                 ? -ENOMEM
                 : model_store_init(&c->store, etcd, cfg->prefix);
    if (rc == 0)
        rc = workqueue_new(loop, &wq, process, c, &c->queue);
    if (rc == 0)
        rc = events_new(loop, etcd, cfg->prefix, c->name, 3600, &c->events);
    c->rollout_timer = malloc(sizeof(*c->rollout_timer));
    if (rc == 0 && !c->rollout_timer)
        rc = -ENOMEM;
    if (rc == 0) {
        uv_timer_init(loop, c->rollout_timer);
        c->rollout_timer->data = c;
        c->rollout_timer_ready = true;
    }
    c->rollout.max_unavailable = 1;
    if (rc == 0 && cfg->config) {
        const config_t *k = cfg->config;
        model_err_t err = {{0}};
        c->rollout.max_unavailable = (unsigned)k->rollout_max_unavailable;
        c->rollout.max_unavailable_per_group = (unsigned)k->rollout_max_unavailable_per_group;
        c->rollout.settle_ms = (int64_t)k->rollout_settle_seconds * 1000;
        c->rollout.max_hold_ms = (int64_t)k->rollout_max_hold_seconds * 1000;
        if (model_window_parse(k->rollout_window, &c->rollout.window, &err) != 0) {
            log_error("bad rollout_window", "reason=\"%s\"", err.msg);
            rc = -EINVAL;
        }
    }
    if (rc == 0 && cfg->config && cfg->config->matchbox_uri && *cfg->config->matchbox_uri) {
        snprintf(c->matchbox_uri, sizeof c->matchbox_uri, "%s", cfg->config->matchbox_uri);
        rc = http_client_new(loop, NULL, &c->matchbox);
    }
    if (rc == 0 && cfg->config) {
        model_err_t err = {{0}};
        rc = sync_new(cfg->config, &c->sync);
        if (rc == 0 && sync_check(c->sync, &err) != 0) {
            log_error("the matchbox sync cannot use this configuration", "reason=\"%s\"", err.msg);
            rc = -EINVAL;
        }
    }
    if (rc == 0)
        workqueue_pause(c->queue);
    leader_config_t lc = {.election_prefix = election, .name = c->name, .ttl_s = cfg->lease_ttl};
    leader_callbacks_t cbs = {on_elected, on_lost, on_observed};
    if (rc == 0)
        rc = leader_start(loop, etcd, &lc, &cbs, c, &c->leader);
    if (rc) {
        if (c->rollout_timer_ready)
            uv_close((uv_handle_t *)c->rollout_timer, (uv_close_cb)free);
        else
            free(c->rollout_timer);
        sync_free(c->sync);
        json_decref(c->sched_pending);
        events_free(c->events);
        workqueue_free(c->queue);
        free(c->prefix);
        free(c->name);
        free(c);
        return rc;
    }
    c->cache->changed = on_changed;
    c->cache->changed_data = c;
    c->store.peek = api_cache_peek;
    c->store.peek_data = c->cache;
    api_set_extra_metrics(api, (char *(*)(void *))controller_metrics_text, c);
    api_set_leadership(api, "", 0);
    *out = c;
    return 0;
}

static void resigned(void *data)
{
    controller_t *c = data;
    if (c->matchbox) /* requests in flight end with -ECANCELED */
        http_client_close(c->matchbox, NULL, NULL);
    c->matchbox = NULL;
    /* The session and the election go while the client is still open. */
    leader_free(c->leader);
    c->leader = NULL;
    if (c->resign_done)
        c->resign_done(c->resign_data);
}

void controller_resign(controller_t *c, void (*done)(void *data), void *data)
{
    c->cache->changed = NULL;
    c->resign_done = done;
    c->resign_data = data;
    workqueue_pause(c->queue);
    leader_resign(c->leader, resigned, c);
}

void controller_free(controller_t *c)
{
    if (!c)
        return;
    c->cache->changed = NULL;
    api_set_extra_metrics(c->api, NULL, NULL);
    leader_free(c->leader);
    if (c->rollout_timer)
        uv_close((uv_handle_t *)c->rollout_timer, (uv_close_cb)free);
    if (c->matchbox)
        http_client_close(c->matchbox, NULL, NULL);
    workqueue_free(c->queue);
    if (c->sync_run) { /* its callbacks still come: they free the sync */
        c->sync_run->c = NULL;
        c->sync = NULL;
    }
    sync_free(c->sync);
    json_decref(c->sched_pending);
    events_free(c->events);
    free(c->prefix);
    free(c->name);
    free(c);
}

bool controller_is_leader(const controller_t *c)
{
    return c && c->leading;
}

char *controller_metrics_text(controller_t *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    static const char *const names[] = {"scheduler", "sync", "lifecycle", "rollout"};
    fprintf(f,
            "# HELP enjoliver_is_leader 1 when this replica leads.\n"
            "# TYPE enjoliver_is_leader gauge\n"
            "enjoliver_is_leader{replica=\"%s\"} %d\n"
            "# HELP enjoliver_leader_terms_total Times this replica was elected.\n"
            "# TYPE enjoliver_leader_terms_total counter\n"
            "enjoliver_leader_terms_total %llu\n"
            "# HELP enjoliver_workqueue_depth Keys queued, waiting for a retry or in process.\n"
            "# TYPE enjoliver_workqueue_depth gauge\n"
            "enjoliver_workqueue_depth %zu\n"
            "# HELP enjoliver_reconcile_total Reconciler runs.\n"
            "# TYPE enjoliver_reconcile_total counter\n",
            c->name, c->leading ? 1 : 0, (unsigned long long)leader_terms(c->leader),
            workqueue_depth(c->queue));
    for (int i = 0; i < 4; i++)
        fprintf(f, "enjoliver_reconcile_total{reconciler=\"%s\"} %llu\n", names[i],
                (unsigned long long)c->runs[i]);
    fprintf(f, "# HELP enjoliver_reconcile_errors_total Reconciler runs that failed.\n"
               "# TYPE enjoliver_reconcile_errors_total counter\n");
    for (int i = 0; i < 4; i++)
        fprintf(f, "enjoliver_reconcile_errors_total{reconciler=\"%s\"} %llu\n", names[i],
                (unsigned long long)c->errors[i]);
    fprintf(f, "# HELP enjoliver_reconcile_duration_seconds Reconciler runs, from start to end "
               "(writes included).\n"
               "# TYPE enjoliver_reconcile_duration_seconds histogram\n");
    for (int i = 0; i < 4; i++) {
        char labels[64];
        snprintf(labels, sizeof labels, "reconciler=\"%s\"", names[i]);
        histogram_write(f, "enjoliver_reconcile_duration_seconds", labels, histogram_bounds_s,
                        c->took[i].buckets, HISTOGRAM_BUCKETS, c->took[i].count, c->took[i].sum_s);
    }
    fprintf(f,
            "# HELP enjoliver_events_total Events recorded (and dropped).\n"
            "# TYPE enjoliver_events_total counter\n"
            "enjoliver_events_total{outcome=\"emitted\"} %llu\n"
            "enjoliver_events_total{outcome=\"dropped\"} %llu\n"
            "# HELP enjoliver_sync_skipped_machines Scheduled machines the last matchbox sync "
            "could not give a group.\n"
            "# TYPE enjoliver_sync_skipped_machines gauge\n"
            "enjoliver_sync_skipped_machines %zu\n",
            (unsigned long long)events_emitted(c->events),
            (unsigned long long)events_dropped(c->events), c->sync_skipped);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

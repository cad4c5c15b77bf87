/* The node's rolling-update sequence. See rollout.h. */
#include "agent/rollout.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/hooks.h"
#include "common/log.h"
#include "enjoliver/v1/enjoliver.pb-c.h"

#define POLL_MS 5000u
#define MAX_CHECKS 32

typedef enum {
    S_IDLE,
    S_WAITING,
    S_DRAINING,
    S_REBOOTING,
    S_CHECKING,
    S_UNCORDONING,
    S_RELEASING,
    S_FAILED,
} state_t;

static const char *const state_names[] = {"idle",     "waiting",     "draining",  "rebooting",
                                          "checking", "uncordoning", "releasing", "failed"};

typedef struct cmd_s {
    char name[64];
    char *command;
} cmd_t;

struct agent_rollout_s {
    uv_loop_t *loop;
    rpc_client_t *rpc;
    uv_timer_t timer;
    char journal[1024];
    char mac[32], uuid[40], boot_id[40];
    char ignition_url[1024];
    unsigned hook_timeout_ms, check_timeout_ms, check_retries, check_interval_ms;
    cmd_t drain, uncordon, kexec, reboot, poweroff;
    cmd_t checks_cp[MAX_CHECKS], checks_node[MAX_CHECKS], blockers[MAX_CHECKS];
    size_t n_checks_cp, n_checks_node, n_blockers;
    /* The journal's content. */
    state_t state;
    int64_t token;
    char saved_boot[40];
    char strategy[16];
    char failed_step[64];
    /* Progress within a step (not journaled: a restart redoes the step). */
    agent_rollout_view_t view;
    char view_strategy[16];
    bool busy;         /* a hook or a call is running */
    bool confirmed;    /* the slot was checked to be ours for this step */
    bool strategy_ran; /* this boot: waiting for the reboot */
    size_t index;      /* ready check or blocker being run */
    unsigned attempts; /* of that check */
    agent_hook_t *hook;
    char blocked_why[128];
    bool journal_found; /* started from a journal (not adopting the API's) */
    bool adopt_checked; /* the API's progress was looked at once */
    /* The last journaled step, reported to the API; one report at a time,
     * the latest step sent again after it if it moved meanwhile. */
    bool step_inflight, step_dirty;
    bool stopping, finished;
    void (*stop_done)(void *);
    void *stop_data;
};

static void drive(agent_rollout_t *r);
static void report_step(agent_rollout_t *r);
static void free_all(agent_rollout_t *r);
static void timer_closed(uv_handle_t *h);

static void on_timer(uv_timer_t *t)
{
    drive(t->data);
}

/* drive() again in ms. */
static void later(agent_rollout_t *r, unsigned ms)
{
    if (!r->stopping)
        uv_timer_start(&r->timer, on_timer, ms, 0);
}

/* ---- the journal ---------------------------------------------------------------- */

static int journal_write(agent_rollout_t *r)
{
    json_t *j = json_pack("{s:s, s:I, s:s, s:s, s:s}", "state", state_names[r->state], "token",
                          (json_int_t)r->token, "boot_id", r->saved_boot, "strategy", r->strategy,
                          "failed_step", r->failed_step);
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", r->journal);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    int fd = text ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    size_t len = text ? strlen(text) : 0;
    bool ok = fd >= 0 && write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    ok = ok && rename(tmp, r->journal) == 0;
    free(text);
    if (!ok) {
        log_error("rollout: cannot write the journal; the sequence waits",
                  "path=\"%s\" error=\"%s\"", r->journal, strerror(errno));
        return -EIO;
    }
    return 0;
}

static int set_state(agent_rollout_t *r, state_t s)
{
    state_t was = r->state;
    r->state = s;
    r->confirmed = false;
    r->index = 0;
    r->attempts = 0;
    if (s == S_IDLE) {
        r->token = 0;
        *r->failed_step = 0;
    }
    int rc = journal_write(r);
    if (rc) {
        /* Not journaled, not taken: the step before is done again later
         * (steps are idempotent), rather than one the journal would not
         * know about after a restart. */
        r->state = was;
        later(r, POLL_MS);
        return rc;
    }
    if (was != s)
        log_info("rollout: step", "from=%s to=%s token=%lld", state_names[was], state_names[s],
                 (long long)r->token);
    report_step(r);
    return 0;
}

static void step_reported(grpc_status_code st, const char *msg, const ProtobufCMessage *resp,
                          void *data)
{
    (void)resp;
    agent_rollout_t *r = data;
    r->step_inflight = false;
    if (st != GRPC_STATUS_OK && !r->stopping) {
        char q[256];
        log_debug("rollout: the step report failed; sent again with the next", "status=%d %s",
                  (int)st, log_quote(msg, q, sizeof q));
        r->step_dirty = true;
    }
    if (r->stopping) {
        drive(r); /* the stop waits for this report */
        return;
    }
    if (r->step_dirty)
        report_step(r);
}

/* Lifecycle.ReportStep of the journaled state: what operators see and what
 * a node that lost its journal resumes from. */
static void report_step(agent_rollout_t *r)
{
    if (r->step_inflight || r->stopping) {
        r->step_dirty = true;
        return;
    }
    Enjoliver__V1__ReportStepRequest req = ENJOLIVER__V1__REPORT_STEP_REQUEST__INIT;
    req.mac = r->mac;
    req.step = (char *)state_names[r->state];
    req.token = r->token;
    req.boot_id = r->saved_boot;
    req.failed_step = r->failed_step;
    r->step_dirty = false;
    r->step_inflight = rpc_client_unary(r->rpc, "/enjoliver.v1.Lifecycle/ReportStep", &req.base,
                                        &enjoliver__v1__report_step_response__descriptor, 0,
                                        step_reported, r) == 0;
}

static int journal_read(agent_rollout_t *r)
{
    json_error_t err;
    json_t *j = json_load_file(r->journal, 0, &err);
    if (!j)
        return access(r->journal, F_OK) == 0 ? -EIO : 0; /* absent: idle */
    r->journal_found = true;
    const char *state = json_string_value(json_object_get(j, "state"));
    int rc = -EIO;
    for (size_t i = 0; state && i < sizeof state_names / sizeof *state_names; i++)
        if (strcmp(state, state_names[i]) == 0) {
            r->state = (state_t)i;
            rc = 0;
        }
    r->token = json_integer_value(json_object_get(j, "token"));
    snprintf(r->saved_boot, sizeof r->saved_boot, "%s",
             json_string_value(json_object_get(j, "boot_id")) ?: "");
    snprintf(r->strategy, sizeof r->strategy, "%s",
             json_string_value(json_object_get(j, "strategy")) ?: "kexec");
    snprintf(r->failed_step, sizeof r->failed_step, "%s",
             json_string_value(json_object_get(j, "failed_step")) ?: "");
    json_decref(j);
    return rc;
}

/* ---- hooks ---------------------------------------------------------------------- */

static void hook_done(const char *name, int status, void *data);

static int run_hook(agent_rollout_t *r, const cmd_t *c, const char *step, unsigned timeout_ms)
{
    char e_step[80], e_mac[64], e_uuid[64], e_strategy[48], e_token[48], e_url[1100];
    snprintf(e_step, sizeof e_step, "ENJ_STEP=%s", step);
    snprintf(e_mac, sizeof e_mac, "ENJ_MAC=%s", r->mac);
    snprintf(e_uuid, sizeof e_uuid, "ENJ_UUID=%s", r->uuid);
    snprintf(e_strategy, sizeof e_strategy, "ENJ_STRATEGY=%s", r->strategy);
    snprintf(e_token, sizeof e_token, "ENJ_SLOT_TOKEN=%lld", (long long)r->token);
    snprintf(e_url, sizeof e_url, "ENJ_IGNITION_URL=%s", r->ignition_url);
    const char *env[] = {e_step, e_mac, e_uuid, e_strategy, e_token, e_url, NULL};
    r->busy = true;
    int rc = agent_hook_run(r->loop, c->name, c->command, env, timeout_ms, hook_done, r, &r->hook);
    if (rc)
        r->busy = false;
    return rc;
}

/* ---- calls -------------------------------------------------------------------- */

static void report_ready(agent_rollout_t *r, bool ready, const char *failed);

static void ready_reported(grpc_status_code st, const char *msg, const ProtobufCMessage *resp,
                           void *data)
{
    (void)resp;
    agent_rollout_t *r = data;
    if (st != GRPC_STATUS_OK) {
        char q[256];
        log_warn("rollout: the ready report failed", "status=%d message=%s", (int)st,
                 log_quote(msg, q, sizeof q));
    }
    r->busy = false;
    drive(r);
}

static void report_ready(agent_rollout_t *r, bool ready, const char *failed)
{
    Enjoliver__V1__ReportReadyRequest req = ENJOLIVER__V1__REPORT_READY_REQUEST__INIT;
    char *names[1] = {(char *)failed};
    req.mac = r->mac;
    req.ready = ready;
    req.failed = failed ? names : NULL;
    req.n_failed = failed ? 1 : 0;
    r->busy = rpc_client_unary(r->rpc, "/enjoliver.v1.Lifecycle/ReportReady", &req.base,
                               &enjoliver__v1__report_ready_response__descriptor, 0, ready_reported,
                               r) == 0;
}

static void fail(agent_rollout_t *r, const char *step)
{
    snprintf(r->failed_step, sizeof r->failed_step, "%s", step);
    log_error("rollout: stopped; the node stays cordoned and keeps its slot",
              "failed_step=%s token=%lld", step, (long long)r->token);
    set_state(r, S_FAILED);
    report_ready(r, false, step);
}

static void slot_answer(grpc_status_code st, const char *msg, const ProtobufCMessage *resp,
                        void *data)
{
    agent_rollout_t *r = data;
    const Enjoliver__V1__SlotState *s = (const void *)resp;
    r->busy = false;
    if (r->stopping)
        return drive(r);
    if (st != GRPC_STATUS_OK) {
        char q[256];
        log_warn("rollout: AcquireSlot failed", "status=%d message=%s", (int)st,
                 log_quote(msg, q, sizeof q));
        if (st == GRPC_STATUS_PERMISSION_DENIED && r->state == S_WAITING)
            set_state(r, S_IDLE); /* rolling updates were disabled meanwhile */
        later(r, POLL_MS);
        return;
    }
    if (s->state == ENJOLIVER__V1__SLOT_STATE__STATE__GRANTED) {
        r->token = s->token;
        snprintf(r->saved_boot, sizeof r->saved_boot, "%s", r->boot_id);
        set_state(r, S_DRAINING);
    } else {
        later(r, POLL_MS);
        return;
    }
    drive(r);
}

/* Fencing: before each step, the slot must still be this sequence's (the
 * same token). Read-only (ListSlots): asking again (AcquireSlot) would
 * queue a new request for a slot that was taken back. */
static void slots_listed(grpc_status_code st, const char *msg, const ProtobufCMessage *resp,
                         void *data)
{
    agent_rollout_t *r = data;
    const Enjoliver__V1__ListSlotsResponse *l = (const void *)resp;
    r->busy = false;
    if (r->stopping)
        return drive(r);
    if (st != GRPC_STATUS_OK) {
        char q[256];
        log_warn("rollout: cannot check the slot; retrying", "status=%d message=%s", (int)st,
                 log_quote(msg, q, sizeof q));
        later(r, POLL_MS);
        return;
    }
    int64_t now = 0;
    for (size_t i = 0; i < l->n_slots; i++)
        if (strcmp(l->slots[i]->mac, r->mac) == 0)
            now = l->slots[i]->token;
    if (now != r->token) {
        log_error("rollout: the slot is no longer ours", "token=%lld now=%lld", (long long)r->token,
                  (long long)now);
        fail(r, "stale-slot");
        return;
    }
    r->confirmed = true; /* run the step itself */
    drive(r);
}

static void confirm(agent_rollout_t *r)
{
    Enjoliver__V1__ListSlotsRequest req = ENJOLIVER__V1__LIST_SLOTS_REQUEST__INIT;
    r->busy =
        rpc_client_unary(r->rpc, "/enjoliver.v1.Lifecycle/ListSlots", &req.base,
                         &enjoliver__v1__list_slots_response__descriptor, 0, slots_listed, r) == 0;
    if (!r->busy)
        later(r, POLL_MS);
}

/* Asks for a slot (WAITING): granted, or asked again at the next poll (or
 * at the next change of the machine). */
static void acquire(agent_rollout_t *r)
{
    Enjoliver__V1__MachineRef req = ENJOLIVER__V1__MACHINE_REF__INIT;
    req.mac = r->mac;
    r->busy = rpc_client_unary(r->rpc, "/enjoliver.v1.Lifecycle/AcquireSlot", &req.base,
                               &enjoliver__v1__slot_state__descriptor, 0, slot_answer, r) == 0;
    if (!r->busy)
        later(r, POLL_MS);
}

static void released(grpc_status_code st, const char *msg, const ProtobufCMessage *resp, void *data)
{
    (void)resp;
    agent_rollout_t *r = data;
    r->busy = false;
    if (st == GRPC_STATUS_OK || st == GRPC_STATUS_NOT_FOUND ||
        st == GRPC_STATUS_FAILED_PRECONDITION) {
        if (st != GRPC_STATUS_OK) {
            char q[256];
            log_warn("rollout: the slot was already gone", "status=%d message=%s", (int)st,
                     log_quote(msg, q, sizeof q));
        }
        set_state(r, S_IDLE);
        log_info("rollout: done", "%s", "");
    } else if (!r->stopping) {
        later(r, POLL_MS);
        return;
    }
    drive(r);
}

static void release(agent_rollout_t *r)
{
    Enjoliver__V1__ReleaseSlotRequest req = ENJOLIVER__V1__RELEASE_SLOT_REQUEST__INIT;
    req.mac = r->mac;
    req.token = r->token;
    r->busy = rpc_client_unary(r->rpc, "/enjoliver.v1.Lifecycle/ReleaseSlot", &req.base,
                               &enjoliver__v1__slot_state__descriptor, 0, released, r) == 0;
    if (!r->busy)
        later(r, POLL_MS);
}

/* ---- the sequence ------------------------------------------------------------- */

static const cmd_t *strategy_cmd(agent_rollout_t *r)
{
    if (strcmp(r->strategy, "reboot") == 0)
        return &r->reboot;
    if (strcmp(r->strategy, "poweroff") == 0)
        return &r->poweroff;
    return &r->kexec;
}

static const cmd_t *checks(agent_rollout_t *r, size_t *n)
{
    *n = r->view.control_plane ? r->n_checks_cp : r->n_checks_node;
    return r->view.control_plane ? r->checks_cp : r->checks_node;
}

/* A hook of a step that is not configured is skipped (logged). */
static void step_hook(agent_rollout_t *r, const cmd_t *c, const char *step, unsigned timeout_ms)
{
    if (!c->command) {
        log_info("rollout: no hook for this step; skipped", "step=%s", step);
        hook_done(step, 0, r);
        return;
    }
    if (run_hook(r, c, step, timeout_ms) != 0)
        fail(r, step);
}

static void idle(agent_rollout_t *r)
{
    if (!r->view.known || !r->view.outdated || !r->view.rolling_enabled || !*r->mac)
        return;
    if (r->index < r->n_blockers) {
        if (run_hook(r, &r->blockers[r->index], "blocker", r->check_timeout_ms) != 0)
            later(r, POLL_MS);
        return;
    }
    *r->blocked_why = 0;
    snprintf(r->strategy, sizeof r->strategy, "%s", *r->view_strategy ? r->view_strategy : "kexec");
    if (set_state(r, S_WAITING) == 0)
        acquire(r);
}

static void drive(agent_rollout_t *r)
{
    if (r->stopping) {
        /* Once nothing runs: the timer goes, then r (timer_closed). */
        if (!r->busy && !r->step_inflight && !r->finished) {
            r->finished = true;
            uv_close((uv_handle_t *)&r->timer, timer_closed);
        }
        return;
    }
    if (r->busy || uv_is_active((uv_handle_t *)&r->timer))
        return; /* a call or hook runs, or a retry is due */
    size_t n;
    switch (r->state) {
    case S_IDLE:
        idle(r);
        break;
    case S_WAITING:
        acquire(r);
        break;
    case S_DRAINING:
    case S_REBOOTING:
    case S_UNCORDONING:
        if (r->state == S_REBOOTING && strcmp(r->saved_boot, r->boot_id) != 0) {
            set_state(r, S_CHECKING); /* the new boot is up */
            drive(r);
        } else if (r->state == S_REBOOTING && r->strategy_ran) {
            /* the strategy ran; the machine goes down */
        } else if (!r->confirmed) {
            confirm(r);
        } else if (r->state == S_DRAINING) {
            step_hook(r, &r->drain, "drain", r->hook_timeout_ms);
        } else if (r->state == S_REBOOTING) {
            step_hook(r, strategy_cmd(r), r->strategy, r->hook_timeout_ms);
        } else {
            step_hook(r, &r->uncordon, "uncordon", r->hook_timeout_ms);
        }
        break;
    case S_CHECKING: {
        const cmd_t *c = checks(r, &n);
        if (!r->confirmed && r->index == 0 && r->attempts == 0) {
            confirm(r); /* once, before the first check */
        } else if (r->index < n) {
            if (run_hook(r, &c[r->index], "ready", r->check_timeout_ms) != 0)
                fail(r, c[r->index].name);
        } else if (set_state(r, S_UNCORDONING) == 0) {
            report_ready(r, true, NULL);
        }
        break;
    }
    case S_RELEASING:
        release(r);
        break;
    case S_FAILED:
        break; /* until the agent restarts */
    }
}

static void hook_done(const char *name, int status, void *data)
{
    agent_rollout_t *r = data;
    size_t n;
    r->busy = false;
    r->hook = NULL;
    if (r->stopping)
        return drive(r);
    switch (r->state) {
    case S_IDLE: /* a blocker */
        if (status == 0) {
            r->index++;
        } else {
            if (strcmp(r->blocked_why, name) != 0)
                log_warn("rollout: a blocker holds the update back; no slot is asked",
                         "blocker=%s status=%d", name, status);
            snprintf(r->blocked_why, sizeof r->blocked_why, "%s", name);
            r->index = 0;
            later(r, POLL_MS);
            return;
        }
        break;
    case S_DRAINING:
        if (status != 0)
            return fail(r, "drain");
        snprintf(r->saved_boot, sizeof r->saved_boot, "%s", r->boot_id);
        set_state(r, S_REBOOTING);
        break;
    case S_REBOOTING:
        if (status != 0)
            return fail(r, r->strategy);
        r->strategy_ran = true;
        log_info("rollout: waiting for the new boot", "strategy=%s", r->strategy);
        break;
    case S_CHECKING:
        checks(r, &n);
        if (status == 0) {
            r->index++;
            r->attempts = 0;
        } else if (++r->attempts < r->check_retries) {
            later(r, r->check_interval_ms);
            return;
        } else {
            return fail(r, name);
        }
        break;
    case S_UNCORDONING:
        if (status != 0)
            return fail(r, "uncordon");
        set_state(r, S_RELEASING);
        break;
    default:
        break;
    }
    drive(r);
}

/* ---- configuration --------------------------------------------------------------- */

static void cmd_set(cmd_t *c, const char *name, const char *command)
{
    snprintf(c->name, sizeof c->name, "%s", name);
    free(c->command);
    c->command = command ? strdup(command) : NULL;
}

/* DIR/name when it is there: the command is its path, quoted. */
static void cmd_from_dir(cmd_t *c, const char *dir, const char *name)
{
    char path[1200], quoted[1300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (access(path, X_OK) != 0)
        return;
    snprintf(quoted, sizeof quoted, "'%s'", path);
    cmd_set(c, name, quoted);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every executable of DIR/sub, in name order; -1 when there is no DIR/sub. */
static int cmds_from_dir(cmd_t *v, size_t *n, const char *dir, const char *sub)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    char *names[MAX_CHECKS];
    size_t k = 0;
    struct dirent *e;
    while ((e = readdir(d)) && k < MAX_CHECKS)
        if (e->d_name[0] != '.')
            names[k++] = strdup(e->d_name);
    closedir(d);
    qsort(names, k, sizeof *names, cmp_str);
    for (size_t i = 0; i < *n; i++)
        cmd_set(&v[i], "", NULL);
    *n = 0;
    for (size_t i = 0; i < k; i++) {
        if (names[i])
            cmd_from_dir(&v[*n], path, names[i]);
        if (v[*n].command)
            (*n)++;
        free(names[i]);
    }
    return 0;
}

/* The defaults follow the original's scripts: kubectl drain / uncordon with
 * the kubelet's kubeconfig, `systemctl <strategy>`, and its ready checks. */
static void default_cmds(agent_rollout_t *r)
{
#define KUBECTL "kubectl --kubeconfig /var/lib/kubelet/kubeconfig"
    cmd_set(&r->drain, "drain",
            KUBECTL " drain \"$(hostname)\" --ignore-daemonsets --delete-emptydir-data --force");
    cmd_set(&r->uncordon, "uncordon", KUBECTL " uncordon \"$(hostname)\"");
    cmd_set(&r->kexec, "kexec", "systemctl kexec");
    cmd_set(&r->reboot, "reboot", "systemctl reboot");
    cmd_set(&r->poweroff, "poweroff", "systemctl poweroff");
    static const struct {
        const char *name, *cmd;
        bool cp_only;
    } ready[] = {
        {"etcd", "etcdctl --endpoints http://127.0.0.1:2379 endpoint health", true},
        {"kube-apiserver", "curl -fsS --max-time 5 http://127.0.0.1:8080/healthz", true},
        {"kubelet", "curl -fsS --max-time 5 http://127.0.0.1:10248/healthz", false},
        {"node-registered", KUBECTL " get node \"$(hostname)\"", false},
    };
#undef KUBECTL
    for (size_t i = 0; i < sizeof ready / sizeof *ready; i++) {
        cmd_set(&r->checks_cp[r->n_checks_cp++], ready[i].name, ready[i].cmd);
        if (!ready[i].cp_only)
            cmd_set(&r->checks_node[r->n_checks_node++], ready[i].name, ready[i].cmd);
    }
}

static void hooks_from_dir(agent_rollout_t *r, const char *dir)
{
    cmd_from_dir(&r->drain, dir, "drain");
    cmd_from_dir(&r->uncordon, dir, "uncordon");
    cmd_from_dir(&r->kexec, dir, "kexec");
    cmd_from_dir(&r->reboot, dir, "reboot");
    cmd_from_dir(&r->poweroff, dir, "poweroff");
    if (cmds_from_dir(r->checks_cp, &r->n_checks_cp, dir, "ready.d") == 0) {
        /* One list for both roles: the site's. */
        cmds_from_dir(r->checks_node, &r->n_checks_node, dir, "ready.d");
    }
    cmds_from_dir(r->blockers, &r->n_blockers, dir, "blockers.d");
}

/* ---- start, view, stop --------------------------------------------------------- */

int agent_rollout_start(uv_loop_t *loop, rpc_client_t *rpc, const agent_rollout_config_t *cfg,
                        const char *mac, const char *uuid, const char *boot_id,
                        agent_rollout_t **out)
{
    agent_rollout_t *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->loop = loop;
    r->rpc = rpc;
    snprintf(r->journal, sizeof r->journal, "%s/rollout.json", cfg->state_dir);
    snprintf(r->mac, sizeof r->mac, "%s", mac);
    snprintf(r->uuid, sizeof r->uuid, "%s", uuid);
    snprintf(r->boot_id, sizeof r->boot_id, "%s", boot_id);
    snprintf(r->ignition_url, sizeof r->ignition_url, "%s",
             cfg->ignition_url ? cfg->ignition_url : "");
    r->hook_timeout_ms = (cfg->hook_timeout_s ? cfg->hook_timeout_s : 600) * 1000u;
    r->check_timeout_ms = (cfg->check_timeout_s ? cfg->check_timeout_s : 30) * 1000u;
    r->check_retries = cfg->check_retries ? cfg->check_retries : 60;
    r->check_interval_ms = (cfg->check_interval_s ? cfg->check_interval_s : 5) * 1000u;
    default_cmds(r);
    if (cfg->hooks_dir)
        hooks_from_dir(r, cfg->hooks_dir);
    int rc = journal_read(r);
    if (rc) {
        log_error("rollout: the journal cannot be read; remove it to start over", "path=\"%s\"",
                  r->journal);
        free_all(r);
        return rc;
    }
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    if (r->state != S_IDLE)
        log_info("rollout: resuming", "state=%s token=%lld failed_step=%s", state_names[r->state],
                 (long long)r->token, *r->failed_step ? r->failed_step : "-");
    if (r->state == S_FAILED) /* a restart tries the failed step again */
        set_state(r, strcmp(r->failed_step, "drain") == 0        ? S_DRAINING
                     : strcmp(r->failed_step, "uncordon") == 0   ? S_UNCORDONING
                     : strcmp(r->failed_step, "stale-slot") == 0 ? S_FAILED
                     : strcmp(r->failed_step, r->strategy) == 0  ? S_REBOOTING
                                                                 : S_CHECKING);
    *out = r;
    return 0;
}

/* No journal here, and the API says this node was in the middle of an
 * update under the slot it still holds (the disk was reinstalled with the
 * journal on it, say): carry on from that step. */
static void adopt_progress(agent_rollout_t *r, const agent_rollout_view_t *v)
{
    r->adopt_checked = true;
    const char *step = v->progress_step;
    if (r->journal_found || r->state != S_IDLE || !step || !v->progress_token ||
        v->progress_token != v->slot_token)
        return;
    for (size_t i = S_DRAINING; i <= S_RELEASING; i++) {
        if (strcmp(step, state_names[i]) != 0)
            continue;
        log_warn("rollout: no journal; resuming from the API's record of this node",
                 "step=%s "
                 "token=%lld",
                 step, (long long)v->progress_token);
        r->token = v->progress_token;
        snprintf(r->saved_boot, sizeof r->saved_boot, "%s",
                 v->progress_boot_id ? v->progress_boot_id : "");
        snprintf(r->strategy, sizeof r->strategy, "%s",
                 v->strategy && *v->strategy ? v->strategy : "kexec");
        set_state(r, (state_t)i);
        return;
    }
}

void agent_rollout_update(agent_rollout_t *r, const agent_rollout_view_t *view)
{
    if (!r->adopt_checked && view->known)
        adopt_progress(r, view);
    r->view = *view;
    snprintf(r->view_strategy, sizeof r->view_strategy, "%s", view->strategy ? view->strategy : "");
    r->view.strategy = r->view_strategy;
    /* A change of the machine while waiting may be the grant: ask now
     * rather than at the next poll. Other timers (check retries) run on. */
    if (r->state == S_WAITING || r->state == S_IDLE)
        uv_timer_stop(&r->timer);
    if (!uv_is_active((uv_handle_t *)&r->timer))
        drive(r);
}

const char *agent_rollout_state(const agent_rollout_t *r)
{
    return state_names[r->state];
}

static void free_cmds(cmd_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].command);
}

static void free_all(agent_rollout_t *r)
{
    free_cmds(&r->drain, 1);
    free_cmds(&r->uncordon, 1);
    free_cmds(&r->kexec, 1);
    free_cmds(&r->reboot, 1);
    free_cmds(&r->poweroff, 1);
    free_cmds(r->checks_cp, r->n_checks_cp);
    free_cmds(r->checks_node, r->n_checks_node);
    free_cmds(r->blockers, r->n_blockers);
    free(r);
}

static void timer_closed(uv_handle_t *h)
{
    agent_rollout_t *r = h->data;
    void (*done)(void *) = r->stop_done;
    void *data = r->stop_data;
    free_all(r);
    if (done)
        done(data);
}

void agent_rollout_stop(agent_rollout_t *r, void (*done)(void *), void *data)
{
    r->stopping = true;
    r->stop_done = done;
    r->stop_data = data;
    uv_timer_stop(&r->timer);
    if (r->hook)
        agent_hook_kill(r->hook); /* its completion finishes the stop */
    drive(r);
}

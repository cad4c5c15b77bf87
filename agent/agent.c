/* enjoliver-agent's daemon. See agent.h. */
#include "agent/agent.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/facts.h"
#include "agent/hooks.h"
#include "agent/install.h"
#include "agent/report.h"
#include "agent/rollout.h"
#include "common/http_client.h"
#include "common/log.h"
#include "common/rpc_client.h"
#include "enjoliver/v1/enjoliver.pb-c.h"

#define BACKOFF_MIN_MS 500u
#define BACKOFF_MAX_MS 30000u
#define INSTALLED_IGNITION "usr/share/oem/coreos-install.json"

/* What the agent knows of its machine, as the watch told it. */
typedef struct agent_status_s {
    bool registered; /* the API knows the machine */
    bool reported;   /* an Ignition report was recorded */
    bool up_to_date; /* ... and it matched what matchbox serves */
    bool rolling_enabled;
    char strategy[16];
    int64_t revision;     /* of the last machine event */
    uint64_t discoveries; /* discovery posts accepted */
    uint64_t ignition_reports;
} agent_status_t;

struct agent_s {
    uv_loop_t *loop;
    char **servers;
    size_t n_servers, server;
    char root[1024];
    char lldp_file[1024];
    /* Without --lldp-file: lldpd's view, saved by `lldpctl -f keyvalue`
     * (run when lldpctl is installed) into the state directory. */
    char lldpctl[1024];
    char lldp_saved[1100];
    bool lldp_running;
    unsigned lldp_ticks;
    unsigned interval_ms, facts_interval_ms;
    http_client_t *http;
    rpc_client_t *rpc;
    uv_timer_t facts_timer, report_timer, post_retry, watch_retry;
    int open_handles;
    agent_facts_t posted; /* what the API accepted last */
    bool have_posted;
    agent_facts_t sending; /* in flight */
    bool posting;
    unsigned post_failures;
    char last_why[256]; /* the last facts error logged */
    char mac[AGENT_MAC_LEN + 1];
    char uuid[AGENT_UUID_LEN + 1];
    char ignition_seen[64]; /* size:mtime of the installed Ignition last reported */
    bool reporting;
    rpc_stream_t *watch;
    unsigned watch_failures;
    agent_status_t st;
    agent_rollout_config_t ro_cfg;
    char state_dir[1024], hooks_dir[1024], ignition_url[1200];
    agent_rollout_t *rollout;
    bool rollout_failed; /* its journal or state dir is unusable: no rolling */
    agent_install_t *install;
    char install_cmd[1300];
    bool stopping;
    int in_flight; /* requests and the watch */
    void (*stop_done)(void *);
    void *stop_data;
};

static void maybe_stopped(agent_t *a);

static uint64_t backoff_ms(unsigned failures)
{
    uint64_t ms = BACKOFF_MIN_MS << (failures < 8 ? failures : 8);
    return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

/* ---- discovery ---------------------------------------------------------------- */

static void post_facts(agent_t *a, agent_facts_t *f);
static void post_retry(uv_timer_t *t);
static void watch_start(agent_t *a);
static void watch_retry(uv_timer_t *t);
static void report_ignition(agent_t *a, bool forced);

static void posted(const http_response_t *res, void *data)
{
    agent_t *a = data;
    a->in_flight--;
    a->posting = false;
    if (res->err == 0 && res->status == 200) {
        if (a->have_posted)
            agent_facts_free(&a->posted);
        a->posted = a->sending;
        a->have_posted = true;
        memset(&a->sending, 0, sizeof a->sending);
        a->post_failures = 0;
        a->st.registered = true;
        a->st.discoveries++;
        log_info("discovery: reported", "uuid=%s mac=%s server=%s", a->posted.uuid,
                 a->posted.boot_mac, a->servers[a->server]);
        if (!a->stopping && !a->watch)
            watch_start(a);
        if (!a->stopping)
            report_ignition(a, false);
    } else {
        char q[256];
        log_warn("discovery: not accepted; retrying", "server=%s status=%ld error=%s",
                 a->servers[a->server], res->status,
                 log_quote(res->err ? res->error : res->body, q, sizeof q));
        agent_facts_free(&a->sending);
        a->server = (a->server + 1) % a->n_servers;
        if (!a->stopping)
            uv_timer_start(&a->post_retry, post_retry, backoff_ms(a->post_failures++), 0);
    }
    maybe_stopped(a);
}

static void post_facts(agent_t *a, agent_facts_t *f)
{
    json_t *body = agent_discovery_body(f);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    char url[1100];
    snprintf(url, sizeof url, "%s/discovery", a->servers[a->server]);
    http_header_t h = {"Content-Type", "application/json"};
    http_client_req_t r = {.method = "POST",
                           .url = url,
                           .headers = &h,
                           .n_headers = 1,
                           .body = text,
                           .body_len = text ? strlen(text) : 0};
    int rc = text ? http_client_request(a->http, &r, posted, a, NULL) : -ENOMEM;
    free(text);
    if (rc) {
        log_error("discovery: cannot send", "error=%s", strerror(-rc));
        agent_facts_free(f);
        return;
    }
    a->sending = *f;
    a->posting = true;
    a->in_flight++;
}

static int make_dirs(const char *path)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    return mkdir(buf, 0700) != 0 && errno != EEXIST ? -errno : 0;
}

/* The rolling-update sequence, once the machine's identity is known. */
static int rollout_start(agent_t *a, const agent_facts_t *f)
{
    char dashed[AGENT_MAC_LEN + 1];
    snprintf(dashed, sizeof dashed, "%s", f->boot_mac);
    for (char *p = dashed; *p; p++)
        *p = *p == ':' ? '-' : *p;
    snprintf(a->ignition_url, sizeof a->ignition_url, "%s/ignition?uuid=%s&mac=%s&os=installed",
             a->servers[a->server], f->uuid, dashed);
    a->ro_cfg.ignition_url = a->ignition_url;
    int rc = make_dirs(a->state_dir);
    if (rc) {
        log_error("rollout: cannot create the state directory", "dir=\"%s\" error=\"%s\"",
                  a->state_dir, strerror(-rc));
        return rc;
    }
    agent_install_config_t ic = {.command = *a->install_cmd ? a->install_cmd : NULL,
                                 .timeout_s = a->ro_cfg.hook_timeout_s,
                                 .ignition_url = a->ignition_url};
    rc = agent_install_start(a->loop, a->rpc, &ic, f->boot_mac, f->uuid, &a->install);
    rc = rc ? rc
            : agent_rollout_start(a->loop, a->rpc, &a->ro_cfg, f->boot_mac, f->uuid, f->boot_id,
                                  &a->rollout);
    if (rc && a->install) {
        agent_install_stop(a->install, NULL, NULL);
        a->install = NULL;
    }
    return rc;
}

static void lldp_saved(const char *name, int status, void *data)
{
    (void)name;
    agent_t *a = data;
    a->lldp_running = false;
    a->in_flight--;
    if (status != 0)
        log_debug("lldp: lldpctl failed; neighbours left as they were", "status=%d", status);
    maybe_stopped(a);
}

/* lldpd's neighbours, every 6th facts tick (a minute by default), when
 * lldpctl is installed and no --lldp-file was given. */
static void lldp_refresh(agent_t *a)
{
    if (*a->lldp_file || !*a->lldpctl || a->lldp_running || a->stopping || a->lldp_ticks++ % 6)
        return;
    char cmd[4600];
    if (make_dirs(a->state_dir) != 0)
        return;
    snprintf(cmd, sizeof cmd, "'%s' -f keyvalue > '%s.tmp' && mv '%s.tmp' '%s'", a->lldpctl,
             a->lldp_saved, a->lldp_saved, a->lldp_saved);
    if (agent_hook_run(a->loop, "lldpctl", cmd, NULL, 10000, lldp_saved, a, NULL) == 0) {
        a->lldp_running = true;
        a->in_flight++;
    }
}

/* The first `name` executable of $PATH, or "". */
static void find_in_path(const char *name, char *out, size_t size)
{
    const char *path = getenv("PATH");
    *out = 0;
    for (const char *p = path ? path : "/usr/sbin:/usr/bin:/sbin:/bin"; p && *p;) {
        size_t n = strcspn(p, ":");
        snprintf(out, size, "%.*s/%s", (int)n, p, name);
        if (n && access(out, X_OK) == 0)
            return;
        p += n + (p[n] == ':');
    }
    *out = 0;
}

/* Reads the facts; posts them when they are not what the API has. */
static void facts_tick(uv_timer_t *t)
{
    agent_t *a = t->data;
    if (a->posting || a->stopping || uv_is_active((uv_handle_t *)&a->post_retry))
        return;
    agent_facts_t f;
    const char *why = NULL;
    lldp_refresh(a);
    const char *lldp = *a->lldp_file                      ? a->lldp_file
                       : access(a->lldp_saved, R_OK) == 0 ? a->lldp_saved
                                                          : NULL;
    agent_facts_opts_t o = {.root = a->root, .lldp_file = lldp};
    int rc = agent_facts_read(&o, &f, &why);
    if (rc) {
        const char *text = why ? why : strerror(-rc);
        if (strcmp(text, a->last_why) != 0) /* once per distinct reason */
            log_error("facts: cannot report this machine", "reason=\"%s\"", text);
        snprintf(a->last_why, sizeof a->last_why, "%s", text);
        return;
    }
    *a->last_why = 0;
    snprintf(a->mac, sizeof a->mac, "%s", f.boot_mac);
    snprintf(a->uuid, sizeof a->uuid, "%s", f.uuid);
    if (!a->rollout && !a->rollout_failed && rollout_start(a, &f) != 0)
        a->rollout_failed = true; /* said in the log; the machine is still reported */
    if (a->have_posted && agent_facts_equal(&a->posted, &f)) {
        agent_facts_free(&f);
        report_ignition(a, false); /* the installed file may have changed */
        return;
    }
    post_facts(a, &f);
}

static void post_retry(uv_timer_t *t)
{
    facts_tick(t);
}

/* ---- lifecycle ------------------------------------------------------------------ */

static void ignition_reported(grpc_status_code status, const char *msg,
                              const ProtobufCMessage *resp, void *data)
{
    agent_t *a = data;
    a->in_flight--;
    a->reporting = false;
    if (status == GRPC_STATUS_OK) {
        const Enjoliver__V1__IgnitionStatus *s = (const void *)resp;
        a->st.ignition_reports++;
        log_debug("lifecycle: Ignition reported", "up_to_date=%d", s->up_to_date);
    } else {
        char q[256];
        *a->ignition_seen = 0; /* report again at the next tick */
        log_warn("lifecycle: the Ignition report failed", "status=%d message=%s", (int)status,
                 log_quote(msg, q, sizeof q));
    }
    maybe_stopped(a);
}

/* Reports the installed Ignition: when forced (the period), or when the
 * file changed since the last report. */
static void report_ignition(agent_t *a, bool forced)
{
    if (a->reporting || !a->st.registered || a->stopping)
        return;
    char path[1200], sig[64];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", a->root, INSTALLED_IGNITION);
    if (stat(path, &sb) != 0)
        return; /* not installed yet */
    snprintf(sig, sizeof sig, "%lld:%lld.%09ld", (long long)sb.st_size,
             (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec);
    if (!forced && strcmp(sig, a->ignition_seen) == 0)
        return;
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text) {
        log_warn("lifecycle: the installed Ignition is not JSON", "path=\"%s\" line=%d", path,
                 jerr.line);
        snprintf(a->ignition_seen, sizeof a->ignition_seen, "%s", sig);
        return;
    }
    char selectors[160], dashed[AGENT_MAC_LEN + 1];
    snprintf(dashed, sizeof dashed, "%s", a->mac);
    for (char *p = dashed; *p; p++)
        *p = *p == ':' ? '-' : *p;
    snprintf(selectors, sizeof selectors, "uuid=%s&mac=%s&os=installed", a->uuid, dashed);
    Enjoliver__V1__ReportIgnitionRequest req = ENJOLIVER__V1__REPORT_IGNITION_REQUEST__INIT;
    req.mac = a->mac;
    req.ignition_json = text;
    req.selectors = selectors;
    int rc = rpc_client_unary(a->rpc, "/enjoliver.v1.Lifecycle/ReportIgnition", &req.base,
                              &enjoliver__v1__ignition_status__descriptor, 0, ignition_reported, a);
    free(text);
    if (rc == 0) {
        a->reporting = true;
        a->in_flight++;
        snprintf(a->ignition_seen, sizeof a->ignition_seen, "%s", sig);
    }
}

static void report_tick(uv_timer_t *t)
{
    report_ignition(t->data, true);
}

/* ---- the watch on this machine ------------------------------------------------- */

static void on_machine(rpc_stream_t *st, const ProtobufCMessage *m, void *data)
{
    (void)st;
    agent_t *a = data;
    const Enjoliver__V1__MachineEvent *ev = (const void *)m;
    a->watch_failures = 0;
    if (ev->revision > a->st.revision)
        a->st.revision = ev->revision;
    const Enjoliver__V1__Machine *mc = ev->machine;
    if (!mc || strcmp(mc->boot_mac, a->mac) != 0)
        return;
    bool was = a->st.reported && !a->st.up_to_date;
    if (ev->type == ENJOLIVER__V1__MACHINE_EVENT__TYPE__DELETE) {
        a->st.registered = false;
        if (a->have_posted) /* forgotten: report again */
            agent_facts_free(&a->posted);
        a->have_posted = false;
        return;
    }
    a->st.registered = true;
    a->st.reported = mc->ignition && mc->ignition->reported;
    a->st.up_to_date = mc->ignition && mc->ignition->up_to_date;
    a->st.rolling_enabled = mc->rolling && mc->rolling->enabled;
    snprintf(a->st.strategy, sizeof a->st.strategy, "%s",
             mc->rolling && mc->rolling->strategy ? mc->rolling->strategy : "");
    bool now = a->st.reported && !a->st.up_to_date;
    if (a->install)
        agent_install_update(a->install, mc->n_roles > 0,
                             mc->state && mc->state->state ? mc->state->state : "");
    if (a->rollout) {
        bool cp = false;
        for (size_t i = 0; i < mc->n_roles; i++)
            cp |= mc->roles[i] == ENJOLIVER__V1__ROLE__ETCD_MEMBER ||
                  mc->roles[i] == ENJOLIVER__V1__ROLE__KUBERNETES_CONTROL_PLANE;
        agent_rollout_view_t v = {.known = true,
                                  .outdated = now,
                                  .rolling_enabled = a->st.rolling_enabled,
                                  .strategy = a->st.strategy,
                                  .control_plane = cp,
                                  .progress_step = mc->progress ? mc->progress->step : NULL,
                                  .progress_token = mc->progress ? mc->progress->token : 0,
                                  .progress_boot_id = mc->progress ? mc->progress->boot_id : NULL,
                                  .slot_token = mc->slot ? mc->slot->token : 0};
        agent_rollout_update(a->rollout, &v);
    }
    if (now != was)
        log_info(now ? "lifecycle: this machine is outdated"
                     : "lifecycle: this machine is up to date",
                 "rolling=%d strategy=%s revision=%lld", a->st.rolling_enabled,
                 *a->st.strategy ? a->st.strategy : "-", (long long)ev->revision);
}

static void on_watch_closed(rpc_stream_t *st, grpc_status_code status, const char *msg, void *data)
{
    (void)st;
    agent_t *a = data;
    a->in_flight--;
    a->watch = NULL;
    if (!a->stopping) {
        char q[256];
        if (status == GRPC_STATUS_OUT_OF_RANGE)
            a->st.revision = 0; /* start again from the current state */
        log_warn("watch: ended; resuming", "status=%d message=%s revision=%lld", (int)status,
                 log_quote(msg, q, sizeof q), (long long)a->st.revision);
        uv_timer_start(&a->watch_retry, watch_retry, backoff_ms(a->watch_failures++), 0);
    }
    maybe_stopped(a);
}

static const rpc_stream_ops_t watch_ops = {on_machine, on_watch_closed};

static void watch_start(agent_t *a)
{
    Enjoliver__V1__WatchMachinesRequest req = ENJOLIVER__V1__WATCH_MACHINES_REQUEST__INIT;
    req.mac = a->mac;
    req.resume_revision = a->st.revision ? a->st.revision + 1 : 0;
    int rc = rpc_client_stream(a->rpc, "/enjoliver.v1.Machines/Watch", &req.base,
                               &enjoliver__v1__machine_event__descriptor, &watch_ops, a, &a->watch);
    if (rc == 0)
        a->in_flight++;
    else
        uv_timer_start(&a->watch_retry, watch_retry, backoff_ms(a->watch_failures++), 0);
}

static void watch_retry(uv_timer_t *t)
{
    agent_t *a = t->data;
    if (!a->stopping && !a->watch)
        watch_start(a);
}

/* ---- start and stop ---------------------------------------------------------- */

static void timer_init(agent_t *a, uv_timer_t *t)
{
    uv_timer_init(a->loop, t);
    t->data = a;
    a->open_handles++;
}

int agent_start(uv_loop_t *loop, const agent_config_t *cfg, agent_t **out)
{
    if (!cfg->n_servers || !cfg->n_grpc_servers)
        return -EINVAL;
    agent_t *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->loop = loop;
    a->n_servers = cfg->n_servers;
    a->servers = calloc(cfg->n_servers, sizeof(char *));
    for (size_t i = 0; a->servers && i < cfg->n_servers; i++) {
        a->servers[i] = strdup(cfg->servers[i]);
        size_t n = a->servers[i] ? strlen(a->servers[i]) : 0;
        while (n && a->servers[i][n - 1] == '/') /* "http://h:5000/" */
            a->servers[i][--n] = 0;
    }
    snprintf(a->root, sizeof a->root, "%s", cfg->root && *cfg->root ? cfg->root : "/");
    snprintf(a->lldp_file, sizeof a->lldp_file, "%s", cfg->lldp_file ? cfg->lldp_file : "");
    find_in_path("lldpctl", a->lldpctl, sizeof a->lldpctl);
    a->interval_ms = (cfg->interval_s ? cfg->interval_s : 60) * 1000u;
    a->facts_interval_ms = (cfg->facts_interval_s ? cfg->facts_interval_s : 10) * 1000u;
    snprintf(a->state_dir, sizeof a->state_dir, "%s",
             cfg->state_dir ? cfg->state_dir : "/var/lib/enjoliver-agent");
    snprintf(a->hooks_dir, sizeof a->hooks_dir, "%s", cfg->hooks_dir ? cfg->hooks_dir : "");
    snprintf(a->lldp_saved, sizeof a->lldp_saved, "%s/lldp.keyvalue", a->state_dir);
    char path[1100];
    snprintf(path, sizeof path, "%s/install", a->hooks_dir);
    if (cfg->install_command)
        snprintf(a->install_cmd, sizeof a->install_cmd, "%s", cfg->install_command);
    else if (cfg->hooks_dir && access(path, X_OK) == 0)
        snprintf(a->install_cmd, sizeof a->install_cmd, "'%s'", path);
    a->ro_cfg = (agent_rollout_config_t){.state_dir = a->state_dir,
                                         .hooks_dir = cfg->hooks_dir ? a->hooks_dir : NULL,
                                         .hook_timeout_s = cfg->hook_timeout_s,
                                         .check_timeout_s = cfg->check_timeout_s,
                                         .check_retries = cfg->check_retries,
                                         .check_interval_s = cfg->check_interval_s};
    rpc_client_config_t rc_cfg = {cfg->grpc_servers, cfg->n_grpc_servers, cfg->tls_ca_file,
                                  cfg->token, 0};
    int rc = a->servers ? 0 : -ENOMEM;
    rc = rc ? rc : http_client_new(loop, NULL, &a->http);
    rc = rc ? rc : rpc_client_new(loop, &rc_cfg, &a->rpc);
    if (rc) {
        if (a->http)
            http_client_close(a->http, NULL, NULL);
        for (size_t i = 0; a->servers && i < a->n_servers; i++)
            free(a->servers[i]);
        free(a->servers);
        free(a);
        return rc;
    }
    timer_init(a, &a->facts_timer);
    timer_init(a, &a->report_timer);
    timer_init(a, &a->post_retry);
    timer_init(a, &a->watch_retry);
    uv_timer_start(&a->facts_timer, facts_tick, 0, a->facts_interval_ms);
    uv_timer_start(&a->report_timer, report_tick, a->interval_ms, a->interval_ms);
    *out = a;
    return 0;
}

static void handle_closed(uv_handle_t *h)
{
    agent_t *a = h->data;
    if (--a->open_handles == 0)
        maybe_stopped(a);
}

static void rpc_closed(void *data)
{
    agent_t *a = data;
    a->rpc = NULL;
    maybe_stopped(a);
}

static void http_closed(void *data)
{
    agent_t *a = data;
    a->http = NULL;
    maybe_stopped(a);
}

static void rollout_stopped(void *data)
{
    agent_t *a = data;
    a->rollout = NULL;
    maybe_stopped(a);
}

static void install_stopped(void *data)
{
    agent_t *a = data;
    a->install = NULL;
    maybe_stopped(a);
}

static void maybe_stopped(agent_t *a)
{
    if (!a->stopping || a->in_flight || a->open_handles || a->rpc || a->http || a->rollout ||
        a->install)
        return;
    void (*done)(void *) = a->stop_done;
    void *data = a->stop_data;
    if (a->have_posted)
        agent_facts_free(&a->posted);
    for (size_t i = 0; i < a->n_servers; i++)
        free(a->servers[i]);
    free(a->servers);
    free(a);
    if (done)
        done(data);
}

void agent_stop(agent_t *a, void (*done)(void *), void *data)
{
    if (a->stopping)
        return; /* a second signal: the first stop goes on */
    a->stopping = true;
    a->stop_done = done;
    a->stop_data = data;
    uv_close((uv_handle_t *)&a->facts_timer, handle_closed);
    uv_close((uv_handle_t *)&a->report_timer, handle_closed);
    uv_close((uv_handle_t *)&a->post_retry, handle_closed);
    uv_close((uv_handle_t *)&a->watch_retry, handle_closed);
    if (a->rollout) /* a hook is killed; the journal keeps the step */
        agent_rollout_stop(a->rollout, rollout_stopped, a);
    if (a->install)
        agent_install_stop(a->install, install_stopped, a);
    /* Pending requests end (cancelled) and their callbacks run first. */
    http_client_close(a->http, http_closed, a);
    rpc_client_close(a->rpc, rpc_closed, a);
}

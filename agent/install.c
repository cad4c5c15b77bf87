/* The disk install. See install.h. */
#include "agent/install.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/hooks.h"
#include "common/log.h"
#include "enjoliver/v1/enjoliver.pb-c.h"

#define POLL_MS 5000u

typedef enum { I_IDLE, I_ASKING, I_INSTALLING, I_REPORTING, I_DONE } istate_t;

struct agent_install_s {
    uv_loop_t *loop;
    rpc_client_t *rpc;
    uv_timer_t timer;
    char *command;
    unsigned timeout_ms;
    char ignition_url[1200];
    char mac[32], uuid[40];
    istate_t state;
    bool wanted; /* scheduled and not installed */
    bool success;
    char holder[256]; /* who holds the lock, last we were refused */
    agent_hook_t *hook;
    bool busy, stopping, finished;
    void (*stop_done)(void *);
    void *stop_data;
};

static void drive(agent_install_t *in);

static void free_on_close(uv_handle_t *h)
{
    agent_install_t *in = h->data;
    void (*done)(void *) = in->stop_done;
    void *data = in->stop_data;
    free(in->command);
    free(in);
    if (done)
        done(data);
}

static void on_timer(uv_timer_t *t)
{
    drive(t->data);
}

static void later(agent_install_t *in)
{
    if (!in->stopping)
        uv_timer_start(&in->timer, on_timer, POLL_MS, 0);
}

static void reported(grpc_status_code st, const char *msg, const ProtobufCMessage *resp, void *data)
{
    (void)resp;
    agent_install_t *in = data;
    in->busy = false;
    if (st == GRPC_STATUS_OK) {
        log_info("install: reported", "success=%d", in->success);
        in->state = I_DONE;
    } else {
        char q[256];
        log_warn("install: the report failed; retrying", "status=%d message=%s", (int)st,
                 log_quote(msg, q, sizeof q));
        later(in);
        return;
    }
    drive(in);
}

static void hook_done(const char *name, int status, void *data)
{
    (void)name;
    agent_install_t *in = data;
    in->busy = false;
    in->hook = NULL;
    if (!in->stopping) {
        in->success = status == 0;
        in->state = I_REPORTING;
    }
    drive(in);
}

static void decided(grpc_status_code st, const char *msg, const ProtobufCMessage *resp, void *data)
{
    agent_install_t *in = data;
    const Enjoliver__V1__AuthorizeInstallResponse *r = (const void *)resp;
    in->busy = false;
    if (in->stopping)
        return drive(in);
    if (st != GRPC_STATUS_OK || !r->granted) {
        char q[256];
        const char *who = st == GRPC_STATUS_OK ? r->holder : msg;
        if (strcmp(who, in->holder) != 0)
            log_info("install: waiting for the install authorization", "status=%d holder=%s",
                     (int)st, log_quote(who, q, sizeof q));
        snprintf(in->holder, sizeof in->holder, "%s", who);
        later(in);
        return;
    }
    log_info("install: authorized", "expires_unix_ms=%lld", (long long)r->expires_unix_ms);
    in->state = I_INSTALLING;
    drive(in);
}

static void drive(agent_install_t *in)
{
    if (in->stopping) {
        if (!in->busy && !in->finished) {
            in->finished = true;
            uv_close((uv_handle_t *)&in->timer, free_on_close);
        }
        return;
    }
    if (in->busy || uv_is_active((uv_handle_t *)&in->timer))
        return;
    switch (in->state) {
    case I_IDLE:
        if (!in->wanted || !in->command)
            return;
        in->state = I_ASKING;
        /* fall through */
    case I_ASKING: {
        Enjoliver__V1__AuthorizeInstallRequest req = ENJOLIVER__V1__AUTHORIZE_INSTALL_REQUEST__INIT;
        req.mac = in->mac;
        in->busy = rpc_client_unary(in->rpc, "/enjoliver.v1.Lifecycle/AuthorizeInstall", &req.base,
                                    &enjoliver__v1__authorize_install_response__descriptor, 0,
                                    decided, in) == 0;
        if (!in->busy)
            later(in);
        break;
    }
    case I_INSTALLING: {
        char e_url[1300], e_mac[64], e_uuid[64];
        snprintf(e_url, sizeof e_url, "ENJ_IGNITION_URL=%s", in->ignition_url);
        snprintf(e_mac, sizeof e_mac, "ENJ_MAC=%s", in->mac);
        snprintf(e_uuid, sizeof e_uuid, "ENJ_UUID=%s", in->uuid);
        const char *env[] = {"ENJ_STEP=install", e_mac, e_uuid, e_url, NULL};
        in->busy = agent_hook_run(in->loop, "install", in->command, env, in->timeout_ms, hook_done,
                                  in, &in->hook) == 0;
        if (!in->busy) { /* could not even start: a failed install */
            in->success = false;
            in->state = I_REPORTING;
            drive(in);
        }
        break;
    }
    case I_REPORTING: {
        Enjoliver__V1__ReportInstallRequest req = ENJOLIVER__V1__REPORT_INSTALL_REQUEST__INIT;
        req.mac = in->mac;
        req.success = in->success;
        in->busy = rpc_client_unary(in->rpc, "/enjoliver.v1.Lifecycle/ReportInstall", &req.base,
                                    &enjoliver__v1__report_install_response__descriptor, 0,
                                    reported, in) == 0;
        if (!in->busy)
            later(in);
        break;
    }
    case I_DONE:
        break;
    }
}

int agent_install_start(uv_loop_t *loop, rpc_client_t *rpc, const agent_install_config_t *cfg,
                        const char *mac, const char *uuid, agent_install_t **out)
{
    agent_install_t *in = calloc(1, sizeof(*in));
    if (!in || (cfg->command && !(in->command = strdup(cfg->command)))) {
        free(in);
        return -ENOMEM;
    }
    in->loop = loop;
    in->rpc = rpc;
    in->timeout_ms = (cfg->timeout_s ? cfg->timeout_s : 1800) * 1000u;
    snprintf(in->ignition_url, sizeof in->ignition_url, "%s",
             cfg->ignition_url ? cfg->ignition_url : "");
    snprintf(in->mac, sizeof in->mac, "%s", mac);
    snprintf(in->uuid, sizeof in->uuid, "%s", uuid);
    uv_timer_init(loop, &in->timer);
    in->timer.data = in;
    *out = in;
    return 0;
}

void agent_install_update(agent_install_t *in, bool scheduled, const char *state)
{
    /* A failed install is not retried by this run: a broken disk would
     * hold the lock again and again. The next boot tries again. */
    in->wanted = scheduled && strcmp(state, "installation_succeed") != 0;
    drive(in);
}

void agent_install_stop(agent_install_t *in, void (*done)(void *), void *data)
{
    in->stopping = true;
    in->stop_done = done;
    in->stop_data = data;
    uv_timer_stop(&in->timer);
    if (in->hook)
        agent_hook_kill(in->hook);
    drive(in);
}

/* Role scheduling. See scheduler.h. */
#include "model/scheduler.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/clock.h"
#include "model/keys.h"

static int cmp_mac(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int model_sched_plan(const model_sched_input_t *in, size_t n, size_t roster_members,
                     unsigned expected_cp, model_sched_plan_t *out)
{
    memset(out, 0, sizeof(*out));
    out->members = roster_members;
    const char **avail = malloc((n ? n : 1) * sizeof(*avail));
    if (!avail)
        return -ENOMEM;
    size_t na = 0;
    for (size_t i = 0; i < n; i++)
        if (in[i].has_boot_iface && !in[i].scheduled && in[i].mac)
            avail[na++] = in[i].mac;
    qsort(avail, na, sizeof(*avail), cmp_mac);
    size_t need = roster_members < expected_cp ? expected_cp - roster_members : 0;
    size_t take_cp = need && na >= need ? need : 0;
    bool complete = roster_members + take_cp >= expected_cp;
    size_t take_nodes = complete ? na - take_cp : 0;
    if (take_nodes > MODEL_SCHED_BATCH)
        take_nodes = MODEL_SCHED_BATCH; /* the next run takes the rest */
    out->cp = calloc(take_cp ? take_cp : 1, sizeof(*out->cp));
    out->nodes = calloc(take_nodes ? take_nodes : 1, sizeof(*out->nodes));
    if (!out->cp || !out->nodes) {
        free(avail);
        model_sched_plan_free(out);
        return -ENOMEM;
    }
    for (size_t i = 0; i < take_cp; i++)
        snprintf(out->cp[out->n_cp++], MODEL_MAC_LEN + 1, "%s", avail[i]);
    for (size_t i = take_cp; i < take_cp + take_nodes; i++)
        snprintf(out->nodes[out->n_nodes++], MODEL_MAC_LEN + 1, "%s", avail[i]);
    out->waiting = na - take_cp - take_nodes;
    free(avail);
    return 0;
}

void model_sched_plan_free(model_sched_plan_t *p)
{
    free(p->cp);
    free(p->nodes);
    p->cp = p->nodes = NULL;
    p->n_cp = p->n_nodes = 0;
}

json_t *model_roster_members(json_t *roster_value)
{
    json_t *m = json_object_get(roster_value, "members");
    return json_is_array(m) ? m : NULL;
}

/* ---- the write ---------------------------------------------------------- */

static int sop_keys(model_op_t *op)
{
    model_sched_op_t *sop = (model_sched_op_t *)op;
    int rc = model_op_want(op, MODEL_K_ROSTER, "");
    for (size_t i = 0; rc == 0 && i < sop->plan->n_cp; i++)
        rc = model_op_want(op, MODEL_K_SCHEDULES, sop->plan->cp[i]);
    for (size_t i = 0; rc == 0 && i < sop->plan->n_nodes; i++)
        rc = model_op_want(op, MODEL_K_SCHEDULES, sop->plan->nodes[i]);
    return rc;
}

static int put_schedule(model_sched_op_t *sop, const char *mac, bool cp)
{
    char date[MODEL_DATE_MAX];
    model_rfc3339(sop->now_ms, date);
    json_t *roles = cp ? json_pack("[s,s]", "etcd-member", "kubernetes-control-plane")
                       : json_pack("[s]", "kubernetes-node");
    return model_op_put(&sop->op, MODEL_K_SCHEDULES, mac,
                        json_pack("{s:i, s:s, s:o, s:s, s:s, s:s}", "schema", MODEL_SCHEMA, "mac",
                                  mac, "roles", roles, "created", date, "updated", date, "by",
                                  sop->by ? sop->by : "scheduler"));
}

static int sop_plan(model_op_t *op)
{
    model_sched_op_t *sop = (model_sched_op_t *)op;
    const model_sched_plan_t *p = sop->plan;
    const model_kv_t *rk = model_op_seen(op, MODEL_K_ROSTER, "");
    json_t *roster = rk && rk->value ? json_loadb(rk->value, rk->value_len, 0, NULL) : NULL;
    json_t *members = model_roster_members(roster);
    size_t now_members = members ? json_array_size(members) : 0;
    int rc = 0;
    if (now_members != sop->expected_members) {
        model_err_set(&op->err, NULL,
                      "the control-plane roster moved (%zu members, planned for %zu)", now_members,
                      sop->expected_members);
        rc = -ESTALE;
    }
    for (size_t i = 0; rc == 0 && i < p->n_cp + p->n_nodes; i++) {
        const char *mac = i < p->n_cp ? p->cp[i] : p->nodes[i - p->n_cp];
        const model_kv_t *s = model_op_seen(op, MODEL_K_SCHEDULES, mac);
        if (s && s->value) {
            model_err_set(&op->err, NULL, "%s got roles meanwhile", mac);
            rc = -ESTALE;
        }
    }
    for (size_t i = 0; rc == 0 && i < p->n_cp; i++)
        rc = put_schedule(sop, p->cp[i], true);
    for (size_t i = 0; rc == 0 && i < p->n_nodes; i++)
        rc = put_schedule(sop, p->nodes[i], false);
    if (rc == 0 && p->n_cp) {
        json_t *all = members ? json_copy(members) : json_array();
        for (size_t i = 0; i < p->n_cp; i++)
            json_array_append_new(all, json_string(p->cp[i]));
        rc = model_op_put(op, MODEL_K_ROSTER, "",
                          json_pack("{s:i, s:o}", "schema", MODEL_SCHEMA, "members", all));
    }
    json_decref(roster);
    return rc;
}

static void sop_done(model_op_t *op, int err, int64_t revision)
{
    model_sched_op_t *sop = (model_sched_op_t *)op;
    sop->done(sop, err, revision);
}

static const model_op_vtable_t sched_vt = {sop_keys, sop_plan, sop_done};

int model_sched_op_start(model_store_t *st, model_sched_op_t *sop, const model_sched_plan_t *plan,
                         void (*done)(model_sched_op_t *sop, int err, int64_t revision))
{
    if (!st || !sop || !plan || !done)
        return -EINVAL;
    if (plan->n_cp + plan->n_nodes == 0)
        return -EINVAL;
    sop->plan = plan;
    sop->expected_members = plan->members;
    sop->now_ms = model_now_ms();
    sop->done = done;
    sop->op.vt = &sched_vt;
    return model_op_start(st, &sop->op);
}

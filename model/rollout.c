/* The rolling-update decision. See rollout.h. */
#include "model/rollout.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- maintenance windows -------------------------------------------------- */

bool model_window_open(const model_window_t *w, int64_t now_ms)
{
    if (!w->enabled)
        return true;
    /* Minutes since the epoch, local time; 1970-01-01 was a Thursday. */
    int64_t minutes = now_ms / 60000 + w->utc_offset_min;
    int64_t day = minutes >= 0 ? minutes / 1440 : (minutes - 1439) / 1440;
    int minute_of_day = (int)(minutes - day * 1440);
    /* A window that started today or on one of the previous days may still
     * run (lengths up to a week). */
    for (int back = 0; back <= 7; back++) {
        int weekday = (int)(((day - back) % 7 + 7 + 4) % 7);
        if (!(w->days & (1u << weekday)))
            continue;
        int64_t since = (int64_t)back * 1440 + minute_of_day - w->start_minute;
        if (since >= 0 && since < w->length_minutes)
            return true;
    }
    return false;
}

static int day_index(const char *s)
{
    static const char *const names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    for (int i = 0; i < 7; i++)
        if (strncasecmp(s, names[i], 3) == 0)
            return i;
    return -1;
}

static int parse_days(const char *s, uint8_t *days)
{
    *days = 0;
    if (strcmp(s, "*") == 0) {
        *days = 0x7f;
        return 0;
    }
    char buf[64];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        char *dash = strchr(tok, '-');
        int a = day_index(tok), b = dash ? day_index(dash + 1) : a;
        if (a < 0 || b < 0 || strlen(tok) != (dash ? 7u : 3u))
            return -EINVAL;
        for (int d = a;; d = (d + 1) % 7) {
            *days |= (uint8_t)(1u << d);
            if (d == b)
                break;
        }
    }
    return *days ? 0 : -EINVAL;
}

int model_window_parse(const char *text, model_window_t *out, model_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (!text || !*text || strcmp(text, "always") == 0)
        return 0;
    char days[64] = "", len[16] = "", tz[16] = "";
    int hh, mm, n = sscanf(text, "%63s %d:%d %15s %15s", days, &hh, &mm, len, tz);
    if (n < 4 || parse_days(days, &out->days) != 0 || hh < 0 || hh > 23 || mm < 0 || mm > 59)
        return model_err_set(err, "rollout_window",
                             "\"%s\" is not DAYS HH:MM LENGTH [UTC+HH:MM], e.g. "
                             "\"Mon-Fri 02:00 4h UTC+01:00\"",
                             text);
    int h = 0, m = 0;
    char *p = len;
    if (!strchr(len, 'h') && !strchr(len, 'm'))
        return model_err_set(err, "rollout_window", "length \"%s\" needs a unit (h or m)", len);
    if (sscanf(p, "%dh%dm", &h, &m) < 1 && sscanf(p, "%dm", &m) != 1)
        return model_err_set(err, "rollout_window", "bad length \"%s\" (e.g. 4h, 90m, 1h30m)", len);
    if (!strchr(len, 'h')) {
        m = h;
        h = 0;
    }
    out->length_minutes = h * 60 + m;
    if (out->length_minutes < 1 || out->length_minutes > 7 * 1440)
        return model_err_set(err, "rollout_window", "length \"%s\" must be 1 minute to 7 days",
                             len);
    if (n == 5) {
        int sign = 1, oh = 0, om = 0;
        if (strncasecmp(tz, "UTC", 3) != 0 || (tz[3] != '+' && tz[3] != '-') ||
            sscanf(tz + 4, "%d:%d", &oh, &om) != 2 || oh > 14 || om > 59)
            return model_err_set(err, "rollout_window", "bad offset \"%s\" (e.g. UTC+01:00)", tz);
        sign = tz[3] == '-' ? -1 : 1;
        out->utc_offset_min = sign * (oh * 60 + om);
    }
    out->start_minute = hh * 60 + mm;
    out->enabled = true;
    return 0;
}

/* ---- the decision ------------------------------------------------------------ */

const char *model_rollout_wait_name(model_rollout_wait_t w)
{
    static const char *const names[] = {"none",     "paused", "window", "settle",
                                        "capacity", "group",  "quorum"};
    return (unsigned)w < sizeof names / sizeof names[0] ? names[w] : "?";
}

static int by_request(const void *a, const void *b, void *arg)
{
    const model_rollout_node_t *nodes = arg;
    const model_rollout_node_t *x = &nodes[*(const size_t *)a];
    const model_rollout_node_t *y = &nodes[*(const size_t *)b];
    if (x->requested_ms != y->requested_ms)
        return x->requested_ms < y->requested_ms ? -1 : 1;
    return strcmp(x->mac, y->mac);
}

static bool same_group(const model_rollout_node_t *a, const model_rollout_node_t *b)
{
    return a->group && *a->group && b->group && strcmp(a->group, b->group) == 0;
}

/* Holders of n's group (itself not counted). */
static unsigned group_holders(const model_rollout_node_t *nodes, size_t n, size_t self,
                              const bool *holds)
{
    unsigned count = 0;
    for (size_t i = 0; i < n; i++)
        if (i != self && holds[i] && same_group(&nodes[i], &nodes[self]))
            count++;
    return count;
}

/* An etcd member may roll only when no other member holds a slot and every
 * other member is ready. */
static bool quorum_safe(const model_rollout_node_t *nodes, size_t n, size_t self, const bool *holds)
{
    for (size_t i = 0; i < n; i++) {
        if (i == self || !nodes[i].control_plane)
            continue;
        if (holds[i] || !nodes[i].ready)
            return false;
    }
    return true;
}

int model_rollout_decide(const model_rollout_config_t *cfg, const model_rollout_node_t *nodes,
                         size_t n, int64_t last_release_ms, int64_t now_ms,
                         model_rollout_decision_t *out)
{
    memset(out, 0, sizeof(*out));
    out->grant = calloc(n + 1, sizeof(*out->grant));
    out->reclaim = calloc(n + 1, sizeof(*out->reclaim));
    out->wait = calloc(n + 1, sizeof(*out->wait));
    bool *holds = calloc(n + 1, sizeof(*holds));
    size_t *order = calloc(n + 1, sizeof(*order));
    if (!out->grant || !out->reclaim || !out->wait || !holds || !order) {
        free(holds);
        free(order);
        model_rollout_decision_free(out);
        return -ENOMEM;
    }
    unsigned held = 0;
    for (size_t i = 0; i < n; i++) {
        holds[i] = nodes[i].holding;
        if (holds[i] && cfg->max_hold_ms > 0 &&
            now_ms - nodes[i].held_since_ms > cfg->max_hold_ms) {
            out->reclaim[out->n_reclaim++] = nodes[i].mac;
            holds[i] = false; /* its slot is free again, but no grant this round */
        }
        held += holds[i];
    }
    model_rollout_wait_t global =
        cfg->paused                                ? MODEL_WAIT_PAUSED
        : !model_window_open(&cfg->window, now_ms) ? MODEL_WAIT_WINDOW
        : (out->n_reclaim || (last_release_ms && now_ms - last_release_ms < cfg->settle_ms))
            ? MODEL_WAIT_SETTLE
            : MODEL_WAIT_NONE;
    size_t nr = 0;
    for (size_t i = 0; i < n; i++)
        if (nodes[i].requesting && !holds[i] && !nodes[i].holding)
            order[nr++] = i;
    qsort_r(order, nr, sizeof(*order), by_request, (void *)nodes);
    unsigned cap = cfg->max_unavailable ? cfg->max_unavailable : 1;
    for (size_t k = 0; k < nr; k++) {
        size_t i = order[k];
        model_rollout_wait_t w = global;
        if (w == MODEL_WAIT_NONE && (held >= cap || out->n_grant >= MODEL_ROLLOUT_BATCH))
            w = MODEL_WAIT_CAPACITY;
        if (w == MODEL_WAIT_NONE && cfg->max_unavailable_per_group &&
            group_holders(nodes, n, i, holds) >= cfg->max_unavailable_per_group)
            w = MODEL_WAIT_GROUP;
        if (w == MODEL_WAIT_NONE && nodes[i].control_plane && !quorum_safe(nodes, n, i, holds))
            w = MODEL_WAIT_QUORUM;
        out->wait[i] = w;
        if (w != MODEL_WAIT_NONE)
            continue;
        out->grant[out->n_grant++] = nodes[i].mac;
        holds[i] = true;
        held++;
    }
    free(holds);
    free(order);
    return 0;
}

void model_rollout_decision_free(model_rollout_decision_t *d)
{
    free(d->grant);
    free(d->reclaim);
    free(d->wait);
    memset(d, 0, sizeof(*d));
}

/*
 * The rolling-update decision, pure: capacity, quorum of etcd members,
 * per-group (rack) limits, request order, pause, settle delay, reclaim of
 * slots held too long, maintenance windows (days, start, length across
 * midnight, UTC offsets) and their parser, and determinism.
 */
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "model/rollout.h"

static model_rollout_node_t node(const char *mac, const char *group, bool cp, bool requesting,
                                 int64_t at)
{
    return (model_rollout_node_t){.mac = mac,
                                  .group = group,
                                  .control_plane = cp,
                                  .ready = true,
                                  .requesting = requesting,
                                  .requested_ms = at};
}

static model_rollout_config_t cfg1(void)
{
    return (model_rollout_config_t){.max_unavailable = 1};
}

static bool granted(const model_rollout_decision_t *d, const char *mac)
{
    for (size_t i = 0; i < d->n_grant; i++)
        if (!strcmp(d->grant[i], mac))
            return true;
    return false;
}

static void test_capacity_and_order(void)
{
    model_rollout_node_t n[] = {node("02:00:00:00:00:03", NULL, false, true, 30),
                                node("02:00:00:00:00:01", NULL, false, true, 20),
                                node("02:00:00:00:00:02", NULL, false, true, 20)};
    model_rollout_config_t c = cfg1();
    model_rollout_decision_t d;
    CHECK(model_rollout_decide(&c, n, 3, 0, 1000, &d) == 0);
    /* Oldest request first, then by MAC. */
    CHECK(d.n_grant == 1 && !strcmp(d.grant[0], "02:00:00:00:00:01"));
    CHECK(d.wait[0] == MODEL_WAIT_CAPACITY && d.wait[2] == MODEL_WAIT_CAPACITY);
    model_rollout_decision_free(&d);
    c.max_unavailable = 2;
    CHECK(model_rollout_decide(&c, n, 3, 0, 1000, &d) == 0);
    CHECK(d.n_grant == 2 && granted(&d, "02:00:00:00:00:01") && granted(&d, "02:00:00:00:00:02"));
    model_rollout_decision_free(&d);
    /* A holder counts: nothing more when full. */
    n[1].holding = true;
    n[1].requesting = false;
    c.max_unavailable = 1;
    CHECK(model_rollout_decide(&c, n, 3, 0, 1000, &d) == 0);
    CHECK(d.n_grant == 0);
    model_rollout_decision_free(&d);
}

static void test_quorum(void)
{
    model_rollout_node_t n[] = {node("02:00:00:00:00:01", NULL, true, true, 1),
                                node("02:00:00:00:00:02", NULL, true, true, 2),
                                node("02:00:00:00:00:03", NULL, true, false, 0),
                                node("02:00:00:00:00:04", NULL, false, true, 3)};
    model_rollout_config_t c = {.max_unavailable = 3};
    model_rollout_decision_t d;
    CHECK(model_rollout_decide(&c, n, 4, 0, 1000, &d) == 0);
    /* One member at a time, nodes beside it. */
    CHECK(d.n_grant == 2 && granted(&d, "02:00:00:00:00:01") && granted(&d, "02:00:00:00:00:04"));
    CHECK(d.wait[1] == MODEL_WAIT_QUORUM);
    model_rollout_decision_free(&d);
    /* Another member not ready: no member rolls. */
    n[2].ready = false;
    CHECK(model_rollout_decide(&c, n, 4, 0, 1000, &d) == 0);
    CHECK(d.n_grant == 1 && granted(&d, "02:00:00:00:00:04"));
    CHECK(d.wait[0] == MODEL_WAIT_QUORUM && d.wait[1] == MODEL_WAIT_QUORUM);
    model_rollout_decision_free(&d);
}

static void test_groups(void)
{
    model_rollout_node_t n[] = {node("02:00:00:00:00:01", "rack-a", false, false, 0),
                                node("02:00:00:00:00:02", "rack-a", false, true, 1),
                                node("02:00:00:00:00:03", "rack-b", false, true, 2)};
    n[0].holding = true;
    model_rollout_config_t c = {.max_unavailable = 3, .max_unavailable_per_group = 1};
    model_rollout_decision_t d;
    CHECK(model_rollout_decide(&c, n, 3, 0, 1000, &d) == 0);
    CHECK(d.n_grant == 1 && granted(&d, "02:00:00:00:00:03") && d.wait[1] == MODEL_WAIT_GROUP);
    model_rollout_decision_free(&d);
}

static void test_pause_settle_reclaim(void)
{
    model_rollout_node_t n[] = {node("02:00:00:00:00:01", NULL, false, true, 1),
                                node("02:00:00:00:00:02", NULL, false, false, 0)};
    model_rollout_config_t c = {.max_unavailable = 1, .paused = true};
    model_rollout_decision_t d;
    CHECK(model_rollout_decide(&c, n, 2, 0, 1000, &d) == 0);
    CHECK(d.n_grant == 0 && d.wait[0] == MODEL_WAIT_PAUSED);
    model_rollout_decision_free(&d);
    c.paused = false;
    c.settle_ms = 500;
    CHECK(model_rollout_decide(&c, n, 2, 800, 1000, &d) == 0);
    CHECK(d.n_grant == 0 && d.wait[0] == MODEL_WAIT_SETTLE);
    model_rollout_decision_free(&d);
    CHECK(model_rollout_decide(&c, n, 2, 400, 1000, &d) == 0);
    CHECK(d.n_grant == 1);
    model_rollout_decision_free(&d);
    /* A slot held past max_hold is reclaimed; no grant in the same round. */
    n[1].holding = true;
    n[1].held_since_ms = 0;
    c.max_hold_ms = 600;
    CHECK(model_rollout_decide(&c, n, 2, 0, 1000, &d) == 0);
    CHECK(d.n_reclaim == 1 && !strcmp(d.reclaim[0], "02:00:00:00:00:02") && d.n_grant == 0);
    model_rollout_decision_free(&d);
}

static int64_t at(int wday_from_thu, int hh, int mm)
{
    /* 1970-01-01 00:00 UTC was a Thursday. */
    return ((int64_t)wday_from_thu * 1440 + hh * 60 + mm) * 60000;
}

static void test_windows(void)
{
    model_window_t w;
    model_err_t err = {{0}};
    CHECK(model_window_parse("Mon-Fri 22:00 4h", &w, &err) == 0);
    /* Thursday 23:00 open, Friday 01:59 still open (past midnight), 02:00 closed. */
    CHECK(model_window_open(&w, at(0, 23, 0)));
    CHECK(model_window_open(&w, at(1, 1, 59)));
    CHECK(!model_window_open(&w, at(1, 2, 0)));
    /* Saturday 23:00: closed (Sat not in Mon-Fri); Sunday 01:00 closed. */
    CHECK(!model_window_open(&w, at(2, 23, 0)) && !model_window_open(&w, at(3, 1, 0)));
    CHECK(model_window_parse("Sat,Sun 02:00 90m UTC+01:00", &w, &err) == 0);
    /* Saturday 01:30 UTC = 02:30 local: open. */
    CHECK(model_window_open(&w, at(2, 1, 30)));
    CHECK(!model_window_open(&w, at(2, 2, 30)));
    CHECK(model_window_parse("* 00:00 1h30m UTC-05:30", &w, &err) == 0 && w.utc_offset_min == -330);
    CHECK(model_window_parse("always", &w, &err) == 0 && !w.enabled);
    const char *bad[] = {"Mon 25:00 1h", "Xyz 01:00 1h",       "Mon 01:00", "Mon 01:00 4",
                         "Mon 01:00 8d", "Mon 01:00 1h GMT+1", "Mon-Fri 1h"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECKF(model_window_parse(bad[i], &w, &err) == -EINVAL, "%s accepted", bad[i]);
        CHECK(strstr(err.msg, "rollout_window") != NULL);
    }
    /* A grant waits for the window. */
    model_rollout_node_t n[] = {node("02:00:00:00:00:01", NULL, false, true, 1)};
    model_rollout_config_t c = {.max_unavailable = 1};
    CHECK(model_window_parse("Mon-Fri 22:00 4h", &c.window, &err) == 0);
    model_rollout_decision_t d;
    CHECK(model_rollout_decide(&c, n, 1, 0, at(2, 12, 0), &d) == 0);
    CHECK(d.n_grant == 0 && d.wait[0] == MODEL_WAIT_WINDOW);
    model_rollout_decision_free(&d);
}

static void test_batch(void)
{
    enum { N = 50 };
    model_rollout_node_t n[N];
    char macs[N][18];
    for (int i = 0; i < N; i++) {
        snprintf(macs[i], sizeof macs[i], "02:00:00:00:00:%02x", i);
        n[i] = node(macs[i], NULL, false, true, i);
    }
    model_rollout_config_t c = {.max_unavailable = 1000};
    model_rollout_decision_t d;
    CHECK(model_rollout_decide(&c, n, N, 0, 1000, &d) == 0);
    CHECK(d.n_grant == MODEL_ROLLOUT_BATCH && d.wait[N - 1] == MODEL_WAIT_CAPACITY);
    model_rollout_decision_free(&d);
}

int main(void)
{
    test_batch();
    test_capacity_and_order();
    test_quorum();
    test_groups();
    test_pause_settle_reclaim();
    test_windows();
    return check_report("test_rollout");
}

/*
 * The scheduling decision (model_sched_plan), pure: the original's example
 * (M01-M04, 3 control planes), all-or-nothing on the missing members, no
 * over-scheduling once the roster is full, nodes only after the control
 * plane, machines without a boot interface or already scheduled left
 * alone, and determinism whatever the input order.
 */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "model/scheduler.h"

static model_sched_input_t m(const char *mac, bool boot, bool scheduled)
{
    return (model_sched_input_t){mac, boot, scheduled};
}

static void test_original_example(void)
{
    /* M01 52:54:00:e8:32:5b, M02 52:54:00:a5:24:f5, M03 52:54:00:5b:45:35,
     * M04 52:54:00:ea:6f:41: the 3 lowest MACs are the control plane. */
    model_sched_input_t in[] = {
        m("52:54:00:e8:32:5b", true, false), m("52:54:00:a5:24:f5", true, false),
        m("52:54:00:5b:45:35", true, false), m("52:54:00:ea:6f:41", true, false)};
    model_sched_plan_t p;
    CHECK(model_sched_plan(in, 4, 0, 3, &p) == 0);
    CHECK(p.n_cp == 3 && p.n_nodes == 1 && p.waiting == 0);
    CHECK(strcmp(p.cp[0], "52:54:00:5b:45:35") == 0);
    CHECK(strcmp(p.cp[1], "52:54:00:a5:24:f5") == 0);
    CHECK(strcmp(p.cp[2], "52:54:00:e8:32:5b") == 0);
    CHECK(strcmp(p.nodes[0], "52:54:00:ea:6f:41") == 0);
    model_sched_plan_free(&p);
}

static void test_all_or_nothing(void)
{
    model_sched_input_t in[] = {m("02:00:00:00:00:02", true, false),
                                m("02:00:00:00:00:01", true, false)};
    model_sched_plan_t p;
    CHECK(model_sched_plan(in, 2, 0, 3, &p) == 0);
    CHECK(p.n_cp == 0 && p.n_nodes == 0 && p.waiting == 2);
    model_sched_plan_free(&p);
    /* One member already (e.g. scheduled by hand): two more complete it. */
    CHECK(model_sched_plan(in, 2, 1, 3, &p) == 0);
    CHECK(p.n_cp == 2 && p.n_nodes == 0 && p.waiting == 0);
    model_sched_plan_free(&p);
}

static void test_never_over_schedule(void)
{
    model_sched_input_t in[] = {
        m("02:00:00:00:00:01", true, false), m("02:00:00:00:00:02", true, false),
        m("02:00:00:00:00:03", true, false), m("02:00:00:00:00:04", true, false)};
    model_sched_plan_t p;
    /* The roster is full (3 of 3): every available machine is a node. */
    CHECK(model_sched_plan(in, 4, 3, 3, &p) == 0);
    CHECK(p.n_cp == 0 && p.n_nodes == 4);
    model_sched_plan_free(&p);
    /* Over-full by hand (4 of 3): still no control-plane role given. */
    CHECK(model_sched_plan(in, 4, 4, 3, &p) == 0);
    CHECK(p.n_cp == 0 && p.n_nodes == 4);
    model_sched_plan_free(&p);
}

static void test_skipped_machines(void)
{
    model_sched_input_t in[] = {m("02:00:00:00:00:01", false, false),
                                m("02:00:00:00:00:02", true, true),
                                m("02:00:00:00:00:03", true, false)};
    model_sched_plan_t p;
    CHECK(model_sched_plan(in, 3, 0, 1, &p) == 0);
    CHECK(p.n_cp == 1 && strcmp(p.cp[0], "02:00:00:00:00:03") == 0 && p.n_nodes == 0);
    model_sched_plan_free(&p);
}

static void test_deterministic(void)
{
    model_sched_input_t a[6], b[6];
    const char *macs[] = {"02:00:00:00:00:0f", "02:00:00:00:00:01", "02:00:00:00:00:0a",
                          "02:00:00:00:00:03", "02:00:00:00:00:10", "02:00:00:00:00:02"};
    for (int i = 0; i < 6; i++) {
        a[i] = m(macs[i], true, false);
        b[5 - i] = m(macs[i], true, false);
    }
    model_sched_plan_t pa, pb;
    CHECK(model_sched_plan(a, 6, 0, 5, &pa) == 0 && model_sched_plan(b, 6, 0, 5, &pb) == 0);
    CHECK(pa.n_cp == 5 && pb.n_cp == 5 && pa.n_nodes == 1 && pb.n_nodes == 1);
    for (size_t i = 0; i < pa.n_cp; i++)
        CHECK(strcmp(pa.cp[i], pb.cp[i]) == 0);
    CHECK(strcmp(pa.nodes[0], "02:00:00:00:00:10") == 0);
    model_sched_plan_free(&pa);
    model_sched_plan_free(&pb);
}

/* Many machines at once: one plan takes a batch (one Txn stays within
 * etcd's operation limit), the next run the rest. */
static void test_batches(void)
{
    enum { N = 100 };
    model_sched_input_t in[N];
    char macs[N][18];
    for (int i = 0; i < N; i++) {
        snprintf(macs[i], sizeof macs[i], "02:00:00:00:%02x:%02x", i / 256, i % 256);
        in[i] = m(macs[i], true, false);
    }
    model_sched_plan_t p;
    CHECK(model_sched_plan(in, N, 3, 3, &p) == 0);
    CHECK(p.n_cp == 0 && p.n_nodes == MODEL_SCHED_BATCH && p.waiting == N - MODEL_SCHED_BATCH);
    CHECK(strcmp(p.nodes[0], "02:00:00:00:00:00") == 0);
    model_sched_plan_free(&p);
}

int main(void)
{
    test_batches();
    test_original_example();
    test_all_or_nothing();
    test_never_over_schedule();
    test_skipped_machines();
    test_deterministic();
    return check_report("test_scheduler");
}

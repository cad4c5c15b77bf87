/*
 * etcd-bench: throughput and latency of libetcdclient against a real etcd,
 * with etcd's own Go client (bench/goref) as the reference. Prints figures,
 * asserts nothing about timing, is never run by ctest. See bench/README.md.
 *
 * Cases (each on the one client, i.e. one gRPC channel):
 *   put    Put of <prefix><i mod keyspace>, a value of --val-size bytes
 *   range  Range of one such key, linearizable (the default)
 *   txn    Txn: if version(key) > 0 then put(key, value)  (a compare-and-put)
 * at each concurrency N: N requests in flight, each slot starting its next
 * request as soon as its previous one completed, until --ops requests were
 * started or --duration passed.
 *
 *   ref    the put case (--ref-ops: also range, txn) driven by etcd-goref
 *          (Go clientv3) and by us, with the same keys, value size and
 *          concurrency, in alternating order, and the ratio ours/reference.
 *
 *   watch  one watcher on a prefix (this client, main thread); a second
 *          client on its own thread and loop writes under the prefix at
 *          concurrency --watch-concurrency, one Put per request, then (with
 *          --watch-batch N) Txns of N puts; events/s delivered and the delay
 *          from each write's request start to its event's arrival.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "etcd/kv.h"
#include "etcd/sync.h"
#include "etcd/watch.h"
#include "etcd_server.h"

/* ---- options ---------------------------------------------------------- */

enum { OP_PUT, OP_RANGE, OP_TXN };
static const char *const op_names[] = {"put", "range", "txn"};

typedef struct opts_s {
    const char *endpoint; /* NULL: start our own etcd */
    unsigned duration_ms;
    uint64_t max_ops;
    size_t val_size;
    unsigned keyspace;
    const char *prefix;
    unsigned conc[16];
    size_t n_conc;
    bool cases[3];
    bool watch;
    unsigned watch_conc, watch_batch;
    const char *ref; /* etcd-goref path; NULL = none */
    bool ref_given;
    unsigned ref_rounds;
    bool ref_ops[3];
    bool no_ref; /* --cases without ref */
} opts_t;

static opts_t O = {
    .duration_ms = 3000,
    .max_ops = 200000,
    .val_size = 256,
    .keyspace = 10000,
    .prefix = "/bench/k/",
    .conc = {1, 16, 128},
    .n_conc = 3,
    .cases = {true, true, true},
    .watch = true,
    .watch_conc = 128,
    .watch_batch = 64,
    .ref_rounds = 4,
    .ref_ops = {true, false, false},
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: etcd-bench [options]\n"
            "\n"
            "Measures libetcdclient (Put, linearizable Range, compare-and-put Txn at several\n"
            "concurrencies; Watch delivery) against a real etcd and compares Put with etcd's\n"
            "Go client (etcd-goref). Prints figures only; never fails on timing.\n"
            "\n"
            "  --endpoint H:P        use this etcd (writes under --prefix and /bench/w/);\n"
            "                        default: start one with the test harness (temp dir)\n"
            "  --etcd-pid N          with --endpoint: etcd's pid, for the etcd us and other%%\n"
            "                        columns (CPU from /proc)\n"
            "  --duration-ms N       per case, stop after N ms (default 3000)\n"
            "  --ops N               per case, stop after N requests (default 200000)\n"
            "  --concurrency LIST    requests in flight, e.g. 1,16,128 (default)\n"
            "  --cases LIST          of put,range,txn,watch,ref (default all)\n"
            "  --val-size N          value bytes (default 256)\n"
            "  --keyspace N          keys <prefix>%%010u cycle over N names (default 10000)\n"
            "  --prefix P            key prefix (default /bench/k/)\n"
            "  --watch-concurrency N putter concurrency in the watch case (default 128)\n"
            "  --watch-batch N       second watch case: Txns of N puts (default 64; 1 = none)\n"
            "  --ref PATH            etcd-goref binary (default: next to etcd-bench, if built;\n"
            "                        \"\": none)\n"
            "  --ref-rounds N        ours/reference pairs per concurrency (default 4)\n"
            "  --ref-ops LIST        of put,range,txn compared with the reference (default put)\n"
            "  --help                this text\n");
}

static pid_t etcd_pid = -1; /* for etcd's CPU time; -1 = unknown */

static int op_parse(const char *s)
{
    for (int op = OP_PUT; op <= OP_TXN; op++)
        if (!strcmp(s, op_names[op]))
            return op;
    return -1;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t n;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (!v)
            goto bad;
        i++;
        if (!strcmp(a, "--endpoint")) {
            O.endpoint = v;
        } else if (!strcmp(a, "--etcd-pid")) {
            if (parse_u64(v, 1, INT_MAX, &n))
                goto bad;
            etcd_pid = (pid_t)n;
        } else if (!strcmp(a, "--duration-ms")) {
            if (parse_u64(v, 1, 600000, &n))
                goto bad;
            O.duration_ms = (unsigned)n;
        } else if (!strcmp(a, "--ops")) {
            if (parse_u64(v, 1, 100000000, &n))
                goto bad;
            O.max_ops = n;
        } else if (!strcmp(a, "--val-size")) {
            if (parse_u64(v, 0, 1 << 20, &n))
                goto bad;
            O.val_size = n;
        } else if (!strcmp(a, "--keyspace")) {
            if (parse_u64(v, 1, 10000000, &n))
                goto bad;
            O.keyspace = (unsigned)n;
        } else if (!strcmp(a, "--prefix")) {
            if (strlen(v) > 200) /* keys are built in 256-byte buffers */
                goto bad;
            O.prefix = v;
        } else if (!strcmp(a, "--watch-concurrency")) {
            if (parse_u64(v, 1, 4096, &n))
                goto bad;
            O.watch_conc = (unsigned)n;
        } else if (!strcmp(a, "--watch-batch")) {
            if (parse_u64(v, 1, 128, &n))
                goto bad;
            O.watch_batch = (unsigned)n;
        } else if (!strcmp(a, "--ref")) {
            O.ref = *v ? v : NULL; /* "": no reference */
            O.ref_given = true;
        } else if (!strcmp(a, "--ref-rounds")) {
            if (parse_u64(v, 1, 20, &n))
                goto bad;
            O.ref_rounds = (unsigned)n;
        } else if (!strcmp(a, "--ref-ops")) {
            char *copy = strdup(v), *save = NULL;
            bool any = false;
            memset(O.ref_ops, 0, sizeof(O.ref_ops));
            for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                int op = op_parse(t);
                if (op < 0) {
                    free(copy);
                    goto bad;
                }
                O.ref_ops[op] = any = true;
            }
            free(copy);
            if (!any)
                goto bad;
        } else if (!strcmp(a, "--concurrency")) {
            char *copy = strdup(v), *save = NULL;
            O.n_conc = 0;
            for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (O.n_conc == 16 || parse_u64(t, 1, 4096, &n)) {
                    free(copy);
                    goto bad;
                }
                O.conc[O.n_conc++] = (unsigned)n;
            }
            free(copy);
            if (!O.n_conc)
                goto bad;
        } else if (!strcmp(a, "--cases")) {
            char *copy = strdup(v), *save = NULL;
            bool ref = false;
            memset(O.cases, 0, sizeof(O.cases));
            O.watch = false;
            for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (op_parse(t) >= 0)
                    O.cases[op_parse(t)] = true;
                else if (!strcmp(t, "watch"))
                    O.watch = true;
                else if (!strcmp(t, "ref"))
                    ref = true;
                else {
                    free(copy);
                    goto bad;
                }
            }
            free(copy);
            O.no_ref = !ref;
        } else {
            goto bad;
        }
        continue;
    bad:
        fprintf(stderr, "etcd-bench: bad or incomplete argument '%s'%s%s\n", a, v ? " " : "",
                v ? v : "");
        usage(stderr);
        return -1;
    }
    return 0;
}

/* ---- small helpers ---------------------------------------------------- */

static uint64_t now_ns(void)
{
    return uv_hrtime();
}

static double cpu_self_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* etcd's CPU time (s) from /proc, or -1 when unknown. */
static double cpu_etcd_s(void)
{
    if (etcd_pid <= 0)
        return -1;
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)etcd_pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long ut = 0, st = 0;
    /* after ") ": state(3) ... utime is field 14, stime 15 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Busy CPU time of the whole machine (s), from /proc/stat; -1 when unknown. */
static double cpu_machine_s(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n != 8)
        return -1;
    /* user nice system [idle iowait] irq softirq steal */
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU accounting around a case: ours, etcd's, and what the rest of the
 * machine used meanwhile (other processes: the figures of a case that ran
 * beside other load are not comparable). */
typedef struct cpu_snap_s {
    uint64_t t;
    double self, etcd, machine;
} cpu_snap_t;

static void cpu_snap(cpu_snap_t *s)
{
    s->t = uv_hrtime();
    s->self = cpu_self_s();
    s->etcd = cpu_etcd_s();
    s->machine = cpu_machine_s();
}

/* Percent of the machine (all cpus) busy with other processes between a and
 * b; `extra_s` is CPU of ours not seen in a or b (a child process). -1 when
 * unknown. */
static double cpu_other_pct(const cpu_snap_t *a, const cpu_snap_t *b, double extra_s)
{
    if (a->etcd < 0 || b->etcd < 0 || a->machine < 0 || b->machine < 0 || b->t <= a->t)
        return -1;
    double other = (b->machine - a->machine) - (b->self - a->self) - (b->etcd - a->etcd) - extra_s;
    double cap = (double)(b->t - a->t) / 1e9 * (double)sysconf(_SC_NPROCESSORS_ONLN);
    double pct = other / cap * 100;
    return pct < 0 ? 0 : pct;
}

static void fmt_opt(char *buf, size_t len, const char *fmt, double v)
{
    if (v >= 0)
        snprintf(buf, len, fmt, v);
    else
        snprintf(buf, len, "-");
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted ns values, in ms. */
static double pct_ms(const uint64_t *sorted, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t)(p * (double)n + 0.5);
    if (i < 1)
        i = 1;
    if (i > n)
        i = n;
    return (double)sorted[i - 1] / 1e6;
}

static void loadavg(char *out, size_t len)
{
    out[0] = 0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f)
        return;
    if (fgets(out, (int)len, f))
        out[strcspn(out, " ")] = 0; /* 1-minute figure */
    fclose(f);
}

/* ---- the KV cases ----------------------------------------------------- */

typedef struct run_s run_t;
typedef struct slot_s {
    run_t *r;
    uint64_t idx, t0;
} slot_t;

struct run_s {
    etcd_client_t *c;
    int op;
    unsigned conc;
    uint64_t max_ops, deadline;
    uint64_t started, completed, errors, unexpected;
    unsigned inflight;
    uint64_t *lat;
    int done;
    char last_err[160];
    const char *prefix;
    unsigned keyspace;
    const uint8_t *val;
    size_t vlen;
};

typedef struct result_s {
    uint64_t ops, errors, unexpected;
    double secs, ops_s, p50, p99, cli_us_op, etcd_us_op, other_pct;
} result_t;

static bool slot_start(slot_t *s);

static void slot_done(const etcd_result_t *res, void *data)
{
    slot_t *s = data;
    run_t *r = s->r;
    r->lat[s->idx] = now_ns() - s->t0;
    r->completed++;
    if (res->err) {
        r->errors++;
        snprintf(r->last_err, sizeof(r->last_err), "%s", res->message);
    } else if (r->op == OP_RANGE) {
        const Etcdserverpb__RangeResponse *rr = res->response;
        if (rr->n_kvs != 1)
            r->unexpected++;
    } else if (r->op == OP_TXN) {
        const Etcdserverpb__TxnResponse *tr = res->response;
        if (!tr->succeeded)
            r->unexpected++;
    }
    if (!slot_start(s) && --r->inflight == 0)
        r->done = 1;
}

static bool slot_start(slot_t *s)
{
    run_t *r = s->r;
    for (;;) {
        if (r->started >= r->max_ops || now_ns() >= r->deadline)
            return false;
        s->idx = r->started++;
        char key[256];
        int klen =
            snprintf(key, sizeof(key), "%s%010u", r->prefix, (unsigned)(s->idx % r->keyspace));
        int err;
        s->t0 = now_ns();
        if (r->op == OP_PUT) {
            Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
            req.key = (ProtobufCBinaryData){(size_t)klen, (uint8_t *)key};
            req.value = (ProtobufCBinaryData){r->vlen, (uint8_t *)r->val};
            err = etcd_kv_put(r->c, &req, NULL, slot_done, s);
        } else if (r->op == OP_RANGE) {
            Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
            etcd_range_init_key(&req, key, (size_t)klen);
            err = etcd_kv_range(r->c, &req, NULL, slot_done, s);
        } else {
            etcd_txn_t *t = etcd_txn_new();
            err = -ENOMEM;
            if (t && etcd_txn_cmp_version(t, key, (size_t)klen, ETCD_CMP_GREATER, 0) == 0 &&
                etcd_txn_put(t, ETCD_TXN_SUCCESS, key, (size_t)klen, r->val, r->vlen, 0) == 0 &&
                etcd_txn_request(t))
                err = etcd_kv_txn(r->c, etcd_txn_request(t), NULL, slot_done, s);
            etcd_txn_free(t);
        }
        if (err == 0)
            return true;
        /* Not started: count it and try the next one. */
        r->lat[s->idx] = 0;
        r->completed++;
        r->errors++;
        snprintf(r->last_err, sizeof(r->last_err), "%s", etcd_strerror(err));
    }
}

static int run_case(etcd_sync_t *sy, int op, unsigned conc, uint64_t max_ops, unsigned duration_ms,
                    result_t *out)
{
    uint8_t *val = malloc(O.val_size + 1);
    uint64_t *lat = calloc(max_ops, sizeof(*lat));
    slot_t *slots = calloc(conc, sizeof(*slots));
    if (!val || !lat || !slots) {
        free(val);
        free(lat);
        free(slots);
        return -ENOMEM;
    }
    memset(val, 'v', O.val_size);
    run_t r = {
        .c = etcd_sync_client(sy),
        .op = op,
        .conc = conc,
        .max_ops = max_ops,
        .lat = lat,
        .prefix = O.prefix,
        .keyspace = O.keyspace,
        .val = val,
        .vlen = O.val_size,
    };
    cpu_snap_t s0, s1;
    cpu_snap(&s0);
    uint64_t t0 = now_ns();
    r.deadline = t0 + (uint64_t)duration_ms * 1000000u;
    /* Counted in flight before they start: a callback may in principle
     * run inside the starting call (a request that fails at once). */
    r.inflight = conc;
    for (unsigned i = 0; i < conc; i++)
        slots[i].r = &r;
    for (unsigned i = 0; i < conc; i++)
        if (!slot_start(&slots[i]))
            r.inflight--;
    if (r.inflight)
        etcd_sync_run_until(sy, &r.done);
    uint64_t t1 = now_ns();
    cpu_snap(&s1);

    size_t n = r.completed;
    qsort(lat, n, sizeof(*lat), cmp_u64);
    memset(out, 0, sizeof(*out));
    out->ops = n;
    out->errors = r.errors;
    out->unexpected = r.unexpected;
    out->secs = (double)(t1 - t0) / 1e9;
    out->ops_s = (double)(n - r.errors) / out->secs;
    out->p50 = pct_ms(lat, n, 0.50);
    out->p99 = pct_ms(lat, n, 0.99);
    out->cli_us_op = n ? (s1.self - s0.self) * 1e6 / (double)n : 0;
    out->etcd_us_op =
        (s0.etcd >= 0 && s1.etcd >= 0 && n) ? (s1.etcd - s0.etcd) * 1e6 / (double)n : -1;
    out->other_pct = cpu_other_pct(&s0, &s1, 0);
    if (r.errors)
        fprintf(stderr, "etcd-bench: %s c=%u: %" PRIu64 " errors, last: %s\n", op_names[op], conc,
                r.errors, r.last_err);
    free(val);
    free(lat);
    free(slots);
    return 0;
}

static void print_row(const char *what, const char *op, unsigned conc, const result_t *r)
{
    char eu[32], ot[32];
    fmt_opt(eu, sizeof(eu), "%.1f", r->etcd_us_op);
    fmt_opt(ot, sizeof(ot), "%.0f", r->other_pct);
    printf("%-6s %-6s %6u %9" PRIu64 " %7.2f %10.0f %9.3f %9.3f %8.1f %8s %6s %6" PRIu64 "\n", what,
           op, conc, r->ops, r->secs, r->ops_s, r->p50, r->p99, r->cli_us_op, eu, ot,
           r->errors + r->unexpected);
    fflush(stdout);
}

static void print_header(void)
{
    printf("%-6s %-6s %6s %9s %7s %10s %9s %9s %8s %8s %6s %6s\n", "client", "op", "conc", "ops",
           "secs", "ops/s", "p50 ms", "p99 ms", "cli us", "etcd us", "other%", "errs");
}

/* ---- watch delivery --------------------------------------------------- */

#define WPREFIX "/bench/w/"
/* Bound on the events of one watch case (memory for the delays). */
#define WATCH_MAX_EVENTS 4000000u

typedef struct wput_s wput_t;
typedef struct wslot_s {
    wput_t *p;
    uint64_t seq;
} wslot_t;

/* The putter: its own client, loop and thread. Request `seq` writes the keys
 * WPREFIX<seq * batch + j>, j < batch: one Put, or one Txn of `batch` puts. */
struct wput_s {
    etcd_sync_t *sy;
    const char *endpoint;
    unsigned conc, batch;
    uint64_t max_ops, deadline_ns;
    _Atomic uint64_t *starts; /* request start, per seq; read by the watcher */
    uint64_t started, ok, errors;
    unsigned inflight;
    int done;
    uint64_t t_first, t_last; /* first start, last completion */
    atomic_int finished;      /* read by the watcher thread */
    atomic_uint_fast64_t ok_count;
    uint8_t *val;
    int err;
};

static bool wput_start(wslot_t *s);

static void wput_done(const etcd_result_t *res, void *data)
{
    wslot_t *s = data;
    wput_t *p = s->p;
    if (res->err)
        p->errors++;
    else
        p->ok++;
    p->t_last = now_ns();
    if (!wput_start(s) && --p->inflight == 0)
        p->done = 1;
}

static int wput_send(wput_t *p, wslot_t *s)
{
    char key[64];
    if (p->batch == 1) {
        int klen = snprintf(key, sizeof(key), WPREFIX "%010" PRIu64, s->seq);
        Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
        req.key = (ProtobufCBinaryData){(size_t)klen, (uint8_t *)key};
        req.value = (ProtobufCBinaryData){O.val_size, p->val};
        return etcd_kv_put(etcd_sync_client(p->sy), &req, NULL, wput_done, s);
    }
    etcd_txn_t *t = etcd_txn_new();
    int err = t ? 0 : -ENOMEM;
    for (unsigned j = 0; !err && j < p->batch; j++) {
        int klen = snprintf(key, sizeof(key), WPREFIX "%010" PRIu64, s->seq * p->batch + j);
        err = etcd_txn_put(t, ETCD_TXN_SUCCESS, key, (size_t)klen, p->val, O.val_size, 0);
    }
    if (!err)
        err = etcd_kv_txn(etcd_sync_client(p->sy), etcd_txn_request(t), NULL, wput_done, s);
    etcd_txn_free(t);
    return err;
}

static bool wput_start(wslot_t *s)
{
    wput_t *p = s->p;
    while (p->started < p->max_ops && now_ns() < p->deadline_ns) {
        s->seq = p->started++;
        atomic_store_explicit(&p->starts[s->seq], now_ns(), memory_order_release);
        if (wput_send(p, s) == 0)
            return true;
        p->errors++;
    }
    return false;
}

static void *wput_thread(void *arg)
{
    wput_t *p = arg;
    const char *eps[1] = {p->endpoint};
    etcd_config_t cfg = {.endpoints = eps, .n_endpoints = 1};
    wslot_t *slots = calloc(p->conc, sizeof(*slots));
    p->err = slots ? etcd_sync_new(&cfg, &p->sy) : -ENOMEM;
    if (p->err == 0) {
        /* Connect before the clock starts. */
        Mvccpb__KeyValue *kv = NULL;
        int e = etcd_sync_get(p->sy, "/bench/warmup", 13, &kv);
        etcd_response_free(kv);
        if (e < 0 && e != -ENOENT)
            p->err = e;
    }
    if (p->err == 0) {
        p->t_first = now_ns();
        p->deadline_ns = p->t_first + (uint64_t)O.duration_ms * 1000000u;
        p->inflight = p->conc; /* as in run_case */
        for (unsigned i = 0; i < p->conc; i++)
            slots[i].p = p;
        for (unsigned i = 0; i < p->conc; i++)
            if (!wput_start(&slots[i]))
                p->inflight--;
        if (p->inflight)
            etcd_sync_run_until(p->sy, &p->done);
    }
    atomic_store(&p->ok_count, p->ok);
    atomic_store(&p->finished, 1);
    etcd_sync_free(p->sy);
    free(slots);
    return NULL;
}

typedef struct wstate_s {
    wput_t *p;
    uint64_t *delays, max_events;
    uint64_t events, bad, t_last;
    int wdone;
    int err;
    char errmsg[128];
    uint64_t t_put_end;
    uv_timer_t timer;
} wstate_t;

static void watch_cb(etcd_watch_t *w, int err, int64_t revision, int64_t compact_revision,
                     Mvccpb__Event *const *events, size_t n_events, void *data)
{
    (void)w;
    (void)revision;
    (void)compact_revision;
    wstate_t *ws = data;
    uint64_t t = now_ns();
    if (err) {
        ws->err = err;
        snprintf(ws->errmsg, sizeof(ws->errmsg), "%s", etcd_strerror(err));
        ws->wdone = 1;
        return;
    }
    for (size_t i = 0; i < n_events; i++) {
        const Mvccpb__KeyValue *kv = events[i]->kv;
        size_t pl = sizeof(WPREFIX) - 1;
        char num[32];
        if (!kv || kv->key.len <= pl || kv->key.len - pl >= sizeof(num)) {
            ws->bad++;
            continue;
        }
        memcpy(num, kv->key.data + pl, kv->key.len - pl);
        num[kv->key.len - pl] = 0;
        uint64_t seq = strtoull(num, NULL, 10) / ws->p->batch;
        if (seq >= ws->p->max_ops || ws->events >= ws->max_events) {
            ws->bad++; /* not ours, or more events than puts: a duplicate */
            continue;
        }
        uint64_t st = atomic_load_explicit(&ws->p->starts[seq], memory_order_acquire);
        ws->delays[ws->events++] = st && t > st ? t - st : 0;
    }
    ws->t_last = t;
}

static void watch_tick(uv_timer_t *t)
{
    wstate_t *ws = t->data;
    if (!atomic_load(&ws->p->finished))
        return;
    uint64_t now = now_ns();
    if (!ws->t_put_end)
        ws->t_put_end = now;
    if (ws->events >= atomic_load(&ws->p->ok_count) * ws->p->batch ||
        now - ws->t_put_end > 5000000000ull /* 5 s grace */)
        ws->wdone = 1;
}

static void timer_closed(uv_handle_t *h)
{
    ((wstate_t *)h->data)->wdone = 1;
}

static void watch_header(void)
{
    printf("%-6s %-10s %6s %9s %9s %10s %9s %9s %8s %8s %6s %6s\n", "client", "watch", "conc",
           "events", "puts/s", "events/s", "p50 ms", "p99 ms", "cli us", "etcd us", "other%",
           "lost");
}

/* One watcher on WPREFIX (this client, this thread) while a second client
 * on its own thread writes under it at concurrency O.watch_conc, `batch`
 * keys per request. Delays run from the request's start to the event's
 * arrival. */
static int run_watch(etcd_sync_t *sy, const char *endpoint, unsigned batch)
{
    wput_t p = {.endpoint = endpoint, .conc = O.watch_conc, .batch = batch};
    p.max_ops = O.max_ops < WATCH_MAX_EVENTS / batch ? O.max_ops : WATCH_MAX_EVENTS / batch;
    wstate_t ws = {.p = &p, .max_events = p.max_ops * batch};
    p.starts = calloc(p.max_ops, sizeof(*p.starts));
    p.val = malloc(O.val_size + 1);
    ws.delays = calloc(ws.max_events, sizeof(*ws.delays));
    if (!p.starts || !p.val || !ws.delays) {
        free(p.starts);
        free(p.val);
        free(ws.delays);
        return -ENOMEM;
    }
    memset(p.val, 'w', O.val_size);

    /* Watch from the revision after a marker put: no event can be missed
     * even if the watch is created after the first puts land. */
    int64_t rev = 0;
    int err = etcd_sync_put(sy, "/bench/marker", 13, "m", 1, 0, &rev);
    etcd_watch_t *w = NULL;
    if (!err) {
        etcd_watch_opts_t wo = {
            .key = WPREFIX, .key_len = sizeof(WPREFIX) - 1, .prefix = 1, .start_revision = rev + 1};
        err = etcd_watch_start(etcd_sync_client(sy), &wo, watch_cb, &ws, &w);
    }
    if (err) {
        fprintf(stderr, "etcd-bench: watch: %s\n", etcd_sync_error(sy));
        free(p.starts);
        free(p.val);
        free(ws.delays);
        return err;
    }
    uv_timer_init(etcd_sync_loop(sy), &ws.timer);
    ws.timer.data = &ws;
    uv_timer_start(&ws.timer, watch_tick, 10, 10);

    /* CPU: this process holds both clients; the watcher's share is not
     * separable, so cli us is the whole process per event. */
    cpu_snap_t s0, s1;
    cpu_snap(&s0);
    pthread_t th;
    bool th_started = pthread_create(&th, NULL, wput_thread, &p) == 0;
    if (!th_started) {
        fprintf(stderr, "etcd-bench: watch: cannot start the putter thread\n");
        p.err = -EAGAIN;
        ws.wdone = 1;
    }
    etcd_sync_run_until(sy, &ws.wdone);
    if (th_started)
        pthread_join(th, NULL);
    cpu_snap(&s1);
    uv_timer_stop(&ws.timer);
    ws.wdone = 0;
    uv_close((uv_handle_t *)&ws.timer, timer_closed);
    etcd_watch_stop(w);

    if (p.err) {
        fprintf(stderr, "etcd-bench: watch: putter client: %s\n", etcd_strerror(p.err));
    } else {
        uint64_t want = p.ok * batch;
        double put_secs = (double)(p.t_last - p.t_first) / 1e9;
        double ev_secs = ws.t_last > p.t_first ? (double)(ws.t_last - p.t_first) / 1e9 : 0;
        qsort(ws.delays, ws.events, sizeof(*ws.delays), cmp_u64);
        char eu[32] = "-", ot[32], label[32];
        if (s0.etcd >= 0 && s1.etcd >= 0 && ws.events)
            snprintf(eu, sizeof(eu), "%.1f", (s1.etcd - s0.etcd) * 1e6 / (double)ws.events);
        fmt_opt(ot, sizeof(ot), "%.0f", cpu_other_pct(&s0, &s1, 0));
        if (batch == 1)
            snprintf(label, sizeof(label), "put");
        else
            snprintf(label, sizeof(label), "txn x%u", batch);
        printf("%-6s %-10s %6u %9" PRIu64 " %9.0f %10.0f %9.3f %9.3f %8.1f %8s %6s %6" PRIu64 "\n",
               "C", label, O.watch_conc, ws.events, put_secs > 0 ? (double)want / put_secs : 0,
               ev_secs > 0 ? (double)ws.events / ev_secs : 0, pct_ms(ws.delays, ws.events, 0.50),
               pct_ms(ws.delays, ws.events, 0.99),
               ws.events ? (s1.self - s0.self) * 1e6 / (double)ws.events : 0, eu, ot,
               want > ws.events ? want - ws.events : 0);
        fflush(stdout);
        if (p.errors || ws.bad || ws.err)
            fprintf(stderr,
                    "etcd-bench: watch: %" PRIu64 " put errors, %" PRIu64
                    " unexpected events%s%s\n",
                    p.errors, ws.bad, ws.err ? ", watch ended: " : "", ws.err ? ws.errmsg : "");
    }
    etcd_sync_run_until(sy, &ws.wdone); /* the timer's close */
    free(p.starts);
    free(p.val);
    free(ws.delays);
    return 0;
}

/* ---- the Go reference ------------------------------------------------- */

static int run_ref(const char *endpoint, int op, unsigned conc, result_t *out)
{
    char c_s[16], ops_s[24], dur_s[24], vs_s[24], ks_s[24];
    snprintf(c_s, sizeof(c_s), "%u", conc);
    snprintf(ops_s, sizeof(ops_s), "%" PRIu64, O.max_ops);
    snprintf(dur_s, sizeof(dur_s), "%ums", O.duration_ms);
    snprintf(vs_s, sizeof(vs_s), "%zu", O.val_size);
    snprintf(ks_s, sizeof(ks_s), "%u", O.keyspace);
    const char *argv[] = {O.ref, "-endpoint", endpoint, "-op",       op_names[op], "-concurrency",
                          c_s,   "-ops",      ops_s,    "-duration", dur_s,        "-val-size",
                          vs_s,  "-keyspace", ks_s,     "-prefix",   O.prefix,     NULL};
    int fds[2];
    if (pipe(fds) < 0)
        return -errno;
    cpu_snap_t s0, s1;
    cpu_snap(&s0);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -errno;
    }
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(O.ref, (char *const *)argv);
        fprintf(stderr, "etcd-bench: cannot run %s: %s\n", O.ref, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[512];
    int found = 0;
    memset(out, 0, sizeof(*out));
    while (f && fgets(line, sizeof(line), f)) {
        unsigned long long ops = 0, errs = 0;
        if (sscanf(line,
                   "GOREF op=%*s conc=%*u ops=%llu errors=%llu secs=%lf ops_s=%lf p50_ms=%lf "
                   "p99_ms=%lf cpu_us_op=%lf",
                   &ops, &errs, &out->secs, &out->ops_s, &out->p50, &out->p99,
                   &out->cli_us_op) == 7) {
            out->ops = ops;
            out->errors = errs;
            found = 1;
        }
    }
    if (f)
        fclose(f);
    else
        close(fds[0]);
    int st = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof(ru));
    wait4(pid, &st, 0, &ru);
    cpu_snap(&s1);
    double child = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                   (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    out->etcd_us_op = (s0.etcd >= 0 && s1.etcd >= 0 && out->ops)
                          ? (s1.etcd - s0.etcd) * 1e6 / (double)out->ops
                          : -1;
    out->other_pct = cpu_other_pct(&s0, &s1, child);
    if (!found || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "etcd-bench: reference run failed (status %d)\n", st);
        return -EIO;
    }
    return 0;
}

/* Default reference: etcd-goref beside our own executable. */
static char *find_ref(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 32);
    if (n <= 0)
        return NULL;
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (!slash)
        return NULL;
    strcpy(slash + 1, "etcd-goref");
    return access(self, X_OK) == 0 ? strdup(self) : NULL;
}

/* The reference comparison: per op and concurrency, O.ref_rounds pairs of
 * runs (ours, Go's) back to back, the order alternating, since etcd's state
 * (db size, revisions) grows during the run. The ratio is the median of the
 * pairs' ratios: robust against a pair disturbed by other load. */
static void run_ref_cases(etcd_sync_t *sy)
{
    if (!O.ref) {
        printf("reference: skipped (no etcd-goref; bench/etcd builds it, given "
               "Debian's golang-go and golang-etcd-server-dev)\n");
        return;
    }
    printf("reference: same ops/keys/value/concurrency; Go = %s (clientv3, 1 "
           "connection, N goroutines); %u rounds, alternating order\n",
           O.ref, O.ref_rounds);
    print_header();
    double q[3][16][20];
    size_t nq[3][16] = {{0}};
    double sum_c[3][16] = {{0}}, sum_g[3][16] = {{0}}, other[3][16] = {{0}};
    bool other_unknown = false;
    for (int op = OP_PUT; op <= OP_TXN; op++) {
        if (!O.ref_ops[op])
            continue;
        for (size_t i = 0; i < O.n_conc; i++) {
            for (unsigned k = 0; k < O.ref_rounds; k++) {
                result_t rc, rg;
                int ec, eg;
                if (k % 2 == 0) {
                    ec = run_case(sy, op, O.conc[i], O.max_ops, O.duration_ms, &rc);
                    eg = run_ref(O.endpoint, op, O.conc[i], &rg);
                } else {
                    eg = run_ref(O.endpoint, op, O.conc[i], &rg);
                    ec = run_case(sy, op, O.conc[i], O.max_ops, O.duration_ms, &rc);
                }
                if (ec == 0)
                    print_row("C", op_names[op], O.conc[i], &rc);
                if (eg == 0)
                    print_row("Go", op_names[op], O.conc[i], &rg);
                if (ec == 0 && eg == 0 && rg.ops_s > 0) {
                    q[op][i][nq[op][i]++] = rc.ops_s / rg.ops_s;
                    sum_c[op][i] += rc.ops_s;
                    sum_g[op][i] += rg.ops_s;
                    if (rc.other_pct < 0 || rg.other_pct < 0)
                        other_unknown = true;
                    if (rc.other_pct > other[op][i])
                        other[op][i] = rc.other_pct;
                    if (rg.other_pct > other[op][i])
                        other[op][i] = rg.other_pct;
                }
            }
        }
    }
    printf("\nratio C/Go of ops/s: median of the rounds [lowest, highest round] (sum over the "
           "rounds), other load\n");
    for (int op = OP_PUT; op <= OP_TXN; op++) {
        if (!O.ref_ops[op])
            continue;
        for (size_t i = 0; i < O.n_conc; i++) {
            size_t n = nq[op][i];
            if (!n) {
                printf("RATIO %-5s c=%-4u -  (no complete round)\n", op_names[op], O.conc[i]);
                continue;
            }
            double *v = q[op][i];
            qsort(v, n, sizeof(*v), cmp_double);
            double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
            char ot[32];
            fmt_opt(ot, sizeof(ot), "%.0f", other_unknown ? -1 : other[op][i]);
            printf("RATIO %-5s c=%-4u %.3f  [%.3f, %.3f]  (%.3f)  other%% <= %s\n", op_names[op],
                   O.conc[i], med, v[0], v[n - 1], sum_c[op][i] / sum_g[op][i], ot);
        }
    }
}

/* ---- main ------------------------------------------------------------- */

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) < 0)
        return 2;
    char *ref_found = NULL;
    if (!O.ref_given)
        O.ref = ref_found = find_ref();

    etcd_server_t *srv = NULL;
    if (!O.endpoint) {
        int err = etcd_server_start(&srv);
        if (err < 0) {
            fprintf(stderr, "etcd-bench: cannot start etcd: %s\n", strerror(-err));
            return 1;
        }
        O.endpoint = etcd_server_endpoint(srv);
        etcd_pid = etcd_server_pid(srv);
    }

    const char *eps[1] = {O.endpoint};
    etcd_config_t cfg = {.endpoints = eps, .n_endpoints = 1};
    etcd_sync_t *sy = NULL;
    int err = etcd_sync_new(&cfg, &sy);
    if (err < 0) {
        fprintf(stderr, "etcd-bench: client: %s\n", etcd_strerror(err));
        etcd_server_free(srv);
        return 1;
    }

    char la[32];
    loadavg(la, sizeof(la));
    printf("etcd-bench: etcd %s%s, value %zu B, keys %s%%010u (keyspace %u), "
           "per case %u ms or %" PRIu64 " ops; load avg %s, %ld cpus\n",
           O.endpoint, srv ? " (harness)" : "", O.val_size, O.prefix, O.keyspace, O.duration_ms,
           O.max_ops, la, sysconf(_SC_NPROCESSORS_ONLN));

    /* Preload every key, so that Range finds one and Txn's compare succeeds;
     * it also connects the channel before any clock starts. */
    result_t r;
    err = run_case(sy, OP_PUT, 128, O.keyspace, 60000, &r);
    if (err < 0 || r.errors) {
        fprintf(stderr, "etcd-bench: preload failed: %s\n", etcd_sync_error(sy));
        etcd_sync_free(sy);
        etcd_server_free(srv);
        return 1;
    }

    bool any = O.cases[OP_PUT] || O.cases[OP_RANGE] || O.cases[OP_TXN];
    if (any) {
        printf("\n");
        print_header();
    }
    for (int op = OP_PUT; op <= OP_TXN; op++) {
        if (!O.cases[op])
            continue;
        for (size_t i = 0; i < O.n_conc; i++) {
            if (run_case(sy, op, O.conc[i], O.max_ops, O.duration_ms, &r) == 0)
                print_row("C", op_names[op], O.conc[i], &r);
        }
    }

    /* The reference before the watch cases: those write hundreds of
     * thousands of new keys, after which etcd serves Range and Txn several
     * times slower (both clients alike). */
    if (!O.no_ref) {
        printf("\n");
        run_ref_cases(sy);
    }

    if (O.watch) {
        printf("\n");
        watch_header();
        run_watch(sy, O.endpoint, 1);
        if (O.watch_batch > 1)
            run_watch(sy, O.endpoint, O.watch_batch);
    }

    loadavg(la, sizeof(la));
    printf("\nload avg at end %s\n", la);
    etcd_sync_free(sy);
    etcd_server_free(srv);
    free(ref_found);
    return 0;
}

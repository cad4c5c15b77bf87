/*
 * The discovery write against a real etcd, judged from what etcd holds:
 * the 23 fixture reports create 23 machines with their MAC index and state;
 * a second report updates in place (same create_revision, same created
 * date); a MAC owned by another machine is refused and writes nothing; a
 * machine that stops reporting a NIC leaves the index; concurrent reports
 * from two clients on the same machine all land and leave the index
 * consistent. With group commit, concurrent reports of distinct machines
 * share Txns (several machines with one mod revision in etcd) and racing
 * reports of one machine still all land.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "etcd_test.h"
#include "model/discovery_op.h"
#include "model/keys.h"

static etcd_sync_t *cli;
static model_store_t store;

static char *slurp(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", ENJ_FIXTURES_DIR, name);
    FILE *f = fopen(path, "rb");
    CHECKF(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    CHECK(buf && fread(buf, 1, (size_t)n, f) == (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static model_discovery_t *fixture(int i)
{
    char name[64];
    size_t len;
    snprintf(name, sizeof name, "discovery-m%02d.json", i);
    char *body = slurp(name, &len);
    model_discovery_t *d = NULL;
    model_err_t err = {{0}};
    int rc = model_discovery_decode(body, len, &d, &err);
    CHECKF(rc == 0, "%s: %d %s", name, rc, err.msg);
    free(body);
    return d;
}

typedef struct run_s {
    model_discovery_op_t dop;
    int done, err;
    int64_t rev;
    int new_machine;
} run_t;

static void on_done(model_discovery_op_t *dop, int err, int64_t rev)
{
    run_t *r = (run_t *)dop;
    r->done = 1;
    r->err = err;
    r->rev = rev;
    r->new_machine = dop->new_machine;
}

static int is_done(void *arg)
{
    return ((run_t *)arg)->done;
}

static run_t run(model_store_t *st, etcd_sync_t *s, const model_discovery_t *d)
{
    run_t r;
    memset(&r, 0, sizeof r);
    CHECK_OK(model_discovery_op_start(st, &r.dop, d, on_done));
    CHECK(t_pump_until(s, is_done, &r, 10000));
    if (r.err)
        t_log("discovery op: %d (%s): %s", r.err, etcd_strerror(r.err), r.dop.op.err.msg);
    return r;
}

static Mvccpb__KeyValue *get(const char *kind, const char *id)
{
    char key[MODEL_KEY_MAX];
    model_key(key, sizeof key, store.prefix, kind, id);
    Mvccpb__KeyValue *kv = NULL;
    int rc = etcd_sync_get(cli, key, strlen(key), &kv);
    CHECKF(rc == 0 || rc == -ENOENT, "get %s: %d", key, rc);
    return kv;
}

static int64_t count(const char *kind)
{
    char key[MODEL_KEY_MAX];
    uint8_t end[MODEL_KEY_MAX];
    int n = model_key(key, sizeof key, store.prefix, kind, "");
    Etcdserverpb__RangeRequest rq;
    etcdserverpb__range_request__init(&rq);
    etcd_range_init_prefix(&rq, key, (size_t)n, end);
    rq.count_only = 1;
    Etcdserverpb__RangeResponse *rr = NULL;
    CHECK_OK(etcd_sync_range(cli, &rq, &rr));
    int64_t c = rr->count;
    etcd_response_free(rr);
    return c;
}

static void test_fixtures(void)
{
    for (int i = 1; i <= 23; i++) {
        model_discovery_t *d = fixture(i);
        run_t r = run(&store, cli, d);
        CHECKF(r.err == 0 && r.new_machine, "m%02d: err %d new %d", i, r.err, r.new_machine);
        Mvccpb__KeyValue *m = get(MODEL_K_MACHINES, d->uuid);
        Mvccpb__KeyValue *x = get(MODEL_K_MACS, d->boot_mac);
        Mvccpb__KeyValue *s = get(MODEL_K_STATES, d->boot_mac);
        CHECK(m && x && s);
        /* One transaction: all three written at the commit's revision. */
        CHECK(m->mod_revision == r.rev && x->mod_revision == r.rev && s->mod_revision == r.rev);
        CHECK(strstr((char *)s->value.data, "\"state\":\"discovery\"") != NULL);
        CHECK(strstr((char *)x->value.data, d->uuid) != NULL);
        etcd_response_free(m);
        etcd_response_free(x);
        etcd_response_free(s);
        model_discovery_free(d);
    }
    CHECK(count(MODEL_K_MACHINES) == 23 && count(MODEL_K_MACS) == 23 &&
          count(MODEL_K_STATES) == 23);
    t_log("23 fixtures stored: 23 machines, 23 MACs, 23 states");
}

static void test_update_in_place(void)
{
    model_discovery_t *d = fixture(1);
    Mvccpb__KeyValue *before = get(MODEL_K_MACHINES, d->uuid);
    t_sleep_ms(5); /* a later updated date */
    run_t r = run(&store, cli, d);
    CHECK(r.err == 0 && !r.new_machine);
    Mvccpb__KeyValue *after = get(MODEL_K_MACHINES, d->uuid);
    CHECK(after->create_revision == before->create_revision);
    CHECK(after->mod_revision == r.rev && after->version == before->version + 1);
    char *cb = strstr((char *)before->value.data, "\"created\":");
    char *ca = strstr((char *)after->value.data, "\"created\":");
    CHECK(cb && ca && strncmp(cb, ca, 40) == 0);
    CHECK(count(MODEL_K_MACHINES) == 23);
    etcd_response_free(before);
    etcd_response_free(after);
    model_discovery_free(d);
    t_log("second report: same key, same create_revision and created date");
}

static void test_mac_conflict(void)
{
    model_discovery_t *d = fixture(2);
    model_discovery_t *m1 = fixture(1);
    /* Another machine claims m01's boot MAC. */
    memcpy(d->uuid, "00000000-0000-4000-8000-000000000001", MODEL_UUID_LEN + 1);
    memcpy(d->ifaces[0].mac, m1->boot_mac, MODEL_MAC_LEN + 1);
    memcpy(d->boot_mac, m1->boot_mac, MODEL_MAC_LEN + 1);
    int64_t rev0 = t_current_revision(cli);
    run_t r = run(&store, cli, d);
    CHECK(r.err == -EEXIST);
    CHECK(strstr(r.dop.op.err.msg, m1->uuid) != NULL);
    CHECK(t_current_revision(cli) == rev0);
    model_discovery_free(d);
    model_discovery_free(m1);
    t_log("MAC owned by another machine: -EEXIST, nothing written");
}

static void test_nic_change(void)
{
    model_discovery_t *d = fixture(3);
    char old[MODEL_MAC_LEN + 1];
    memcpy(old, d->ifaces[0].mac, sizeof old);
    /* Same machine, its NIC replaced. */
    memcpy(d->ifaces[0].mac, "02:00:00:00:00:03", MODEL_MAC_LEN + 1);
    memcpy(d->boot_mac, "02:00:00:00:00:03", MODEL_MAC_LEN + 1);
    run_t r = run(&store, cli, d);
    CHECK(r.err == 0 && !r.new_machine);
    Mvccpb__KeyValue *gone = get(MODEL_K_MACS, old);
    Mvccpb__KeyValue *added = get(MODEL_K_MACS, "02:00:00:00:00:03");
    CHECK(gone == NULL && added != NULL && added->mod_revision == r.rev);
    etcd_response_free(added);
    CHECK(count(MODEL_K_MACS) == 23);
    model_discovery_free(d);
    t_log("replaced NIC: old MAC left the index in the same transaction");
}

static void test_race(const etcd_server_t *srv, unsigned batch_max)
{
    etcd_sync_t *cli2 = t_client(srv);
    model_store_t store2;
    CHECK_OK(model_store_init(&store2, etcd_sync_client(cli2), NULL));
    store.batch_max = store2.batch_max = batch_max;
    model_discovery_t *d = fixture(4);
    Mvccpb__KeyValue *before = get(MODEL_K_MACHINES, d->uuid);
    enum { N = 10 };
    run_t r[2 * N];
    memset(r, 0, sizeof r);
    /* Both clients start N writes of the same machine at once; their
     * loops are pumped in turn so the writes interleave at etcd. */
    for (int i = 0; i < N; i++) {
        CHECK_OK(model_discovery_op_start(&store, &r[i].dop, d, on_done));
        CHECK_OK(model_discovery_op_start(&store2, &r[N + i].dop, d, on_done));
    }
    uint64_t deadline = t_now_ms() + 20000;
    int all = 0;
    while (!all && t_now_ms() < deadline) {
        t_pump(cli, 2);
        t_pump(cli2, 2);
        all = 1;
        for (int i = 0; i < 2 * N; i++)
            all &= r[i].done;
    }
    CHECK(all);
    for (int i = 0; i < 2 * N; i++)
        CHECKF(r[i].err == 0, "racing write %d: %d %s", i, r[i].err, r[i].dop.op.err.msg);
    Mvccpb__KeyValue *after = get(MODEL_K_MACHINES, d->uuid);
    CHECK(after->create_revision == before->create_revision);
    CHECKF(after->version == before->version + 2 * N, "version %lld -> %lld",
           (long long)before->version, (long long)after->version);
    CHECK(count(MODEL_K_MACHINES) == 23 && count(MODEL_K_MACS) == 23);
    etcd_response_free(before);
    etcd_response_free(after);
    model_discovery_free(d);
    model_store_close(&store);
    model_store_close(&store2);
    t_pump(cli, 2);
    t_pump(cli2, 2);
    store.batch_max = 0;
    t_client_free(cli2);
    t_log("20 racing writes of one machine from two clients (group commit %s): all applied, "
          "one record",
          batch_max ? "on" : "off");
}

/* Fixture M01 as machine i: its own UUID and MACs. */
static model_discovery_t *machine(int i)
{
    size_t len;
    char *body = slurp("discovery-m01.json", &len);
    json_t *j = json_loadb(body, len, 0, NULL);
    free(body);
    char uuid[40], mac[20];
    snprintf(uuid, sizeof uuid, "0b0b0b0b-0000-4000-8000-%012d", i);
    snprintf(mac, sizeof mac, "02:0b:00:00:%02x:%02x", i / 256, i % 256);
    json_object_set_new(json_object_get(j, "boot-info"), "uuid", json_string(uuid));
    json_object_set_new(json_object_get(j, "boot-info"), "mac", json_string(mac));
    size_t k;
    json_t *itf;
    json_array_foreach(json_object_get(j, "interfaces"), k, itf)
    {
        if (json_string_length(json_object_get(itf, "mac"))) /* eth0; lo has none */
            json_object_set_new(itf, "mac", json_string(mac));
    }
    json_object_set_new(j, "lldp", json_pack("{s:b, s:{s:n}}", "is_file", 0, "data", "interfaces"));
    char *text = json_dumps(j, 0);
    json_decref(j);
    model_discovery_t *d = NULL;
    model_err_t err = {{0}};
    int rc = model_discovery_decode(text, strlen(text), &d, &err);
    CHECKF(rc == 0, "machine %d: %s", i, err.msg);
    free(text);
    return d;
}

static int all_done(void *arg)
{
    run_t *r = arg;
    for (int i = 0; i < 20; i++)
        if (!r[i].done)
            return 0;
    return 1;
}

/* Twenty new machines at once through a store with group commit: all land
 * with their index, in fewer Txns than machines (etcd's revisions say so). */
static void test_group_commit(void)
{
    model_store_t gs;
    CHECK_OK(model_store_init(&gs, etcd_sync_client(cli), NULL));
    gs.batch_max = 32;
    int64_t machines = count(MODEL_K_MACHINES), macs = count(MODEL_K_MACS);
    model_discovery_t *d[20];
    run_t r[20];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 20; i++) {
        d[i] = machine(i);
        CHECK_OK(model_discovery_op_start(&gs, &r[i].dop, d[i], on_done));
    }
    CHECK(t_pump_until(cli, all_done, r, 20000));
    int64_t revs[20];
    size_t distinct = 0;
    for (int i = 0; i < 20; i++) {
        CHECKF(r[i].err == 0, "machine %d: %d %s", i, r[i].err, r[i].dop.op.err.msg);
        Mvccpb__KeyValue *kv = get(MODEL_K_MACHINES, d[i]->uuid);
        Mvccpb__KeyValue *ix = get(MODEL_K_MACS, d[i]->boot_mac);
        CHECK(kv && ix && kv->mod_revision == ix->mod_revision && kv->mod_revision == r[i].rev);
        revs[i] = kv ? kv->mod_revision : 0;
        size_t k = 0;
        while (k < (size_t)i && revs[k] != revs[i])
            k++;
        distinct += k == (size_t)i;
        etcd_response_free(kv);
        etcd_response_free(ix);
    }
    CHECK(count(MODEL_K_MACHINES) == machines + 20);
    CHECK(count(MODEL_K_MACS) == macs + 20);
    CHECKF(distinct < 20, "20 machines in %zu Txns: nothing shared", distinct);
    for (int i = 0; i < 20; i++)
        model_discovery_free(d[i]);
    model_store_close(&gs);
    t_pump(cli, 2); /* the batch timer closes */
    t_log("group commit: 20 new machines in %zu Txns, all indexed", distinct);
}

/* etcd refuses a batch as such (here: more operations than its
 * --max-txn-ops allows, though each write alone fits): every write is sent
 * again on its own and lands. */
static void test_refused_batch(void)
{
    const char *args[] = {"--max-txn-ops", "16", NULL};
    etcd_server_t *small = t_server_start(args);
    etcd_sync_t *c = t_client(small);
    model_store_t gs;
    CHECK_OK(model_store_init(&gs, etcd_sync_client(c), NULL));
    gs.batch_max = 32;
    model_discovery_t *d[20];
    run_t r[20];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 20; i++) {
        d[i] = machine(100 + i);
        CHECK_OK(model_discovery_op_start(&gs, &r[i].dop, d[i], on_done));
    }
    CHECK(t_pump_until(c, all_done, r, 20000));
    for (int i = 0; i < 20; i++)
        CHECKF(r[i].err == 0, "machine %d: %d %s", i, r[i].err, r[i].dop.op.err.msg);
    for (int i = 0; i < 20; i++)
        model_discovery_free(d[i]);
    model_store_close(&gs);
    t_pump(c, 2);
    t_client_free(c);
    t_server_free(small);
    t_log("a batch over etcd's --max-txn-ops 16: refused whole, every write landed alone");
}

int main(void)
{
    etcd_server_t *srv = t_server_start(NULL);
    cli = t_client(srv);
    CHECK_OK(model_store_init(&store, etcd_sync_client(cli), NULL));
    test_fixtures();
    test_update_in_place();
    test_mac_conflict();
    test_nic_change();
    test_race(srv, 0);
    test_race(srv, 32);
    test_group_commit();
    test_refused_batch();
    t_client_free(cli);
    t_server_free(srv);
    t_log("test_discovery_op: all passed");
    return 0;
}

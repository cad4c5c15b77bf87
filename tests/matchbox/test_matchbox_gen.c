/* Unit tests of model/matchbox_gen.c: the spec's 3 control planes + 1 node
 * example (fixtures matchbox-*.json) reproduced byte for byte except the
 * deliberate fixes, and every fix on its own (stable ids, boot interface,
 * numeric order, collision-free CNI ranges inside the subnet). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../model/check.h"
#include "model/discovery.h"
#include "model/machine.h"
#include "model/matchbox_gen.h"
#include "model/records.h"
#include "model/validate.h"

#ifndef ENJ_FIXTURES_DIR
#error "ENJ_FIXTURES_DIR must name the spec fixtures directory"
#endif

#define CP MODEL_SYNC_ROLES_CONTROL_PLANE
#define NODE MODEL_SYNC_ROLES_NODE

/* ------------------------------------------------------------------ */
/* Helpers. */

/* strcmp that takes a missing value (NULL) as different. */
static int scmp(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b ? 0 : 1;
    return strcmp(a, b);
}

static char *slurp(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", ENJ_FIXTURES_DIR, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
        exit(1);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static model_machine_t *machine_from_json(const char *json)
{
    model_discovery_t *d = NULL;
    model_err_t err = {{0}};
    int rc = model_discovery_decode(json, strlen(json), &d, &err);
    if (rc != 0) {
        fprintf(stderr, "discovery decode: %d %s\n", rc, err.msg);
        exit(1);
    }
    model_machine_t *m = calloc(1, sizeof *m);
    if (m == NULL)
        exit(1);
    model_machine_from_discovery(m, d, NULL, 1000);
    model_discovery_free(d);
    return m;
}

static model_machine_t *fixture_machine(int i)
{
    char name[64];
    snprintf(name, sizeof name, "discovery-m%02d.json", i);
    char *text = slurp(name);
    model_machine_t *m = machine_from_json(text);
    free(text);
    return m;
}

static model_iface_t *boot_iface(model_machine_t *m)
{
    return (model_iface_t *)model_discovery_boot_iface(&m->facts);
}

/* A discovery body: ifaces = JSON array text, disks = JSON text. */
static model_machine_t *mk(const char *boot_mac, const char *ifaces, const char *disks)
{
    static unsigned seq;
    char body[4096];
    snprintf(body, sizeof body,
             "{\"boot-info\": {\"uuid\": \"00000000-0000-4000-8000-%012x\", \"mac\": \"%s\", "
             "\"random-id\": \"\"}, \"interfaces\": %s, \"disks\": %s, "
             "\"lldp\": {\"is_file\": false}}",
             ++seq, boot_mac, ifaces, disks);
    return machine_from_json(body);
}

/* One interface object. */
static const char *nic(char *buf, size_t size, const char *name, const char *mac, const char *cidr,
                       const char *gw, const char *fqdn)
{
    char ip[32];
    snprintf(ip, sizeof ip, "%s", cidr);
    char *slash = strchr(ip, '/');
    if (slash)
        *slash = '\0';
    snprintf(buf, size,
             "{\"name\": \"%s\", \"mac\": \"%s\", \"ipv4\": \"%s\", \"cidrv4\": \"%s\", "
             "\"gateway\": \"%s\"%s%s%s}",
             name, mac, ip, cidr, gw, fqdn ? ", \"fqdn\": [\"" : "", fqdn ? fqdn : "",
             fqdn ? "\"]" : "");
    return buf;
}

/* A one-NIC machine with one 20 GiB disk. */
static model_machine_t *mk1(const char *mac, const char *cidr, const char *gw, const char *fqdn)
{
    char n[512], arr[600];
    nic(n, sizeof n, "eth0", mac, cidr, gw, fqdn);
    snprintf(arr, sizeof arr, "[%s]", n);
    return mk(mac, arr, "[{\"path\": \"/dev/sda\", \"size-bytes\": 21474836480}]");
}

static const model_sync_file_t *find(const model_sync_files_t *f, const char *path)
{
    for (size_t i = 0; i < f->n; i++)
        if (scmp(f->files[i].path, path) == 0)
            return &f->files[i];
    return NULL;
}

/* The metadata of a group file, parsed (caller decrefs the root). */
static json_t *parse_file(const model_sync_file_t *f)
{
    json_error_t e;
    json_t *root = f ? json_loads(f->text, 0, &e) : NULL;
    CHECKF(root != NULL, "%s does not parse", f ? f->path : "(missing file)");
    return root;
}

static const char *md_str(json_t *root, const char *key)
{
    return json_string_value(json_object_get(json_object_get(root, "metadata"), key));
}

/* Replaces the only occurrence of `from` in *text by `to`. */
static void subst_once(char **text, const char *from, const char *to)
{
    char *p = strstr(*text, from);
    CHECKF(p != NULL && strstr(p + 1, from) == NULL, "%s: not exactly once", from);
    if (p == NULL)
        return;
    size_t pre = (size_t)(p - *text), fl = strlen(from), tl = strlen(to);
    size_t rest = strlen(p + fl);
    char *out = malloc(pre + tl + rest + 1);
    memcpy(out, *text, pre);
    memcpy(out + pre, to, tl);
    memcpy(out + pre + tl, p + fl, rest + 1);
    free(*text);
    *text = out;
}

static void check_bytes(const model_sync_file_t *f, const char *want, const char *what)
{
    CHECKF(f != NULL, "%s: file missing", what);
    if (f == NULL)
        return;
    CHECKF(f->len == strlen(want) && scmp(f->text, want) == 0,
           "%s differs:\n--- got\n%s\n--- want\n%s", what, f->text, want);
}

/* Parses the CNI range of a group file into host-order addresses. */
static void cni_range(const model_sync_file_t *f, uint32_t *start, uint32_t *end)
{
    json_t *root = parse_file(f);
    json_error_t e;
    json_t *cni = json_loads(md_str(root, "cni") ? md_str(root, "cni") : "", 0, &e);
    CHECK(cni != NULL);
    *start = *end = 0;
    model_ipv4_parse(json_string_value(json_object_get(cni, "rangeStart")), start, NULL, NULL);
    model_ipv4_parse(json_string_value(json_object_get(cni, "rangeEnd")), end, NULL, NULL);
    json_decref(cni);
    json_decref(root);
}

static model_sync_config_t base_config(void)
{
    model_sync_config_t c;
    model_sync_config_defaults(&c);
    c.api_uri = "http://172.20.0.1:5000";
    return c;
}

/* The entry of out->skipped for mac, or NULL. */
static const model_sync_skip_t *skipped(const model_sync_files_t *o, const char *mac)
{
    for (size_t i = 0; i < o->n_skipped; i++)
        if (strcmp(o->skipped[i].mac, mac) == 0)
            return &o->skipped[i];
    return NULL;
}

static int gen(const model_sync_config_t *c, model_sync_machine_t *in, size_t n,
               model_sync_files_t *out, model_err_t *err)
{
    memset(err, 0, sizeof *err);
    return model_sync_generate(c, in, n, out, err);
}

/* ------------------------------------------------------------------ */
/* The spec's example (7.5): M03, M02, M01 control plane, M04 node. */

static char *ssh_key; /* the fixture's placeholder */
static model_machine_t *fx[5];

static void load_fixture_machines(void)
{
    for (int i = 1; i <= 4; i++)
        fx[i] = fixture_machine(i);
    /* The original's DNS check dropped M01's FQDN (the fixture has none). */
    boot_iface(fx[1])->fqdn[0] = '\0';
    char *g = slurp("matchbox-group-discovery.json");
    json_t *root = json_loads(g, 0, NULL);
    json_t *keys = json_object_get(json_object_get(root, "metadata"), "ssh_authorized_keys");
    ssh_key = strdup(json_string_value(json_array_get(keys, 0)));
    json_decref(root);
    free(g);
}

static model_sync_config_t fixture_config(const char **keys)
{
    model_sync_config_t c = base_config();
    keys[0] = ssh_key;
    c.ssh_authorized_keys = keys;
    c.n_ssh_authorized_keys = 1;
    return c;
}

struct expect_group {
    const char *fixture, *path, *old_net, *new_net;
};

static void test_fixture_example(void)
{
    const char *keys[1];
    model_sync_config_t c = fixture_config(keys);
    model_sync_machine_t in[] = {{fx[3], CP, 0, 0, NULL},
                                 {fx[2], CP, 0, 0, NULL},
                                 {fx[1], CP, 0, 0, NULL},
                                 {fx[4], NODE, 0, 0, NULL}};
    model_sync_files_t out;
    model_err_t err;
    int rc = gen(&c, in, 4, &out, &err);
    CHECKF(rc == 0, "rc %d: %s", rc, err.msg);
    if (rc != 0)
        return;

    /* The complete desired state, sorted by path. */
    const char *paths[] = {
        "groups/discovery.json",
        "groups/etcd_member_kubernetes_control_plane-5254005b4535.json", /* M03 */
        "groups/etcd_member_kubernetes_control_plane-525400a524f5.json", /* M02 */
        "groups/etcd_member_kubernetes_control_plane-525400e8325b.json", /* M01 */
        "groups/kubernetes_nodes-525400ea6f41.json",                     /* M04 */
        "profiles/discovery.json",
        "profiles/etcd_member_kubernetes_control_plane.json",
        "profiles/kubernetes_nodes.json",
    };
    CHECKF(out.n == 8, "%zu files", out.n);
    for (size_t i = 0; i < out.n && i < 8; i++)
        CHECKF(scmp(out.files[i].path, paths[i]) == 0, "file %zu: %s, want %s", i,
               out.files[i].path, paths[i]);

    /* Profiles and the discovery group: the fixtures' exact bytes (2-space
     * indent, sorted keys, trailing newline). */
    const char *same[][2] = {
        {"profiles/discovery.json", "matchbox-profile-discovery.json"},
        {"profiles/etcd_member_kubernetes_control_plane.json",
         "matchbox-profile-etcd_member_kubernetes_control_plane.json"},
        {"profiles/kubernetes_nodes.json", "matchbox-profile-kubernetes_nodes.json"},
        {"groups/discovery.json", "matchbox-group-discovery.json"},
    };
    for (size_t i = 0; i < 4; i++) {
        char *want = slurp(same[i][1]);
        check_bytes(find(&out, same[i][0]), want, same[i][1]);
        free(want);
    }

    /* Machine groups: the fixture's bytes with exactly two deliberate
     * changes, the id (#7: role + MAC instead of the list position) and the
     * CNI range (#9: the original's 172.20.<last octet>.x lies outside
     * 172.20.0.0/21; here the machines in IP order .51 .63 .65 .97 take the
     * free blocks 1, 2, 3, 4 of the /21, block 0 holding the hosts). */
    const struct expect_group groups[] = {
        {"matchbox-group-etcd_member_kubernetes_control_plane-0.json",
         "groups/etcd_member_kubernetes_control_plane-5254005b4535.json", "172.20.63.",
         "172.20.2."},
        {"matchbox-group-etcd_member_kubernetes_control_plane-1.json",
         "groups/etcd_member_kubernetes_control_plane-525400a524f5.json", "172.20.51.",
         "172.20.1."},
        {"matchbox-group-etcd_member_kubernetes_control_plane-2.json",
         "groups/etcd_member_kubernetes_control_plane-525400e8325b.json", "172.20.65.",
         "172.20.3."},
        {"matchbox-group-kubernetes_nodes-0.json", "groups/kubernetes_nodes-525400ea6f41.json",
         "172.20.97.", "172.20.4."},
    };
    for (size_t i = 0; i < 4; i++) {
        char *want = slurp(groups[i].fixture);
        const model_sync_file_t *f = find(&out, groups[i].path);
        char from[128], to[128];
        /* "id": "<old>" -> "id": "<new>" */
        const char *old_id = strchr(groups[i].fixture, '-') + 1; /* after "matchbox-" */
        old_id = strchr(old_id, '-') + 1;                        /* after "group-" */
        snprintf(from, sizeof from, "\"id\": \"%.*s\"", (int)(strlen(old_id) - 5), old_id);
        snprintf(to, sizeof to, "\"id\": \"%s\"", f ? f->id : "?");
        subst_once(&want, from, to);
        snprintf(from, sizeof from, "\\\"rangeEnd\\\": \\\"%s254\\\"", groups[i].old_net);
        snprintf(to, sizeof to, "\\\"rangeEnd\\\": \\\"%s254\\\"", groups[i].new_net);
        subst_once(&want, from, to);
        snprintf(from, sizeof from, "\\\"rangeStart\\\": \\\"%s1\\\"", groups[i].old_net);
        snprintf(to, sizeof to, "\\\"rangeStart\\\": \\\"%s1\\\"", groups[i].new_net);
        subst_once(&want, from, to);
        check_bytes(f, want, groups[i].fixture);
        free(want);
    }

    /* The group id is the one model_sync_group_id() gives. */
    char id[64];
    CHECK(model_sync_group_id(CP, "52:54:00:5b:45:35", id, sizeof id) > 0 &&
          scmp(id, "etcd_member_kubernetes_control_plane-5254005b4535") == 0);
    CHECK(model_sync_group_id(NODE, "52:54:00:ea:6f:41", id, sizeof id) > 0 &&
          scmp(id, "kubernetes_nodes-525400ea6f41") == 0);
    CHECK(model_sync_group_id(MODEL_ROLE_ETCD_MEMBER, "52:54:00:ea:6f:41", id, sizeof id) ==
          -EINVAL);
    CHECK(model_sync_group_id(NODE, "52:54:00:EA:6F:41", id, sizeof id) == -EINVAL);
    CHECK(model_sync_group_id(NODE, "52:54:00:ea:6f:41", id, 10) == -ENAMETOOLONG);
    const model_sync_file_t *g0 = find(&out, paths[1]);
    CHECK(g0 && g0->kind == MODEL_SYNC_GROUP && scmp(g0->mac, "52:54:00:5b:45:35") == 0);
    const model_sync_file_t *p0 = find(&out, paths[5]);
    CHECK(p0 && p0->kind == MODEL_SYNC_PROFILE && p0->mac[0] == '\0');

    /* The new values, asserted on their own: numeric IP order (the same as
     * the string order for these three) and non-overlapping ranges inside
     * the subnet. */
    json_t *root = parse_file(g0);
    CHECK(scmp(md_str(root, "etcd_member_kubernetes_control_plane_ip_list"),
               "172.20.0.51,172.20.0.63,172.20.0.65") == 0);
    CHECK(scmp(md_str(root, "cni"),
               "{\"dataDir\": \"/var/lib/cni/networks\", \"gateway\": \"172.20.0.1\", "
               "\"rangeEnd\": \"172.20.2.254\", \"rangeStart\": \"172.20.2.1\", \"routes\": "
               "[{\"dst\": \"172.30.0.0/24\", \"gw\": \"172.20.0.63\"}, {\"dst\": "
               "\"0.0.0.0/0\"}], \"subnet\": \"172.20.0.0/21\", \"type\": \"host-local\"}") == 0);
    json_decref(root);
    uint32_t s[4], e[4], net = (172u << 24) | (20u << 16);
    for (size_t i = 0; i < 4; i++) {
        cni_range(find(&out, groups[i].path), &s[i], &e[i]);
        CHECKF(s[i] > net && e[i] < net + 2047 && s[i] <= e[i], "range %zu outside /21", i);
        CHECKF(e[i] - s[i] == 253, "range %zu holds %u addresses", i, e[i] - s[i] + 1);
        for (size_t j = 0; j < i; j++)
            CHECKF(e[i] < s[j] || e[j] < s[i], "ranges %zu and %zu overlap", i, j);
    }
    model_sync_files_free(&out);
    CHECK(out.files == NULL && out.n == 0);
}

/* Same machines in other orders: same bytes. */
static void test_determinism(void)
{
    const char *keys[1];
    model_sync_config_t c = fixture_config(keys);
    model_sync_machine_t a[] = {{fx[3], CP, 0, 0, NULL},
                                {fx[2], CP, 0, 0, NULL},
                                {fx[1], CP, 0, 0, NULL},
                                {fx[4], NODE, 0, 0, NULL}};
    model_sync_machine_t b[] = {{fx[4], NODE, 0, 0, NULL},
                                {fx[1], CP, 0, 0, NULL},
                                {fx[3], CP, 0, 0, NULL},
                                {fx[2], CP, 0, 0, NULL}};
    model_sync_machine_t d[] = {{fx[2], CP, 0, 0, NULL},
                                {fx[4], NODE, 0, 0, NULL},
                                {fx[1], CP, 0, 0, NULL},
                                {fx[3], CP, 0, 0, NULL}};
    model_sync_files_t oa, ob, od;
    model_err_t err;
    CHECK(gen(&c, a, 4, &oa, &err) == 0);
    CHECK(gen(&c, b, 4, &ob, &err) == 0);
    CHECK(gen(&c, d, 4, &od, &err) == 0);
    CHECK(oa.n == ob.n && oa.n == od.n);
    for (size_t i = 0; i < oa.n && i < ob.n && i < od.n; i++) {
        CHECKF(scmp(oa.files[i].path, ob.files[i].path) == 0 &&
                   scmp(oa.files[i].text, ob.files[i].text) == 0,
               "%s differs with another input order", oa.files[i].path);
        CHECKF(scmp(oa.files[i].path, od.files[i].path) == 0 &&
                   scmp(oa.files[i].text, od.files[i].text) == 0,
               "%s differs with another input order", oa.files[i].path);
    }
    model_sync_files_free(&oa);
    model_sync_files_free(&ob);
    model_sync_files_free(&od);
}

/* The example's M03, M02, M01 (control plane), M04 (node), then `extra`
 * as a node: 5 entries, nothing recorded. */
static void example_inputs(model_sync_machine_t in[5], model_machine_t *extra)
{
    const model_sync_machine_t v[5] = {{fx[3], CP, 0, 0, NULL},
                                       {fx[2], CP, 0, 0, NULL},
                                       {fx[1], CP, 0, 0, NULL},
                                       {fx[4], NODE, 0, 0, NULL},
                                       {extra, NODE, 0, 0, NULL}};
    memcpy(in, v, sizeof v);
}

/* #7: a new machine with a lower MAC renames no group; with the name
 * indexes of a first pass fed back, it renames no machine either. */
static void test_stable_ids(void)
{
    const char *keys[1];
    model_sync_config_t c = fixture_config(keys);
    model_machine_t *low = mk1("52:54:00:00:00:01", "172.20.0.70/21", "172.20.0.1", NULL);
    model_sync_machine_t a[5], b[5];
    example_inputs(a, low);
    example_inputs(b, low);
    model_sync_files_t oa, ob;
    model_err_t err;
    CHECK(gen(&c, a, 4, &oa, &err) == 0);
    CHECKF(gen(&c, b, 5, &ob, &err) == 0, "%s", err.msg);
    CHECK(ob.n == oa.n + 1);
    for (size_t i = 0; i < oa.n; i++)
        if (oa.files[i].kind == MODEL_SYNC_GROUP)
            CHECKF(find(&ob, oa.files[i].path) != NULL, "%s gone", oa.files[i].path);
    const model_sync_file_t *f = find(&ob, "groups/kubernetes_nodes-525400000001.json");
    CHECK(f != NULL);
    json_t *root = parse_file(f);
    /* Its automatic name takes index 0 of the nodes (the original's rule). */
    CHECK(root && scmp(md_str(root, "hostname"), "no-0-172-20-0-70") == 0);
    json_decref(root);
    root = parse_file(find(&ob, "groups/kubernetes_nodes-525400ea6f41.json"));
    CHECK(root && scmp(md_str(root, "hostname"), "no-1-172-20-0-97") == 0);
    json_decref(root);
    model_sync_files_free(&ob);

    /* Fed what the first pass gave (name indexes, pod ranges), nobody is
     * renamed: the newcomer takes the lowest free index of its set. */
    model_sync_machine_t c2[5];
    for (size_t i = 0; i < 5; i++) {
        c2[i] = b[i];
        const model_iface_t *bi = model_discovery_boot_iface(&b[i].m->facts);
        for (size_t k = 0; k < oa.n; k++)
            if (strcmp(oa.files[k].mac, bi->mac) == 0) {
                c2[i].pod_start = oa.files[k].pod_start;
                c2[i].name_slot = oa.files[k].name_index + 1;
            }
    }
    CHECK(gen(&c, c2, 5, &ob, &err) == 0);
    for (size_t i = 0; i < oa.n; i++)
        CHECKF(scmp(find(&ob, oa.files[i].path)->text, oa.files[i].text) == 0, "%s changed",
               oa.files[i].path);
    root = parse_file(find(&ob, "groups/kubernetes_nodes-525400000001.json"));
    CHECK(root && scmp(md_str(root, "hostname"), "no-1-172-20-0-70") == 0);
    json_decref(root);
    model_sync_files_free(&oa);
    model_sync_files_free(&ob);
    free(low);
}

/* The facts read from a stored record are those of the decoded machine. */
static void test_facts_from_record(void)
{
    for (int i = 1; i <= 4; i++) {
        model_sync_facts_t a, b;
        model_sync_facts_from(fx[i], &a);
        json_t *rec = model_machine_encode(fx[i]);
        CHECKF(rec && model_rec_sync_facts(rec, &b) == 0, "fixture %d", i);
        CHECKF(memcmp(&a, &b, sizeof a) == 0, "fixture %d: facts differ", i);
        json_decref(rec);
    }
    json_t *bad = json_pack("{s:s}", "uuid", "");
    model_sync_facts_t f;
    CHECK(model_rec_sync_facts(bad, &f) == -EINVAL);
    json_decref(bad);
}

/* A caller that keeps the texts gets only what changed rendered. */
static void test_reusing(void)
{
    const char *keys[1];
    model_sync_config_t c = fixture_config(keys);
    model_machine_t *low = mk1("52:54:00:00:00:01", "172.20.0.70/21", "172.20.0.1", NULL);
    model_sync_machine_t a[5];
    example_inputs(a, low);
    model_sync_files_t first, again;
    model_err_t err;
    CHECK(gen(&c, a, 4, &first, &err) == 0);
    for (size_t i = 0; i < 4; i++) { /* feed back what the first call gave */
        const model_iface_t *b = model_discovery_boot_iface(&a[i].m->facts);
        for (size_t k = 0; k < first.n; k++)
            if (strcmp(first.files[k].mac, b->mac) == 0) {
                a[i].pod_start = first.files[k].pod_start;
                a[i].name_slot = first.files[k].name_index + 1;
            }
    }
    bool reuse[5] = {true, true, true, true, false};
    CHECK(model_sync_generate_reusing(&c, a, 4, reuse, first.digest, &again, &err) == 0);
    size_t reused = 0;
    for (size_t i = 0; i < again.n; i++) {
        reused += again.files[i].reused;
        CHECK(scmp(again.files[i].path, first.files[i].path) == 0);
        CHECK(again.files[i].reused == (again.files[i].text == NULL));
        CHECK(again.files[i].pod_start == first.files[i].pod_start);
    }
    CHECKF(reused == 4 && again.digest == first.digest, "%zu reused", reused);
    model_sync_files_free(&again);

    /* A node joins: only its group is rendered (E is unchanged). */
    CHECK(model_sync_generate_reusing(&c, a, 5, reuse, first.digest, &again, &err) == 0);
    const model_sync_file_t *f = find(&again, "groups/kubernetes_nodes-525400000001.json");
    CHECK(f && !f->reused && f->text);
    reused = 0;
    for (size_t i = 0; i < again.n; i++)
        reused += again.files[i].reused;
    CHECK(reused == 4);
    model_sync_files_free(&again);

    /* Another digest (say, the SSH keys changed): everything is rendered,
     * and to the same texts as without reuse. */
    CHECK(model_sync_generate_reusing(&c, a, 4, reuse, first.digest + 1, &again, &err) == 0);
    for (size_t i = 0; i < again.n; i++)
        CHECK(!again.files[i].reused && scmp(again.files[i].text, first.files[i].text) == 0);
    model_sync_files_free(&again);

    /* A recorded allocation that differs from the one kept: rendered. */
    a[3].pod_start = 0;
    CHECK(model_sync_generate_reusing(&c, a, 4, reuse, first.digest, &again, &err) == 0);
    f = find(&again, "groups/kubernetes_nodes-525400ea6f41.json");
    CHECK(f && !f->reused);
    model_sync_files_free(&again);
    model_sync_files_free(&first);
    free(low);
}

/* Automatic names for machines without FQDN, dns_attr for one with. */
static void test_names(void)
{
    model_sync_config_t c = base_config();
    c.sync_replace_ip_by_fqdn = true;
    model_machine_t *a =
        mk1("52:54:00:00:00:0a", "10.0.0.10/16", "10.0.0.1", "r13-srv3.dc-1.foo.bar.cr.");
    model_machine_t *b = mk1("52:54:00:00:00:0b", "10.0.0.11/16", "10.0.0.1", NULL);
    model_machine_t *d = mk1("52:54:00:00:00:0c", "10.0.0.12/16", "10.0.0.1", NULL);
    model_machine_t *h = mk1("52:54:00:00:00:0d", "10.0.0.13/16", "10.0.0.1", "host");
    model_sync_machine_t in[] = {
        {a, CP, 0, 0, NULL}, {b, CP, 0, 0, NULL}, {d, NODE, 0, 0, NULL}, {h, NODE, 0, 0, NULL}};
    model_sync_files_t out;
    model_err_t err;
    int rc = gen(&c, in, 4, &out, &err);
    CHECKF(rc == 0, "%s", err.msg);

    json_t *ra =
        parse_file(find(&out, "groups/etcd_member_kubernetes_control_plane-52540000000a.json"));
    json_t *dns = json_object_get(json_object_get(ra, "metadata"), "dns_attr");
    json_t *want = json_pack("{s:s,s:s,s:s,s:s,s:s}", "shortname", "r13-srv3", "dc", "dc-1",
                             "domain", "dc-1.foo.bar.cr", "rack", "13", "pos", "3");
    CHECK(json_equal(dns, want));
    json_decref(want);
    CHECK(scmp(md_str(ra, "hostname"), "r13-srv3") == 0);
    CHECK(scmp(md_str(ra, "kubernetes_node_name"), "r13-srv3.dc-1.foo.bar.cr") == 0);
    json_t *hosts = json_object_get(json_object_get(ra, "metadata"), "etc_hosts");
    CHECK(json_array_size(hosts) == 2 && scmp(json_string_value(json_array_get(hosts, 1)),
                                              "127.0.1.1 r13-srv3.dc-1.foo.bar.cr r13-srv3") == 0);
    json_t *nw = json_object_get(json_object_get(ra, "metadata"), "network");
    CHECK(scmp(json_string_value(json_object_get(nw, "ip_or_fqdn")), "r13-srv3.dc-1.foo.bar.cr") ==
          0);

    json_t *rb =
        parse_file(find(&out, "groups/etcd_member_kubernetes_control_plane-52540000000b.json"));
    CHECK(scmp(md_str(rb, "hostname"), "cp-1-10-0-0-11") == 0);
    CHECK(scmp(md_str(rb, "kubernetes_node_name"), "10.0.0.11") == 0);
    nw = json_object_get(json_object_get(rb, "metadata"), "network");
    /* ip_or_fqdn takes the automatic name too (the original's variable). */
    CHECK(scmp(json_string_value(json_object_get(nw, "ip_or_fqdn")), "cp-1-10-0-0-11") == 0);
    CHECK(json_integer_value(
              json_object_get(json_object_get(rb, "metadata"), "kubernetes_apiserver_count")) == 2);

    json_t *rd = parse_file(find(&out, "groups/kubernetes_nodes-52540000000c.json"));
    CHECK(scmp(md_str(rd, "hostname"), "no-0-10-0-0-12") == 0);
    CHECK(scmp(md_str(rd, "roles"), "kubernetes-node") == 0);
    /* No CP-only key on a node. */
    json_t *md = json_object_get(rd, "metadata");
    CHECK(json_object_get(md, "kubernetes_apiserver_count") == NULL);
    CHECK(json_object_get(md, "kubernetes_apiserver_insecure_bind_address") == NULL);
    CHECK(json_object_get(md, "fleet_etcd_peer_port") == NULL);
    CHECK(json_object_get(md, "vault_etcd_member_peer_uri_list") == NULL);
    CHECK(json_object_get(md, "kubernetes_apiserver_insecure_port") != NULL);

    /* A one-label FQDN: no dc/domain/rack/pos, name kept. */
    json_t *rh = parse_file(find(&out, "groups/kubernetes_nodes-52540000000d.json"));
    dns = json_object_get(json_object_get(rh, "metadata"), "dns_attr");
    want = json_pack("{s:s,s:s,s:s,s:s,s:s}", "shortname", "host", "dc", "", "domain", "", "rack",
                     "", "pos", "");
    CHECK(json_equal(dns, want));
    json_decref(want);
    CHECK(scmp(md_str(rh, "kubernetes_node_name"), "host") == 0);
    json_decref(ra);
    json_decref(rb);
    json_decref(rd);
    json_decref(rh);
    model_sync_files_free(&out);
    free(a);
    free(b);
    free(d);
    free(h);
}

/* #8: 10.0.0.9 < 10.0.0.10 < 10.0.0.100. */
static void test_numeric_order(void)
{
    model_sync_config_t c = base_config();
    model_machine_t *a = mk1("52:54:00:00:00:01", "10.0.0.100/16", "10.0.0.1", NULL);
    model_machine_t *b = mk1("52:54:00:00:00:02", "10.0.0.9/16", "10.0.0.1", NULL);
    model_machine_t *d = mk1("52:54:00:00:00:03", "10.0.0.10/16", "10.0.0.1", NULL);
    model_sync_machine_t in[] = {{a, CP, 0, 0, NULL}, {b, CP, 0, 0, NULL}, {d, CP, 0, 0, NULL}};
    model_sync_files_t out;
    model_err_t err;
    int rc = gen(&c, in, 3, &out, &err);
    CHECKF(rc == 0, "%s", err.msg);
    json_t *r =
        parse_file(find(&out, "groups/etcd_member_kubernetes_control_plane-525400000001.json"));
    CHECK(scmp(md_str(r, "vault_ip_list"), "10.0.0.9,10.0.0.10,10.0.0.100") == 0);
    CHECK(scmp(md_str(r, "kubernetes_etcd_initial_cluster"),
               "10.0.0.9=https://10.0.0.9:7003,10.0.0.10=https://10.0.0.10:7003,"
               "10.0.0.100=https://10.0.0.100:7003") == 0);
    CHECK(scmp(md_str(r, "fleet_etcd_member_client_uri_list"),
               "https://10.0.0.9:4001,https://10.0.0.10:4001,https://10.0.0.100:4001") == 0);
    json_t *e =
        json_object_get(json_object_get(r, "metadata"), "etcd_member_kubernetes_control_plane_ip");
    CHECK(json_array_size(e) == 3 &&
          scmp(json_string_value(json_array_get(e, 0)), "10.0.0.9") == 0 &&
          scmp(json_string_value(json_array_get(e, 2)), "10.0.0.100") == 0);
    json_decref(r);
    model_sync_files_free(&out);
    free(a);
    free(b);
    free(d);
}

/* #9: equal last octets in different /24s of one /16. The original gave
 * both 10.1.10.1-10.1.10.254. */
static void test_cni_same_last_octet(void)
{
    model_sync_config_t c = base_config();
    model_machine_t *a = mk1("52:54:00:00:01:0a", "10.1.0.10/16", "10.1.0.1", NULL);
    model_machine_t *b = mk1("52:54:00:00:02:0a", "10.1.1.10/16", "10.1.0.1", NULL);
    model_sync_machine_t in[] = {{b, NODE, 0, 0, NULL}, {a, NODE, 0, 0, NULL}};
    model_sync_files_t out;
    model_err_t err;
    int rc = gen(&c, in, 2, &out, &err);
    CHECKF(rc == 0, "%s", err.msg);
    uint32_t sa, ea, sb, eb;
    cni_range(find(&out, "groups/kubernetes_nodes-52540000010a.json"), &sa, &ea);
    cni_range(find(&out, "groups/kubernetes_nodes-52540000020a.json"), &sb, &eb);
    CHECK(ea < sb || eb < sa);
    char x[16], y[16];
    /* Blocks 10.1.0.x and 10.1.1.x hold the hosts: the next two are used. */
    CHECKF(scmp(model_ipv4_format(sa, x), "10.1.2.1") == 0 &&
               scmp(model_ipv4_format(ea, y), "10.1.2.254") == 0,
           "%s-%s", x, y);
    CHECKF(scmp(model_ipv4_format(sb, x), "10.1.3.1") == 0 &&
               scmp(model_ipv4_format(eb, y), "10.1.3.254") == 0,
           "%s-%s", x, y);
    json_t *r = parse_file(find(&out, "groups/kubernetes_nodes-52540000020a.json"));
    json_t *nw = json_object_get(json_object_get(r, "metadata"), "network");
    CHECK(scmp(json_string_value(json_object_get(nw, "subnet")), "10.1.0.0/16") == 0);
    json_decref(r);
    model_sync_files_free(&out);
    free(a);
    free(b);
}

/* A /30 cannot hold a block of 256: that machine is skipped, naming its
 * network; the others are synced all the same. */
static void test_cni_too_small(void)
{
    model_sync_config_t c = base_config();
    model_machine_t *ok = mk1("52:54:00:00:00:01", "10.0.0.10/16", "10.0.0.1", NULL);
    model_machine_t *a = mk1("52:54:00:00:00:aa", "192.168.7.2/30", "192.168.7.1", NULL);
    model_sync_machine_t in[] = {{ok, CP, 0, 0, NULL}, {a, NODE, 0, 0, NULL}};
    model_sync_files_t out;
    model_err_t err;
    int rc = gen(&c, in, 2, &out, &err);
    CHECKF(rc == 0, "rc %d", rc);
    CHECK(out.n == 5 && out.n_skipped == 1);
    CHECK(find(&out, "groups/etcd_member_kubernetes_control_plane-525400000001.json") != NULL);
    CHECK(find(&out, "groups/kubernetes_nodes-5254000000aa.json") == NULL);
    const model_sync_skip_t *sk = skipped(&out, "52:54:00:00:00:aa");
    CHECK(sk && sk->error == -ENOSPC);
    CHECKF(sk && strstr(sk->msg, "machine 52:54:00:00:00:aa (192.168.7.2)") == sk->msg, "%s",
           sk ? sk->msg : "");
    CHECKF(sk && strstr(sk->msg, "192.168.7.0/30 is too small") != NULL, "%s", sk ? sk->msg : "");
    model_sync_files_free(&out);

    /* A /23 holds one block besides the hosts' one: the second machine
     * waits, the first keeps its group. */
    model_machine_t *m1 = mk1("52:54:00:00:01:01", "10.9.0.5/23", "10.9.0.1", NULL);
    model_machine_t *m2 = mk1("52:54:00:00:01:02", "10.9.0.6/23", "10.9.0.1", NULL);
    model_sync_machine_t in2[] = {{m1, NODE, 0, 0, NULL}, {m2, NODE, 0, 0, NULL}};
    rc = gen(&c, in2, 1, &out, &err);
    CHECKF(rc == 0 && out.n_skipped == 0, "%s", err.msg);
    model_sync_files_free(&out);
    rc = gen(&c, in2, 2, &out, &err);
    CHECKF(rc == 0, "rc %d", rc);
    CHECK(find(&out, "groups/kubernetes_nodes-525400000101.json") != NULL);
    sk = skipped(&out, "52:54:00:00:01:02");
    CHECK(sk && sk->error == -ENOSPC && out.n_skipped == 1);
    CHECKF(sk && strstr(sk->msg, "machine 2 of the 2 that needed one") != NULL, "%s",
           sk ? sk->msg : "");
    model_sync_files_free(&out);
    free(ok);
    free(a);
    free(m1);
    free(m2);
}

/* The pod range start of node 52:54:00:00:02:<last> in out, 0: no group. */
static uint32_t pod_of(const model_sync_files_t *out, unsigned last)
{
    char path[64];
    snprintf(path, sizeof path, "groups/kubernetes_nodes-5254000002%02x.json", last);
    const model_sync_file_t *f = find(out, path);
    return f ? f->pod_start : 0;
}

/* A range once given stays with its machine: machines that join later,
 * even with lower IPs, take other blocks; a recorded range that became
 * invalid (a new host IP inside it) moves; of two machines naming one
 * block, the first in IP order keeps it. */
static void test_cni_recorded_ranges(void)
{
    model_sync_config_t c = base_config();
    model_machine_t *a = mk1("52:54:00:00:02:01", "10.4.0.50/16", "10.4.0.1", NULL);
    model_machine_t *b = mk1("52:54:00:00:02:02", "10.4.0.60/16", "10.4.0.1", NULL);
    model_sync_machine_t in[] = {{a, NODE, 0, 0, NULL}, {b, NODE, 0, 0, NULL}};
    model_sync_files_t out;
    model_err_t err;
    CHECK(gen(&c, in, 2, &out, &err) == 0);
    uint32_t ra = pod_of(&out, 1), rb = pod_of(&out, 2), s, e;
    const model_sync_file_t *fa = find(&out, "groups/kubernetes_nodes-525400000201.json");
    CHECK(fa && ra && rb);
    cni_range(fa, &s, &e);
    CHECK(s == ra && e == fa->pod_end); /* the file says what pod_start says */
    char x[16];
    CHECKF(scmp(model_ipv4_format(ra, x), "10.4.1.1") == 0, "%s", x);
    model_sync_files_free(&out);

    /* Without records, a lower IP would take 10.4.1.x; with them, it does not. */
    model_machine_t *low = mk1("52:54:00:00:02:03", "10.4.0.20/16", "10.4.0.1", NULL);
    model_sync_machine_t in2[] = {
        {a, NODE, ra, 0, NULL}, {b, NODE, rb, 0, NULL}, {low, NODE, 0, 0, NULL}};
    CHECK(gen(&c, in2, 3, &out, &err) == 0);
    CHECK(pod_of(&out, 1) == ra && pod_of(&out, 2) == rb);
    CHECKF(scmp(model_ipv4_format(pod_of(&out, 3), x), "10.4.3.1") == 0, "%s", x);
    model_sync_files_free(&out);

    /* A machine whose IP lands in a's range: a moves, the newcomer keeps its IP. */
    model_machine_t *in_range = mk1("52:54:00:00:02:04", "10.4.1.9/16", "10.4.0.1", NULL);
    model_sync_machine_t in3[] = {
        {a, NODE, ra, 0, NULL}, {b, NODE, rb, 0, NULL}, {in_range, NODE, 0, 0, NULL}};
    CHECK(gen(&c, in3, 3, &out, &err) == 0);
    CHECK(pod_of(&out, 1) && pod_of(&out, 1) != ra && pod_of(&out, 2) == rb);
    CHECK(out.n_skipped == 0);
    model_sync_files_free(&out);

    /* Two records naming one block: the lower IP keeps it. */
    model_sync_machine_t in4[] = {{b, NODE, ra, 0, NULL}, {a, NODE, ra, 0, NULL}};
    CHECK(gen(&c, in4, 2, &out, &err) == 0);
    CHECK(pod_of(&out, 1) == ra && pod_of(&out, 2) && pod_of(&out, 2) != ra);
    model_sync_files_free(&out);

    /* A record that is not a block start of the network is ignored. */
    model_sync_machine_t in5[] = {{a, NODE, ra + 7, 0, NULL}};
    CHECK(gen(&c, in5, 1, &out, &err) == 0);
    CHECK(out.n == 5 && pod_of(&out, 1) == ra);
    model_sync_files_free(&out);
    free(a);
    free(b);
    free(low);
    free(in_range);
}

/* sub_ips = 0 keeps the original's rule (spec test vector), checked. */
static void test_cni_sub_ips_zero(void)
{
    model_sync_config_t c = base_config();
    c.sub_ips = 0;
    c.range_nb_ips = 60;
    model_machine_t *a = mk1("52:54:00:00:00:01", "10.99.33.1/19", "10.99.32.1", NULL);
    model_sync_machine_t in[] = {{a, NODE, 0, 0, NULL}};
    model_sync_files_t out;
    model_err_t err;
    int rc = gen(&c, in, 1, &out, &err);
    CHECKF(rc == 0, "%s", err.msg);
    uint32_t s, e;
    char x[16], y[16];
    cni_range(find(&out, "groups/kubernetes_nodes-525400000001.json"), &s, &e);
    CHECKF(scmp(model_ipv4_format(s, x), "10.99.33.2") == 0 &&
               scmp(model_ipv4_format(e, y), "10.99.33.62") == 0,
           "%s-%s", x, y);
    model_sync_files_free(&out);

    /* A neighbour inside that range: the machine whose range holds it is
     * skipped, the neighbour is synced. */
    model_machine_t *b = mk1("52:54:00:00:00:02", "10.99.33.20/19", "10.99.32.1", NULL);
    model_sync_machine_t in2[] = {{a, NODE, 0, 0, NULL}, {b, NODE, 0, 0, NULL}};
    rc = gen(&c, in2, 2, &out, &err);
    CHECKF(rc == 0, "rc %d", rc);
    const model_sync_skip_t *sk = skipped(&out, "52:54:00:00:00:01");
    CHECK(sk && out.n_skipped == 1);
    CHECKF(sk && strstr(sk->msg, "machine 52:54:00:00:00:01 (10.99.33.1)") == sk->msg, "%s",
           sk ? sk->msg : "");
    CHECK(find(&out, "groups/kubernetes_nodes-525400000002.json") != NULL);
    model_sync_files_free(&out);
    free(a);
    free(b);
}

/* #12: a machine whose boot NIC is not the first one. */
static void test_multi_nic(void)
{
    model_sync_config_t c = base_config();
    char n1[512], n2[512], arr[1200];
    nic(n1, sizeof n1, "eth0", "52:54:00:00:00:e0", "192.168.1.5/24", "192.168.1.1", NULL);
    nic(n2, sizeof n2, "eth1", "52:54:00:00:00:e1", "10.2.0.7/22", "10.2.0.1", "boot.example");
    snprintf(arr, sizeof arr, "[%s, %s]", n1, n2);
    model_machine_t *m = mk("52:54:00:00:00:e1", arr, "null");
    CHECK(m->facts.n_ifaces == 2 && !m->facts.ifaces[0].as_boot);
    model_sync_machine_t in[] = {{m, CP, 0, 0, NULL}};
    model_sync_files_t out;
    model_err_t err;
    int rc = gen(&c, in, 1, &out, &err);
    CHECKF(rc == 0, "%s", err.msg);
    CHECK(find(&out, "groups/etcd_member_kubernetes_control_plane-5254000000e0.json") == NULL);
    json_t *r =
        parse_file(find(&out, "groups/etcd_member_kubernetes_control_plane-5254000000e1.json"));
    json_t *md = json_object_get(r, "metadata");
    CHECK(scmp(json_string_value(json_object_get(json_object_get(r, "selector"), "mac")),
               "52:54:00:00:00:e1") == 0);
    CHECK(scmp(md_str(r, "etcd_name"), "10.2.0.7") == 0);
    CHECK(scmp(md_str(r, "kubernetes_node_name"), "boot.example") == 0);
    CHECK(scmp(md_str(r, "kubernetes_etcd_initial_cluster"), "10.2.0.7=https://10.2.0.7:7003") ==
          0);
    json_t *nw = json_object_get(md, "network");
    CHECK(scmp(json_string_value(json_object_get(nw, "cidrv4")), "10.2.0.7/22") == 0);
    CHECK(scmp(json_string_value(json_object_get(nw, "gateway")), "10.2.0.1") == 0);
    CHECK(scmp(json_string_value(json_object_get(nw, "subnet")), "10.2.0.0/22") == 0);
    /* No disk at all: inMemory. */
    CHECK(scmp(md_str(r, "disk_profile"), "inMemory") == 0);
    json_decref(r);
    model_sync_files_free(&out);
    free(m);
}

static void test_disk_profile(void)
{
    model_sync_config_t c = base_config();
    const char *sizes[] = {"[]", "[{\"path\": \"/dev/sda\", \"size-bytes\": 1073741824}]",
                           "[{\"path\": \"/dev/sda\", \"size-bytes\": 10737418240}]",
                           "[{\"path\": \"/dev/sda\", \"size-bytes\": 10737418240}, "
                           "{\"path\": \"/dev/nvme0n1\", \"size-bytes\": 10737418239}]",
                           "[{\"path\": \"/dev/sda\", \"size-bytes\": 32212254720}]"};
    const char *want[] = {"inMemory", "S", "M", "M", "L"};
    for (size_t i = 0; i < 5; i++) {
        char n[512], arr[600], mac[18];
        snprintf(mac, sizeof mac, "52:54:00:00:00:%02zx", i + 1);
        nic(n, sizeof n, "eth0", mac, "10.0.0.5/16", "10.0.0.1", NULL);
        snprintf(arr, sizeof arr, "[%s]", n);
        model_machine_t *m = mk(mac, arr, sizes[i]);
        model_sync_machine_t in[] = {{m, NODE, 0, 0, NULL}};
        model_sync_files_t out;
        model_err_t err;
        CHECK(gen(&c, in, 1, &out, &err) == 0);
        char path[128];
        snprintf(path, sizeof path, "groups/kubernetes_nodes-5254000000%02zx.json", i + 1);
        json_t *r = parse_file(find(&out, path));
        CHECKF(r && scmp(md_str(r, "disk_profile"), want[i]) == 0, "disks %s -> %s", sizes[i],
               r ? md_str(r, "disk_profile") : "?");
        json_decref(r);
        model_sync_files_free(&out);
        free(m);
    }
}

/* Python's json.dumps escaping, a missing gateway, a /32 service range,
 * extra selectors, assets_server_uri, no lldp image, no machine. */
static void test_config_values(void)
{
    model_sync_config_t c = base_config();
    const char *hosts[] = {"10.0.0.1 caf\xc3\xa9.local\x01\x7f/\t\"\\", "\xf0\x9f\x98\x80"};
    const model_sync_kv_t sel[] = {{"os", "installed"}, {"zone", "b"}};
    c.etc_hosts = hosts;
    c.n_etc_hosts = 2;
    c.extra_selectors = sel;
    c.n_extra_selectors = 2;
    c.kubernetes_service_cluster_ip_range = "10.200.0.7/32";
    c.assets_server_uri = "http://assets:8080";
    c.lldp_image_url = "";
    c.coreos_install_base_url = NULL;
    model_sync_files_t out;
    model_err_t err;
    int rc = gen(&c, NULL, 0, &out, &err);
    CHECKF(rc == 0 && out.n == 4, "rc %d n %zu %s", rc, out.n, err.msg);
    const model_sync_file_t *d = find(&out, "groups/discovery.json");
    CHECK(d && strstr(d->text, "\"10.0.0.1 caf\\u00e9.local\\u0001\\u007f/\\t\\\"\\\\\"") != NULL);
    CHECK(d && strstr(d->text, "\"\\ud83d\\ude00\"") != NULL);
    CHECK(d && strstr(d->text, "\"extra_selectors\": \"os=installed&zone=b\"") != NULL);
    CHECK(d && strstr(d->text, "\"coreos_install_base_url\": null") != NULL);
    CHECK(d && strstr(d->text, "lldp_image_url") == NULL);
    CHECK(d && strstr(d->text, "\"ssh_authorized_keys\": []") != NULL);
    const model_sync_file_t *p = find(&out, "profiles/kubernetes_nodes.json");
    CHECK(p && strstr(p->text, "\"kernel\": \"http://assets:8080/assets/coreos/serve/") != NULL);
    CHECK(p &&
          strstr(p->text, "\"coreos.config.url\": \"http://172.20.0.1:5000/ignition?") != NULL);
    model_sync_files_free(&out);

    model_machine_t *m = mk1("52:54:00:00:00:01", "10.0.0.5/24", "", NULL);
    model_sync_machine_t in[] = {{m, NODE, 0, 0, NULL}};
    c.sub_ips = 16;
    c.range_nb_ips = 13;
    c.skip_ips = 1;
    rc = gen(&c, in, 1, &out, &err);
    CHECKF(rc == 0, "%s", err.msg);
    json_t *r = parse_file(find(&out, "groups/kubernetes_nodes-525400000001.json"));
    CHECK(scmp(md_str(r, "kubernetes_service_cluster_ip"), "10.200.0.7") == 0);
    CHECK(scmp(md_str(r, "cni"),
               "{\"dataDir\": \"/var/lib/cni/networks\", \"rangeEnd\": \"10.0.0.30\", "
               "\"rangeStart\": \"10.0.0.17\", \"routes\": [{\"dst\": \"10.200.0.7/32\", "
               "\"gw\": \"10.0.0.5\"}, {\"dst\": \"0.0.0.0/0\"}], \"subnet\": \"10.0.0.0/24\", "
               "\"type\": \"host-local\"}") == 0);
    json_t *sl = json_object_get(r, "selector");
    CHECK(json_object_size(sl) == 3 &&
          scmp(json_string_value(json_object_get(sl, "zone")), "b") == 0);
    CHECK(json_equal(sl, json_object_get(json_object_get(r, "metadata"), "selector")));
    json_t *nw = json_object_get(json_object_get(r, "metadata"), "network");
    CHECK(scmp(json_string_value(json_object_get(nw, "gateway")), "") == 0);
    CHECK(scmp(md_str(r, "etcd_member_kubernetes_control_plane_ip_list"), "") == 0);
    json_decref(r);
    model_sync_files_free(&out);
    free(m);
}

/* Random clusters: on success every range lies inside its machine's
 * subnet, avoids the network/broadcast addresses, every machine IP and
 * gateway, and no two ranges meet; E is in numeric order; the output does
 * not depend on the input order. Failures are -ENOSPC or -EINVAL only. */
static uint32_t rnd_state = 12345;
static uint32_t rnd(void)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return rnd_state >> 8;
}

static void test_random_clusters(void)
{
    static const unsigned plens[] = {16, 20, 22, 24, 30};
    static const unsigned subs[][3] = {{256, 253, 1}, {64, 61, 1}, {16, 13, 2}, {0, 6, 1}};
    int ok = 0, nospc = 0, inval = 0;
    for (int iter = 0; iter < 150; iter++) {
        model_sync_config_t c = base_config();
        const unsigned *sub = subs[rnd() % 4];
        c.sub_ips = sub[0];
        c.range_nb_ips = sub[1];
        c.skip_ips = sub[2];
        size_t n = 1 + rnd() % 12;
        model_machine_t *m[12];
        model_sync_machine_t in[12], rev[12];
        uint32_t ips[12];
        for (size_t i = 0; i < n; i++) {
            unsigned plen = plens[rnd() % (iter % 3 == 0 ? 5 : 4)];
            uint32_t base = (10u << 24) | ((rnd() % 2) << 16); /* 10.0/16 or 10.1/16 */
            uint32_t ip;
            bool dup;
            do { /* 1000 candidates for at most 12 machines */
                ip = base + 1 + rnd() % 1000;
                dup = false;
                for (size_t j = 0; j < i; j++)
                    dup = dup || ips[j] == ip;
            } while (dup);
            ips[i] = ip;
            uint32_t net = ip & (~0u << (32 - plen));
            char cidr[32], gw[16], mac[18], ipstr[16];
            snprintf(cidr, sizeof cidr, "%s/%u", model_ipv4_format(ip, ipstr), plen);
            model_ipv4_format(net + 1 == ip ? net + 2 : net + 1, gw);
            snprintf(mac, sizeof mac, "52:54:00:%02x:%02x:%02x", iter & 0xff, (unsigned)i,
                     rnd() & 0xff);
            m[i] = mk1(mac, cidr, gw, NULL);
            in[i] = (model_sync_machine_t){m[i], rnd() % 3 ? CP : NODE, 0, 0, NULL};
            rev[n - 1 - i] = in[i];
        }
        model_sync_files_t out, out2;
        model_err_t err;
        int rc = gen(&c, in, n, &out, &err);
        int rc2 = gen(&c, rev, n, &out2, &err);
        CHECKF(rc == 0 && rc2 == 0, "iteration %d: %d, %d reversed: %s", iter, rc, rc2, err.msg);
        if (rc == 0 && rc2 == 0) {
            ok += out.n_skipped == 0;
            for (size_t i = 0; i < out.n_skipped; i++) {
                nospc += out.skipped[i].error == -ENOSPC;
                inval += out.skipped[i].error == -EINVAL;
                CHECKF(out.skipped[i].error == -ENOSPC || out.skipped[i].error == -EINVAL,
                       "iteration %d: skip error %d", iter, out.skipped[i].error);
                if (getenv("MBGEN_DEBUG"))
                    fprintf(stderr, "iter %d sub %u: %s\n", iter, c.sub_ips, out.skipped[i].msg);
            }
            CHECK(out.n + out.n_skipped == n + 4 && out2.n == out.n &&
                  out2.n_skipped == out.n_skipped);
            for (size_t i = 0; i < out.n && i < out2.n; i++)
                CHECKF(scmp(out.files[i].text, out2.files[i].text) == 0,
                       "iteration %d: %s depends on the input order", iter, out.files[i].path);
            for (size_t i = 0; i < out.n_skipped && i < out2.n_skipped; i++)
                CHECKF(scmp(out.skipped[i].msg, out2.skipped[i].msg) == 0,
                       "iteration %d: skips depend on the input order", iter);
            uint32_t s[12], e[12];
            bool synced[12];
            for (size_t i = 0; i < n; i++) {
                char id[64], path[96];
                const model_iface_t *b = model_discovery_boot_iface(&m[i]->facts);
                model_sync_group_id(in[i].roles, b->mac, id, sizeof id);
                snprintf(path, sizeof path, "groups/%s.json", id);
                const model_sync_file_t *f = find(&out, path);
                synced[i] = f != NULL;
                CHECKF(synced[i] != (skipped(&out, b->mac) != NULL),
                       "iteration %d: %s neither synced nor skipped (or both)", iter, b->mac);
                if (!synced[i])
                    continue;
                cni_range(f, &s[i], &e[i]);
                CHECK(s[i] == f->pod_start && e[i] == f->pod_end);
                uint32_t ip, net;
                unsigned plen;
                model_cidrv4_parse(b->cidrv4, &ip, &plen, NULL, NULL);
                net = ip & (~0u << (32 - plen));
                uint32_t last = net + (uint32_t)((1ull << (32 - plen)) - 1);
                CHECKF(s[i] > net && e[i] < last && s[i] <= e[i],
                       "iteration %d: range of %s outside its subnet", iter, b->mac);
                for (size_t j = 0; j < n; j++) {
                    uint32_t gw;
                    model_ipv4_parse(model_discovery_boot_iface(&m[j]->facts)->gateway, &gw, NULL,
                                     NULL);
                    CHECKF(ips[j] < s[i] || ips[j] > e[i], "iteration %d: IP inside a range", iter);
                    CHECKF(gw < s[i] || gw > e[i], "iteration %d: gateway inside a range", iter);
                }
                for (size_t j = 0; j < i; j++)
                    CHECKF(!synced[j] || e[i] < s[j] || e[j] < s[i], "iteration %d: ranges meet",
                           iter);
            }
            /* Fed back as records, the ranges stay where they are. */
            if (c.sub_ips > 0) {
                model_sync_machine_t again[12];
                for (size_t i = 0; i < n; i++)
                    again[i] =
                        (model_sync_machine_t){m[i], in[i].roles, synced[i] ? s[i] : 0, 0, NULL};
                model_sync_files_t o3;
                CHECK(gen(&c, again, n, &o3, &err) == 0);
                for (size_t i = 0; i < o3.n && i < out.n; i++)
                    CHECKF(scmp(o3.files[i].text, out.files[i].text) == 0,
                           "iteration %d: a recorded range moved", iter);
                model_sync_files_free(&o3);
            }
            /* E: numeric order. */
            json_t *r = parse_file(&out.files[0]); /* discovery group: no E */
            json_decref(r);
            for (size_t i = 0; i < out.n; i++) {
                if (out.files[i].mac[0] == '\0')
                    continue;
                r = parse_file(&out.files[i]);
                json_t *ev = json_object_get(json_object_get(r, "metadata"),
                                             "etcd_member_kubernetes_control_plane_ip");
                uint32_t prev = 0;
                for (size_t k = 0; k < json_array_size(ev); k++) {
                    uint32_t a = 0;
                    model_ipv4_parse(json_string_value(json_array_get(ev, k)), &a, NULL, NULL);
                    CHECKF(k == 0 || a > prev, "iteration %d: E not in numeric order", iter);
                    prev = a;
                }
                json_decref(r);
                break;
            }
        }
        if (rc == 0)
            model_sync_files_free(&out);
        if (rc2 == 0)
            model_sync_files_free(&out2);
        for (size_t i = 0; i < n; i++)
            free(m[i]);
    }
    printf("random clusters: %d without a skip; machines skipped: %d no range, %d refused\n", ok,
           nospc, inval);
    CHECK(ok > 50 && nospc > 0);
}

static void test_errors(void)
{
    model_sync_config_t c = base_config();
    model_sync_files_t out;
    model_err_t err;
    model_machine_t *a = mk1("52:54:00:00:00:01", "10.0.0.5/16", "10.0.0.1", NULL);
    model_machine_t *b = mk1("52:54:00:00:00:02", "10.0.0.5/16", "10.0.0.1", NULL);

    /* Per machine: skipped with the reason, the others synced. */
    model_machine_t *ok = mk1("52:54:00:00:00:09", "10.0.0.9/16", "10.0.0.1", NULL);
    model_sync_machine_t bad_roles[] = {{a, MODEL_ROLE_ETCD_MEMBER, 0, 0, NULL},
                                        {ok, NODE, 0, 0, NULL}};
    CHECK(gen(&c, bad_roles, 2, &out, &err) == 0);
    const model_sync_skip_t *sk = skipped(&out, "52:54:00:00:00:01");
    CHECK(sk && sk->error == -EINVAL && out.n == 5 && out.n_skipped == 1);
    CHECKF(sk && strstr(sk->msg, "machine 52:54:00:00:00:01") == sk->msg, "%s", sk ? sk->msg : "");
    model_sync_files_free(&out);

    /* One boot IP, two machines: the one holding a pod range keeps it,
     * else the lower MAC. */
    model_sync_machine_t same_ip[] = {{b, NODE, 0, 0, NULL}, {a, CP, 0, 0, NULL}};
    CHECK(gen(&c, same_ip, 2, &out, &err) == 0);
    sk = skipped(&out, "52:54:00:00:00:02");
    CHECKF(sk && strstr(sk->msg, "boot IP also used by machine 52:54:00:00:00:01") != NULL, "%s",
           sk ? sk->msg : "");
    model_sync_files_free(&out);
    uint32_t held = 0;
    model_ipv4_parse("10.0.1.1", &held, NULL, NULL);
    model_sync_machine_t same_ip2[] = {{a, CP, 0, 0, NULL}, {b, NODE, held, 0, NULL}};
    CHECK(gen(&c, same_ip2, 2, &out, &err) == 0);
    sk = skipped(&out, "52:54:00:00:00:01");
    CHECK(sk && out.n_skipped == 1 && find(&out, "groups/kubernetes_nodes-525400000002.json"));
    model_sync_files_free(&out);

    model_sync_machine_t same_mac[] = {{a, CP, 0, 0, NULL}, {a, NODE, 0, 0, NULL}};
    CHECK(gen(&c, same_mac, 2, &out, &err) == -EINVAL);
    CHECKF(strstr(err.msg, "boot MAC also reported") != NULL, "%s", err.msg);

    model_sync_machine_t null_m[] = {{NULL, CP, 0, 0, NULL}};
    CHECK(gen(&c, null_m, 1, &out, &err) == -EINVAL);
    CHECK_MSG(err, "machines[0]");

    /* A boot NIC without IPv4. */
    model_machine_t *noip =
        mk("52:54:00:00:00:03", "[{\"name\": \"eth0\", \"mac\": \"52:54:00:00:00:03\"}]", "null");
    model_sync_machine_t in_noip[] = {{noip, NODE, 0, 0, NULL}};
    CHECK(gen(&c, in_noip, 1, &out, &err) == 0);
    sk = skipped(&out, "52:54:00:00:00:03");
    CHECKF(sk && strstr(sk->msg, "has no IPv4") != NULL, "%s", sk ? sk->msg : "");
    CHECK(out.n == 4);
    model_sync_files_free(&out);
    free(ok);

    model_sync_config_t k = c;
    const model_sync_kv_t sel[] = {{"mac", "x"}};
    k.extra_selectors = sel;
    k.n_extra_selectors = 1;
    CHECK(gen(&k, NULL, 0, &out, &err) == -EINVAL);
    CHECK_MSG(err, "config.extra_selectors");
    k = c;
    k.kubernetes_service_cluster_ip_range = "172.30.0.1/24";
    CHECK(gen(&k, NULL, 0, &out, &err) == -EINVAL);
    CHECK_MSG(err, "config.kubernetes_service_cluster_ip_range");
    k = c;
    k.api_uri = NULL;
    CHECK(gen(&k, NULL, 0, &out, &err) == -EINVAL);
    CHECK_MSG(err, "config.api_uri");
    k = c;
    k.sub_ips = 100;
    CHECK(model_sync_config_check(&k, &err) == -EINVAL);
    CHECK_MSG(err, "config.sub_ips");
    k = c;
    k.range_nb_ips = 255;
    CHECK(model_sync_config_check(&k, &err) == -EINVAL);
    CHECK_MSG(err, "config.range_nb_ips");
    k = c;
    k.vault_port = 70000;
    CHECK(model_sync_config_check(&k, &err) == -EINVAL);
    CHECK_MSG(err, "config.vault_port");
    k = c;
    const char *bad_utf8[] = {"\xff"};
    k.nameservers = bad_utf8;
    k.n_nameservers = 1;
    CHECK(model_sync_config_check(&k, &err) == -EINVAL);
    CHECK_MSG(err, "config.nameservers[0]");
    k = c;
    k.n_disks_ladder_gb = 0;
    CHECK(model_sync_config_check(&k, &err) == -EINVAL);
    CHECK_MSG(err, "config.disks_ladder_gb");
    CHECK(model_sync_config_check(&c, &err) == 0);
    free(a);
    free(b);
    free(noip);
}

int main(void)
{
    load_fixture_machines();
    test_fixture_example();
    test_determinism();
    test_stable_ids();
    test_reusing();
    test_facts_from_record();
    test_names();
    test_numeric_order();
    test_cni_same_last_octet();
    test_cni_too_small();
    test_cni_recorded_ranges();
    test_cni_sub_ips_zero();
    test_multi_nic();
    test_disk_profile();
    test_config_values();
    test_errors();
    test_random_clusters();
    for (int i = 1; i <= 4; i++)
        free(fx[i]);
    free(ssh_key);
    return check_report("test_matchbox_gen");
}

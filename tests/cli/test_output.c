/*
 * Unit tests of enjoliverctl's pure parts, without a server: tables, the
 * protobuf -> JSON walk, the YAML writer, role and MAC names, times. Output
 * is captured in memory streams and compared byte for byte.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enjoliver/v1/enjoliver.pb-c.h"
#include "machine_view.h"
#include "names.h"
#include "output.h"
#include "pbjson.h"

static int failures, checks;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        checks++;                                                                                  \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_STR(got, want)                                                                       \
    do {                                                                                           \
        const char *g_ = (got), *w_ = (want);                                                      \
        checks++;                                                                                  \
        if (g_ == NULL || strcmp(g_, w_) != 0) {                                                   \
            failures++;                                                                            \
            fprintf(stderr, "%s:%d: got\n---\n%s---\nwanted\n---\n%s---\n", __FILE__, __LINE__,    \
                    g_ ? g_ : "(null)", w_);                                                       \
        }                                                                                          \
    } while (0)

/* Captures what fn writes. */
struct capture {
    char *buf;
    size_t len;
    FILE *f;
};

static FILE *capture_start(struct capture *c)
{
    c->buf = NULL;
    c->len = 0;
    c->f = open_memstream(&c->buf, &c->len);
    return c->f;
}

static char *capture_end(struct capture *c)
{
    fclose(c->f);
    return c->buf;
}

static void test_table(void)
{
    static const char *const head[] = {"UUID", "BOOT MAC", "ROLES"};
    static const char *const r1[] = {"a", "52:54:00:e8:32:5b", "etcd-member"};
    static const char *const r2[] = {"longer-uuid", "", NULL};
    struct table *t = table_new(3, head);
    struct capture c;
    char *out;

    CHECK(table_add(t, r1) == 0);
    CHECK(table_add(t, r2) == 0);
    CHECK(table_rows(t) == 2);
    table_print(t, capture_start(&c));
    out = capture_end(&c);
    /* Columns as wide as their widest cell, two spaces apart, the last one
     * unpadded; empty cells as "-". */
    CHECK_STR(out, "UUID         BOOT MAC           ROLES\n"
                   "a            52:54:00:e8:32:5b  etcd-member\n"
                   "longer-uuid  -                  -\n");
    free(out);
    table_print_indent(t, capture_start(&c), 2);
    out = capture_end(&c);
    CHECK(strncmp(out, "  UUID ", 7) == 0);
    CHECK(strstr(out, " \n") == NULL);
    free(out);
    table_free(t);
}

static void test_fixed_row(void)
{
    static const size_t w[] = {4, 3, 0};
    static const char *const cells[] = {"ab", "toolong", "last"};
    struct capture c;
    char *out;

    out_fixed_row(capture_start(&c), 3, w, cells);
    out = capture_end(&c);
    /* A cell longer than its width still gets the gap. */
    CHECK_STR(out, "ab    toolong  last\n");
    free(out);
}

static char *yaml_of(const char *json_text)
{
    json_error_t err;
    json_t *v = json_loads(json_text, JSON_DECODE_ANY, &err);
    struct capture c;

    if (v == NULL) {
        fprintf(stderr, "bad test JSON: %s\n", err.text);
        return NULL;
    }
    out_yaml(v, capture_start(&c));
    json_decref(v);
    return capture_end(&c);
}

static void test_yaml_quoting(void)
{
    char *out = yaml_of("{\"plain\": \"discovery\", \"empty\": \"\", \"bool\": \"true\","
                        " \"mac\": \"52:54:00:12:34:56\", \"ip\": \"10.0.0.1\","
                        " \"colon\": \"a: b\", \"hash\": \"#x\", \"nl\": \"a\\nb\","
                        " \"quote\": \"say \\\"hi\\\"\", \"no\": \"No\", \"num\": 7,"
                        " \"f\": false, \"z\": null, \"path\": \"/dev/sda\"}");

    CHECK_STR(out, "plain: discovery\n"
                   "empty: \"\"\n"
                   "bool: \"true\"\n"
                   "mac: \"52:54:00:12:34:56\"\n"
                   "ip: \"10.0.0.1\"\n"
                   "colon: \"a: b\"\n"
                   "hash: \"#x\"\n"
                   "nl: \"a\\nb\"\n"
                   "quote: say \"hi\"\n"
                   "\"no\": \"No\"\n" /* a YAML 1.1 reader takes no for false */
                   "num: 7\n"
                   "f: false\n"
                   "z: null\n"
                   "path: /dev/sda\n");
    free(out);
}

static void test_yaml_nesting(void)
{
    char *out = yaml_of("{\"machines\": [{\"uuid\": \"u1\", \"roles\": [\"A\", \"B\"],"
                        " \"state\": {\"state\": \"x\"}, \"disks\": []}, {\"uuid\": \"u2\"}],"
                        " \"empty\": {}, \"matrix\": [[1, 2], []], \"revision\": 9}");

    CHECK_STR(out, "machines:\n"
                   "  - uuid: u1\n"
                   "    roles:\n"
                   "      - A\n"
                   "      - B\n"
                   "    state:\n"
                   "      state: x\n"
                   "    disks: []\n"
                   "  - uuid: u2\n"
                   "empty: {}\n"
                   "matrix:\n"
                   "  - - 1\n"
                   "    - 2\n"
                   "  - []\n"
                   "revision: 9\n");
    free(out);
    out = yaml_of("\"just a string\"");
    CHECK_STR(out, "just a string\n");
    free(out);
}

static void test_pbjson_machine(void)
{
    Enjoliver__V1__Machine m = ENJOLIVER__V1__MACHINE__INIT;
    Enjoliver__V1__Interface itf = ENJOLIVER__V1__INTERFACE__INIT;
    Enjoliver__V1__Interface *itfs[] = {&itf};
    Enjoliver__V1__Role roles[] = {ENJOLIVER__V1__ROLE__ETCD_MEMBER,
                                   ENJOLIVER__V1__ROLE__KUBERNETES_NODE};
    Enjoliver__V1__Rolling rolling = ENJOLIVER__V1__ROLLING__INIT;
    json_t *j;

    m.uuid = "b7f5f93a-b029-475f-b3a4-479ba198cb8a";
    m.boot_mac = "52:54:00:e8:32:5b";
    m.created_unix_ms = 1714557600123LL;
    m.revision = 5000000000LL; /* past 32 bits: must stay a number */
    itf.name = "eth0";
    itf.mac = m.boot_mac;
    itf.ipv4 = "172.20.0.65";
    itf.netmask = 21;
    itf.as_boot = 1;
    m.n_interfaces = 1;
    m.interfaces = itfs;
    m.n_roles = 2;
    m.roles = roles;
    rolling.enabled = 1;
    rolling.strategy = "reboot";
    m.rolling = &rolling;

    j = pbjson_message(&m.base);
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "uuid")), m.uuid);
    CHECK(json_integer_value(json_object_get(j, "created_unix_ms")) == 1714557600123LL);
    CHECK(json_integer_value(json_object_get(j, "revision")) == 5000000000LL);
    CHECK_STR(json_string_value(json_array_get(json_object_get(j, "roles"), 0)), "ETCD_MEMBER");
    CHECK_STR(json_string_value(json_array_get(json_object_get(j, "roles"), 1)), "KUBERNETES_NODE");
    CHECK(json_is_true(
        json_object_get(json_array_get(json_object_get(j, "interfaces"), 0), "as_boot")));
    CHECK(json_integer_value(json_object_get(json_array_get(json_object_get(j, "interfaces"), 0),
                                             "netmask")) == 21);
    /* Absent messages are null, empty repeated fields [], defaults present. */
    CHECK(json_is_null(json_object_get(j, "slot")));
    CHECK(json_is_null(json_object_get(j, "state")));
    CHECK(json_array_size(json_object_get(j, "disks")) == 0);
    CHECK_STR(json_string_value(json_object_get(j, "boot_id")), "");
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "rolling"), "strategy")),
              "reboot");
    json_decref(j);

    /* The row cells of the same machine. */
    char buf[128];
    CHECK_STR(machine_ipv4(&m), "172.20.0.65");
    CHECK_STR(machine_roles(&m, buf, sizeof buf), "etcd-member,kubernetes-node");
    CHECK_STR(machine_rolling(&m), "reboot");
    CHECK_STR(machine_slot(&m, buf, sizeof buf), "");
    CHECK_STR(machine_state(&m), "");
}

static void test_pbjson_oneof_bytes(void)
{
    Enjoliver__V1__GetMachineRequest req = ENJOLIVER__V1__GET_MACHINE_REQUEST__INIT;
    Enjoliver__V1__BackupChunk chunk = ENJOLIVER__V1__BACKUP_CHUNK__INIT;
    Enjoliver__V1__MachineEvent ev = ENJOLIVER__V1__MACHINE_EVENT__INIT;
    uint8_t data[] = {'h', 'i', '!', 0xff};
    json_t *j;

    req.key_case = ENJOLIVER__V1__GET_MACHINE_REQUEST__KEY_MAC;
    req.mac = "52:54:00:e8:32:5b";
    j = pbjson_message(&req.base);
    /* Only the member of the oneof that is set. */
    CHECK(json_object_get(j, "uuid") == NULL);
    CHECK_STR(json_string_value(json_object_get(j, "mac")), "52:54:00:e8:32:5b");
    json_decref(j);

    chunk.data.data = data;
    chunk.data.len = sizeof data;
    j = pbjson_message(&chunk.base);
    CHECK_STR(json_string_value(json_object_get(j, "data")), "aGkh/w==");
    CHECK(json_is_null(json_object_get(j, "info")));
    json_decref(j);

    ev.type = ENJOLIVER__V1__MACHINE_EVENT__TYPE__SNAPSHOT_END;
    ev.revision = 12;
    j = pbjson_message(&ev.base);
    CHECK_STR(json_string_value(json_object_get(j, "type")), "SNAPSHOT_END");
    json_decref(j);
    /* A value this client does not know stays a number. */
    ev.type = (Enjoliver__V1__MachineEvent__Type)42;
    j = pbjson_message(&ev.base);
    CHECK(json_integer_value(json_object_get(j, "type")) == 42);
    json_decref(j);
}

static void test_names(void)
{
    Enjoliver__V1__Role r, *roles;
    size_t n;
    char *bad;

    CHECK(role_parse("kubernetes-control-plane", &r) == 0 &&
          r == ENJOLIVER__V1__ROLE__KUBERNETES_CONTROL_PLANE);
    CHECK(role_parse("KUBERNETES_NODE", &r) < 0);
    CHECK(roles_parse("etcd-member,kubernetes-node", &roles, &n, &bad) == 0);
    CHECK(n == 2 && roles[0] == ENJOLIVER__V1__ROLE__ETCD_MEMBER &&
          roles[1] == ENJOLIVER__V1__ROLE__KUBERNETES_NODE);
    free(roles);
    CHECK(roles_parse("etcd-member,worker", &roles, &n, &bad) < 0);
    CHECK_STR(bad, "worker");
    free(bad);
    CHECK(roles_parse(",", &roles, &n, &bad) < 0 && bad == NULL);

    CHECK(id_is_mac("52:54:00:e8:32:5b"));
    CHECK(id_is_mac("52-54-00-EA-6F-41"));
    CHECK(!id_is_mac("52:54:00-e8:32:5b"));
    CHECK(!id_is_mac("b7f5f93a-b029-475f-b3a4-479ba198cb8a"));
    CHECK(!id_is_mac("52:54:00:e8:32:5g"));
    CHECK(strategy_valid("poweroff") && !strategy_valid("halt"));
}

static void test_time_and_sizes(void)
{
    char buf[32];
    enum out_format f;

    CHECK_STR(out_time(1714557600123LL, buf, sizeof buf), "2024-05-01T10:00:00Z");
    CHECK_STR(out_time(0, buf, sizeof buf), "-");
    CHECK_STR(human_bytes(21474836480ULL, buf, sizeof buf), "20.0 GiB");
    CHECK_STR(human_bytes(512, buf, sizeof buf), "512 B");
    CHECK(out_format_parse("yaml", &f) == 0 && f == OUT_YAML);
    CHECK(out_format_parse("wide", &f) < 0);
}

int main(void)
{
    test_table();
    test_fixed_row();
    test_yaml_quoting();
    test_yaml_nesting();
    test_pbjson_machine();
    test_pbjson_oneof_bytes();
    test_names();
    test_time_and_sizes();
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}

/* Unit tests of model/validate.c: every function, valid and invalid values,
 * and the shape of the error messages. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/validate.h"

#define W "interfaces[1].mac"

/* A string of n copies of c (n < 1024). */
static const char *repeat(char c, size_t n)
{
    static char buf[1024];
    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

static void mac_ok(const char *in, const char *want)
{
    char out[MODEL_MAC_LEN + 1] = "";
    model_err_t err = {{0}};
    int rc = model_mac_parse(in, out, W, &err);
    CHECKF(rc == 0 && strcmp(out, want) == 0, "%s -> rc %d out %s (%s)", in, rc, out, err.msg);
}

static void mac_bad(const char *in)
{
    char out[MODEL_MAC_LEN + 1];
    model_err_t err = {{0}};
    CHECKF(model_mac_parse(in, out, W, &err) == -EINVAL, "%s accepted", in ? in : "(null)");
    CHECK_MSG(err, W);
    CHECKF(strstr(err.msg, "is not a MAC address (want aa:bb:cc:dd:ee:ff)") != NULL, "%s", err.msg);
}

static void test_mac(void)
{
    mac_ok("52:54:00:e8:32:5b", "52:54:00:e8:32:5b");
    mac_ok("52-54-00-e8-32-5b", "52:54:00:e8:32:5b");
    mac_ok("52:54:00:E8:32:5B", "52:54:00:e8:32:5b");
    mac_ok("AA-BB-CC-DD-EE-FF", "aa:bb:cc:dd:ee:ff");
    mac_ok("00:00:00:00:00:00", "00:00:00:00:00:00");
    mac_ok("0C:c4:7A:8e:10:A2", "0c:c4:7a:8e:10:a2");
    mac_bad("52:54:00-e8:32:5b"); /* mixed separators */
    mac_bad("52-54:00:e8:32:5b");
    mac_bad("52:54:00:e8:32:5b-");
    mac_bad("52:54:00:e8:32");       /* 5 groups */
    mac_bad("52:54:00:e8:32:5b:01"); /* 7 groups */
    mac_bad("52:54:00:e8:32:5g");    /* not hex */
    mac_bad("5:54:00:e8:32:5bb");    /* wrong grouping, right length */
    mac_bad("525400e8325b");         /* no separators */
    mac_bad("5254.00e8.325b");       /* Cisco form */
    mac_bad("52.54.00.e8.32.5b");    /* other separator */
    mac_bad("52::54:00:e8:32:5b");
    mac_bad("52:54:00:e8:32:5b ");
    mac_bad(" 52:54:00:e8:32:5b");
    mac_bad("52:54:00:e8:32:5b\n");
    mac_bad("52:54:00:e8:3:25b");
    mac_bad("");
    mac_bad(NULL);

    /* The message of the header, exactly. */
    model_err_t err;
    char out[MODEL_MAC_LEN + 1];
    model_mac_parse("52:54:00:e8:32", out, "interfaces[1].mac", &err);
    CHECKF(strcmp(err.msg, "interfaces[1].mac: \"52:54:00:e8:32\" is not a MAC address (want "
                           "aa:bb:cc:dd:ee:ff)") == 0,
           "%s", err.msg);
    /* err may be NULL. */
    CHECK(model_mac_parse("nope", out, W, NULL) == -EINVAL);
}

static void uuid_ok(const char *in, const char *want)
{
    char out[MODEL_UUID_LEN + 1] = "";
    model_err_t err = {{0}};
    int rc = model_uuid_parse(in, out, "boot-info.uuid", &err);
    CHECKF(rc == 0 && strcmp(out, want) == 0, "%s -> rc %d out %s (%s)", in, rc, out, err.msg);
}

static void uuid_bad(const char *in)
{
    char out[MODEL_UUID_LEN + 1];
    model_err_t err = {{0}};
    CHECKF(model_uuid_parse(in, out, "boot-info.uuid", &err) == -EINVAL, "%s accepted",
           in ? in : "(null)");
    CHECK_MSG(err, "boot-info.uuid");
    CHECKF(strstr(err.msg, "is not a UUID") != NULL, "%s", err.msg);
}

static void test_uuid(void)
{
    uuid_ok("b7f5f93a-b029-475f-b3a4-479ba198cb8a", "b7f5f93a-b029-475f-b3a4-479ba198cb8a");
    uuid_ok("B7F5F93A-B029-475F-B3A4-479BA198CB8A", "b7f5f93a-b029-475f-b3a4-479ba198cb8a");
    uuid_ok("4c4c4544-0047-3510-8052-B4C04F4E3132", "4c4c4544-0047-3510-8052-b4c04f4e3132");
    uuid_ok("00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000");
    uuid_bad("{b7f5f93a-b029-475f-b3a4-479ba198cb8a}"); /* braces */
    uuid_bad("urn:uuid:b7f5f93a-b029-475f-b3a4-479ba198cb8a");
    uuid_bad("b7f5f93ab029475fb3a4479ba198cb8a"); /* no dashes */
    uuid_bad("b7f5f93ab-029-475f-b3a4-479ba198cb8a");
    uuid_bad("b7f5f93a-b029-475f-b3a4-479ba198cb8");   /* 35 */
    uuid_bad("b7f5f93a-b029-475f-b3a4-479ba198cb8a0"); /* 37 */
    uuid_bad("b7f5f93a-b029-475f-b3a4-479ba198cb8g");
    uuid_bad("b7f5f93a:b029:475f:b3a4:479ba198cb8a");
    uuid_bad("b7f5f93a-b029-475f-b3a4-479ba198cb8a\n");
    uuid_bad("");
    uuid_bad(NULL);
}

static void ipv4_ok(const char *in, uint32_t want)
{
    uint32_t out = 0xdeadbeef;
    model_err_t err = {{0}};
    int rc = model_ipv4_parse(in, &out, "interfaces[0].ipv4", &err);
    CHECKF(rc == 0 && out == want, "%s -> rc %d out %08x (%s)", in, rc, out, err.msg);
    CHECK(model_ipv4_parse(in, NULL, NULL, NULL) == 0);
    char back[16];
    CHECKF(strcmp(model_ipv4_format(out, back), in) == 0, "%s formats as %s", in, back);
}

static void ipv4_bad(const char *in)
{
    uint32_t out;
    model_err_t err = {{0}};
    CHECKF(model_ipv4_parse(in, &out, "interfaces[0].ipv4", &err) == -EINVAL, "%s accepted",
           in ? in : "(null)");
    CHECK_MSG(err, "interfaces[0].ipv4");
    CHECKF(strstr(err.msg, "is not an IPv4 address") != NULL, "%s", err.msg);
}

static void test_ipv4(void)
{
    ipv4_ok("0.0.0.0", 0);
    ipv4_ok("255.255.255.255", 0xffffffffu);
    ipv4_ok("10.0.0.1", 0x0a000001u);
    ipv4_ok("172.20.0.65", 0xac140041u);
    ipv4_ok("127.0.0.1", 0x7f000001u);
    ipv4_ok("1.20.100.200", 0x011464c8u);
    ipv4_bad("01.2.3.4"); /* leading zero */
    ipv4_bad("1.2.3.04");
    ipv4_bad("1.2.00.4");
    ipv4_bad("256.0.0.1");
    ipv4_bad("1.2.3.1000");
    ipv4_bad("99999999999999999999.1.1.1");
    ipv4_bad("1.2.3");
    ipv4_bad("1.2.3.4.5");
    ipv4_bad("1.2.3.");
    ipv4_bad(".1.2.3");
    ipv4_bad("1..2.3");
    ipv4_bad("1.2.3.4 ");
    ipv4_bad(" 1.2.3.4");
    ipv4_bad("1.2.3.4\n");
    ipv4_bad("1.2.3.4/8");
    ipv4_bad("+1.2.3.4");
    ipv4_bad("-1.2.3.4");
    ipv4_bad("0x1.2.3.4");
    ipv4_bad("4294967295");
    ipv4_bad("a.b.c.d");
    ipv4_bad("::1");
    ipv4_bad("");
    ipv4_bad(NULL);

    char out[16];
    CHECK(strcmp(model_ipv4_format(0, out), "0.0.0.0") == 0);
    CHECK(strcmp(model_ipv4_format(0xffffffffu, out), "255.255.255.255") == 0);
    CHECK(model_ipv4_format(0x0a000009u, out) == out && strcmp(out, "10.0.0.9") == 0);
}

static void test_ipv6(void)
{
    uint8_t out[16];
    model_err_t err = {{0}};
    static const uint8_t doc[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    CHECK(model_ipv6_parse("2001:db8::1", out, "a", &err) == 0 && memcmp(out, doc, 16) == 0);
    CHECK(model_ipv6_parse("::1", out, "a", &err) == 0 && out[15] == 1);
    CHECK(model_ipv6_parse("fe80::1", NULL, "a", &err) == 0);
    CHECK(model_ipv6_parse("::ffff:1.2.3.4", out, "a", &err) == 0 && out[12] == 1);
    CHECK(model_ipv6_parse("FD00:0:0:0:0:0:0:1", out, "a", &err) == 0);
    const char *bad[] = {"1.2.3.4",           ":::",   "fe80::1%eth0", "", "g::1",
                         "1:2:3:4:5:6:7:8:9", "[::1]", "::1 "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECKF(model_ipv6_parse(bad[i], out, "api.addr", &err) == -EINVAL, "%s", bad[i]);
        CHECK_MSG(err, "api.addr");
        CHECK(strstr(err.msg, "is not an IPv6 address") != NULL);
    }
    CHECK(model_ipv6_parse(NULL, out, "api.addr", &err) == -EINVAL);
}

static void cidr_ok(const char *in, uint32_t want_addr, unsigned want_len)
{
    uint32_t addr = 1;
    unsigned len = 99;
    model_err_t err = {{0}};
    int rc = model_cidrv4_parse(in, &addr, &len, "interfaces[1].cidrv4", &err);
    CHECKF(rc == 0 && addr == want_addr && len == want_len, "%s -> rc %d %08x/%u (%s)", in, rc,
           addr, len, err.msg);
    CHECK(model_cidrv4_parse(in, NULL, NULL, NULL, NULL) == 0);
}

static void cidr_bad(const char *in)
{
    uint32_t addr;
    unsigned len;
    model_err_t err = {{0}};
    CHECKF(model_cidrv4_parse(in, &addr, &len, "interfaces[1].cidrv4", &err) == -EINVAL,
           "%s accepted", in ? in : "(null)");
    CHECK_MSG(err, "interfaces[1].cidrv4");
    CHECKF(strstr(err.msg, "is not an IPv4 CIDR") != NULL, "%s", err.msg);
}

static void test_cidr(void)
{
    cidr_ok("172.20.0.65/21", 0xac140041u, 21); /* host bits set: kept */
    cidr_ok("127.0.0.1/8", 0x7f000001u, 8);
    cidr_ok("0.0.0.0/0", 0, 0);
    cidr_ok("10.0.0.1/32", 0x0a000001u, 32);
    cidr_bad("10.0.0.1/33");
    cidr_bad("10.0.0.1/100");
    cidr_bad("10.0.0.1/08");
    cidr_bad("10.0.0.1/-1");
    cidr_bad("10.0.0.1/");
    cidr_bad("10.0.0.1");
    cidr_bad("10.0.0.1/8/8");
    cidr_bad("10.0.0.1 /8");
    cidr_bad("10.0.0.1/ 8");
    cidr_bad("10.0.0.1/8 ");
    cidr_bad("01.0.0.1/8");
    cidr_bad("256.0.0.1/8");
    cidr_bad("/8");
    cidr_bad("10.0.0/8");
    cidr_bad("");
    cidr_bad(NULL);
}

static void test_roles(void)
{
    model_role_t r = 0;
    model_err_t err = {{0}};
    CHECK(model_role_parse("etcd-member", &r, "role", &err) == 0 && r == MODEL_ROLE_ETCD_MEMBER);
    CHECK(model_role_parse("kubernetes-control-plane", &r, "role", &err) == 0 &&
          r == MODEL_ROLE_KUBERNETES_CONTROL_PLANE);
    CHECK(model_role_parse("kubernetes-node", &r, "role", &err) == 0 &&
          r == MODEL_ROLE_KUBERNETES_NODE);
    const char *bad[] = {"etcd",         "Etcd-member",      "",
                         "etcd-member ", "kubernetes-nodes", "etcd-member&kubernetes-node"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECKF(model_role_parse(bad[i], &r, "roles[0]", &err) == -EINVAL, "%s", bad[i]);
        CHECK_MSG(err, "roles[0]");
        CHECKF(strstr(err.msg, "etcd-member, kubernetes-control-plane or kubernetes-node"), "%s",
               err.msg);
    }
    CHECK(model_role_parse(NULL, &r, "roles[0]", &err) == -EINVAL);

    CHECK(strcmp(model_role_name(MODEL_ROLE_ETCD_MEMBER), "etcd-member") == 0);
    CHECK(strcmp(model_role_name(MODEL_ROLE_KUBERNETES_CONTROL_PLANE),
                 "kubernetes-control-plane") == 0);
    CHECK(strcmp(model_role_name(MODEL_ROLE_KUBERNETES_NODE), "kubernetes-node") == 0);
    CHECK(model_role_name(0) == NULL);
    CHECK(model_role_name((model_role_t)3) == NULL);
    CHECK(model_role_name((model_role_t)8) == NULL);
    CHECK(model_role_name((model_role_t)MODEL_ROLE_ALL) == NULL);
    for (unsigned b = 0; b < 3; b++) {
        model_role_t back;
        CHECK(model_role_parse(model_role_name((model_role_t)(1u << b)), &back, NULL, NULL) == 0 &&
              back == (model_role_t)(1u << b));
    }
}

static void joined_ok(const char *in, unsigned want)
{
    unsigned set = 0xff;
    model_err_t err = {{0}};
    int rc = model_roles_parse_joined(in, &set, "/scheduler", &err);
    CHECKF(rc == 0 && set == want, "%s -> rc %d set %u (%s)", in, rc, set, err.msg);
}

static void joined_bad(const char *in, const char *why)
{
    unsigned set = 0;
    model_err_t err = {{0}};
    CHECKF(model_roles_parse_joined(in, &set, "/scheduler", &err) == -EINVAL, "%s accepted",
           in ? in : "(null)");
    CHECK_MSG(err, "/scheduler");
    CHECKF(strstr(err.msg, why) != NULL, "%s: want %s in %s", in, why, err.msg);
}

static void test_roles_joined(void)
{
    joined_ok("etcd-member", MODEL_ROLE_ETCD_MEMBER);
    joined_ok("kubernetes-node", MODEL_ROLE_KUBERNETES_NODE);
    joined_ok("etcd-member&kubernetes-control-plane", 3);
    joined_ok("kubernetes-control-plane&etcd-member", 3);
    joined_ok("etcd-member&kubernetes-control-plane&kubernetes-node", MODEL_ROLE_ALL);
    joined_bad("", "empty role");
    joined_bad("&", "empty role");
    joined_bad("etcd-member&", "empty role");
    joined_bad("&etcd-member", "empty role");
    joined_bad("etcd-member&&kubernetes-node", "empty role");
    joined_bad("etcd-member&etcd-member", "twice");
    joined_bad("etcd-member&kubernetes-node&etcd-member", "twice");
    joined_bad("etcd-member&foo", "\"foo\" is not a role");
    joined_bad("etcd-member,kubernetes-node", "is not a role");
    joined_bad("etcd-member& kubernetes-node", "is not a role");
    joined_bad(NULL, "missing");
}

static void test_strategy_state(void)
{
    model_err_t err = {{0}};
    const char *strategies[] = {"kexec", "reboot", "poweroff"};
    for (int i = 0; i < 3; i++) {
        model_strategy_t s = 99;
        CHECK(model_strategy_parse(strategies[i], &s, "strategy", &err) == 0 && (int)s == i);
        CHECK(strcmp(model_strategy_name(s), strategies[i]) == 0);
    }
    CHECK(MODEL_STRATEGY_KEXEC == 0 && MODEL_STRATEGY_POWEROFF == 2);
    CHECK(model_strategy_name((model_strategy_t)3) == NULL);
    CHECK(model_strategy_name((model_strategy_t)-1) == NULL);
    const char *bad_s[] = {"", "KEXEC", "reboot\n", "halt", "kexec ", NULL};
    for (size_t i = 0; i < sizeof(bad_s) / sizeof(bad_s[0]); i++) {
        model_strategy_t s;
        CHECK(model_strategy_parse(bad_s[i], &s, "strategy", &err) == -EINVAL);
        CHECK_MSG(err, "strategy");
        CHECK(strstr(err.msg, "kexec, reboot or poweroff") != NULL);
    }

    const char *states[] = {"booting",
                            "discovery",
                            "os_installation_granted",
                            "os_installation_denied",
                            "installation_succeed",
                            "installation_failed"};
    for (int i = 0; i < 6; i++) {
        model_state_t s = 99;
        CHECK(model_state_parse(states[i], &s, "state", &err) == 0 && (int)s == i);
        CHECK(strcmp(model_state_name(s), states[i]) == 0);
    }
    CHECK(MODEL_STATE_INSTALLATION_FAILED == 5);
    CHECK(model_state_name((model_state_t)6) == NULL);
    const char *bad_st[] = {"", "Booting", "installation_succeeded", "os-installation-granted",
                            NULL};
    for (size_t i = 0; i < sizeof(bad_st) / sizeof(bad_st[0]); i++) {
        model_state_t s;
        CHECK(model_state_parse(bad_st[i], &s, "state", &err) == -EINVAL);
        CHECK_MSG(err, "state");
        CHECK(strstr(err.msg, "is not a machine state") != NULL);
    }
}

static void test_ifname(void)
{
    model_err_t err = {{0}};
    const char *ok[] = {"lo", "eth0", "enp0s31f6", "a", "br-1a2b.100", "wlan0:1"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        CHECKF(model_ifname_check(ok[i], "interfaces[0].name", &err) == 0, "%s", ok[i]);
    CHECK(model_ifname_check(repeat('e', 15), NULL, NULL) == 0);
    CHECK(model_ifname_check(repeat('e', 16), "n", &err) == -EINVAL);
    const char *bad[] = {"",        "eth/0",       "eth 0",    "eth\t0",
                         "eth\x01", "\xc3\xa9th0", "eth0\x7f", NULL};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECKF(model_ifname_check(bad[i], "interfaces[0].name", &err) == -EINVAL, "%zu", i);
        CHECK_MSG(err, "interfaces[0].name");
        CHECK(strstr(err.msg, "is not an interface name") != NULL);
    }
}

static void fqdn_ok(const char *in, const char *want)
{
    char out[254] = "x";
    model_err_t err = {{0}};
    int rc = model_fqdn_parse(in, out, sizeof(out), "interfaces[1].fqdn[0]", &err);
    CHECKF(rc == 0 && strcmp(out, want) == 0, "%.40s -> rc %d out %.40s (%s)", in, rc, out,
           err.msg);
}

static void fqdn_bad(const char *in)
{
    char out[254];
    model_err_t err = {{0}};
    CHECKF(model_fqdn_parse(in, out, sizeof(out), "interfaces[1].fqdn[0]", &err) == -EINVAL,
           "%.40s accepted", in ? in : "(null)");
    CHECK_MSG(err, "interfaces[1].fqdn[0]");
    CHECKF(strstr(err.msg, "is not a DNS name") != NULL, "%s", err.msg);
}

static void test_fqdn(void)
{
    fqdn_ok("1.host.enjoliver.local", "1.host.enjoliver.local");
    fqdn_ok("r13-srv5.dc-1.example.net.", "r13-srv5.dc-1.example.net");
    fqdn_ok("LocalHost", "localhost");
    fqdn_ok("localhost.", "localhost");
    fqdn_ok("_srv.a_b.Example", "_srv.a_b.example");
    fqdn_ok("1.2.3.4", "1.2.3.4");

    /* Label and name length limits: 63 and 253 (254 with the dot). */
    char name[300];
    snprintf(name, sizeof(name), "%.63s.x", repeat('a', 63));
    fqdn_ok(name, name);
    snprintf(name, sizeof(name), "%.64s.x", repeat('a', 64));
    fqdn_bad(name);
    char l63[64];
    snprintf(l63, sizeof(l63), "%.63s", repeat('b', 63));
    snprintf(name, sizeof(name), "%s.%s.%s.%.61s", l63, l63, l63, repeat('c', 61));
    CHECK(strlen(name) == 253);
    fqdn_ok(name, name);
    char dotted[300];
    snprintf(dotted, sizeof(dotted), "%.253s.", name);
    fqdn_ok(dotted, name);
    snprintf(name, sizeof(name), "%s.%s.%s.%.62s", l63, l63, l63, repeat('c', 62));
    fqdn_bad(name);

    fqdn_bad("");
    fqdn_bad(".");
    fqdn_bad("a..b");
    fqdn_bad(".a");
    fqdn_bad("a.b..");
    fqdn_bad("-a.b");
    fqdn_bad("a-.b");
    fqdn_bad("a.-b");
    fqdn_bad("a b");
    fqdn_bad("a/b");
    fqdn_bad("a.b.\n");
    fqdn_bad("h\xc3\xa9.example");
    fqdn_bad(NULL);

    /* Validation only, and a too small buffer. */
    model_err_t err = {{0}};
    CHECK(model_fqdn_parse("a.b.", NULL, 0, "f", &err) == 0);
    char small[4];
    CHECK(model_fqdn_parse("abc.", small, sizeof(small), "f", &err) == 0 &&
          strcmp(small, "abc") == 0);
    CHECK(model_fqdn_parse("abcd", small, sizeof(small), "f", &err) == -EINVAL);
    CHECK_MSG(err, "f");
}

static void test_disk(void)
{
    model_err_t err = {{0}};
    const char *ok[] = {"/dev/sda",
                        "/dev/nvme0n1",
                        "/dev/disk/by-id/ata-Samsung_SSD_860",
                        "/dev/mapper/vg-root",
                        "/dev/.hidden",
                        "/dev/..x"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        CHECKF(model_disk_path_check(ok[i], "disks[0].path", &err) == 0, "%s: %s", ok[i], err.msg);
    char path[300];
    snprintf(path, sizeof(path), "/dev/%.250s", repeat('d', 250));
    CHECK(model_disk_path_check(path, NULL, NULL) == 0);
    snprintf(path, sizeof(path), "/dev/%.251s", repeat('d', 251));
    CHECK(model_disk_path_check(path, NULL, NULL) == -EINVAL);
    const char *bad[] = {"",           "/dev/",     "/dev",       "dev/sda",
                         "/devsda",    "/tmp/sda",  "sda",        "/dev/../etc/shadow",
                         "/dev/./sda", "/dev/a/..", "/dev/sda\n", "/dev/sd\x80",
                         NULL};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECKF(model_disk_path_check(bad[i], "disks[0].path", &err) == -EINVAL, "%zu", i);
        CHECK_MSG(err, "disks[0].path");
        CHECK(strstr(err.msg, "is not a block device path") != NULL);
    }
}

static void test_quote(void)
{
    char out[128];
    CHECK(strcmp(model_quote("abc", 3, out, sizeof(out)), "\"abc\"") == 0);
    CHECK(strcmp(model_quote("", 0, out, sizeof(out)), "\"\"") == 0);
    CHECK(strcmp(model_quote(NULL, 5, out, sizeof(out)), "\"\"") == 0);
    CHECK(strcmp(model_quote("a\nb", 3, out, sizeof(out)), "\"a\\x0ab\"") == 0);
    CHECK(strcmp(model_quote("a\"b\\c", 5, out, sizeof(out)), "\"a\\x22b\\x5cc\"") == 0);
    CHECK(strcmp(model_quote("\xc3\xa9\x7f", 3, out, sizeof(out)), "\"\\xc3\\xa9\\x7f\"") == 0);
    CHECK(strcmp(model_quote("a\0b", 3, out, sizeof(out)), "\"a\\x00b\"") == 0);
    CHECK(strcmp(model_quote("abcdef", 2, out, sizeof(out)), "\"ab\"") == 0);

    /* 64 bytes are kept whole; beyond, the value is cut and its length said. */
    CHECK(strlen(model_quote(repeat('a', 64), 64, out, sizeof(out))) == 66);
    model_quote(repeat('a', 120), 120, out, sizeof(out));
    char want[128];
    snprintf(want, sizeof(want), "\"%.64s...(120 bytes)\"", repeat('a', 120));
    CHECKF(strcmp(out, want) == 0, "%s", out);

    /* Escapes are never split by the cut. */
    model_quote(repeat('\n', 100), 100, out, sizeof(out));
    CHECKF(strcmp(out + 1 + 64, "...(100 bytes)\"") == 0, "%s", out);

    /* Small buffers: still quoted, terminated and inside the buffer. */
    for (size_t size = 8; size < 40; size++) {
        char small[40];
        memset(small, 'Z', sizeof(small));
        model_quote(repeat('\x01', 200), 200, small, size);
        size_t len = strnlen(small, size);
        CHECKF(len < size && small[0] == '"' && small[len - 1] == '"', "size %zu: %s", size, small);
        CHECK(small[size] == 'Z' || size == sizeof(small));
        CHECKF(strstr(small, "...") != NULL, "size %zu: %s", size, small);
    }
    char exact[8];
    CHECK(strcmp(model_quote("abcde", 5, exact, sizeof(exact)), "\"abcde\"") == 0);
}

static void test_err_set(void)
{
    model_err_t err;
    CHECK(model_err_set(NULL, "x", "y") == -EINVAL);
    CHECK(model_err_set(&err, "a.b[2]", "is %s", "wrong") == -EINVAL);
    CHECK(strcmp(err.msg, "a.b[2]: is wrong") == 0);
    model_err_set(&err, NULL, "no place %d", 1);
    CHECK(strcmp(err.msg, "no place 1") == 0);
    model_err_set(&err, "", "no place");
    CHECK(strcmp(err.msg, "no place") == 0);
    /* A where-path from the input with raw bytes cannot make it unsafe. */
    model_err_set(&err, "a\n\"b\xff", "bad");
    CHECKF(strcmp(err.msg, "a?\"b?: bad") == 0, "%s", err.msg);
    /* Long texts are cut inside the buffer. */
    model_err_set(&err, repeat('w', 300), "tail");
    CHECK(strlen(err.msg) == MODEL_ERR_MAX - 1);
    model_err_set(&err, "w", "%s", repeat('m', 600));
    CHECK(strlen(err.msg) == MODEL_ERR_MAX - 1 && strncmp(err.msg, "w: mmm", 6) == 0);

    /* A cut value and a long where-path still leave the hint in the message. */
    char out[MODEL_MAC_LEN + 1];
    model_mac_parse(repeat('\x1b', 500), out, "lldp.data.interfaces[12].chassis.id", &err);
    CHECK_MSG(err, "lldp.data.interfaces[12].chassis.id");
    CHECKF(strstr(err.msg, "(500 bytes)\" is not a MAC address (want aa:bb:cc:dd:ee:ff)") != NULL,
           "%s", err.msg);
}

int main(void)
{
    test_mac();
    test_uuid();
    test_ipv4();
    test_ipv6();
    test_cidr();
    test_roles();
    test_roles_joined();
    test_strategy_state();
    test_ifname();
    test_fqdn();
    test_disk();
    test_quote();
    test_err_set();
    return check_report("test_validate");
}

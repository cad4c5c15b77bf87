/* Every identifier of the original's discovery bodies (spec fixtures
 * discovery-m01..m23.json and the synthetic discoveryC one) parses, and the
 * raw queries in their ignition journals give the boot MAC. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "check.h"
#include "model/rawquery.h"
#include "model/validate.h"

#ifndef ENJ_FIXTURES_DIR
#error "ENJ_FIXTURES_DIR must name the spec fixtures directory"
#endif

static int n_macs, n_uuids, n_ipv4, n_cidrs, n_fqdns, n_queries;

static const char *str_at(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static void mac_ok(const char *file, const char *mac, const char *where)
{
    char out[MODEL_MAC_LEN + 1];
    model_err_t err = {{0}};
    CHECKF(mac != NULL && model_mac_parse(mac, out, where, &err) == 0, "%s: %s", file, err.msg);
    /* The fixtures already hold the canonical form. */
    CHECKF(mac == NULL || strcmp(out, mac) == 0, "%s: %s -> %s", file, mac, out);
    n_macs++;
}

static void uuid_ok(const char *file, const char *uuid, const char *where)
{
    char out[MODEL_UUID_LEN + 1];
    model_err_t err = {{0}};
    CHECKF(uuid != NULL && model_uuid_parse(uuid, out, where, &err) == 0, "%s: %s", file, err.msg);
    n_uuids++;
}

static void check_fqdns(const char *file, json_t *fqdn)
{
    size_t i;
    json_t *name;
    json_array_foreach(fqdn, i, name)
    {
        char out[254];
        model_err_t err = {{0}};
        const char *s = json_string_value(name);
        CHECKF(s != NULL && model_fqdn_parse(s, out, sizeof(out), "fqdn", &err) == 0, "%s: %s",
               file, err.msg);
        size_t len = s != NULL ? strlen(s) : 0;
        CHECKF(len > 0 && strncmp(out, s, len - (s[len - 1] == '.')) == 0, "%s: %s -> %s", file, s,
               out);
        n_fqdns++;
    }
}

static void check_iface(const char *file, json_t *it)
{
    model_err_t err = {{0}};
    const char *mac = str_at(it, "mac");
    CHECK(mac != NULL);
    if (mac != NULL && mac[0] != '\0') /* lo has "" */
        mac_ok(file, mac, "interfaces[].mac");
    CHECKF(model_ifname_check(str_at(it, "name"), "name", &err) == 0, "%s: %s", file, err.msg);

    uint32_t ip = 0, gw = 0, caddr = 1;
    unsigned plen = 99;
    CHECKF(model_ipv4_parse(str_at(it, "ipv4"), &ip, "ipv4", &err) == 0, "%s: %s", file, err.msg);
    CHECKF(model_ipv4_parse(str_at(it, "gateway"), &gw, "gateway", &err) == 0, "%s: %s", file,
           err.msg);
    CHECKF(model_cidrv4_parse(str_at(it, "cidrv4"), &caddr, &plen, "cidrv4", &err) == 0, "%s: %s",
           file, err.msg);
    CHECKF(caddr == ip, "%s: cidrv4 address differs from ipv4", file);
    CHECKF((json_int_t)plen == json_integer_value(json_object_get(it, "netmask")),
           "%s: prefix %u vs netmask", file, plen);
    char back[16];
    CHECK(strcmp(model_ipv4_format(ip, back), str_at(it, "ipv4")) == 0);
    n_ipv4 += 2;
    n_cidrs++;
    check_fqdns(file, json_object_get(it, "fqdn"));
}

static void check_lldp(const char *file, json_t *lldp)
{
    json_t *ifs = json_object_get(json_object_get(lldp, "data"), "interfaces");
    size_t i;
    json_t *e;
    json_array_foreach(ifs, i, e)
    {
        mac_ok(file, str_at(json_object_get(e, "chassis"), "id"), "lldp.chassis.id");
        model_err_t err = {{0}};
        CHECKF(model_ifname_check(str_at(e, "name"), "lldp.name", &err) == 0, "%s: %s", file,
               err.msg);
    }
}

/* Journal lines quote the Ignition URL: "...ignition?<raw query>" (or
 * ignition-pxe?) ending at a quote, a ':' or a space. Each query must give the boot MAC. */
static void check_journal(const char *file, json_t *journal, const char *boot_mac)
{
    size_t i;
    json_t *line;
    json_array_foreach(journal, i, line)
    {
        const char *s = json_string_value(line);
        const char *url = s != NULL ? strstr(s, "/ignition") : NULL;
        const char *q = url != NULL ? strchr(url, '?') : NULL; /* /ignition or /ignition-pxe */
        if (q == NULL)
            continue;
        size_t len = strcspn(q, "\": ");
        char mac[MODEL_MAC_LEN + 1];
        model_err_t err = {{0}};
        int rc = model_query_mac(q, len, mac, &err);
        CHECKF(rc == 0 && strcmp(mac, boot_mac) == 0, "%s: %.*s -> %d %s", file, (int)len, q, rc,
               err.msg);
        n_queries++;
    }
}

static void check_disks(const char *file, json_t *disks)
{
    size_t i;
    json_t *d;
    json_array_foreach(disks, i, d)
    {
        model_err_t err = {{0}};
        CHECKF(model_disk_path_check(str_at(d, "path"), "disks[].path", &err) == 0, "%s: %s", file,
               err.msg);
    }
}

static void check_file(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", ENJ_FIXTURES_DIR, name);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    CHECKF(root != NULL, "%s: %s", path, jerr.text);
    if (root == NULL)
        return;
    json_t *bi = json_object_get(root, "boot-info");
    const char *boot_mac = str_at(bi, "mac");
    mac_ok(name, boot_mac, "boot-info.mac");
    uuid_ok(name, str_at(bi, "uuid"), "boot-info.uuid");
    uuid_ok(name, str_at(bi, "random-id"), "boot-info.random-id");
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(root, "interfaces"), i, it) check_iface(name, it);
    check_lldp(name, json_object_get(root, "lldp"));
    check_disks(name, json_object_get(root, "disks"));
    if (boot_mac != NULL)
        check_journal(name, json_object_get(root, "ignition-journal"), boot_mac);
    json_decref(root);
}

int main(void)
{
    struct stat st;
    if (stat(ENJ_FIXTURES_DIR, &st) != 0) {
        /* The fixtures are part of the contract: their absence is a failure. */
        printf("test_fixtures: %s not found (the spec must sit beside the repository)\n",
               ENJ_FIXTURES_DIR);
        return 1;
    }
    for (int m = 1; m <= 23; m++) {
        char name[64];
        snprintf(name, sizeof(name), "discovery-m%02d.json", m);
        check_file(name);
    }
    check_file("discovery-synthetic-discoveryc.json");
    /* 24 bodies: 24 boot MACs + 25 NIC MACs + 22 LLDP chassis; journals in
     * m01..m15 and the synthetic one. */
    printf("fixtures: %d MACs, %d UUIDs, %d IPv4, %d CIDRs, %d names, %d queries\n", n_macs,
           n_uuids, n_ipv4, n_cidrs, n_fqdns, n_queries);
    CHECK(n_uuids == 48);
    CHECK(n_cidrs == 49);
    CHECK(n_macs >= 24 + 25);
    CHECK(n_fqdns >= 3);
    CHECK(n_queries >= 15);
    return check_report("test_fixtures");
}

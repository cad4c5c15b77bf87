/*
 * The agent's facts from a fake root (files shaped like a real host's
 * /proc and /sys), and the discovery body they make — decoded by the
 * API's own decoder, so the agent speaks what the server accepts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../model/check.h"
#include "agent/facts.h"
#include "agent/report.h"
#include "model/discovery.h"
#include "model/machine.h"

static char root[256];

static void put(const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        mkdir(path, 0755);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    CHECKF(f != NULL, "cannot write %s", path);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void drop(const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    unlink(path);
}

static const char route[] =
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "eth0\t00000000\t0100030A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
    "eth0\t0000030A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
    "eth1\t000DA8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";

static const char fib_trie[] = "Main:\n"
                               "  +-- 0.0.0.0/0 3 0 5\n"
                               "     |-- 0.0.0.0\n"
                               "        /0 universe UNICAST\n"
                               "     +-- 10.3.0.0/16 2 0 2\n"
                               "        |-- 10.3.0.0\n"
                               "           /16 link UNICAST\n"
                               "Local:\n"
                               "  +-- 0.0.0.0/0 3 0 5\n"
                               "     +-- 10.3.0.0/16 2 0 2\n"
                               "        |-- 10.3.13.5\n"
                               "           /32 host LOCAL\n"
                               "        |-- 10.3.255.255\n"
                               "           /32 link BROADCAST\n"
                               "     |-- 127.0.0.1\n"
                               "        /32 host LOCAL\n"
                               "     |-- 192.168.13.5\n"
                               "        /32 host LOCAL\n";

static void make_host(void)
{
    put("proc/cmdline", "BOOT_IMAGE=/vmlinuz coreos.config.url=http://10.3.0.10:5000/"
                        "ignition?uuid=4C4C4544-0047-3510-8052-B4C04F4E3132&mac=0C-C4-7A-8E-10-A2 "
                        "console=ttyS0\n");
    put("proc/sys/kernel/random/boot_id", "6f1e3b0e-9b0a-4d52-a7c4-2f3f1f6f8e21\n");
    put("sys/class/net/lo/address", "00:00:00:00:00:00\n");
    put("sys/class/net/eth0/address", "0C:C4:7A:8E:10:A2\n");
    put("sys/class/net/eth1/address", "0c:c4:7a:8e:10:a3\n");
    put("sys/class/net/eth2/address", "0c:c4:7a:8e:10:a4\n"); /* no address */
    put("proc/net/route", route);
    put("proc/net/fib_trie", fib_trie);
    put("proc/net/if_inet6", "fe800000000000000ec47afffe8e10a2 02 40 20 80     eth0\n"
                             "20010db8000000000000000000000005 02 40 00 80     eth0\n"
                             "00000000000000000000000000000001 01 80 10 80       lo\n");
    put("sys/block/sda/size", "468862128\n");
    put("sys/block/sdb/size", "3907029168\n");
    put("sys/block/loop0/size", "1024\n"); /* not a disk */
    put("sys/block/sr0/size", "0\n");
    put("run/ignition.journal", "line one\n\nline two\n");
    put("lldp.txt", "lldp.eth0.via=LLDP\n"
                    "lldp.eth0.chassis.mac=58:8d:09:1a:2b:00\n"
                    "lldp.eth0.chassis.name=tor-r13-a\n"
                    "lldp.eth0.port.ifname=Ethernet1/13\n");
}

static const agent_iface_t *iface(const agent_facts_t *f, const char *name)
{
    for (size_t i = 0; i < f->n_ifaces; i++)
        if (strcmp(f->ifaces[i].name, name) == 0)
            return &f->ifaces[i];
    return NULL;
}

static void test_host(void)
{
    char lldp[300];
    snprintf(lldp, sizeof lldp, "%s/lldp.txt", root);
    agent_facts_opts_t o = {.root = root, .lldp_file = lldp};
    agent_facts_t f;
    const char *why;
    CHECK(agent_facts_read(&o, &f, &why) == 0);
    CHECK(strcmp(f.uuid, "4c4c4544-0047-3510-8052-b4c04f4e3132") == 0);
    CHECK(strcmp(f.boot_mac, "0c:c4:7a:8e:10:a2") == 0);
    CHECK(strcmp(f.boot_id, "6f1e3b0e-9b0a-4d52-a7c4-2f3f1f6f8e21") == 0);
    CHECK(strcmp(f.gateway, "10.3.0.1") == 0);
    CHECK(f.n_ifaces == 4);
    const agent_iface_t *lo = iface(&f, "lo"), *e0 = iface(&f, "eth0"), *e1 = iface(&f, "eth1"),
                        *e2 = iface(&f, "eth2");
    CHECK(lo && !*lo->mac && strcmp(lo->ipv4, "127.0.0.1") == 0 && lo->prefix == 8);
    CHECK(e0 && strcmp(e0->mac, "0c:c4:7a:8e:10:a2") == 0);
    CHECK(e0 && strcmp(e0->ipv4, "10.3.13.5") == 0 && e0->prefix == 16);
    CHECK(e1 && strcmp(e1->ipv4, "192.168.13.5") == 0 && e1->prefix == 24);
    CHECK(e2 && !*e2->ipv4);
    CHECK(e0 && strcmp(e0->ipv6, "2001:db8::5") == 0 && e0->prefix6 == 64); /* global only */
    CHECK(lo && !*lo->ipv6 && e1 && !*e1->ipv6);
    CHECK(e0 && e0->has_lldp && strcmp(e0->lldp.chassis_id, "58:8d:09:1a:2b:00") == 0 &&
          strcmp(e0->lldp.port_id, "Ethernet1/13") == 0);
    CHECK(e1 && !e1->has_lldp);
    CHECK(f.n_disks == 2 && strcmp(f.disks[0].path, "/dev/sda") == 0 &&
          f.disks[0].size_bytes == 468862128ull * 512);
    CHECK(f.n_journal == 2 && strcmp(f.journal[1], "line two") == 0);

    /* The server's decoder takes the body as it is. */
    json_t *body = agent_discovery_body(&f);
    CHECK(body != NULL);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    model_discovery_t *d = NULL;
    model_err_t err = {{0}};
    int rc = text ? model_discovery_decode(text, strlen(text), &d, &err) : -ENOMEM;
    CHECKF(rc == 0, "decode: %d %s\n%s", rc, err.msg, text ? text : "");
    if (rc == 0) {
        CHECK(strcmp(d->uuid, f.uuid) == 0 && strcmp(d->boot_mac, f.boot_mac) == 0);
        CHECK(d->n_ifaces == 3); /* lo has no MAC: not stored */
        CHECK(d->n_disks == 2);
        bool boot_seen = false;
        for (size_t i = 0; i < d->n_ifaces; i++)
            if (d->ifaces[i].as_boot)
                boot_seen = strcmp(d->ifaces[i].cidrv4, "10.3.13.5/16") == 0 &&
                            strcmp(d->ifaces[i].lldp.chassis_name, "tor-r13-a") == 0 &&
                            strcmp(d->ifaces[i].cidrv6, "2001:db8::5/64") == 0;
        CHECK(boot_seen);
        /* The stored record keeps IPv6, and records without it are as before. */
        model_machine_t *m = calloc(1, sizeof(*m)), *back = NULL;
        CHECK(m != NULL);
        model_machine_from_discovery(m, d, NULL, 1000);
        json_t *rec = model_machine_encode(m);
        char *rtext = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
        CHECK(rtext && strstr(rtext, "\"cidrv6\":\"2001:db8::5/64\""));
        CHECK(rtext && model_machine_decode(rtext, strlen(rtext), &back, &err) == 0);
        bool found = false;
        for (size_t i = 0; back && i < back->facts.n_ifaces; i++)
            found |= strcmp(back->facts.ifaces[i].ipv6, "2001:db8::5") == 0;
        CHECK(found);
        for (size_t i = 0; back && i < back->facts.n_ifaces; i++)
            if (!back->facts.ifaces[i].as_boot)
                CHECK(!back->facts.ifaces[i].ipv6[0]);
        free(back);
        free(rtext);
        json_decref(rec);
        free(m);
        model_discovery_free(d);
    }
    free(text);
    json_decref(body);

    /* A change of fact is seen; the same facts compare equal. */
    agent_facts_t g;
    CHECK(agent_facts_read(&o, &g, &why) == 0);
    CHECK(agent_facts_equal(&f, &g));
    agent_facts_free(&g);
    put("sys/block/sdc/size", "2048\n");
    CHECK(agent_facts_read(&o, &g, &why) == 0);
    CHECK(!agent_facts_equal(&f, &g) && g.n_disks == 3);
    agent_facts_free(&g);
    drop("sys/block/sdc/size");
    agent_facts_free(&f);
}

static void test_fallbacks(void)
{
    agent_facts_opts_t o = {.root = root};
    agent_facts_t f;
    const char *why = NULL;
    /* No Ignition URL on the command line: the metadata file's query. */
    put("proc/cmdline", "BOOT_IMAGE=/vmlinuz console=ttyS0\n");
    put("etc/metadata.env", "A=1\nREQUEST_RAW_QUERY=uuid=aaaaaaaa-0000-0000-0000-000000000001&mac="
                            "0c-c4-7a-8e-10-a3&os=installed\n");
    CHECK(agent_facts_read(&o, &f, &why) == 0);
    CHECK(strcmp(f.uuid, "aaaaaaaa-0000-0000-0000-000000000001") == 0);
    CHECK(strcmp(f.boot_mac, "0c:c4:7a:8e:10:a3") == 0);
    CHECK(!f.lldp_read);
    agent_facts_free(&f);
    /* Neither: the SMBIOS UUID, but no boot MAC -> refused, with a reason. */
    drop("etc/metadata.env");
    put("sys/class/dmi/id/product_uuid", "BBBBBBBB-0000-0000-0000-000000000002\n");
    CHECK(agent_facts_read(&o, &f, &why) == -ENODATA);
    CHECK(why && strstr(why, "boot MAC"));
    drop("sys/class/dmi/id/product_uuid");
    CHECK(agent_facts_read(&o, &f, &why) == -ENODATA);
    CHECK(why && strstr(why, "UUID"));
}

int main(void)
{
    snprintf(root, sizeof root, "%s/agent-facts-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    make_host();
    test_host();
    test_fallbacks();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
    printf("%d checks, %d failed\n", check_count, check_failures);
    return check_failures ? 1 : 0;
}

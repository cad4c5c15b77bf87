/* A machine's facts from files under a root. See facts.h. */
#include "agent/facts.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small file helpers ---------------------------------------------------- */

static FILE *open_under(const char *root, const char *rel)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    return fopen(path, "r");
}

/* The first line of root/rel without its newline, or "" (false). */
static bool read_line(const char *root, const char *rel, char *out, size_t size)
{
    FILE *f = open_under(root, rel);
    *out = 0;
    if (!f)
        return false;
    bool ok = fgets(out, (int)size, f) != NULL;
    fclose(f);
    out[strcspn(out, "\r\n")] = 0;
    return ok && *out;
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* Calls fn(name, arg) for each entry of root/rel but "." ones, until it
 * returns non-zero (returned); 0 when the directory is not there. */
static int each_entry(const char *root, const char *rel, int (*fn)(const char *name, void *arg),
                      void *arg)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", root, rel);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)))
        if (e->d_name[0] != '.')
            rc = fn(e->d_name, arg);
    closedir(d);
    return rc;
}

typedef struct walk_s {
    const char *root;
    agent_facts_t *f;
} walk_t;

/* ---- boot identity --------------------------------------------------------- */

/* Copies the value of key= from a query ("a=1&b=2"), up to a separator. */
static bool query_value(const char *q, const char *key, char *out, size_t size)
{
    size_t klen = strlen(key);
    for (const char *p = q; p && *p; p = strpbrk(p, "&?")) {
        if (*p == '&' || *p == '?')
            p++;
        if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
            const char *v = p + klen + 1;
            size_t n = strcspn(v, "& \t\r\n\"");
            if (n == 0 || n >= size)
                return false;
            memcpy(out, v, n);
            out[n] = 0;
            return true;
        }
    }
    return false;
}

/* uuid= and mac= of the query iPXE booted with: the kernel command line's
 * Ignition URL, else the metadata file. */
static void boot_query(const char *root, agent_facts_t *f)
{
    char line[4096], *q = NULL;
    if (read_line(root, "proc/cmdline", line, sizeof line)) {
        char *url = strstr(line, "coreos.config.url=");
        if (!url)
            url = strstr(line, "ignition.config.url=");
        q = url ? strchr(url, '?') : NULL;
    }
    FILE *m = q ? NULL : open_under(root, "etc/metadata.env");
    while (m && fgets(line, sizeof line, m)) {
        if (strncmp(line, "REQUEST_RAW_QUERY=", 18) == 0) {
            q = line + 18;
            break;
        }
    }
    if (m)
        fclose(m);
    if (!q)
        return;
    query_value(q, "uuid", f->uuid, sizeof f->uuid);
    if (query_value(q, "mac", f->boot_mac, sizeof f->boot_mac)) {
        for (char *p = f->boot_mac; *p; p++)
            *p = *p == '-' ? ':' : (char)tolower((unsigned char)*p);
    }
    lower(f->uuid);
}

/* ---- interfaces -------------------------------------------------------------- */

static int add_iface(agent_facts_t *f, const char *name)
{
    agent_iface_t *v = realloc(f->ifaces, (f->n_ifaces + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    f->ifaces = v;
    agent_iface_t *it = &v[f->n_ifaces++];
    memset(it, 0, sizeof(*it));
    snprintf(it->name, sizeof it->name, "%s", name);
    return 0;
}

static int cmp_iface(const void *a, const void *b)
{
    return strcmp(((const agent_iface_t *)a)->name, ((const agent_iface_t *)b)->name);
}

static int iface_seen(const char *name, void *arg)
{
    walk_t *w = arg;
    if (strlen(name) >= AGENT_IFNAME_MAX)
        return 0;
    char rel[300], mac[64]; /* name may be 255 bytes to the compiler */
    snprintf(rel, sizeof rel, "sys/class/net/%s/address", name);
    if (!read_line(w->root, rel, mac, sizeof mac) && strcmp(name, "lo") != 0)
        return 0;
    int rc = add_iface(w->f, name);
    lower(mac);
    if (rc == 0 && strlen(mac) == AGENT_MAC_LEN && strcmp(mac, "00:00:00:00:00:00") != 0)
        memcpy(w->f->ifaces[w->f->n_ifaces - 1].mac, mac, AGENT_MAC_LEN + 1);
    return rc;
}

static int read_ifaces(const char *root, agent_facts_t *f)
{
    walk_t w = {root, f};
    int rc = each_entry(root, "sys/class/net", iface_seen, &w);
    if (f->n_ifaces > 1)
        qsort(f->ifaces, f->n_ifaces, sizeof *f->ifaces, cmp_iface);
    return rc;
}

typedef struct route_s {
    char iface[AGENT_IFNAME_MAX];
    uint32_t dest, gateway, mask; /* network order, as the kernel prints them */
} route_t;

/* /proc/net/route: hex fields in the kernel's (network) byte order. */
static size_t read_routes(const char *root, route_t *out, size_t max, char *gateway, size_t gw_size)
{
    FILE *f = open_under(root, "proc/net/route");
    char line[512];
    size_t n = 0;
    *gateway = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f) && n < max) {
        route_t r;
        unsigned flags;
        if (sscanf(line, "%15s %x %x %x %*d %*d %*d %x", r.iface, &r.dest, &r.gateway, &flags,
                   &r.mask) != 5)
            continue; /* the header */
        if (r.dest == 0 && r.mask == 0 && r.gateway && !*gateway) {
            struct in_addr a = {.s_addr = r.gateway};
            inet_ntop(AF_INET, &a, gateway, (socklen_t)gw_size);
        }
        out[n++] = r;
    }
    fclose(f);
    return n;
}

static unsigned prefix_len(uint32_t mask_net)
{
    return (unsigned)__builtin_popcount(mask_net);
}

/* The interface and prefix of a local address: the most specific route
 * without a gateway that contains it. Loopback addresses are lo's /8. */
static void place_address(agent_facts_t *f, const route_t *routes, size_t n, const char *ip)
{
    struct in_addr a;
    if (inet_pton(AF_INET, ip, &a) != 1)
        return;
    const char *iface = NULL;
    unsigned best = 0;
    bool found = false;
    if ((ntohl(a.s_addr) >> 24) == 127) {
        iface = "lo";
        best = 8;
        found = true;
    }
    for (size_t i = 0; !found && i < n; i++) {
        const route_t *r = &routes[i];
        if (r->gateway || r->mask == 0 || (a.s_addr & r->mask) != r->dest)
            continue;
        if (!iface || prefix_len(r->mask) > best) {
            iface = r->iface;
            best = prefix_len(r->mask);
        }
    }
    for (size_t i = 0; iface && i < f->n_ifaces; i++) {
        agent_iface_t *it = &f->ifaces[i];
        if (strcmp(it->name, iface) == 0 && !*it->ipv4) {
            snprintf(it->ipv4, sizeof it->ipv4, "%s", ip);
            it->prefix = best;
        }
    }
}

/* The addresses of the "Local:" table of /proc/net/fib_trie: an address
 * line ("|-- a.b.c.d") followed by "/32 host LOCAL". */
static void read_addresses(const char *root, agent_facts_t *f)
{
    route_t routes[256];
    size_t n = read_routes(root, routes, 256, f->gateway, sizeof f->gateway);
    FILE *t = open_under(root, "proc/net/fib_trie");
    char line[256], last[AGENT_IP_MAX] = "";
    while (t && fgets(line, sizeof line, t)) {
        char *p = strstr(line, "|-- ");
        if (p) {
            snprintf(last, sizeof last, "%.15s", p + 4);
            last[strcspn(last, " \r\n")] = 0;
        } else if (*last && strstr(line, "/32 host LOCAL")) {
            place_address(f, routes, n, last);
            *last = 0;
        }
    }
    if (t)
        fclose(t);
}

/* /proc/net/if_inet6: "<32 hex digits> <ifindex> <prefix> <scope> <flags>
 * <name>", all hex; scope 00 is global (link-local and loopback are left
 * out: they say nothing of the machine's place in the network). */
static void read_ipv6(const char *root, agent_facts_t *f)
{
    FILE *in = open_under(root, "proc/net/if_inet6");
    char line[256];
    while (in && fgets(line, sizeof line, in)) {
        char hex[33], name[AGENT_IFNAME_MAX + 1];
        unsigned idx, plen, scope, flags;
        if (sscanf(line, "%32s %x %x %x %x %16s", hex, &idx, &plen, &scope, &flags, name) != 6 ||
            scope != 0 || strlen(hex) != 32 || plen > 128)
            continue;
        struct in6_addr a;
        for (int i = 0; i < 16; i++) {
            unsigned byte;
            sscanf(hex + 2 * i, "%2x", &byte);
            a.s6_addr[i] = (uint8_t)byte;
        }
        for (size_t i = 0; i < f->n_ifaces; i++) {
            agent_iface_t *it = &f->ifaces[i];
            if (strcmp(it->name, name) == 0 && !*it->ipv6 &&
                inet_ntop(AF_INET6, &a, it->ipv6, sizeof it->ipv6))
                it->prefix6 = plen;
        }
    }
    if (in)
        fclose(in);
}

/* ---- disks ------------------------------------------------------------------- */

/* Disks as the original listed them (fdisk's "Disk /dev/sd..."), and the
 * names of today's virtual and NVMe disks; not partitions, loops, RAM. */
static bool is_disk(const char *name)
{
    static const char *const kinds[] = {"sd", "vd", "xvd", "hd", "nvme"};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (strncmp(name, kinds[i], strlen(kinds[i])) == 0)
            return true;
    return false;
}

static int cmp_disk(const void *a, const void *b)
{
    return strcmp(((const agent_disk_t *)a)->path, ((const agent_disk_t *)b)->path);
}

static int disk_seen(const char *name, void *arg)
{
    walk_t *w = arg;
    agent_facts_t *f = w->f;
    char rel[300], size[64];
    if (!is_disk(name) || strlen(name) > 32)
        return 0;
    snprintf(rel, sizeof rel, "sys/block/%s/size", name);
    unsigned long long sectors =
        read_line(w->root, rel, size, sizeof size) ? strtoull(size, NULL, 10) : 0;
    if (!sectors)
        return 0;
    agent_disk_t *v = realloc(f->disks, (f->n_disks + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    f->disks = v;
    memset(&v[f->n_disks], 0, sizeof *v); /* compared whole by agent_facts_equal */
    snprintf(v[f->n_disks].path, sizeof v->path, "/dev/%.32s", name); /* <= 32: above */
    v[f->n_disks++].size_bytes = (uint64_t)sectors * 512u;
    return 0;
}

static int read_disks(const char *root, agent_facts_t *f)
{
    walk_t w = {root, f};
    int rc = each_entry(root, "sys/block", disk_seen, &w);
    if (f->n_disks > 1)
        qsort(f->disks, f->n_disks, sizeof *f->disks, cmp_disk);
    return rc;
}

/* ---- LLDP, journal ----------------------------------------------------------- */

/* `lldpctl -f keyvalue`: lldp.<if>.chassis.mac=..., .chassis.name=...,
 * .port.ifname=... (or .port.mac / .port.local). */
static void read_lldp(const char *file, agent_facts_t *f)
{
    FILE *in = file ? fopen(file, "r") : NULL;
    if (!in)
        return;
    f->lldp_read = true;
    char line[1024];
    while (fgets(line, sizeof line, in)) {
        line[strcspn(line, "\r\n")] = 0;
        char *eq = strchr(line, '=');
        if (strncmp(line, "lldp.", 5) != 0 || !eq)
            continue;
        *eq = 0;
        char *name = line + 5, *field = strchr(name, '.');
        if (!field)
            continue;
        *field++ = 0;
        for (size_t i = 0; i < f->n_ifaces; i++) {
            agent_iface_t *it = &f->ifaces[i];
            if (strcmp(it->name, name) != 0)
                continue;
            agent_lldp_t *l = &it->lldp;
            if (strcmp(field, "chassis.mac") == 0 || strcmp(field, "chassis.id") == 0)
                snprintf(l->chassis_id, sizeof l->chassis_id, "%s", eq + 1);
            else if (strcmp(field, "chassis.name") == 0)
                snprintf(l->chassis_name, sizeof l->chassis_name, "%s", eq + 1);
            else if (strcmp(field, "port.ifname") == 0 || strcmp(field, "port.mac") == 0 ||
                     strcmp(field, "port.local") == 0)
                snprintf(l->port_id, sizeof l->port_id, "%s", eq + 1);
            else
                continue;
            it->has_lldp = true;
        }
    }
    fclose(in);
}

static int read_journal(const char *root, const char *rel, agent_facts_t *f)
{
    FILE *in = open_under(root, rel ? rel : "run/ignition.journal");
    if (!in)
        return 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    f->journal = calloc(1, sizeof(char *));
    if (!f->journal)
        rc = -ENOMEM;
    while (rc == 0 && (n = getline(&line, &cap, in)) >= 0) {
        line[strcspn(line, "\r\n")] = 0;
        if (!*line)
            continue;
        char **v = realloc(f->journal, (f->n_journal + 2) * sizeof(*v));
        char *copy = strdup(line);
        if (!v || !copy) {
            free(copy);
            if (v)
                f->journal = v;
            rc = -ENOMEM;
            break;
        }
        f->journal = v;
        v[f->n_journal++] = copy;
        v[f->n_journal] = NULL;
    }
    free(line);
    fclose(in);
    return rc;
}

/* ---- the whole ----------------------------------------------------------------- */

int agent_facts_read(const agent_facts_opts_t *opts, agent_facts_t *f, const char **why)
{
    const char *root = opts && opts->root && *opts->root ? opts->root : "/";
    memset(f, 0, sizeof(*f));
    *why = NULL;
    boot_query(root, f);
    if (!*f->uuid && read_line(root, "sys/class/dmi/id/product_uuid", f->uuid, sizeof f->uuid))
        lower(f->uuid);
    read_line(root, "proc/sys/kernel/random/boot_id", f->boot_id, sizeof f->boot_id);
    int rc = read_ifaces(root, f);
    if (rc == 0) {
        read_addresses(root, f);
        read_ipv6(root, f);
    }
    rc = rc ? rc : read_disks(root, f);
    if (rc == 0)
        read_lldp(opts ? opts->lldp_file : NULL, f);
    rc = rc ? rc : read_journal(root, opts ? opts->journal_file : NULL, f);
    if (rc == 0 && !*f->uuid) {
        *why = "no machine UUID: neither the boot query (proc/cmdline, etc/metadata.env) nor "
               "sys/class/dmi/id/product_uuid gives one";
        rc = -ENODATA;
    } else if (rc == 0 && !*f->boot_mac) {
        *why = "no boot MAC: the boot query (proc/cmdline, etc/metadata.env) has no mac=";
        rc = -ENODATA;
    }
    if (rc)
        agent_facts_free(f);
    return rc;
}

void agent_facts_free(agent_facts_t *f)
{
    for (size_t i = 0; i < f->n_journal; i++)
        free(f->journal[i]);
    free(f->journal);
    free(f->ifaces);
    free(f->disks);
    memset(f, 0, sizeof(*f));
}

bool agent_facts_equal(const agent_facts_t *a, const agent_facts_t *b)
{
    if (strcmp(a->uuid, b->uuid) || strcmp(a->boot_mac, b->boot_mac) ||
        strcmp(a->boot_id, b->boot_id) || strcmp(a->gateway, b->gateway) ||
        a->n_ifaces != b->n_ifaces || a->n_disks != b->n_disks || a->lldp_read != b->lldp_read ||
        a->n_journal != b->n_journal || !a->journal != !b->journal)
        return false;
    if (a->n_ifaces && memcmp(a->ifaces, b->ifaces, a->n_ifaces * sizeof *a->ifaces) != 0)
        return false;
    if (a->n_disks && memcmp(a->disks, b->disks, a->n_disks * sizeof *a->disks) != 0)
        return false;
    for (size_t i = 0; i < a->n_journal; i++)
        if (strcmp(a->journal[i], b->journal[i]) != 0)
            return false;
    return true;
}

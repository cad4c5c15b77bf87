/* The sync's matchbox files as a pure function: see matchbox_gen.h. */
#include "model/matchbox_gen.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* A growable string; `oom` is sticky and turns every later call into a
 * no-op. */

typedef struct sbuf_s {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf_t;

static bool sb_reserve(sbuf_t *b, size_t more)
{
    if (b->oom)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void sb_putn(sbuf_t *b, const char *s, size_t n)
{
    if (!sb_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(sbuf_t *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

static void sb_putc(sbuf_t *b, char c)
{
    sb_putn(b, &c, 1);
}

__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if (!sb_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* ------------------------------------------------------------------ */
/* Python's json.dumps(v, sort_keys=True[, indent=N]) over a jansson
 * tree, byte for byte: ensure_ascii (non-ASCII as lower-case \uXXXX,
 * surrogate pairs beyond the BMP), control bytes and DEL as \uXXXX
 * except the short escapes \" \\ \b \f \n \r \t, '/' as is; separators ", " / ": " inline and
 * "," + newline + indent when indented; empty containers as {} and []. */

static void py_str(sbuf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    sb_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            i++;
            switch (c) {
            case '"':
                sb_puts(b, "\\\"");
                break;
            case '\\':
                sb_puts(b, "\\\\");
                break;
            case '\n':
                sb_puts(b, "\\n");
                break;
            case '\r':
                sb_puts(b, "\\r");
                break;
            case '\t':
                sb_puts(b, "\\t");
                break;
            case '\b':
                sb_puts(b, "\\b");
                break;
            case '\f':
                sb_puts(b, "\\f");
                break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    char e[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], '\0'};
                    sb_puts(b, e);
                } else {
                    sb_putc(b, (char)c);
                }
            }
            continue;
        }
        /* jansson only holds valid UTF-8; anything odd becomes U+FFFD. */
        uint32_t cp = 0xfffd;
        size_t len = 1;
        if ((c & 0xe0) == 0xc0)
            len = 2, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0)
            len = 3, cp = c & 0x0f;
        else if ((c & 0xf8) == 0xf0)
            len = 4, cp = c & 0x07;
        if (len == 1 || i + len > n) {
            cp = 0xfffd;
            len = 1;
        } else {
            for (size_t k = 1; k < len; k++)
                cp = (cp << 6) | ((unsigned char)s[i + k] & 0x3f);
        }
        i += len;
        uint32_t units[2] = {cp, 0};
        size_t nu = 1;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            units[0] = 0xd800 | (cp >> 10);
            units[1] = 0xdc00 | (cp & 0x3ff);
            nu = 2;
        }
        for (size_t k = 0; k < nu; k++) {
            char e[7] = {'\\',
                         'u',
                         hex[(units[k] >> 12) & 15],
                         hex[(units[k] >> 8) & 15],
                         hex[(units[k] >> 4) & 15],
                         hex[units[k] & 15],
                         '\0'};
            sb_puts(b, e);
        }
    }
    sb_putc(b, '"');
}

static void py_newline(sbuf_t *b, int spaces)
{
    sb_putc(b, '\n');
    for (int i = 0; i < spaces; i++)
        sb_putc(b, ' ');
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* indent 0 = inline. */
static void py_dump(sbuf_t *b, json_t *v, int indent, int depth)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v);
        if (n == 0) {
            sb_puts(b, "{}");
            return;
        }
        const char **keys = malloc(n * sizeof *keys);
        if (keys == NULL) {
            b->oom = true;
            return;
        }
        size_t i = 0;
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) keys[i++] = k;
        qsort(keys, n, sizeof *keys, cmp_cstr);
        sb_putc(b, '{');
        for (i = 0; i < n; i++) {
            if (i > 0)
                sb_puts(b, indent > 0 ? "," : ", ");
            if (indent > 0)
                py_newline(b, indent * (depth + 1));
            py_str(b, keys[i], strlen(keys[i]));
            sb_puts(b, ": ");
            py_dump(b, json_object_get(v, keys[i]), indent, depth + 1);
        }
        if (indent > 0)
            py_newline(b, indent * depth);
        sb_putc(b, '}');
        free(keys);
        return;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        if (n == 0) {
            sb_puts(b, "[]");
            return;
        }
        sb_putc(b, '[');
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                sb_puts(b, indent > 0 ? "," : ", ");
            if (indent > 0)
                py_newline(b, indent * (depth + 1));
            py_dump(b, json_array_get(v, i), indent, depth + 1);
        }
        if (indent > 0)
            py_newline(b, indent * depth);
        sb_putc(b, ']');
        return;
    }
    case JSON_STRING:
        py_str(b, json_string_value(v), json_string_length(v));
        return;
    case JSON_INTEGER:
        sb_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return;
    case JSON_REAL: /* never produced here */
        sb_printf(b, "%.17g", json_real_value(v));
        return;
    case JSON_TRUE:
        sb_puts(b, "true");
        return;
    case JSON_FALSE:
        sb_puts(b, "false");
        return;
    case JSON_NULL:
        sb_puts(b, "null");
        return;
    }
}

/* ------------------------------------------------------------------ */
/* Configuration. */

static const char *const default_etc_hosts[] = {"172.20.0.1 enjoliver.local"};
static const char *const default_nameservers[] = {"8.8.8.8", "8.8.4.4"};
static const char *const default_ntp[] = {"0.arch.pool.ntp.org", "1.arch.pool.ntp.org",
                                          "2.arch.pool.ntp.org", "3.arch.pool.ntp.org"};
static const char *const default_fallbackntp[] = {"0.pool.ntp.org", "1.pool.ntp.org",
                                                  "0.fr.pool.ntp.org"};
static const model_sync_kv_t default_extra_selectors[] = {{"os", "installed"}};
static const model_sync_ladder_t default_ladder[] = {{"S", 10}, {"M", 20}, {"L", 30}};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

void model_sync_config_defaults(model_sync_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->api_uri = "http://127.0.0.1:5000";
    c->assets_server_uri = NULL;
    c->kernel = "/assets/coreos/serve/coreos_production_pxe.vmlinuz";
    c->initrd = "/assets/coreos/serve/coreos_production_pxe_image.cpio.gz";
    c->ignition_discovery = "discovery";
    c->ignition_control_plane = "etcd-member-kubernetes-control-plane";
    c->ignition_node = "kubernetes-node";
    c->extra_selectors = default_extra_selectors;
    c->n_extra_selectors = COUNT(default_extra_selectors);
    c->etc_hosts = default_etc_hosts;
    c->n_etc_hosts = COUNT(default_etc_hosts);
    c->nameservers = default_nameservers;
    c->n_nameservers = COUNT(default_nameservers);
    c->ntp = default_ntp;
    c->n_ntp = COUNT(default_ntp);
    c->fallbackntp = default_fallbackntp;
    c->n_fallbackntp = COUNT(default_fallbackntp);
    c->kubernetes_etcd = (model_sync_etcd_t){"/var/lib/etcd3/kubernetes", 4003, 7003};
    c->vault_etcd = (model_sync_etcd_t){"/var/lib/etcd3/vault", 4002, 7002};
    c->fleet_etcd = (model_sync_etcd_t){"/var/lib/etcd3/fleet", 4001, 7001};
    c->kubernetes_apiserver_insecure_port = 8080;
    c->kubernetes_apiserver_insecure_bind_address = "0.0.0.0";
    c->kubernetes_service_cluster_ip_range = "172.30.0.0/24";
    c->kubelet_healthz_port = 10248;
    c->vault_port = 8200;
    c->hyperkube_image_url = "enjoliver.local/hyperkube:1.9.2";
    c->cephtools_image_url = "enjoliver.local/ceph-tools:latest";
    c->lldp_image_url = "enjoliver.local/lldp:latest";
    c->vault_polling_sec = 30;
    c->lifecycle_update_polling_sec = 30;
    c->sub_ips = 256;
    c->range_nb_ips = 253;
    c->skip_ips = 1;
    c->perennial_local_host_ip = "172.31.255.255";
    c->sync_replace_ip_by_fqdn = false;
    c->disks_ladder_gb = default_ladder;
    c->n_disks_ladder_gb = COUNT(default_ladder);
    c->coreos_install_base_url = "http://enjoliver.local:5000/assets/coreos";
    c->ssh_authorized_keys = NULL;
    c->n_ssh_authorized_keys = 0;
}

static bool utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        for (size_t k = 1; k < len; k++) {
            if ((p[k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += len;
    }
    return true;
}

/* A string value: present (unless optional), valid UTF-8, and non-empty
 * when `nonempty`. */
static int check_str(const char *v, const char *key, bool optional, bool nonempty, model_err_t *err)
{
    char where[96];
    snprintf(where, sizeof where, "config.%s", key);
    if (v == NULL)
        return optional ? 0 : model_err_set(err, where, "is required");
    if (!utf8_valid(v))
        return model_err_set(err, where, "is not valid UTF-8");
    if (nonempty && v[0] == '\0')
        return model_err_set(err, where, "must not be empty");
    return 0;
}

static int check_list(const char *const *v, size_t n, const char *key, model_err_t *err)
{
    char where[96];
    if (n > 0 && v == NULL) {
        snprintf(where, sizeof where, "config.%s", key);
        return model_err_set(err, where, "is NULL with %zu entries", n);
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(where, sizeof where, "%s[%zu]", key, i);
        int rc = check_str(v[i], where, false, false, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int check_port(unsigned v, const char *key, model_err_t *err)
{
    char where[96];
    snprintf(where, sizeof where, "config.%s", key);
    if (v == 0 || v > 65535)
        return model_err_set(err, where, "%u is not a port (1..65535)", v);
    return 0;
}

static int parse_range(const char *s, uint32_t *net, unsigned *plen, model_err_t *err)
{
    uint32_t a;
    unsigned len;
    int rc = model_cidrv4_parse(s, &a, &len, "config.kubernetes_service_cluster_ip_range", err);
    if (rc)
        return rc;
    uint32_t mask = len == 0 ? 0 : ~UINT32_C(0) << (32 - len);
    if ((a & mask) != a)
        return model_err_set(err, "config.kubernetes_service_cluster_ip_range",
                             "%s has host bits set", s);
    *net = a;
    *plen = len;
    return 0;
}

int model_sync_config_check(const model_sync_config_t *c, model_err_t *err)
{
    int rc = 0;
    if (c == NULL)
        return model_err_set(err, "config", "is NULL");
    struct {
        const char *v, *key;
        bool optional, nonempty;
    } strs[] = {
        {c->api_uri, "api_uri", false, true},
        {c->assets_server_uri, "assets_server_uri", true, false},
        {c->kernel, "kernel", false, false},
        {c->initrd, "initrd", false, false},
        {c->ignition_discovery, "ignition_dict.discovery", false, true},
        {c->ignition_control_plane, "ignition_dict.etcd_member_kubernetes_control_plane", false,
         true},
        {c->ignition_node, "ignition_dict.kubernetes_nodes", false, true},
        {c->kubernetes_etcd.data_dir, "kubernetes_etcd_data_dir", false, false},
        {c->vault_etcd.data_dir, "vault_etcd_data_dir", false, false},
        {c->fleet_etcd.data_dir, "fleet_etcd_data_dir", false, false},
        {c->kubernetes_apiserver_insecure_bind_address,
         "kubernetes_apiserver_insecure_bind_address", false, false},
        {c->kubernetes_service_cluster_ip_range, "kubernetes_service_cluster_ip_range", false,
         true},
        {c->hyperkube_image_url, "hyperkube_image_url", false, false},
        {c->cephtools_image_url, "cephtools_image_url", false, false},
        {c->lldp_image_url, "lldp_image_url", true, false},
        {c->perennial_local_host_ip, "perennial_local_host_ip", false, true},
        {c->coreos_install_base_url, "coreos_install_base_url", true, false},
    };
    for (size_t i = 0; rc == 0 && i < COUNT(strs); i++)
        rc = check_str(strs[i].v, strs[i].key, strs[i].optional, strs[i].nonempty, err);
    if (rc == 0)
        rc = check_list(c->etc_hosts, c->n_etc_hosts, "etc_hosts", err);
    if (rc == 0)
        rc = check_list(c->nameservers, c->n_nameservers, "nameservers", err);
    if (rc == 0)
        rc = check_list(c->ntp, c->n_ntp, "ntp", err);
    if (rc == 0)
        rc = check_list(c->fallbackntp, c->n_fallbackntp, "fallbackntp", err);
    if (rc == 0)
        rc = check_list(c->ssh_authorized_keys, c->n_ssh_authorized_keys, "ssh_authorized_keys",
                        err);
    if (rc)
        return rc;

    if (c->n_extra_selectors > 0 && c->extra_selectors == NULL)
        return model_err_set(err, "config.extra_selectors", "is NULL with %zu entries",
                             c->n_extra_selectors);
    for (size_t i = 0; i < c->n_extra_selectors; i++) {
        char where[64];
        const model_sync_kv_t *kv = &c->extra_selectors[i];
        snprintf(where, sizeof where, "extra_selectors[%zu].key", i);
        rc = check_str(kv->key, where, false, true, err);
        if (rc == 0) {
            snprintf(where, sizeof where, "extra_selectors[%zu].value", i);
            rc = check_str(kv->value, where, false, false, err);
        }
        if (rc)
            return rc;
        if (strcmp(kv->key, "mac") == 0)
            return model_err_set(err, "config.extra_selectors",
                                 "\"mac\" is the machine's own selector");
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->extra_selectors[j].key, kv->key) == 0) {
                char q[96];
                return model_err_set(err, "config.extra_selectors", "key %s given twice",
                                     model_quote(kv->key, strlen(kv->key), q, sizeof q));
            }
    }

    struct {
        unsigned v;
        const char *key;
    } ports[] = {
        {c->kubernetes_etcd.client_port, "kubernetes_etcd_client_port"},
        {c->kubernetes_etcd.peer_port, "kubernetes_etcd_peer_port"},
        {c->vault_etcd.client_port, "vault_etcd_client_port"},
        {c->vault_etcd.peer_port, "vault_etcd_peer_port"},
        {c->fleet_etcd.client_port, "fleet_etcd_client_port"},
        {c->fleet_etcd.peer_port, "fleet_etcd_peer_port"},
        {c->kubernetes_apiserver_insecure_port, "kubernetes_apiserver_insecure_port"},
        {c->kubelet_healthz_port, "kubelet_healthz_port"},
        {c->vault_port, "vault_port"},
    };
    for (size_t i = 0; rc == 0 && i < COUNT(ports); i++)
        rc = check_port(ports[i].v, ports[i].key, err);
    if (rc)
        return rc;

    uint32_t net;
    unsigned plen;
    rc = parse_range(c->kubernetes_service_cluster_ip_range, &net, &plen, err);
    if (rc == 0)
        rc = model_ipv4_parse(c->perennial_local_host_ip, NULL, "config.perennial_local_host_ip",
                              err);
    if (rc)
        return rc;

    if (c->sub_ips & (c->sub_ips - 1))
        return model_err_set(err, "config.sub_ips", "%u is not 0 or a power of two", c->sub_ips);
    if (c->sub_ips > 0 && (uint64_t)c->skip_ips + c->range_nb_ips >= c->sub_ips)
        return model_err_set(err, "config.range_nb_ips",
                             "skip_ips %u + range_nb_ips %u must be below sub_ips %u", c->skip_ips,
                             c->range_nb_ips, c->sub_ips);
    if (c->sub_ips == 0 && (uint64_t)c->skip_ips + c->range_nb_ips > UINT32_MAX)
        return model_err_set(err, "config.range_nb_ips", "skip_ips + range_nb_ips too large");

    if (c->n_disks_ladder_gb == 0 || c->disks_ladder_gb == NULL)
        return model_err_set(err, "config.disks_ladder_gb", "needs at least one step");
    for (size_t i = 0; i < c->n_disks_ladder_gb; i++) {
        char where[64];
        snprintf(where, sizeof where, "disks_ladder_gb[%zu]", i);
        rc = check_str(c->disks_ladder_gb[i].name, where, false, true, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Machines. */

typedef struct mnode_s {
    const model_sync_facts_t *f;
    const model_sync_nic_t *boot; /* NULL: none */
    bool cp;
    uint32_t ip, net, gw;
    unsigned plen;
    bool has_gw;
    uint64_t rstart, rend; /* CNI range, inclusive */
    size_t role_index;     /* of its automatic name, unique in its role set */
    unsigned name_slot;    /* 1 + the index it had before, 0: none */
    char fqdn[MODEL_NAME_MAX + 1];
    bool auto_name;
    char who[96];    /* "machine <mac> (<ip>)" */
    uint32_t hint;   /* the pod range it held before, 0: none */
    size_t in_index; /* in the caller's array */
    int skip;        /* 0, or why it gets no group: -EINVAL, -ENOSPC */
    model_err_t why; /* when skip */
} mnode_t;

static int cmp_mac(const void *a, const void *b)
{
    const mnode_t *x = *(const mnode_t *const *)a, *y = *(const mnode_t *const *)b;
    return strcmp(x->boot->mac, y->boot->mac);
}

static int cmp_ip(const void *a, const void *b)
{
    const mnode_t *x = *(const mnode_t *const *)a, *y = *(const mnode_t *const *)b;
    if (x->ip != y->ip)
        return x->ip < y->ip ? -1 : 1;
    return strcmp(x->boot->mac, y->boot->mac);
}

/* Pools: by network, then IP, then MAC. */
static int cmp_pool(const void *a, const void *b)
{
    const mnode_t *x = *(const mnode_t *const *)a, *y = *(const mnode_t *const *)b;
    if (x->net != y->net)
        return x->net < y->net ? -1 : 1;
    if (x->plen != y->plen)
        return x->plen < y->plen ? -1 : 1;
    return cmp_ip(a, b);
}

static int cmp_range(const void *a, const void *b)
{
    const mnode_t *x = *(const mnode_t *const *)a, *y = *(const mnode_t *const *)b;
    if (x->rstart != y->rstart)
        return x->rstart < y->rstart ? -1 : 1;
    return cmp_ip(a, b);
}

/* Reads the boot interface. A machine that cannot be synced is marked
 * skipped (n->skip, n->why); only a NULL entry fails the call. */
static int load_machine(const model_sync_machine_t *in, size_t i, const model_sync_facts_t *f,
                        mnode_t *n, model_err_t *err)
{
    char where[96];
    memset(n, 0, sizeof *n);
    if (f == NULL) {
        snprintf(where, sizeof where, "machines[%zu]", i);
        return model_err_set(err, where, "is NULL");
    }
    n->f = f;
    n->hint = in->pod_start;
    n->name_slot = in->name_slot;
    n->in_index = i;
    n->boot = f->has_boot ? &f->boot : NULL;
    if (n->boot == NULL) {
        snprintf(where, sizeof where, "machine %s", f->uuid);
        n->skip = model_err_set(&n->why, where, "has no boot interface");
        return 0;
    }
    snprintf(where, sizeof where, "machine %s", n->boot->mac);
    snprintf(n->who, sizeof n->who, "%s", where);
    if (in->roles == MODEL_SYNC_ROLES_CONTROL_PLANE)
        n->cp = true;
    else if (in->roles != MODEL_SYNC_ROLES_NODE)
        n->skip = model_err_set(&n->why, where,
                                "roles 0x%x are neither etcd-member+kubernetes-control-plane nor "
                                "kubernetes-node",
                                in->roles);
    else if (n->boot->ipv4[0] == '\0' || n->boot->cidrv4[0] == '\0')
        n->skip =
            model_err_set(&n->why, where, "boot interface %s has no IPv4 address", n->boot->name);
    if (n->skip)
        return 0;
    uint32_t caddr;
    int rc = model_ipv4_parse(n->boot->ipv4, &n->ip, where, &n->why);
    if (rc == 0)
        rc = model_cidrv4_parse(n->boot->cidrv4, &caddr, &n->plen, where, &n->why);
    if (rc == 0 && caddr != n->ip)
        rc = model_err_set(&n->why, where, "boot interface %s: cidrv4 %s disagrees with ipv4 %s",
                           n->boot->name, n->boot->cidrv4, n->boot->ipv4);
    if (rc == 0 && n->boot->gateway[0] != '\0') {
        rc = model_ipv4_parse(n->boot->gateway, &n->gw, where, &n->why);
        n->has_gw = rc == 0;
    }
    if (rc) {
        n->skip = rc;
        return 0;
    }
    n->net = n->plen == 0 ? 0 : n->ip & (~UINT32_C(0) << (32 - n->plen));
    snprintf(n->who, sizeof n->who, "machine %s (%s)", n->boot->mac, n->boot->ipv4);
    return 0;
}

/* ------------------------------------------------------------------ */
/* CNI allocation. */

typedef struct ival_s {
    uint64_t lo, hi;
} ival_t;

static int cmp_ival(const void *a, const void *b)
{
    const ival_t *x = a, *y = b;
    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    return x->hi < y->hi ? -1 : x->hi > y->hi;
}

/* Sorts and merges v in place; returns the new count. */
static size_t ival_merge(ival_t *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_ival);
    size_t o = 0;
    for (size_t i = 1; i < n; i++) {
        if (v[i].lo <= v[o].hi + 1) {
            if (v[i].hi > v[o].hi)
                v[o].hi = v[i].hi;
        } else {
            v[++o] = v[i];
        }
    }
    return o + 1;
}

/* Does [lo, hi] meet one of the merged intervals? */
static bool ival_hits(const ival_t *v, size_t n, uint64_t lo, uint64_t hi)
{
    size_t a = 0, b = n; /* first interval with hi >= lo */
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if (v[mid].hi < lo)
            a = mid + 1;
        else
            b = mid;
    }
    return a < n && v[a].lo <= hi;
}

typedef struct alloc_s {
    const model_sync_config_t *c;
    ival_t *reserved;
    size_t n_reserved;
} alloc_t;

/* Is [start, end] usable in the network (net, plen)? */
static bool range_ok(const alloc_t *a, uint32_t net, unsigned plen, uint64_t start, uint64_t end)
{
    uint64_t last = (uint64_t)net + (UINT64_C(1) << (32 - plen)) - 1;
    if (start < net || end > last || end < start)
        return false;
    if (plen <= 30 && (start == net || end == last))
        return false; /* network or broadcast address */
    return !ival_hits(a->reserved, a->n_reserved, start, end);
}

static void fmt_ip(uint64_t a, char out[16])
{
    model_ipv4_format((uint32_t)a, out);
}

/* A set of numbers (open addressing): the blocks given so far, by first
 * address, and the name indexes taken. Blocks are aligned on sub_ips in
 * every network, so two ranges meet exactly when they lie in one block. */
typedef struct u64set_s {
    uint64_t *slot; /* 0 = empty; a number x is stored as x + 1 */
    size_t cap;     /* a power of two, at least twice the entries */
} u64set_t;

static int u64set_init(u64set_t *bs, size_t n)
{
    bs->cap = 16;
    while (bs->cap < 2 * n + 2)
        bs->cap *= 2;
    bs->slot = calloc(bs->cap, sizeof *bs->slot);
    return bs->slot ? 0 : -ENOMEM;
}

/* The slot holding x, or the empty one where it would go. */
static size_t u64set_probe(const u64set_t *s, uint64_t x)
{
    size_t i = (size_t)((x * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (s->cap - 1);
    while (s->slot[i] && s->slot[i] != x + 1)
        i = (i + 1) & (s->cap - 1);
    return i;
}

/* Adds x; false when it was there already. */
static bool u64set_add(u64set_t *s, uint64_t x)
{
    size_t i = u64set_probe(s, x);
    if (s->slot[i])
        return false;
    s->slot[i] = x + 1;
    return true;
}

static bool u64set_has(const u64set_t *s, uint64_t x)
{
    return s->slot[u64set_probe(s, x)] != 0;
}

static void give(mnode_t *x, uint64_t start, const model_sync_config_t *c)
{
    x->rstart = start;
    x->rend = start + c->range_nb_ips;
}

/* Keeps x's previous range when it still names a free block of its network. */
static void keep_hint(const alloc_t *a, u64set_t *bs, mnode_t *x)
{
    const model_sync_config_t *c = a->c;
    uint64_t size = UINT64_C(1) << (32 - x->plen);
    if (x->hint < (uint64_t)x->net + c->skip_ips)
        return;
    uint64_t base = x->hint - c->skip_ips, start = x->hint, end = start + c->range_nb_ips;
    if ((base - x->net) % c->sub_ips != 0 || base - x->net + c->sub_ips > size)
        return;
    if (range_ok(a, x->net, x->plen, start, end) && !u64set_has(bs, base)) {
        u64set_add(bs, base);
        give(x, start, c);
    }
}

/* Gives the machines v[i..j) of one network, without a range yet, the
 * free blocks in ascending order. */
static void fill_pool(const alloc_t *a, u64set_t *bs, mnode_t **v, size_t i, size_t j)
{
    const model_sync_config_t *c = a->c;
    uint64_t nb = (UINT64_C(1) << (32 - v[i]->plen)) / c->sub_ips, b = 0;
    size_t waiting = 0;
    for (size_t k = i; k < j; k++)
        waiting += v[k]->rend == 0;
    size_t rank = 0;
    for (size_t k = i; k < j; k++) {
        if (v[k]->rend != 0)
            continue;
        rank++;
        for (; b < nb; b++) {
            uint64_t base = v[i]->net + b * c->sub_ips, start = base + c->skip_ips;
            if (!u64set_has(bs, base) &&
                range_ok(a, v[i]->net, v[i]->plen, start, start + c->range_nb_ips))
                break;
        }
        if (b == nb) {
            char s1[16];
            model_err_set(
                &v[k]->why, v[k]->who,
                "network %s/%u is too small: no free pod range of %u addresses left in its %llu "
                "blocks of %u (machine %zu of the %zu that needed one there)",
                model_ipv4_format(v[i]->net, s1), v[i]->plen, c->range_nb_ips + 1,
                (unsigned long long)nb, c->sub_ips, rank, waiting);
            v[k]->skip = -ENOSPC;
            continue;
        }
        uint64_t base = v[i]->net + b * c->sub_ips;
        u64set_add(bs, base);
        give(v[k], base + c->skip_ips, c);
        b++;
    }
}

static int allocate_blocks(const alloc_t *a, mnode_t **v, size_t n)
{
    u64set_t bs;
    if (u64set_init(&bs, n) != 0)
        return -ENOMEM;
    qsort(v, n, sizeof *v, cmp_pool);
    for (size_t i = 0; i < n; i++)
        if (v[i]->hint)
            keep_hint(a, &bs, v[i]);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[j]->net == v[i]->net && v[j]->plen == v[i]->plen)
            j++;
        fill_pool(a, &bs, v, i, j);
        i = j;
    }
    free(bs.slot);
    return 0;
}

/* The original's rule: the range follows the host IP. Checked. */
static void allocate_after_host(const alloc_t *a, mnode_t **v, size_t n)
{
    const model_sync_config_t *c = a->c;
    char s1[16], s2[16];
    for (size_t i = 0; i < n; i++) {
        uint64_t start = (uint64_t)v[i]->ip + c->skip_ips, end = start + c->range_nb_ips;
        uint64_t last = (uint64_t)v[i]->net + (UINT64_C(1) << (32 - v[i]->plen)) - 1;
        give(v[i], start, c);
        if (end > last || (v[i]->plen <= 30 && end == last)) {
            model_err_set(&v[i]->why, v[i]->who,
                          "network %s/%u is too small for a pod range of %u addresses after the "
                          "host IP",
                          model_ipv4_format(v[i]->net, s1), v[i]->plen, c->range_nb_ips + 1);
            v[i]->skip = -ENOSPC;
        } else if (!range_ok(a, v[i]->net, v[i]->plen, start, end)) {
            fmt_ip(start, s1);
            fmt_ip(end, s2);
            v[i]->skip = model_err_set(&v[i]->why, v[i]->who,
                                       "pod range %s-%s holds an address in use (a machine IP, a "
                                       "gateway, perennial_local_host_ip or the service range)",
                                       s1, s2);
        }
    }
    /* Machines of overlapping networks may still meet: the higher range
     * of two that overlap is skipped. */
    qsort(v, n, sizeof *v, cmp_range);
    const mnode_t *far = NULL; /* the kept range reaching furthest so far */
    for (size_t i = 0; i < n; i++) {
        if (v[i]->skip)
            continue;
        if (far != NULL && v[i]->rstart <= far->rend) {
            fmt_ip(v[i]->rstart, s1);
            fmt_ip(v[i]->rend, s2);
            v[i]->skip = model_err_set(&v[i]->why, v[i]->who,
                                       "pod range %s-%s overlaps the one of machine %s", s1, s2,
                                       far->boot->mac);
            continue;
        }
        if (far == NULL || v[i]->rend > far->rend)
            far = v[i];
    }
}

/* Gives each of v[0..n) a pod range, or marks it skipped. -ENOMEM only. */
static int allocate(const model_sync_config_t *c, mnode_t **v, size_t n)
{
    alloc_t a = {c, NULL, 0};
    a.reserved = calloc(2 * n + 2, sizeof *a.reserved);
    if (a.reserved == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        a.reserved[a.n_reserved++] = (ival_t){v[i]->ip, v[i]->ip};
        if (v[i]->has_gw)
            a.reserved[a.n_reserved++] = (ival_t){v[i]->gw, v[i]->gw};
    }
    uint32_t x = 0;
    unsigned plen = 32;
    model_ipv4_parse(c->perennial_local_host_ip, &x, NULL, NULL);
    a.reserved[a.n_reserved++] = (ival_t){x, x};
    parse_range(c->kubernetes_service_cluster_ip_range, &x, &plen, NULL);
    a.reserved[a.n_reserved++] = (ival_t){x, (uint64_t)x + (UINT64_C(1) << (32 - plen)) - 1};
    a.n_reserved = ival_merge(a.reserved, a.n_reserved);
    int rc = 0;
    if (c->sub_ips > 0)
        rc = allocate_blocks(&a, v, n);
    else
        allocate_after_host(&a, v, n);
    free(a.reserved);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Documents. */

typedef struct gen_s {
    const model_sync_config_t *c;
    mnode_t **cp; /* control plane, by IP */
    size_t n_cp;
    char svc_ip[16];
    int rc; /* sticky -ENOMEM */
} gen_t;

static json_t *jstr(gen_t *g, const char *s)
{
    json_t *v = json_string(s);
    if (v == NULL)
        g->rc = -ENOMEM;
    return v;
}

__attribute__((format(printf, 2, 3))) static json_t *jfmt(gen_t *g, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        g->rc = -ENOMEM;
        return NULL;
    }
    json_t *v = jstr(g, s);
    free(s);
    return v;
}

static json_t *jint(gen_t *g, long long i)
{
    json_t *v = json_integer((json_int_t)i);
    if (v == NULL)
        g->rc = -ENOMEM;
    return v;
}

static json_t *jobj(gen_t *g)
{
    json_t *v = json_object();
    if (v == NULL)
        g->rc = -ENOMEM;
    return v;
}

static json_t *jarr(gen_t *g)
{
    json_t *v = json_array();
    if (v == NULL)
        g->rc = -ENOMEM;
    return v;
}

/* Steals v. */
static void put(gen_t *g, json_t *o, const char *k, json_t *v)
{
    if (o == NULL || v == NULL) {
        json_decref(v);
        g->rc = -ENOMEM;
        return;
    }
    if (json_object_set_new(o, k, v) != 0)
        g->rc = -ENOMEM;
}

static void push(gen_t *g, json_t *a, json_t *v)
{
    if (a == NULL || v == NULL) {
        json_decref(v);
        g->rc = -ENOMEM;
        return;
    }
    if (json_array_append_new(a, v) != 0)
        g->rc = -ENOMEM;
}

static json_t *jstr_list(gen_t *g, const char *const *v, size_t n)
{
    json_t *a = jarr(g);
    for (size_t i = 0; i < n; i++)
        push(g, a, jstr(g, v[i]));
    return a;
}

static json_t *jjoined(gen_t *g, const char *const *v, size_t n, const char *sep)
{
    sbuf_t b = {0};
    sb_puts(&b, "");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            sb_puts(&b, sep);
        sb_puts(&b, v[i]);
    }
    json_t *r = b.oom ? NULL : jstr(g, b.p);
    if (b.oom)
        g->rc = -ENOMEM;
    free(b.p);
    return r;
}

/* One of the E-based strings: "<ip>" "https://<ip>:<port>" or
 * "<ip>=https://<ip>:<port>", comma-joined. */
enum e_form { E_IP, E_URI, E_NAMED };

static json_t *jmembers(gen_t *g, enum e_form form, unsigned port)
{
    sbuf_t b = {0};
    sb_puts(&b, "");
    for (size_t i = 0; i < g->n_cp; i++) {
        const char *ip = g->cp[i]->boot->ipv4;
        if (i > 0)
            sb_putc(&b, ',');
        if (form == E_IP)
            sb_puts(&b, ip);
        else if (form == E_URI)
            sb_printf(&b, "https://%s:%u", ip, port);
        else
            sb_printf(&b, "%s=https://%s:%u", ip, ip, port);
    }
    json_t *r = b.oom ? NULL : jstr(g, b.p);
    if (b.oom)
        g->rc = -ENOMEM;
    free(b.p);
    return r;
}

static char *dump_text(json_t *doc, int indent, bool newline)
{
    sbuf_t b = {0};
    py_dump(&b, doc, indent, 0);
    if (newline)
        sb_putc(&b, '\n');
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static json_t *profile_doc(gen_t *g, const char *id, const char *ignition, bool pxe)
{
    const model_sync_config_t *c = g->c;
    const char *a =
        c->assets_server_uri && c->assets_server_uri[0] ? c->assets_server_uri : c->api_uri;
    json_t *p = jobj(g), *boot = jobj(g), *cmd = jobj(g), *initrd = jarr(g);
    put(g, p, "id", jstr(g, id));
    put(g, p, "name", jstr(g, id));
    put(g, p, "cloud_id", jstr(g, ""));
    put(g, p, "ignition_id", jfmt(g, "%s.yaml", ignition));
    put(g, boot, "kernel", jfmt(g, "%s%s", a, c->kernel));
    push(g, initrd, jfmt(g, "%s%s", a, c->initrd));
    put(g, boot, "initrd", initrd);
    put(g, cmd, "coreos.config.url",
        jfmt(g, "%s/%s?uuid=${uuid}&mac=${net0/mac:hexhyp}", c->api_uri,
             pxe ? "ignition-pxe" : "ignition"));
    put(g, cmd, "coreos.first_boot", jstr(g, ""));
    put(g, cmd, "coreos.oem.id", jstr(g, "pxe"));
    put(g, cmd, "console", jstr(g, "ttyS0 console=ttyS1"));
    put(g, boot, "cmdline", cmd);
    put(g, p, "boot", boot);
    return p;
}

static json_t *discovery_group_doc(gen_t *g)
{
    const model_sync_config_t *c = g->c;
    json_t *d = jobj(g), *md = jobj(g);
    put(g, d, "id", jstr(g, MODEL_SYNC_PROFILE_DISCOVERY));
    put(g, d, "name", jstr(g, MODEL_SYNC_PROFILE_DISCOVERY));
    put(g, d, "profile", jstr(g, MODEL_SYNC_PROFILE_DISCOVERY));
    put(g, md, "api_uri", jstr(g, c->api_uri));
    put(g, md, "ssh_authorized_keys",
        jstr_list(g, c->ssh_authorized_keys, c->n_ssh_authorized_keys));
    put(g, md, "etc_hosts", jstr_list(g, c->etc_hosts, c->n_etc_hosts));
    sbuf_t b = {0};
    sb_puts(&b, "");
    for (size_t i = 0; i < c->n_extra_selectors; i++)
        sb_printf(&b, "%s%s=%s", i ? "&" : "", c->extra_selectors[i].key,
                  c->extra_selectors[i].value);
    if (b.oom)
        g->rc = -ENOMEM;
    else
        put(g, md, "extra_selectors", jstr(g, b.p));
    free(b.p);
    put(g, md, "coreos_install_base_url",
        c->coreos_install_base_url ? jstr(g, c->coreos_install_base_url) : json_null());
    if (c->lldp_image_url && c->lldp_image_url[0])
        put(g, md, "lldp_image_url", jstr(g, c->lldp_image_url));
    put(g, d, "metadata", md);
    return d;
}

static const char *disk_profile(const model_sync_config_t *c, const model_sync_facts_t *f)
{
    if (f->n_disks == 0)
        return "inMemory";
    uint64_t total = f->disk_gib;
    /* Steps by ascending size, the configured order on a tie (a stable
     * sort, as Python's). */
    const model_sync_ladder_t *best = NULL, *largest = NULL;
    for (size_t i = 0; i < c->n_disks_ladder_gb; i++) {
        const model_sync_ladder_t *s = &c->disks_ladder_gb[i];
        if (total < s->gb && (best == NULL || s->gb < best->gb))
            best = s;
        if (largest == NULL || s->gb >= largest->gb)
            largest = s;
    }
    return best ? best->name : largest->name;
}

/* dns_attr of the spec: shortname, dc, domain, rack, pos. */
static json_t *dns_attr(gen_t *g, const char *fqdn, char *shortname, size_t short_size)
{
    json_t *d = jobj(g);
    const char *dot = strchr(fqdn, '.');
    size_t slen = dot ? (size_t)(dot - fqdn) : strlen(fqdn);
    snprintf(shortname, short_size, "%.*s", (int)slen, fqdn);
    char dc[MODEL_NAME_MAX + 1] = "", rack[MODEL_NAME_MAX + 1] = "", pos[MODEL_NAME_MAX + 1] = "";
    const char *domain = "";
    if (dot) {
        const char *dot2 = strchr(dot + 1, '.');
        size_t dlen = dot2 ? (size_t)(dot2 - dot - 1) : strlen(dot + 1);
        snprintf(dc, sizeof dc, "%.*s", (int)dlen, dot + 1);
        domain = dot + 1;
        /* rack/pos: the shortname is exactly "<a>-<b>": their digits. */
        const char *dash = memchr(shortname, '-', slen);
        if (dash && !memchr(dash + 1, '-', slen - (size_t)(dash - shortname) - 1)) {
            size_t r = 0, p = 0;
            for (const char *q = shortname; q < dash; q++)
                if (*q >= '0' && *q <= '9')
                    rack[r++] = *q;
            for (const char *q = dash + 1; *q; q++)
                if (*q >= '0' && *q <= '9')
                    pos[p++] = *q;
            rack[r] = pos[p] = '\0';
        }
    }
    put(g, d, "shortname", jstr(g, shortname));
    put(g, d, "dc", jstr(g, dc));
    put(g, d, "domain", jstr(g, domain));
    put(g, d, "rack", jstr(g, rack));
    put(g, d, "pos", jstr(g, pos));
    return d;
}

static json_t *selector_obj(gen_t *g, const char *mac)
{
    json_t *s = jobj(g);
    put(g, s, "mac", jstr(g, mac));
    for (size_t i = 0; i < g->c->n_extra_selectors; i++)
        put(g, s, g->c->extra_selectors[i].key, jstr(g, g->c->extra_selectors[i].value));
    return s;
}

static json_t *cni_string(gen_t *g, const mnode_t *n)
{
    char s[16], e[16], net[16];
    json_t *ipam = jobj(g), *routes = jarr(g), *r1 = jobj(g), *r2 = jobj(g);
    put(g, ipam, "type", jstr(g, "host-local"));
    put(g, ipam, "subnet", jfmt(g, "%s/%u", model_ipv4_format(n->net, net), n->plen));
    put(g, ipam, "rangeStart", jstr(g, model_ipv4_format((uint32_t)n->rstart, s)));
    put(g, ipam, "rangeEnd", jstr(g, model_ipv4_format((uint32_t)n->rend, e)));
    if (n->has_gw) /* host-local refuses an empty gateway: leave it out */
        put(g, ipam, "gateway", jstr(g, n->boot->gateway));
    put(g, r1, "dst", jstr(g, g->c->kubernetes_service_cluster_ip_range));
    put(g, r1, "gw", jstr(g, n->boot->ipv4));
    push(g, routes, r1);
    put(g, r2, "dst", jstr(g, "0.0.0.0/0"));
    push(g, routes, r2);
    put(g, ipam, "routes", routes);
    put(g, ipam, "dataDir", jstr(g, "/var/lib/cni/networks"));
    json_t *r = NULL;
    if (g->rc == 0) {
        char *text = dump_text(ipam, 0, false);
        if (text == NULL)
            g->rc = -ENOMEM;
        else
            r = jstr(g, text);
        free(text);
    }
    json_decref(ipam);
    return r;
}

static void etcd_keys(gen_t *g, json_t *md, const mnode_t *n, const char *x,
                      const model_sync_etcd_t *e)
{
    char k[96];
    const char *ip = n->boot->ipv4;
#define K(suffix) (snprintf(k, sizeof k, "%s_etcd_%s", x, suffix), k)
    put(g, md, K("initial_cluster"), jmembers(g, E_NAMED, e->peer_port));
    put(g, md, K("initial_advertise_peer_urls"), jfmt(g, "https://%s:%u", ip, e->peer_port));
    put(g, md, K("member_client_uri_list"), jmembers(g, E_URI, e->client_port));
    put(g, md, K("advertise_client_urls"), jfmt(g, "https://%s:%u", ip, e->client_port));
    put(g, md, K("data_dir"), jstr(g, e->data_dir));
    put(g, md, K("client_port"), jint(g, e->client_port));
    if (n->cp) {
        put(g, md, K("member_peer_uri_list"), jmembers(g, E_URI, e->peer_port));
        put(g, md, K("peer_port"), jint(g, e->peer_port));
    }
#undef K
}

static json_t *machine_group_doc(gen_t *g, const mnode_t *n, const char *id)
{
    const model_sync_config_t *c = g->c;
    const char *ip = n->boot->ipv4;
    const char *profile = n->cp ? MODEL_SYNC_PROFILE_CONTROL_PLANE : MODEL_SYNC_PROFILE_NODE;
    json_t *d = jobj(g), *md = jobj(g);
    put(g, d, "id", jstr(g, id));
    put(g, d, "name", jstr(g, profile));
    put(g, d, "profile", jstr(g, profile));
    put(g, d, "selector", selector_obj(g, n->boot->mac));

    put(g, md, "api_uri", jstr(g, c->api_uri));
    put(g, md, "ssh_authorized_keys",
        jstr_list(g, c->ssh_authorized_keys, c->n_ssh_authorized_keys));
    put(g, md, "selector", selector_obj(g, n->boot->mac));

    char shortname[MODEL_NAME_MAX + 1];
    json_t *dns = dns_attr(g, n->fqdn, shortname, sizeof shortname);
    json_t *hosts = jstr_list(g, c->etc_hosts, c->n_etc_hosts);
    push(g, hosts, jfmt(g, "127.0.1.1 %s %s", n->fqdn, shortname));
    put(g, md, "etc_hosts", hosts);
    put(g, md, "hostname", jstr(g, shortname));
    put(g, md, "dns_attr", dns);

    put(g, md, "etcd_name", jstr(g, ip));
    put(g, md, "kubernetes_node_ip", jstr(g, ip));
    etcd_keys(g, md, n, "kubernetes", &c->kubernetes_etcd);
    etcd_keys(g, md, n, "vault", &c->vault_etcd);
    etcd_keys(g, md, n, "fleet", &c->fleet_etcd);

    put(g, md, "kubernetes_apiserver_insecure_port",
        jint(g, c->kubernetes_apiserver_insecure_port));
    put(g, md, "kubernetes_service_cluster_ip_range",
        jstr(g, c->kubernetes_service_cluster_ip_range));
    put(g, md, "kubernetes_service_cluster_ip", jstr(g, g->svc_ip));
    put(g, md, "kubernetes_node_name", jstr(g, n->auto_name ? ip : n->fqdn));
    put(g, md, "vault_port", jint(g, c->vault_port));
    put(g, md, "kubelet_healthz_port", jint(g, c->kubelet_healthz_port));
    put(g, md, "hyperkube_image_url", jstr(g, c->hyperkube_image_url));
    put(g, md, "cephtools_image_url", jstr(g, c->cephtools_image_url));
    put(g, md, "vault_polling_sec", jint(g, c->vault_polling_sec));
    put(g, md, "lifecycle_update_polling_sec", jint(g, c->lifecycle_update_polling_sec));

    put(g, md, "vault_ip_list", jmembers(g, E_IP, 0));
    put(g, md, "etcd_member_kubernetes_control_plane_ip_list", jmembers(g, E_IP, 0));
    json_t *e = jarr(g);
    for (size_t i = 0; i < g->n_cp; i++)
        push(g, e, jstr(g, g->cp[i]->boot->ipv4));
    put(g, md, "etcd_member_kubernetes_control_plane_ip", e);

    char net[16];
    put(g, md, "cni", cni_string(g, n));
    json_t *nw = jobj(g);
    put(g, nw, "cidrv4", jstr(g, n->boot->cidrv4));
    put(g, nw, "gateway", jstr(g, n->boot->gateway));
    put(g, nw, "ip", jstr(g, ip));
    put(g, nw, "subnet", jfmt(g, "%s/%u", model_ipv4_format(n->net, net), n->plen));
    put(g, nw, "perennial_host_ip", jstr(g, c->perennial_local_host_ip));
    put(g, nw, "ip_or_fqdn", jstr(g, c->sync_replace_ip_by_fqdn ? n->fqdn : ip));
    put(g, md, "network", nw);

    put(g, md, "nameservers", jjoined(g, c->nameservers, c->n_nameservers, " "));
    put(g, md, "ntp", jjoined(g, c->ntp, c->n_ntp, " "));
    put(g, md, "fallbackntp", jjoined(g, c->fallbackntp, c->n_fallbackntp, " "));
    put(g, md, "disk_profile", jstr(g, disk_profile(c, n->f)));
    if (n->cp) {
        put(g, md, "roles", jstr(g, "etcd-member,kubernetes-control-plane"));
        put(g, md, "kubernetes_apiserver_count", jint(g, (long long)g->n_cp));
        put(g, md, "kubernetes_apiserver_insecure_bind_address",
            jstr(g, c->kubernetes_apiserver_insecure_bind_address));
    } else {
        put(g, md, "roles", jstr(g, "kubernetes-node"));
    }
    put(g, d, "metadata", md);
    return d;
}

/* ------------------------------------------------------------------ */
/* Output. */

int model_sync_group_id(unsigned roles, const char *mac, char *out, size_t out_size)
{
    const char *p;
    if (roles == MODEL_SYNC_ROLES_CONTROL_PLANE)
        p = MODEL_SYNC_PROFILE_CONTROL_PLANE;
    else if (roles == MODEL_SYNC_ROLES_NODE)
        p = MODEL_SYNC_PROFILE_NODE;
    else
        return -EINVAL;
    char canon[MODEL_MAC_LEN + 1];
    if (mac == NULL || model_mac_parse(mac, canon, NULL, NULL) != 0 || strcmp(canon, mac) != 0)
        return -EINVAL;
    char hex[13];
    size_t h = 0;
    for (const char *q = mac; *q; q++)
        if (*q != ':')
            hex[h++] = *q;
    hex[h] = '\0';
    int n = snprintf(out, out_size, "%s-%s", p, hex);
    if (n < 0 || (size_t)n >= out_size)
        return -ENAMETOOLONG;
    return n;
}

void model_sync_facts_from(const model_machine_t *m, model_sync_facts_t *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->uuid, sizeof out->uuid, "%s", m->facts.uuid);
    const model_iface_t *b = model_discovery_boot_iface(&m->facts);
    if (b) {
        out->has_boot = true;
        model_sync_nic_t *n = &out->boot;
        snprintf(n->name, sizeof n->name, "%s", b->name);
        snprintf(n->mac, sizeof n->mac, "%s", b->mac);
        snprintf(n->ipv4, sizeof n->ipv4, "%s", b->ipv4);
        snprintf(n->cidrv4, sizeof n->cidrv4, "%s", b->cidrv4);
        snprintf(n->gateway, sizeof n->gateway, "%s", b->gateway);
        snprintf(n->fqdn, sizeof n->fqdn, "%s", b->fqdn);
    }
    out->n_disks = m->facts.n_disks;
    for (size_t i = 0; i < m->facts.n_disks; i++)
        out->disk_gib += m->facts.disks[i].size_bytes >> 30;
}

void model_sync_files_free(model_sync_files_t *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->files[i].id);
        free(f->files[i].path);
        free(f->files[i].text);
    }
    free(f->files);
    free(f->skipped);
    memset(f, 0, sizeof *f);
}

/* Appends a machine group the caller already holds the text of. */
static int add_reused(model_sync_files_t *out, const char *id, const char *mac)
{
    model_sync_file_t *f = &out->files[out->n];
    memset(f, 0, sizeof *f);
    f->kind = MODEL_SYNC_GROUP;
    f->reused = true;
    f->id = strdup(id);
    if (asprintf(&f->path, "groups/%s.json", id) < 0)
        f->path = NULL;
    snprintf(f->mac, sizeof f->mac, "%s", mac);
    if (!f->id || !f->path) {
        free(f->id);
        free(f->path);
        memset(f, 0, sizeof *f);
        return -ENOMEM;
    }
    out->n++;
    return 0;
}

/* What every machine group shares with the others: the control plane's
 * IPs (E and its size) and the SSH keys. The configuration is the same
 * for a caller's whole life. */
static uint64_t cluster_digest(const gen_t *g)
{
    uint64_t h = UINT64_C(1469598103934665603);
    for (size_t i = 0; i <= g->n_cp + g->c->n_ssh_authorized_keys; i++) {
        const char *x = i < g->n_cp   ? g->cp[i]->boot->ipv4
                        : i > g->n_cp ? g->c->ssh_authorized_keys[i - g->n_cp - 1]
                                      : "--";
        for (; *x; x++)
            h = (h ^ (unsigned char)*x) * UINT64_C(1099511628211);
        h = (h ^ 0xff) * UINT64_C(1099511628211);
    }
    return h;
}

/* Appends a file made of doc (which it releases). */
static int add_file(model_sync_files_t *out, model_sync_kind_t kind, const char *id,
                    const char *mac, json_t *doc, int rc)
{
    if (rc == 0 && doc == NULL)
        rc = -ENOMEM;
    model_sync_file_t *f = &out->files[out->n];
    memset(f, 0, sizeof *f);
    if (rc == 0) {
        f->kind = kind;
        f->id = strdup(id);
        if (asprintf(&f->path, "%s/%s.json", kind == MODEL_SYNC_GROUP ? "groups" : "profiles", id) <
            0)
            f->path = NULL;
        f->text = dump_text(doc, 2, true);
        snprintf(f->mac, sizeof f->mac, "%s", mac ? mac : "");
        if (f->id && f->path && f->text) {
            f->len = strlen(f->text);
        } else {
            free(f->id);
            free(f->path);
            free(f->text);
            memset(f, 0, sizeof *f);
            rc = -ENOMEM;
        }
    }
    json_decref(doc);
    if (rc == 0)
        out->n++;
    return rc;
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const model_sync_file_t *)a)->path, ((const model_sync_file_t *)b)->path);
}

/* Of machines sharing a boot IP: the one with a pod range already first,
 * then the lowest MAC. */
static int cmp_ip_claim(const void *a, const void *b)
{
    const mnode_t *x = *(const mnode_t *const *)a, *y = *(const mnode_t *const *)b;
    if (x->ip != y->ip)
        return x->ip < y->ip ? -1 : 1;
    if ((x->hint != 0) != (y->hint != 0))
        return x->hint ? -1 : 1;
    return strcmp(x->boot->mac, y->boot->mac);
}

/* Keeps the entries of v that are not skipped; returns their count. */
static size_t drop_skipped(mnode_t **v, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!v[i]->skip)
            v[k++] = v[i];
    return k;
}

/* Gives x the index idx of its role set when free there. */
static bool take_index(u64set_t *taken, mnode_t *x, uint64_t idx)
{
    if (!u64set_add(taken, idx * 2 + (x->cp ? 1 : 0)))
        return false;
    x->role_index = (size_t)idx;
    return true;
}

/* Role indexes for the automatic names "cp-<i>-..." / "no-<i>-...": each
 * machine keeps the index it had (name_slot) while no other machine of its
 * set holds it; the others, in MAC order (v is in that order), take the
 * lowest free index of their set. With no name_slot at all this is the
 * original's rule, the position in the MAC order of the set. -ENOMEM only. */
static int name_machines(mnode_t **v, size_t n)
{
    u64set_t taken;
    if (u64set_init(&taken, n) != 0)
        return -ENOMEM;
    bool *done = calloc(n ? n : 1, sizeof *done);
    if (done == NULL) {
        free(taken.slot);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        done[i] = v[i]->name_slot && take_index(&taken, v[i], v[i]->name_slot - 1);
    uint64_t next[2] = {0, 0}; /* lowest index maybe free, per set */
    for (size_t i = 0; i < n; i++)
        while (!done[i])
            done[i] = take_index(&taken, v[i], next[v[i]->cp]++);
    free(done);
    free(taken.slot);
    for (size_t i = 0; i < n; i++) {
        mnode_t *x = v[i];
        if (x->boot->fqdn[0]) {
            snprintf(x->fqdn, sizeof x->fqdn, "%s", x->boot->fqdn);
            continue;
        }
        x->auto_name = true;
        int k = snprintf(x->fqdn, sizeof x->fqdn, "%s-%zu-%s", x->cp ? "cp" : "no", x->role_index,
                         x->boot->ipv4);
        for (int j = k - (int)strlen(x->boot->ipv4); j < k; j++)
            if (x->fqdn[j] == '.')
                x->fqdn[j] = '-';
    }
    return 0;
}

static int report_skipped(const mnode_t *nodes, size_t n, model_sync_files_t *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += nodes[i].skip != 0;
    if (k == 0)
        return 0;
    out->skipped = calloc(k, sizeof *out->skipped);
    if (out->skipped == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!nodes[i].skip)
            continue;
        model_sync_skip_t *sk = &out->skipped[out->n_skipped++];
        snprintf(sk->mac, sizeof sk->mac, "%s", nodes[i].boot ? nodes[i].boot->mac : "");
        snprintf(sk->uuid, sizeof sk->uuid, "%s", nodes[i].f->uuid);
        sk->error = nodes[i].skip;
        snprintf(sk->msg, sizeof sk->msg, "%s", nodes[i].why.msg);
    }
    return 0;
}

static int cmp_skip(const void *a, const void *b)
{
    const model_sync_skip_t *x = a, *y = b;
    int c = strcmp(x->mac, y->mac);
    return c ? c : strcmp(x->uuid, y->uuid);
}

int model_sync_generate(const model_sync_config_t *cfg, const model_sync_machine_t *machines,
                        size_t n, model_sync_files_t *out, model_err_t *err)
{
    return model_sync_generate_reusing(cfg, machines, n, NULL, 0, out, err);
}

/* Can machine x's group text from the earlier call be used again? */
static bool reusable(const mnode_t *x, const bool *reuse, bool same_cluster)
{
    return reuse && reuse[x->in_index] && same_cluster && x->rstart == x->hint &&
           x->role_index + 1 == x->name_slot;
}

int model_sync_generate_reusing(const model_sync_config_t *cfg,
                                const model_sync_machine_t *machines, size_t n, const bool *reuse,
                                uint64_t prev_digest, model_sync_files_t *out, model_err_t *err)
{
    if (out == NULL)
        return model_err_set(err, "sync", "no output");
    memset(out, 0, sizeof *out);
    int rc = model_sync_config_check(cfg, err);
    if (rc)
        return rc;
    if (n > 0 && machines == NULL)
        return model_err_set(err, "machines", "is NULL with %zu entries", n);

    mnode_t *nodes = calloc(n ? n : 1, sizeof *nodes);
    mnode_t **v = calloc(n ? n : 1, sizeof *v);
    mnode_t **cp = calloc(n ? n : 1, sizeof *cp);
    model_sync_facts_t *read = NULL; /* facts of the entries given as m */
    size_t n_read = 0;
    for (size_t i = 0; i < n; i++)
        n_read += machines[i].facts == NULL && machines[i].m != NULL;
    if (n_read)
        read = malloc(n_read * sizeof *read);
    out->files = calloc(n + 4, sizeof *out->files);
    if (nodes == NULL || v == NULL || cp == NULL || out->files == NULL || (n_read && !read)) {
        rc = -ENOMEM;
        goto done;
    }
    n_read = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const model_sync_facts_t *f = machines[i].facts;
        if (f == NULL && machines[i].m != NULL) {
            model_sync_facts_from(machines[i].m, &read[n_read]);
            f = &read[n_read++];
        }
        rc = load_machine(&machines[i], i, f, &nodes[i], err);
        v[i] = &nodes[i];
    }
    if (rc)
        goto done;
    size_t nv = 0; /* v[0..nv): the machines still in the running */
    for (size_t i = 0; i < n; i++)
        if (nodes[i].boot)
            v[nv++] = &nodes[i];

    /* One group per boot MAC: the MAC index makes a second one a bug. */
    qsort(v, nv, sizeof *v, cmp_mac);
    for (size_t i = 1; i < nv; i++)
        if (strcmp(v[i]->boot->mac, v[i - 1]->boot->mac) == 0) {
            rc = model_err_set(err, v[i]->who, "boot MAC also reported by machine %s",
                               v[i - 1]->f->uuid);
            goto done;
        }
    nv = drop_skipped(v, nv);
    /* One machine per boot IP. */
    qsort(v, nv, sizeof *v, cmp_ip_claim);
    for (size_t i = 1, keep = 0; i < nv; i++) {
        if (v[i]->ip != v[keep]->ip)
            keep = i;
        else
            v[i]->skip = model_err_set(&v[i]->why, v[i]->who, "boot IP also used by machine %s",
                                       v[keep]->boot->mac);
    }
    nv = drop_skipped(v, nv);

    rc = allocate(cfg, v, nv);
    if (rc)
        goto done;
    nv = drop_skipped(v, nv);
    qsort(v, nv, sizeof *v, cmp_mac);
    rc = name_machines(v, nv);
    if (rc)
        goto done;

    gen_t g = {.c = cfg, .cp = cp};
    qsort(v, nv, sizeof *v, cmp_ip);
    for (size_t i = 0; i < nv; i++) /* v is in IP order: E is numeric */
        if (v[i]->cp)
            cp[g.n_cp++] = v[i];

    uint32_t svc = 0;
    unsigned svc_len = 32;
    parse_range(cfg->kubernetes_service_cluster_ip_range, &svc, &svc_len, NULL);
    model_ipv4_format(svc_len >= 31 ? svc : svc + 1, g.svc_ip);

    struct {
        model_sync_kind_t kind;
        const char *id, *ignition;
    } fixed[] = {
        {MODEL_SYNC_PROFILE, MODEL_SYNC_PROFILE_DISCOVERY, cfg->ignition_discovery},
        {MODEL_SYNC_PROFILE, MODEL_SYNC_PROFILE_CONTROL_PLANE, cfg->ignition_control_plane},
        {MODEL_SYNC_PROFILE, MODEL_SYNC_PROFILE_NODE, cfg->ignition_node},
        {MODEL_SYNC_GROUP, MODEL_SYNC_PROFILE_DISCOVERY, NULL},
    };
    for (size_t i = 0; rc == 0 && i < COUNT(fixed); i++) {
        json_t *doc;
        if (fixed[i].kind == MODEL_SYNC_GROUP)
            doc = discovery_group_doc(&g);
        else
            doc = profile_doc(&g, fixed[i].id, fixed[i].ignition,
                              strcmp(fixed[i].id, MODEL_SYNC_PROFILE_DISCOVERY) == 0);
        rc = add_file(out, fixed[i].kind, fixed[i].id, NULL, doc, g.rc);
    }
    out->digest = cluster_digest(&g);
    for (size_t i = 0; rc == 0 && i < nv; i++) {
        char id[64];
        model_sync_group_id(v[i]->cp ? MODEL_SYNC_ROLES_CONTROL_PLANE : MODEL_SYNC_ROLES_NODE,
                            v[i]->boot->mac, id, sizeof id);
        if (reusable(v[i], reuse, out->digest == prev_digest))
            rc = add_reused(out, id, v[i]->boot->mac);
        else
            rc = add_file(out, MODEL_SYNC_GROUP, id, v[i]->boot->mac,
                          machine_group_doc(&g, v[i], id), g.rc);
        if (rc == 0) {
            out->files[out->n - 1].pod_start = (uint32_t)v[i]->rstart;
            out->files[out->n - 1].pod_end = (uint32_t)v[i]->rend;
            out->files[out->n - 1].name_index = (unsigned)v[i]->role_index;
        }
    }
    if (rc == 0)
        rc = report_skipped(nodes, n, out);
    if (rc == 0) {
        qsort(out->files, out->n, sizeof *out->files, cmp_file);
        if (out->n_skipped)
            qsort(out->skipped, out->n_skipped, sizeof *out->skipped, cmp_skip);
    }

done:
    if (rc == -ENOMEM)
        model_err_set(err, "sync", "out of memory");
    free(nodes);
    free(v);
    free(cp);
    free(read);
    if (rc)
        model_sync_files_free(out);
    return rc;
}

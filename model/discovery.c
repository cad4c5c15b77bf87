/* Decoding of discovery reports. See discovery.h. */
#include "model/discovery.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies a JSON string member into out, or "" when absent/null when
 * optional. -EINVAL on a wrong type or a value longer than out. */
static int get_str(json_t *obj, const char *key, bool required, char *out, size_t out_size,
                   const char *where, model_err_t *err)
{
    json_t *v = json_object_get(obj, key);
    char path[128];
    snprintf(path, sizeof path, "%s%s%s", where, *where ? "." : "", key);
    if (!v || json_is_null(v)) {
        out[0] = '\0';
        return required ? model_err_set(err, path, "is required") : 0;
    }
    if (!json_is_string(v))
        return model_err_set(err, path, "must be a string");
    size_t n = json_string_length(v);
    if (n >= out_size)
        return model_err_set(err, path, "is %zu bytes long, at most %zu allowed", n, out_size - 1);
    if (strlen(json_string_value(v)) != n)
        return model_err_set(err, path, "contains a NUL byte");
    memcpy(out, json_string_value(v), n + 1);
    return 0;
}

static int decode_boot_info(json_t *bi, model_discovery_t *d, model_err_t *err)
{
    char buf[128];
    if (!json_is_object(bi))
        return model_err_set(err, "boot-info", "must be an object");
    int rc = get_str(bi, "uuid", true, buf, sizeof buf, "boot-info", err);
    if (rc == 0)
        rc = model_uuid_parse(buf, d->uuid, "boot-info.uuid", err);
    if (rc == 0)
        rc = get_str(bi, "mac", true, buf, sizeof buf, "boot-info", err);
    if (rc == 0)
        rc = model_mac_parse(buf, d->boot_mac, "boot-info.mac", err);
    if (rc == 0)
        rc = get_str(bi, "random-id", false, d->boot_id, sizeof d->boot_id, "boot-info", err);
    return rc;
}

static int decode_fqdn(json_t *v, model_iface_t *it, const char *where, model_err_t *err)
{
    char path[128];
    snprintf(path, sizeof path, "%s.fqdn", where);
    if (!v || json_is_null(v))
        return 0;
    /* discoveryC sends a list of reverse names; a bare string is accepted too. */
    json_t *first = json_is_array(v) ? json_array_get(v, 0) : v;
    if (json_is_array(v) && json_array_size(v) == 0)
        return 0;
    if (!json_is_string(first))
        return model_err_set(err, path, "must be a list of names");
    return model_fqdn_parse(json_string_value(first), it->fqdn, sizeof it->fqdn, path, err);
}

static int decode_iface(json_t *o, model_iface_t *it, const char *where, model_err_t *err)
{
    char buf[128];
    char path[128];
    if (!json_is_object(o))
        return model_err_set(err, where, "must be an object");
    int rc = get_str(o, "name", true, it->name, sizeof it->name, where, err);
    if (rc == 0) {
        snprintf(path, sizeof path, "%s.name", where);
        rc = model_ifname_check(it->name, path, err);
    }
    if (rc == 0)
        rc = get_str(o, "mac", true, buf, sizeof buf, where, err);
    if (rc == 0) {
        snprintf(path, sizeof path, "%s.mac", where);
        rc = model_mac_parse(buf, it->mac, path, err);
    }
    if (rc == 0)
        rc = get_str(o, "ipv4", false, it->ipv4, sizeof it->ipv4, where, err);
    if (rc == 0 && it->ipv4[0]) {
        snprintf(path, sizeof path, "%s.ipv4", where);
        rc = model_ipv4_parse(it->ipv4, NULL, path, err);
    }
    if (rc == 0)
        rc = get_str(o, "cidrv4", false, it->cidrv4, sizeof it->cidrv4, where, err);
    if (rc == 0 && it->cidrv4[0]) {
        uint32_t a;
        unsigned len;
        snprintf(path, sizeof path, "%s.cidrv4", where);
        rc = model_cidrv4_parse(it->cidrv4, &a, &len, path, err);
        if (rc == 0)
            it->netmask = len;
    }
    if (rc == 0)
        rc = get_str(o, "ipv6", false, it->ipv6, sizeof it->ipv6, where, err);
    if (rc == 0 && it->ipv6[0]) {
        snprintf(path, sizeof path, "%s.ipv6", where);
        rc = model_ipv6_parse(it->ipv6, NULL, path, err);
    }
    if (rc == 0)
        rc = get_str(o, "cidrv6", false, it->cidrv6, sizeof it->cidrv6, where, err);
    if (rc == 0 && it->cidrv6[0]) {
        snprintf(path, sizeof path, "%s.cidrv6", where);
        rc = model_cidrv6_parse(it->cidrv6, NULL, path, err);
    }
    json_t *nm = json_object_get(o, "netmask");
    if (rc == 0 && nm && !json_is_null(nm)) {
        snprintf(path, sizeof path, "%s.netmask", where);
        if (!json_is_integer(nm) || json_integer_value(nm) < 0 || json_integer_value(nm) > 32)
            rc = model_err_set(err, path, "must be an integer prefix length 0..32");
        else if (it->cidrv4[0] && (unsigned)json_integer_value(nm) != it->netmask)
            rc = model_err_set(err, path, "%lld disagrees with cidrv4 %s",
                               (long long)json_integer_value(nm), it->cidrv4);
        else
            it->netmask = (unsigned)json_integer_value(nm);
    }
    if (rc == 0)
        rc = get_str(o, "gateway", false, it->gateway, sizeof it->gateway, where, err);
    if (rc == 0 && strcmp(it->gateway, "<nil>") == 0)
        it->gateway[0] = '\0'; /* Go's rendering of "no gateway" */
    if (rc == 0 && it->gateway[0]) {
        snprintf(path, sizeof path, "%s.gateway", where);
        rc = model_ipv4_parse(it->gateway, NULL, path, err);
    }
    if (rc == 0)
        rc = decode_fqdn(json_object_get(o, "fqdn"), it, where, err);
    return rc;
}

/* True for the entries discoveryC sends for interfaces without a MAC. */
static bool iface_has_no_mac(json_t *o)
{
    json_t *mac = json_object_get(o, "mac");
    return json_is_object(o) &&
           (!mac || json_is_null(mac) || (json_is_string(mac) && json_string_length(mac) == 0));
}

static int decode_ifaces(json_t *arr, model_discovery_t *d, model_err_t *err)
{
    if (!json_is_array(arr))
        return model_err_set(err, "interfaces", "must be a list");
    size_t i;
    json_t *o;
    char where[64];
    json_array_foreach(arr, i, o)
    {
        if (iface_has_no_mac(o))
            continue;
        if (d->n_ifaces == MODEL_MAX_INTERFACES) {
            model_err_set(err, "interfaces", "more than %d interfaces with a MAC",
                          MODEL_MAX_INTERFACES);
            return -E2BIG;
        }
        snprintf(where, sizeof where, "interfaces[%zu]", i);
        model_iface_t *it = &d->ifaces[d->n_ifaces];
        int rc = decode_iface(o, it, where, err);
        if (rc)
            return rc;
        for (size_t j = 0; j < d->n_ifaces; j++)
            if (strcmp(d->ifaces[j].mac, it->mac) == 0)
                return model_err_set(err, where, "mac %s is reported twice", it->mac);
        it->as_boot = strcmp(it->mac, d->boot_mac) == 0;
        d->n_ifaces++;
    }
    if (!model_discovery_boot_iface(d))
        return model_err_set(err, "boot-info.mac", "%s is not the MAC of any reported interface",
                             d->boot_mac);
    return 0;
}

static int decode_disks(json_t *arr, model_discovery_t *d, model_err_t *err)
{
    if (json_is_null(arr))
        return 0; /* discoveryC sends null when fdisk found nothing */
    if (!json_is_array(arr))
        return model_err_set(err, "disks", "must be a list or null");
    if (json_array_size(arr) > MODEL_MAX_DISKS) {
        model_err_set(err, "disks", "more than %d disks", MODEL_MAX_DISKS);
        return -E2BIG;
    }
    size_t i;
    json_t *o;
    char where[64], path[80];
    json_array_foreach(arr, i, o)
    {
        snprintf(where, sizeof where, "disks[%zu]", i);
        if (!json_is_object(o))
            return model_err_set(err, where, "must be an object");
        model_disk_t *dk = &d->disks[d->n_disks];
        int rc = get_str(o, "path", true, dk->path, sizeof dk->path, where, err);
        snprintf(path, sizeof path, "%s.path", where);
        if (rc == 0)
            rc = model_disk_path_check(dk->path, path, err);
        if (rc)
            return rc;
        json_t *sz = json_object_get(o, "size-bytes");
        snprintf(path, sizeof path, "%s.size-bytes", where);
        if (!json_is_integer(sz) || json_integer_value(sz) < 0)
            return model_err_set(err, path, "must be a non-negative integer");
        dk->size_bytes = (uint64_t)json_integer_value(sz);
        d->n_disks++;
    }
    return 0;
}

static model_iface_t *iface_by_name(model_discovery_t *d, const char *name)
{
    for (size_t i = 0; i < d->n_ifaces; i++)
        if (strcmp(d->ifaces[i].name, name) == 0)
            return &d->ifaces[i];
    return NULL;
}

static int decode_lldp_entry(json_t *o, model_discovery_t *d, const char *where, model_err_t *err)
{
    char name[16], buf[128], path[96];
    if (!json_is_object(o))
        return model_err_set(err, where, "must be an object");
    int rc = get_str(o, "name", true, name, sizeof name, where, err);
    if (rc)
        return rc;
    model_iface_t *it = iface_by_name(d, name);
    if (!it)
        return 0; /* a neighbour of an interface without a MAC: nothing to attach to */
    json_t *chassis = json_object_get(o, "chassis");
    json_t *port = json_object_get(o, "port");
    snprintf(path, sizeof path, "%s.chassis", where);
    if (!json_is_object(chassis))
        return model_err_set(err, path, "must be an object");
    rc = get_str(chassis, "id", true, buf, sizeof buf, path, err);
    if (rc == 0) {
        snprintf(path, sizeof path, "%s.chassis.id", where);
        rc = model_mac_parse(buf, it->lldp.chassis_id, path, err);
    }
    snprintf(path, sizeof path, "%s.chassis", where);
    if (rc == 0)
        rc = get_str(chassis, "name", false, it->lldp.chassis_name, sizeof it->lldp.chassis_name,
                     path, err);
    snprintf(path, sizeof path, "%s.port", where);
    if (rc == 0 && !json_is_object(port))
        rc = model_err_set(err, path, "must be an object");
    if (rc == 0)
        rc = get_str(port, "id", true, it->lldp.port_id, sizeof it->lldp.port_id, path, err);
    if (rc == 0)
        it->has_lldp = true;
    return rc;
}

static int decode_lldp(json_t *lldp, model_discovery_t *d, model_err_t *err)
{
    if (!json_is_object(lldp))
        return model_err_set(err, "lldp", "must be an object");
    json_t *is_file = json_object_get(lldp, "is_file");
    if (!json_is_true(is_file))
        return 0;
    json_t *data = json_object_get(lldp, "data");
    json_t *arr = json_is_object(data) ? json_object_get(data, "interfaces") : NULL;
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return model_err_set(err, "lldp.data.interfaces", "must be a list or null");
    size_t i;
    json_t *o;
    char where[64];
    json_array_foreach(arr, i, o)
    {
        snprintf(where, sizeof where, "lldp.data.interfaces[%zu]", i);
        int rc = decode_lldp_entry(o, d, where, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int decode_journal(json_t *j, model_discovery_t *d, model_err_t *err)
{
    if (!j || json_is_null(j))
        return 0;
    if (!json_is_array(j))
        return model_err_set(err, "ignition-journal", "must be a list of lines or null");
    size_t i;
    json_t *line;
    json_array_foreach(j, i, line)
    {
        if (!json_is_string(line)) {
            char where[48];
            snprintf(where, sizeof where, "ignition-journal[%zu]", i);
            return model_err_set(err, where, "must be a string");
        }
    }
    d->journal = json_incref(j);
    return 0;
}

static int decode_root(json_t *root, model_discovery_t *d, model_err_t *err)
{
    static const char *const required[] = {"boot-info", "disks", "lldp", "interfaces"};
    if (!json_is_object(root)) {
        model_err_set(err, NULL, "the body must be a JSON object");
        return -EBADMSG;
    }
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        if (!json_object_get(root, required[i])) {
            model_err_set(err, required[i], "is required");
            return -EBADMSG;
        }
    }
    int rc = decode_boot_info(json_object_get(root, "boot-info"), d, err);
    if (rc == 0)
        rc = decode_ifaces(json_object_get(root, "interfaces"), d, err);
    if (rc == 0)
        rc = decode_disks(json_object_get(root, "disks"), d, err);
    if (rc == 0)
        rc = decode_lldp(json_object_get(root, "lldp"), d, err);
    if (rc == 0)
        rc = decode_journal(json_object_get(root, "ignition-journal"), d, err);
    return rc;
}

int model_discovery_decode(const char *json, size_t len, model_discovery_t **out, model_err_t *err)
{
    if (!json || !out)
        return -EINVAL;
    *out = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        model_err_set(err, NULL, "the body is not JSON: %s at line %d column %d", jerr.text,
                      jerr.line, jerr.column);
        return -EBADMSG;
    }
    model_discovery_t *d = calloc(1, sizeof(*d));
    if (!d) {
        json_decref(root);
        return -ENOMEM;
    }
    int rc = decode_root(root, d, err);
    json_decref(root);
    if (rc) {
        model_discovery_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

void model_discovery_free(model_discovery_t *d)
{
    if (!d)
        return;
    json_decref(d->journal);
    free(d);
}

const model_iface_t *model_discovery_boot_iface(const model_discovery_t *d)
{
    for (size_t i = 0; i < d->n_ifaces; i++)
        if (d->ifaces[i].as_boot)
            return &d->ifaces[i];
    return NULL;
}

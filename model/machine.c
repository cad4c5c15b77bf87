/* The stored machine record. See machine.h. */
#include "model/machine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/clock.h"
#include "model/keys.h"

static json_t *lldp_encode(const model_iface_t *it)
{
    if (!it->has_lldp)
        return json_null();
    return json_pack("{s:s, s:s, s:s}", "chassis_id", it->lldp.chassis_id, "chassis_name",
                     it->lldp.chassis_name, "port_id", it->lldp.port_id);
}

static json_t *iface_encode(const model_iface_t *it)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:b, s:o}", "name", it->name, "mac",
                          it->mac, "ipv4", it->ipv4, "cidrv4", it->cidrv4, "netmask",
                          (json_int_t)it->netmask, "gateway", it->gateway, "fqdn", it->fqdn,
                          "as_boot", it->as_boot, "lldp", lldp_encode(it));
    /* Only when reported: records of machines without IPv6 stay as they were. */
    if (o && it->ipv6[0])
        json_object_set_new(o, "ipv6", json_string(it->ipv6));
    if (o && it->cidrv6[0])
        json_object_set_new(o, "cidrv6", json_string(it->cidrv6));
    return o;
}

json_t *model_machine_encode(const model_machine_t *m)
{
    const model_discovery_t *d = &m->facts;
    char c[MODEL_DATE_MAX], u[MODEL_DATE_MAX];
    json_t *ifs = json_array(), *disks = json_array();
    for (size_t i = 0; ifs && i < d->n_ifaces; i++)
        json_array_append_new(ifs, iface_encode(&d->ifaces[i]));
    for (size_t i = 0; disks && i < d->n_disks; i++)
        json_array_append_new(disks, json_pack("{s:s, s:I}", "path", d->disks[i].path, "size_bytes",
                                               (json_int_t)d->disks[i].size_bytes));
    return json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "schema", MODEL_SCHEMA, "uuid",
                     d->uuid, "boot_mac", d->boot_mac, "boot_id", d->boot_id, "created",
                     model_rfc3339(m->created_ms, c), "updated", model_rfc3339(m->updated_ms, u),
                     "interfaces", ifs, "disks", disks);
}

static int copy_str(json_t *o, const char *key, char *out, size_t n)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v) || json_string_length(v) >= n)
        return -EINVAL;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int iface_decode(json_t *o, model_iface_t *it)
{
    json_t *nm = json_object_get(o, "netmask");
    int rc = copy_str(o, "name", it->name, sizeof it->name);
    rc = rc ? rc : copy_str(o, "mac", it->mac, sizeof it->mac);
    rc = rc ? rc : copy_str(o, "ipv4", it->ipv4, sizeof it->ipv4);
    rc = rc ? rc : copy_str(o, "cidrv4", it->cidrv4, sizeof it->cidrv4);
    rc = rc ? rc : copy_str(o, "gateway", it->gateway, sizeof it->gateway);
    rc = rc ? rc : copy_str(o, "fqdn", it->fqdn, sizeof it->fqdn);
    if (rc == 0 && json_object_get(o, "ipv6")) /* optional */
        rc = copy_str(o, "ipv6", it->ipv6, sizeof it->ipv6);
    if (rc == 0 && json_object_get(o, "cidrv6"))
        rc = copy_str(o, "cidrv6", it->cidrv6, sizeof it->cidrv6);
    if (rc || !json_is_integer(nm))
        return -EINVAL;
    it->netmask = (unsigned)json_integer_value(nm);
    it->as_boot = json_is_true(json_object_get(o, "as_boot"));
    json_t *l = json_object_get(o, "lldp");
    if (json_is_object(l)) {
        it->has_lldp = true;
        rc = copy_str(l, "chassis_id", it->lldp.chassis_id, sizeof it->lldp.chassis_id);
        rc = rc ? rc
                : copy_str(l, "chassis_name", it->lldp.chassis_name, sizeof it->lldp.chassis_name);
        rc = rc ? rc : copy_str(l, "port_id", it->lldp.port_id, sizeof it->lldp.port_id);
    }
    return rc;
}

static int machine_decode_root(json_t *root, model_machine_t *m, model_err_t *err)
{
    model_discovery_t *d = &m->facts;
    char c[MODEL_DATE_MAX], u[MODEL_DATE_MAX];
    if (json_integer_value(json_object_get(root, "schema")) != MODEL_SCHEMA)
        return model_err_set(err, "schema", "unknown schema version");
    if (copy_str(root, "uuid", d->uuid, sizeof d->uuid) ||
        copy_str(root, "boot_mac", d->boot_mac, sizeof d->boot_mac) ||
        copy_str(root, "boot_id", d->boot_id, sizeof d->boot_id) ||
        copy_str(root, "created", c, sizeof c) || copy_str(root, "updated", u, sizeof u) ||
        model_rfc3339_parse(c, &m->created_ms) || model_rfc3339_parse(u, &m->updated_ms))
        return model_err_set(err, NULL, "a machine record lacks uuid, boot_mac or dates");
    json_t *ifs = json_object_get(root, "interfaces"), *disks = json_object_get(root, "disks");
    if (!json_is_array(ifs) || json_array_size(ifs) > MODEL_MAX_INTERFACES ||
        !json_is_array(disks) || json_array_size(disks) > MODEL_MAX_DISKS)
        return model_err_set(err, NULL, "a machine record has bad interfaces or disks");
    size_t i;
    json_t *o;
    json_array_foreach(ifs, i, o)
    {
        if (iface_decode(o, &d->ifaces[d->n_ifaces++]))
            return model_err_set(err, "interfaces", "entry %zu is malformed", i);
    }
    json_array_foreach(disks, i, o)
    {
        model_disk_t *dk = &d->disks[d->n_disks++];
        json_t *sz = json_object_get(o, "size_bytes");
        if (copy_str(o, "path", dk->path, sizeof dk->path) || !json_is_integer(sz))
            return model_err_set(err, "disks", "entry %zu is malformed", i);
        dk->size_bytes = (uint64_t)json_integer_value(sz);
    }
    return 0;
}

int model_machine_decode(const char *json, size_t len, model_machine_t **out, model_err_t *err)
{
    json_t *root = json_loadb(json, len, 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return model_err_set(err, NULL, "a machine record is not a JSON object");
    }
    model_machine_t *m = calloc(1, sizeof(*m));
    if (!m) {
        json_decref(root);
        return -ENOMEM;
    }
    int rc = machine_decode_root(root, m, err);
    json_decref(root);
    if (rc) {
        free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void model_machine_from_discovery(model_machine_t *m, const model_discovery_t *d,
                                  const model_machine_t *prev, int64_t now_ms)
{
    m->facts = *d;
    m->facts.journal = NULL;
    m->created_ms = prev ? prev->created_ms : now_ms;
    m->updated_ms = now_ms;
}

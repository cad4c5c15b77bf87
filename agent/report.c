/* The discovery body. See report.h. */
#include "agent/report.h"

#include <stdio.h>

static json_t *iface_json(const agent_facts_t *f, const agent_iface_t *it)
{
    char cidr[AGENT_IP_MAX + 4] = "";
    if (*it->ipv4)
        snprintf(cidr, sizeof cidr, "%s/%u", it->ipv4, it->prefix);
    /* fqdn: the original's reverse lookups are left to the API's readers
     * (null = none known); a lookup could stall the report. */
    json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:n}", "ipv4", it->ipv4, "cidrv4", cidr,
                          "netmask", *it->ipv4 ? (int)it->prefix : 0, "mac", it->mac, "name",
                          it->name, "gateway", f->gateway, "fqdn");
    if (o && *it->ipv6) { /* beyond the original's body: the API stores it */
        char cidr6[64];
        snprintf(cidr6, sizeof cidr6, "%s/%u", it->ipv6, it->prefix6);
        json_object_set_new(o, "ipv6", json_string(it->ipv6));
        json_object_set_new(o, "cidrv6", json_string(cidr6));
    }
    return o;
}

static json_t *lldp_json(const agent_facts_t *f)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < f->n_ifaces; i++) {
        const agent_iface_t *it = &f->ifaces[i];
        if (!it->has_lldp)
            continue;
        json_array_append_new(list,
                              json_pack("{s:{s:s}, s:{s:s, s:s}, s:s}", "port", "id",
                                        it->lldp.port_id, "chassis", "id", it->lldp.chassis_id,
                                        "name", it->lldp.chassis_name, "name", it->name));
    }
    if (list && json_array_size(list) == 0) {
        json_decref(list);
        list = json_null();
    }
    return json_pack("{s:b, s:{s:o}}", "is_file", f->lldp_read, "data", "interfaces",
                     list ? list : json_null());
}

json_t *agent_discovery_body(const agent_facts_t *f)
{
    json_t *ifs = json_array(), *disks = f->n_disks ? json_array() : json_null();
    for (size_t i = 0; ifs && i < f->n_ifaces; i++)
        json_array_append_new(ifs, iface_json(f, &f->ifaces[i]));
    for (size_t i = 0; disks && i < f->n_disks; i++)
        json_array_append_new(disks, json_pack("{s:I, s:s}", "size-bytes",
                                               (json_int_t)f->disks[i].size_bytes, "path",
                                               f->disks[i].path));
    json_t *journal = f->journal ? json_array() : json_null();
    for (size_t i = 0; journal && i < f->n_journal; i++)
        json_array_append_new(journal, json_string(f->journal[i]));
    return json_pack("{s:o, s:o, s:{s:s, s:s, s:s}, s:o, s:o}", "interfaces", ifs, "disks", disks,
                     "boot-info", "uuid", f->uuid, "mac", f->boot_mac, "random-id", f->boot_id,
                     "lldp", lldp_json(f), "ignition-journal", journal);
}

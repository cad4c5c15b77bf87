/*
 * "get machines" and "get rolling" (both from Machines.List, every page),
 * and "get machine" (Machines.Get).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "get.h"
#include "machine_view.h"
#include "names.h"
#include "pbjson.h"

#define LIST_PATH "/enjoliver.v1.Machines/List"
#define GET_PATH "/enjoliver.v1.Machines/Get"

static int add_page(struct machine_pages *out, Enjoliver__V1__ListMachinesResponse *page)
{
    void *p = realloc(out->pages, (out->n + 1) * sizeof *out->pages);

    if (p == NULL)
        return -ENOMEM;
    out->pages = p;
    out->pages[out->n++] = page;
    if (out->n == 1 || page->revision < out->revision)
        out->revision = page->revision;
    return 0;
}

void machine_pages_free(struct machine_pages *p)
{
    for (size_t i = 0; i < p->n; i++)
        protobuf_c_message_free_unpacked(&p->pages[i]->base, NULL);
    free(p->pages);
    memset(p, 0, sizeof *p);
}

/* A server that hands back the token it was given would loop us forever. */
static int same_token(const char *prev, const char *next)
{
    return prev != NULL && strcmp(prev, next) == 0;
}

int machine_pages_fetch(struct ctl *ctl, Enjoliver__V1__ListMachinesRequest *req,
                        struct machine_pages *out)
{
    struct rpc_status st = {0};
    ProtobufCMessage *resp;
    const char *token = NULL;

    memset(out, 0, sizeof *out);
    do {
        Enjoliver__V1__ListMachinesResponse *page;

        req->page_token = (char *)(token != NULL ? token : "");
        if (rpc_unary(ctl->conn, LIST_PATH, &req->base,
                      &enjoliver__v1__list_machines_response__descriptor, &resp, &st) < 0) {
            ctl_rpc_error(&st, "list machines");
            rpc_status_clear(&st);
            machine_pages_free(out);
            return EXIT_FAIL;
        }
        page = (Enjoliver__V1__ListMachinesResponse *)resp;
        if (add_page(out, page) < 0) {
            protobuf_c_message_free_unpacked(resp, NULL);
            machine_pages_free(out);
            return ctl_error("out of memory");
        }
        if (same_token(token, page->next_page_token)) {
            machine_pages_free(out);
            return ctl_error("list machines: the server gave the same page token twice");
        }
        token = page->next_page_token;
    } while (token[0] != '\0');
    rpc_status_clear(&st);
    return EXIT_OK;
}

static void request_from(const struct get_args *a, Enjoliver__V1__ListMachinesRequest *req)
{
    enjoliver__v1__list_machines_request__init(req);
    req->role = a->role;
    req->unscheduled = a->unscheduled;
    if (a->state != NULL)
        req->state = (char *)a->state;
}

/* m takes each machine of every page in turn. */
#define FOREACH_MACHINE(p, m)                                                                      \
    for (size_t pi_ = 0; pi_ < (p)->n; pi_++)                                                      \
        for (size_t mi_ = 0;                                                                       \
             mi_ < (p)->pages[pi_]->n_machines && ((m) = (p)->pages[pi_]->machines[mi_], 1);       \
             mi_++)

static int machines_table(const struct machine_pages *p)
{
    static const char *const head[] = {"UUID",  "BOOT MAC", "IPV4", "ROLES",
                                       "STATE", "ROLLING",  "SLOT"};
    struct table *t = table_new(7, head);
    const Enjoliver__V1__Machine *m;
    char roles[128], slot[32];
    int rc = 0;

    if (t == NULL)
        return ctl_error("out of memory");
    FOREACH_MACHINE(p, m)
    {
        const char *row[] = {m->uuid,
                             m->boot_mac,
                             machine_ipv4(m),
                             machine_roles(m, roles, sizeof roles),
                             machine_state(m),
                             machine_rolling(m),
                             machine_slot(m, slot, sizeof slot)};
        if (rc == 0)
            rc = table_add(t, row);
    }
    if (rc == 0)
        table_print(t, stdout);
    table_free(t);
    return rc == 0 ? EXIT_OK : ctl_error("out of memory");
}

/* {"<key>": [items...], "revision": R}, items made by fn from each machine. */
static json_t *machines_document(const struct machine_pages *p, const char *key,
                                 json_t *(*fn)(const Enjoliver__V1__Machine *))
{
    json_t *arr = json_array();
    const Enjoliver__V1__Machine *m;

    FOREACH_MACHINE(p, m)
    {
        if (arr != NULL && json_array_append_new(arr, fn(m)) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    if (arr == NULL)
        return NULL;
    return json_pack("{s:o, s:I}", key, arr, "revision", (json_int_t)p->revision);
}

static json_t *machine_json(const Enjoliver__V1__Machine *m)
{
    return pbjson_message(&m->base);
}

static json_t *rolling_json(const Enjoliver__V1__Machine *m)
{
    int on = m->rolling != NULL && m->rolling->enabled;
    const char *strategy = m->rolling != NULL ? m->rolling->strategy : "";

    return json_pack("{s:s, s:b, s:s}", "mac", m->boot_mac, "enabled", on, "strategy", strategy);
}

static int rolling_table(const struct machine_pages *p)
{
    static const char *const head[] = {"MAC", "ENABLED", "STRATEGY"};
    struct table *t = table_new(3, head);
    const Enjoliver__V1__Machine *m;
    int rc = 0;

    if (t == NULL)
        return ctl_error("out of memory");
    FOREACH_MACHINE(p, m)
    {
        int on = m->rolling != NULL && m->rolling->enabled;
        const char *row[] = {m->boot_mac, on ? "true" : "false",
                             m->rolling != NULL ? m->rolling->strategy : ""};
        if (rc == 0)
            rc = table_add(t, row);
    }
    if (rc == 0)
        table_print(t, stdout);
    table_free(t);
    return rc == 0 ? EXIT_OK : ctl_error("out of memory");
}

static int list_and_show(struct ctl *ctl, const struct get_args *a, int rolling)
{
    Enjoliver__V1__ListMachinesRequest req;
    struct machine_pages p;
    int rc;

    request_from(a, &req);
    if ((rc = machine_pages_fetch(ctl, &req, &p)) != EXIT_OK)
        return rc;
    if (ctl->out != OUT_TABLE)
        rc = ctl_emit(ctl, rolling ? machines_document(&p, "rolling", rolling_json)
                                   : machines_document(&p, "machines", machine_json));
    else
        rc = rolling ? rolling_table(&p) : machines_table(&p);
    machine_pages_free(&p);
    return rc;
}

int get_machines(struct ctl *ctl, const struct get_args *a)
{
    return list_and_show(ctl, a, 0);
}

int get_rolling(struct ctl *ctl, const struct get_args *a)
{
    return list_and_show(ctl, a, 1);
}

/* ---- get machine ------------------------------------------------------- */

static void field(const char *label, const char *value)
{
    printf("%-10s %s\n", label, value != NULL && value[0] != '\0' ? value : "-");
}

static void print_interfaces(const Enjoliver__V1__Machine *m)
{
    static const char *const head[] = {"NAME",    "MAC",  "IPV4", "CIDR",
                                       "GATEWAY", "FQDN", "BOOT", "LLDP"};
    struct table *t = table_new(8, head);
    char lldp[256];

    if (t == NULL)
        return;
    for (size_t i = 0; i < m->n_interfaces; i++) {
        const Enjoliver__V1__Interface *f = m->interfaces[i];
        const char *row[] = {
            f->name, f->mac, f->ipv4, f->cidrv4, f->gateway, f->fqdn, f->as_boot ? "yes" : "no",
            lldp};

        lldp[0] = '\0';
        if (f->lldp != NULL)
            snprintf(lldp, sizeof lldp, "%s %s port %s", f->lldp->chassis_name, f->lldp->chassis_id,
                     f->lldp->port_id);
        table_add(t, row);
    }
    printf("Interfaces:\n");
    table_print_indent(t, stdout, 2);
    table_free(t);
}

static void print_disks(const Enjoliver__V1__Machine *m)
{
    static const char *const head[] = {"PATH", "SIZE"};
    struct table *t = table_new(2, head);
    char size[32];

    if (t == NULL)
        return;
    for (size_t i = 0; i < m->n_disks; i++) {
        const char *row[] = {m->disks[i]->path,
                             human_bytes(m->disks[i]->size_bytes, size, sizeof size)};
        table_add(t, row);
    }
    printf("Disks:\n");
    table_print_indent(t, stdout, 2);
    table_free(t);
}

static const char *ignition_text(const Enjoliver__V1__IgnitionStatus *ig, char *buf, size_t len)
{
    char when[32];

    if (ig == NULL || !ig->reported)
        return "never reported";
    snprintf(buf, len, "%s (reported %s)", ig->up_to_date ? "up to date" : "outdated",
             out_time(ig->reported_unix_ms, when, sizeof when));
    return buf;
}

static const char *slot_text(const Enjoliver__V1__Slot *s, char *buf, size_t len)
{
    char when[32];

    if (s == NULL)
        return "none";
    snprintf(buf, len, "token %lld, granted %s by %s", (long long)s->token,
             out_time(s->granted_unix_ms, when, sizeof when),
             s->granted_by[0] ? s->granted_by : "-");
    return buf;
}

static void machine_details(const Enjoliver__V1__Machine *m)
{
    char buf[256], t1[32], roles[128];

    field("UUID:", m->uuid);
    field("Boot MAC:", m->boot_mac);
    field("Boot ID:", m->boot_id);
    field("Created:", out_time(m->created_unix_ms, t1, sizeof t1));
    field("Updated:", out_time(m->updated_unix_ms, t1, sizeof t1));
    if (m->state != NULL)
        snprintf(buf, sizeof buf, "%s (since %s)", m->state->state,
                 out_time(m->state->updated_unix_ms, t1, sizeof t1));
    field("State:", m->state != NULL ? buf : "");
    field("Roles:", machine_roles(m, roles, sizeof roles));
    if (m->rolling != NULL && m->rolling->enabled)
        snprintf(buf, sizeof buf, "enabled, strategy %s", m->rolling->strategy);
    field("Rolling:", m->rolling != NULL && m->rolling->enabled ? buf : "disabled");
    field("Ignition:", ignition_text(m->ignition, buf, sizeof buf));
    field("Slot:", slot_text(m->slot, buf, sizeof buf));
    snprintf(buf, sizeof buf, "%lld", (long long)m->revision);
    field("Revision:", buf);
    print_interfaces(m);
    print_disks(m);
}

int get_machine(struct ctl *ctl, const char *id)
{
    Enjoliver__V1__GetMachineRequest req = ENJOLIVER__V1__GET_MACHINE_REQUEST__INIT;
    struct rpc_status st = {0};
    ProtobufCMessage *resp;
    int rc = EXIT_OK;

    if (id_is_mac(id)) {
        req.key_case = ENJOLIVER__V1__GET_MACHINE_REQUEST__KEY_MAC;
        req.mac = (char *)id;
    } else {
        req.key_case = ENJOLIVER__V1__GET_MACHINE_REQUEST__KEY_UUID;
        req.uuid = (char *)id;
    }
    if (rpc_unary(ctl->conn, GET_PATH, &req.base, &enjoliver__v1__machine__descriptor, &resp, &st) <
        0) {
        rc = ctl_rpc_error(&st, "get machine %s", id);
        rpc_status_clear(&st);
        return rc;
    }
    rpc_status_clear(&st);
    if (ctl->out != OUT_TABLE)
        rc = ctl_emit(ctl, pbjson_message(resp));
    else
        machine_details((const Enjoliver__V1__Machine *)resp);
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}

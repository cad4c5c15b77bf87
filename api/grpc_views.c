/* Messages of the gRPC API from the cache. See grpc_views.h. */
#include "api/grpc_views.h"

#include <stdlib.h>
#include <string.h>

#include "model/clock.h"
#include "model/keys.h"
#include "model/machine_ops.h"
#include "model/rollout_ops.h"
#include "model/validate.h"

void *gv_alloc(gv_arena_t *a, size_t size)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        void **b = realloc(a->blocks, cap * sizeof(*b));
        if (!b) {
            a->failed = 1;
            return NULL;
        }
        a->blocks = b;
        a->cap = cap;
    }
    void *p = calloc(1, size);
    if (!p) {
        a->failed = 1;
        return NULL;
    }
    a->blocks[a->n++] = p;
    return p;
}

void gv_arena_free(gv_arena_t *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->blocks[i]);
    free(a->blocks);
    memset(a, 0, sizeof(*a));
}

char *gv_str(json_t *s)
{
    const char *v = json_string_value(s);
    return (char *)(v ? v : "");
}

int64_t gv_date_ms(json_t *date)
{
    int64_t ms = 0;
    const char *s = json_string_value(date);
    if (!s || model_rfc3339_parse(s, &ms) != 0)
        return 0;
    return ms;
}

int64_t gv_revision(api_t *api, const char *kind, const char *id, int64_t *create_rev)
{
    char key[MODEL_KEY_MAX];
    const char *v;
    size_t len;
    int64_t mod = 0, created = 0;
    if (model_key(key, sizeof key, api->store.prefix, kind, id) < 0 ||
        !api_cache_peek(&api->cache, key, &v, &len, &mod, &created))
        mod = created = 0;
    if (create_rev)
        *create_rev = created;
    return mod;
}

unsigned gv_role_bit(Enjoliver__V1__Role r)
{
    switch (r) {
    case ENJOLIVER__V1__ROLE__ETCD_MEMBER:
        return MODEL_ROLE_ETCD_MEMBER;
    case ENJOLIVER__V1__ROLE__KUBERNETES_CONTROL_PLANE:
        return MODEL_ROLE_KUBERNETES_CONTROL_PLANE;
    case ENJOLIVER__V1__ROLE__KUBERNETES_NODE:
        return MODEL_ROLE_KUBERNETES_NODE;
    default:
        return 0;
    }
}

void gv_roles(gv_arena_t *a, unsigned bits, Enjoliver__V1__Role **roles, size_t *n)
{
    static const Enjoliver__V1__Role all[] = {ENJOLIVER__V1__ROLE__ETCD_MEMBER,
                                              ENJOLIVER__V1__ROLE__KUBERNETES_CONTROL_PLANE,
                                              ENJOLIVER__V1__ROLE__KUBERNETES_NODE};
    *n = 0;
    *roles = bits ? gv_alloc(a, sizeof all) : NULL;
    for (size_t i = 0; *roles && i < sizeof all / sizeof *all; i++)
        if (bits & gv_role_bit(all[i]))
            (*roles)[(*n)++] = all[i];
}

json_t *gv_machine_by_mac(api_t *api, const char *mac)
{
    json_t *idx = api_cache_get(&api->cache, MODEL_K_MACS, mac);
    const char *uuid = json_string_value(json_object_get(idx, "uuid"));
    return uuid ? api_cache_get(&api->cache, MODEL_K_MACHINES, uuid) : NULL;
}

unsigned gv_roles_of(api_t *api, const char *boot_mac)
{
    json_t *rec = api_cache_get(&api->cache, MODEL_K_SCHEDULES, boot_mac);
    unsigned bits = 0;
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(rec, "roles"), i, r)
    {
        model_role_t role;
        model_err_t err;
        const char *name = json_string_value(r);
        if (name && model_role_parse(name, &role, "roles", &err) == 0)
            bits |= role;
    }
    return bits;
}

static Enjoliver__V1__Interface *iface(json_t *it, gv_arena_t *a)
{
    Enjoliver__V1__Interface *o = gv_alloc(a, sizeof(*o));
    if (!o)
        return NULL;
    enjoliver__v1__interface__init(o);
    o->name = gv_str(json_object_get(it, "name"));
    o->mac = gv_str(json_object_get(it, "mac"));
    o->ipv4 = gv_str(json_object_get(it, "ipv4"));
    o->cidrv4 = gv_str(json_object_get(it, "cidrv4"));
    o->netmask = (uint32_t)json_integer_value(json_object_get(it, "netmask"));
    o->gateway = gv_str(json_object_get(it, "gateway"));
    o->fqdn = gv_str(json_object_get(it, "fqdn"));
    o->as_boot = json_is_true(json_object_get(it, "as_boot"));
    o->ipv6 = gv_str(json_object_get(it, "ipv6"));
    o->cidrv6 = gv_str(json_object_get(it, "cidrv6"));
    json_t *l = json_object_get(it, "lldp");
    const char *chassis = json_string_value(json_object_get(l, "chassis_id"));
    if (chassis && *chassis && (o->lldp = gv_alloc(a, sizeof(*o->lldp)))) {
        enjoliver__v1__lldp__init(o->lldp);
        o->lldp->chassis_id = (char *)chassis;
        o->lldp->chassis_name = gv_str(json_object_get(l, "chassis_name"));
        o->lldp->port_id = gv_str(json_object_get(l, "port_id"));
    }
    return o;
}

static void interfaces_and_disks(Enjoliver__V1__Machine *m, json_t *rec, gv_arena_t *a)
{
    json_t *ifs = json_object_get(rec, "interfaces"), *disks = json_object_get(rec, "disks");
    size_t i;
    json_t *v;
    m->interfaces = gv_alloc(a, (json_array_size(ifs) + 1) * sizeof(*m->interfaces));
    json_array_foreach(ifs, i, v)
    {
        if (m->interfaces && (m->interfaces[m->n_interfaces] = iface(v, a)))
            m->n_interfaces++;
    }
    m->disks = gv_alloc(a, (json_array_size(disks) + 1) * sizeof(*m->disks));
    json_array_foreach(disks, i, v)
    {
        Enjoliver__V1__Disk *d = m->disks ? gv_alloc(a, sizeof(*d)) : NULL;
        if (!d)
            continue;
        enjoliver__v1__disk__init(d);
        d->path = gv_str(json_object_get(v, "path"));
        d->size_bytes = (uint64_t)json_integer_value(json_object_get(v, "size_bytes"));
        m->disks[m->n_disks++] = d;
    }
}

/* What the keys by boot MAC say: state, rolling, ignition, slot. */
static void by_boot_mac(api_t *api, Enjoliver__V1__Machine *m, gv_arena_t *a)
{
    const char *mac = m->boot_mac;
    gv_roles(a, gv_roles_of(api, mac), &m->roles, &m->n_roles);
    json_t *st = api_cache_get(&api->cache, MODEL_K_STATES, mac);
    if (st && (m->state = gv_alloc(a, sizeof(*m->state)))) {
        enjoliver__v1__machine_state__init(m->state);
        m->state->state = gv_str(json_object_get(st, "state"));
        m->state->updated_unix_ms = gv_date_ms(json_object_get(st, "updated"));
    }
    json_t *ro = api_cache_get(&api->cache, MODEL_K_LC_ROLLING, mac);
    if ((m->rolling = gv_alloc(a, sizeof(*m->rolling)))) {
        enjoliver__v1__rolling__init(m->rolling);
        m->rolling->enabled = json_is_true(json_object_get(ro, "enable"));
        m->rolling->strategy = gv_str(json_object_get(ro, "strategy"));
    }
    json_t *ig = api_cache_get(&api->cache, MODEL_K_LC_IGNITION, mac);
    if ((m->ignition = gv_alloc(a, sizeof(*m->ignition)))) {
        enjoliver__v1__ignition_status__init(m->ignition);
        m->ignition->reported = ig != NULL;
        m->ignition->up_to_date = json_is_true(json_object_get(ig, "up_to_date"));
        m->ignition->reported_unix_ms = gv_date_ms(json_object_get(ig, "updated"));
    }
    json_t *pr = api_cache_get(&api->cache, MODEL_K_RO_PROGRESS, mac);
    if (pr && (m->progress = gv_alloc(a, sizeof(*m->progress)))) {
        enjoliver__v1__rollout_progress__init(m->progress);
        m->progress->step = gv_str(json_object_get(pr, "step"));
        m->progress->token = json_integer_value(json_object_get(pr, "token"));
        m->progress->boot_id = gv_str(json_object_get(pr, "boot_id"));
        m->progress->failed_step = gv_str(json_object_get(pr, "failed_step"));
        m->progress->updated_unix_ms = gv_date_ms(json_object_get(pr, "updated"));
    }
    json_t *slot = api_cache_get(&api->cache, MODEL_K_RO_SLOTS, mac);
    int64_t rev = slot ? gv_revision(api, MODEL_K_RO_SLOTS, mac, NULL) : 0;
    if (rev && (m->slot = gv_alloc(a, sizeof(*m->slot)))) {
        enjoliver__v1__slot__init(m->slot);
        m->slot->mac = m->boot_mac;
        m->slot->token = rev;
        m->slot->granted_unix_ms = gv_date_ms(json_object_get(slot, "granted"));
        m->slot->granted_by = gv_str(json_object_get(slot, "by"));
    }
}

Enjoliver__V1__Machine *gv_machine(api_t *api, json_t *rec, gv_arena_t *a)
{
    Enjoliver__V1__Machine *m = gv_alloc(a, sizeof(*m));
    if (!m)
        return NULL;
    enjoliver__v1__machine__init(m);
    m->uuid = gv_str(json_object_get(rec, "uuid"));
    m->boot_mac = gv_str(json_object_get(rec, "boot_mac"));
    m->boot_id = gv_str(json_object_get(rec, "boot_id"));
    m->created_unix_ms = gv_date_ms(json_object_get(rec, "created"));
    m->updated_unix_ms = gv_date_ms(json_object_get(rec, "updated"));
    interfaces_and_disks(m, rec, a);
    by_boot_mac(api, m, a);
    m->revision = gv_revision(api, MODEL_K_MACHINES, m->uuid, NULL);
    return m;
}

Enjoliver__V1__Event *gv_event(json_t *rec, int64_t revision, gv_arena_t *a)
{
    Enjoliver__V1__Event *e = gv_alloc(a, sizeof(*e));
    if (!e)
        return NULL;
    enjoliver__v1__event__init(e);
    e->kind = gv_str(json_object_get(rec, "kind"));
    e->machine = gv_str(json_object_get(rec, "machine"));
    e->message = gv_str(json_object_get(rec, "message"));
    e->replica = gv_str(json_object_get(rec, "replica"));
    e->unix_ms = gv_date_ms(json_object_get(rec, "ts"));
    e->revision = revision;
    return e;
}

/* ---- packed machines ---------------------------------------------------------- */

#define PACKED_BUCKETS 4096u

struct gv_packed_s {
    struct gv_packed_s *next;
    char uuid[MODEL_UUID_LEN + 1];
    size_t len;
    uint8_t bytes[]; /* the packed Machine */
};

static unsigned bucket_of(const char *uuid)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (; *uuid; uuid++)
        h = (h ^ (unsigned char)*uuid) * 16777619u;
    return h % PACKED_BUCKETS;
}

const uint8_t *gv_machine_packed(api_t *api, json_t *rec, size_t *len)
{
    const char *uuid = json_string_value(json_object_get(rec, "uuid"));
    if (!uuid || strlen(uuid) > MODEL_UUID_LEN)
        return NULL;
    if (!api->packed && !(api->packed = calloc(PACKED_BUCKETS, sizeof(*api->packed))))
        return NULL;
    unsigned b = bucket_of(uuid);
    for (gv_packed_t *p = api->packed[b]; p; p = p->next)
        if (strcmp(p->uuid, uuid) == 0) {
            *len = p->len;
            return p->bytes;
        }
    gv_arena_t a = {0};
    Enjoliver__V1__Machine *m = gv_machine(api, rec, &a);
    size_t n = m && !a.failed ? protobuf_c_message_get_packed_size(&m->base) : 0;
    gv_packed_t *p = m && !a.failed ? malloc(sizeof(*p) + n) : NULL;
    if (p) {
        protobuf_c_message_pack(&m->base, p->bytes);
        p->len = n;
        snprintf(p->uuid, sizeof p->uuid, "%s", uuid);
        p->next = api->packed[b];
        api->packed[b] = p;
        *len = n;
    }
    gv_arena_free(&a);
    return p ? p->bytes : NULL;
}

void gv_machine_forget(api_t *api, const char *uuid)
{
    if (!api->packed)
        return;
    for (gv_packed_t **pp = &api->packed[bucket_of(uuid)]; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->uuid, uuid) == 0) {
            gv_packed_t *p = *pp;
            *pp = p->next;
            free(p);
            return;
        }
}

void gv_packed_free(api_t *api)
{
    for (unsigned i = 0; api->packed && i < PACKED_BUCKETS; i++)
        while (api->packed[i]) {
            gv_packed_t *p = api->packed[i];
            api->packed[i] = p->next;
            free(p);
        }
    free(api->packed);
    api->packed = NULL;
}

/* ---- wire encoding -------------------------------------------------------------- */

static void put_raw(gv_buf_t *b, const void *data, size_t len)
{
    if (b->failed)
        return;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len)
            cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d) {
            b->failed = 1;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static void put_uvarint(gv_buf_t *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    put_raw(b, tmp, n);
}

void gv_put_bytes(gv_buf_t *b, unsigned field, const void *data, size_t len)
{
    put_uvarint(b, (uint64_t)field << 3 | 2);
    put_uvarint(b, len);
    put_raw(b, data, len);
}

void gv_put_varint(gv_buf_t *b, unsigned field, uint64_t v)
{
    if (!v)
        return; /* proto3: a zero is not written */
    put_uvarint(b, (uint64_t)field << 3 | 0);
    put_uvarint(b, v);
}

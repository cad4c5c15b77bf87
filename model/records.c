/* Stored records read as JSON. See records.h. */
#include "model/records.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "model/clock.h"
#include "model/validate.h"

json_t *model_rec_boot_iface(json_t *machine)
{
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(machine, "interfaces"), i, it)
    {
        if (json_is_true(json_object_get(it, "as_boot")))
            return it;
    }
    return NULL;
}

/* Copies the string field `name` of obj into out (size bytes): 0, or
 * -EINVAL when it does not fit or is not a string (absent or null: ""). */
static int copy_field(json_t *obj, const char *name, char *out, size_t size)
{
    json_t *v = json_object_get(obj, name);
    out[0] = '\0';
    if (!v || json_is_null(v))
        return 0;
    const char *s = json_string_value(v);
    if (!s || strlen(s) >= size)
        return -EINVAL;
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

int model_rec_sync_facts(json_t *machine, model_sync_facts_t *out)
{
    memset(out, 0, sizeof(*out));
    if (copy_field(machine, "uuid", out->uuid, sizeof out->uuid) || !out->uuid[0])
        return -EINVAL;
    json_t *b = model_rec_boot_iface(machine);
    if (b) {
        model_sync_nic_t *n = &out->boot;
        out->has_boot = true;
        if (copy_field(b, "name", n->name, sizeof n->name) ||
            copy_field(b, "mac", n->mac, sizeof n->mac) ||
            copy_field(b, "ipv4", n->ipv4, sizeof n->ipv4) ||
            copy_field(b, "cidrv4", n->cidrv4, sizeof n->cidrv4) ||
            copy_field(b, "gateway", n->gateway, sizeof n->gateway) ||
            copy_field(b, "fqdn", n->fqdn, sizeof n->fqdn))
            return -EINVAL;
    }
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(machine, "disks"), i, d)
    {
        json_int_t size = json_integer_value(json_object_get(d, "size_bytes"));
        if (size < 0)
            return -EINVAL;
        out->n_disks++;
        out->disk_gib += (uint64_t)size >> 30;
    }
    return 0;
}

unsigned model_rec_roles(json_t *schedule)
{
    unsigned set = 0;
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(schedule, "roles"), i, r)
    {
        model_role_t bit;
        if (model_role_parse(json_string_value(r), &bit, NULL, NULL) == 0)
            set |= bit;
    }
    return set;
}

json_t *model_rec_date_1123(json_t *rfc3339)
{
    int64_t ms;
    char out[MODEL_DATE_MAX];
    const char *s = json_string_value(rfc3339);
    if (!s || model_rfc3339_parse(s, &ms) != 0)
        return json_null();
    return json_string(model_rfc1123(ms, out));
}

int model_rec_digest(json_t *doc, char out[MODEL_DIGEST_LEN + 1])
{
    if (!doc)
        return -EINVAL;
    char *text = json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return -ENOMEM;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    int ok = EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL);
    free(text);
    if (!ok || n * 2 != MODEL_DIGEST_LEN)
        return -EIO;
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[MODEL_DIGEST_LEN] = '\0';
    return 0;
}

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

/* Fuzz target: every validator of model/validate.h on the same input, with
 * round-trip and differential checks (glibc's inet_pton for addresses). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>

#include "fuzz.h"
#include "model/validate.h"

#define W "fuzz.where"

/* A failed validation: -EINVAL and a safe message that starts with W. */
static void check_err(int rc, const model_err_t *err)
{
    FUZZ_CHECK(rc == -EINVAL);
    fuzz_check_msg(err->msg, sizeof(err->msg));
    FUZZ_CHECK(strncmp(err->msg, W ": ", strlen(W ": ")) == 0);
}

static void check_hexform(const char *in, const char *out, size_t len, char sep)
{
    FUZZ_CHECK(strlen(in) == len && strlen(out) == len);
    for (size_t i = 0; i < len; i++) {
        if (out[i] == sep)
            continue;
        FUZZ_CHECK(strchr("0123456789abcdef", out[i]) != NULL && out[i] != '\0');
        FUZZ_CHECK(tolower((unsigned char)in[i]) == out[i]);
    }
}

static void fuzz_mac_uuid(const char *s)
{
    model_err_t err = {{0}};
    char mac[MODEL_MAC_LEN + 1], again[MODEL_MAC_LEN + 1];
    int rc = model_mac_parse(s, mac, W, &err);
    if (rc == 0) {
        check_hexform(s, mac, MODEL_MAC_LEN, ':');
        FUZZ_CHECK(model_mac_parse(mac, again, W, &err) == 0 && strcmp(mac, again) == 0);
    } else {
        check_err(rc, &err);
    }
    char uuid[MODEL_UUID_LEN + 1];
    rc = model_uuid_parse(s, uuid, W, &err);
    if (rc == 0)
        check_hexform(s, uuid, MODEL_UUID_LEN, '-');
    else
        check_err(rc, &err);
}

static void fuzz_addresses(const char *s)
{
    model_err_t err = {{0}};
    uint32_t a = 0;
    struct in_addr ref;
    int rc = model_ipv4_parse(s, &a, W, &err);
    /* glibc's inet_pton(AF_INET) is strict the same way (no leading zeros). */
    int ref_ok = inet_pton(AF_INET, s, &ref) == 1;
    FUZZ_CHECK((rc == 0) == ref_ok);
    char back[16];
    if (rc == 0) {
        FUZZ_CHECK(a == ntohl(ref.s_addr));
        FUZZ_CHECK(strcmp(model_ipv4_format(a, back), s) == 0);
    } else {
        check_err(rc, &err);
    }
    unsigned plen = 99;
    rc = model_cidrv4_parse(s, &a, &plen, W, &err);
    if (rc == 0) {
        char cidr[24];
        snprintf(cidr, sizeof(cidr), "%s/%u", model_ipv4_format(a, back), plen);
        FUZZ_CHECK(plen <= 32 && strcmp(cidr, s) == 0);
    } else {
        check_err(rc, &err);
    }
    uint8_t v6[16], ref6[16];
    rc = model_ipv6_parse(s, v6, W, &err);
    FUZZ_CHECK((rc == 0) == (inet_pton(AF_INET6, s, ref6) == 1));
    if (rc == 0)
        FUZZ_CHECK(memcmp(v6, ref6, 16) == 0);
    else
        check_err(rc, &err);
}

static void fuzz_names(const char *s)
{
    model_err_t err = {{0}};
    model_role_t role;
    int rc = model_role_parse(s, &role, W, &err);
    if (rc == 0)
        FUZZ_CHECK(strcmp(model_role_name(role), s) == 0);
    else
        check_err(rc, &err);
    unsigned set = 0;
    rc = model_roles_parse_joined(s, &set, W, &err);
    if (rc == 0)
        FUZZ_CHECK(set >= 1 && set <= MODEL_ROLE_ALL);
    else
        check_err(rc, &err);
    model_strategy_t st;
    rc = model_strategy_parse(s, &st, W, &err);
    if (rc == 0)
        FUZZ_CHECK(strcmp(model_strategy_name(st), s) == 0);
    else
        check_err(rc, &err);
    model_state_t state;
    rc = model_state_parse(s, &state, W, &err);
    if (rc == 0)
        FUZZ_CHECK(strcmp(model_state_name(state), s) == 0);
    else
        check_err(rc, &err);
}

static void fuzz_host_things(const char *s)
{
    model_err_t err = {{0}};
    int rc = model_ifname_check(s, W, &err);
    if (rc == 0)
        FUZZ_CHECK(strlen(s) >= 1 && strlen(s) <= 15 && strchr(s, '/') == NULL);
    else
        check_err(rc, &err);
    char fqdn[254], again[254];
    rc = model_fqdn_parse(s, fqdn, sizeof(fqdn), W, &err);
    if (rc == 0) {
        size_t len = strlen(fqdn);
        FUZZ_CHECK(len >= 1 && len <= 253 && (strlen(s) == len || strlen(s) == len + 1));
        for (size_t i = 0; i < len; i++)
            FUZZ_CHECK(fqdn[i] == tolower((unsigned char)s[i]));
        FUZZ_CHECK(model_fqdn_parse(fqdn, again, sizeof(again), W, &err) == 0);
        FUZZ_CHECK(strcmp(fqdn, again) == 0);
    } else {
        check_err(rc, &err);
    }
    rc = model_disk_path_check(s, W, &err);
    if (rc == 0)
        FUZZ_CHECK(strncmp(s, "/dev/", 5) == 0 && strlen(s) <= 255);
    else
        check_err(rc, &err);
}

static int unhex(char c)
{
    return c <= '9' ? c - '0' : c - 'a' + 10;
}

/* Quoting at every small size stays inside the buffer; when nothing is
 * cut, unescaping gives the input back. */
static void fuzz_quote(const uint8_t *data, size_t size)
{
    char out[160];
    for (size_t cap = 8; cap <= sizeof(out); cap += 19) {
        memset(out, 'Z', sizeof(out));
        model_quote((const char *)data, size, out, cap);
        size_t len = strnlen(out, cap);
        FUZZ_CHECK(len < cap && len >= 2 && out[0] == '"' && out[len - 1] == '"');
        fuzz_check_msg(out, cap);
        FUZZ_CHECK(cap == sizeof(out) || out[cap] == 'Z');
        if (strstr(out, "...") != NULL)
            continue;
        size_t n = 0;
        for (size_t i = 1; i + 1 < len; i++, n++) {
            char c = out[i];
            if (c == '\\') {
                c = (char)(unhex(out[i + 2]) << 4 | unhex(out[i + 3]));
                i += 3;
            }
            FUZZ_CHECK(n < size && c == (char)data[n]);
        }
        FUZZ_CHECK(n == size);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size); /* stops at the first NUL, as C callers do */
    fuzz_mac_uuid(s);
    fuzz_addresses(s);
    fuzz_names(s);
    fuzz_host_things(s);
    fuzz_quote(data, size);
    model_err_t err;
    model_err_set(&err, s, "%s", s); /* a raw where-path and text stay printable */
    fuzz_check_msg(err.msg, sizeof(err.msg));
    free(s);
    return 0;
}

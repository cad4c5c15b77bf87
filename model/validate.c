/* Validation of outside values: see validate.h for the contract. */
#include "model/validate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Quoted values keep at most this many bytes of escaped text, so that a
 * message with a where-path and a hint still fits MODEL_ERR_MAX. */
#define QUOTE_KEEP 64

/* Room for one quoted value in a message. */
#define QUOTE_BUF (QUOTE_KEEP + 40)

int model_err_set(model_err_t *err, const char *where, const char *fmt, ...)
{
    if (err == NULL)
        return -EINVAL;
    size_t off = 0;
    if (where != NULL && where[0] != '\0') {
        int n = snprintf(err->msg, sizeof(err->msg), "%s: ", where);
        off = n < 0 ? 0 : (size_t)n;
        if (off >= sizeof(err->msg))
            off = sizeof(err->msg) - 1;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg + off, sizeof(err->msg) - off, fmt, ap);
    va_end(ap);
    /* `where` may carry a key from the input and callers may format raw
     * text: whatever happened, the message stays printable ASCII, so it is
     * safe in a log line and encodable as a JSON string. */
    for (char *p = err->msg; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c > 0x7e)
            *p = '?';
    }
    return -EINVAL;
}

static bool quote_plain(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* Bytes of escaped text for c. */
static size_t quote_width(unsigned char c)
{
    return quote_plain(c) ? 1 : 4;
}

/* Escapes in[0..n) into out (which has room); returns bytes written. */
static size_t quote_escape(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (quote_plain(in[i])) {
            out[o++] = (char)in[i];
            continue;
        }
        out[o++] = '\\';
        out[o++] = 'x';
        out[o++] = hex[in[i] >> 4];
        out[o++] = hex[in[i] & 0xf];
    }
    return o;
}

/* How many input bytes fit in `room` bytes of escaped text. */
static size_t quote_fit(const unsigned char *in, size_t len, size_t room)
{
    size_t used = 0, i = 0;
    for (; i < len; i++) {
        size_t w = quote_width(in[i]);
        if (used + w > room)
            break;
        used += w;
    }
    return i;
}

char *model_quote(const char *in, size_t len, char *out, size_t out_size)
{
    if (out_size < 3) { /* below the documented minimum: at least terminate */
        if (out_size > 0)
            out[0] = '\0';
        return out;
    }
    const unsigned char *u = (const unsigned char *)(in != NULL ? in : "");
    if (in == NULL)
        len = 0;
    size_t room = out_size - 3; /* two quotes and the NUL */
    if (room > QUOTE_KEEP)
        room = QUOTE_KEEP;
    size_t n = quote_fit(u, len, room);
    char suffix[40] = "";
    if (n < len) {
        /* Cut: say how long the value was, and keep room for saying it. */
        snprintf(suffix, sizeof(suffix), "...(%zu bytes)", len);
        if (strlen(suffix) + 3 > out_size)
            snprintf(suffix, sizeof(suffix), "...");
        if (strlen(suffix) + 3 > out_size) /* below the documented minimum */
            suffix[0] = '\0';
        size_t avail = out_size - 3 - strlen(suffix);
        n = quote_fit(u, len, avail < room ? avail : room);
    }
    size_t o = 0;
    out[o++] = '"';
    o += quote_escape(u, n, out + o);
    memcpy(out + o, suffix, strlen(suffix));
    o += strlen(suffix);
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

/* Quotes a NUL-terminated value (NULL quotes as ""). */
static const char *quote_str(const char *in, char out[QUOTE_BUF])
{
    return model_quote(in, in != NULL ? strlen(in) : 0, out, QUOTE_BUF);
}

int model_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool is_hex(char c)
{
    return model_hex_value(c) >= 0;
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Checks that `in` is `len` hex digits and `sep` at the offsets listed in
 * seps (ascending, -1 terminated). */
static bool hex_shape(const char *in, size_t len, char sep, const int *seps)
{
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '\0')
            return false;
        if (*seps >= 0 && (size_t)*seps == i) {
            if (in[i] != sep)
                return false;
            seps++;
        } else if (!is_hex(in[i])) {
            return false;
        }
    }
    return in[len] == '\0';
}

static void lower_copy(const char *in, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++)
        out[i] = lower(in[i]);
    out[len] = '\0';
}

int model_mac_parse(const char *in, char out[MODEL_MAC_LEN + 1], const char *where,
                    model_err_t *err)
{
    static const int seps[] = {2, 5, 8, 11, 14, -1};
    char sep = (in != NULL && in[0] != '\0' && in[1] != '\0') ? in[2] : ':';
    char q[QUOTE_BUF];
    /* The separator of the first group is the one for all: no mixing. */
    if (in == NULL || (sep != ':' && sep != '-') || !hex_shape(in, MODEL_MAC_LEN, sep, seps))
        return model_err_set(err, where, "%s is not a MAC address (want aa:bb:cc:dd:ee:ff)",
                             quote_str(in, q));
    lower_copy(in, MODEL_MAC_LEN, out);
    for (int i = 2; i < MODEL_MAC_LEN; i += 3)
        out[i] = ':';
    return 0;
}

int model_uuid_parse(const char *in, char out[MODEL_UUID_LEN + 1], const char *where,
                     model_err_t *err)
{
    static const int seps[] = {8, 13, 18, 23, -1};
    char q[QUOTE_BUF];
    if (in == NULL || !hex_shape(in, MODEL_UUID_LEN, '-', seps))
        return model_err_set(err, where,
                             "%s is not a UUID (want 8-4-4-4-12 hex digits, "
                             "e.g. b7f5f93a-b029-475f-b3a4-479ba198cb8a)",
                             quote_str(in, q));
    lower_copy(in, MODEL_UUID_LEN, out);
    return 0;
}

/* One decimal number 0..max without leading zeros; returns the end or NULL. */
static const char *scan_dec(const char *p, unsigned max, unsigned *out)
{
    if (*p < '0' || *p > '9')
        return NULL;
    if (*p == '0' && p[1] >= '0' && p[1] <= '9')
        return NULL; /* leading zero: "010" reads as octal in inet_aton */
    unsigned v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (unsigned)(*p - '0');
        if (v > max)
            return NULL;
    }
    *out = v;
    return p;
}

/* A dotted quad at p; returns the end or NULL. */
static const char *scan_ipv4(const char *p, uint32_t *addr)
{
    uint32_t a = 0;
    for (int i = 0; i < 4; i++) {
        unsigned part;
        if (i > 0 && *p++ != '.')
            return NULL;
        p = scan_dec(p, 255, &part);
        if (p == NULL)
            return NULL;
        a = (a << 8) | part;
    }
    *addr = a;
    return p;
}

int model_ipv4_parse(const char *in, uint32_t *out, const char *where, model_err_t *err)
{
    uint32_t a;
    const char *end = in != NULL ? scan_ipv4(in, &a) : NULL;
    char q[QUOTE_BUF];
    if (end == NULL || *end != '\0')
        return model_err_set(
            err, where,
            "%s is not an IPv4 address (want a.b.c.d, each 0..255 without leading zeros)",
            quote_str(in, q));
    if (out != NULL)
        *out = a;
    return 0;
}

int model_ipv6_parse(const char *in, uint8_t out[16], const char *where, model_err_t *err)
{
    uint8_t tmp[16];
    char q[QUOTE_BUF];
    if (in == NULL || inet_pton(AF_INET6, in, tmp) != 1)
        return model_err_set(err, where, "%s is not an IPv6 address (want e.g. fd00::1)",
                             quote_str(in, q));
    if (out != NULL)
        memcpy(out, tmp, sizeof(tmp));
    return 0;
}

int model_cidrv6_parse(const char *in, unsigned *prefix_len, const char *where, model_err_t *err)
{
    char addr[64], q[QUOTE_BUF];
    const char *slash = in ? strrchr(in, '/') : NULL;
    size_t n = slash ? (size_t)(slash - in) : 0;
    unsigned len = 0;
    const char *end = slash && n < sizeof addr ? scan_dec(slash + 1, 128, &len) : NULL;
    uint8_t tmp[16];
    if (end) {
        memcpy(addr, in, n);
        addr[n] = '\0';
    }
    if (!end || *end != '\0' || inet_pton(AF_INET6, addr, tmp) != 1)
        return model_err_set(err, where,
                             "%s is not an IPv6 address with its prefix (want e.g. "
                             "fd00::5/64)",
                             quote_str(in, q));
    if (prefix_len)
        *prefix_len = len;
    return 0;
}

int model_cidrv4_parse(const char *in, uint32_t *addr, unsigned *prefix_len, const char *where,
                       model_err_t *err)
{
    uint32_t a;
    unsigned n;
    const char *p = in != NULL ? scan_ipv4(in, &a) : NULL;
    if (p != NULL && *p == '/')
        p = scan_dec(p + 1, 32, &n);
    else
        p = NULL;
    char q[QUOTE_BUF];
    if (p == NULL || *p != '\0')
        return model_err_set(err, where, "%s is not an IPv4 CIDR (want a.b.c.d/n, n in 0..32)",
                             quote_str(in, q));
    if (addr != NULL)
        *addr = a;
    if (prefix_len != NULL)
        *prefix_len = n;
    return 0;
}

char *model_ipv4_format(uint32_t addr, char out[16])
{
    snprintf(out, 16, "%u.%u.%u.%u", (unsigned)(addr >> 24), (unsigned)(addr >> 16) & 0xff,
             (unsigned)(addr >> 8) & 0xff, (unsigned)addr & 0xff);
    return out;
}

/* Name tables; indexes are the enum values (for roles, the bit number). */
static const char *const role_names[] = {"etcd-member", "kubernetes-control-plane",
                                         "kubernetes-node"};
static const char *const strategy_names[] = {"kexec", "reboot", "poweroff"};
static const char *const state_names[] = {"booting",
                                          "discovery",
                                          "os_installation_granted",
                                          "os_installation_denied",
                                          "installation_succeed",
                                          "installation_failed"};

#define N_ITEMS(a) (sizeof(a) / sizeof((a)[0]))
#define ROLES_HINT "etcd-member, kubernetes-control-plane or kubernetes-node"

/* Index of the name in[0..len) in names, or -1. */
static int name_index(const char *in, size_t len, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(names[i]) == len && memcmp(in, names[i], len) == 0)
            return (int)i;
    }
    return -1;
}

int model_role_parse(const char *in, model_role_t *out, const char *where, model_err_t *err)
{
    int i = in != NULL ? name_index(in, strlen(in), role_names, N_ITEMS(role_names)) : -1;
    char q[QUOTE_BUF];
    if (i < 0)
        return model_err_set(err, where, "%s is not a role (want " ROLES_HINT ")",
                             quote_str(in, q));
    if (out != NULL)
        *out = (model_role_t)(1u << i);
    return 0;
}

/* One '&'-separated item in[0..len) of the joined value `all`, added to *set. */
static int roles_add_item(const char *all, const char *in, size_t len, unsigned *set,
                          const char *where, model_err_t *err)
{
    char q[QUOTE_BUF], qi[QUOTE_BUF];
    if (len == 0)
        return model_err_set(err, where,
                             "%s has an empty role (want roles joined by '&', "
                             "e.g. etcd-member&kubernetes-control-plane)",
                             quote_str(all, q));
    int i = name_index(in, len, role_names, N_ITEMS(role_names));
    if (i < 0)
        return model_err_set(err, where, "%s: %s is not a role (want " ROLES_HINT ")",
                             quote_str(all, q), model_quote(in, len, qi, sizeof(qi)));
    if (*set & (1u << i))
        return model_err_set(err, where, "%s names the role %s twice", quote_str(all, q),
                             role_names[i]);
    *set |= 1u << i;
    return 0;
}

int model_roles_parse_joined(const char *in, unsigned *set, const char *where, model_err_t *err)
{
    if (in == NULL)
        return model_err_set(err, where, "missing roles (want " ROLES_HINT ", joined by '&')");
    unsigned s = 0;
    const char *p = in;
    for (;;) {
        const char *amp = strchr(p, '&');
        size_t len = amp != NULL ? (size_t)(amp - p) : strlen(p);
        int rc = roles_add_item(in, p, len, &s, where, err);
        if (rc < 0)
            return rc;
        if (amp == NULL)
            break;
        p = amp + 1;
    }
    if (set != NULL)
        *set = s;
    return 0;
}

const char *model_role_name(model_role_t role)
{
    for (size_t i = 0; i < N_ITEMS(role_names); i++) {
        if ((unsigned)role == 1u << i)
            return role_names[i];
    }
    return NULL;
}

int model_strategy_parse(const char *in, model_strategy_t *out, const char *where, model_err_t *err)
{
    int i = in != NULL ? name_index(in, strlen(in), strategy_names, N_ITEMS(strategy_names)) : -1;
    char q[QUOTE_BUF];
    if (i < 0)
        return model_err_set(err, where, "%s is not a strategy (want kexec, reboot or poweroff)",
                             quote_str(in, q));
    if (out != NULL)
        *out = (model_strategy_t)i;
    return 0;
}

const char *model_strategy_name(model_strategy_t s)
{
    return (unsigned)s < N_ITEMS(strategy_names) ? strategy_names[s] : NULL;
}

int model_state_parse(const char *in, model_state_t *out, const char *where, model_err_t *err)
{
    int i = in != NULL ? name_index(in, strlen(in), state_names, N_ITEMS(state_names)) : -1;
    char q[QUOTE_BUF];
    if (i < 0)
        return model_err_set(err, where,
                             "%s is not a machine state (want booting, discovery, "
                             "os_installation_granted, os_installation_denied, "
                             "installation_succeed or installation_failed)",
                             quote_str(in, q));
    if (out != NULL)
        *out = (model_state_t)i;
    return 0;
}

const char *model_state_name(model_state_t s)
{
    return (unsigned)s < N_ITEMS(state_names) ? state_names[s] : NULL;
}

int model_ifname_check(const char *in, const char *where, model_err_t *err)
{
    char q[QUOTE_BUF];
    size_t len = in != NULL ? strlen(in) : 0;
    bool ok = len >= 1 && len <= 15;
    for (size_t i = 0; ok && i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        /* '/' would make the name a path (it becomes part of etcd keys). */
        ok = c > 0x20 && c < 0x7f && c != '/';
    }
    if (!ok)
        return model_err_set(err, where,
                             "%s is not an interface name (want 1..15 printable bytes, "
                             "no '/' or whitespace)",
                             quote_str(in, q));
    return 0;
}

/* Length of a valid label at p (ends at '.' or NUL), or 0. */
static size_t fqdn_label(const char *p)
{
    size_t n = 0;
    for (; p[n] != '\0' && p[n] != '.'; n++) {
        char c = p[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok || n >= 63)
            return 0;
    }
    if (n == 0 || p[0] == '-' || p[n - 1] == '-')
        return 0;
    return n;
}

/* Length of the name without its optional trailing dot, or 0 if invalid. */
static size_t fqdn_check(const char *in)
{
    size_t total = 0;
    const char *p = in;
    for (;;) {
        size_t n = fqdn_label(p);
        if (n == 0)
            return 0;
        total += n;
        p += n;
        if (*p == '\0' || (p[0] == '.' && p[1] == '\0'))
            break;
        p++; /* the dot between labels */
        total++;
    }
    return total <= 253 ? total : 0;
}

int model_fqdn_parse(const char *in, char *out, size_t out_size, const char *where,
                     model_err_t *err)
{
    char q[QUOTE_BUF];
    size_t len = in != NULL ? fqdn_check(in) : 0;
    if (len == 0)
        return model_err_set(err, where,
                             "%s is not a DNS name (want labels of letters, digits, '-' "
                             "or '_' joined by '.', e.g. 1.host.enjoliver.local)",
                             quote_str(in, q));
    if (out == NULL)
        return 0;
    if (len + 1 > out_size)
        return model_err_set(err, where, "%s is too long for this buffer (%zu bytes)",
                             quote_str(in, q), out_size);
    for (size_t i = 0; i < len; i++)
        out[i] = lower(in[i]);
    out[len] = '\0';
    return 0;
}

/* Whether the path has a "." or ".." component (it would leave /dev). */
static bool path_has_dots(const char *p)
{
    for (; *p != '\0'; p++) {
        if (p[0] != '/' || p[1] != '.')
            continue;
        size_t dots = (p[2] == '.') ? 2 : 1;
        if (p[1 + dots] == '/' || p[1 + dots] == '\0')
            return true;
    }
    return false;
}

int model_disk_path_check(const char *in, const char *where, model_err_t *err)
{
    char q[QUOTE_BUF];
    size_t len = in != NULL ? strlen(in) : 0;
    bool ok = len > 5 && len <= 255 && strncmp(in, "/dev/", 5) == 0 && !path_has_dots(in);
    for (size_t i = 0; ok && i < len; i++)
        ok = (unsigned char)in[i] >= 0x20 && (unsigned char)in[i] < 0x7f;
    if (!ok)
        return model_err_set(err, where,
                             "%s is not a block device path (want /dev/..., printable, "
                             "at most 255 bytes)",
                             quote_str(in, q));
    return 0;
}

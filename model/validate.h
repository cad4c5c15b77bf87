/*
 * Validation and normalisation of every value that reaches Enjoliver from
 * outside (discovery reports, API bodies, raw queries, configuration).
 *
 * Each function checks one kind of value and, on success, writes its
 * canonical form. On failure it returns -EINVAL and, when `err` is not NULL,
 * fills it with a message that says what is wrong and where, e.g.
 *   interfaces[1].mac: "52:54:00:e8:32" is not a MAC address (want aa:bb:cc:dd:ee:ff)
 * `where` is the JSON path of the value ("interfaces[1].mac"); NULL or "" =
 * none. Values quoted in messages are escaped (control bytes, quotes and
 * non-ASCII as \xNN) and cut to 64 bytes, so a message is always safe to log
 * and to return in a JSON body.
 *
 * Pure functions: no allocation, no global state, callable from any thread.
 */
#ifndef MODEL_VALIDATE_H
#define MODEL_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#define MODEL_ERR_MAX 256

typedef struct model_err_s {
    char msg[MODEL_ERR_MAX];
} model_err_t;

/* Formats err->msg as "<where>: <fmt...>" (or "<fmt...>" without where).
 * err may be NULL. Always returns -EINVAL, for `return model_err_set(...)`. */
int model_err_set(model_err_t *err, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes `in` (len bytes) into out as a quoted, escaped, cut string that is
 * safe in a log line and a JSON string: "abc", "a\x0ab", "aaaa…(120 bytes)".
 * out_size >= 8. Returns out. */
char *model_quote(const char *in, size_t len, char *out, size_t out_size);

/* The value of one hex digit, any case; -1 when c is not one. */
int model_hex_value(char c);

/* A MAC address: six pairs of hex digits separated by ':' or '-' (not
 * mixed), any case. out gets "aa:bb:cc:dd:ee:ff" (lower case). */
#define MODEL_MAC_LEN 17
int model_mac_parse(const char *in, char out[MODEL_MAC_LEN + 1], const char *where,
                    model_err_t *err);

/* A UUID in 8-4-4-4-12 hex form, any case; out gets lower case. */
#define MODEL_UUID_LEN 36
int model_uuid_parse(const char *in, char out[MODEL_UUID_LEN + 1], const char *where,
                     model_err_t *err);

/* A dotted-quad IPv4 address without leading zeros ("10.0.0.1"); *out gets
 * it in host byte order when out is not NULL. */
int model_ipv4_parse(const char *in, uint32_t *out, const char *where, model_err_t *err);

/* An IPv6 address (inet_pton syntax). out (16 bytes) may be NULL. */
int model_ipv6_parse(const char *in, uint8_t out[16], const char *where, model_err_t *err);

/* "a.b.c.d/n", n in 0..32; the address part may have host bits set (it is
 * the interface address, as discovery reports it). */
int model_cidrv4_parse(const char *in, uint32_t *addr, unsigned *prefix_len, const char *where,
                       model_err_t *err);

/* "addr/n", addr an IPv6 address, n in 0..128 (the interface's address
 * with its prefix). */
int model_cidrv6_parse(const char *in, unsigned *prefix_len, const char *where, model_err_t *err);

/* Formats a host-order IPv4 address; out holds at least 16 bytes. */
char *model_ipv4_format(uint32_t addr, char out[16]);

/* Roles a machine may have. */
typedef enum model_role_e {
    MODEL_ROLE_ETCD_MEMBER = 1 << 0,              /* "etcd-member" */
    MODEL_ROLE_KUBERNETES_CONTROL_PLANE = 1 << 1, /* "kubernetes-control-plane" */
    MODEL_ROLE_KUBERNETES_NODE = 1 << 2,          /* "kubernetes-node" */
} model_role_t;
#define MODEL_ROLE_ALL 7u

/* One role name -> its bit; unknown names are -EINVAL with the list of
 * known roles in the message. */
int model_role_parse(const char *in, model_role_t *out, const char *where, model_err_t *err);
/* "etcd-member&kubernetes-control-plane" (the /scheduler/<role> form, '&'
 * separated, no empty item, no repeat) -> a role set. */
int model_roles_parse_joined(const char *in, unsigned *set, const char *where, model_err_t *err);
/* The role's name, or NULL for anything but a single known bit. */
const char *model_role_name(model_role_t role);

/* Rolling-update strategies. */
typedef enum model_strategy_e {
    MODEL_STRATEGY_KEXEC = 0,
    MODEL_STRATEGY_REBOOT,
    MODEL_STRATEGY_POWEROFF,
} model_strategy_t;
int model_strategy_parse(const char *in, model_strategy_t *out, const char *where,
                         model_err_t *err);
const char *model_strategy_name(model_strategy_t s);

/* Machine states, in the original's names. */
typedef enum model_state_e {
    MODEL_STATE_BOOTING = 0,
    MODEL_STATE_DISCOVERY,
    MODEL_STATE_OS_INSTALLATION_GRANTED,
    MODEL_STATE_OS_INSTALLATION_DENIED,
    MODEL_STATE_INSTALLATION_SUCCEED,
    MODEL_STATE_INSTALLATION_FAILED,
} model_state_t;
int model_state_parse(const char *in, model_state_t *out, const char *where, model_err_t *err);
const char *model_state_name(model_state_t s);

/* A Linux interface name: 1..15 bytes, no '/', no whitespace, printable. */
int model_ifname_check(const char *in, const char *where, model_err_t *err);

/* A DNS name as reported by reverse lookups: 1..253 bytes of labels of
 * [A-Za-z0-9-_] (1..63 bytes, no leading or trailing '-'), one trailing '.'
 * allowed; out gets it lower-cased without the trailing dot (out_size >= 254). */
int model_fqdn_parse(const char *in, char *out, size_t out_size, const char *where,
                     model_err_t *err);

/* An absolute path of a block device: "/dev/..." printable, <= 255 bytes. */
int model_disk_path_check(const char *in, const char *where, model_err_t *err);

#endif

/*
 * The discovery report a machine POSTs to /discovery (spec section 4),
 * decoded and validated in one pass.
 *
 * Decoding is strict where the original crashed (bad MAC, UUID, IPv4 give a
 * message, not a 500) and lenient where the original was wrong to refuse: an
 * empty or absent gateway is accepted (a NIC without a default route), MACs
 * are normalised to lower-case "aa:bb:cc:dd:ee:ff", interfaces without a MAC
 * (lo) are skipped as the original did.
 */
#ifndef MODEL_DISCOVERY_H
#define MODEL_DISCOVERY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/validate.h"

#define MODEL_MAX_INTERFACES 64
#define MODEL_MAX_DISKS 64
#define MODEL_NAME_MAX 255

typedef struct model_lldp_s {
    char chassis_id[MODEL_MAC_LEN + 1]; /* the neighbour's chassis MAC */
    char chassis_name[MODEL_NAME_MAX + 1];
    char port_id[MODEL_NAME_MAX + 1]; /* free text: "Ethernet1/13" or a MAC */
} model_lldp_t;

typedef struct model_iface_s {
    char name[16];
    char mac[MODEL_MAC_LEN + 1];
    char ipv4[16];   /* "" when the NIC has no IPv4 */
    char cidrv4[19]; /* "" likewise */
    char ipv6[46];   /* a global IPv6 address, "" when none (ours: the original sent none) */
    char cidrv6[50]; /* "addr/n", "" likewise */
    unsigned netmask;
    char gateway[16];              /* "" when none */
    char fqdn[MODEL_NAME_MAX + 1]; /* first reported name, normalised; "" = none */
    bool as_boot;
    bool has_lldp;
    model_lldp_t lldp;
} model_iface_t;

typedef struct model_disk_s {
    char path[MODEL_NAME_MAX + 1];
    uint64_t size_bytes;
} model_disk_t;

typedef struct model_discovery_s {
    char uuid[MODEL_UUID_LEN + 1];
    char boot_mac[MODEL_MAC_LEN + 1];
    char boot_id[65]; /* boot-info.random-id, "" when absent */
    model_iface_t ifaces[MODEL_MAX_INTERFACES];
    size_t n_ifaces; /* interfaces with a MAC only */
    model_disk_t disks[MODEL_MAX_DISKS];
    size_t n_disks;
    json_t *journal; /* the ignition-journal lines (array of strings) or NULL */
} model_discovery_t;

/*
 * Decodes and validates a discovery body of `len` bytes. Returns 0 and a
 * new *out (free with model_discovery_free()), or:
 *   -EBADMSG  not JSON, or one of boot-info, disks, lldp, interfaces missing
 *             (the original's 406 case)
 *   -EINVAL   a field has a wrong type or value (err says which)
 *   -E2BIG    too many interfaces or disks
 *   -ENOMEM
 * The boot MAC must be one of the reported interfaces.
 */
int model_discovery_decode(const char *json, size_t len, model_discovery_t **out, model_err_t *err);

void model_discovery_free(model_discovery_t *d);

/* The interface marked as_boot (always present after a successful decode). */
const model_iface_t *model_discovery_boot_iface(const model_discovery_t *d);

#endif

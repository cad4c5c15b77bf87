/*
 * What a machine is made of, read from files under a root directory:
 * interfaces, disks, boot identity, LLDP neighbours, the Ignition journal.
 *
 * Every source is a file (or a command's output saved as one), so a test
 * points `root` at a fake tree and gets the same code path as a real host:
 *
 *   <root>/proc/cmdline                 coreos.config.url / ignition.config.url:
 *                                       uuid= and mac= of the boot (iPXE saw them)
 *   <root>/etc/metadata.env             else REQUEST_RAW_QUERY=uuid=..&mac=..
 *   <root>/sys/class/dmi/id/product_uuid   else the SMBIOS UUID
 *   <root>/proc/sys/kernel/random/boot_id  the boot id
 *   <root>/sys/class/net/<if>/address   every interface and its MAC
 *   <root>/proc/net/fib_trie            the local IPv4 addresses
 *   <root>/proc/net/route               which interface and prefix each has,
 *                                       the default gateway
 *   <root>/proc/net/if_inet6            the IPv6 addresses (the first global one
 *                                       of each interface is reported)
 *   <root>/sys/block/<dev>/size         disks (512-byte sectors)
 *   <root>/run/ignition.journal         Ignition's journal lines (optional)
 *   lldp_file (optional)                `lldpctl -f keyvalue` output
 *
 * Nothing here allocates but agent_facts_read's output, freed with
 * agent_facts_free. Errors are negative errno values.
 */
#ifndef ENJ_AGENT_FACTS_H
#define ENJ_AGENT_FACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGENT_IFNAME_MAX 16
#define AGENT_MAC_LEN 17
#define AGENT_UUID_LEN 36
#define AGENT_IP_MAX 16 /* "255.255.255.255" */

typedef struct agent_lldp_s {
    char chassis_id[64];
    char chassis_name[256];
    char port_id[128];
} agent_lldp_t;

typedef struct agent_iface_s {
    char name[AGENT_IFNAME_MAX];
    char mac[AGENT_MAC_LEN + 1]; /* "" for loopback */
    char ipv4[AGENT_IP_MAX];     /* "" when it has none */
    unsigned prefix;             /* of ipv4 */
    char ipv6[46];               /* a global IPv6 address, "" when none */
    unsigned prefix6;
    bool has_lldp;
    agent_lldp_t lldp;
} agent_iface_t;

typedef struct agent_disk_s {
    char path[64];
    uint64_t size_bytes;
} agent_disk_t;

typedef struct agent_facts_s {
    char uuid[AGENT_UUID_LEN + 1];
    char boot_mac[AGENT_MAC_LEN + 1];
    char boot_id[AGENT_UUID_LEN + 1];
    char gateway[AGENT_IP_MAX]; /* the default route's, "" when none */
    agent_iface_t *ifaces;
    size_t n_ifaces;
    agent_disk_t *disks;
    size_t n_disks;
    bool lldp_read; /* the LLDP file was there and parsed */
    char **journal; /* NULL when there is no journal file */
    size_t n_journal;
} agent_facts_t;

typedef struct agent_facts_opts_s {
    const char *root;      /* NULL or "" = "/" */
    const char *lldp_file; /* NULL: no LLDP */
    /* Where the Ignition journal is, under root; NULL = run/ignition.journal. */
    const char *journal_file;
} agent_facts_opts_t;

/*
 * Reads every fact. A machine must have a UUID and a boot MAC (-ENODATA
 * otherwise, with *why saying which is missing); anything else missing is
 * simply absent. -ENOMEM.
 */
int agent_facts_read(const agent_facts_opts_t *opts, agent_facts_t *out, const char **why);
void agent_facts_free(agent_facts_t *f);

/* Same facts? (the boot id, journal and order of lists included) */
bool agent_facts_equal(const agent_facts_t *a, const agent_facts_t *b);

#endif

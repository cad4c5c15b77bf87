/*
 * The matchbox configuration of the sync (spec section 7), as a pure
 * function: configuration + scheduled machines -> the group and profile
 * files matchbox must hold. No I/O, no etcd, no global state; every output
 * byte is owned by the result and freed with model_sync_files_free().
 *
 * Output files (the complete desired content of groups/ and profiles/;
 * anything else there is an orphan the caller may delete):
 *   profiles/discovery.json                           always
 *   profiles/etcd_member_kubernetes_control_plane.json always
 *   profiles/kubernetes_nodes.json                     always
 *   groups/discovery.json                              always (selector-less)
 *   groups/etcd_member_kubernetes_control_plane-<mac12>.json  one per CP
 *   groups/kubernetes_nodes-<mac12>.json                      one per node
 * sorted by path. Text = Python's json.dumps(sort_keys=True, indent=2) byte
 * for byte (", "/": " inline, "," + newline when indented, non-ASCII, DEL and
 * control bytes as lower-case \uXXXX, '/' not escaped) plus one trailing
 * newline, as the spec fixtures are.
 *
 * Where this differs from the original on purpose (spec section 10):
 *  - #7  group id = "<profile id>-<boot MAC, 12 lower-case hex digits>",
 *        e.g. "etcd_member_kubernetes_control_plane-5254005b4535": stable
 *        whatever other machines come and go (the original used the
 *        position in the MAC-sorted list).
 *  - #8  member IP lists (E) are sorted numerically, not as strings.
 *  - #9  CNI host-local ranges never overlap and stay inside the subnet:
 *        see model_sync_generate() for the allocation.
 *  - #12 the machine's as_boot interface gives MAC, IP, CIDR, gateway and
 *        FQDN, never the first interface.
 *  - the automatic name "cp-<i>-<ip dashes>" / "no-<i>-..." of a machine
 *        without FQDN: i is its position in its role set sorted by MAC
 *        the first time (the original's rule), then it keeps it
 *        (name_slot): the original renamed machines when a lower MAC
 *        joined. kubernetes_node_name stays the IP for them, and
 *        network.ip_or_fqdn is that name when sync_replace_ip_by_fqdn is
 *        set, as in the original.
 * Kept as the original: every metadata key and value of spec 7.4.
 * New cases: a boot interface without gateway (the original refused such
 * reports) gives network.gateway "" and a CNI object without "gateway";
 * two machines with one boot MAC or one boot IP are refused.
 */
#ifndef MODEL_MATCHBOX_GEN_H
#define MODEL_MATCHBOX_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/machine.h"
#include "model/validate.h"

/* Profile ids (= group names) of the three sets. */
#define MODEL_SYNC_PROFILE_DISCOVERY "discovery"
#define MODEL_SYNC_PROFILE_CONTROL_PLANE "etcd_member_kubernetes_control_plane"
#define MODEL_SYNC_PROFILE_NODE "kubernetes_nodes"

/* Role sets the sync knows (model_role_t bits). A machine must have
 * exactly one of them. */
#define MODEL_SYNC_ROLES_CONTROL_PLANE                                                             \
    ((unsigned)(MODEL_ROLE_ETCD_MEMBER | MODEL_ROLE_KUBERNETES_CONTROL_PLANE))
#define MODEL_SYNC_ROLES_NODE ((unsigned)MODEL_ROLE_KUBERNETES_NODE)

/* One ordered key/value pair (extra_selectors). */
typedef struct model_sync_kv_s {
    const char *key;
    const char *value;
} model_sync_kv_t;

/* One step of disks_ladder_gb: profile `name` when the total size in GiB
 * is below `gb`. */
typedef struct model_sync_ladder_s {
    const char *name;
    unsigned gb;
} model_sync_ladder_t;

/* One of the three etcd clusters (kubernetes, vault, fleet). */
typedef struct model_sync_etcd_s {
    const char *data_dir;
    unsigned client_port, peer_port;
} model_sync_etcd_t;

/*
 * Every configuration value the sync reads. The structure borrows: strings
 * and arrays stay owned by the caller (the defaults point to static data)
 * and must outlive the model_sync_generate() call.
 */
typedef struct model_sync_config_s {
    const char *api_uri;           /* required: profiles, metadata api_uri */
    const char *assets_server_uri; /* kernel/initrd prefix; NULL or "" = api_uri */
    const char *kernel, *initrd;   /* paths appended to that prefix */
    /* ignition_dict: template names, ignition_id = "<name>.yaml" */
    const char *ignition_discovery, *ignition_control_plane, *ignition_node;

    const model_sync_kv_t *extra_selectors; /* ordered; no "mac" key */
    size_t n_extra_selectors;
    const char *const *etc_hosts;
    size_t n_etc_hosts;
    const char *const *nameservers, *const *ntp, *const *fallbackntp; /* space-joined */
    size_t n_nameservers, n_ntp, n_fallbackntp;

    model_sync_etcd_t kubernetes_etcd, vault_etcd, fleet_etcd;
    unsigned kubernetes_apiserver_insecure_port;
    const char *kubernetes_apiserver_insecure_bind_address;
    const char *kubernetes_service_cluster_ip_range; /* a.b.c.d/n, no host bits */
    unsigned kubelet_healthz_port, vault_port;
    const char *hyperkube_image_url, *cephtools_image_url;
    const char *lldp_image_url; /* NULL or "" = not in the discovery group */
    long vault_polling_sec, lifecycle_update_polling_sec;

    /* CNI ranges: blocks of sub_ips addresses (0 or a power of two), the
     * range of a block starts skip_ips after its first address and ends
     * range_nb_ips after its start; skip_ips + range_nb_ips < sub_ips. */
    unsigned sub_ips, range_nb_ips, skip_ips;
    const char *perennial_local_host_ip; /* network.perennial_host_ip */
    bool sync_replace_ip_by_fqdn;        /* network.ip_or_fqdn = FQDN */

    const model_sync_ladder_t *disks_ladder_gb; /* ordered, at least one step */
    size_t n_disks_ladder_gb;
    const char *coreos_install_base_url; /* NULL = JSON null in the discovery group */

    /* Contents of the ssh_authorized_keys files, as read (newline kept). */
    const char *const *ssh_authorized_keys;
    size_t n_ssh_authorized_keys;
} model_sync_config_t;

/* Fills c with the original's shipped values (spec section 2, YAML column,
 * code values where the YAML has none; vault etcd 4002/7002, fleet
 * 4001/7001; api_uri "http://127.0.0.1:5000"; no SSH key). */
void model_sync_config_defaults(model_sync_config_t *c);

/* 0, or -EINVAL with err naming the first bad value ("config.<key>: ..."). */
int model_sync_config_check(const model_sync_config_t *c, model_err_t *err);

/* The boot interface of a machine, as the sync reads it. */
typedef struct model_sync_nic_s {
    char name[16];
    char mac[MODEL_MAC_LEN + 1];
    char ipv4[16], cidrv4[19], gateway[16]; /* "" when absent */
    char fqdn[MODEL_NAME_MAX + 1];
} model_sync_nic_t;

/* What the sync needs of a machine's facts: a few hundred bytes, where a
 * model_machine_t is tens of KiB, so that a caller can keep them for
 * thousands of machines between passes. */
typedef struct model_sync_facts_s {
    char uuid[MODEL_UUID_LEN + 1];
    bool has_boot; /* false: no boot interface (the machine is skipped) */
    model_sync_nic_t boot;
    size_t n_disks;
    uint64_t disk_gib; /* sum of each disk's whole GiB */
} model_sync_facts_t;

/* Fills out from m (its as_boot interface, its disks). */
void model_sync_facts_from(const model_machine_t *m, model_sync_facts_t *out);

/* A scheduled machine: its facts (m, or facts when m is NULL), its roles
 * (a MODEL_SYNC_ROLES_* set), and what an earlier sync gave it
 * (model_sync_file_t), so that it keeps them whatever machines join later:
 * the first address of its pod range (0: none) and 1 + the index of its
 * automatic name (0: none). */
typedef struct model_sync_machine_s {
    const model_machine_t *m;
    unsigned roles;
    uint32_t pod_start;
    unsigned name_slot;
    const model_sync_facts_t *facts;
} model_sync_machine_t;

typedef enum model_sync_kind_e {
    MODEL_SYNC_PROFILE = 0,
    MODEL_SYNC_GROUP,
} model_sync_kind_t;

typedef struct model_sync_file_s {
    model_sync_kind_t kind;
    char *id;                    /* group or profile id */
    char *path;                  /* "groups/<id>.json" or "profiles/<id>.json" */
    char *text;                  /* the file content, NUL terminated */
    size_t len;                  /* strlen(text) */
    char mac[MODEL_MAC_LEN + 1]; /* a machine group's boot MAC, else "" */
    uint32_t pod_start, pod_end; /* a machine group's CNI range, inclusive */
    unsigned name_index;         /* and the index of its automatic name */
    bool reused;                 /* model_sync_generate_reusing(): text NULL */
} model_sync_file_t;

/* A machine the sync could not give a group, and why. */
typedef struct model_sync_skip_s {
    char mac[MODEL_MAC_LEN + 1]; /* boot MAC; "" when it has no boot interface */
    char uuid[MODEL_UUID_LEN + 1];
    int error; /* -EINVAL (its facts) or -ENOSPC (no pod range left) */
    char msg[MODEL_ERR_MAX];
} model_sync_skip_t;

typedef struct model_sync_files_s {
    model_sync_file_t *files;
    size_t n;
    model_sync_skip_t *skipped; /* by boot MAC */
    size_t n_skipped;
    uint64_t digest; /* of what all machine groups share (E, SSH keys) */
} model_sync_files_t;

/*
 * Generates every file for `machines` (n entries, any order: the output
 * does not depend on it).
 *
 * One machine's trouble never costs the others their groups: a machine
 * whose facts cannot be synced (no boot interface, no IPv4/CIDR on it, a
 * CIDR that disagrees with its IPv4, roles that are not one of the two
 * sets, a boot IP another machine also reports) or for which no pod range
 * is left gets no group file and an entry in out->skipped saying why, and
 * every other machine is synced as if it were absent. Of machines sharing
 * a boot IP, the one holding a pod range already (pod_start) keeps its
 * group, else the lowest MAC.
 *
 * Cluster-wide values come from the synced control-plane set: E = its boot
 * IPs in numeric order (every *_initial_cluster, *_uri_list, *_ip_list and
 * etcd_member_kubernetes_control_plane_ip), kubernetes_apiserver_count =
 * its size.
 *
 * CNI allocation (sub_ips > 0). The machines are grouped by the network of
 * their boot CIDR; a network of size 2^(32-len) is cut into blocks of
 * sub_ips addresses, block b spanning net + b*sub_ips ... and offering the
 * range [net + b*sub_ips + skip_ips, that + range_nb_ips]. A block is free
 * when its range holds none of: the network and broadcast addresses, a
 * boot IP or gateway of any input machine, perennial_local_host_ip, the
 * service cluster range, and no other machine has it (blocks are aligned
 * on sub_ips everywhere, so overlapping networks share them). First, each
 * machine whose pod_start names a free block of its network keeps that
 * block (machines in network, then IP order: of two naming one block, the
 * first keeps it). Then the machines of a network without a block, in
 * numeric order of their IPs (MAC on a tie), take the free blocks in
 * ascending order. So a range given once never moves while it stays
 * valid, whatever machines join later; with no pod_start at all, the k-th
 * machine of a network gets its k-th free block. A machine left without a
 * block is skipped with -ENOSPC. (The M01-M04 /21 example: hosts in
 * 172.20.0.x make block 0 busy, .51/.63/.65/.97 get 172.20.1-4.1 - .254.)
 * With sub_ips = 0 the original's rule is kept (range starts skip_ips after
 * the host IP; pod_start is ignored) and checked instead: a range outside
 * the subnet or holding a reserved address above is skipped (-ENOSPC /
 * -EINVAL), and of two ranges that overlap the higher one is skipped.
 *
 * Returns 0 and fills *out (free with model_sync_files_free()), or
 *   -EINVAL  bad configuration (model_sync_config_check()), a machine with
 *            neither m nor facts,
 *            two machines with the same boot MAC (the MAC index forbids it)
 *   -ENOMEM
 * with err saying what; *out is left empty on error.
 */
int model_sync_generate(const model_sync_config_t *cfg, const model_sync_machine_t *machines,
                        size_t n, model_sync_files_t *out, model_err_t *err);

/*
 * As model_sync_generate(), for a caller that keeps the group texts of its
 * earlier calls, so that a pass over many machines renders only what
 * changed. reuse (NULL, or n entries): reuse[i] says the caller holds the
 * group text generated for machines[i] with the same facts, roles and
 * configuration, by a call whose out->digest was prev_digest, and that
 * machines[i].pod_start and name_slot are what that call gave it. The
 * group of such a machine is not rendered again while its allocation and
 * the digest stay the same: its file has reused set, text NULL and len 0
 * (id, path, mac, pod range and name index filled as usual).
 */
int model_sync_generate_reusing(const model_sync_config_t *cfg,
                                const model_sync_machine_t *machines, size_t n, const bool *reuse,
                                uint64_t prev_digest, model_sync_files_t *out, model_err_t *err);

void model_sync_files_free(model_sync_files_t *f);

/* The group id of a machine with `roles` and boot `mac` (canonical
 * "aa:bb:cc:dd:ee:ff"): "<profile id>-aabbccddeeff". Returns its length,
 * -EINVAL for roles that are not one of the two sets or a bad MAC,
 * -ENAMETOOLONG when out is too small (64 bytes always suffice). */
int model_sync_group_id(unsigned roles, const char *mac, char *out, size_t out_size);

#endif

/* Fuzz target: the discovery decoder (model_discovery_decode), the JSON
 * body any machine on the provisioning network can POST to /discovery. */
#include <errno.h>

#include "fuzz.h"
#include "model/discovery.h"

/* A fixed-size string field is terminated inside its array. */
#define FIELD_OK(f) FUZZ_CHECK(strnlen((f), sizeof(f)) < sizeof(f))

static void check_canonical_mac(const char *mac)
{
    char again[MODEL_MAC_LEN + 1];
    FUZZ_CHECK(model_mac_parse(mac, again, NULL, NULL) == 0 && strcmp(mac, again) == 0);
}

static void check_iface(const model_iface_t *it)
{
    FIELD_OK(it->name);
    FIELD_OK(it->mac);
    FIELD_OK(it->ipv4);
    FIELD_OK(it->cidrv4);
    FIELD_OK(it->gateway);
    FIELD_OK(it->fqdn);
    FUZZ_CHECK(model_ifname_check(it->name, NULL, NULL) == 0);
    check_canonical_mac(it->mac);
    FUZZ_CHECK(it->ipv4[0] == '\0' || model_ipv4_parse(it->ipv4, NULL, NULL, NULL) == 0);
    FUZZ_CHECK(it->gateway[0] == '\0' || model_ipv4_parse(it->gateway, NULL, NULL, NULL) == 0);
    FUZZ_CHECK(it->cidrv4[0] == '\0' ||
               model_cidrv4_parse(it->cidrv4, NULL, NULL, NULL, NULL) == 0);
    FUZZ_CHECK(it->netmask <= 32);
    if (it->has_lldp) {
        FIELD_OK(it->lldp.chassis_name);
        FIELD_OK(it->lldp.port_id);
        check_canonical_mac(it->lldp.chassis_id);
    }
}

static void check_decoded(const model_discovery_t *d)
{
    FIELD_OK(d->uuid);
    FIELD_OK(d->boot_mac);
    FIELD_OK(d->boot_id);
    char uuid[MODEL_UUID_LEN + 1];
    FUZZ_CHECK(model_uuid_parse(d->uuid, uuid, NULL, NULL) == 0 && strcmp(uuid, d->uuid) == 0);
    check_canonical_mac(d->boot_mac);
    FUZZ_CHECK(d->n_ifaces >= 1 && d->n_ifaces <= MODEL_MAX_INTERFACES);
    FUZZ_CHECK(d->n_disks <= MODEL_MAX_DISKS);
    size_t boots = 0;
    for (size_t i = 0; i < d->n_ifaces; i++) {
        check_iface(&d->ifaces[i]);
        boots += d->ifaces[i].as_boot;
        FUZZ_CHECK(d->ifaces[i].as_boot == (strcmp(d->ifaces[i].mac, d->boot_mac) == 0));
    }
    FUZZ_CHECK(boots == 1);
    const model_iface_t *boot = model_discovery_boot_iface(d);
    FUZZ_CHECK(boot != NULL && strcmp(boot->mac, d->boot_mac) == 0);
    for (size_t i = 0; i < d->n_disks; i++) {
        FIELD_OK(d->disks[i].path);
        FUZZ_CHECK(model_disk_path_check(d->disks[i].path, NULL, NULL) == 0);
    }
    FUZZ_CHECK(d->journal == NULL || json_is_array(d->journal));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    model_discovery_t *d = NULL;
    model_err_t err = {{0}};
    int rc = model_discovery_decode((const char *)data, size, &d, &err);
    if (rc == 0) {
        FUZZ_CHECK(d != NULL);
        check_decoded(d);
        model_discovery_free(d);
        return 0;
    }
    FUZZ_CHECK(rc == -EBADMSG || rc == -EINVAL || rc == -E2BIG || rc == -ENOMEM);
    FUZZ_CHECK(d == NULL);
    fuzz_check_msg(err.msg, sizeof(err.msg));
    FUZZ_CHECK(rc == -ENOMEM || err.msg[0] != '\0'); /* every refusal says why */
    return 0;
}

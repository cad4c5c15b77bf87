/*
 * proto/enjoliver/v1/enjoliver.proto as protoc-c compiles it: the field
 * numbers on the wire are the ones the file documents (a few messages
 * checked byte for byte), and a full Machine survives a pack and unpack.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enjoliver/v1/enjoliver.pb-c.h"
#include "check.h"

static size_t pack(const ProtobufCMessage *m, uint8_t *buf, size_t cap)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    CHECK(n <= cap);
    return protobuf_c_message_pack(m, buf);
}

static void test_wire(void)
{
    uint8_t buf[64];
    Enjoliver__V1__MachineRef ref = ENJOLIVER__V1__MACHINE_REF__INIT;
    ref.mac = "ab";
    size_t n = pack(&ref.base, buf, sizeof buf);
    CHECK(n == 4 && memcmp(buf,
                           "\x0a\x02"
                           "ab",
                           4) == 0); /* field 1, length-delimited */

    Enjoliver__V1__ReleaseSlotRequest rel = ENJOLIVER__V1__RELEASE_SLOT_REQUEST__INIT;
    rel.mac = "";
    rel.token = 300;
    n = pack(&rel.base, buf, sizeof buf);
    CHECK(n == 3 && memcmp(buf, "\x10\xac\x02", 3) == 0); /* field 2 varint 300 */

    Enjoliver__V1__WatchMachinesRequest w = ENJOLIVER__V1__WATCH_MACHINES_REQUEST__INIT;
    w.resume_revision = 1;
    w.mac = "";
    n = pack(&w.base, buf, sizeof buf);
    CHECK(n == 2 && memcmp(buf, "\x08\x01", 2) == 0);

    Enjoliver__V1__GetMachineRequest g = ENJOLIVER__V1__GET_MACHINE_REQUEST__INIT;
    g.key_case = ENJOLIVER__V1__GET_MACHINE_REQUEST__KEY_MAC;
    g.mac = "m";
    n = pack(&g.base, buf, sizeof buf);
    CHECK(n == 3 && memcmp(buf, "\x12\x01m", 3) == 0); /* oneof member 2 */
}

static void test_machine_round_trip(void)
{
    Enjoliver__V1__Lldp lldp = ENJOLIVER__V1__LLDP__INIT;
    lldp.chassis_name = "rack-7";
    Enjoliver__V1__Interface eth0 = ENJOLIVER__V1__INTERFACE__INIT;
    eth0.name = "eth0";
    eth0.mac = "52:54:00:ea:6f:41";
    eth0.ipv4 = "172.20.0.97";
    eth0.cidrv4 = "172.20.0.97/21";
    eth0.netmask = 21;
    eth0.as_boot = 1;
    eth0.lldp = &lldp;
    Enjoliver__V1__Interface *ifs[] = {&eth0};
    Enjoliver__V1__Disk sda = ENJOLIVER__V1__DISK__INIT;
    sda.path = "/dev/sda";
    sda.size_bytes = 21474836480ULL;
    Enjoliver__V1__Disk *disks[] = {&sda};
    Enjoliver__V1__Slot slot = ENJOLIVER__V1__SLOT__INIT;
    slot.mac = eth0.mac;
    slot.token = 1234;
    Enjoliver__V1__Role roles[] = {ENJOLIVER__V1__ROLE__KUBERNETES_NODE};
    Enjoliver__V1__Machine m = ENJOLIVER__V1__MACHINE__INIT;
    m.uuid = "c105a609-1139-4c7d-8b20-2e59f3caa88e";
    m.boot_mac = eth0.mac;
    m.n_interfaces = 1;
    m.interfaces = ifs;
    m.n_disks = 1;
    m.disks = disks;
    m.n_roles = 1;
    m.roles = roles;
    m.slot = &slot;
    m.revision = 42;
    uint8_t buf[1024];
    size_t n = pack(&m.base, buf, sizeof buf);
    Enjoliver__V1__Machine *back = enjoliver__v1__machine__unpack(NULL, n, buf);
    CHECK(back != NULL);
    CHECK(strcmp(back->uuid, m.uuid) == 0 && strcmp(back->boot_mac, m.boot_mac) == 0);
    CHECK(back->n_interfaces == 1 && back->interfaces[0]->as_boot &&
          back->interfaces[0]->netmask == 21 &&
          strcmp(back->interfaces[0]->lldp->chassis_name, "rack-7") == 0);
    CHECK(back->n_disks == 1 && back->disks[0]->size_bytes == 21474836480ULL);
    CHECK(back->n_roles == 1 && back->roles[0] == ENJOLIVER__V1__ROLE__KUBERNETES_NODE);
    CHECK(back->slot && back->slot->token == 1234 && back->revision == 42);
    CHECK(back->state == NULL && back->rolling == NULL); /* absent stays absent */
    enjoliver__v1__machine__free_unpacked(back, NULL);
}

/* Every service the issue asks for, with its methods, in the descriptors. */
static void test_services(void)
{
    struct {
        const ProtobufCServiceDescriptor *d;
        const char *name;
        unsigned methods;
    } want[] = {
        {&enjoliver__v1__machines__descriptor, "enjoliver.v1.Machines", 3},
        {&enjoliver__v1__schedules__descriptor, "enjoliver.v1.Schedules", 2},
        {&enjoliver__v1__lifecycle__descriptor, "enjoliver.v1.Lifecycle", 10},
        {&enjoliver__v1__events__descriptor, "enjoliver.v1.Events", 2},
        {&enjoliver__v1__backups__descriptor, "enjoliver.v1.Backups", 1},
        {&enjoliver__v1__health__descriptor, "enjoliver.v1.Health", 1},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        CHECKF(strcmp(want[i].d->name, want[i].name) == 0, "%s", want[i].d->name);
        CHECKF(want[i].d->n_methods == want[i].methods, "%s: %u methods", want[i].name,
               want[i].d->n_methods);
    }
    const char *lifecycle[] = {"ReportIgnition", "GetRolling",    "SetRolling",
                               "AcquireSlot",    "ReleaseSlot",   "ListSlots",
                               "ReportReady",    "ReportInstall", "AuthorizeInstall"};
    for (size_t i = 0; i < 9; i++)
        CHECKF(protobuf_c_service_descriptor_get_method_by_name(
                   &enjoliver__v1__lifecycle__descriptor, lifecycle[i]) != NULL,
               "Lifecycle.%s", lifecycle[i]);
}

int main(void)
{
    test_wire();
    test_machine_round_trip();
    test_services();
    return check_report("test_enjoliver_proto");
}

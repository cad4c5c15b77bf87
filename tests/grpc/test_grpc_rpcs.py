#!/usr/bin/python3
"""Every RPC of the gRPC API against enjoliverd on a real etcd: answers,
errors (status code and what the message says), the admin token, and that a
rejected write leaves etcd's revision where it was. HTTP routes of the same
operations are asked too: both APIs must tell the same story.

Replicas: "a" (API only, --reconcile false, admin token, the stand-in
matchbox) serves most calls; "d" (no --matchbox-uri) answers the Ignition
report it cannot check; "c" (--reconcile true) leads for a while so that
slots get granted and events get recorded.
"""
import email.utils
import hashlib
import json
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402

import enjtest  # noqa: E402
from enjtest import check, check_eq, check_in, dashed_upper, log, wait_until  # noqa: E402

TOKEN = "grpc-rpcs-admin-token-5f3a9c1e"
S = grpc.StatusCode
UNKNOWN_MAC = "02:00:00:00:00:01"
UNKNOWN_UUID = "00000000-0000-4000-8000-000000000001"
SYNTH = "discovery-synthetic-discoveryc.json"
ETCD_MEMBER, CONTROL_PLANE, NODE = 1, 2, 3


def settle(etcd, quiet=0.6, timeout=15):
    """Waits until etcd's revision stays put for `quiet` seconds (a leader
    finished what it had to do); returns it."""
    deadline = time.monotonic() + timeout
    rev = etcd.revision()
    while True:
        time.sleep(quiet)
        now = etcd.revision()
        if now == rev:
            return rev
        check(time.monotonic() < deadline, "etcd kept changing for %d s" % timeout)
        rev = now


def mod_revision(etcd, key):
    kvs = etcd.get_prefix(key)
    check_in(key, kvs, "etcd keys")
    return kvs[key][0]


def run(ctx):
    pb = ctx.pb
    etcd = ctx.start_etcd()
    mb = ctx.start_standin()
    a = ctx.start_enj(etcd, "a", admin_token=TOKEN, matchbox_uri=mb.uri)

    # ---- Health.Check, before anything -----------------------------------
    version = subprocess.run([ctx.enjoliverd_bin, "--version"], stdout=subprocess.PIPE,
                             timeout=10).stdout.decode().split()[-1]
    # The first probes of etcd and matchbox take a moment after start-up.
    h = wait_until(lambda: (lambda x: x if x.healthy else None)(a.health()), 10, "a healthy")
    check(h.etcd and h.matchbox, "a: healthy but %s" % h)
    check_eq(h.replica, "a", "Health.replica")
    check_eq(h.leader, "", "Health.leader with no reconciling replica")
    check_eq(h.is_leader, False, "Health.is_leader of an API-only replica")
    check_eq(h.version, version, "Health.version (enjoliverd --version)")
    check(h.revision >= 1, "Health.revision %d" % h.revision)
    log("Health.Check: %s" % enjtest._short(h))

    # ---- machines -----------------------------------------------------------
    fixtures = [1, 2, 3, 4, 5, 6, SYNTH]
    mac = {}
    uuid = {}
    for f in fixtures:
        a.discover(f)
        uuid[f], mac[f] = ctx.machine_of(f)
    synth_macs = [i["mac"] for i in ctx.fixture(SYNTH)["interfaces"] if i["mac"]]
    check_eq(len(synth_macs), 2, "MACs of the synthetic fixture")
    all_uuids = sorted(uuid.values())
    rev_after_discovery = etcd.revision()
    wait_until(lambda: a.health().revision == rev_after_discovery, 10,
               "Health.Check.revision reaching etcd's %d" % rev_after_discovery)

    r = a.call("Machines/List", pb.ListMachinesRequest())
    check_eq([m.uuid for m in r.machines], all_uuids, "Machines.List: every machine, in UUID order")
    check_eq(r.next_page_token, "", "Machines.List next_page_token (one page)")
    check_eq(r.revision, rev_after_discovery, "Machines.List revision (etcd's after the writes)")
    for m in r.machines:
        check_eq(m.revision, mod_revision(etcd, "/enjoliver/machines/" + m.uuid),
                 "Machine.revision of %s (its key's mod revision)" % m.uuid)
        check_eq(m.state.state, "discovery", "state of a discovered machine %s" % m.uuid)

    # Pagination: page_size 2 over 7 machines.
    seen, token, pages = [], "", 0
    while True:
        r = a.call("Machines/List", pb.ListMachinesRequest(page_size=2, page_token=token))
        pages += 1
        check(pages <= 10, "Machines.List pagination does not end")
        seen += [m.uuid for m in r.machines]
        if not r.next_page_token:
            break
        check_eq(len(r.machines), 2, "a full page's size (page %d)" % pages)
        token = r.next_page_token
    check_eq(seen, all_uuids, "machines across the pages (each once, in UUID order)")
    check_eq(pages, 4, "pages of 2 for 7 machines")
    # The same with a filter that keeps every machine.
    r1 = a.call("Machines/List", pb.ListMachinesRequest(page_size=3, state="discovery"))
    r2 = a.call("Machines/List", pb.ListMachinesRequest(page_size=3, state="discovery",
                                                        page_token=r1.next_page_token))
    r3 = a.call("Machines/List", pb.ListMachinesRequest(page_size=3, state="discovery",
                                                        page_token=r2.next_page_token))
    check_eq([m.uuid for m in list(r1.machines) + list(r2.machines) + list(r3.machines)],
             all_uuids, "filtered pages")
    check_eq(r3.next_page_token, "", "the last filtered page's token")
    r = a.call("Machines/List", pb.ListMachinesRequest(page_size=5000))
    check_eq(len(r.machines), 7, "page_size 5000 (the maximum)")
    a.expect_error("Machines/List", pb.ListMachinesRequest(page_size=5001), S.INVALID_ARGUMENT,
                   ["page_size", "5000"])
    a.expect_error("Machines/List", pb.ListMachinesRequest(page_token="not-a-token"),
                   S.INVALID_ARGUMENT, ["page_token", "not-a-token"])
    a.expect_error("Machines/List", pb.ListMachinesRequest(page_token=all_uuids[0].upper()),
                   S.INVALID_ARGUMENT, "page_token")
    a.expect_error("Machines/List", pb.ListMachinesRequest(role=9), S.INVALID_ARGUMENT,
                   ["role", "9"])

    # Filters.
    r = a.call("Machines/List", pb.ListMachinesRequest(mac=dashed_upper(synth_macs[1])))
    check_eq([m.uuid for m in r.machines], [uuid[SYNTH]], "List(mac=<the 2nd NIC's MAC>)")
    r = a.call("Machines/List", pb.ListMachinesRequest(mac=UNKNOWN_MAC))
    check_eq(list(r.machines), [], "List(mac=unknown)")
    a.expect_error("Machines/List", pb.ListMachinesRequest(mac="52:54:00"), S.INVALID_ARGUMENT,
                   "mac")
    r = a.call("Machines/List", pb.ListMachinesRequest(state="installed"))
    check_eq(list(r.machines), [], "List(state=installed) before any install")
    r = a.call("Machines/List", pb.ListMachinesRequest(unscheduled=True))
    check_eq([m.uuid for m in r.machines], all_uuids, "List(unscheduled) before any schedule")
    r = a.call("Machines/List", pb.ListMachinesRequest(role=NODE))
    check_eq(list(r.machines), [], "List(role=node) before any schedule")

    # Get by UUID and by any MAC, in any form.
    by_uuid = a.call("Machines/Get", pb.GetMachineRequest(uuid=uuid[SYNTH]))
    check_eq(by_uuid.uuid, uuid[SYNTH], "Get(uuid).uuid")
    check_eq(by_uuid.boot_mac, mac[SYNTH], "Get(uuid).boot_mac")
    for form in (synth_macs[0], synth_macs[1], dashed_upper(synth_macs[1]),
                 synth_macs[1].upper()):
        m = a.call("Machines/Get", pb.GetMachineRequest(mac=form))
        check_eq(m, by_uuid, "Get(mac=%s) and Get(uuid)" % form)
    check_eq(sorted(i.mac for i in by_uuid.interfaces), sorted(synth_macs), "interfaces' MACs")
    a.expect_error("Machines/Get", pb.GetMachineRequest(uuid=UNKNOWN_UUID), S.NOT_FOUND,
                   ["no machine", UNKNOWN_UUID])
    a.expect_error("Machines/Get", pb.GetMachineRequest(mac=dashed_upper(UNKNOWN_MAC)),
                   S.NOT_FOUND, ["no machine", UNKNOWN_MAC])
    a.expect_error("Machines/Get", pb.GetMachineRequest(uuid="b7f5f93a-nope"),
                   S.INVALID_ARGUMENT, ["uuid", "b7f5f93a-nope"])
    a.expect_error("Machines/Get", pb.GetMachineRequest(mac="52:54:00:zz:00:01"),
                   S.INVALID_ARGUMENT, ["mac", "52:54:00:zz:00:01"])
    a.expect_error("Machines/Get", pb.GetMachineRequest(), S.INVALID_ARGUMENT, ["uuid", "mac"])

    # What GET /discovery says of each machine.
    http_machines = a.http_json("GET", "/discovery")
    check_eq(len(http_machines), 7, "GET /discovery entries")
    for hm in http_machines:
        u = hm["boot-info"]["uuid"]
        gm = a.call("Machines/Get", pb.GetMachineRequest(uuid=u))
        what = "machine %s over gRPC and HTTP" % u
        check_eq(gm.boot_mac, hm["boot-info"]["mac"], what + ": boot MAC")
        created = email.utils.parsedate_to_datetime(hm["boot-info"]["created-date"]).timestamp()
        check_eq(gm.created_unix_ms // 1000, int(created), what + ": creation date (s)")
        check_eq(sorted((i.mac, i.name, i.ipv4, i.cidrv4, i.netmask, i.gateway, i.as_boot)
                        for i in gm.interfaces),
                 sorted((i["mac"], i["name"], i["ipv4"], i["cidrv4"], i["netmask"],
                         i["gateway"] or "", bool(i["as_boot"])) for i in hm["interfaces"]),
                 what + ": interfaces (MAC, name, IPv4, CIDR, netmask, gateway, boot)")
        check_eq([(d.path, d.size_bytes) for d in gm.disks],
                 [(d["path"], d["size-bytes"]) for d in hm["disks"] or []], what + ": disks")
    log("Machines.List/Get: pagination, filters, errors, HTTP agree")

    # ---- the admin token ----------------------------------------------------
    admin_calls = [
        ("Schedules/Set", pb.SetScheduleRequest(mac=mac[1], roles=[ETCD_MEMBER])),
        ("Lifecycle/SetRolling", pb.SetRollingRequest(mac=mac[4], enabled=True)),
        ("Backups/Create", pb.CreateBackupRequest()),
    ]
    for method, req in admin_calls:
        a.expect_error(method, req, S.UNAUTHENTICATED, ["admin token", method],
                       unchanged=True)
        a.expect_error(method, req, S.UNAUTHENTICATED, "admin token",
                       token="wrong-token-but-long-enough", unchanged=True)
        a.expect_error(method, req, S.UNAUTHENTICATED, "admin token",
                       metadata=[("authorization", TOKEN)], unchanged=True)  # no "Bearer "
    # Open RPCs need no token (the writes of nodes are exercised below).
    a.call("Health/Check")
    a.call("Machines/List", pb.ListMachinesRequest())
    a.call("Machines/Get", pb.GetMachineRequest(mac=mac[1]))
    a.call("Schedules/List", pb.ListSchedulesRequest())
    a.call("Lifecycle/GetRolling", pb.MachineRef(mac=mac[1]))
    a.call("Lifecycle/ListSlots", pb.ListSlotsRequest())
    a.call("Events/List", pb.ListEventsRequest())
    w = a.stream("Machines/Watch", pb.WatchMachinesRequest(), timeout=10)
    types = []
    for ev in w:
        types.append(ev.type)
        if ev.type == pb.MachineEvent.SNAPSHOT_END:
            break
    w.cancel()
    check_eq(types, [pb.MachineEvent.SNAPSHOT] * 7 + [pb.MachineEvent.SNAPSHOT_END],
             "Machines.Watch without a token")
    log("auth: admin RPCs refused without/with a wrong token, open RPCs open")

    # ---- Schedules ----------------------------------------------------------
    s = a.call("Schedules/Set", pb.SetScheduleRequest(mac=mac[1],
                                                      roles=[CONTROL_PLANE, ETCD_MEMBER]),
               token=True)
    check_eq(s.mac, mac[1], "Schedules.Set mac")
    check_eq(list(s.roles), [ETCD_MEMBER, CONTROL_PLANE], "Schedules.Set roles")
    check_eq(s.revision, mod_revision(etcd, "/enjoliver/schedules/" + mac[1]),
             "Schedules.Set revision (the schedule key's)")
    s = a.call("Schedules/Set", pb.SetScheduleRequest(mac=dashed_upper(mac[4]), roles=[NODE]),
               token=True)
    check_eq((s.mac, list(s.roles)), (mac[4], [NODE]), "Schedules.Set by a dashed MAC")
    s = a.call("Schedules/Set", pb.SetScheduleRequest(mac=mac[6], roles=[NODE]), token=True)
    # The second MAC of a machine names the machine: the schedule is its boot MAC's.
    s = a.call("Schedules/Set", pb.SetScheduleRequest(mac=synth_macs[1], roles=[NODE]),
               token=True)
    check_eq((s.mac, list(s.roles)), (mac[SYNTH], [NODE]), "Schedules.Set by a second MAC")
    scheduled = {mac[1]: [ETCD_MEMBER, CONTROL_PLANE], mac[4]: [NODE], mac[6]: [NODE],
                 mac[SYNTH]: [NODE]}
    sl = a.call("Schedules/List", pb.ListSchedulesRequest())
    check_eq({x.mac: list(x.roles) for x in sl.schedules}, scheduled, "Schedules.List")
    check_eq(sl.revision, etcd.revision(), "Schedules.List revision")
    for x in sl.schedules:
        check_eq(x.revision, mod_revision(etcd, "/enjoliver/schedules/" + x.mac),
                 "Schedule.revision of %s" % x.mac)
    sl = a.call("Schedules/List", pb.ListSchedulesRequest(role=NODE))
    check_eq(sorted(x.mac for x in sl.schedules), sorted([mac[4], mac[6], mac[SYNTH]]),
             "Schedules.List(role=node)")
    sl = a.call("Schedules/List", pb.ListSchedulesRequest(role=CONTROL_PLANE))
    check_eq([x.mac for x in sl.schedules], [mac[1]], "Schedules.List(role=control plane)")
    a.expect_error("Schedules/List", pb.ListSchedulesRequest(role=7), S.INVALID_ARGUMENT, "role")
    http_sched = a.http_json("GET", "/scheduler")
    check_eq(http_sched, {m: [enjtest.ROLE_NAMES[r] for r in roles]
                          for m, roles in scheduled.items()}, "GET /scheduler vs Schedules.List")
    check_eq(list(a.call("Machines/Get", pb.GetMachineRequest(uuid=uuid[1])).roles),
             [ETCD_MEMBER, CONTROL_PLANE], "Machines.Get roles")
    r = a.call("Machines/List", pb.ListMachinesRequest(role=NODE))
    check_eq([m.uuid for m in r.machines], sorted([uuid[4], uuid[6], uuid[SYNTH]]),
             "List(role=node)")
    r = a.call("Machines/List", pb.ListMachinesRequest(role=ETCD_MEMBER))
    check_eq([m.uuid for m in r.machines], [uuid[1]], "List(role=etcd member)")
    r = a.call("Machines/List", pb.ListMachinesRequest(unscheduled=True))
    check_eq([m.uuid for m in r.machines], sorted([uuid[2], uuid[3], uuid[5]]),
             "List(unscheduled)")
    r = a.call("Machines/List", pb.ListMachinesRequest(unscheduled=True, role=NODE))
    check_eq(list(r.machines), [], "List(unscheduled, role=node)")
    a.expect_error("Schedules/Set", pb.SetScheduleRequest(mac=mac[2], roles=[7]),
                   S.INVALID_ARGUMENT, ["role", "7"], token=True, unchanged=True)
    a.expect_error("Schedules/Set", pb.SetScheduleRequest(mac=mac[2], roles=[NODE, 0]),
                   S.INVALID_ARGUMENT, ["roles[1]", "role"], token=True, unchanged=True)
    a.expect_error("Schedules/Set", pb.SetScheduleRequest(mac=mac[2]),
                   S.INVALID_ARGUMENT, "role", token=True, unchanged=True)
    a.expect_error("Schedules/Set", pb.SetScheduleRequest(mac=UNKNOWN_MAC, roles=[NODE]),
                   S.NOT_FOUND, UNKNOWN_MAC, token=True, unchanged=True)
    a.expect_error("Schedules/Set", pb.SetScheduleRequest(mac="52:54:00:5b:45", roles=[NODE]),
                   S.INVALID_ARGUMENT, ["mac", "52:54:00:5b:45"], token=True, unchanged=True)
    log("Schedules: Set, List, filters, errors, GET /scheduler agrees")

    # ---- rolling-update policy ----------------------------------------------
    ro = a.call("Lifecycle/SetRolling", pb.SetRollingRequest(mac=mac[4], enabled=True,
                                                             strategy="reboot"), token=True)
    check_eq((ro.enabled, ro.strategy), (True, "reboot"), "SetRolling(enable, reboot)")
    ro = a.call("Lifecycle/GetRolling", pb.MachineRef(mac=dashed_upper(mac[4])))
    check_eq((ro.enabled, ro.strategy), (True, "reboot"), "GetRolling after enabling")
    hr = a.http_json("GET", "/lifecycle/rolling/mac=" + mac[4], want=200)
    check_eq((hr["enable"], hr["strategy"]), (True, "reboot"), "GET /lifecycle/rolling (enabled)")
    gm = a.call("Machines/Get", pb.GetMachineRequest(mac=mac[4]))
    check_eq((gm.rolling.enabled, gm.rolling.strategy), (True, "reboot"), "Machine.rolling")
    ro = a.call("Lifecycle/SetRolling", pb.SetRollingRequest(mac=mac[4], enabled=False),
                token=True)
    check_eq(ro.enabled, False, "SetRolling(disable)")
    ro = a.call("Lifecycle/GetRolling", pb.MachineRef(mac=mac[4]))
    check_eq(ro.enabled, False, "GetRolling after disabling")
    status, text = a.http("GET", "/lifecycle/rolling/mac=" + mac[4])
    check_eq(status, 403, "GET /lifecycle/rolling of a disabled machine (%s)" % text)
    ro = a.call("Lifecycle/SetRolling", pb.SetRollingRequest(mac=mac[4], enabled=True),
                token=True)
    check_eq((ro.enabled, ro.strategy), (True, "kexec"), "SetRolling(enable) default strategy")
    ro = a.call("Lifecycle/GetRolling", pb.MachineRef(mac=mac[4]))
    check_eq((ro.enabled, ro.strategy), (True, "kexec"), "GetRolling: kexec")
    check_eq(a.http("GET", "/lifecycle/rolling/mac=" + mac[4])[0], 200,
             "GET /lifecycle/rolling re-enabled")
    ro = a.call("Lifecycle/GetRolling", pb.MachineRef(mac=mac[5]))
    check_eq(ro.enabled, False, "GetRolling of a machine without a policy")
    a.expect_error("Lifecycle/SetRolling", pb.SetRollingRequest(mac=mac[5], enabled=True,
                                                                strategy="warp"),
                   S.INVALID_ARGUMENT, ["strategy", "warp"], token=True, unchanged=True)
    a.expect_error("Lifecycle/SetRolling", pb.SetRollingRequest(mac=UNKNOWN_MAC, enabled=True),
                   S.NOT_FOUND, UNKNOWN_MAC, token=True, unchanged=True)
    a.expect_error("Lifecycle/SetRolling", pb.SetRollingRequest(mac="nope", enabled=True),
                   S.INVALID_ARGUMENT, ["mac", "nope"], token=True, unchanged=True)
    a.expect_error("Lifecycle/GetRolling", pb.MachineRef(mac=UNKNOWN_MAC), S.NOT_FOUND,
                   UNKNOWN_MAC)
    a.expect_error("Lifecycle/GetRolling", pb.MachineRef(mac=""), S.INVALID_ARGUMENT, "mac")
    log("Lifecycle.SetRolling/GetRolling and GET /lifecycle/rolling agree")

    # ---- slots: asked, no leader yet --------------------------------------------
    a.expect_error("Lifecycle/AcquireSlot", pb.MachineRef(mac=mac[5]), S.PERMISSION_DENIED,
                   "rolling", unchanged=True)
    a.expect_error("Lifecycle/AcquireSlot", pb.MachineRef(mac=UNKNOWN_MAC), S.NOT_FOUND,
                   UNKNOWN_MAC, unchanged=True)
    a.expect_error("Lifecycle/AcquireSlot", pb.MachineRef(mac="x"), S.INVALID_ARGUMENT, "mac",
                   unchanged=True)
    st = a.call("Lifecycle/AcquireSlot", pb.MachineRef(mac=mac[4]))
    check_eq((st.state, st.token), (pb.SlotState.WAITING, 0), "AcquireSlot with no leader")
    a.call("Lifecycle/SetRolling", pb.SetRollingRequest(mac=mac[6], enabled=True), token=True)
    st = a.call("Lifecycle/AcquireSlot", pb.MachineRef(mac=dashed_upper(mac[6])))
    check_eq(st.state, pb.SlotState.WAITING, "AcquireSlot (2nd machine) with no leader")
    st = a.call("Lifecycle/AcquireSlot", pb.MachineRef(mac=mac[4]))
    check_eq(st.state, pb.SlotState.WAITING, "AcquireSlot asked again")
    ls = a.call("Lifecycle/ListSlots", pb.ListSlotsRequest())
    check_eq(list(ls.slots), [], "ListSlots: no slot without a leader")
    check_eq(list(ls.waiting), [mac[4], mac[6]], "ListSlots.waiting, in the order asked")
    check_eq(ls.paused, False, "ListSlots.paused")
    a.expect_error("Lifecycle/ReleaseSlot", pb.ReleaseSlotRequest(mac=mac[4]),
                   S.INVALID_ARGUMENT, "token", unchanged=True)

    # ---- ready checks -------------------------------------------------------------
    rr = a.call("Lifecycle/ReportReady", pb.ReportReadyRequest(mac=mac[1], ready=True))
    check_eq(rr.ready, True, "ReportReady(true)")
    rr = a.call("Lifecycle/ReportReady", pb.ReportReadyRequest(
        mac=mac[1], ready=False, failed=["kubelet", "etcd-health"]))
    check_eq(rr.ready, False, "ReportReady(false)")
    ready = a.http_json("GET", "/rollout")["ready"]
    check(json.dumps(ready).count("kubelet") == 1 and mac[1] in json.dumps(ready),
          "GET /rollout does not show %s's failed checks: %s" % (mac[1], ready))
    rr = a.call("Lifecycle/ReportReady", pb.ReportReadyRequest(mac=mac[1], ready=True))
    check_eq(rr.ready, True, "ReportReady(true) again")
    a.expect_error("Lifecycle/ReportReady", pb.ReportReadyRequest(
        mac=mac[1], ready=False, failed=["c%d" % i for i in range(33)]),
        S.INVALID_ARGUMENT, ["failed", "32"], unchanged=True)
    a.expect_error("Lifecycle/ReportReady", pb.ReportReadyRequest(
        mac=mac[1], ready=False, failed=["ok", "x" * 129]),
        S.INVALID_ARGUMENT, ["failed[1]", "128"], unchanged=True)
    a.expect_error("Lifecycle/ReportReady", pb.ReportReadyRequest(
        mac=mac[1], ready=False, failed=[""]), S.INVALID_ARGUMENT, "failed[0]", unchanged=True)
    a.expect_error("Lifecycle/ReportReady", pb.ReportReadyRequest(mac=UNKNOWN_MAC, ready=True),
                   S.NOT_FOUND, UNKNOWN_MAC, unchanged=True)
    a.expect_error("Lifecycle/ReportReady", pb.ReportReadyRequest(mac="1:2:3", ready=True),
                   S.INVALID_ARGUMENT, "mac", unchanged=True)
    log("Lifecycle.ReportReady: answers, limits, GET /rollout agrees")

    # ---- the node's progress in its update ------------------------------------------
    a.call("Lifecycle/ReportStep", pb.ReportStepRequest(mac=mac[1], step="draining", token=7,
                                                        boot_id="boot-1"))
    got = a.call("Machines/Get", pb.GetMachineRequest(mac=mac[1])).progress
    check_eq((got.step, got.token, got.boot_id), ("draining", 7, "boot-1"),
             "Machine.progress after ReportStep")
    prog = [p for p in a.http_json("GET", "/rollout").get("progress", []) if p.get("mac") == mac[1]]
    check(prog and prog[0].get("step") == "draining" and prog[0].get("token") == 7,
          "GET /rollout progress: %s" % prog)
    a.call("Lifecycle/ReportStep", pb.ReportStepRequest(mac=mac[1], step="failed", token=7,
                                                        boot_id="boot-1", failed_step="drain"))
    got = a.call("Machines/Get", pb.GetMachineRequest(mac=mac[1])).progress
    check_eq((got.step, got.failed_step), ("failed", "drain"), "Machine.progress failed")
    a.expect_error("Lifecycle/ReportStep", pb.ReportStepRequest(mac=mac[1], step="dancing"),
                   S.INVALID_ARGUMENT, "step", unchanged=True)
    a.expect_error("Lifecycle/ReportStep", pb.ReportStepRequest(mac=mac[1], step="idle",
                                                                boot_id="a/b"),
                   S.INVALID_ARGUMENT, "boot_id", unchanged=True)
    a.expect_error("Lifecycle/ReportStep", pb.ReportStepRequest(mac=UNKNOWN_MAC, step="idle"),
                   S.NOT_FOUND, UNKNOWN_MAC, unchanged=True)
    log("Lifecycle.ReportStep: Machine.progress and GET /rollout show it; bad steps refused")

    # ---- install reports and the install authorization ------------------------------
    now_ms = int(time.time() * 1000)
    ri = a.call("Lifecycle/ReportInstall", pb.ReportInstallRequest(mac=mac[5], success=True))
    check_eq(ri.success, True, "ReportInstall(success)")
    check(abs(ri.updated_unix_ms - now_ms) < 60000, "ReportInstall.updated_unix_ms %d, now %d"
          % (ri.updated_unix_ms, now_ms))
    ri = a.call("Lifecycle/ReportInstall", pb.ReportInstallRequest(mac=synth_macs[1],
                                                                   success=False))
    check_eq(ri.success, False, "ReportInstall(failure)")
    installs = {x["mac"]: x["success"] for x in a.http_json("GET", "/lifecycle/coreos-install")}
    check_eq(installs, {mac[5]: True, mac[SYNTH]: False}, "GET /lifecycle/coreos-install")
    st5 = a.call("Machines/Get", pb.GetMachineRequest(mac=mac[5])).state.state
    check(st5 != "discovery", "the state of a machine that reported its install: %r" % st5)
    r = a.call("Machines/List", pb.ListMachinesRequest(state=st5))
    check_in(uuid[5], [m.uuid for m in r.machines], "List(state=%s)" % st5)
    a.expect_error("Lifecycle/ReportInstall", pb.ReportInstallRequest(mac=UNKNOWN_MAC),
                   S.NOT_FOUND, UNKNOWN_MAC, unchanged=True)
    a.expect_error("Lifecycle/ReportInstall", pb.ReportInstallRequest(mac="52-54"),
                   S.INVALID_ARGUMENT, "mac", unchanged=True)

    now_ms = int(time.time() * 1000)
    ai = a.call("Lifecycle/AuthorizeInstall", pb.AuthorizeInstallRequest(mac=mac[2]))
    check_eq((ai.granted, ai.holder), (True, ""), "AuthorizeInstall: the first machine")
    check(now_ms < ai.expires_unix_ms <= now_ms + 46000 + 5000,
          "AuthorizeInstall.expires_unix_ms %d (now %d, lock 45 s)" % (ai.expires_unix_ms, now_ms))
    ai = a.call("Lifecycle/AuthorizeInstall", pb.AuthorizeInstallRequest(mac=mac[2]))
    check_eq(ai.granted, True, "AuthorizeInstall asked again by the holder")
    ai = a.call("Lifecycle/AuthorizeInstall", pb.AuthorizeInstallRequest(mac=mac[3]))
    check_eq(ai.granted, False, "AuthorizeInstall: a second machine while the first installs")
    check_in(mac[2], ai.holder, "AuthorizeInstall.holder")
    holder_seen = ai.holder  # judged at the end: "the machine holding it"
    status, text = a.http("GET", "/install-authorization/mac=" + mac[3])
    check(status == 403 and mac[2] in text, "GET /install-authorization while %s holds it: %d %s"
          % (mac[2], status, text))
    # Another machine's report does not free it.
    a.call("Lifecycle/ReportInstall", pb.ReportInstallRequest(mac=mac[5], success=True))
    ai = a.call("Lifecycle/AuthorizeInstall", pb.AuthorizeInstallRequest(mac=mac[3]))
    check_eq(ai.granted, False, "AuthorizeInstall after a report by a machine not holding it")
    a.call("Lifecycle/ReportInstall", pb.ReportInstallRequest(mac=mac[2], success=True))
    ai = a.call("Lifecycle/AuthorizeInstall", pb.AuthorizeInstallRequest(mac=mac[3]))
    check_eq(ai.granted, True, "AuthorizeInstall: the second, once the first reported")
    a.call("Lifecycle/ReportInstall", pb.ReportInstallRequest(mac=mac[3], success=True))
    a.expect_error("Lifecycle/AuthorizeInstall", pb.AuthorizeInstallRequest(mac="zz"),
                   S.INVALID_ARGUMENT, "mac", unchanged=True)
    a.expect_error("Lifecycle/AuthorizeInstall", pb.AuthorizeInstallRequest(mac=UNKNOWN_MAC),
                   S.NOT_FOUND, UNKNOWN_MAC, unchanged=True)
    log("Lifecycle.ReportInstall/AuthorizeInstall")

    # ---- Ignition reports ------------------------------------------------------------
    doc = {"ignition": {"version": "2.2.0"},
           "storage": {"files": [{"path": "/etc/hostname", "filesystem": "root",
                                  "contents": {"source": "data:,m04"}}]}}
    mb.serve_ignition(dashed_upper(mac[4]).lower(), json.dumps(doc, indent=2))
    ig = a.call("Lifecycle/ReportIgnition", pb.ReportIgnitionRequest(
        mac=mac[4], ignition_json=json.dumps(doc)))
    check_eq((ig.reported, ig.up_to_date), (True, True), "ReportIgnition of what matchbox serves")
    check(ig.reported_unix_ms > 0, "ReportIgnition.reported_unix_ms")
    # The same JSON value, keys in another order and no spaces.
    same = json.dumps({"storage": doc["storage"], "ignition": doc["ignition"]},
                      separators=(",", ":"), sort_keys=False)
    ig = a.call("Lifecycle/ReportIgnition", pb.ReportIgnitionRequest(
        mac=dashed_upper(mac[4]), ignition_json=same))
    check_eq(ig.up_to_date, True, "ReportIgnition of the same JSON, keys reordered")
    ig = a.call("Lifecycle/ReportIgnition", pb.ReportIgnitionRequest(
        mac=mac[4], ignition_json=json.dumps(doc),
        selectors="uuid=%s&mac=%s&os=installed" % (uuid[4], dashed_upper(mac[4]).lower())))
    check_eq(ig.up_to_date, True, "ReportIgnition with explicit selectors")
    other = json.loads(json.dumps(doc))
    other["storage"]["files"][0]["contents"]["source"] = "data:,other"
    ig = a.call("Lifecycle/ReportIgnition", pb.ReportIgnitionRequest(
        mac=mac[4], ignition_json=json.dumps(other)))
    check_eq((ig.reported, ig.up_to_date), (True, False), "ReportIgnition of another Ignition")
    gm = a.call("Machines/Get", pb.GetMachineRequest(mac=mac[4]))
    check_eq((gm.ignition.reported, gm.ignition.up_to_date), (True, False), "Machine.ignition")
    hi = [x for x in a.http_json("GET", "/lifecycle/ignition") if x.get("mac") == mac[4]]
    check(len(hi) == 1 and hi[0].get("up-to-date") is False,
          "GET /lifecycle/ignition for %s: %s" % (mac[4], hi))
    gm5 = a.call("Machines/Get", pb.GetMachineRequest(mac=mac[5]))
    check_eq(gm5.ignition.reported, False, "Machine.ignition.reported of a silent machine")
    a.expect_error("Lifecycle/ReportIgnition", pb.ReportIgnitionRequest(
        mac=mac[4], ignition_json="[1, 2]"), S.INVALID_ARGUMENT, ["ignition_json", "object"],
        unchanged=True)
    a.expect_error("Lifecycle/ReportIgnition", pb.ReportIgnitionRequest(
        mac=mac[4], ignition_json="{not json"), S.INVALID_ARGUMENT, "ignition_json",
        unchanged=True)
    a.expect_error("Lifecycle/ReportIgnition", pb.ReportIgnitionRequest(
        mac=mac[4], ignition_json="{}", selectors="mac=x y"), S.INVALID_ARGUMENT, "selectors",
        unchanged=True)
    # matchbox serves nothing for M05: the report cannot be judged.
    a.expect_error("Lifecycle/ReportIgnition", pb.ReportIgnitionRequest(
        mac=mac[5], ignition_json="{}"), S.FAILED_PRECONDITION, "matchbox", unchanged=True)
    # An unknown machine, although matchbox serves something for its MAC.
    mb.serve_ignition(dashed_upper(UNKNOWN_MAC).lower(), json.dumps(doc))
    a.expect_error("Lifecycle/ReportIgnition", pb.ReportIgnitionRequest(
        mac=UNKNOWN_MAC, ignition_json=json.dumps(doc)), S.NOT_FOUND, UNKNOWN_MAC,
        unchanged=True)
    d = ctx.start_enj(etcd, "d")  # no --matchbox-uri
    hd = d.health()
    check(hd.matchbox and hd.replica == "d", "Health of a replica without matchbox: %s" % hd)
    d.expect_error("Lifecycle/ReportIgnition", pb.ReportIgnitionRequest(
        mac=mac[4], ignition_json=json.dumps(doc)), S.FAILED_PRECONDITION, "matchbox-uri",
        unchanged=True)
    # Without an admin token configured, admin RPCs are open.
    s = d.call("Schedules/Set", pb.SetScheduleRequest(mac=mac[6], roles=[NODE]))
    check_eq(list(s.roles), [NODE], "Schedules.Set on a replica without an admin token")
    d.stop()
    log("Lifecycle.ReportIgnition with the stand-in matchbox, and without one")

    # ---- Backups --------------------------------------------------------------------------
    backup_dir = os.path.join(ctx.tmp, "backups-a")
    msgs = list(a.stream("Backups/Create", pb.CreateBackupRequest(), token=True, timeout=30))
    check_eq(len(msgs), 1, "Backups.Create without download: messages")
    info = msgs[0].info
    check(msgs[0].HasField("info") and not msgs[0].data, "the first chunk carries the info only")
    check(os.path.dirname(info.path) == backup_dir and os.path.isfile(info.path),
          "backup path %r (in %s)" % (info.path, backup_dir))
    check(info.size_bytes > 0 and info.size_bytes == os.path.getsize(info.path),
          "backup size %d, file %d" % (info.size_bytes, os.path.getsize(info.path)))
    check(0 < info.revision <= etcd.revision(), "backup revision %d" % info.revision)
    msgs = list(a.stream("Backups/Create", pb.CreateBackupRequest(download=True), token=True,
                         timeout=30))
    check(len(msgs) >= 2 and msgs[0].HasField("info"), "Backups.Create(download): %d messages"
          % len(msgs))
    info = msgs[0].info
    data = b"".join(m.data for m in msgs[1:])
    check(all(0 < len(m.data) <= 256 * 1024 and not m.HasField("info") for m in msgs[1:]),
          "download chunks: sizes %s" % [len(m.data) for m in msgs[1:]])
    check_eq(len(data), info.size_bytes, "downloaded bytes")
    with open(info.path, "rb") as f:
        check_eq(hashlib.sha256(data).hexdigest(), hashlib.sha256(f.read()).hexdigest(),
                 "sha256 of the download and of %s" % info.path)
    log("Backups.Create: %d bytes at revision %d, download identical" % (len(data),
                                                                        info.revision))

    # ---- what cannot reach a handler ------------------------------------------------------
    raw = a.channel.unary_unary("/enjoliver.v1.Machines/Nope", request_serializer=lambda b: b,
                                response_deserializer=lambda b: b)
    try:
        raw(b"", timeout=5)
        check(False, "Machines/Nope succeeded")
    except grpc.RpcError as e:
        check_eq(e.code(), S.UNIMPLEMENTED, "an unknown method")
        check_in("Nope", e.details() or "", "the message of an unknown method")
    for path in ("/enjoliver.v1.Machines/Get", "/enjoliver.v1.Lifecycle/ReportInstall"):
        before = etcd.revision()
        garbage = a.channel.unary_unary(path, request_serializer=lambda b: b,
                                        response_deserializer=lambda b: b)
        try:
            garbage(b"\xff\xff", timeout=5)
            check(False, "%s accepted a garbage body" % path)
        except grpc.RpcError as e:
            check_eq(e.code(), S.INVALID_ARGUMENT, "a garbage body to %s" % path)
            log("  garbage body to %s -> %s" % (path, e.details()))
            check_in("not a valid enjoliver.v1.", e.details() or "",
                     "the message for a garbage body")
        check_eq(etcd.revision(), before, "etcd revision after a garbage body to %s" % path)
    log("unknown method and garbage body")

    # ---- a leader: slots granted, events recorded ------------------------------------------
    c = ctx.start_enj(etcd, "c", reconcile=True, admin_token=TOKEN, extra=["--lease-ttl", "2"])

    def first_grant():
        ls = a.call("Lifecycle/ListSlots", pb.ListSlotsRequest())
        return ls if ls.slots else None

    ls = wait_until(first_grant, 20, "a slot granted by the leader")
    check_eq(len(ls.slots), 1, "slots held at once (max_unavailable 1): %s" % ls)
    holder = ls.slots[0].mac
    other = mac[6] if holder == mac[4] else mac[4]
    check_in(holder, [mac[4], mac[6]], "the slot holder")
    check_eq(list(ls.waiting), [other], "ListSlots.waiting with one slot granted")
    slot = ls.slots[0]
    check_eq(slot.granted_by, "c", "Slot.granted_by")
    check(abs(slot.granted_unix_ms - time.time() * 1000) < 60000, "Slot.granted_unix_ms")
    check_eq(slot.token, mod_revision(etcd, "/enjoliver/rollout/slots/" + holder),
             "the slot's token (its key's mod revision)")
    st = a.call("Lifecycle/AcquireSlot", pb.MachineRef(mac=holder))
    check_eq((st.state, st.token), (pb.SlotState.GRANTED, slot.token), "AcquireSlot by the holder")
    st = a.call("Lifecycle/AcquireSlot", pb.MachineRef(mac=other))
    check_eq(st.state, pb.SlotState.WAITING, "AcquireSlot by the other while one is held")
    gm = a.call("Machines/Get", pb.GetMachineRequest(mac=holder))
    check(gm.HasField("slot") and gm.slot.token == slot.token, "Machine.slot: %s" % gm.slot)
    h = c.health()
    check(h.is_leader and h.leader == "c" and h.replica == "c", "c's health: %s" % h)
    check_eq(a.health().is_leader, False, "a.is_leader while c leads")
    settle(etcd)
    a.expect_error("Lifecycle/ReleaseSlot", pb.ReleaseSlotRequest(mac=holder,
                                                                  token=slot.token + 1000),
                   S.FAILED_PRECONDITION, "token", unchanged=True)
    st = a.call("Lifecycle/ReleaseSlot", pb.ReleaseSlotRequest(mac=holder, token=slot.token))
    check_eq(st.state, pb.SlotState.RELEASED, "ReleaseSlot with the slot's token")
    gm = a.call("Machines/Get", pb.GetMachineRequest(mac=holder))
    check(not gm.HasField("slot"), "Machine.slot after the release: %s" % gm.slot)

    def grant_of(m):
        ls = a.call("Lifecycle/ListSlots", pb.ListSlotsRequest())
        return ls if [s.mac for s in ls.slots] == [m] else None

    ls = wait_until(lambda: grant_of(other), 20, "the slot granted to the waiting machine")
    check_eq(list(ls.waiting), [], "ListSlots.waiting once both were served")
    check(ls.last_release_unix_ms > 0, "ListSlots.last_release_unix_ms after a release")
    st = a.call("Lifecycle/AcquireSlot", pb.MachineRef(mac=other))
    check_eq(st.state, pb.SlotState.GRANTED, "AcquireSlot by the second holder")
    st = a.call("Lifecycle/ReleaseSlot", pb.ReleaseSlotRequest(mac=other, token=st.token))
    check_eq(st.state, pb.SlotState.RELEASED, "ReleaseSlot by the second holder")
    log("slots: waiting, granted by the leader, stale tokens refused, released")

    # Events: the leader gave roles to the unscheduled machines and slots.
    def role_events():
        ev = a.call("Events/List", pb.ListEventsRequest()).events
        given = {e.machine for e in ev if e.kind == "role-given"}
        return ev if {mac[2], mac[3], mac[5]} <= given else None

    events = wait_until(role_events, 20, "role-given events for the unscheduled machines")
    check(len(events) > 3, "events: %d" % len(events))
    revs = [e.revision for e in events]
    # Newest first: in the order etcd recorded them (revisions); the replicas'
    # clocks (unix_ms) may disagree by a few milliseconds.
    check_eq(revs, sorted(revs, reverse=True), "Events.List: newest first (revision)")
    check_eq(len(set(revs)), len(revs), "event revisions distinct")
    ev_keys = {v[0] for k, v in etcd.get_prefix("/enjoliver/events/").items()}
    for e in events:
        check_in(e.revision, ev_keys, "event revision (an events/ key's mod revision)")
        check(e.kind and e.replica == "c" and e.unix_ms > 0, "event fields: %s" % e)
    kinds = {e.kind for e in events}
    check_in("slot-granted", kinds, "event kinds")
    lim = a.call("Events/List", pb.ListEventsRequest(limit=3))
    check_eq(list(lim.events), list(events[:3]), "Events.List(limit=3): the 3 newest")
    mine = a.call("Events/List", pb.ListEventsRequest(machine=dashed_upper(mac[2]))).events
    check(mine and all(e.machine == mac[2] for e in mine),
          "Events.List(machine=%s): %s" % (mac[2], [(e.kind, e.machine) for e in mine]))
    check_eq(list(mine), [e for e in events if e.machine == mac[2]],
             "Events.List(machine) is the full list filtered")
    a.expect_error("Events/List", pb.ListEventsRequest(limit=1001), S.INVALID_ARGUMENT,
                   ["limit", "1000"])
    a.expect_error("Events/List", pb.ListEventsRequest(machine="m02"), S.INVALID_ARGUMENT,
                   "machine")
    http_events = a.http_json("GET", "/events")
    check(json.dumps(http_events).count("role-given") >= 3, "GET /events: %s"
          % json.dumps(http_events)[:500])
    log("Events.List: %d events, limit and machine filters" % len(events))
    # Last, as they fail today (each is tried; all failures are reported).
    late = enjtest.Checks()
    # A stale token: the slot it names was released already. The proto
    # says FAILED_PRECONDITION ("the token is not the slot's (stale)").
    late.run(lambda: a.expect_error(
        "Lifecycle/ReleaseSlot", pb.ReleaseSlotRequest(mac=holder, token=slot.token),
        S.FAILED_PRECONDITION, "token", unchanged=True))
    # An API-only replica names the leader too (HealthResponse.leader: "the
    # leading replica's name, "" when none").
    def a_names_c():
        seen = []
        try:
            wait_until(lambda: seen.append(a.health().leader) or seen[-1] == "c", 5, "")
        except enjtest.Failure:
            raise enjtest.Failure("Health.Check.leader on the API-only replica a while c leads:"
                                  " %r for 5 s, want 'c'" % seen[-1])

    late.run(a_names_c)
    # AuthorizeInstallResponse.holder: "the machine holding it", i.e. its
    # MAC as every other field gives one (lower case, colons).
    late.run(lambda: check_eq(holder_seen, mac[2], "AuthorizeInstall.holder (a refused call)"))
    late.done()
    c.stop()
    a.stop()


if __name__ == "__main__":
    enjtest.main(run)

#!/usr/bin/python3
"""Watch semantics of the gRPC API, judged against etcd's own history:

  - Machines.Watch without resume: a SNAPSHOT per machine, one SNAPSHOT_END
    with the revision, then PUT and DELETE changes;
  - 100 concurrent watchers get the same changes, each once, in order, and
    each change's revision is one at which a key of that machine changed;
  - a watcher that stopped at R and resumes from R + 1 gets exactly what the
    others got after R; a resume from a revision older than the replica's
    history is OUT_OF_RANGE, and List + watch from its revision + 1 works;
  - Events.Watch: the latest events, the marker (empty kind), new events;
  - failover: watchers on the replica that does not lead go on, without an
    error, when the leader is SIGKILLed, and the survivor takes the lead.
"""
import collections
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402

import enjtest  # noqa: E402
from enjtest import PREFIX, Watcher, check, check_eq, check_in, dashed_upper, log  # noqa: E402
from enjtest import wait_until  # noqa: E402

TOKEN = "grpc-watch-admin-token-77e1b0d4"
S = grpc.StatusCode
N_WATCHERS = 100
ETCD_MEMBER, CONTROL_PLANE, NODE = 1, 2, 3


def brief(ev):
    """(revision, uuid, type name) of a MachineEvent."""
    return (ev.revision, ev.machine.uuid, ev.DESCRIPTOR.fields_by_name["type"].enum_type
            .values_by_number[ev.type].name)


def machine_changes(etcd, from_rev, to_rev, boot_of):
    """{uuid: {revision: "PUT" or "DELETE"}} from etcd's history: the
    revisions at which a key of the machine changed (its record: PUT or
    DELETE; a key kept by its boot MAC: PUT)."""
    by_mac = {m: u for u, m in boot_of.items()}
    out = collections.defaultdict(dict)
    for rev, key, typ in etcd.history(from_rev, to_rev):
        rel = key[len(PREFIX):]
        if rel.startswith("machines/"):
            u = rel[len("machines/"):]
            if typ == "DELETE" or out[u].get(rev) != "DELETE":
                out[u][rev] = typ
            continue
        for kind in enjtest.MACHINE_KEYS_BY_MAC:
            if rel.startswith(kind) and rel[len(kind):] in by_mac:
                out[by_mac[rel[len(kind):]]].setdefault(rev, "PUT")
    return out


def check_against_history(events, changes, what, strict=True):
    """events: [(revision, uuid, type)] of one watcher after its snapshot.
    Each is a change of that machine at that revision (a DELETE where its
    record went), none twice, in revision order, and every machine's last
    change is delivered."""
    revs = [e[0] for e in events]
    if strict:
        check(all(x < y for x, y in zip(revs, revs[1:])),
              "%s: revisions not strictly increasing: %s" % (what, revs))
    else:
        check(all(x <= y for x, y in zip(revs, revs[1:])),
              "%s: revisions going back: %s" % (what, revs))
    check_eq(len(set((e[0], e[1]) for e in events)), len(events),
             "%s: (revision, machine) pairs distinct" % what)
    per = collections.defaultdict(list)
    for rev, uuid, typ in events:
        check_in(typ, ("PUT", "DELETE"), "%s: event type" % what)
        ch = changes.get(uuid, {})
        check(rev in ch, "%s: %s %s at revision %d, where etcd changed none of its keys "
              "(its changes: %s)" % (what, typ, uuid, rev, sorted(ch)))
        check_eq(typ, ch[rev], "%s: type of the change of %s at %d" % (what, uuid, rev))
        per[uuid].append(rev)
    for uuid, ch in changes.items():
        check(uuid in per, "%s: no event for %s, changed in etcd at %s" % (what, uuid, sorted(ch)))
        check_eq(max(per[uuid]), max(ch), "%s: the last change of %s" % (what, uuid))


def read_snapshot(w, n, what, timeout=20):
    """Waits for the SNAPSHOT_END; checks the n SNAPSHOTs before it."""
    pb_end = 2
    msgs = w.wait(lambda m: any(x.type == pb_end for x in m), timeout, what + ": SNAPSHOT_END")
    end = next(i for i, x in enumerate(msgs) if x.type == pb_end)
    snap = msgs[:end]
    check(all(x.type == 1 for x in snap), "%s: types before SNAPSHOT_END: %s"
          % (what, [x.type for x in snap]))
    check_eq(len(snap), n, "%s: SNAPSHOT messages" % what)
    check_eq(len({x.machine.uuid for x in snap}), n, "%s: machines in the snapshot" % what)
    check(not msgs[end].HasField("machine"), "%s: SNAPSHOT_END carries no machine" % what)
    check(all(x.revision == msgs[end].revision for x in snap),
          "%s: snapshot revisions %s vs end %d" % (what, [x.revision for x in snap],
                                                   msgs[end].revision))
    return snap, msgs[end].revision, end + 1


def run(ctx):
    pb = ctx.pb
    etcd = ctx.start_etcd()
    a = ctx.start_enj(etcd, "a", admin_token=TOKEN)
    boot_of = {}
    uuid = {}

    def discover(i, enj=None):
        (enj or a).discover(i)
        uuid[i], m = ctx.machine_of(i)
        boot_of[uuid[i]] = m

    for i in range(1, 6):
        discover(i)
    mac = {i: ctx.machine_of(i)[1] for i in range(1, 24)}
    for i in range(1, 24):
        boot_of.setdefault(ctx.machine_of(i)[0], mac[i])

    # ---- one watcher: snapshot, end, PUT, DELETE ------------------------------
    w = Watcher(a, "Machines/Watch", pb.WatchMachinesRequest())
    snap, s_rev, n0 = read_snapshot(w, 5, "first watcher")
    check_eq(s_rev, etcd.revision(), "SNAPSHOT_END revision (etcd's)")
    check_eq(sorted(x.machine.uuid for x in snap), sorted(uuid[i] for i in range(1, 6)),
             "snapshot machines")
    for x in snap:
        check_eq(x.machine, a.call("Machines/Get", pb.GetMachineRequest(uuid=x.machine.uuid)),
                 "a snapshot's machine and Machines.Get")
    discover(6)
    rev6 = etcd.get_prefix(PREFIX + "machines/" + uuid[6])[PREFIX + "machines/" + uuid[6]][0]
    msgs = w.wait(lambda m: len(m) > n0, 10, "the PUT of a new machine")
    check_eq(brief(msgs[n0]), (rev6, uuid[6], "PUT"), "the new machine's event")
    check_eq(msgs[n0].machine, a.call("Machines/Get", pb.GetMachineRequest(uuid=uuid[6])),
             "the PUT's machine and Machines.Get")
    a.forget(uuid[6])
    del_rev = etcd.revision()
    msgs = w.wait(lambda m: len(m) > n0 + 1, 10, "the DELETE of a forgotten machine")
    ev = msgs[n0 + 1]
    check_eq(brief(ev), (del_rev, uuid[6], "DELETE"), "the forgotten machine's event")
    check_eq(ev.machine.boot_mac, mac[6], "DELETE: boot_mac")
    check_eq((len(ev.machine.interfaces), ev.machine.created_unix_ms), (0, 0),
             "DELETE: only uuid and boot_mac")
    check(w.error is None, "the watcher failed: %s" % w.describe_error())
    w.cancel()
    del uuid[6]
    log("Machines.Watch: snapshot, SNAPSHOT_END at %d, PUT, DELETE" % s_rev)

    # Bad watch requests.
    for req, code, say in ((pb.WatchMachinesRequest(mac="nope"), S.INVALID_ARGUMENT, "mac"),
                           (pb.WatchMachinesRequest(resume_revision=-4), S.INVALID_ARGUMENT,
                            "resume_revision")):
        a.expect_error("Machines/Watch", req, code, say)

    # ---- 100 watchers, ~30 changes ---------------------------------------------
    channels = [a.new_channel() for _ in range(10)]
    watchers = [Watcher(a, "Machines/Watch", pb.WatchMachinesRequest(),
                        channel=channels[i % len(channels)]) for i in range(N_WATCHERS)]
    stopper = Watcher(a, "Machines/Watch", pb.WatchMachinesRequest())
    filtered = Watcher(a, "Machines/Watch", pb.WatchMachinesRequest(mac=dashed_upper(mac[5])))
    starts = []
    for k, x in enumerate(watchers + [stopper]):
        snap, rev, n = read_snapshot(x, 5, "watcher %d" % k)
        starts.append((rev, n, [m.SerializeToString() for m in snap]))
    check_eq(len({(r, n, b"".join(sorted(s))) for r, n, s in starts}), 1,
             "the watchers' snapshots (all the same)")
    base_rev, n_snap = starts[0][0], starts[0][1]
    fsnap, _, fn0 = read_snapshot(filtered, 1, "the watcher of one MAC")
    check_eq(fsnap[0].machine.uuid, uuid[5], "the filtered snapshot's machine")
    t0 = time.monotonic()

    def sched(i, roles):
        a.call("Schedules/Set", pb.SetScheduleRequest(mac=mac[i], roles=roles), token=True)

    def rolling(i, enabled, strategy=""):
        a.call("Lifecycle/SetRolling", pb.SetRollingRequest(mac=mac[i], enabled=enabled,
                                                            strategy=strategy), token=True)

    changes = [
        lambda: discover(6), lambda: discover(7), lambda: discover(8), lambda: discover(9),
        lambda: sched(1, [ETCD_MEMBER, CONTROL_PLANE]), lambda: sched(2, [NODE]),
        lambda: sched(5, [NODE]), lambda: rolling(2, True), lambda: rolling(3, True, "reboot"),
        lambda: rolling(2, False), lambda: discover(10), lambda: discover(11),
        lambda: a.forget(uuid[9]), lambda: rolling(5, True),
        lambda: a.call("Lifecycle/ReportInstall", pb.ReportInstallRequest(mac=mac[4],
                                                                          success=True)),
        # -- the stopper stops here --
        lambda: discover(1),  # a known machine reports again
        lambda: sched(6, [NODE]), lambda: sched(7, [NODE]), lambda: a.forget(uuid[10]),
        lambda: discover(12), lambda: discover(13), lambda: rolling(12, True, "poweroff"),
        lambda: a.forget(uuid[12]), lambda: sched(8, [NODE]),
        lambda: a.call("Lifecycle/ReportInstall", pb.ReportInstallRequest(mac=mac[5],
                                                                          success=False)),
        lambda: rolling(5, False), lambda: sched(11, [ETCD_MEMBER, CONTROL_PLANE]),
        lambda: discover(5), lambda: rolling(13, True), lambda: sched(13, [NODE]),
    ]
    stop_after = 15
    stop_rev = None
    for k, change in enumerate(changes, 1):
        change()
        if k == stop_after:
            stop_rev = etcd.revision()
            stopper.wait(lambda m: m and m[-1].revision >= stop_rev, 10,
                         "the stopper's events up to %d" % stop_rev)
            stopper.cancel()
    final_rev = etcd.revision()
    log("%d changes made, revisions %d..%d, in %.2f s"
        % (len(changes), base_rev + 1, final_rev, time.monotonic() - t0))
    for k, x in enumerate(watchers):
        x.wait(lambda m: m[-1].revision >= final_rev, 20, "watcher %d up to %d" % (k, final_rev))
    time.sleep(0.3)  # nothing more may come
    lists = []
    for k, x in enumerate(watchers):
        check(x.error is None and not x.ended, "watcher %d ended: %s" % (k, x.describe_error()))
        lists.append([m.SerializeToString() for m in x.snapshot()[n_snap:]])
    for k, li in enumerate(lists):
        if li != lists[0]:
            raise enjtest.Failure("watcher %d got %s, watcher 0 got %s" % (
                k, [brief(pb.MachineEvent.FromString(b)) for b in li],
                [brief(pb.MachineEvent.FromString(b)) for b in lists[0]]))
    ref = [pb.MachineEvent.FromString(b) for b in lists[0]]
    ref_brief = [brief(e) for e in ref]
    hist = machine_changes(etcd, base_rev + 1, final_rev, boot_of)
    check_against_history(ref_brief, hist, "the watchers' changes")
    n_hist = sum(len(v) for v in hist.values())
    log("%d watchers: the same %d events (%d machine changes in etcd), each at a revision "
        "where that machine changed" % (N_WATCHERS, len(ref), n_hist))
    # The last PUT of each machine still there shows it as Machines.Get does.
    last = {}
    for e in ref:
        last[e.machine.uuid] = e
    for u, e in last.items():
        if e.type == pb.MachineEvent.PUT:
            check_eq(e.machine, a.call("Machines/Get", pb.GetMachineRequest(uuid=u)),
                     "the last PUT of %s and Machines.Get" % u)
    # The watcher of one MAC got that machine's events only.
    fmsgs = filtered.wait(lambda m: [brief(x) for x in m[fn0:]] ==
                          [b for b in ref_brief if b[1] == uuid[5]], 10,
                          "the MAC watcher's events (%s)" % [b for b in ref_brief
                                                             if b[1] == uuid[5]])
    check(len(fmsgs) > fn0, "the MAC watcher got no event")
    filtered.cancel()

    # ---- resume ---------------------------------------------------------------------
    got = stopper.snapshot()[n_snap:]
    check(got, "the stopper got no event before it stopped")
    r = got[-1].revision
    check_eq([m.SerializeToString() for m in got], lists[0][:len(got)],
             "the stopper's events before it stopped")
    resumed = Watcher(a, "Machines/Watch", pb.WatchMachinesRequest(resume_revision=r + 1))
    want = [b for b, e in zip(lists[0], ref) if e.revision > r]
    check(want, "no event after the stop point %d" % r)
    msgs = resumed.wait(lambda m: len(m) >= len(want), 10, "the resumed watcher")
    time.sleep(0.3)
    check_eq([brief(m) for m in resumed.snapshot()], [brief(e) for e in ref if e.revision > r],
             "the resumed watcher's events after %d" % r)
    check_eq([m.SerializeToString() for m in resumed.snapshot()], want,
             "the resumed watcher's events (bytes)")
    resumed.cancel()
    # From the middle of a revision's events: resume at an event's own revision.
    mid = ref[len(ref) // 3]
    resumed = Watcher(a, "Machines/Watch", pb.WatchMachinesRequest(resume_revision=mid.revision))
    want = [brief(e) for e in ref if e.revision >= mid.revision]
    resumed.wait(lambda m: len(m) >= len(want), 10, "the watcher resumed at %d" % mid.revision)
    check_eq([brief(m) for m in resumed.snapshot()], want, "events from %d on" % mid.revision)
    resumed.cancel()
    log("resume: from %d and from %d, the same events as the uninterrupted watchers"
        % (r + 1, mid.revision))

    msg = a.expect_error("Machines/Watch", pb.WatchMachinesRequest(resume_revision=1),
                         S.OUT_OF_RANGE, ["revision 1", "list again"])
    log("resume from 1: OUT_OF_RANGE: %s" % msg)
    lst = a.call("Machines/List", pb.ListMachinesRequest())
    w2 = Watcher(a, "Machines/Watch", pb.WatchMachinesRequest(resume_revision=lst.revision + 1))
    discover(14)
    rev14 = etcd.revision()
    msgs = w2.wait(lambda m: m and m[-1].revision >= rev14, 10, "the watch from List + 1")
    check_eq([brief(m) for m in msgs], [(rev14, uuid[14], "PUT")],
             "the watch from the List's revision + 1")
    w2.cancel()
    # A resume from a revision this replica has not reached yet (as when a
    # client moves to a replica whose cache lags behind the one it watched):
    # "the changes from R on" -- nothing older than R.
    cur = etcd.revision()
    ahead = Watcher(a, "Machines/Watch", pb.WatchMachinesRequest(resume_revision=cur + 3))
    for k in range(4):
        a.call("Lifecycle/SetRolling", pb.SetRollingRequest(mac=mac[1], enabled=k % 2 == 0),
               token=True)
    ahead.wait(lambda m: m and m[-1].revision >= cur + 4, 10, "the watch resumed ahead")
    time.sleep(0.2)
    ahead_got = [brief(m) for m in ahead.snapshot()]
    ahead.cancel()
    late = enjtest.Checks()
    late.run(lambda: check_eq(ahead_got, [(cur + 3, uuid[1], "PUT"), (cur + 4, uuid[1], "PUT")],
                              "a watch resumed from %d (etcd at %d)" % (cur + 3, cur)))
    for x in watchers:
        x.cancel()
    for ch in channels:
        ch.close()

    # ---- Events.Watch ----------------------------------------------------------------------
    b = ctx.start_enj(etcd, "b", reconcile=True, admin_token=TOKEN, extra=["--lease-ttl", "2"])
    wait_until(lambda: b.health().is_leader, 10, "b leads")
    # The leader gives roles to the machines that have none: events.
    wait_until(lambda: len(a.call("Events/List", pb.ListEventsRequest()).events) >= 5, 15,
               "the leader's first events")
    deadline = time.monotonic() + 15
    while True:  # until the leader is done for now
        before = etcd.revision()
        time.sleep(0.6)
        if etcd.revision() == before:
            break
        check(time.monotonic() < deadline, "the leader never stops writing")
    listed = list(a.call("Events/List", pb.ListEventsRequest(limit=1000)).events)
    ew = Watcher(a, "Events/Watch", pb.WatchEventsRequest())
    msgs = ew.wait(lambda m: any(not e.kind for e in m), 10, "the Events.Watch marker")
    k = next(i for i, e in enumerate(msgs) if not e.kind)
    check_eq(sorted(msgs[:k], key=lambda e: e.revision), sorted(listed, key=lambda e: e.revision),
             "Events.Watch before the marker: the events Events.List shows")
    check(msgs[k].revision >= max(e.revision for e in listed),
          "the marker's revision %d" % msgs[k].revision)
    ew2 = Watcher(a, "Events/Watch", pb.WatchEventsRequest(limit=2))
    m2 = ew2.wait(lambda m: any(not e.kind for e in m), 10, "the marker (limit 2)")
    check_eq(len(m2), 3, "Events.Watch(limit=2): 2 events and the marker")
    check_eq(sorted(m2[:2], key=lambda e: e.revision), sorted(listed[:2], key=lambda e: e.revision),
             "Events.Watch(limit=2): the 2 newest")
    discover(15, enj=a)  # the leader gives it a role: an event
    msgs = ew.wait(lambda m: any(e.kind == "role-given" and e.machine == mac[15] for e in m[k:]),
                   15, "the role-given event of a new machine")
    new = msgs[k + 1:]
    check(all(e.revision > msgs[k].revision and e.kind for e in new),
          "events after the marker: %s" % [(e.kind, e.revision) for e in new])
    revs = [e.revision for e in new]
    check_eq(revs, sorted(set(revs)), "new events in revision order, each once")
    ev_keys = {v[0] for v in etcd.get_prefix(PREFIX + "events/").values()}
    for e in new:
        check_in(e.revision, ev_keys, "a new event's revision (its key's)")
        check_eq(e.replica, "b", "the new event's replica")
    m2 = ew2.wait(lambda m: any(e.machine == mac[15] for e in m[3:]), 10,
                  "the new event on the limit-2 watcher")
    check(ew.error is None and ew2.error is None, "Events.Watch failed: %s %s"
          % (ew.describe_error(), ew2.describe_error()))
    ew.cancel()
    ew2.cancel()
    # Resumed at the first new event's revision: the same events again.
    ew3 = Watcher(a, "Events/Watch", pb.WatchEventsRequest(resume_revision=new[0].revision))
    ew3.wait(lambda m: len(m) >= len(new), 10, "Events.Watch resumed at %d" % new[0].revision)
    time.sleep(0.2)
    check_eq(ew3.snapshot()[:len(new)], new, "Events.Watch resumed: the events from there on")
    ew3.cancel()
    a.expect_error("Events/Watch", pb.WatchEventsRequest(limit=1001), S.INVALID_ARGUMENT, "limit")
    a.expect_error("Events/Watch", pb.WatchEventsRequest(resume_revision=1), S.OUT_OF_RANGE,
                   "list again")
    log("Events.Watch: %d events, the marker, then %d new ones" % (k, len(new)))

    # ---- a watch of one MAC, the machine's second NIC ---------------------------
    # Of a machine known already, and of one that comes later: both see it.
    synth = "discovery-synthetic-discoveryc.json"
    s_uuid, s_boot = ctx.machine_of(synth)
    s_second = [i["mac"] for i in ctx.fixture(synth)["interfaces"] if i["mac"]][1]
    boot_of[s_uuid] = s_boot
    early = Watcher(a, "Machines/Watch", pb.WatchMachinesRequest(mac=s_second))
    read_snapshot(early, 0, "the watch of a MAC no machine has yet")
    a.discover(synth)
    key = PREFIX + "machines/" + s_uuid
    s_rev = etcd.get_prefix(key)[key][1]  # its creation
    known = Watcher(a, "Machines/Watch", pb.WatchMachinesRequest(mac=dashed_upper(s_second)))
    snap, _, kn = read_snapshot(known, 1, "the watch of a machine's second MAC")
    check_eq(snap[0].machine.uuid, s_uuid, "the second MAC's machine in the snapshot")
    a.call("Lifecycle/SetRolling", pb.SetRollingRequest(mac=s_boot, enabled=True), token=True)
    roll_rev = etcd.get_prefix(PREFIX + "lifecycle/rolling/" + s_boot)[
        PREFIX + "lifecycle/rolling/" + s_boot][0]
    got = known.wait(lambda m: any(x.revision >= roll_rev for x in m[kn:]), 10,
                     "the second MAC watcher's change")
    # (folded with any other change of the machine in the same loop turn)
    check(any(b[0] >= roll_rev and b[1:] == (s_uuid, "PUT") for b in map(brief, got[kn:])),
          "the change seen by the watcher of its second MAC: %s" % [brief(m) for m in got[kn:]])
    check(all(m.machine.uuid == s_uuid for m in got[kn:]),
          "the watcher of one MAC got others' changes: %s" % [brief(m) for m in got[kn:]])
    known.cancel()

    def early_sees_it():
        got = early.wait(lambda m: any(x.revision >= roll_rev for x in m[1:]), 5,
                         "the watch of %s, opened before the machine came" % s_second)
        briefs = [brief(m) for m in got[1:]]
        # Changes of one machine in one turn of the server's loop are one
        # event at the last of their revisions: its creation, or just after.
        check(briefs[0][1:] == (s_uuid, "PUT") and briefs[0][0] >= s_rev,
              "its first event: the machine came: got %s, want a PUT of %s at %d or later"
              % (briefs[0], s_uuid, s_rev))
        check(any(b[0] >= roll_rev and b[1:] == (s_uuid, "PUT") for b in briefs),
              "its events: %s" % briefs)

    late.run(early_sees_it)
    early.cancel()

    # ---- failover -----------------------------------------------------------------------------
    c = ctx.start_enj(etcd, "c", reconcile=True, admin_token=TOKEN, extra=["--lease-ttl", "2"])
    leader, other = (b, c) if b.health().is_leader else (c, b)
    check(leader.health().is_leader and not other.health().is_leader,
          "one leader among b and c: b %s, c %s" % (b.health(), c.health()))
    n_now = len(a.call("Machines/List", pb.ListMachinesRequest()).machines)
    fw = [Watcher(other, "Machines/Watch", pb.WatchMachinesRequest()) for _ in range(20)]
    starts = [read_snapshot(x, n_now, "failover watcher %d" % i)[1:] for i, x in enumerate(fw)]
    check_eq(len(set(starts)), 1, "the failover watchers' snapshot revisions")
    fw_base, fn = starts[0]
    leader.kill()
    t_kill = time.monotonic()
    log("SIGKILLed the leader %s; watching on %s" % (leader.name, other.name))
    discover(16, enj=other)
    discover(17, enj=other)
    other.forget(uuid[13])
    other.call("Lifecycle/SetRolling", pb.SetRollingRequest(mac=mac[16], enabled=True),
               token=True)
    h = wait_until(lambda: (lambda x: x if x.is_leader else None)(other.health()), 20,
                   "the survivor %s leads" % other.name)
    check_eq(h.leader, other.name, "the survivor's Health.leader")
    log("%s leads %.1f s after the kill" % (other.name, time.monotonic() - t_kill))
    # It gives roles to the new machines: more changes to see.
    wait_until(lambda: all(len(a.call("Machines/Get", pb.GetMachineRequest(
        uuid=uuid[i])).roles) > 0 for i in (16, 17)), 15, "roles for the new machines")
    deadline = time.monotonic() + 15
    while True:
        before = etcd.revision()
        time.sleep(0.6)
        if etcd.revision() == before:
            break
        check(time.monotonic() < deadline, "the new leader never stops writing")
    end_rev = etcd.revision()
    fhist = machine_changes(etcd, fw_base + 1, end_rev, boot_of)
    last_change = max(r for v in fhist.values() for r in v)
    for i, x in enumerate(fw):
        x.wait(lambda m: m[-1].revision >= last_change, 15,
               "failover watcher %d up to %d" % (i, last_change))
    time.sleep(0.3)
    flists = []
    for i, x in enumerate(fw):
        check(x.error is None and not x.ended, "failover watcher %d ended: %s"
              % (i, x.describe_error()))
        flists.append([brief(m) for m in x.snapshot()[fn:]])
    for i, li in enumerate(flists):
        check_eq(li, flists[0], "failover watcher %d's events and watcher 0's" % i)
    check_against_history(flists[0], fhist, "the failover watchers' changes", strict=False)
    seen = {(u, t) for _, u, t in flists[0]}
    for want in ((uuid[16], "PUT"), (uuid[17], "PUT"), (uuid[13], "DELETE")):
        check_in(want, seen, "the changes made through the survivor")
    log("failover: 20 watchers on %s got the %d changes, no error" % (other.name,
                                                                     len(flists[0])))
    for x in fw:
        x.cancel()
    other.stop()
    a.stop()
    late.done()


if __name__ == "__main__":
    enjtest.main(run)

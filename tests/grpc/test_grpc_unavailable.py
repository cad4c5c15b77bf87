#!/usr/bin/python3
"""The gRPC API while etcd does not answer (its process stopped with
SIGSTOP): Health.Check says so, reads are still answered from the cache, a
write fails with UNAVAILABLE (the proto's "etcd unreachable: retry") in
bounded time, and an open watch goes on: once etcd
is back, writes work again and the watcher gets them.
"""
import os
import signal
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402

import enjtest  # noqa: E402
from enjtest import Watcher, check, check_eq, log, wait_until  # noqa: E402

S = grpc.StatusCode
NODE = 3


def run(ctx):
    pb = ctx.pb
    etcd = ctx.start_etcd()
    a = ctx.start_enj(etcd, "a")
    a.discover(1)
    uuid, mac = ctx.machine_of(1)
    w = Watcher(a, "Machines/Watch", pb.WatchMachinesRequest())
    w.wait(lambda m: any(x.type == pb.MachineEvent.SNAPSHOT_END for x in m), 10, "SNAPSHOT_END")
    n0 = len(w.snapshot())
    rev0 = etcd.revision()

    os.kill(etcd.etcd_pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        h = wait_until(lambda: (lambda x: x if not x.etcd else None)(a.health(timeout=10)), 20,
                       "Health.Check.etcd false with etcd stopped")
        check_eq(h.healthy, False, "Health.Check.healthy with etcd stopped")
        log("Health.Check says etcd is down %.1f s after SIGSTOP" % (time.monotonic() - t0))
        m = a.call("Machines/Get", pb.GetMachineRequest(mac=mac))
        check_eq(m.uuid, uuid, "Machines.Get from the cache with etcd stopped")
        r = a.call("Machines/List", pb.ListMachinesRequest())
        check_eq([x.uuid for x in r.machines], [uuid], "Machines.List with etcd stopped")
        for method, req in (("Schedules/Set", pb.SetScheduleRequest(mac=mac, roles=[NODE])),):
            t0 = time.monotonic()
            try:
                a.call(method, req, timeout=30)
                raise enjtest.Failure("%s succeeded with etcd stopped" % method)
            except grpc.RpcError as e:
                took = time.monotonic() - t0
                log("  %s -> %s: %s (%.1f s)" % (method, e.code().name, e.details(), took))
                check_eq(e.code(), S.UNAVAILABLE, "%s with etcd stopped" % method)
                check("etcd" in (e.details() or ""), "%s: the message does not name etcd: %r"
                      % (method, e.details()))
                check(took < 20, "%s took %.1f s to fail" % (method, took))
        check(w.error is None and not w.ended, "the watch ended: %s" % w.describe_error())
    finally:
        os.kill(etcd.etcd_pid, signal.SIGCONT)

    wait_until(lambda: a.health().healthy, 20, "healthy again after SIGCONT")
    # (Whether etcd applied the refused write once it woke is not asked: a
    # write that timed out may or may not have happened; UNAVAILABLE says
    # "retry", and the retry below is idempotent.)
    check(etcd.revision() >= rev0, "etcd's revision went back")
    s = a.call("Schedules/Set", pb.SetScheduleRequest(mac=mac, roles=[NODE]))
    check_eq(list(s.roles), [NODE], "Schedules.Set once etcd is back")
    got = w.wait(lambda m: len(m) > n0, 10, "the watch's change after etcd came back")
    check_eq((got[n0].type, got[n0].machine.uuid, got[n0].revision),
             (pb.MachineEvent.PUT, uuid, s.revision), "the change after etcd came back")
    w.cancel()
    log("etcd down: reads answered, writes UNAVAILABLE, the watch went on")
    a.stop()


if __name__ == "__main__":
    enjtest.main(run)

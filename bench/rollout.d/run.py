"""bench/rollout's driver (see bench/rollout --help): a simulated fleet rolls
once; prints the roll time against the ideal ceil(N / k) * T, and the
agents' RSS and CPU at rest.

    run.py ENJOLIVERD ETCD_HARNESS MATCHBOX_STANDIN ENJOLIVER_AGENT PROTO_DIR [options]

The fleet is tests/agent/test_fleet_sim.py's: one enjoliver-agent process
per machine (fake root, state dir), the shared hooks, the supervisor that
"reboots" a machine killed by its kexec hook. Per machine the hooks sleep
drain T/2, kexec T/4 (then the agent is killed: the reboot), uncordon T/4;
the ready check answers at once. T, the time of one machine's roll if
coordination and the agent's own start cost nothing, is their sum.
"""

import argparse
import math
import os
import signal
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "grpc"))
sys.path.insert(0, os.path.join(ROOT, "tests", "agent"))

import enjtest  # noqa: E402
from enjtest import wait_until  # noqa: E402
import test_fleet_sim as sim  # noqa: E402

DOC_A = '{"ignition": {"version": "2.2.0"}, "storage": {"files": []}}'
DOC_B = '{"ignition": {"version": "2.2.0"}, "storage": {"files": [{"path": "/etc/new"}]}}'
HZ = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return 0
    f = s.rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])  # utime, stime (fields 14, 15)


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def threads(pid):
    try:
        return len(os.listdir("/proc/%d/task" % pid))
    except OSError:
        return 0


def machine_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
    return busy, busy + v[3] + v[4]


def pct(a):
    return "%.2f" % a


def at_rest(fleet, seconds, label, servers):
    """Every agent's CPU over `seconds` and its RSS, and the CPU of the
    servers (enjoliverd replicas, etcd) meanwhile: summary lines."""
    pids = [m.proc.pid for m in fleet.machines if m.proc and m.proc.poll() is None]
    t0 = {p: cpu_ticks(p) for p in pids}
    s0 = sum(cpu_ticks(p) for p in servers)
    m0 = machine_ticks()
    w0 = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - w0
    m1 = machine_ticks()
    s1 = sum(cpu_ticks(p) for p in servers)
    cpu = sorted(100.0 * (cpu_ticks(p) - t0[p]) / HZ / wall for p in pids)
    rss = sorted(rss_kib(p) for p in pids)
    thr = sorted(threads(p) for p in pids)
    n = len(pids)
    allpct = 100.0 * os.cpu_count() * (m1[0] - m0[0]) / max(1, m1[1] - m0[1])
    print("  %-34s %4d agents  CPU %% of a core: mean %s, median %s, max %s (all agents %.1f%%)"
          % (label, n, pct(sum(cpu) / n), pct(cpu[n // 2]), pct(cpu[-1]), sum(cpu)))
    print("  %-34s %4s         RSS MiB: mean %.1f, median %.1f, max %.1f (all agents %.0f MiB); "
          "threads %d-%d; machine %.0f%%"
          % ("", "", sum(rss) / n / 1024, rss[n // 2] / 1024, rss[-1] / 1024, sum(rss) / 1024,
             thr[0], thr[-1], allpct))
    print("  %-34s %4s         enjoliverd and etcd meanwhile: %.1f%% of a core"
          % ("", "", 100.0 * (s1 - s0) / HZ / wall))
    return sum(cpu) / n, sum(rss) / n / 1024


def breakdown(events, fleet):
    """[(step, [seconds per machine])] from the hooks' log: the overhead of
    each step beyond its hook's sleep, and the gaps between steps."""
    by = {}
    for ts, mid, ev, _tok in events:
        by.setdefault(mid, {}).setdefault(ev, ts)  # first of each
    f = fleet
    rows = [("drain hook beyond its sleep", "drain-start", "drain-end", f.drain_s),
            ("drain end -> kexec, beyond its sleep", "drain-end", "kexec", f.reboot_s),
            ("kexec -> ready check (restart, new boot)", "kexec", "ready", 0),
            ("ready check -> uncordon start", "ready", "uncordon-start", 0),
            ("uncordon hook beyond its sleep", "uncordon-start", "uncordon-end", f.uncordon_s)]
    out = []
    for name, a, b, sleep in rows:
        out.append((name, [e[b] - e[a] - sleep for e in by.values() if a in e and b in e]))
    # A slot freed while machines still wait: the next drain starts after.
    ends = sorted(e["uncordon-end"] for e in by.values() if "uncordon-end" in e)
    starts = sorted(e["drain-start"] for e in by.values() if "drain-start" in e)
    k = int(os.environ.get("ENJOLIVER_ROLLOUT_MAX_UNAVAILABLE", "1"))
    gaps = []
    for i, t in enumerate(starts[k:]):
        before = [x for x in ends if x <= t]
        if before:
            gaps.append(t - before[-1])
    out.append(("uncordon end -> next drain start (release, grant)", gaps))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bins", nargs=5)
    ap.add_argument("--nodes", type=int, default=200)
    ap.add_argument("--hook-ms", type=int, default=4000)
    ap.add_argument("--max-unavailable", type=int, default=10)
    ap.add_argument("--control-plane", type=int, default=3)
    ap.add_argument("--replicas", type=int, default=1)
    ap.add_argument("--interval", type=int, default=5)
    ap.add_argument("--idle-s", type=int, default=10)
    ap.add_argument("--no-rest-defaults", action="store_true")
    a = ap.parse_args()

    def on_term(signum, frame):
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, on_term)
    enjd, harness, standin_bin, agent, proto = a.bins
    n, k, cp = a.nodes, a.max_unavailable, a.control_plane
    T = a.hook_ms / 1000.0
    ideal = math.ceil(n / k) * T
    ctx = enjtest.Context([sys.argv[0], enjd, harness, standin_bin, proto, proto])
    fleet = None
    rc = 1
    try:
        print("bench/rollout: %d machines (%d control-plane), max_unavailable %d, T %.2f s "
              "(drain %.2f + kexec %.2f + uncordon %.2f), %d replica(s), agents --interval %d"
              % (n, cp, k, T, T / 2, T / 4, T / 4, a.replicas, a.interval))
        etcd, standin, enjs = sim.prepare(
            ctx, a.replicas, k,
            extra_env={"ENJOLIVER_ETCD_MEMBER_KUBERNETES_CONTROL_PLANE_EXPECTED_NB": str(cp)})
        fleet = sim.Fleet(ctx, agent, enjs, standin, cp, n - cp, DOC_A, drain_s=T / 2,
                          reboot_s=T / 4, uncordon_s=T / 4, interval=a.interval,
                          facts_interval=a.interval, check_retries=3)
        t0 = time.monotonic()
        sim.bring_up(fleet, cp, timeout=180)
        print("  fleet up in %.1f s: %d agents discovered, roles given, up to date, rolling "
              "enabled" % (time.monotonic() - t0, n))
        time.sleep(2)
        enj_pids = [e.proc.pid for e in enjs]
        e0 = sum(cpu_ticks(p) for p in enj_pids)
        etcd0 = cpu_ticks(etcd.etcd_pid)
        a0 = sum(cpu_ticks(m.proc.pid) for m in fleet.machines)
        m0 = machine_ticks()
        rev0 = etcd.revision()
        t_change = time.time()
        fleet.serve(DOC_B)
        wait_until(lambda: sim.rolled(fleet, t_change), ideal * 3 + 120, "the roll", interval=0.5)
        t_seen = time.time()
        m1 = machine_ticks()
        e1 = sum(cpu_ticks(p) for p in enj_pids)
        etcd1 = cpu_ticks(etcd.etcd_pid)
        fleet.check_no_unexpected_exit()
        ev = [e for e in fleet.hook_events() if e[0] >= t_change]
        first_drain = min(e[0] for e in ev if e[2] == "drain-start")
        last_end = max(e[0] for e in ev if e[2] == "uncordon-end")
        span = last_end - first_drain
        total = last_end - t_change
        ivs = sim.down_intervals(ev)
        most, _ = sim.max_overlap(ivs)
        cp_ids = {m.id for m in fleet.machines if m.cp}
        most_cp, _ = sim.max_overlap(ivs, cp_ids)
        hist = fleet.slot_history(etcd, rev0)
        best, _, best_cp, grants, left = sim.slot_replay(hist, {m.mac for m in fleet.machines
                                                                if m.cp})
        per = sorted(e - s for v in ivs.values() for s, e in v if e is not None)
        # Time with fewer than k machines down although some still waited.
        points = sorted([(s, 1) for v in ivs.values() for s, _ in v] +
                        [(e, -1) for v in ivs.values() for _, e in v])
        idle_cap, cur, last_t, done = 0.0, 0, first_drain, 0
        for t, d in points:
            idle_cap += max(0, min(k, n - done) - cur) * (t - last_t)
            cur += d
            done += d < 0
            last_t = t
        wall = t_seen - t_change
        print("\n== roll of %d machines, max_unavailable %d, T = %.2f s" % (n, k, T))
        print("  ideal ceil(N/k)*T            %8.2f s  (%d waves)" % (ideal, math.ceil(n / k)))
        print("  first drain -> last uncordon %8.2f s  ratio ideal/actual %.3f   goal >= 0.95: %s"
              % (span, ideal / span, "met" if ideal / span >= 0.95 else "NOT MET"))
        print("  new Ignition -> last uncordon %7.2f s  ratio %.3f (includes noticing the change: "
              "first drain %.2f s after it)" % (total, ideal / total, first_drain - t_change))
        print("  per machine, drain start -> uncordon end: min %.2f, median %.2f, max %.2f s "
              "(T %.2f: %.2f s median overhead: grant, agent restart, ready report, release)"
              % (per[0], per[len(per) // 2], per[-1], T, per[len(per) // 2] - T))
        steps = breakdown(ev, fleet)
        print("  where one machine's time goes (median [p90] s over the machines):")
        for name, vals in steps:
            vals.sort()
            if vals:
                print("    %-44s %6.3f [%6.3f]" % (name, vals[len(vals) // 2],
                                                   vals[int(len(vals) * 0.9)]))
        print("  unused slot-seconds while machines waited: %.1f (%.1f%% of k x span)"
              % (idle_cap, 100 * idle_cap / (k * span)))
        print("  at most %d machines down at once (%d control-plane); etcd: at most %d slots "
              "(%d control-plane), %d grants for %d machines, %d left"
              % (most, most_cp, best, best_cp, sum(len(g) for g in grants.values()), n, len(left)))
        print("  CPU during the roll (%.1f s): enjoliverd %.1f s, etcd %.1f s, agents %.1f s; "
              "machine %.0f%% of %d cores"
              % (wall, (e1 - e0) / HZ, (etcd1 - etcd0) / HZ,
                 (sum(cpu_ticks(m.proc.pid) for m in fleet.machines) - a0) / HZ,
                 100.0 * os.cpu_count() * (m1[0] - m0[0]) / max(1, m1[1] - m0[1]),
                 os.cpu_count()))
        print("    (the agents' CPU counts only the processes alive at the end: each agent's "
              "first boot is not in it)")
        print("  enjoliverd RSS %s MiB" % ", ".join("%.0f" % (rss_kib(p) / 1024) for p in enj_pids))
        ok = most <= k and best <= k and most_cp <= 1 and best_cp <= 1 and not left
        if not ok:
            print("  !!! the policy was not kept (see above)")

        print("\n== agents at rest (after the roll, %d s each)" % a.idle_s)
        time.sleep(2)
        servers = enj_pids + [etcd.etcd_pid]
        at_rest(fleet, a.idle_s, "--interval %d --facts-interval %d" % (a.interval, a.interval),
                servers)
        if not a.no_rest_defaults:
            fleet.interval, fleet.facts_interval = 60, 10
            with fleet.lock:
                for m in fleet.machines:
                    m.proc.terminate()
                for m in fleet.machines:
                    m.proc.wait(timeout=20)
                    m.start()
            time.sleep(5)
            at_rest(fleet, a.idle_s, "defaults (--interval 60, facts 10)", servers)
        fleet.check_no_unexpected_exit()
        rc = 0 if ok else 1
    except enjtest.Failure as e:
        print("!!! ERROR: %s" % e)
        ctx.dump_logs()
    except KeyboardInterrupt:
        rc = 130
    finally:
        if fleet:
            fleet.stop()
        ctx.cleanup()
    sys.exit(rc)


if __name__ == "__main__":
    main()

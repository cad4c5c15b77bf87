"""A rolling update of a simulated fleet, end to end (agent issue, part 2).

One etcd, two enjoliverd replicas (both may lead; lease TTL 2 s,
rollout_max_unavailable K = 3 through ENJOLIVER_ROLLOUT_MAX_UNAVAILABLE),
the stand-in matchbox, and 3 control-plane + 20 node agents as processes
(tests/agent/test_fleet_sim.py: fake roots, hooks that log and sleep, a
kexec hook that kills its agent, a supervisor that "reboots" the machine
into the Ignition matchbox serves and starts the agent again).

  1. every agent discovers itself; the scheduler gives the control-plane
     roles to the 3 lowest MACs and kubernetes-node to the rest; every
     machine reports its Ignition up to date; rolling updates are enabled;
  2. matchbox serves another Ignition to everyone: every machine rolls;
     during the roll
       - one node's agent is killed in the middle of its (slower) drain
         and started again on the same boot,
       - the leading replica is killed (SIGKILL) once a few machines are
         done; the other replica takes over;
  3. checks, from the hooks' log and from etcd's history of the slot keys:
       - never more than K machines down at once (drain start -> uncordon
         end), never two control-plane members at once; and never more
         than K slots held at once, never two held by members;
       - every machine rolled exactly once under exactly one slot (every
         hook of its roll ran with that slot's token), runs the new
         Ignition, reports up to date, is uncordoned, idle, slot released;
       - the crashed node drained twice under the same token and got no
         other slot; no agent died other than through its kexec hook.

usage: test_fleet.py ENJOLIVERD ETCD_HARNESS MATCHBOX_STANDIN ENJOLIVER_AGENT PROTO_DIR [FIXTURES_DIR]
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "grpc"))
sys.path.insert(0, HERE)

if len(sys.argv) < 6:
    sys.exit(__doc__.split("usage: ", 1)[1])
AGENT = sys.argv.pop(4)

import enjtest  # noqa: E402
from enjtest import Checks, check, check_eq, log, wait_until  # noqa: E402
import test_fleet_sim as sim  # noqa: E402

K = 3
N_CP, N_NODES = 3, 20
DOC_A = '{"ignition": {"version": "2.2.0"}, "storage": {"files": []}}'
DOC_B = '{"ignition": {"version": "2.2.0"}, "storage": {"files": [{"path": "/etc/b"}]}}'
LEADER_KILL_AFTER = 6  # machines done


def body(ctx):
    etcd, standin, enjs = sim.prepare(ctx, 2, K)
    fleet = sim.Fleet(ctx, AGENT, enjs, standin, N_CP, N_NODES, DOC_A, drain_s=0.3,
                      uncordon_s=0.3, slow_drain_s=3.0, check_retries=3)
    ctx_fleet.append(fleet)
    t0 = time.monotonic()
    sim.bring_up(fleet, N_CP)
    log("fleet up: %d machines discovered, roles given, up to date (%.1f s)"
        % (len(fleet.machines), time.monotonic() - t0))
    fleet.check_no_unexpected_exit()

    # -- 2. the roll ---------------------------------------------------------
    nodes = [m for m in fleet.machines if not m.cp]
    victim = nodes[len(nodes) // 2]
    victim.flag("slow-drain")
    rev0 = etcd.revision()
    t_change = time.time()
    t1 = time.monotonic()
    fleet.serve(DOC_B)
    log("matchbox serves a new Ignition to all; %s drains slowly the first time" % victim.id)
    crashed = killed_leader = None
    first_leader = None
    done_at_kill = 0
    deadline = time.monotonic() + 75
    while True:
        ev = [e for e in fleet.hook_events() if e[0] >= t_change]
        if crashed is None:
            starts = [e for e in ev if e[1] == victim.id and e[2] == "drain-start"]
            if starts and time.time() >= starts[0][0] + 1.0:
                log("crashing %s's agent in the middle of its drain (token %d)"
                    % (victim.id, starts[0][3]))
                fleet.crash_agent(victim)
                crashed = time.time()
        if killed_leader is None:
            done = len({e[1] for e in ev if e[2] == "uncordon-end"})
            if done >= LEADER_KILL_AFTER:
                first_leader = fleet.leader()
                check(first_leader is not None, "no replica says it leads")
                done_at_kill = done
                log("killing the leader %s (SIGKILL) with %d machines done"
                    % (first_leader.name, done))
                first_leader.kill()
                killed_leader = time.time()
        if crashed and killed_leader and sim.rolled(fleet, t_change):
            break
        check(time.monotonic() < deadline,
              "the roll did not complete within 75 s: %d of %d machines done; states %s"
              % (len({e[1] for e in ev if e[2] == "uncordon-end"}), len(fleet.machines),
                 {m.id: m.journal().get("state") for m in fleet.machines
                  if m.journal().get("state") != "idle"}))
        time.sleep(0.2)
    roll_s = time.monotonic() - t1
    log("rolled %d machines in %.1f s" % (len(fleet.machines), roll_s))

    # -- 3. checks -------------------------------------------------------------
    checks = Checks()
    events = [e for e in fleet.hook_events() if e[0] >= t_change]
    cp_ids = {m.id for m in fleet.machines if m.cp}
    cp_macs = {m.mac for m in fleet.machines if m.cp}
    history = fleet.slot_history(etcd, rev0)
    best, best_rev, best_cp, grants, left = sim.slot_replay(history, cp_macs)
    ivs = sim.down_intervals(events)

    def unexpected_exits():
        fleet.check_no_unexpected_exit()

    def down_at_once():
        n, at = sim.max_overlap(ivs)
        n_cp, at_cp = sim.max_overlap(ivs, cp_ids)
        log("hooks' log: at most %d machines down at once (%s), %d control-plane members"
            % (n, at[1] if at else "-", n_cp))
        check(n <= K, "%d machines down at once (%s at %.3f), max_unavailable is %d"
              % (n, at[1], at[0], K))
        check(n_cp <= 1, "%d control-plane members down at once: %s" % (n_cp, at_cp))
        check(n >= 2, "never two machines down at once: the roll did not use its %d slots" % K)

    def slots_at_once():
        log("etcd history (revisions %d..): %d slot writes, at most %d slots at once (rev %s), "
            "at most %d held by members" % (rev0, len(history), best, best_rev, best_cp))
        check(best <= K, "%d slots held at once at revision %s, max_unavailable is %d"
              % (best, best_rev, K))
        check(best_cp <= 1, "%d control-plane members held slots at once" % best_cp)
        check(not left, "slots still held at the end: %s" % sorted(left))

    def each_machine():
        bad = []
        for m in fleet.machines:
            mine = [e for e in events if e[1] == m.id]
            kinds = [e[2] for e in mine]
            g = grants.get(m.mac, [])
            tokens = {e[3] for e in mine}
            if len(g) != 1:
                bad.append("%s: %d slot grants in etcd's history (%s)" % (m.id, len(g), g))
            elif tokens != {g[0]}:
                bad.append("%s: hook tokens %s, its slot was granted at revision %d"
                           % (m.id, sorted(tokens), g[0]))
            if kinds.count("kexec") != 1 or kinds.count("uncordon-end") != 1:
                bad.append("%s: %d kexec, %d uncordon-end" % (m.id, kinds.count("kexec"),
                                                              kinds.count("uncordon-end")))
            if not kinds or kinds[-1] != "uncordon-end":
                if m is not victim or "uncordon-end" not in kinds:
                    bad.append("%s: not uncordoned last (%s)" % (m.id, kinds))
            if len(ivs.get(m.id, [])) != 1 or ivs[m.id][0][1] is None:
                bad.append("%s: down intervals %s" % (m.id, ivs.get(m.id)))
            if m.installed() != DOC_B:
                bad.append("%s: does not run the new Ignition" % m.id)
            j = m.journal()
            if j.get("state") != "idle":
                bad.append("%s: journal %s" % (m.id, j))
            if m.boots != 2:
                bad.append("%s: booted %d times, want 2" % (m.id, m.boots))
        up = fleet.up_to_date()
        for m in fleet.machines:
            if up.get(m.mac) is not True:
                bad.append("%s: up-to-date is %r" % (m.id, up.get(m.mac)))
        ro = fleet.rollout()
        if ro.get("slots") or ro.get("requests"):
            bad.append("GET /rollout: slots %s, requests %s" % (ro.get("slots"), ro.get("requests")))
        check(not bad, "%d problem(s):\n    %s" % (len(bad), "\n    ".join(bad)))
        log("every machine rolled once under one slot, runs the new Ignition, is up to date, "
            "uncordoned, idle, its slot released")

    def the_crashed_node():
        mine = [e for e in events if e[1] == victim.id]
        drains = [e[3] for e in mine if e[2] == "drain-start"]
        check_eq(len(drains), 2, "%s's drain starts (crashed during the first)" % victim.id)
        check(drains[0] == drains[1] == grants.get(victim.mac, [None])[0],
              "%s drained under tokens %s; its slot in etcd: %s"
              % (victim.id, drains, grants.get(victim.mac)))
        kx = [e for e in mine if e[2] == "kexec"]
        check(len(kx) == 1 and kx[0][0] > crashed,
              "%s's kexec: %s (crash at %.3f)" % (victim.id, kx, crashed))
        check_eq(victim.starts, 3, "%s's agent starts (first, after the crash, after the reboot)"
                 % victim.id)
        log("%s: drained again under the same slot (token %d) after its crash; one grant"
            % (victim.id, drains[0]))

    def the_leader_kill():
        check(0 < done_at_kill < len(fleet.machines),
              "the leader was not killed mid-roll (%d done)" % done_at_kill)
        new = wait_until(fleet.leader, 10, "a leader after the kill")
        check(new is not first_leader, "the killed replica still leads")
        evs = new.http_json("GET", "/events?limit=10000")
        check(any(e.get("kind") == "leader-elected" and e.get("replica") == new.name
                  for e in evs), "no leader-elected event by %s" % new.name)
        after = [e for e in events if e[2] == "uncordon-end" and e[0] > killed_leader]
        check(after, "no machine finished after the leader was killed")
        log("leader %s killed with %d of %d machines done; %s led the rest (%d machines)"
            % (first_leader.name, done_at_kill, len(fleet.machines), new.name, len(after)))

    for fn in (unexpected_exits, down_at_once, slots_at_once, each_machine, the_crashed_node,
               the_leader_kill):
        checks.run(fn)
    checks.done()
    log("roll of %d machines (K=%d, hooks %.1f+%.1f s): %.1f s, with a leader kill and an agent "
        "crash" % (len(fleet.machines), K, fleet.drain_s, fleet.uncordon_s, roll_s))


ctx_fleet = []


def main():
    def run(ctx):
        try:
            body(ctx)
        except BaseException:
            for f in ctx_fleet:
                sys.stderr.write("----- hooks' log (last 40 lines) -----\n")
                try:
                    with open(f.hook_log) as h:
                        sys.stderr.write("".join(h.readlines()[-40:]))
                except OSError:
                    pass
                for m in f.machines:
                    if m.journal().get("state") not in (None, "idle"):
                        sys.stderr.write("----- %s (%s), journal %s -----\n%s\n"
                                         % (m.id, m.mac, m.journal(), m.log_tail(15)))
            raise
        finally:
            for f in ctx_fleet:
                f.stop()

    enjtest.main(run)


if __name__ == "__main__":
    main()

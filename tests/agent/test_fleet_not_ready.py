"""A roll that stops at a node whose ready check never passes (agent
issue, part 2, the variant).

One etcd, one enjoliverd (rollout_max_unavailable 1), the stand-in
matchbox, 3 control-plane + 3 node agents (tests/agent/test_fleet_sim.py).

  1. the fleet comes up (discovery, roles, up to date, rolling enabled);
  2. matchbox serves a new Ignition to one node, S, whose ready check fails
     (3 attempts, 1 s apart): S gets the slot, drains, reboots into the new
     Ignition, and its sequence stops at the ready check: its journal says
     failed at that check, its slot is still held (same token, in etcd and
     GET /rollout/slot), uncordon never ran, GET /rollout shows its failed
     check, and an event names the machine and says why;
  3. matchbox then serves the new Ignition to everyone: the others ask for
     a slot, and none is given while S holds the only one (the roll stops
     there); they stay outdated;
  4. S's check is mended and its agent restarted: it runs the check again
     under the same slot, uncordons, releases, and the roll completes: every
     machine up to date, idle, uncordoned, no slot held, never two at once.

usage: test_fleet_not_ready.py ENJOLIVERD ETCD_HARNESS MATCHBOX_STANDIN ENJOLIVER_AGENT PROTO_DIR [FIXTURES_DIR]
"""

import json
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

DOC_A = '{"ignition": {"version": "2.2.0"}, "storage": {"files": []}}'
DOC_B = '{"ignition": {"version": "2.2.0"}, "storage": {"files": [{"path": "/etc/c"}]}}'
RETRIES = 3
HOLD_S = 4.0  # how long the others are watched not getting a slot

fleets = []


def body(ctx):
    etcd, standin, enjs = sim.prepare(ctx, 1, 1)
    enj = enjs[0]
    fleet = sim.Fleet(ctx, AGENT, enjs, standin, 3, 3, DOC_A, drain_s=0.2, uncordon_s=0.2,
                      check_retries=RETRIES)
    fleets.append(fleet)
    sim.bring_up(fleet, 3)
    log("fleet up: %d machines" % len(fleet.machines))
    stuck = [m for m in fleet.machines if not m.cp][0]
    others = [m for m in fleet.machines if m is not stuck]
    stuck.flag("not-ready")
    rev0 = etcd.revision()
    t_change = time.time()
    checks = Checks()

    # -- 2. one node, its check failing --------------------------------------
    fleet.serve(DOC_B, stuck)
    log("matchbox serves a new Ignition to %s (%s), whose ready check fails" % (stuck.id, stuck.mac))
    wait_until(lambda: stuck.journal().get("state") == "failed", 30,
               "%s's sequence stops at its ready check" % stuck.id)
    failed_at = time.time()
    j = stuck.journal()
    log("%s stopped: journal %s" % (stuck.id, j))
    mine = [e for e in fleet.hook_events() if e[1] == stuck.id and e[0] >= t_change]
    kinds = [e[2] for e in mine]
    token = mine[0][3] if mine else 0

    def stopped_at_the_check():
        check_eq(j.get("failed_step"), sim.READY_CHECK, "the failed step in the journal")
        check_eq(kinds.count("not-ready"), RETRIES, "attempts of the ready check")
        check("uncordon-start" not in kinds, "%s was uncordoned: %s" % (stuck.id, kinds))
        check_eq(kinds[:3], ["drain-start", "drain-end", "kexec"], "%s's first steps" % stuck.id)
        check(stuck.installed() == DOC_B and stuck.boots == 2,
              "%s did not reboot into the new Ignition" % stuck.id)

    def slot_held():
        status, text = enj.http("GET", "/rollout/slot/mac=" + stuck.dashed)
        got = json.loads(text) if status == 200 else {}
        check(got.get("state") == "granted" and got.get("token") == token,
              "GET /rollout/slot for %s: HTTP %d %s, want granted with token %d"
              % (stuck.id, status, text, token))
        # The agent journals the stop, then reports it: wait for the report.
        def reported():
            ro = fleet.rollout()
            ready = [r for r in ro.get("ready", []) if r.get("mac") == stuck.mac]
            return ready if (ready and ready[0].get("ready") is False and
                             sim.READY_CHECK in (ready[0].get("failed") or [])) else None
        try:
            wait_until(reported, 5, "GET /rollout showing %s's failed check" % stuck.id)
        except enjtest.Failure as e:
            check(False, "GET /rollout does not show %s's failed check: %s" % (stuck.id, e))

    def an_event_says_why():
        # The operator's view: GET /events?machine=<mac> should say the roll
        # stopped at this node, and why (the check that failed).
        def found():
            status, text = enj.http("GET", "/events?machine=%s&limit=1000" % stuck.mac)
            evs = json.loads(text) if status == 200 else []
            return [e for e in evs if sim.READY_CHECK in json.dumps(e)]
        try:
            evs = wait_until(found, 5, "an event naming %s's failed check" % stuck.id)
            log("event: %s" % evs[0])
        except enjtest.Failure:
            _, text = enj.http("GET", "/events?machine=%s&limit=1000" % stuck.mac)
            raise enjtest.Failure(
                "no event says why %s's roll stopped (its ready check %s failed %d times); its "
                "events: %s" % (stuck.id, sim.READY_CHECK, RETRIES,
                                [(e.get("kind") or e.get("type"), e.get("message") or e.get("text"))
                                 for e in json.loads(text)]))

    for fn in (stopped_at_the_check, slot_held, an_event_says_why):
        checks.run(fn)

    # -- 3. everyone outdated: nobody else gets the only slot -----------------
    fleet.serve(DOC_B)
    log("matchbox serves the new Ignition to everyone; watching %.0f s" % HOLD_S)
    wait_until(lambda: {r.get("mac") for r in fleet.rollout().get("requests", [])} >=
               {m.mac for m in others}, 20, "every other machine asks for a slot")
    time.sleep(HOLD_S)

    def roll_stopped():
        hist = fleet.slot_history(etcd, rev0)
        best, _, _, grants, held = sim.slot_replay(hist, set())
        check_eq(sorted(grants), [stuck.mac], "machines given a slot while %s holds it" % stuck.id)
        check_eq(held, {stuck.mac}, "slots held")
        late = [e for e in fleet.hook_events() if e[0] >= t_change and e[1] != stuck.id]
        check(not late, "other machines ran hooks: %s" % late[:5])
        up = fleet.up_to_date()
        check(not any(up.get(m.mac) for m in others), "others up to date already: %s" % up)
        check(stuck.journal().get("state") == "failed" and stuck.proc.poll() is None,
              "%s's agent: journal %s, running %s" % (stuck.id, stuck.journal(),
                                                      stuck.proc.poll() is None))
        log("the roll stopped at %s: %d machines wait, no other slot given in %.1f s"
            % (stuck.id, len(others), time.time() - failed_at))

    checks.run(roll_stopped)

    # -- 4. mended: the same slot, then the rest ------------------------------
    stuck.flag("not-ready", on=False)
    fleet.crash_agent(stuck)  # a restart tries the failed step again
    log("%s's check mended, its agent restarted" % stuck.id)
    wait_until(lambda: sim.rolled(fleet, t_change), 60, "the roll completes")
    events = [e for e in fleet.hook_events() if e[0] >= t_change]

    def completed():
        fleet.check_no_unexpected_exit()
        mine = [e for e in events if e[1] == stuck.id]
        check_eq([e[2] for e in mine if e[0] > failed_at][-3:],
                 ["ready", "uncordon-start", "uncordon-end"], "%s after the restart" % stuck.id)
        check({e[3] for e in mine} == {token}, "%s's hooks ran under tokens %s, want %d"
              % (stuck.id, {e[3] for e in mine}, token))
        hist = fleet.slot_history(etcd, rev0)
        best, _, best_cp, grants, held = sim.slot_replay(hist, {m.mac for m in fleet.machines
                                                                if m.cp})
        check(best == 1 and not held, "slots at once %d, left %s" % (best, held))
        check_eq(grants.get(stuck.mac), [token], "%s's grants" % stuck.id)
        for m in fleet.machines:
            check_eq(len(grants.get(m.mac, [])), 1, "%s's grants" % m.id)
        n, _ = sim.max_overlap(sim.down_intervals(events))
        check_eq(n, 1, "machines down at once")
        for m in fleet.machines:
            kinds = [e[2] for e in events if e[1] == m.id]
            check(kinds and kinds[-1] == "uncordon-end", "%s ends %s" % (m.id, kinds[-3:]))
        log("then every machine rolled, one at a time; %s under its first slot" % stuck.id)

    checks.run(completed)
    checks.done()


def main():
    def run(ctx):
        try:
            body(ctx)
        except BaseException:
            for f in fleets:
                try:
                    with open(f.hook_log) as h:
                        sys.stderr.write("----- hooks' log (last 40 lines) -----\n%s"
                                         % "".join(h.readlines()[-40:]))
                except OSError:
                    pass
            raise
        finally:
            for f in fleets:
                f.stop()

    enjtest.main(run)


if __name__ == "__main__":
    main()

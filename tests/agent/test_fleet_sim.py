"""A simulated fleet of enjoliver-agent processes, for the fleet tests
(tests/agent/test_fleet*.py) and bench/rollout. Not a test by itself.

Each machine is one enjoliver-agent process with its own fake root (the
files agent/facts.c reads: boot query, boot id, one NIC, a route, a disk,
the installed Ignition), its own state directory, and the fleet's shared
hooks directory. The hooks are shell scripts that append what they do to
one shared log (wall-clock timestamps from `date +%s.%N`, one clock for
every process) and sleep a little:

    <ts> <machine> drain-start <token>      <ts> <machine> drain-end <token>
    <ts> <machine> kexec <token>            (then the agent is killed)
    <ts> <machine> ready <token>            <ts> <machine> not-ready <token>
    <ts> <machine> uncordon-start <token>   <ts> <machine> uncordon-end <token>

The kexec hook plays the reboot: it notes the reboot in the machine's
directory and SIGKILLs its agent (pid from a file the fleet writes). The
fleet's supervisor thread sees the agent gone, "reboots" the machine (a new
boot id, the Ignition matchbox now serves for it installed) and starts the
agent again. Any other death of an agent that the caller did not ask for
is recorded in Fleet.unexpected.

Per-machine switches (files in <work>/m/<id>/, the hooks read them):
slow-drain (the next drain sleeps longer, once) and not-ready (the ready
check fails).

Every process is started with PR_SET_PDEATHSIG and in a session of its own;
Fleet.stop() kills each agent's process group (hooks included).
"""

import json
import os
import signal
import subprocess
import threading
import time
import uuid as uuidlib

import enjtest
from enjtest import Failure, check, log

HOOKS = {
    "drain": r"""
m="$FLEET_DIR/m/$FLEET_ID"
l() { echo "$(date +%s.%N) $FLEET_ID $1 $ENJ_SLOT_TOKEN" >> "$FLEET_DIR/hooks.log"; }
l drain-start
if [ -e "$m/slow-drain" ]; then rm -f "$m/slow-drain"; sleep "$FLEET_SLOW_DRAIN"; fi
sleep "$FLEET_DRAIN_S"
l drain-end
""",
    "kexec": r"""
m="$FLEET_DIR/m/$FLEET_ID"
sleep "$FLEET_REBOOT_S"
echo "$(date +%s.%N) $FLEET_ID kexec $ENJ_SLOT_TOKEN" >> "$FLEET_DIR/hooks.log"
echo "$ENJ_SLOT_TOKEN" > "$m/rebooting"
kill -KILL "$(cat "$m/agent.pid")"
""",
    "ready.d/10-node-ready": r"""
m="$FLEET_DIR/m/$FLEET_ID"
if [ -e "$m/not-ready" ]; then
    echo "$(date +%s.%N) $FLEET_ID not-ready $ENJ_SLOT_TOKEN" >> "$FLEET_DIR/hooks.log"
    exit 1
fi
echo "$(date +%s.%N) $FLEET_ID ready $ENJ_SLOT_TOKEN" >> "$FLEET_DIR/hooks.log"
""",
    "uncordon": r"""
l() { echo "$(date +%s.%N) $FLEET_ID $1 $ENJ_SLOT_TOKEN" >> "$FLEET_DIR/hooks.log"; }
l uncordon-start
sleep "$FLEET_UNCORDON_S"
l uncordon-end
""",
}

READY_CHECK = "10-node-ready"


def ip_of(idx):
    """10.9.0.0/16: room for the sync's pod ranges (blocks of 256 without a
    machine address) of about 250 machines."""
    return (9, idx // 200, idx % 200 + 10)


def hexip(a, b, c, d):
    """10.9.x.y as /proc/net/route writes it (little-endian hex)."""
    return "%02X%02X%02X%02X" % (d, c, b, a)


class Machine:
    def __init__(self, fleet, idx, cp):
        self.fleet = fleet
        self.idx = idx
        self.cp = cp  # a control-plane member (set from its roles by bring_up)
        self.id = "m%03d" % idx
        self.mac = "52:54:00:f1:%02x:%02x" % (idx // 256, idx % 256)
        self.dashed = self.mac.replace(":", "-")
        self.uuid = "aaaaaaaa-0000-4000-8000-%012x" % (0xf1000 + idx)
        self.dir = os.path.join(fleet.work, "m", self.id)
        self.root = os.path.join(self.dir, "root")
        self.state = os.path.join(self.dir, "state")
        self.log_path = os.path.join(self.dir, "agent.log")
        self.proc = None
        self.boots = 0
        self.starts = 0
        self.servers = None  # (http urls, grpc targets), in this agent's order
        os.makedirs(self.state, exist_ok=True)
        self._make_root()

    def put(self, rel, text):
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, path)

    def _make_root(self):
        a, b, c = ip_of(self.idx)
        self.ip = "10.%d.%d.%d" % (a, b, c)
        self.put("proc/cmdline", "coreos.config.url=http://10.9.0.1:5000/ignition?uuid=%s&mac=%s\n"
                 % (self.uuid, self.dashed))
        self.put("sys/class/net/lo/address", "00:00:00:00:00:00\n")
        self.put("sys/class/net/eth0/address", self.mac + "\n")
        self.put("proc/net/route",
                 "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
                 "eth0\t00000000\t%s\t0003\t0\t0\t0\t00000000\n"
                 "eth0\t%s\t00000000\t0001\t0\t0\t0\t0000FFFF\n"
                 % (hexip(10, a, 0, 1), hexip(10, a, 0, 0)))
        self.put("proc/net/fib_trie",
                 "Local:\n  +-- 10.%d.0.0/16 2 0 2\n     |-- %s\n        /32 host LOCAL\n"
                 % (a, self.ip))
        self.put("sys/block/sda/size", "41943040\n")
        self.new_boot()

    def served(self):
        """What matchbox serves this machine now (the stand-in's rule)."""
        ign = os.path.join(self.fleet.standin.dir, "ignition")
        for name in (self.dashed + ".json", "default.json"):
            try:
                with open(os.path.join(ign, name)) as f:
                    return f.read()
            except FileNotFoundError:
                pass
        raise Failure("matchbox serves nothing to %s" % self.id)

    def installed(self):
        with open(os.path.join(self.root, "usr/share/oem/coreos-install.json")) as f:
            return f.read()

    def new_boot(self):
        """A new boot id, and what matchbox serves installed."""
        self.boots += 1
        self.boot_id = str(uuidlib.uuid4())
        self.put("proc/sys/kernel/random/boot_id", self.boot_id + "\n")
        self.put("usr/share/oem/coreos-install.json", self.served())

    def journal(self):
        try:
            with open(os.path.join(self.state, "rollout.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def flag(self, name, on=True):
        path = os.path.join(self.dir, name)
        if on:
            open(path, "w").close()
        elif os.path.exists(path):
            os.unlink(path)

    def start(self):
        f = self.fleet
        http, grpcs = self.servers
        argv = [f.agent_bin]
        for u in http:
            argv += ["--server", u]
        for g in grpcs:
            argv += ["--grpc-server", g]
        argv += ["--root", self.root, "--state-dir", self.state, "--hooks-dir", f.hooks,
                 "--interval", str(f.interval), "--facts-interval", str(f.facts_interval),
                 "--check-retries", str(f.check_retries), "--check-interval", "1",
                 "--hook-timeout", "120", "--log-level", f.log_level]
        env = dict(os.environ, FLEET_DIR=f.work, FLEET_ID=self.id,
                   FLEET_DRAIN_S="%.3f" % f.drain_s, FLEET_REBOOT_S="%.3f" % f.reboot_s,
                   FLEET_UNCORDON_S="%.3f" % f.uncordon_s,
                   FLEET_SLOW_DRAIN="%.3f" % f.slow_drain_s)
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env,
                                         start_new_session=True,
                                         preexec_fn=enjtest._pdeathsig(signal.SIGKILL))
        self.starts += 1
        tmp = os.path.join(self.dir, "agent.pid.tmp")
        with open(tmp, "w") as pf:
            pf.write("%d\n" % self.proc.pid)
        os.rename(tmp, os.path.join(self.dir, "agent.pid"))

    def kill_group(self, sig=signal.SIGKILL):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except OSError:
            pass

    def log_tail(self, n=25):
        try:
            with open(self.log_path, errors="replace") as f:
                return "\n".join(f.read().splitlines()[-n:])
        except OSError:
            return ""


class Fleet:
    """n_cp + n_nodes agents on enjoliverd replicas `enjs`, running doc
    (an Ignition document, served to all by the stand-in matchbox)."""

    def __init__(self, ctx, agent_bin, enjs, standin, n_cp, n_nodes, doc, drain_s=0.3, reboot_s=0.0,
                 uncordon_s=0.3, slow_drain_s=3.0, interval=1, facts_interval=1,
                 check_retries=3, log_level="info"):
        self.ctx = ctx
        self.agent_bin = agent_bin
        self.enjs = list(enjs)
        self.standin = standin
        self.work = os.path.join(ctx.tmp, "fleet")
        self.hooks = os.path.join(self.work, "hooks")
        self.hook_log = os.path.join(self.work, "hooks.log")
        self.drain_s, self.reboot_s, self.uncordon_s = drain_s, reboot_s, uncordon_s
        self.slow_drain_s = slow_drain_s
        self.interval, self.facts_interval = interval, facts_interval
        self.check_retries = check_retries
        self.log_level = log_level
        self.lock = threading.RLock()
        self.unexpected = []  # (machine id, exit status, tail of its log)
        self.reboots = []     # (time, machine id, token)
        self._stop = threading.Event()
        self._thread = None
        os.makedirs(self.hooks, exist_ok=True)
        for name, body in HOOKS.items():
            path = os.path.join(self.hooks, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write("#!/bin/sh\n" + body.lstrip("\n"))
            os.chmod(path, 0o755)
        open(self.hook_log, "a").close()
        self.serve(doc)  # what every machine runs at first
        self.machines = [Machine(self, i + 1, i < n_cp) for i in range(n_cp + n_nodes)]
        self.by_id = {m.id: m for m in self.machines}
        self.by_mac = {m.mac: m for m in self.machines}
        http = [e.base for e in self.enjs]
        grpcs = [e.target for e in self.enjs]
        for m in self.machines:
            # Half the fleet prefers each replica: killing one moves half over.
            r = m.idx % len(http)
            m.servers = (http[r:] + http[:r], grpcs[r:] + grpcs[:r])

    # -- processes --

    def start(self, batch=25, pause=0.2):
        """Starts every agent (in batches, so that 200 do not start at once)
        and the supervisor."""
        for i, m in enumerate(self.machines):
            with self.lock:
                m.start()
            if batch and (i + 1) % batch == 0:
                time.sleep(pause)
        self._thread = threading.Thread(target=self._supervise, daemon=True)
        self._thread.start()

    def _supervise(self):
        while not self._stop.wait(0.02):
            with self.lock:
                for m in self.machines:
                    if m.proc is None or m.proc.poll() is None:
                        continue
                    flag = os.path.join(m.dir, "rebooting")
                    if os.path.exists(flag):
                        with open(flag) as f:
                            token = f.read().strip()
                        os.unlink(flag)
                        self.reboots.append((time.time(), m.id, token))
                        m.kill_group()  # nothing of the old boot survives it
                        m.new_boot()
                        m.start()
                    else:
                        self.unexpected.append((m.id, m.proc.returncode, m.log_tail()))
                        log("agent %s exited on its own (status %s)" % (m.id, m.proc.returncode))
                        m.proc = None

    def crash_agent(self, m):
        """SIGKILL of the agent alone (not its hooks: a crash of the agent on
        a live machine), then the agent again on the same boot."""
        with self.lock:
            m.proc.kill()
            m.proc.wait(timeout=10)
            m.start()

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        with self.lock:
            for m in self.machines:
                if m.proc is not None and m.proc.poll() is None:
                    m.kill_group(signal.SIGTERM)
            deadline = time.monotonic() + 5
            for m in self.machines:
                if m.proc is None:
                    continue
                try:
                    m.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
                m.kill_group(signal.SIGKILL)
                try:
                    m.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass

    def check_no_unexpected_exit(self):
        check(not self.unexpected, "agents exited on their own: %s" % "\n".join(
            "%s (status %s):\n%s" % u for u in self.unexpected))

    # -- the API --

    def api(self):
        """A live replica."""
        for e in self.enjs:
            if e.proc.poll() is None:
                return e
        raise Failure("no enjoliverd replica is running")

    def leader(self):
        """The replica that says it leads, or None."""
        for e in self.enjs:
            if e.proc.poll() is not None:
                continue
            try:
                _, text = e.http("GET", "/healthz", timeout=5)
                if json.loads(text).get("is_leader"):
                    return e
            except (OSError, ValueError):
                pass
        return None

    def machines_known(self):
        status, text = self.api().http("GET", "/discovery")
        if status != 200:
            return set()
        return {m["boot-info"]["mac"] for m in json.loads(text)}

    def schedules(self):
        """{mac: [roles]} from GET /scheduler."""
        status, text = self.api().http("GET", "/scheduler")
        check(status == 200, "GET /scheduler: HTTP %d %s" % (status, text))
        return json.loads(text)

    def up_to_date(self):
        """{mac: bool} from GET /lifecycle/ignition."""
        status, text = self.api().http("GET", "/lifecycle/ignition")
        check(status == 200, "GET /lifecycle/ignition: HTTP %d %s" % (status, text))
        out = {}
        for rec in json.loads(text):
            out[rec.get("mac")] = rec.get("up-to-date")
        return out

    def rollout(self):
        return self.api().http_json("GET", "/rollout")

    def enable_rolling(self, threads=4):
        """POST /lifecycle/rolling/mac=<mac> {"strategy": "kexec"} for all."""
        macs = [m.dashed for m in self.machines]
        errors = []

        def work(part):
            for d in part:
                try:
                    status, text = self.api().http("POST", "/lifecycle/rolling/mac=" + d,
                                                   '{"strategy": "kexec"}', token=True)
                    if status != 200:
                        errors.append("%s: HTTP %d %s" % (d, status, text))
                except OSError as e:
                    errors.append("%s: %s" % (d, e))

        ts = [threading.Thread(target=work, args=(macs[i::threads],)) for i in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=120)
        check(not errors, "enabling rolling updates: %s" % errors[:5])

    def serve(self, doc, machine=None):
        """matchbox serves doc to every machine (default.json), or to one."""
        name = machine.dashed if machine else "default"
        path = os.path.join(self.standin.dir, "ignition", name + ".json")
        with open(path + ".tmp", "w") as f:
            f.write(doc)
        os.rename(path + ".tmp", path)

    # -- the record --

    def hook_events(self):
        """[(ts, machine id, event, token)], sorted by time."""
        out = []
        with open(self.hook_log, errors="replace") as f:
            for line in f:
                p = line.split()
                if len(p) == 4:
                    out.append((float(p[0]), p[1], p[2], int(p[3]) if p[3].isdigit() else 0))
        out.sort(key=lambda e: e[0])
        return out

    def count(self, event, machine=None, since=0.0):
        return sum(1 for e in self.hook_events()
                   if e[2] == event and (machine is None or e[1] == machine.id) and e[0] >= since)

    def slot_history(self, etcd, from_rev):
        """Every change of rollout/slots/ keys since from_rev, from etcd's
        history. The whole prefix is read (its last change is the store's
        revision), then filtered."""
        to_rev = etcd.revision()
        slots = enjtest.PREFIX + "rollout/slots/"
        return [c for c in etcd.history(from_rev, to_rev, timeout=30) if c[1].startswith(slots)]


# ---- analyses ------------------------------------------------------------------


def down_intervals(events, since=0.0):
    """{machine id: [(start, end or None)]}: from a drain's start to the end
    of the uncordon that follows (a drain run again within one roll does
    not open a second interval)."""
    out = {}
    open_at = {}
    for ts, mid, ev, _tok in events:
        if ts < since:
            continue
        if ev == "drain-start" and mid not in open_at:
            open_at[mid] = ts
        elif ev == "uncordon-end" and mid in open_at:
            out.setdefault(mid, []).append((open_at.pop(mid), ts))
    for mid, t in open_at.items():
        out.setdefault(mid, []).append((t, None))
    return out


def max_overlap(intervals, members=None):
    """The most intervals open at once (an open one counts to the end), and
    when. members: only those machine ids."""
    points = []
    for mid, ivs in intervals.items():
        if members is not None and mid not in members:
            continue
        for s, e in ivs:
            points.append((s, 1, mid))
            points.append((e if e is not None else float("inf"), -1, mid))
    points.sort(key=lambda p: (p[0], p[1]))  # an end before a start at the same instant
    cur = best = 0
    at = None
    held = set()
    for t, d, mid in points:
        cur += d
        if d > 0:
            held.add(mid)
        else:
            held.discard(mid)
        if cur > best:
            best, at = cur, (t, sorted(held))
    return best, at


def slot_replay(history, macs_cp):
    """From etcd's history of the slot keys: (most slots at once, its
    revision, most control-plane slots at once, {mac: [grant revisions]},
    slots left at the end)."""
    held = set()
    best = best_cp = 0
    best_rev = None
    grants = {}
    for rev, key, kind in history:
        mac = key.rsplit("/", 1)[-1]
        if kind == "PUT":
            if mac not in held:
                grants.setdefault(mac, []).append(rev)
            held.add(mac)
        else:
            held.discard(mac)
        if len(held) > best:
            best, best_rev = len(held), rev
        best_cp = max(best_cp, len(held & macs_cp))
    return best, best_rev, best_cp, grants, held


def prepare(ctx, n_replicas, max_unavailable, extra_env=None, lease_ttl=2, enj_extra=()):
    """etcd, the stand-in matchbox (default.json served), n_replicas
    enjoliverd replicas leading in turn, with max_unavailable."""
    os.environ["ENJOLIVER_ROLLOUT_MAX_UNAVAILABLE"] = str(max_unavailable)
    for k, v in (extra_env or {}).items():
        os.environ[k] = v
    etcd = ctx.start_etcd("fleet")
    standin = ctx.start_standin()
    enjs = [ctx.start_enj(etcd, "r%d" % (i + 1), reconcile=True, matchbox_uri=standin.uri,
                          extra=["--lease-ttl", str(lease_ttl)] + list(enj_extra))
            for i in range(n_replicas)]
    return etcd, standin, enjs


def bring_up(fleet, n_cp, timeout=60):
    """Starts the agents; waits until every machine is discovered, has its
    roles (n_cp control-plane members, the lowest MACs) and reports its
    Ignition up to date; then enables rolling updates for all."""
    fleet.start()
    want = {m.mac for m in fleet.machines}
    enjtest.wait_until(lambda: want <= fleet.machines_known(), timeout,
                       "every machine discovered")

    def roles_ok():
        s = fleet.schedules()
        return all(m.mac in s for m in fleet.machines) and s

    sched = enjtest.wait_until(roles_ok, timeout, "every machine has roles")
    # The first n_cp machines discovered (lowest MACs among them) are the
    # members: which ones depends on the agents' start.
    for m in fleet.machines:
        roles = sched.get(m.mac, [])
        m.cp = "etcd-member" in roles
        check(m.cp == ("kubernetes-control-plane" in roles) and
              (m.cp or roles == ["kubernetes-node"]), "%s has the roles %s" % (m.id, roles))
    check(sum(m.cp for m in fleet.machines) == n_cp, "control-plane members: %s, want %d"
          % ([m.id for m in fleet.machines if m.cp], n_cp))
    enjtest.wait_until(lambda: all(fleet.up_to_date().get(m.mac) for m in fleet.machines),
                       timeout, "every machine reports its Ignition up to date")
    fleet.enable_rolling()


def rolled(fleet, since):
    """True once every machine runs what matchbox serves, is idle and
    holds no slot."""
    for m in fleet.machines:
        if m.installed() != m.served() or m.journal().get("state") != "idle":
            return False
    if fleet.rollout().get("slots"):
        return False
    up = fleet.up_to_date()
    return all(up.get(m.mac) for m in fleet.machines)

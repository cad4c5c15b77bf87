#!/usr/bin/env python3
"""Helper of bench/controller (stdlib only).

  ctl.py fill URL FIXTURE START COUNT [THREADS]
      POST /discovery of COUNT new machines (indexes START..START+COUNT-1),
      keep-alive connections, THREADS in parallel.  Prints "FILL n secs rate".
  ctl.py wait-files DIR N TIMEOUT
      until DIR/groups holds >= N *.json files; prints "FILES n secs".
  ctl.py latency URL FIXTURE START COUNT DIR
      for each new machine: POST /discovery, then wait (inotify on DIR/groups)
      for its group file; prints "LAT p50_ms p99_ms max_ms n timeouts".
  ctl.py failover SIGNAME PID URL...
      sends SIGNAME to PID (the leader), polls /healthz of the URLs every
      10 ms until one says is_leader; prints "FAILOVER secs URL".
  ctl.py healthz URL        prints the /healthz JSON (one line)

Machine i: MAC 52:54:ab:II:II:II, UUID ...-<i>, boot IP 10.x.y.z/10,
gateway 10.0.0.1 (distinct for every i < 4,000,000). A /10 because each
machine also needs a block of 256 pod addresses in its network: 10,000
machines need ~2.6 M addresses.
"""
import ctypes
import ctypes.util
import http.client
import json
import os
import select
import signal
import struct
import sys
import threading
import time
import urllib.parse


def ids(i):
    mac = "52:54:ab:%02x:%02x:%02x" % ((i >> 16) & 255, (i >> 8) & 255, i & 255)
    uuid = "abcdbe7c-0000-4000-8000-%012x" % i
    h = i + 256 + 2  # skip 10.0.0.0/24 (the gateway lives there)
    ip = "10.%d.%d.%d" % ((h >> 16) & 63, (h >> 8) & 255, h & 255)
    return mac, uuid, ip


class Bodies:
    def __init__(self, fixture):
        with open(fixture) as f:
            self.doc = json.load(f)
        self.old_mac = self.doc["boot-info"]["mac"]
        self.old_uuid = self.doc["boot-info"]["uuid"]

    def body(self, i):
        mac, uuid, ip = ids(i)
        d = json.loads(json.dumps(self.doc))
        d["boot-info"]["mac"] = mac
        d["boot-info"]["uuid"] = uuid
        for itf in d["interfaces"]:
            if itf.get("name") == "eth0":
                itf["mac"] = mac
                itf["ipv4"] = ip
                itf["cidrv4"] = ip + "/10"
                itf["netmask"] = 10
                itf["gateway"] = "10.0.0.1"
        t = json.dumps(d)
        t = t.replace(self.old_uuid, uuid)
        t = t.replace(self.old_mac.replace(":", "-"), mac.replace(":", "-"))
        return t.encode()


def conn(url):
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    c.connect()
    c.sock.setsockopt(6, 1, 1)  # TCP_NODELAY
    return c


def post(c, body):
    c.request("POST", "/discovery", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    if r.status // 100 != 2:
        raise RuntimeError("POST /discovery answered %d: %s" % (r.status, data[:300]))


def fill(url, fixture, start, count, nthreads=8):
    b = Bodies(fixture)
    errs = []
    lock = threading.Lock()
    nxt = [start]
    end = start + count

    def worker():
        c = conn(url)
        while True:
            with lock:
                i = nxt[0]
                if i >= end or errs:
                    break
                nxt[0] += 1
            try:
                post(c, b.body(i))
            except Exception as e:  # noqa
                errs.append(e)
                break
        c.close()

    t0 = time.monotonic()
    ts = [threading.Thread(target=worker) for _ in range(nthreads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.monotonic() - t0
    if errs:
        print("ERROR %s" % errs[0], file=sys.stderr)
        return 1
    print("FILL %d %.3f %.0f" % (count, dt, count / dt if dt else 0))
    return 0


def count_files(d):
    try:
        return sum(1 for n in os.listdir(d) if n.endswith(".json") and "-5254ab" in n)
    except FileNotFoundError:
        return 0


def wait_files(mdir, n, timeout, url=None, fixture=None, stall=3.0):
    """Until N group files. With URL: when the count has not moved for STALL
    seconds, re-POST machine 0 (a change event that wakes the reconcilers)
    and count these nudges."""
    g = os.path.join(mdir, "groups")
    t0 = time.monotonic()
    nudges, last_k, last_t, last_move = 0, -1, t0, t0
    b = Bodies(fixture) if url else None
    while True:
        k = count_files(g)
        now = time.monotonic()
        if k != last_k:
            last_k, last_t, last_move = k, now, now
        if k >= n:
            print("FILES %d %.3f %d" % (k, now - t0, nudges))
            return 0
        if now - t0 > timeout or (b and now - last_move >= 4 * stall):
            print("FILES %d %.3f %d timeout" % (k, now - t0, nudges))
            return 1
        if b and now - last_t >= stall:
            c = conn(url)
            post(c, b.body(0))
            c.close()
            nudges += 1
            print("stalled at %d/%d group files for %.0f s at +%.1f s: nudged with a re-POST" %
                  (k, n, stall, now - t0), file=sys.stderr)
            last_t = now
        time.sleep(0.05)


# ---- inotify ----------------------------------------------------------------
IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE = 0x8, 0x80, 0x100
libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class Inotify:
    def __init__(self, path):
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        wd = libc.inotify_add_watch(self.fd, path.encode(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE)
        if wd < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch")

    def names(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return []
        try:
            buf = os.read(self.fd, 65536)
        except BlockingIOError:
            return []
        out, off = [], 0
        while off + 16 <= len(buf):
            _, mask, _, ln = struct.unpack_from("iIII", buf, off)
            name = buf[off + 16:off + 16 + ln].split(b"\0", 1)[0].decode()
            off += 16 + ln
            if mask & (IN_MOVED_TO | IN_CLOSE_WRITE) and name.endswith(".json"):
                out.append(name)
        return out


def pct(xs, p):
    s = sorted(xs)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def latency(url, fixture, start, count, mdir, timeout=2.0):
    b = Bodies(fixture)
    g = os.path.join(mdir, "groups")
    os.makedirs(g, exist_ok=True)
    ino = Inotify(g)
    c = conn(url)
    lats, tmo, run = [], 0, 0
    for i in range(start, start + count):
        body = b.body(i)
        suffix = "-" + ids(i)[0].replace(":", "") + ".json"
        while ino.names(0):  # drain
            pass
        t0 = time.monotonic()
        post(c, body)
        found = False
        while True:
            left = timeout - (time.monotonic() - t0)
            if left <= 0:
                break
            if any(n.endswith(suffix) for n in ino.names(left)):
                found = True
                break
        if found:
            lats.append((time.monotonic() - t0) * 1000.0)
            run = 0
        else:
            tmo += 1
            run += 1
            if run >= 3:  # wedged: do not spend the whole budget
                print("3 samples in a row got no group file within %.0f s: giving up this size" % timeout,
                      file=sys.stderr)
                break
        time.sleep(0.02)  # let the sync settle between samples
    c.close()
    print("LAT %.2f %.2f %.2f %d %d" % (pct(lats, 50), pct(lats, 99),
                                        max(lats) if lats else float("nan"), len(lats), tmo))
    return 0


# ---- leadership -------------------------------------------------------------
def healthz(url, timeout=0.5):
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        c.request("GET", "/healthz")
        r = c.getresponse()
        return json.loads(r.read() or b"{}")
    finally:
        c.close()


def failover(signame, pid, urls, timeout=30.0):
    sig = getattr(signal, signame)
    t0 = time.monotonic()
    os.kill(pid, sig)
    while time.monotonic() - t0 < timeout:
        for u in urls:
            try:
                if healthz(u, 0.2).get("is_leader") is True:
                    print("FAILOVER %.3f %s" % (time.monotonic() - t0, u))
                    return 0
            except Exception:
                pass
        time.sleep(0.01)
    print("FAILOVER timeout -")
    return 1


def metrics(url):
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=2)
    try:
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
    finally:
        c.close()
    runs = depth = None
    for line in text.splitlines():
        if line.startswith('enjoliver_reconcile_total{reconciler="sync"}'):
            runs = int(float(line.split()[-1]))
        elif line.startswith("enjoliver_workqueue_depth"):
            depth = int(float(line.split()[-1]))
    return runs, depth


def resync(url, log, t0, timeout):
    """Times from t0 (epoch seconds) to: elected leader in LOG; the first
    finished sync pass after that (sync runs grew, work queue empty); the
    start of the first second with no sync run and an empty queue."""
    elected = first = quiet = None
    base = last_runs = None
    last_change = None
    while time.time() - t0 < timeout:
        now = time.time()
        if elected is None:
            with open(log, errors="replace") as f:
                if 'msg="elected leader"' in f.read():
                    elected = now - t0
        try:
            runs, depth = metrics(url)
        except Exception:
            runs = depth = None
        if elected is not None and runs is not None:
            if base is None:
                base = runs
            if runs != last_runs or depth:
                last_runs, last_change = runs, now
            if first is None and runs > base and depth == 0:
                first = now - t0
            if first is not None and now - last_change >= 1.0:
                quiet = last_change - t0
                break
        time.sleep(0.01)
    written = 0
    with open(log, errors="replace") as f:
        for line in f:
            if "sync: matchbox files" in line:
                for w in line.split():
                    if w.startswith("written="):
                        written += int(w[8:])
    fmt = lambda x: "nan" if x is None else "%.3f" % x
    print("RESYNC %s %s %s %s %d" % (fmt(elected), fmt(first), fmt(quiet), last_runs, written))
    return 0 if quiet is not None else 1


def main(a):
    cmd = a[0]
    if cmd == "fill":
        return fill(a[1], a[2], int(a[3]), int(a[4]), int(a[5]) if len(a) > 5 else 8)
    if cmd == "wait-files":
        return wait_files(a[1], int(a[2]), float(a[3]), *(a[4:6] if len(a) > 5 else []))
    if cmd == "latency":
        return latency(a[1], a[2], int(a[3]), int(a[4]), a[5])
    if cmd == "failover":
        return failover(a[1], int(a[2]), a[3:])
    if cmd == "resync":
        return resync(a[1], a[2], float(a[3]), float(a[4]))
    if cmd == "healthz":
        print(json.dumps(healthz(a[1], 2.0)))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Shared code of the gRPC end-to-end tests (tests/grpc/test_*.py).

Each test script is run by ctest as

    /usr/bin/python3 test_x.py ENJOLIVERD ETCD_HARNESS MATCHBOX_STANDIN PROTO_DIR [FIXTURES_DIR]

and calls enjtest.main(body), where body(ctx) gets a Context: it starts the
processes (etcd through etcd-harness, enjoliverd replicas, the stand-in
matchbox), knows the generated message classes (ctx.pb) and every RPC of the
API (from the proto's descriptor), and removes everything at the end, on
success as on failure. A failure (enjtest.Failure, raised by check() and
friends, or any other exception) prints the tail of every replica's log and
exits 1.

Every wait is bounded: wait_until() takes a deadline, every RPC a timeout.
"""

import base64
import ctypes
import importlib
import json
import os
import queue
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

import grpc

PREFIX = "/enjoliver/"
# Kinds of keys by boot MAC whose changes are changes of the machine (what
# Machines.Watch turns into PUT events), besides machines/<uuid> itself.
MACHINE_KEYS_BY_MAC = ("schedules/", "states/", "lifecycle/ignition/", "lifecycle/rolling/",
                       "rollout/slots/")
ROLE_NAMES = {1: "etcd-member", 2: "kubernetes-control-plane", 3: "kubernetes-node"}


class Failure(Exception):
    """A check that did not hold."""


def log(msg):
    print("[%8.3f] %s" % (time.monotonic() - _T0, msg), flush=True)


_T0 = time.monotonic()


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def check_eq(got, want, what):
    if got != want:
        raise Failure("%s: got %r, want %r" % (what, got, want))


def check_in(needle, hay, what):
    if needle not in hay:
        raise Failure("%s: %r not in %r" % (what, needle, hay))


class Checks:
    """Runs several independent checks, each to its end, and fails once
    with every failure (for checks that must not hide one another)."""

    def __init__(self):
        self.failures = []

    def run(self, fn):
        try:
            fn()
        except Failure as e:
            log("FAILED: %s" % e)
            self.failures.append(str(e))

    def done(self):
        if self.failures:
            raise Failure("%d check(s) failed:\n  - %s" % (len(self.failures),
                                                           "\n  - ".join(self.failures)))


def wait_until(fn, timeout, what, interval=0.05):
    """Calls fn until it returns a true value (returned) or timeout seconds
    passed (Failure naming what, with the last value seen)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = fn()
            last = value
        except grpc.RpcError as e:
            value = None
            last = "rpc error %s: %s" % (e.code(), e.details())
        if value:
            return value
        if time.monotonic() >= deadline:
            raise Failure("%s: not within %.1f s (last: %r)" % (what, timeout, last))
        time.sleep(interval)


def dashed_upper(mac):
    """52:54:00:ea:6f:41 -> 52-54-00-EA-6F-41 (another form the API takes)."""
    return mac.replace(":", "-").upper()


def _pdeathsig(sig):
    """preexec_fn: the child gets sig when the thread that started it (the
    test's main thread) ends, so that nothing outlives a killed test."""
    def set_it():
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(sig), 0, 0, 0)  # PR_SET_PDEATHSIG
        except Exception:
            pass
    return set_it


# ---- processes ----------------------------------------------------------------


class Etcd:
    """One etcd started by etcd-harness."""

    def __init__(self, ctx, name):
        self.ctx = ctx
        self.err_path = os.path.join(ctx.tmp, "harness-%s.err" % name)
        self.proc = subprocess.Popen(
            [ctx.harness_bin, "--name", name], stdout=subprocess.PIPE,
            stderr=open(self.err_path, "wb"), stdin=subprocess.DEVNULL,
            preexec_fn=_pdeathsig(signal.SIGTERM))
        ctx._procs.append(self.proc)
        info = {}
        lines = queue.Queue()

        def reader():
            for raw in self.proc.stdout:
                lines.put(raw.decode(errors="replace").strip())
            lines.put(None)

        threading.Thread(target=reader, daemon=True).start()
        deadline = time.monotonic() + 30
        while "READY" not in info:
            left = deadline - time.monotonic()
            try:
                line = lines.get(timeout=max(0.01, left))
            except queue.Empty:
                line = None
            if line is None:
                raise Failure("etcd-harness did not print READY=1 within 30 s: %r\n%s"
                              % (info, open(self.err_path, errors="replace").read()[-2000:]))
            if "=" in line:
                k, v = line.split("=", 1)
                info[k] = v
        self.endpoint = info["ENDPOINT"]      # 127.0.0.1:P
        self.url = info["CLIENT_URL"]         # http://127.0.0.1:P
        self.etcd_pid = int(info["PID"])
        self.log_path = info.get("LOG", "")

    def etcdctl(self, *args, timeout=15):
        env = dict(os.environ, ETCDCTL_API="3")
        r = subprocess.run(["etcdctl", "--endpoints", self.endpoint] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                           timeout=timeout)
        if r.returncode != 0:
            raise Failure("etcdctl %s: exit %d: %s" % (" ".join(args), r.returncode,
                                                       r.stderr.decode(errors="replace")))
        return r.stdout.decode()

    def revision(self):
        """etcd's current revision."""
        st = json.loads(self.etcdctl("endpoint", "status", "-w", "json"))
        return int(st[0]["Status"]["header"]["revision"])

    def get_prefix(self, prefix=PREFIX):
        """{key: (mod_revision, create_revision, value bytes)} under prefix."""
        out = json.loads(self.etcdctl("get", "--prefix", prefix, "-w", "json"))
        kvs = {}
        for kv in out.get("kvs", []) or []:
            key = base64.b64decode(kv["key"]).decode()
            kvs[key] = (int(kv.get("mod_revision", 0)), int(kv.get("create_revision", 0)),
                        base64.b64decode(kv.get("value", "")))
        return kvs

    def history(self, from_rev, to_rev, prefix=PREFIX, timeout=15):
        """Every change under prefix with from_rev <= revision <= to_rev, from
        etcd's own history (etcdctl watch --rev): [(revision, key, "PUT" or
        "DELETE")], in etcd's order."""
        env = dict(os.environ, ETCDCTL_API="3")
        proc = subprocess.Popen(
            ["etcdctl", "--endpoints", self.endpoint, "watch", "--prefix", prefix,
             "--rev", str(from_rev), "-w", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        lines = queue.Queue()

        def reader():
            for raw in proc.stdout:
                lines.put(raw)
            lines.put(None)

        threading.Thread(target=reader, daemon=True).start()
        changes = []
        deadline = time.monotonic() + timeout
        try:
            while not changes or changes[-1][0] < to_rev:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Failure("etcd history %d..%d: only up to %r within %d s"
                                  % (from_rev, to_rev, changes[-1] if changes else None, timeout))
                try:
                    raw = lines.get(timeout=left)
                except queue.Empty:
                    continue
                if raw is None:
                    raise Failure("etcdctl watch ended early at %r" % (changes[-1:],))
                raw = raw.strip()
                if not raw.startswith(b"{"):
                    continue
                resp = json.loads(raw)
                for ev in resp.get("Events") or []:
                    kv = ev["kv"]
                    rev = int(kv.get("mod_revision", 0))
                    if ev.get("type") == 1 or ev.get("type") == "DELETE":
                        kind = "DELETE"
                    else:
                        kind = "PUT"
                    if rev <= to_rev:
                        changes.append((rev, base64.b64decode(kv["key"]).decode(), kind))
                    else:
                        changes.append((rev, None, None))
        finally:
            proc.kill()
            proc.wait()
        return [c for c in changes if c[1] is not None]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Standin:
    """The stand-in matchbox serving a directory (ignition/<mac>.json...)."""

    def __init__(self, ctx, directory):
        os.makedirs(os.path.join(directory, "ignition"), exist_ok=True)
        self.dir = directory
        # What enjoliverd's health probes ask matchbox for (the discovery
        # iPXE script and Ignition): served, matchbox counts as healthy.
        with open(os.path.join(directory, "ipxe"), "w") as f:
            f.write("#!ipxe\nchain http://127.0.0.1/boot\n")
        self.serve_ignition("00-00-00-00-00-00", '{"ignition": {"version": "2.2.0"}}')
        self.proc = subprocess.Popen([ctx.standin_bin, directory], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                     preexec_fn=_pdeathsig(signal.SIGKILL))
        ctx._procs.append(self.proc)
        ready, _, _ = select.select([self.proc.stdout], [], [], 15)
        check(ready, "matchbox-standin printed nothing within 15 s")
        line = self.proc.stdout.readline().decode().strip()
        m = re.match(r"PORT=(\d+)$", line)
        check(m is not None, "matchbox-standin printed %r, not PORT=<n>" % line)
        self.port = int(m.group(1))
        self.uri = "http://127.0.0.1:%d" % self.port

    def serve_ignition(self, mac_as_sent, text):
        with open(os.path.join(self.dir, "ignition", mac_as_sent + ".json"), "w") as f:
            f.write(text)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class Enj:
    """One enjoliverd process on an etcd, with its HTTP and gRPC ports."""

    def __init__(self, ctx, etcd, name, reconcile=False, admin_token=None, backup_dir=None,
                 matchbox_uri=None, extra=(), tls_ca=None, wait_ready=True):
        self.ctx, self.etcd, self.name = ctx, etcd, name
        self.token = admin_token
        self.log_path = os.path.join(ctx.tmp, "enjoliverd-%s.log" % name)
        self.tls_ca = tls_ca
        argv = [ctx.enjoliverd_bin, "--etcd-endpoints", etcd.url, "--listen-http", "127.0.0.1:0",
                "--listen-grpc", "127.0.0.1:0", "--name", name,
                "--reconcile", "true" if reconcile else "false",
                "--matchbox-path", ctx.matchbox_path]
        if admin_token:
            tf = os.path.join(ctx.tmp, "token-%s" % name)
            with open(tf, "w") as f:
                f.write(admin_token + "\n")
            argv += ["--admin-token-file", tf]
        argv += ["--backup-dir", backup_dir or os.path.join(ctx.tmp, "backups-%s" % name)]
        if matchbox_uri:
            argv += ["--matchbox-uri", matchbox_uri]
        argv += list(extra)
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdout=open(self.log_path, "ab"),
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=_pdeathsig(signal.SIGKILL))
        ctx._procs.append(self.proc)
        ctx._enjs.append(self)
        self.http_port = self.grpc_port = None
        self._wait_ports()
        self.base = "http://127.0.0.1:%d" % self.http_port
        self.target = "127.0.0.1:%d" % self.grpc_port
        self.channel = self.new_channel()
        if wait_ready:
            wait_until(lambda: self.health().revision > 0, 20,
                       "%s: Health.Check with a synced cache" % name)

    def _wait_ports(self):
        deadline = time.monotonic() + 20
        while True:
            text = self.log_text()
            g = re.search(r'msg="grpc: listening".* port=(\d+)', text)
            h = re.search(r'msg="http: listening".* port=(\d+)', text)
            if g and h:
                self.grpc_port, self.http_port = int(g.group(1)), int(h.group(1))
                return
            if self.proc.poll() is not None:
                raise Failure("enjoliverd %s exited during start-up with status %s"
                              % (self.name, self.proc.returncode))
            if time.monotonic() > deadline:
                raise Failure("enjoliverd %s did not log its ports within 20 s" % self.name)
            time.sleep(0.05)

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    def new_channel(self):
        opts = [("grpc.max_receive_message_length", 64 << 20)]
        if self.tls_ca:
            with open(self.tls_ca, "rb") as f:
                creds = grpc.ssl_channel_credentials(root_certificates=f.read())
            ch = grpc.secure_channel(self.target, creds, options=opts)
        else:
            ch = grpc.insecure_channel(self.target, options=opts)
        self.ctx._channels.append(ch)
        return ch

    # -- gRPC --

    def _md(self, token, metadata):
        md = list(metadata or [])
        if token is True:
            token = self.token
        if token:
            md.append(("authorization", "Bearer " + token))
        return md or None

    def call(self, method, req=None, token=None, metadata=None, timeout=10, channel=None):
        """A unary RPC ("Machines/List"); raises grpc.RpcError on a status."""
        req_cls, resp_cls, streaming = self.ctx.methods[method]
        check(not streaming, "%s is a streaming RPC" % method)
        ch = channel or self.channel
        fn = ch.unary_unary("/enjoliver.v1." + method,
                            request_serializer=lambda m: m.SerializeToString(),
                            response_deserializer=resp_cls.FromString)
        return fn(req if req is not None else req_cls(), timeout=timeout,
                  metadata=self._md(token, metadata))

    def stream(self, method, req=None, token=None, metadata=None, timeout=None, channel=None):
        """A server-streaming RPC: the call object (iterate it; .cancel())."""
        req_cls, resp_cls, streaming = self.ctx.methods[method]
        check(streaming, "%s is not a streaming RPC" % method)
        ch = channel or self.channel
        fn = ch.unary_stream("/enjoliver.v1." + method,
                             request_serializer=lambda m: m.SerializeToString(),
                             response_deserializer=resp_cls.FromString)
        return fn(req if req is not None else req_cls(), timeout=timeout,
                  metadata=self._md(token, metadata))

    def expect_error(self, method, req, code, substrings, token=None, metadata=None,
                     unchanged=False):
        """Calls method (unary, or streaming: read to the end), checks that it
        fails with code and that the message holds every substring; with
        unchanged, that etcd's revision did not move. Returns the message."""
        if isinstance(substrings, str):
            substrings = [substrings]
        before = self.etcd.revision() if unchanged else None
        try:
            if self.ctx.methods[method][2]:
                got = list(self.stream(method, req, token=token, metadata=metadata, timeout=10))
            else:
                got = self.call(method, req, token=token, metadata=metadata)
        except grpc.RpcError as e:
            details = e.details() or ""
            if e.code() != code:
                raise Failure("%s(%s): status %s (%r), want %s"
                              % (method, _short(req), e.code(), details, code))
            for s in substrings:
                if s.lower() not in details.lower():
                    raise Failure("%s(%s): message %r does not say %r"
                                  % (method, _short(req), details, s))
            if unchanged:
                after = self.etcd.revision()
                check_eq(after, before, "etcd revision after the rejected %s(%s)"
                         % (method, _short(req)))
            log("  %s -> %s: %s" % (method, code.name, details))
            return details
        raise Failure("%s(%s): succeeded (%s), want %s" % (method, _short(req), _short(got), code))

    def health(self, timeout=5):
        return self.call("Health/Check", timeout=timeout)

    # -- HTTP --

    def http(self, method, path, body=None, token=None, timeout=15):
        """(status, body text) of one request; token True = this replica's."""
        if token is True:
            token = self.token
        data = body.encode() if isinstance(body, str) else body
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")

    def http_json(self, method, path, body=None, token=None, want=200):
        status, text = self.http(method, path, body, token)
        check(status == want, "%s %s: HTTP %d, want %d: %s" % (method, path, status, want, text))
        return json.loads(text) if text.strip() else None

    def discover(self, i):
        """POSTs the fixture discovery-m<i>.json (or a dict) to /discovery."""
        body = self.ctx.fixture_text(i) if isinstance(i, (int, str)) else json.dumps(i)
        status, text = self.http("POST", "/discovery", body)
        check(status == 200, "POST /discovery (%s): HTTP %d %s" % (i if not isinstance(i, dict)
                                                                   else "body", status, text))
        return json.loads(text)

    def forget(self, uuid):
        status, text = self.http("DELETE", "/discovery/" + uuid, token=True)
        check(status == 200, "DELETE /discovery/%s: HTTP %d %s" % (uuid, status, text))
        return json.loads(text)

    # -- the process --

    def stop(self, want_status=0):
        """SIGTERM; checks the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise Failure("enjoliverd %s did not stop within 15 s of SIGTERM" % self.name)
        check(self.proc.returncode == want_status, "enjoliverd %s exited with status %s, want %s"
              % (self.name, self.proc.returncode, want_status))

    def kill(self):
        """SIGKILL (a crash)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _short(m):
    s = str(m).replace("\n", " ")
    return s if len(s) < 160 else s[:157] + "..."


class Watcher:
    """A server stream read by its own thread: the messages in .msgs, the
    status it ended with in .error (None while it runs or after cancel())."""

    def __init__(self, enj, method, req, channel=None, token=None):
        self.enj = enj
        self.call = enj.stream(method, req, channel=channel, token=token)
        self.msgs = []
        self.error = None
        self.ended = False
        self.cancelled = False
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for m in self.call:
                with self.cond:
                    self.msgs.append(m)
                    self.cond.notify_all()
        except grpc.RpcError as e:
            with self.cond:
                if not self.cancelled:
                    self.error = e
        except Exception as e:  # a bug of the test itself: keep it visible
            with self.cond:
                self.error = e
        with self.cond:
            self.ended = True
            self.cond.notify_all()

    def wait(self, pred, timeout, what):
        """Waits until pred(msgs) is true; fails on timeout or when the
        stream ended first. Returns a copy of the messages."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not pred(self.msgs):
                if self.ended:
                    raise Failure("%s: the stream ended (%s) after %d messages"
                                  % (what, self.describe_error(), len(self.msgs)))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Failure("%s: not within %.1f s (%d messages, last %s)"
                                  % (what, timeout, len(self.msgs),
                                     _short(self.msgs[-1]) if self.msgs else None))
                self.cond.wait(left)
            return list(self.msgs)

    def wait_end(self, timeout, what):
        with self.cond:
            deadline = time.monotonic() + timeout
            while not self.ended:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Failure("%s: the stream did not end within %.1f s" % (what, timeout))
                self.cond.wait(left)
            return list(self.msgs)

    def describe_error(self):
        e = self.error
        if e is None:
            return "OK"
        if isinstance(e, grpc.RpcError):
            return "%s: %s" % (e.code(), e.details())
        return repr(e)

    def snapshot(self):
        with self.cond:
            return list(self.msgs)

    def cancel(self):
        with self.cond:
            self.cancelled = True
        self.call.cancel()
        self.thread.join(timeout=10)


# ---- the context ----------------------------------------------------------------


class Context:
    def __init__(self, argv):
        if len(argv) < 5:
            sys.exit("usage: %s ENJOLIVERD ETCD_HARNESS MATCHBOX_STANDIN PROTO_DIR [FIXTURES_DIR]"
                     % argv[0])
        self.enjoliverd_bin, self.harness_bin, self.standin_bin, self.proto_dir = argv[1:5]
        for p in argv[1:4]:
            if not os.access(p, os.X_OK):
                sys.exit("not an executable: %s" % p)
        self.fixtures_dir = (argv[5] if len(argv) > 5 else
                             os.path.join(os.path.dirname(os.path.abspath(self.proto_dir)),
                                          "..", "shared", "spec", "fixtures"))
        self.tmp = tempfile.mkdtemp(prefix="enj-grpctest-")
        self.matchbox_path = os.path.join(self.tmp, "matchbox")
        for sub in ("groups", "profiles", "ignition"):
            os.makedirs(os.path.join(self.matchbox_path, sub), exist_ok=True)
        self._procs, self._enjs, self._channels, self._etcds = [], [], [], []
        self.pb = self._load_pb()
        self.methods = {}
        for svc in self.pb.DESCRIPTOR.services_by_name.values():
            for m in svc.methods:
                self.methods[svc.name + "/" + m.name] = (
                    getattr(self.pb, m.input_type.name), getattr(self.pb, m.output_type.name),
                    m.server_streaming)

    def _load_pb(self):
        out = os.path.join(self.tmp, "pb")
        os.makedirs(out)
        r = subprocess.run(["protoc", "-I", self.proto_dir, "--python_out=" + out,
                            "enjoliver/v1/enjoliver.proto"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        if r.returncode != 0:
            raise Failure("protoc failed: %s" % r.stdout.decode(errors="replace"))
        sys.path.insert(0, out)
        return importlib.import_module("enjoliver.v1.enjoliver_pb2")

    def start_etcd(self, name="grpctest"):
        e = Etcd(self, name)
        self._etcds.append(e)
        log("etcd %s at %s" % (name, e.endpoint))
        return e

    def start_enj(self, etcd, name, **kw):
        e = Enj(self, etcd, name, **kw)
        log("enjoliverd %s: http %d, grpc %d" % (name, e.http_port, e.grpc_port))
        return e

    def start_standin(self, name="mb"):
        return Standin(self, os.path.join(self.tmp, name))

    def fixture_text(self, i):
        name = "discovery-m%02d.json" % i if isinstance(i, int) else i
        with open(os.path.join(self.fixtures_dir, name)) as f:
            return f.read()

    def fixture(self, i):
        return json.loads(self.fixture_text(i))

    def machine_of(self, i):
        """(uuid, boot mac) of a discovery fixture."""
        b = self.fixture(i)["boot-info"]
        return b["uuid"], b["mac"]

    def cleanup(self):
        for ch in self._channels:
            try:
                ch.close()
            except Exception:
                pass
        for p in reversed(self._procs):
            if p.poll() is None:
                try:
                    p.terminate()
                except OSError:
                    pass
        for p in reversed(self._procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if os.environ.get("KEEP_WORK"):
            log("kept %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def dump_logs(self):
        for e in self._enjs:
            sys.stderr.write("----- tail of enjoliverd %s's log (%s) -----\n%s\n"
                             % (e.name, e.log_path, e.log_tail()))
        for e in self._etcds:
            try:
                err = open(e.err_path, errors="replace").read()[-1500:]
            except OSError:
                err = ""
            if err.strip():
                sys.stderr.write("----- etcd-harness %s stderr -----\n%s\n" % (e.endpoint, err))


def main(body):
    """Runs body(ctx); prints the logs on failure; always cleans up."""
    def on_term(signum, frame):
        raise SystemExit("killed by signal %d" % signum)

    signal.signal(signal.SIGTERM, on_term)
    ctx = None
    status = 1
    t0 = time.monotonic()
    name = os.path.basename(sys.argv[0])
    try:
        ctx = Context(sys.argv)
        body(ctx)
        status = 0
    except BaseException as e:  # noqa: B902 - report anything, then clean up
        traceback.print_exc()
        sys.stderr.write("FAIL: %s: %s\n" % (name, e))
        if ctx:
            ctx.dump_logs()
    finally:
        if ctx:
            ctx.cleanup()
    if status == 0:
        log("%s: all passed in %.1f s" % (name, time.monotonic() - t0))
    sys.exit(status)

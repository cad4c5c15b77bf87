#!/usr/bin/python3
"""The gRPC API over TLS: a throw-away CA and a server certificate for
127.0.0.1 (openssl), enjoliverd with --grpc-tls-cert/--grpc-tls-key; a client
that trusts the CA gets answers (unary and streaming), a plaintext client
and a client trusting another CA get none (UNAVAILABLE); one of the two flags
alone is a bad configuration (exit status 2, and a message saying which
flag is missing); unusable files keep it from starting.
"""
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402

import enjtest  # noqa: E402
from enjtest import check, check_eq, check_in, log  # noqa: E402

S = grpc.StatusCode

CERTS = r"""
set -e
cd "$1"
umask 077
key='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'
for ca in ca other-ca; do
  openssl req -x509 $key -keyout $ca.key -out $ca.pem -days 2 -subj /CN=enjoliver-test-$ca
done
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > ext
openssl req $key -keyout server.key -out server.csr -subj /CN=127.0.0.1
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
  -extfile ext -out server.pem
"""


def make_certs(directory):
    os.makedirs(directory)
    r = subprocess.run(["sh", "-c", CERTS, "sh", directory], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    check(r.returncode == 0, "openssl: %s" % r.stdout.decode(errors="replace")[-2000:])
    return {n: os.path.join(directory, n) for n in ("ca.pem", "other-ca.pem", "server.pem",
                                                   "server.key")}


def start_fails(ctx, etcd, flags, what):
    """Runs enjoliverd with flags that must keep it from starting: (exit
    status, its output)."""
    argv = [ctx.enjoliverd_bin, "--etcd-endpoints", etcd.url, "--listen-http", "127.0.0.1:0",
            "--listen-grpc", "127.0.0.1:0", "--reconcile", "false", "--name", "bad",
            "--matchbox-path", ctx.matchbox_path] + flags
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise enjtest.Failure("%s: enjoliverd started (still running after 20 s)" % what)
    out = r.stdout.decode(errors="replace")
    check('msg="grpc: listening"' not in out, "%s: the gRPC API listened: %s" % (what, out))
    return r.returncode, out


def run(ctx):
    pb = ctx.pb
    certs = make_certs(os.path.join(ctx.tmp, "tls"))
    etcd = ctx.start_etcd()
    t = ctx.start_enj(etcd, "tls", tls_ca=certs["ca.pem"],
                      extra=["--grpc-tls-cert", certs["server.pem"],
                             "--grpc-tls-key", certs["server.key"]])
    check(re.search(r'msg="grpc: listening".* tls=1', t.log_text()) is not None,
          "the listening line does not say tls=1")

    # A client that trusts the CA.
    h = t.health()
    check(h.etcd and h.replica == "tls" and h.revision >= 1, "Health.Check over TLS: %s" % h)
    t.discover(1)
    u1, m1 = ctx.machine_of(1)
    r = t.call("Machines/List", pb.ListMachinesRequest())
    check_eq([m.uuid for m in r.machines], [u1], "Machines.List over TLS")
    w = t.stream("Machines/Watch", pb.WatchMachinesRequest(), timeout=10)
    got = []
    for ev in w:
        got.append((ev.type, ev.machine.uuid))
        if ev.type == pb.MachineEvent.SNAPSHOT_END:
            break
    w.cancel()
    check_eq(got, [(pb.MachineEvent.SNAPSHOT, u1), (pb.MachineEvent.SNAPSHOT_END, "")],
             "Machines.Watch over TLS")
    log("TLS: Health.Check, Machines.List and Machines.Watch answer a client trusting the CA")

    # A plaintext client, and a TLS client trusting another CA: no answer.
    plain = grpc.insecure_channel(t.target)
    ctx._channels.append(plain)
    with open(certs["other-ca.pem"], "rb") as f:
        stranger = grpc.secure_channel(t.target, grpc.ssl_channel_credentials(f.read()))
    ctx._channels.append(stranger)
    for ch, who in ((plain, "a plaintext client"), (stranger, "a client trusting another CA")):
        try:
            t.call("Health/Check", channel=ch, timeout=5)
            raise enjtest.Failure("%s got an answer over TLS" % who)
        except grpc.RpcError as e:
            check_eq(e.code(), S.UNAVAILABLE, "the status %s gets" % who)
    # The server still serves the right client afterwards.
    check(t.health().etcd, "Health.Check over TLS after refused clients")
    log("TLS: plaintext and other-CA clients get UNAVAILABLE")

    # One flag alone: a bad configuration.
    status, out = start_fails(ctx, etcd, ["--grpc-tls-cert", certs["server.pem"]],
                              "--grpc-tls-cert alone")
    check_eq(status, 2, "exit status with --grpc-tls-cert alone (%s)" % out.strip())
    check_in("grpc_tls_key", out, "the message with --grpc-tls-cert alone")
    status, out = start_fails(ctx, etcd, ["--grpc-tls-key", certs["server.key"]],
                              "--grpc-tls-key alone")
    check_eq(status, 2, "exit status with --grpc-tls-key alone (%s)" % out.strip())
    check_in("grpc_tls_cert", out, "the message with --grpc-tls-key alone")
    # Files that cannot serve: enjoliverd does not start, and says that the
    # certificate or key is the trouble (not, e.g., a port in use).
    late = enjtest.Checks()
    junk = os.path.join(ctx.tmp, "junk.pem")
    with open(junk, "w") as f:
        f.write("not a certificate\n")
    other_key = os.path.join(os.path.dirname(certs["ca.pem"]), "other-ca.key")
    for flags, what in (
            (["--grpc-tls-cert", junk, "--grpc-tls-key", certs["server.key"]],
             "a junk certificate"),
            (["--grpc-tls-cert", certs["server.pem"], "--grpc-tls-key", other_key],
             "a key that is not the certificate's"),
            (["--grpc-tls-cert", os.path.join(ctx.tmp, "nowhere.pem"),
              "--grpc-tls-key", certs["server.key"]], "a missing certificate file")):
        def one(flags=flags, what=what):
            status, out = start_fails(ctx, etcd, flags, what)
            own = "\n".join(li for li in out.splitlines()
                            if li.startswith("enjoliverd:") or "level=error" in li)
            log("%s: exit %d: %s" % (what, status, own.replace("\n", " | ")))
            check(status != 0, "%s: exit status %d" % (what, status))
            check("address already in use" not in own.lower(),
                  "%s: enjoliverd blames the address: %s" % (what, own))
            check(re.search(r"tls|certificate|cert|key", own, re.I) is not None,
                  "%s: enjoliverd's error does not name the certificate or key: %s"
                  % (what, own))
        late.run(one)
    late.done()
    log("TLS: one flag alone exits 2 naming the other; unusable files keep it from starting")
    t.stop()


if __name__ == "__main__":
    enjtest.main(run)

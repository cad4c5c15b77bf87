#!/usr/bin/python3
"""Offline test of the Helm chart helm/enjoliver, without a cluster or helm.

The chart is rendered by tests/helm/render.go (Go's text/template with
Debian's sprig, a stand-in for `helm template`; see its header for what it
does not do), built here with `go build`, for the default values (plus the
one required value, etcd.endpoints) and for values-ha.yaml. The rendered
objects are then checked against the binaries themselves: the flags in the
containers' args must be flags that `enjoliverd --help` and
`enjoliver-agent --help` list, the configuration file's keys must be keys
`enjoliverd --help` names, the probes' routes must exist in api/openapi.json
and their ports must be ports the container declares. Finally enjoliverd is
started once on each rendered configuration file to see that it accepts it.

Usage: test_chart.py --chart DIR --renderer-src render.go --work DIR
       --enjoliverd PATH --agent PATH --openapi openapi.json
       --ha-values values-ha.yaml [--go go]
"""
import argparse
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time

import yaml

FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL: " + what, flush=True)
    return cond


def die(msg):
    print("test_chart: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


# ---- what the binaries say ---------------------------------------------------

def help_text(binary):
    p = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    if p.returncode != 0:
        die("%s --help exited %d: %s" % (binary, p.returncode, p.stderr))
    return p.stdout + p.stderr


def help_flags(text):
    """Every --flag a --help text lists at the start of an option line."""
    return set(re.findall(r"^  (--[a-z][a-z0-9-]*)", text, re.M))


def help_config_keys(text):
    """The keys of enjoliverd --help's "Keys (type: default):" section."""
    m = re.search(r"Keys \(type: default\):\n((?:  .*\n)+)", text)
    if not m:
        die("enjoliverd --help has no 'Keys (type: default):' section")
    return set(re.findall(r"^  ([a-z0-9_]+) \(", m.group(1), re.M))


# ---- rendering ---------------------------------------------------------------

def build_renderer(go, src, work):
    out = os.path.join(work, "render")
    env = dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode",
               GOCACHE=os.path.join(work, "gocache"), GOFLAGS="", CGO_ENABLED="0")
    env.setdefault("HOME", work)
    p = subprocess.run([go, "build", "-o", out, os.path.basename(src)], cwd=os.path.dirname(src),
                       env=env, capture_output=True, text=True, timeout=50)
    if p.returncode != 0:
        die("go build of the renderer failed (are golang-go and "
            "golang-github-masterminds-sprig-dev installed? scripts/lib.sh lists them):\n"
            + p.stdout + p.stderr)
    return out


def render(renderer, chart, work, tag, files=(), sets=(), release="enjoliver",
           namespace="enjoliver"):
    notes = os.path.join(work, "notes-%s.txt" % tag)
    cmd = [renderer, "-chart", chart, "-release", release, "-namespace", namespace,
           "-notes", notes]
    for f in files:
        cmd += ["-f", f]
    for s in sets:
        cmd += ["-set", s]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    text = notes_text = None
    if p.returncode == 0:
        text = p.stdout
        with open(os.path.join(work, "rendered-%s.yaml" % tag), "w") as f:
            f.write(text)
        with open(notes) as f:
            notes_text = f.read()
    return p.returncode, text, notes_text, p.stderr


# ---- helpers over the objects ------------------------------------------------

def objects_of(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def one(docs, kind, name=None):
    found = [d for d in objects_of(docs, kind) if name is None or d["metadata"]["name"] == name]
    if len(found) != 1:
        die("expected one %s%s, found %d" % (kind, " " + name if name else "", len(found)))
    return found[0]


def labels_match(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def parse_args_list(args, flags, where):
    """[--flag value ...] -> {flag: [values]}; every flag must be listed."""
    out = {}
    i = 0
    while i < len(args):
        a = args[i]
        if not check(isinstance(a, str) and a.startswith("--"),
                     "%s: argument %r is not a flag" % (where, a)):
            i += 1
            continue
        check(a in flags, "%s: %s is not a flag of the binary's --help" % (where, a))
        if a in ("--help", "--version"):
            check(False, "%s: %s would only print and exit" % (where, a))
            i += 1
            continue
        check(i + 1 < len(args) and not str(args[i + 1]).startswith("--"),
              "%s: %s has no value" % (where, a))
        out.setdefault(a, []).append(str(args[i + 1]) if i + 1 < len(args) else "")
        i += 2
    return out


def arg(parsed, flag):
    v = parsed.get(flag)
    return v[-1] if v else None


def mount_for(container, path):
    """The volumeMount whose mountPath holds path (the longest one)."""
    best = None
    for m in container.get("volumeMounts") or []:
        mp = m["mountPath"].rstrip("/")
        if path == mp or path.startswith(mp + "/"):
            if best is None or len(mp) > len(best["mountPath"].rstrip("/")):
                best = m
    return best


def volume(pod, name):
    for v in pod.get("volumes") or []:
        if v["name"] == name:
            return v
    return None


def file_source(pod, container, path, where):
    """(volume, key in its source) that the file at path comes from."""
    m = mount_for(container, path)
    if not check(m is not None, "%s: %s is on no mounted volume" % (where, path)):
        return None, None
    v = volume(pod, m["name"])
    if not check(v is not None, "%s: mount %s has no volume" % (where, m["name"])):
        return None, None
    rel = path[len(m["mountPath"].rstrip("/")) + 1:]
    src = v.get("secret") or v.get("configMap") or {}
    items = src.get("items")
    if items is None:
        return v, rel
    for it in items:
        if it["path"] == rel:
            return v, it["key"]
    check(False, "%s: %s is not among the items of volume %s" % (where, path, v["name"]))
    return v, None


def container_port(container, port):
    for p in container.get("ports") or []:
        if port == p.get("name") or port == p.get("containerPort"):
            return p["containerPort"]
    return None


# ---- the checks --------------------------------------------------------------

EXPECTED_KINDS = {
    "Deployment": 1, "Service": 2, "ConfigMap": 2, "PodDisruptionBudget": 1,
    "ServiceAccount": 2, "ClusterRole": 1, "ClusterRoleBinding": 1, "DaemonSet": 1,
}


def check_text(tag, text, notes):
    for name, t in (("manifests", text), ("NOTES.txt", notes)):
        for bad in ("{{", "}}", "<no value>"):
            check(bad not in t, "%s %s: %r left in the output" % (tag, name, bad))
    check(notes.strip() != "", "%s: NOTES.txt renders empty" % tag)


def check_rendering(tag, text, notes, ctx, expect):
    print("--- %s" % tag, flush=True)
    check_text(tag, text, notes)
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        check(False, "%s: the output is not valid YAML: %s" % (tag, e))
        return
    ns = ctx["namespace"]
    for d in docs:
        check(isinstance(d, dict), "%s: a document is not a mapping" % tag)
        for k in ("apiVersion", "kind", "metadata"):
            check(k in d, "%s: a document has no %s" % (tag, k))
        name = d["metadata"].get("name", "")
        check(re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?", name) is not None,
              "%s: %s name %r is not a valid object name" % (tag, d["kind"], name))
        if not d["kind"].startswith("Cluster"):
            check(d["metadata"].get("namespace") == ns,
                  "%s: %s/%s is not in the release's namespace" % (tag, d["kind"], name))

    kinds = {}
    for d in docs:
        kinds[d["kind"]] = kinds.get(d["kind"], 0) + 1
    want = dict(EXPECTED_KINDS)
    if expect["servicemonitor"]:
        want["ServiceMonitor"] = 1
    check(kinds == want, "%s: kinds %s, expected %s" % (tag, kinds, want))
    print("kinds: %s" % ", ".join("%s x%d" % kv for kv in sorted(kinds.items())), flush=True)

    server_flags, agent_flags = ctx["server_flags"], ctx["agent_flags"]
    keys, routes = ctx["config_keys"], ctx["routes"]

    # enjoliverd: the Deployment.
    dep = one(docs, "Deployment")
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    pod_labels = spec["template"]["metadata"]["labels"]
    check(spec["replicas"] == expect["replicas"],
          "%s: replicas %s, expected %s" % (tag, spec["replicas"], expect["replicas"]))
    check(labels_match(spec["selector"]["matchLabels"], pod_labels),
          "%s: the Deployment's selector does not match its pods" % tag)
    anti = (pod.get("affinity") or {}).get("podAntiAffinity") or {}
    terms = anti.get(expect["anti_affinity"]) or []
    check(len(terms) > 0, "%s: no podAntiAffinity %s" % (tag, expect["anti_affinity"]))
    for t in terms:
        term = t.get("podAffinityTerm", t)
        check(labels_match(term["labelSelector"]["matchLabels"], pod_labels),
              "%s: the anti-affinity does not select the enjoliverd pods" % tag)
        check(term.get("topologyKey") == "kubernetes.io/hostname",
              "%s: anti-affinity topologyKey %r" % (tag, term.get("topologyKey")))
    (c,) = [c for c in pod["containers"] if c["name"] == "enjoliverd"]
    check(c["command"] == ["/usr/bin/enjoliverd"], "%s: enjoliverd command %r" % (tag, c["command"]))
    a = parse_args_list(c["args"], server_flags, tag + " enjoliverd args")
    http_port = container_port(c, "http")
    grpc_port = container_port(c, "grpc")
    check(http_port is not None and grpc_port is not None,
          "%s: enjoliverd declares no http/grpc container ports" % tag)
    check(arg(a, "--listen-http") == "0.0.0.0:%s" % http_port,
          "%s: --listen-http %r vs container port %s" % (tag, arg(a, "--listen-http"), http_port))
    check(arg(a, "--listen-grpc") == "0.0.0.0:%s" % grpc_port,
          "%s: --listen-grpc %r vs container port %s" % (tag, arg(a, "--listen-grpc"), grpc_port))
    check(arg(a, "--etcd-endpoints") == ",".join(expect["etcd_endpoints"]),
          "%s: --etcd-endpoints %r" % (tag, arg(a, "--etcd-endpoints")))
    check(arg(a, "--api-uri") == expect["api_uri"],
          "%s: --api-uri %r, expected %r" % (tag, arg(a, "--api-uri"), expect["api_uri"]))
    for e in c.get("env") or []:
        if e["name"].startswith("ENJOLIVER_"):
            check(e["name"][len("ENJOLIVER_"):].lower() in keys,
                  "%s: env %s names no configuration key" % (tag, e["name"]))

    # The probes: real routes, declared ports; liveness must not hang on etcd.
    for probe, want_path in (("livenessProbe", "/metrics"), ("readinessProbe", "/healthz")):
        p = c.get(probe)
        if not check(p is not None and "httpGet" in p, "%s: no httpGet %s" % (tag, probe)):
            continue
        path, port = p["httpGet"]["path"], p["httpGet"]["port"]
        check(path in routes and "get" in routes[path],
              "%s: %s path %s is no GET route of api/openapi.json" % (tag, probe, path))
        check(container_port(c, port) == http_port,
              "%s: %s port %r is not the container's HTTP port" % (tag, probe, port))
        check(path == want_path, "%s: %s on %s, expected %s" % (tag, probe, path, want_path))
    # /healthz answers 503 while etcd is down: never the liveness route.
    check(c["livenessProbe"]["httpGet"]["path"] != "/healthz",
          "%s: liveness on /healthz would restart every replica when etcd is down" % tag)

    # The configuration file, from the ConfigMap, with enjoliverd's keys only.
    cfg_path = arg(a, "--config")
    cfg_vol, cfg_key = file_source(pod, c, cfg_path or "", tag + " --config")
    config_text = None
    if cfg_vol is not None and check("configMap" in cfg_vol, "%s: --config not from a ConfigMap" % tag):
        cm = one(docs, "ConfigMap", cfg_vol["configMap"]["name"])
        config_text = cm["data"].get(cfg_key)
        if check(config_text is not None, "%s: ConfigMap has no key %s" % (tag, cfg_key)):
            cfg = yaml.safe_load(config_text)
            check(isinstance(cfg, dict), "%s: the configuration file is not a mapping" % tag)
            for k in cfg:
                check(k in keys, "%s: configuration key %r is not one enjoliverd --help names" % (tag, k))
            for k, v in expect["config"].items():
                check(cfg.get(k) == v, "%s: config %s = %r, expected %r" % (tag, k, cfg.get(k), v))
            for k in ("backup_dir", "matchbox_path"):
                check(mount_for(c, cfg[k]) is not None,
                      "%s: config %s %s is on no volume" % (tag, k, cfg[k]))
            ctx["configs"][tag] = config_text
            print("config keys: %s" % ", ".join(sorted(cfg)), flush=True)

    # Secrets: mounted files behind the flags that name them.
    for flag, secret, key in expect["secret_files"]:
        path = arg(a, flag)
        if not check(path is not None, "%s: no %s" % (tag, flag)):
            continue
        v, k = file_source(pod, c, path, "%s %s" % (tag, flag))
        if v is not None:
            check((v.get("secret") or {}).get("secretName") == secret and k == key,
                  "%s: %s reads %s, not key %s of Secret %s" % (tag, flag, path, key, secret))
    for flag in expect["absent_flags"]:
        check(flag not in a, "%s: %s given though not configured" % (tag, flag))

    # Services: the two ports, onto the container's.
    svcs = {s["metadata"]["name"]: s for s in objects_of(docs, "Service")}
    http_svc = svcs.get(ctx["http_service"])
    grpc_svc = svcs.get(ctx["grpc_service"])
    for svc, port_name, cport, sport in ((http_svc, "http", http_port, 5000),
                                         (grpc_svc, "grpc", grpc_port, 5001)):
        if not check(svc is not None, "%s: no %s Service" % (tag, port_name)):
            continue
        check(labels_match(svc["spec"]["selector"], pod_labels),
              "%s: Service %s selects no enjoliverd pod" % (tag, svc["metadata"]["name"]))
        (p,) = svc["spec"]["ports"]
        check(p["port"] == sport, "%s: %s Service port %s" % (tag, port_name, p["port"]))
        check(container_port(c, p["targetPort"]) == cport,
              "%s: %s Service targetPort %r is not container port %s" % (tag, port_name, p["targetPort"], cport))

    # PodDisruptionBudget.
    pdb = one(docs, "PodDisruptionBudget")
    check(labels_match(pdb["spec"]["selector"]["matchLabels"], pod_labels),
          "%s: the PDB selects no enjoliverd pod" % tag)
    for k, v in expect["pdb"].items():
        check(pdb["spec"].get(k) == v, "%s: PDB %s = %r, expected %r" % (tag, k, pdb["spec"].get(k), v))

    # The agent's DaemonSet.
    ds = one(docs, "DaemonSet")
    dpod = ds["spec"]["template"]["spec"]
    check(labels_match(ds["spec"]["selector"]["matchLabels"], ds["spec"]["template"]["metadata"]["labels"]),
          "%s: the DaemonSet's selector does not match its pods" % tag)
    check(dpod.get("hostNetwork") is True and dpod.get("hostPID") is True,
          "%s: the agent has no host network and PID" % tag)
    check(dpod.get("dnsPolicy") == "ClusterFirstWithHostNet",
          "%s: the agent cannot resolve the Services (dnsPolicy)" % tag)
    tol_keys = {t.get("key") for t in dpod.get("tolerations") or []}
    check("node-role.kubernetes.io/control-plane" in tol_keys,
          "%s: the agent does not tolerate control-plane nodes" % tag)
    (ac,) = dpod["containers"]
    check(ac["command"] == ["/usr/bin/enjoliver-agent"], "%s: agent command %r" % (tag, ac["command"]))
    check((ac.get("securityContext") or {}).get("privileged") is True
          or "SYS_BOOT" in ((ac.get("securityContext") or {}).get("capabilities") or {}).get("add", []),
          "%s: the agent can neither kexec nor reboot (no privilege, no SYS_BOOT)" % tag)
    aa = parse_args_list(ac["args"], agent_flags, tag + " agent args")
    check(arg(aa, "--server") == "http://%s.%s.svc.cluster.local:%s" % (ctx["http_service"], ns, 5000),
          "%s: agent --server %r is not the HTTP Service" % (tag, arg(aa, "--server")))
    check(arg(aa, "--grpc-server") == "%s.%s.svc.cluster.local:%s" % (ctx["grpc_service"], ns, 5001),
          "%s: agent --grpc-server %r is not the gRPC Service" % (tag, arg(aa, "--grpc-server")))
    check(arg(aa, "--root") == "/host", "%s: agent --root %r" % (tag, arg(aa, "--root")))
    m = mount_for(ac, "/host")
    if check(m is not None and m["mountPath"] == "/host", "%s: nothing mounted at /host" % tag):
        check(m.get("readOnly") is True, "%s: the host's / is mounted writable" % tag)
        v = volume(dpod, m["name"])
        check((v.get("hostPath") or {}).get("path") == "/", "%s: /host is not the host's /" % tag)
    m = mount_for(ac, arg(aa, "--state-dir") or "")
    check(m is not None and "hostPath" in (volume(dpod, m["name"]) or {}),
          "%s: --state-dir is not on a hostPath" % tag)
    hooks_dir = arg(aa, "--hooks-dir") or ""
    m = mount_for(ac, hooks_dir)
    hv = volume(dpod, m["name"]) if m else None
    if check(hv is not None and "configMap" in hv, "%s: --hooks-dir is not a ConfigMap" % tag):
        hcm = one(docs, "ConfigMap", hv["configMap"]["name"])
        check(hv["configMap"].get("defaultMode", 0o644) & 0o111 == 0o111,
              "%s: the hooks are not executable" % tag)
        items = hv["configMap"].get("items") or []
        check({i["key"] for i in items} == set(hcm.get("data") or {}),
              "%s: the hook volume's items and the ConfigMap's keys differ" % tag)
        paths = sorted(i["path"] for i in items)
        for i in items:
            check(re.fullmatch(r"(drain|uncordon|kexec|reboot|poweroff|install|"
                               r"ready\.d/[^/]+|blockers\.d/[^/]+)", i["path"]) is not None,
                  "%s: hook path %s is not one the agent looks for" % (tag, i["path"]))
            check(hcm["data"][i["key"]].startswith("#!"), "%s: hook %s has no #! line" % (tag, i["key"]))
        for p in expect["hooks"]:
            check(p in paths, "%s: hook %s missing" % (tag, p))
        print("hooks: %s" % ", ".join(paths), flush=True)
    if expect["grpc_tls"]:
        v, k = file_source(dpod, ac, arg(aa, "--tls-ca") or "", tag + " agent --tls-ca")
        check(v is not None and (v.get("secret") or {}).get("secretName") == expect["grpc_tls"],
              "%s: agent --tls-ca not from Secret %s" % (tag, expect["grpc_tls"]))
    else:
        check("--tls-ca" not in aa, "%s: agent --tls-ca without gRPC TLS" % tag)

    # RBAC for drain and uncordon, bound to the agent's ServiceAccount.
    role = one(docs, "ClusterRole")
    granted = set()
    for r in role["rules"]:
        for res in r["resources"]:
            for verb in r["verbs"]:
                granted.add((res, verb))
    for need in (("nodes", "get"), ("nodes", "patch"), ("pods", "list"),
                 ("pods/eviction", "create"), ("daemonsets", "get")):
        check(need in granted, "%s: the ClusterRole does not grant %s %s" % (tag, need[1], need[0]))
    binding = one(docs, "ClusterRoleBinding")
    check(binding["roleRef"]["name"] == role["metadata"]["name"], "%s: the binding's roleRef" % tag)
    sa_names = {s["metadata"]["name"] for s in objects_of(docs, "ServiceAccount")}
    check({"kind": "ServiceAccount", "name": dpod["serviceAccountName"], "namespace": ns}
          in binding["subjects"], "%s: the binding does not name the agent's ServiceAccount" % tag)
    check(dpod["serviceAccountName"] in sa_names and pod["serviceAccountName"] in sa_names,
          "%s: a pod's ServiceAccount is not rendered" % tag)

    # The ServiceMonitor, when on: /metrics through the HTTP Service.
    for sm in objects_of(docs, "ServiceMonitor"):
        check(http_svc is not None and labels_match(sm["spec"]["selector"]["matchLabels"],
                                                    http_svc["metadata"]["labels"]),
              "%s: the ServiceMonitor does not select the HTTP Service" % tag)
        check(grpc_svc is None or not labels_match(sm["spec"]["selector"]["matchLabels"],
                                                   grpc_svc["metadata"]["labels"]),
              "%s: the ServiceMonitor also selects the gRPC Service" % tag)
        for ep in sm["spec"]["endpoints"]:
            check(ep["port"] == "http" and ep["path"] in routes,
                  "%s: ServiceMonitor endpoint %r" % (tag, ep))


def check_failures(renderer, chart, work):
    print("--- failures", flush=True)
    rc, _, _, err = render(renderer, chart, work, "no-etcd")
    check(rc != 0 and "etcd.endpoints is required" in err,
          "rendering without etcd.endpoints: exit %d, stderr %r" % (rc, err[-300:]))
    print("without etcd.endpoints: exit %d: %s" % (rc, err.strip().splitlines()[-1] if err.strip() else ""),
          flush=True)
    ep = "etcd.endpoints={http://etcd:2379}"
    for tag, sets, msg in (
            ("managed-key", [ep, "config.listen_http=0.0.0.0:80"], "config.listen_http is set by the chart"),
            ("token-in-config", [ep, "config.admin_token=0123456789abcdef"], "config.admin_token is set by the chart"),
            ("bad-affinity", [ep, "enjoliverd.podAntiAffinity=sometimes"], "podAntiAffinity must be"),
            ("bad-hook", [ep, "agent.hooks.drian=x"], "agent.hooks.drian: unknown hook")):
        rc, _, _, err = render(renderer, chart, work, tag, sets=sets)
        check(rc != 0 and msg in err, "%s: exit %d, stderr %r" % (tag, rc, err[-300:]))


def run_enjoliverd_on(enjoliverd, tag, config_text, work):
    """enjoliverd accepts the rendered file: it starts (it exits 2 on a bad
    value). etcd is an unreachable port; paths are moved into the work dir."""
    with tempfile.TemporaryDirectory(prefix="cfg-%s-" % tag, dir=work) as d:
        run_enjoliverd_in(enjoliverd, tag, config_text, d)


def run_enjoliverd_in(enjoliverd, tag, config_text, d):
    path = os.path.join(d, "enjoliver.yaml")
    with open(path, "w") as f:
        f.write(config_text)
    cmd = [enjoliverd, "--config", path, "--etcd-endpoints", "http://127.0.0.1:1",
           "--listen-http", "127.0.0.1:0", "--listen-grpc", "127.0.0.1:0",
           "--backup-dir", os.path.join(d, "backups"), "--matchbox-path", os.path.join(d, "matchbox"),
           "--reconcile", "false"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log = b""
    started = False
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not started:
        r, _, _ = select.select([p.stderr], [], [], 0.2)
        if r:
            chunk = os.read(p.stderr.fileno(), 65536)
            if not chunk:
                break
            log += chunk
            started = b"enjoliverd started" in log
        if p.poll() is not None and not r:
            break
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    rest = p.stderr.read()
    p.stderr.close()
    log += rest or b""
    check(started, "%s: enjoliverd did not start on the rendered configuration (exit %s):\n%s"
          % (tag, p.returncode, log.decode(errors="replace")[-2000:]))
    about_file = [l for l in log.decode(errors="replace").splitlines() if path in l]
    check(not about_file, "%s: enjoliverd complains about the configuration: %s" % (tag, about_file))
    if started:
        print("enjoliverd started on the %s configuration, exit %s after SIGTERM" % (tag, p.returncode),
              flush=True)


def main():
    ap = argparse.ArgumentParser()
    for a in ("--chart", "--renderer-src", "--work", "--enjoliverd", "--agent", "--openapi", "--ha-values"):
        ap.add_argument(a, required=True)
    ap.add_argument("--go", default="go")
    o = ap.parse_args()
    os.makedirs(o.work, exist_ok=True)
    t0 = time.monotonic()

    server_help = help_text(o.enjoliverd)
    ctx = {
        "server_flags": help_flags(server_help),
        "agent_flags": help_flags(help_text(o.agent)),
        "config_keys": help_config_keys(server_help),
        "routes": json.load(open(o.openapi))["paths"],
        "namespace": "enjoliver",
        "http_service": "enjoliver-http",
        "grpc_service": "enjoliver-grpc",
        "configs": {},
    }
    if len(ctx["server_flags"]) < 20 or len(ctx["agent_flags"]) < 10 or len(ctx["config_keys"]) < 40:
        die("could not read the flags and keys from --help")

    renderer = build_renderer(o.go, os.path.abspath(o.renderer_src), os.path.abspath(o.work))
    print("renderer built in %.1f s" % (time.monotonic() - t0), flush=True)

    # Every configuration key is documented in values.yaml (set, commented
    # out, or named as set by the chart).
    values_text = open(os.path.join(o.chart, "values.yaml")).read()
    m = re.search(r"(?ms)^# Keys the chart sets itself.*?^config:", values_text)
    managed = m.group(0) if check(m is not None, "values.yaml: no list of the keys the chart sets") else ""
    for k in sorted(ctx["config_keys"]):
        check(re.search(r"(?m)^\s*(# )?%s:" % re.escape(k), values_text) is not None
              or re.search(r"\b%s\b" % re.escape(k), managed) is not None,
              "values.yaml does not document the configuration key %s" % k)

    default_endpoint = "http://etcd.infra.svc:2379"
    rc, text, notes, err = render(renderer, o.chart, o.work, "default",
                                  sets=["etcd.endpoints={%s}" % default_endpoint])
    if check(rc == 0, "default rendering failed: " + err):
        check_rendering("default", text, notes, ctx, {
            "replicas": 3, "anti_affinity": "preferredDuringSchedulingIgnoredDuringExecution",
            "etcd_endpoints": [default_endpoint],
            "api_uri": "http://enjoliver-http.enjoliver.svc.cluster.local:5000",
            "config": {"backup_dir": "/var/lib/enjoliver/backups", "matchbox_path": "/var/lib/matchbox"},
            "secret_files": [],
            "absent_flags": ["--etcd-cacert", "--etcd-cert", "--etcd-key", "--admin-token-file",
                             "--grpc-tls-cert", "--grpc-tls-key"],
            "pdb": {"maxUnavailable": 1},
            "servicemonitor": False, "grpc_tls": None,
            "hooks": ["drain", "uncordon", "kexec", "reboot", "poweroff"],
        })

    ha = yaml.safe_load(open(o.ha_values))
    rc, text, notes, err = render(renderer, o.chart, o.work, "ha", files=[o.ha_values])
    if check(rc == 0, "HA rendering failed: " + err):
        check_rendering("ha", text, notes, ctx, {
            "replicas": 5, "anti_affinity": "requiredDuringSchedulingIgnoredDuringExecution",
            "etcd_endpoints": ha["etcd"]["endpoints"],
            "api_uri": ha["apiUri"],
            "config": dict(ha["config"]),
            "secret_files": [
                ("--etcd-cacert", "enjoliver-etcd-client", "ca.crt"),
                ("--etcd-cert", "enjoliver-etcd-client", "tls.crt"),
                ("--etcd-key", "enjoliver-etcd-client", "tls.key"),
                ("--admin-token-file", "enjoliver-admin", "token"),
                ("--grpc-tls-cert", "enjoliver-grpc-tls", "tls.crt"),
                ("--grpc-tls-key", "enjoliver-grpc-tls", "tls.key"),
            ],
            "absent_flags": [],
            "pdb": {"minAvailable": 3},
            "servicemonitor": True, "grpc_tls": "enjoliver-grpc-tls",
            "hooks": ["drain", "uncordon", "blockers.d/10-no-maintenance"],
        })
        check("WARNING: apiUri" not in notes and "WARNING: no adminToken" not in notes,
              "ha: NOTES.txt warns about what the HA values set")

    # Another release name and namespace: names follow.
    rc, text, notes, err = render(renderer, o.chart, o.work, "other-release",
                                  sets=["etcd.endpoints={http://etcd:2379}", "agent.enabled=false",
                                        "enjoliverd.pdb.enabled=false"],
                                  release="prod", namespace="boot")
    if check(rc == 0, "other-release rendering failed: " + err):
        check_text("other-release", text, notes)
        docs = [d for d in yaml.safe_load_all(text) if d]
        kinds = sorted(d["kind"] for d in docs)
        check(kinds == ["ConfigMap", "Deployment", "Service", "Service", "ServiceAccount"],
              "other-release: kinds %s with the agent and the PDB off" % kinds)
        check(all(d["metadata"]["name"].startswith("prod-enjoliver") for d in docs),
              "other-release: names do not follow the release")

    check_failures(renderer, o.chart, o.work)

    print("--- enjoliverd on the rendered configuration files", flush=True)
    for tag, cfg in sorted(ctx["configs"].items()):
        run_enjoliverd_on(o.enjoliverd, tag, cfg, o.work)

    print("%.1f s" % (time.monotonic() - t0), flush=True)
    if FAILURES:
        print("%d check(s) failed" % len(FAILURES), flush=True)
        sys.exit(1)
    print("all checks passed", flush=True)


if __name__ == "__main__":
    main()

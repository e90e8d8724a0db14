#!/usr/bin/env python3
"""Proves the container image offline, without pulling a base image or running a container engine.

1. builds the static binary (glibc, crt-static, Cargo.toml's `image` profile) and the
   Dockerfile's `prebuilt` stage with podman (vfs storage; the builder stage, which would pull the
   Rust image, is skipped);
2. checks the image's configuration: non-root user, exposed port, HEALTHCHECK by the binary itself,
   LIFECYCLE_SIM_* environment, size under the target;
3. exports the image's filesystem and starts the binary inside it the way a container runtime
   would: PID 1 of a new PID namespace, chrooted into the image's files, as the image's user, with
   the image's environment and /dev nodes bound in. There it must print its ready line, answer
   /_sim/health, pass its own HEALTHCHECK command, answer HTTPS for api.bap.microsoft.com through
   its proxy port under the CA it serves, load scenario files mounted at /scenarios, keep its CA in
   /ca when LIFECYCLE_SIM_TLS_CA_DIR=/ca, guard /_sim when LIFECYCLE_SIM_CONTROL_TOKEN is set (its
   HEALTHCHECK still passing), and exit 0 on SIGTERM. `podman run` itself is not permitted on these
   machines.
4. measures cold start (process start to the first 200 from /_sim/health) and writes the figures
   to target/image-report.json.

Needs root (podman, mount and PID namespaces). Installs podman from Debian's packages if missing.
Usage: scripts/check-image.py [cold-start runs, default 20]
"""
import http.client, json, os, shutil, signal, socket, ssl, statistics, subprocess, sys, tarfile, time
import urllib.error, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = "x86_64-unknown-linux-gnu"
BINARY = os.path.join(ROOT, "target", TARGET, "image", "lifecycle-sim")
WORK = os.path.join(ROOT, "target", "image")
ROOTFS = os.path.join(WORK, "rootfs")
REPORT = os.path.join(ROOT, "target", "image-report.json")
TAG = "localhost/lifecycle-sim:check"
PODMAN = ["podman", "--storage-driver", "vfs"]
MAX_IMAGE_BYTES = 20 * 1000 * 1000
DEV_NODES = ["null", "zero", "random", "urandom"]


def step(what):
    print(f"check-image: {what}", flush=True)


def fail(why):
    print(f"check-image: FAILED: {why}", file=sys.stderr, flush=True)
    sys.exit(1)


def run(cmd, **kw):
    result = subprocess.run(cmd, cwd=ROOT, text=True, capture_output=True, **kw)
    if result.returncode != 0:
        fail(f"{' '.join(cmd)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, timeout=1.0, token=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def through_proxy(proxy_port, plain_port, host="api.bap.microsoft.com"):
    """GET https://{host}/_sim/health as an HTTPS_PROXY client would, trusting only the CA
    the simulator serves; the status and the CA."""
    ca = urllib.request.urlopen(f"http://127.0.0.1:{plain_port}/_sim/tls/ca.pem", timeout=2).read()
    context = ssl.create_default_context(cadata=ca.decode())
    connection = http.client.HTTPSConnection("127.0.0.1", proxy_port, context=context, timeout=5)
    connection.set_tunnel(host, 443)
    connection.request("GET", "/_sim/health")
    status = connection.getresponse().status
    connection.close()
    return status, ca.decode()


def wait_healthy(port, proc, deadline_s=10.0):
    """Seconds until /_sim/health first answers 200, polling as fast as possible."""
    start = time.perf_counter()
    while time.perf_counter() - start < deadline_s:
        if proc.poll() is not None:
            fail(f"the binary exited {proc.returncode} before answering: {proc.stdout.read()}")
        try:
            if get(port, "/_sim/health")[0] == 200:
                return time.perf_counter() - start
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.0005)
    fail(f"no healthy answer on port {port} within {deadline_s} s")


# ---- phase 1: build the image and read its configuration ----

def build():
    if os.geteuid() != 0:
        fail("run as root: podman's vfs storage, mount and PID namespaces need it")
    if shutil.which("podman") is None:
        step("installing podman from Debian's packages")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "update", "-qq"], env=env)
        run(["apt-get", "install", "-y", "-qq", "podman"], env=env)
    step("building the static binary")
    env = dict(os.environ, RUSTFLAGS="-C target-feature=+crt-static")
    run(["cargo", "build", "--profile", "image", "--locked", "--bin", "lifecycle-sim", "--target", TARGET],
        env=env)
    kind = run(["file", "-b", BINARY]) if shutil.which("file") else ""
    if kind and "static" not in kind:
        fail(f"the binary is not statically linked: {kind}")
    step("building the Dockerfile's prebuilt stage")
    run(PODMAN + ["build", "--format", "docker", "--target", "prebuilt", "-t", TAG, "."])
    image = json.loads(run(PODMAN + ["inspect", TAG]))[0]
    config = image["Config"]
    size = image["Size"]
    problems = []
    user = config.get("User", "")
    if user in ("", "0", "root") or user.startswith(("0:", "root:")):
        problems.append(f"the image runs as root ({user!r})")
    for port in ("4747/tcp", "4748/tcp"):
        if port not in config.get("ExposedPorts", {}):
            problems.append(f"port {port} is not exposed: {config.get('ExposedPorts')}")
    health = image.get("Healthcheck") or image.get("HealthCheck") or config.get("Healthcheck") or {}
    test = health.get("Test", [])
    if test[:3] != ["CMD", "/lifecycle-sim", "health"]:
        problems.append(f"the HEALTHCHECK is not the binary's own check: {test}")
    env = dict(e.split("=", 1) for e in config.get("Env", []))
    if env.get("LIFECYCLE_SIM_BIND") != "0.0.0.0":
        problems.append("LIFECYCLE_SIM_BIND is not 0.0.0.0 inside the image")
    if env.get("LIFECYCLE_SIM_SCENARIO_DIR") != "/scenarios":
        problems.append("LIFECYCLE_SIM_SCENARIO_DIR is not /scenarios")
    if env.get("LIFECYCLE_SIM_PROXY_PORT") != "4748":
        problems.append("LIFECYCLE_SIM_PROXY_PORT is not 4748")
    if config.get("Entrypoint") != ["/lifecycle-sim"]:
        problems.append(f"the entrypoint is {config.get('Entrypoint')}")
    if size >= MAX_IMAGE_BYTES:
        problems.append(f"the image is {size} bytes, over the {MAX_IMAGE_BYTES} target")
    if problems:
        fail("; ".join(problems))
    step(f"image {TAG}: {size} bytes ({size / 1e6:.1f} MB), user {user}, healthcheck {test[1:]}")

    step("exporting the image's filesystem")
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(ROOTFS)
    container = run(PODMAN + ["create", TAG]).strip()
    try:
        run(PODMAN + ["export", container, "-o", os.path.join(WORK, "rootfs.tar")])
    finally:
        subprocess.run(PODMAN + ["rm", container], capture_output=True)
    with tarfile.open(os.path.join(WORK, "rootfs.tar")) as tar:
        tar.extractall(ROOTFS, filter="fully_trusted")
    files = sorted(os.path.relpath(os.path.join(d, f), ROOTFS)
                   for d, _, fs in os.walk(ROOTFS) for f in fs)
    if "lifecycle-sim" not in files:
        fail(f"the image has no /lifecycle-sim: {files}")
    ca_dir = os.stat(os.path.join(ROOTFS, "ca"))
    if f"{ca_dir.st_uid}:{ca_dir.st_gid}" != user:
        fail(f"/ca is owned by {ca_dir.st_uid}:{ca_dir.st_gid}, not the image's user {user}")
    return {"bytes": size, "user": user, "env": env, "healthcheck": test[1:], "files": files}


# ---- phase 2 (inside a private mount namespace): run the binary as a container would ----

def start(env, uid, gid):
    """The image's entrypoint as PID 1 of a new PID namespace, chrooted, as the image's user."""
    cmd = ["unshare", "--pid", "--fork", "--kill-child",
           "chroot", f"--userspec={uid}:{gid}", ROOTFS, "/lifecycle-sim"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def pid_one(wrapper):
    """The host pid of the wrapper's child: the simulator, PID 1 in its namespace."""
    for _ in range(1000):
        try:
            with open(f"/proc/{wrapper.pid}/task/{wrapper.pid}/children") as f:
                children = f.read().split()
            if children:
                with open(f"/proc/{children[0]}/status") as f:
                    status = f.read()
                if "NSpid" in status:
                    return int(children[0]), status
        except FileNotFoundError:
            pass
        time.sleep(0.001)
    fail("the simulator process did not appear")


def stop(proc):
    """SIGTERM to the simulator itself (unshare ignores SIGTERM while it waits), then wait."""
    pid, _ = pid_one(proc)
    os.kill(pid, signal.SIGTERM)
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        fail("SIGTERM did not stop the simulator within 10 s")


def in_namespace(image):
    env = dict(image["env"], PATH="/usr/sbin:/usr/bin:/sbin:/bin")
    uid, gid = image["user"].split(":")
    runs = int(sys.argv[2])
    for node in DEV_NODES:
        path = os.path.join(ROOTFS, "dev", node)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "a").close()
        run(["mount", "--bind", f"/dev/{node}", path])

    step("starting the image's entrypoint as PID 1, as its user, with its environment")
    port, proxy = free_port(), free_port()
    env["LIFECYCLE_SIM_PORT"] = str(port)
    env["LIFECYCLE_SIM_PROXY_PORT"] = str(proxy)
    proc = start(env, uid, gid)
    first = proc.stdout.readline()
    if f"listening on http://0.0.0.0:{port}" not in first:
        fail(f"the first log line is not the ready line with the bound address: {first!r}")
    pid, status = pid_one(proc)
    nspid = [l for l in status.splitlines() if l.startswith("NSpid")][0].split()
    uids = [l for l in status.splitlines() if l.startswith("Uid")][0].split()
    if nspid[-1] != "1":
        fail(f"the simulator is not PID 1 in its namespace: {nspid}")
    if uids[1] != uid:
        fail(f"the simulator runs as uid {uids[1]}, not the image's {uid}")
    wait_healthy(port, proc)
    _, tenants = get(port, "/_sim/tenants")
    domains = [t["domain"] for t in tenants["tenants"]]
    if domains != ["contoso.test"]:
        fail(f"an empty /scenarios should leave the default scenario, not {domains}")
    check = subprocess.run(["chroot", f"--userspec={uid}:{gid}", ROOTFS] + image["healthcheck"],
                           env=env, capture_output=True, text=True)
    if check.returncode != 0 or not check.stdout.startswith("healthy"):
        fail(f"the HEALTHCHECK command failed: {check.returncode} {check.stdout}{check.stderr}")
    step(f"ready line, /_sim/health and the HEALTHCHECK command pass; pid {pid} is PID 1 as uid {uid}")
    if f"HTTPS proxy on http://0.0.0.0:{proxy}" not in first:
        fail(f"the ready line does not name the proxy: {first!r}")
    status, _ = through_proxy(proxy, port)
    if status != 200:
        fail(f"https://api.bap.microsoft.com/_sim/health through the proxy answered {status}")
    step("through the proxy port, https://api.bap.microsoft.com answers under the CA it serves")

    code = stop(proc)
    rest = proc.stdout.read()
    if code != 0 or "shutting down" not in rest:
        fail(f"SIGTERM to PID 1 gave exit {code}: {rest}")
    step("SIGTERM to PID 1: clean exit 0")

    dead = subprocess.run(["chroot", f"--userspec={uid}:{gid}", ROOTFS] + image["healthcheck"],
                          env=env, capture_output=True, text=True)
    if dead.returncode != 1:
        fail(f"the HEALTHCHECK command passes with nothing listening: {dead.returncode}")
    step("the HEALTHCHECK command fails (exit 1) with nothing listening")

    step("mounting the shipped scenarios at /scenarios, with a control token in the environment")
    mounted = os.path.join(ROOTFS, "scenarios")
    os.makedirs(mounted, exist_ok=True)
    run(["mount", "--bind", "-o", "ro", os.path.join(ROOT, "scenarios"), mounted])
    token = "check-image-token"
    guarded = dict(env, LIFECYCLE_SIM_CONTROL_TOKEN=token, LIFECYCLE_SIM_TLS_CA_DIR="/ca")
    proc = start(guarded, uid, gid)
    proc.stdout.readline()
    wait_healthy(port, proc)
    _, served_ca = through_proxy(proxy, port)
    ca_files = {f: os.stat(os.path.join(ROOTFS, "ca", f)) for f in ("ca.pem", "ca-key.pem")}
    with open(os.path.join(ROOTFS, "ca", "ca.pem")) as f:
        kept_ca = f.read()
    refused, _ = get(port, "/_sim/tenants")
    _, tenants = get(port, "/_sim/tenants", token=token)
    domains = sorted(t["domain"] for t in tenants["tenants"])
    shipped = sorted(f for f in os.listdir(mounted) if f.endswith(".yaml"))
    guarded_check = subprocess.run(
        ["chroot", f"--userspec={uid}:{gid}", ROOTFS] + image["healthcheck"],
        env=guarded, capture_output=True, text=True)
    stop(proc)
    run(["umount", mounted])
    if "tailspin.test" not in domains or "contoso.test" not in domains:
        fail(f"the mounted scenarios did not load: {domains}")
    if refused != 401:
        fail(f"with LIFECYCLE_SIM_CONTROL_TOKEN set, /_sim/tenants without it answered {refused}")
    if guarded_check.returncode != 0:
        fail(f"the HEALTHCHECK fails when a control token is set: {guarded_check.stderr}")
    key = ca_files["ca-key.pem"]
    if kept_ca != served_ca or key.st_mode & 0o777 != 0o600 or str(key.st_uid) != uid:
        fail(f"the CA in /ca: served == kept {kept_ca == served_ca}, key mode "
             f"{oct(key.st_mode & 0o777)}, owner {key.st_uid}")
    step("with LIFECYCLE_SIM_TLS_CA_DIR=/ca the CA is written there (key 0600, the image's user) "
         "and is the one served")
    step(f"{len(shipped)} mounted scenario files gave {len(domains)} tenants; the control token "
         "guards /_sim (401 without it) and the HEALTHCHECK still passes")

    step(f"measuring cold start over {runs} runs")
    times = []
    for _ in range(runs):
        env["LIFECYCLE_SIM_PORT"] = str(free_port())
        env["LIFECYCLE_SIM_PROXY_PORT"] = "0"
        env["LIFECYCLE_SIM_LOG"] = "warn"
        started = time.perf_counter()
        proc = start(env, uid, gid)
        times.append(wait_healthy(int(env["LIFECYCLE_SIM_PORT"]), proc) * 1000)
        stop(proc)
    return {"coldStartMs": {"median": round(statistics.median(times), 1),
                            "min": round(min(times), 1), "max": round(max(times), 1),
                            "runs": runs},
            "mountedScenarioTenants": len(domains)}


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--in-namespace":
        with open(os.path.join(WORK, "image.json")) as f:
            image = json.load(f)
        print(json.dumps(in_namespace(image)))
        return
    runs = sys.argv[1] if len(sys.argv) > 1 else "20"
    image = build()
    with open(os.path.join(WORK, "image.json"), "w") as f:
        json.dump(image, f)
    # A private mount namespace: the /dev and /scenarios binds vanish with it.
    out = run(["unshare", "--mount", "--propagation", "private",
               sys.executable, os.path.abspath(__file__), "--in-namespace", runs])
    lines = out.strip().splitlines()
    for line in lines[:-1]:
        print(line, flush=True)
    measured = json.loads(lines[-1])
    report = {"image": TAG, "bytes": image["bytes"], "megabytes": round(image["bytes"] / 1e6, 1),
              "binaryBytes": os.path.getsize(BINARY), "user": image["user"],
              "healthcheck": image["healthcheck"], **measured}
    with open(REPORT, "w") as f:
        json.dump(report, f, indent=2)
    cold = measured["coldStartMs"]
    step(f"OK: image {report['megabytes']} MB ({report['bytes']} bytes); cold start in the image's "
         f"filesystem, process start to first healthy answer: median {cold['median']} ms "
         f"(min {cold['min']}, max {cold['max']}, {cold['runs']} runs); report in {REPORT}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Measures scenario loads and snapshots against a release build.

Starts target/release/lifecycle-sim paused, then times: loading the shipped busy-tenant scenario
(12 F&O and 10 Power Platform environments, 3 links) 50 times into fresh tenants; snapshotting
such a tenant 200 times (YAML and JSON); and loading the snapshot back 50 times.
Usage: cargo build --release && scripts/measure-scenarios.py
"""
import json, socket, statistics, subprocess, time, urllib.request, uuid

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

port = free_port()
base = f"http://127.0.0.1:{port}"
proc = subprocess.Popen(["target/release/lifecycle-sim", "--port", str(port), "--paused", "--seed", "1",
                         "--no-default-tenant", "--log", "warn"], stdout=subprocess.DEVNULL)
try:
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/_sim/health"); break
        except OSError:
            time.sleep(0.02)

    def call(method, path, body=None):
        req = urllib.request.Request(base + path, data=body, method=method)
        t = time.perf_counter()
        with urllib.request.urlopen(req) as r:
            data = r.read()
        return (time.perf_counter() - t) * 1000, data

    loads = [call("POST", f"/_sim/scenarios/busy-tenant?tenant={uuid.uuid4()}")[0] for _ in range(50)]
    tenant = json.loads(call("POST", f"/_sim/scenarios/busy-tenant?tenant={uuid.uuid4()}")[1])["tenants"][0]["id"]
    call("POST", "/_sim/clock/advance", json.dumps({"by": "20m"}).encode())
    yaml_times, json_times = [], []
    for _ in range(200):
        t, snap = call("GET", f"/_sim/tenants/{tenant}/snapshot")
        yaml_times.append(t)
        t, snap_json = call("GET", f"/_sim/tenants/{tenant}/snapshot?format=json")
        json_times.append(t)
    reloads = [call("POST", f"/_sim/scenarios?tenant={uuid.uuid4()}", snap)[0] for _ in range(50)]
    rss = int(open(f"/proc/{proc.pid}/status").read().split("VmRSS:")[1].split()[0]) / 1024
    med = statistics.median
    print(f"load busy-tenant scenario: median {med(loads):.2f} ms (50 loads)")
    print(f"snapshot YAML: median {med(yaml_times):.2f} ms, {len(snap)/1024:.0f} KiB; "
          f"JSON: median {med(json_times):.2f} ms, {len(snap_json)/1024:.0f} KiB (200 each)")
    print(f"load the YAML snapshot: median {med(reloads):.2f} ms (50 loads)")
    print(f"resident after 101 tenants: {rss:.1f} MiB")
finally:
    proc.terminate(); proc.wait()

#!/usr/bin/env python3
"""Measures how Power Platform reads and settling grow with a tenant's size, against a release build.

For each size N (default 1,000, 10,000 and 100,000) it loads a scenario of one tenant with N sandboxes
(no Dataverse, so capacity and domains play no part), then times, over keep-alive HTTP:
- get-by-id: 500 sequential GETs of the last environment on the BAP admin API (median, p99);
- create: 1000 sandboxes created through the BAP admin API (median per create);
- settle: one POST /_sim/clock/advance of 1 h that finishes those 1000 pending creates;
- the server's resident memory afterwards;
- an LCS scenario load: a second tenant with one project of N development environments.
Usage: cargo build --release && scripts/measure-scale.py [N ...]
"""
import http.client, json, socket, statistics, subprocess, sys, time, urllib.parse

TENANT = "5ca1e000-0000-4000-8000-000000000001"
BAP = "/providers/Microsoft.BusinessAppPlatform"

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def scenario(n):
    # Flow style keeps 100,000 environments inside the default 4 MiB body limit.
    envs = "\n".join(f"      - {{name: S{i}, type: Sandbox}}" for i in range(n))
    return f"""version: 1
tenants:
  - id: {TENANT}
    domain: scale.test
    users:
      - upn: admin@scale.test
        roles: [Global admin]
        licenses: [Dynamics 365 Unified Operations Plan]
    powerPlatformEnvironments:
{envs}
"""

def lcs_scenario(n):
    envs = ",".join(f"{{name: D{i}, type: DevTestDev}}" for i in range(n))
    return f"""version: 1
tenants:
  - id: 5ca1e000-0000-4000-8000-000000000002
    domain: scale-lcs.test
    projects:
      - id: 3000001
        name: Scale
        environments: [{envs}]
"""

def measure(n):
    port = free_port()
    proc = subprocess.Popen(["target/release/lifecycle-sim", "--port", str(port), "--paused", "--seed", "1",
                             "--no-default-tenant", "--log", "warn"], stdout=subprocess.DEVNULL)
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        for _ in range(200):
            try:
                c.request("GET", "/_sim/health"); c.getresponse().read(); break
            except OSError:
                time.sleep(0.02); c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

        def call(method, path, body=None, headers=None):
            t = time.perf_counter()
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse(); data = r.read()
            if r.status >= 400:
                raise SystemExit(f"{method} {path}: {r.status} {data[:300]!r}")
            return (time.perf_counter() - t) * 1000, data

        t_load, _ = call("POST", "/_sim/scenarios", scenario(n).encode(), {"content-type": "application/yaml"})
        form = urllib.parse.urlencode({"grant_type": "password", "client_id": "x", "username": "admin@scale.test",
                                       "password": "x", "resource": "https://service.powerapps.com"})
        _, tok = call("POST", f"/{TENANT}/oauth2/token", form.encode(), {"content-type": "application/x-www-form-urlencoded"})
        auth = {"Authorization": "Bearer " + json.loads(tok)["access_token"], "content-type": "application/json"}
        # The id of the last environment, from the control plane (the BAP list is unpaged).
        _, tenant = call("GET", f"/_sim/tenants/{TENANT}")
        last = json.loads(tenant)["powerPlatformEnvironments"][-1]["id"]
        gets = sorted(call("GET", f"{BAP}/scopes/admin/environments/{last}?api-version=2023-06-01", headers=auth)[0]
                      for _ in range(500))
        body = json.dumps({"location": "unitedstates", "properties": {"displayName": "New", "environmentSku": "Sandbox"}})
        creates = [call("POST", f"{BAP}/environments?api-version=2023-06-01", body.encode(), auth)[0] for _ in range(1000)]
        t_settle, _ = call("POST", "/_sim/clock/advance", b'{"by":"1h"}', {"content-type": "application/json"})
        t_lcs, _ = call("POST", "/_sim/scenarios", lcs_scenario(n).encode(), {"content-type": "application/yaml"})
        rss = next(int(l.split()[1]) for l in open(f"/proc/{proc.pid}/status") if l.startswith("VmRSS:")) / 1024
        print(f"N={n:>6}: scenario load {t_load:8.0f} ms | get-by-id median {statistics.median(gets):6.3f} ms, "
              f"p99 {gets[int(len(gets) * 0.99) - 1]:6.3f} ms | create median {statistics.median(creates):6.3f} ms | "
              f"settle 1000 creates {t_settle:8.1f} ms | LCS load {t_lcs:8.0f} ms | RSS {rss:6.0f} MiB", flush=True)
    finally:
        proc.terminate(); proc.wait()

for n in [int(a) for a in sys.argv[1:]] or [1000, 10000, 100000]:
    measure(n)

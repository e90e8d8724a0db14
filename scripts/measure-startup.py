#!/usr/bin/env python3
"""Cold start (process start to first 200 from /_sim/health) and idle memory of the release binary.

Usage: scripts/measure-startup.py [runs]   (build first: cargo build --release)
"""
import statistics, subprocess, sys, time, urllib.request, urllib.error, socket

BIN = "target/release/lifecycle-sim"
runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

times, rss = [], []
for _ in range(runs):
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen([BIN, "--port", str(port), "--log", "warn"], stdout=subprocess.DEVNULL)
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_sim/health", timeout=1) as r:
                if r.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.0005)
    times.append((time.perf_counter() - start) * 1000)
    time.sleep(0.2)  # settle, then read idle resident memory
    with open(f"/proc/{proc.pid}/status") as f:
        rss.append(next(int(l.split()[1]) for l in f if l.startswith("VmRSS")))
    proc.terminate()
    proc.wait()

print(f"cold start to first 200: median {statistics.median(times):.1f} ms, "
      f"min {min(times):.1f} ms, max {max(times):.1f} ms over {runs} runs")
print(f"idle resident memory: median {statistics.median(rss) / 1024:.1f} MiB")

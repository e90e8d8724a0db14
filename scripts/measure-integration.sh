#!/usr/bin/env bash
# Throughput of the Power Platform integration reads (LCS details with the integration section,
# the conceptual environment view) against a release build, with wrk (apt-get install wrk), on a
# tenant with 100 linked sandbox pairs. The load generator shares the machine with the server:
# compare ratios within one run.
# Usage: cargo build --release && scripts/measure-integration.sh [seconds]
set -euo pipefail
secs=${1:-10}
port=4797
bin=target/release/lifecycle-sim
$bin --port $port --paused --seed 1 --start-time 2026-01-01T09:00:00Z --log warn --no-default-tenant &
pid=$!
trap 'kill $pid' EXIT
for _ in $(seq 50); do curl -sf localhost:$port/_sim/ready >/dev/null && break; sleep 0.1; done
base=http://localhost:$port
envs=$(python3 -c 'import json;print(json.dumps([{"name":"Load-%d"%i,"type":"Sandbox"} for i in range(100)]))')
tenant=$(curl -sf -X POST $base/_sim/tenants -d "{\"domain\":\"load.test\",\"capacity\":{\"databaseMb\":1048576},\"projects\":[{\"id\":7000001,\"name\":\"Load\",\"environments\":$envs}]}" \
  | python3 -c 'import sys,json;print(json.load(sys.stdin)["id"])')
tok=$(curl -sf -X POST $base/$tenant/oauth2/token -d grant_type=password -d client_id=x -d username=admin@load.test -d password=x -d resource=https://lcsapi.lcs.dynamics.com | python3 -c 'import sys,json;print(json.load(sys.stdin)["access_token"])')
project=$base/_portal/lcs/projects/7000001/environments
ids=$(curl -sf -H "Authorization: Bearer $tok" $project | python3 -c 'import sys,json;[print(e["id"]) for e in json.load(sys.stdin)["environments"]]')
start=$(date +%s%N)
for id in $ids; do
  curl -sf -o /dev/null -X POST -H "Authorization: Bearer $tok" "$project/$id/power-platform-integration" -d '{"acceptTerms":true}'
done
echo "100 setups started in $(( ($(date +%s%N) - start) / 1000000 )) ms"
start=$(date +%s%N)
curl -sf -o /dev/null -X POST $base/_sim/clock/advance -d '{"by":"2h"}'
echo "advance 2h (100 setups settle, 500 stage ends) in $(( ($(date +%s%N) - start) / 1000000 )) ms"
one=$(echo "$ids" | head -1)
run() {
  local name=$1 url=$2
  printf '%-52s ' "$name"
  wrk -t2 -c16 -d${secs}s -H "Authorization: Bearer $tok" "$url" | awk '/Requests\/sec/{rps=$2} /Latency/{lat=$2} END{printf "%10s req/s   mean latency %s\n", rps, lat}'
}
run "GET /_sim/health (baseline)" "$base/_sim/health"
run "LCS environment details (linked)" "$project/$one"
run "integration section" "$project/$one/power-platform-integration"
run "conceptual view, 101 environments" "$base/_sim/tenants/$tenant/environments"
echo "resident memory after the runs: $(awk '/VmRSS/{print $2, $3}' /proc/$pid/status)"

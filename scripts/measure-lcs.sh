#!/usr/bin/env bash
# Throughput and latency of LCS API reads against a release build, with wrk (apt-get install wrk).
# The load generator shares the machine with the server: compare ratios within one run.
# Usage: cargo build --release && scripts/measure-lcs.sh [seconds]
set -euo pipefail
secs=${1:-10}
port=4799
bin=target/release/lifecycle-sim
$bin --port $port --paused --seed 1 --start-time 2026-01-01T09:00:00Z --lcs-throttling off --log warn &
pid=$!
trap 'kill $pid' EXIT
for _ in $(seq 50); do curl -sf localhost:$port/_sim/ready >/dev/null && break; sleep 0.1; done
base=http://localhost:$port
# A second tenant with 1000 environments in one project, to show paging does not scan work.
envs=$(python3 -c 'import json;print(json.dumps([{"name":f"Box{i:04}","type":"DevTestDev"} for i in range(1000)]))')
curl -sf -X POST $base/_sim/tenants -d "{\"domain\":\"big.test\",\"projects\":[{\"id\":7777777,\"name\":\"Big\",\"environments\":$envs}]}" >/dev/null
token() { curl -sf -X POST $base/common/oauth2/token -d grant_type=password -d client_id=x -d "username=$1" -d password=x -d resource=$base | python3 -c 'import sys,json;print(json.load(sys.stdin)["access_token"])'; }
small=$(token admin@contoso.test)
big=$(token admin@big.test)
activity=$(curl -sf -X POST -H "Authorization: Bearer $small" $base/databasemovement/v1/refresh/project/1234567/source/c0de0001-0000-4000-8000-000000000001/target/c0de0001-0000-4000-8000-000000000002 | python3 -c 'import sys,json;print(json.load(sys.stdin)["OperationActivityId"])')
run() {
  local name=$1 tok=$2 path=$3
  printf '%-44s ' "$name"
  wrk -t2 -c16 -d${secs}s -H "Authorization: Bearer $tok" "$base$path" | awk '/Requests\/sec/{rps=$2} /Latency/{lat=$2} END{printf "%10s req/s   mean latency %s\n", rps, lat}'
}
run "GET /_sim/health (baseline)" "$small" /_sim/health
run "metadata, 3 environments" "$small" /environmentinfo/v1/detail/project/1234567
run "metadata page 25 of 1000 environments" "$big" "/environmentinfo/v1/detail/project/7777777/?page=25"
run "fetchstatus of a running refresh" "$small" "/databasemovement/v1/fetchstatus/project/1234567/environment/c0de0001-0000-4000-8000-000000000002/operationactivity/$activity"
echo "resident memory after the runs: $(awk '/VmRSS/{print $2, $3}' /proc/$pid/status)"

#!/usr/bin/env bash
# Throughput and latency of Power Platform reads (BAP and Power Platform API) against a release
# build, with wrk (apt-get install wrk). The load generator shares the machine with the server:
# compare ratios within one run.
# Usage: cargo build --release && scripts/measure-ppac.sh [seconds]
set -euo pipefail
secs=${1:-10}
port=4798
bin=target/release/lifecycle-sim
$bin --port $port --paused --seed 1 --start-time 2026-01-01T09:00:00Z --log warn &
pid=$!
trap 'kill $pid' EXIT
for _ in $(seq 50); do curl -sf localhost:$port/_sim/ready >/dev/null && break; sleep 0.1; done
base=http://localhost:$port
tok=$(curl -sf -X POST $base/common/oauth2/token -d grant_type=password -d client_id=x -d username=admin@contoso.test -d password=x -d resource=https://service.powerapps.com | python3 -c 'import sys,json;print(json.load(sys.stdin)["access_token"])')
P=$base/providers/Microsoft.BusinessAppPlatform
# 100 sandboxes with Dataverse (capacity raised first), created and settled.
curl -sf -X PATCH -H "content-type: application/json" $base/_sim/tenants/c0de0000-0000-4000-8000-000000000001/capacity -d '{"databaseMb": 1048576}' >/dev/null
for i in $(seq 100); do
  curl -sf -o /dev/null -X POST -H "Authorization: Bearer $tok" -H 'content-type: application/json' "$P/environments?api-version=2023-06-01" \
    -d "{\"location\":\"unitedstates\",\"properties\":{\"displayName\":\"Load $i\",\"environmentSku\":\"Sandbox\",\"databaseType\":\"CommonDataService\"}}"
done
op=$(curl -sf -D - -o /dev/null -X POST -H "Authorization: Bearer $tok" -H 'content-type: application/json' "$P/environments?api-version=2023-06-01" \
  -d '{"location":"unitedstates","properties":{"displayName":"Polled","environmentSku":"Sandbox","databaseType":"CommonDataService"}}' | awk 'tolower($1)=="location:"{print $2}' | tr -d '\r')
run() {
  local name=$1 url=$2
  printf '%-48s ' "$name"
  wrk -t2 -c16 -d${secs}s -H "Authorization: Bearer $tok" "$url" | awk '/Requests\/sec/{rps=$2} /Latency/{lat=$2} END{printf "%10s req/s   mean latency %s\n", rps, lat}'
}
run "GET /_sim/health (baseline)" "$base/_sim/health"
run "BAP list, 102 environments, capacity expanded" "$P/scopes/admin/environments?api-version=2023-06-01&\$expand=properties.capacity"
run "Power Platform API list, 102 environments" "$base/environmentmanagement/environments?api-version=2024-10-01"
run "poll of a running lifecycle operation" "$op"
run "tenant capacity" "$base/licensing/tenantCapacity?api-version=2022-03-01-preview"
echo "resident memory after the runs: $(awk '/VmRSS/{print $2, $3}' /proc/$pid/status)"

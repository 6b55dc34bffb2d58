#!/usr/bin/env bash
# Runs the Prometheus remote-write 1.0 sender compliance suite (prometheus/compliance,
# remotewrite/sender as of commit 3de836d^, the last with the 19 remote-write 1.0 cases and the
# otelcollector target) against the built otelcol-fleet binary, once per exporter, and prints a
# pass/fail line per case. Nothing is downloaded: the suite's copy gets a target that runs our
# binary instead of fetching a collector release. Not part of make test.
#
#   COMPLIANCE=/path/to/compliance/checkout [BIN=distribution/_build/otelcol-fleet] \
#     [EXPORTERS="prometheus_remote_write ordered_rw"] [COUNT=1] [PARALLEL=4] \
#     [ORDERED_RW_EXTRA='    ordering: {mode: none}'] [KEEP_LOGS=dir] run.sh
#
# About 2 minutes per exporter and run on 2 cores.
#
# The checkout must be a git work tree (the suite's commit is checked out into a scratch copy);
# the suite's Go modules come from the module proxy.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
: "${COMPLIANCE:?set COMPLIANCE to a checkout of github.com/prometheus/compliance}"
BIN=$(realpath "${BIN:-$here/../../../../distribution/_build/otelcol-fleet}")
EXPORTERS=${EXPORTERS:-"prometheus_remote_write ordered_rw"}
COUNT=${COUNT:-1}
PARALLEL=${PARALLEL:-4} # cases run at once, each with its own collector for ~15 s
SUITE_COMMIT=${SUITE_COMMIT:-3de836d^}

work=$(mktemp -d /tmp/rw-compliance.XXXXXX)
trap 'rm -rf "$work"' EXIT
git -C "$COMPLIANCE" archive "$SUITE_COMMIT" remotewrite/sender | tar -x -C "$work"
suite=$work/remotewrite/sender
cp "$here/fleet.go.txt" "$suite/targets/fleet.go"
# Only our target: the others download releases from the internet.
perl -0pi -e 's/runners = map\[string\]targets.Target\{.*?\n\t\}/runners = map[string]targets.Target{\n\t\t"otelcol_fleet": targets.RunOtelcolFleet,\n\t}/s' "$suite/main_test.go"
(cd "$suite" && go test -tags compliance -c -o "$work/sender.test" .)

for exp in $EXPORTERS; do
  extra=""
  if [ "$exp" = ordered_rw ]; then extra=${ORDERED_RW_EXTRA:-}; fi
  for i in $(seq "$COUNT"); do
    (cd "$suite" && OTELCOL_FLEET_BIN=$BIN OTELCOL_FLEET_EXPORTER=$exp OTELCOL_FLEET_EXPORTER_EXTRA=$extra \
      "$work/sender.test" -test.v -test.run TestRemoteWrite -test.parallel "$PARALLEL" -test.timeout 10m 2>&1) > "$work/$exp.$i.log" || true
    echo "== $exp (run $i)"
    grep -E -- '^\s+--- (PASS|FAIL): TestRemoteWrite/otelcol_fleet/' "$work/$exp.$i.log" |
      sed -E 's/^\s+--- (PASS|FAIL): TestRemoteWrite\/otelcol_fleet\/([A-Za-z0-9]+).*/\2 \1/' | sort
    # Why each failure failed: the assertion's message.
    grep -E -A12 -- '^=== NAME  TestRemoteWrite/otelcol_fleet/' "$work/$exp.$i.log" | grep -E '=== NAME|Error:|Messages:' || true
    if [ -n "${KEEP_LOGS:-}" ]; then cp "$work/$exp.$i.log" "$KEEP_LOGS/"; fi
  done
done

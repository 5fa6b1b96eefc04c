#!/usr/bin/env bash
# Soak run (not part of the tests): 10 `icnd` nodes under sustained publishes and payments for
# 10 minutes while Prometheus scrapes every node every second. Prints a JSON report (RSS over
# time, entries and transfers lost, digest agreement, scrape latency) and exits non-zero if
# anything acknowledged was lost or the nodes did not converge. Needs Debian's `prometheus`.
#
#   scripts/soak.sh [NODES] [MINUTES]          # defaults: 10 nodes, 10 minutes
#   ICN_SOAK_PUBLISHES=40 ICN_SOAK_PAYMENTS=20 scripts/soak.sh   # rates per second, all nodes
set -euo pipefail
cd "$(dirname "$0")/.."
command -v prometheus >/dev/null || { echo "soak: needs prometheus (apt install prometheus)" >&2; exit 1; }
cargo build --release --quiet -p icnd
target="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
exec cargo run --release --quiet -p icn-testkit --example soak -- \
    --icnd "$target/release/icnd" --nodes "${1:-10}" --minutes "${2:-10}" \
    --publishes "${ICN_SOAK_PUBLISHES:-40}" --payments "${ICN_SOAK_PAYMENTS:-20}"

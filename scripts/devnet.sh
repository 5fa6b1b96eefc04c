#!/usr/bin/env bash
# A local ICN devnet: N `icnd` nodes on this machine (node 1 serves /metrics on :9090), a
# Prometheus scraping them with the shipped alert rules when `prometheus` is installed, and a
# light traffic generator (publishes and payments through `icnctl`). Prints every URL. Ctrl-C
# stops everything it started; the data directory is kept for the next run.
#
#   scripts/devnet.sh [N]            # N nodes, default 3
#
# Environment (all optional):
#   ICN_DEVNET_DIR              data directory                      (default ./devnet-data)
#   ICN_DEVNET_METRICS_PORT     node i serves metrics on PORT+i-1   (default 9090; 0: any free)
#   ICN_DEVNET_P2P_PORT         node i listens for peers on PORT+i  (default 7700; 0: any free)
#   ICN_DEVNET_RPC_PORT         node i's control API on PORT+i      (default 7800; 0: any free)
#   ICN_DEVNET_PROMETHEUS_PORT  Prometheus' web port                (default 9190; 0: none)
#   ICN_DEVNET_TRAFFIC_INTERVAL seconds between traffic rounds      (default 2; 0: no traffic)
#   ICN_BIN_DIR                 directory holding icnd and icnctl   (default: cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."

nodes="${1:-3}"
if ! [[ "$nodes" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: scripts/devnet.sh [N]   (N nodes, a whole number of at least 1)" >&2
    exit 2
fi
dir="${ICN_DEVNET_DIR:-./devnet-data}"
metrics_port="${ICN_DEVNET_METRICS_PORT:-9090}"
p2p_port="${ICN_DEVNET_P2P_PORT:-7700}"
rpc_port="${ICN_DEVNET_RPC_PORT:-7800}"
prometheus_port="${ICN_DEVNET_PROMETHEUS_PORT:-9190}"
interval="${ICN_DEVNET_TRAFFIC_INTERVAL:-2}"

if [ -n "${ICN_BIN_DIR:-}" ]; then
    bin="$ICN_BIN_DIR"
else
    cargo build --release --quiet -p icnd -p icnctl
    bin="$(cargo metadata --format-version 1 --no-deps |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release"
fi
icnd="$bin/icnd"
icnctl="$bin/icnctl"
for program in "$icnd" "$icnctl"; do
    [ -x "$program" ] || { echo "devnet: $program is missing" >&2; exit 1; }
done

mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
passphrase="$dir/passphrase"
if [ ! -f "$passphrase" ]; then
    (umask 077 && echo "devnet passphrase" >"$passphrase")
fi

pids=()
cleanup() {
    trap - INT TERM EXIT
    echo
    echo "devnet: stopping ${#pids[@]} processes"
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    echo "devnet: stopped (data kept in $dir)"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# The port of node i (1-based) from a base, or 0 when the base is 0.
port() { if [ "$1" -eq 0 ]; then echo 0; else echo $(($1 + $2)); fi; }

# Waits until FILE exists (a node writes its bound addresses once it serves), at most 30 s.
wait_file() {
    local file="$1" pid="$2" log="$3"
    for _ in $(seq 300); do
        [ -s "$file" ] && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "devnet: a node exited; its log ($log):" >&2
            tail -n 20 "$log" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "devnet: $file did not appear in 30 s; see $log" >&2
    exit 1
}

bootstrap=()
for i in $(seq "$nodes"); do
    data="$dir/n$i"
    if [ ! -f "$data/identity.key" ]; then
        "$icnd" init --data-dir "$data" --password-file "$passphrase" >/dev/null 2>>"$dir/n$i.log"
    fi
    rm -f "$data/metrics.addr" "$data/p2p.addr" "$data/rpc.addr"
    "$icnd" run --data-dir "$data" --password-file "$passphrase" \
        --metrics-addr "127.0.0.1:$(port "$metrics_port" $((i - 1)))" \
        --listen "127.0.0.1:$(port "$p2p_port" "$i")" \
        --rpc-addr "127.0.0.1:$(port "$rpc_port" "$i")" \
        "${bootstrap[@]}" 2>"$dir/n$i.log" &
    pids+=($!)
    wait_file "$data/rpc.addr" "$!" "$dir/n$i.log"
    if [ "$i" -eq 1 ]; then
        bootstrap=(--bootstrap "$(cat "$data/p2p.addr")")
    fi
done

targets=()
for i in $(seq "$nodes"); do targets+=("$(cat "$dir/n$i/metrics.addr")"); done

prometheus_url=""
if [ "$prometheus_port" -ne 0 ] && command -v prometheus >/dev/null 2>&1; then
    prom="$dir/prometheus"
    mkdir -p "$prom"
    cp docs/prometheus/alerts.yml "$prom/alerts.yml"
    {
        echo "# Written by scripts/devnet.sh: docs/prometheus/prometheus.yml for this devnet."
        echo "global:"
        echo "  scrape_interval: 5s"
        echo "  evaluation_interval: 5s"
        echo "rule_files: [alerts.yml]"
        echo "scrape_configs:"
        echo "  - job_name: icnd"
        echo "    static_configs:"
        echo "      - targets:"
        for target in "${targets[@]}"; do echo "          - $target"; done
    } >"$prom/prometheus.yml"
    prometheus --config.file="$prom/prometheus.yml" --storage.tsdb.path="$prom/data" \
        --web.listen-address="127.0.0.1:$prometheus_port" 2>"$prom/prometheus.log" &
    pids+=($!)
    prometheus_url="http://127.0.0.1:$prometheus_port"
fi

if [ "$interval" != 0 ]; then
    (
        set +e
        exec >"$dir/traffic.log" 2>&1
        ctl() { "$icnctl" --data-dir "$dir/n$1" "${@:2}"; }
        dids=()
        for i in $(seq "$nodes"); do
            dids+=("$(ctl "$i" --json status | grep -o 'did:icn:[1-9A-HJ-NP-Za-km-z]*' | head -n 1)")
        done
        ctl 1 currency create DEVHOUR --limit 1000000 || true # kept from an earlier run
        round=0
        while true; do
            round=$((round + 1))
            from=$(((round % nodes) + 1))
            to=$((((round + 1) % nodes) + 1))
            ctl "$from" publish devnet "round $round from node $from"
            [ "$from" != "$to" ] && ctl "$from" pay DEVHOUR "${dids[$((to - 1))]}" 1
            sleep "$interval"
        done
    ) &
    pids+=($!)
fi

echo "devnet: $nodes nodes running (data and logs in $dir)"
for i in $(seq "$nodes"); do
    metrics="${targets[$((i - 1))]}"
    echo "  node $i  metrics http://$metrics/metrics  health http://$metrics/health" \
        " control API $(cat "$dir/n$i/rpc.addr")  peers $(cat "$dir/n$i/p2p.addr")"
done
if [ -n "$prometheus_url" ]; then
    echo "  prometheus $prometheus_url  (targets $prometheus_url/targets, alerts $prometheus_url/alerts)"
elif [ "$prometheus_port" -ne 0 ]; then
    echo "  prometheus: not installed (Debian: apt install prometheus), not started"
fi
[ "$interval" != 0 ] && echo "  traffic: a publish and a payment every ${interval}s (log $dir/traffic.log)"
echo "  try: $icnctl --data-dir $dir/n1 peers"
echo "devnet: ready; Ctrl-C stops it"
wait

#!/usr/bin/env bash
# ringmaster serve against redis-server, in one run, both measured by
# redis-benchmark over loopback with the same connections and pipeline depth.
#
#   benches/tcp_vs_redis.sh [requests-per-run] [repetitions] [--tls]
#
# --tls: both servers speak TLS only (one self-signed certificate made
# with openssl for the run; redis-server --tls-port, ringmaster serve
# --tls-cert), and redis-benchmark connects with --tls. The table goes to
# docs/bench/tcp-tls.txt instead.
#
# - redis-server: appendonly yes, appendfsync everysec, no RDB snapshots.
# - ringmaster serve: --durability periodic --flush-ms 1000 (the same
#   promise: a power loss loses about a second of acknowledged writes).
# - write mix: SET product:<id> "<name>|<price>|<stock>"  vs  ADD <id> <price> <stock> <name>
#   read mix:  GET product:<id>                           vs  GET <id>
#   ids are random (-r, a million of them, prefixed with 1 so none is 0).
# - each repetition starts both servers afresh (empty data directories),
#   then runs, alternating between them: the write mix, then the read mix
#   (which finds the keys the write mix wrote). The table shows each run,
#   the medians, and the ratio ringmaster / redis of the medians.
#
# Installs redis from Debian's packages if it is missing. RINGMASTER_BIN=PATH
# measures that binary instead of building this tree's;
# RINGMASTER_SERVE_ARGS="--reserve-products 1000000" adds options to its
# `serve` (split on spaces). Writes the table to stdout and, for a server
# run with its defaults, to docs/bench/tcp.txt (tcp-tls.txt with --tls).
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS="${1:-1000000}"
REPS="${2:-3}"
TLS="${3:-}"
CLIENTS=50
PIPELINE=16
KEYSPACE=1000000
REDIS_PORT=6399
RM_PORT=7879

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
    echo "installing redis-server and redis-tools from Debian's packages" >&2
    apt-get install -y redis-server redis-tools >/dev/null
fi

# RINGMASTER_BIN runs another build (an A/B against an older binary).
RM_BIN="${RINGMASTER_BIN:-target/release/ringmaster}"
read -r -a RM_EXTRA <<<"${RINGMASTER_SERVE_ARGS:-}"
[[ -n "${RINGMASTER_BIN:-}" ]] || cargo build --release --quiet
WORK="$(mktemp -d)"
OUT=docs/bench/tcp.txt
REDIS_LISTEN=(--port "$REDIS_PORT")
RM_TLS=()
CLI_TLS=()
if [[ "$TLS" == "--tls" ]]; then
    command -v openssl >/dev/null || apt-get install -y openssl >/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
    REDIS_LISTEN=(--port 0 --tls-port "$REDIS_PORT" --tls-cert-file "$WORK/cert.pem"
        --tls-key-file "$WORK/key.pem" --tls-auth-clients no)
    RM_TLS=(--tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem")
    CLI_TLS=(--tls --cacert "$WORK/cert.pem")
    OUT=docs/bench/tcp-tls.txt
elif [[ -n "$TLS" ]]; then
    echo "unknown option $TLS (only --tls)" >&2
    exit 2
fi
# A tuned server's table is printed only: the files are the defaults'.
[[ -z "${RINGMASTER_SERVE_ARGS:-}" ]] || OUT=/dev/null
cleanup() {
    if [[ -n "${RM_PID:-}" ]]; then kill -INT "$RM_PID" 2>/dev/null; wait "$RM_PID" 2>/dev/null; fi
    redis-cli -p "$REDIS_PORT" "${CLI_TLS[@]}" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

start_servers() {
    rm -rf "$WORK/redis" "$WORK/ringmaster"
    mkdir -p "$WORK/redis"
    redis-server "${REDIS_LISTEN[@]}" --appendonly yes --appendfsync everysec --save "" \
        --dir "$WORK/redis" --daemonize yes --logfile "$WORK/redis.log"
    "$RM_BIN" serve --addr "127.0.0.1:$RM_PORT" --data "$WORK/ringmaster" \
        --durability periodic --flush-ms 1000 "${RM_TLS[@]}" "${RM_EXTRA[@]}" 2>"$WORK/ringmaster.log" &
    RM_PID=$!
    for _ in $(seq 100); do
        redis-cli -p "$REDIS_PORT" "${CLI_TLS[@]}" ping >/dev/null 2>&1 &&
            redis-cli -p "$RM_PORT" "${CLI_TLS[@]}" ping >/dev/null 2>&1 && return
        sleep 0.1
    done
    echo "servers did not start" >&2
    exit 1
}

stop_servers() {
    kill -INT "$RM_PID" && wait "$RM_PID" || true
    RM_PID=
    redis-cli -p "$REDIS_PORT" "${CLI_TLS[@]}" shutdown nosave >/dev/null 2>&1 || true
    sleep 0.5
}

# One redis-benchmark run: prints "rps p50_ms p99_ms".
bench() {
    local port="$1"
    shift
    redis-benchmark -p "$port" "${CLI_TLS[@]}" -c "$CLIENTS" -P "$PIPELINE" -n "$REQUESTS" -r "$KEYSPACE" --csv "$@" 2>/dev/null |
        tail -1 | tr -d '"' | awk -F, '{ print $2, $5, $7 }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A RPS P50 P99
run() { # name port args...
    local name="$1"
    shift
    read -r rps p50 p99 < <(bench "$@")
    RPS[$name]+="$rps "
    P50[$name]+="$p50 "
    P99[$name]+="$p99 "
}

for rep in $(seq "$REPS"); do
    start_servers
    run redis-write "$REDIS_PORT" SET "product:1__rand_int__" "Blue Mug|1250|3"
    run ringmaster-write "$RM_PORT" ADD "1__rand_int__" 1250 3 Blue Mug
    run redis-read "$REDIS_PORT" GET "product:1__rand_int__"
    run ringmaster-read "$RM_PORT" GET "1__rand_int__"
    stop_servers
done

{
    echo "# tcp_vs_redis${TLS:+ $TLS}${RINGMASTER_SERVE_ARGS:+ (serve $RINGMASTER_SERVE_ARGS)}: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(redis-server --version | awk '{ print $3 }')"
    echo "# $REQUESTS requests per run, $REPS runs each, -c $CLIENTS -P $PIPELINE -r $KEYSPACE"
    printf '%-18s %-40s %12s %9s %9s\n' server runs-rps median-rps p50-ms p99-ms
    for name in redis-write ringmaster-write redis-read ringmaster-read; do
        printf '%-18s %-40s %12.0f %9.3f %9.3f\n' "$name" "${RPS[$name]}" \
            "$(echo "${RPS[$name]}" | tr ' ' '\n' | grep . | median)" \
            "$(echo "${P50[$name]}" | tr ' ' '\n' | grep . | median)" \
            "$(echo "${P99[$name]}" | tr ' ' '\n' | grep . | median)"
    done
    for mix in write read; do
        r=$(echo "${RPS[redis-$mix]}" | tr ' ' '\n' | grep . | median)
        m=$(echo "${RPS[ringmaster-$mix]}" | tr ' ' '\n' | grep . | median)
        # Each repetition's ratio against the redis run just before it
        # (same machine state), then their median: robust to drift.
        paired=$(paste <(echo "${RPS[ringmaster-$mix]}" | tr ' ' '\n' | grep .) \
            <(echo "${RPS[redis-$mix]}" | tr ' ' '\n' | grep .) |
            awk '{ printf "%.3f\n", $1 / $2 }')
        awk -v m="$m" -v r="$r" -v mix="$mix" -v p="$(echo "$paired" | median)" -v all="$(echo $paired)" \
            'BEGIN { printf "ratio %s: ringmaster / redis: of medians %.2f, paired median %.2f (runs: %s)\n", mix, m / r, p, all }'
    done
} | tee "$OUT"

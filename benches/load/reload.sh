#!/usr/bin/env bash
# What a reload costs the requests around it: wrk drives POST /token (each direction) for a while without any
# reload, then as long again with a SIGHUP every RELOAD_EVERY seconds (far more often than any operator
# would), on the same release server; prints both runs and their ratio as a Markdown table, with the reload
# time the server logs for each reload.
#
#   bash benches/load/reload.sh [seconds per run, default 10] [concurrency, default 16]
#
# Environment: BIN=path (measure another build), RELOAD_EVERY=seconds (default 0.5), PORT.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-10}
CONCURRENCY=${2:-16}
PORT=${PORT:-18081}
EVERY=${RELOAD_EVERY:-0.5}

command -v wrk >/dev/null || { echo "reload: installing wrk" >&2; ${SUDO:-} apt-get install -y -q wrk >/dev/null; }
if [ -z "${BIN:-}" ]; then cargo build --release -q; BIN=target/release/xua-gateway; fi
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

. benches/load/lib.sh
load_config "$WORK" ES256
# The reload's own log line (with its duration in micros), nothing else.
sed -i 's#^level = "warn"#level = "warn,xua_gateway::startup::reload=info"#' "$WORK/config.toml"

"$BIN" serve --config "$WORK/config.toml" --listen "127.0.0.1:$PORT" 2> "$WORK/server.log" &
SERVER=$!
wait_healthy "$PORT" "$SERVER" || { echo "reload: the server does not start: $(tail -3 "$WORK/server.log")" >&2; exit 1; }
make_bodies "$BIN" "$WORK"

echo "| direction | reloads | requests/s without / with | ratio | p99 ms without / with | p99.9 ms without / with | errors with reloads | reload time, mean / max µs |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for dir in saml jwt; do
  label=$([ $dir = saml ] && echo "SAML → JWT" || echo "JWT → SAML")
  calm=$(wrk_run "$WORK/$dir.body" "$PORT" "$CONCURRENCY" "$DURATION")
  logged=$(grep -c "configuration reloaded" "$WORK/server.log" || true)
  wrk_run "$WORK/$dir.body" "$PORT" "$CONCURRENCY" "$DURATION" > "$WORK/stormy" &
  WRK=$!
  sleep 0.5
  while kill -0 $WRK 2>/dev/null; do kill -HUP "$SERVER"; sleep "$EVERY"; done
  wait $WRK
  stormy=$(cat "$WORK/stormy")
  micros=$(grep "configuration reloaded" "$WORK/server.log" | tail -n +"$((logged + 1))" | grep -o 'micros=[0-9]*' | cut -d= -f2)
  n=$(echo "$micros" | grep -c . || true)
  mean=$(echo "$micros" | awk '{s += $1} END {if (NR) printf "%d", s / NR}')
  max=$(echo "$micros" | sort -n | tail -1)
  refused=$(grep -c "reload refused" "$WORK/server.log" || true)
  [ "$refused" = 0 ] || { echo "reload: $refused reloads were refused: $(grep 'reload refused' "$WORK/server.log" | tail -1)" >&2; exit 1; }
  c() { result_get "$calm" "$1"; }
  s() { result_get "$stormy" "$1"; }
  ratio=$(awk -v a="$(s rps)" -v b="$(c rps)" 'BEGIN {printf "%.3f", a / b}')
  echo "| $label | $n | $(c rps) / $(s rps) | $ratio | $(c p99_ms) / $(s p99_ms) | $(c p999_ms) / $(s p999_ms) | $(( $(s non200) + $(s socket_errors) )) | $mean / $max |"
done

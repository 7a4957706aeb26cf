#!/usr/bin/env bash
# Load benchmark: starts the release server on the sample configuration and drives POST /token in both
# directions with wrk (Debian package `wrk`) at several concurrencies, then prints a Markdown table.
#
#   bash benches/load/run.sh [seconds per run, default 10] [concurrencies, default "1 8 32 64"]
#
# The server and wrk share the machine's cores, as the issue asks. The access log is the real SQLite store
# (group commit, fsync) in a temporary folder. Replay protection is switched off for the run, because wrk
# re-sends one token; everything else is the sample configuration.
#
# Environment: BIN=path (measure another build), AUDIT_DIR=dir (where the access log lives), SUSTAIN=seconds
# (add a long run with RSS samples), BLOCKING_THREADS (per worker, [server] blocking_threads), PORT,
# JWT_ALG=RS256 (issue RS256 JWTs). The configuration, server start, bodies and wrk run live in lib.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-10}
CONCURRENCIES=${2:-"1 8 32 64"}
PORT=${PORT:-18080}

command -v wrk >/dev/null || { echo "load: installing wrk" >&2; ${SUDO:-} apt-get install -y -q wrk >/dev/null; }
# BIN=path runs another build of the server (for an A/B comparison in one session) instead of building this one.
if [ -z "${BIN:-}" ]; then cargo build --release -q; BIN=target/release/xua-gateway; fi
# AUDIT_DIR=/dev/shm puts the access log on tmpfs, where fsync costs nothing: the difference to the default
# run is what durable commits cost on this disk.
WORK=$(mktemp -d -p "${AUDIT_DIR:-${TMPDIR:-/tmp}}")
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

. benches/load/lib.sh
load_config "$WORK" "${JWT_ALG:-ES256}"

"$BIN" serve --config "$WORK/config.toml" --listen "127.0.0.1:$PORT" 2> "$WORK/server.log" &
SERVER=$!
wait_healthy "$PORT" "$SERVER" || { echo "load: the server does not start: $(tail -3 "$WORK/server.log")" >&2; exit 1; }

# One SAML → JWT request and one JWT → SAML request, valid for the whole run.
make_bodies "$BIN" "$WORK"
for f in saml jwt; do
  code=$(post_token "$PORT" "$WORK/$f.body")
  [ "$code" = 200 ] || { echo "load: the $f request is refused ($code): $(tail -3 "$WORK/server.log")" >&2; exit 1; }
done

# The server's own CPU time (user + system, all threads) in clock ticks, to give CPU per request.
TICK=$(getconf CLK_TCK)

rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$SERVER/status"; }

echo "| direction | concurrency | requests/s | p50 ms | p99 ms | p99.9 ms | errors | server CPU µs/request | RSS after, MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for dir in saml jwt; do
  label=$([ $dir = saml ] && echo "SAML → JWT (ES256)" || echo "JWT → SAML (RSA-2048)")
  for c in $CONCURRENCIES; do
    before=$(cpu_ticks "$SERVER")
    out=$(wrk_run "$WORK/$dir.body" "$PORT" "$c" "$DURATION")
    get() { result_get "$out" "$1"; }
    ticks=$(( $(cpu_ticks "$SERVER") - before ))
    echo "| $label | $c | $(get rps) | $(get p50_ms) | $(get p99_ms) | $(get p999_ms) | $(( $(get non200) + $(get socket_errors) )) | $(( ticks * 1000000 / TICK / $(get requests) )) | $(rss_mib) |"
  done
done

# SUSTAIN=seconds: one long run (SAML → JWT, concurrency 32) with the server's RSS sampled every 10 s, to show
# that memory holds steady after warm-up.
if [ -n "${SUSTAIN:-}" ]; then
  echo
  echo "Sustained run: ${SUSTAIN} s, SAML → JWT, concurrency 32; server RSS every 10 s, MiB (total/anonymous):"
  BODY_FILE="$WORK/saml.body" wrk -t2 -c32 -d"${SUSTAIN}s" -s benches/load/post.lua "http://127.0.0.1:$PORT/token" \
    > "$WORK/sustain.out" &
  WRK=$!
  samples=""
  while kill -0 $WRK 2>/dev/null; do samples="$samples $(rss_mib)/$(awk '/RssAnon/ {printf "%.1f", $2 / 1024}' "/proc/$SERVER/status")"; sleep 10; done
  echo "$samples"
  grep '^RESULT' "$WORK/sustain.out"
fi
RSS=$(awk '/VmHWM/ {print $2}' /proc/$SERVER/status)
echo
echo "Server peak RSS: $((RSS / 1024)) MiB"

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
# (add a long run with RSS samples), BLOCKING_THREADS (per worker, [server] blocking_threads), PORT.
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

KEYS="$PWD/samples/keys"
sed -e "s#\"keys/#\"$KEYS/#g" \
    -e "s#\"fastlege-register.toml\"#\"$PWD/samples/fastlege-register.toml\"#" \
    -e "s#path = \"xua-gateway-audit.sqlite\"#path = \"$WORK/audit.sqlite\"#" \
    -e "s#^level = \"info\"#level = \"warn\"#" \
    -e "s#^blocking_threads = 8#blocking_threads = ${BLOCKING_THREADS:-8}#" \
    -e "s#^saml = true#saml = false#" -e "s#^jwt = true#jwt = false#" \
    samples/config.toml > "$WORK/config.toml"
cat "${LOAD_EXTRA_CONFIG:-/dev/null}" >> "$WORK/config.toml"

"$BIN" serve --config "$WORK/config.toml" --listen "127.0.0.1:$PORT" 2> "$WORK/server.log" &
SERVER=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

# One SAML → JWT request and one JWT → SAML request, valid for the whole run.
SAML=$("$BIN" sample saml --lifetime 3600 --base64url)
JWT=$("$BIN" sample jwt --lifetime 3500)
printf 'grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Atoken-exchange&subject_token_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Atoken-type%%3Asaml2&requested_token_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Atoken-type%%3Ajwt&subject_token=%s' "$SAML" > "$WORK/saml.body"
printf 'grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Atoken-exchange&subject_token_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Atoken-type%%3Ajwt&requested_token_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Atoken-type%%3Asaml2&subject_token=%s' "$JWT" > "$WORK/jwt.body"
for f in saml jwt; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-www-form-urlencoded' --data-binary "@$WORK/$f.body" "http://127.0.0.1:$PORT/token")
  [ "$code" = 200 ] || { echo "load: the $f request is refused ($code): $(cat "$WORK/server.log" | tail -3)" >&2; exit 1; }
done

# The server's own CPU time (user + system, all threads) in clock ticks, to give CPU per request.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER/stat"; }
TICK=$(getconf CLK_TCK)

rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$SERVER/status"; }

echo "| direction | concurrency | requests/s | p50 ms | p99 ms | p99.9 ms | errors | server CPU µs/request | RSS after, MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for dir in saml jwt; do
  label=$([ $dir = saml ] && echo "SAML → JWT (ES256)" || echo "JWT → SAML (RSA-2048)")
  for c in $CONCURRENCIES; do
    threads=$(( c < 2 ? 1 : 2 ))
    before=$(cpu_ticks)
    out=$(BODY_FILE="$WORK/$dir.body" wrk -t"$threads" -c"$c" -d"${DURATION}s" -s benches/load/post.lua "http://127.0.0.1:$PORT/token" | grep '^RESULT')
    get() { echo "$out" | tr ' ' '\n' | grep "^$1=" | cut -d= -f2; }
    ticks=$(( $(cpu_ticks) - before ))
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

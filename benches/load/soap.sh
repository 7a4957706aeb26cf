#!/usr/bin/env bash
# The SOAP edge under load: what the XCA proxy adds to a call, against calling the upstream directly, in one
# run on the same machine; and the gateway's memory while it streams a large MTOM answer back.
#
#   bash benches/load/soap.sh [seconds per wrk run, default 10] [concurrencies, default "1 16"]
#
# Starts a minimal fast upstream (benches/load/soap/upstream.py: asyncio, keep-alive, fixed answers, so that
# the upstream's own cost stays small beside the proxy's), the release server on the sample configuration with
# one [[proxy.routes]] route to it, and drives with wrk (Debian package `wrk`), per concurrency:
#   direct   ITI-38 POSTs straight to the upstream;
#   proxy    the same through the route with `Authorization: Bearer <sample JWT>`: each call runs the JWT → SAML
#            exchange (verify, rules, RSA-2048 signature), injects the assertion, forwards, and writes two
#            access-log records (issued, forwarded);
#   /token   POST /token JWT → SAML with the same JWT: the exchange alone, the floor of what the proxy adds.
# The proxy does not reserve the JWT against replay (an XCA route takes it as an access token, used until
# it expires: `SoapOrigin::access_token` in src/pipeline/exchange.rs), so one fresh JWT serves the whole run;
# replay protection is off for /token as in run.sh. Then one ITI-39 request whose answer is an MTOM package
# with a MTOM_MIB MiB attachment generated on the fly and sent chunked, fetched with curl, first directly
# and then through the proxy, with the gateway's VmRSS sampled every RSS_EVERY seconds; bytes and SHA-256
# received are compared with what the upstream sent. `openssl speed` runs first, for the machine's crypto
# figures in the same run.
#
# Environment: BIN=path (measure another build), PORT, MTOM_MIB (default 200), RSS_EVERY (default 0.2).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-10}
CONCURRENCIES=${2:-"1 16"}
PORT=${PORT:-18082}
MTOM_MIB=${MTOM_MIB:-200}
RSS_EVERY=${RSS_EVERY:-0.2}

command -v wrk >/dev/null || { echo "soap: installing wrk" >&2; ${SUDO:-} apt-get install -y -q wrk >/dev/null; }
if [ -z "${BIN:-}" ]; then cargo build --release --locked -q; BIN=target/release/xua-gateway; fi
WORK=$(mktemp -d)
SERVER="" UPSTREAM=""
trap 'kill $SERVER $UPSTREAM 2>/dev/null || true; rm -rf "$WORK"' EXIT

. benches/load/lib.sh
ITI38=benches/load/soap/iti38-request.xml
ITI39=benches/load/soap/iti39-request.xml

echo "Machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
SPEED=$(openssl speed -seconds 1 rsa2048 ecdsap256 2>/dev/null | grep -E '^(rsa 2048 bits|version|built on| *256 bits ecdsa)|sign/s' || true)

python3 benches/load/soap/upstream.py --port-file "$WORK/upstream.port" --mtom-bytes $((MTOM_MIB * 1024 * 1024)) \
  --sent-file "$WORK/sent" 2> "$WORK/upstream.log" &
UPSTREAM=$!
for _ in $(seq 1 100); do [ -s "$WORK/upstream.port" ] && break; sleep 0.1; done
[ -s "$WORK/upstream.port" ] || { echo "soap: the upstream does not start: $(tail -3 "$WORK/upstream.log")" >&2; exit 1; }
UP=$(cat "$WORK/upstream.port")

cat > "$WORK/route.toml" <<EOF

[[proxy.routes]]
path = "/xca/pjd"
upstream = "http://127.0.0.1:$UP/proxied"
EOF
LOAD_EXTRA_CONFIG="$WORK/route.toml" load_config "$WORK" ES256

"$BIN" serve --config "$WORK/config.toml" --listen "127.0.0.1:$PORT" 2> "$WORK/server.log" &
SERVER=$!
wait_healthy "$PORT" "$SERVER" || { echo "soap: the server does not start: $(tail -3 "$WORK/server.log")" >&2; exit 1; }

# A JWT for the query's patient, valid for the whole run, and the /token body carrying the same JWT.
sed 's/03128734502/17855599120/' samples/claims/hospital-physician.json > "$WORK/claims.json"
JWT=$("$BIN" sample jwt --claims "$WORK/claims.json" --lifetime 3500 | tr -d '\n')
printf 'grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Atoken-exchange&subject_token_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Atoken-type%%3Ajwt&requested_token_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Atoken-type%%3Asaml2&subject_token=%s' "$JWT" > "$WORK/jwt.body"

DIRECT="http://127.0.0.1:$UP/direct"
PROXY="http://127.0.0.1:$PORT/xca/pjd"
soap_post() { # URL BODY_FILE OUT [AUTHORIZATION]: the HTTP status
  curl -s -o "$3" -w '%{http_code}' -H 'Content-Type: application/soap+xml; charset=UTF-8' \
    ${4:+-H "Authorization: $4"} --data-binary "@$2" "$1"
}
# Before the runs: each path answers 200, and the proxy's answer is the upstream's, byte for byte.
[ "$(soap_post "$DIRECT" "$ITI38" "$WORK/direct.out")" = 200 ] || { echo "soap: the upstream refuses the query" >&2; exit 1; }
code=$(soap_post "$PROXY" "$ITI38" "$WORK/proxy.out" "Bearer $JWT")
[ "$code" = 200 ] || { echo "soap: the proxy answers $code: $(head -c 600 "$WORK/proxy.out") $(tail -3 "$WORK/server.log")" >&2; exit 1; }
cmp -s "$WORK/direct.out" "$WORK/proxy.out" || { echo "soap: the proxy's answer differs from the upstream's" >&2; exit 1; }
# A request without a token is a Sender Fault (HTTP 400, the SOAP 1.2 binding) and never reaches the upstream.
[ "$(soap_post "$PROXY" "$ITI38" "$WORK/refused.out")" = 400 ] && grep -q 'Fault' "$WORK/refused.out" \
  || { echo "soap: a request without a token was not refused with a Fault" >&2; exit 1; }
[ "$(post_token "$PORT" "$WORK/jwt.body")" = 200 ] || { echo "soap: POST /token refuses the JWT: $(tail -3 "$WORK/server.log")" >&2; exit 1; }

TICK=$(getconf CLK_TCK)
soap_wrk() { # URL CONCURRENCY [AUTHORIZATION]: wrk's RESULT line
  local threads=$(( $2 < 2 ? 1 : 2 ))
  BODY_FILE="$ITI38" AUTHORIZATION="${3:-}" wrk -t"$threads" -c"$2" -d"${DURATION}s" -s benches/load/soap/post.lua "$1" | grep '^RESULT'
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

declare -A R
echo
echo "| path | concurrency | requests/s | p50 ms | p99 ms | errors | gateway CPU µs/request |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for c in $CONCURRENCIES; do
  for path in direct proxy token; do
    before=$(cpu_ticks "$SERVER")
    case $path in
      direct) out=$(soap_wrk "$DIRECT" "$c"); label="ITI-38 straight to the upstream" ;;
      proxy) out=$(soap_wrk "$PROXY" "$c" "Bearer $JWT"); label="ITI-38 through the proxy (JWT → SAML, forward)" ;;
      token) out=$(wrk_run "$WORK/jwt.body" "$PORT" "$c" "$DURATION"); label="POST /token JWT → SAML alone" ;;
    esac
    ticks=$(( $(cpu_ticks "$SERVER") - before ))
    get() { result_get "$out" "$1"; }
    R[$path.$c.rps]=$(get rps) R[$path.$c.p50]=$(get p50_ms) R[$path.$c.p99]=$(get p99_ms)
    cpu=$([ "$path" = direct ] && echo "—" || echo $(( ticks * 1000000 / TICK / $(get requests) )))
    echo "| $label | $c | $(get rps) | $(get p50_ms) | $(get p99_ms) | $(( $(get non200) + $(get socket_errors) )) | $cpu |"
  done
done

echo
echo "| concurrency | requests/s proxy / direct | requests/s proxy / /token | p50 added by the proxy, ms | p99 added, ms | p50 proxy − /token, ms |"
echo "|---:|---:|---:|---:|---:|---:|"
for c in $CONCURRENCIES; do
  awk -v pr="${R[proxy.$c.rps]}" -v dr="${R[direct.$c.rps]}" -v tr="${R[token.$c.rps]}" \
      -v p5="${R[proxy.$c.p50]}" -v d5="${R[direct.$c.p50]}" -v t5="${R[token.$c.p50]}" \
      -v p9="${R[proxy.$c.p99]}" -v d9="${R[direct.$c.p99]}" -v c="$c" \
      'BEGIN {printf "| %d | %.3f | %.3f | %.3f | %.3f | %.3f |\n", c, pr / dr, pr / tr, p5 - d5, p9 - d9, p5 - t5}'
done

# (d) An MTOM answer of MTOM_MIB MiB: once straight from the upstream (the streaming baseline), once through
# the proxy while a sampler reads the gateway's VmRSS. The body goes to sha256sum, not to disk.
fetch() { # URL TAG [AUTHORIZATION]: curl's "status bytes seconds" into WORK/TAG.curl, the SHA-256 into WORK/TAG.sha,
  # and the upstream's "bytes SHA-256" (written once its answer is complete) into WORK/TAG.sent
  rm -f "$WORK/sent"
  curl -sS -o - -w '%{stderr}%{http_code} %{size_download} %{time_total}\n' \
    -H 'Content-Type: application/soap+xml; charset=UTF-8' ${3:+-H "Authorization: $3"} \
    --data-binary "@$ITI39" "$1" 2> "$WORK/$2.curl" | sha256sum | cut -d' ' -f1 > "$WORK/$2.sha"
  for _ in $(seq 1 50); do [ -s "$WORK/sent" ] && break; sleep 0.1; done
  cp "$WORK/sent" "$WORK/$2.sent" 2>/dev/null || echo "- -" > "$WORK/$2.sent"
}
fetch "$DIRECT" direct-mtom
read -r sent_bytes sent_sha < "$WORK/direct-mtom.sent"
sleep 1
IDLE=$(rss_kib)
rm -f "$WORK/stream.done" "$WORK/rss"
( while [ ! -e "$WORK/stream.done" ]; do rss_kib >> "$WORK/rss"; sleep "$RSS_EVERY"; done ) &
SAMPLER=$!
fetch "$PROXY" proxy-mtom "Bearer $JWT"
touch "$WORK/stream.done"
wait "$SAMPLER"
sleep 1
AFTER=$(rss_kib)
PEAK=$(sort -n "$WORK/rss" | tail -1)
SAMPLES=$(wc -l < "$WORK/rss")
read -r proxy_sent proxy_sha < "$WORK/proxy-mtom.sent"
read -r dcode dbytes dsecs < "$WORK/direct-mtom.curl"
read -r pcode pbytes psecs < "$WORK/proxy-mtom.curl"
same() { [ "$1" = "$2" ] && echo yes || echo "NO ($1 vs $2)"; }

echo
echo "| MTOM ITI-39 answer, ${MTOM_MIB} MiB attachment | status | bytes sent by the upstream | bytes received | same bytes (count, SHA-256) | seconds | MiB/s |"
echo "|---|---:|---:|---:|---|---:|---:|"
echo "| straight to the upstream | $dcode | $sent_bytes | $dbytes | $(same "$sent_bytes" "$dbytes"), $(same "$sent_sha" "$(cat "$WORK/direct-mtom.sha")") | $dsecs | $(awk -v b="$dbytes" -v s="$dsecs" 'BEGIN {printf "%.0f", b / 1048576 / s}') |"
echo "| through the proxy | $pcode | $proxy_sent | $pbytes | $(same "$proxy_sent" "$pbytes"), $(same "$proxy_sha" "$(cat "$WORK/proxy-mtom.sha")") | $psecs | $(awk -v b="$pbytes" -v s="$psecs" 'BEGIN {printf "%.0f", b / 1048576 / s}') |"
echo
echo "Gateway RSS while streaming through the proxy ($SAMPLES samples, every ${RSS_EVERY} s): idle before $(mib "$IDLE") MiB, peak $(mib "$PEAK") MiB (+$(mib $((PEAK - IDLE))) MiB), after $(mib "$AFTER") MiB; process peak (VmHWM, includes the wrk runs) $(mib "$(awk '/^VmHWM/ {print $2}' "/proc/$SERVER/status")") MiB."
echo
echo "openssl speed (same run, before the server started):"
echo '```'
echo "$SPEED"
echo '```'
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

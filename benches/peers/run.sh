#!/usr/bin/env bash
# The gateway against a minimal Python peer (benches/peers/peer), in one session, as ratios:
#
#   bash benches/peers/run.sh [seconds per wrk run, default 10]
#
# 1. `openssl speed` for RSA-2048 and P-256 (the crypto ceiling of each path);
# 2. the release build, the peer's venv (target/peers-venv) and the inputs, minted by the gateway's CLI;
# 3. correctness first: the peer accepts the gateway's sample assertion and JWT, issues what the gateway
#    issues, refuses tampered, wrapped, misaddressed and expired tokens, and the gateway refuses the same
#    forgeries; xmlsec1 verifies the peer's assertion. Any failure stops the run (exit 1);
# 4. in-process: the gateway's criterion pipeline benches (benches/stages.rs) between two runs of the
#    peer's loop;
# 5. HTTP: wrk against the gateway (durable access log) and against uvicorn (2 workers) at c=1 and c=32,
#    alternating gateway/peer ROUNDS times per cell, with each server's CPU time per request;
# 6. the Markdown table (benches/peers/report.py).
#
# Needs wrk and python3-venv (Debian: apt-get install wrk python3-venv python3-dev), and what .ci/setup
# installs. Environment: ROUNDS (A/B pairs per HTTP cell, default 2), PORT_BASE (default 18180),
# AUDIT_DIR (where the gateway's access log lives; /dev/shm takes the disk out of the comparison),
# PEER_ITERATIONS (per round in-process, default 1000), PEER_WHEELS=1 (install lxml and xmlsec as wheels,
# with their bundled libxml2/libxmlsec1/OpenSSL, instead of building them against Debian's).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-10}
ROUNDS=${ROUNDS:-2}
BASE=${PORT_BASE:-18180}
VENV=target/peers-venv
BIN=target/release/xua-gateway
CORES=$(nproc)
TICK=$(getconf CLK_TCK)
export PYTHONDONTWRITEBYTECODE=1

for tool in wrk curl xmlsec1 openssl; do
  command -v "$tool" >/dev/null || { echo "peers: $tool is missing (see benches/peers/README.md)" >&2; exit 1; }
done
python3 -c 'import ensurepip, venv' 2>/dev/null \
  || { echo "peers: python3 venv is missing (apt-get install python3-venv)" >&2; exit 1; }

# AUDIT_DIR=/dev/shm puts the gateway's access log on tmpfs, where fsync costs nothing (as in benches/load).
WORK=$(mktemp -d -p "${AUDIT_DIR:-${TMPDIR:-/tmp}}")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "peers: $*" >&2; exit 1; }

echo "## openssl speed -seconds 3 rsa2048 ecdsap256"
echo
openssl speed -seconds 3 rsa2048 ecdsap256 2>/dev/null > "$WORK/speed.txt"
echo '```'
grep -E 'sign/s|^rsa|nistp256' "$WORK/speed.txt"
echo '```'
echo

echo "peers: building the release binary" >&2
cargo build --release --locked -q

STAMP="$VENV/.requirements"
if ! cmp -s benches/peers/requirements.txt "$STAMP" 2>/dev/null; then
  echo "peers: installing the peer's packages into $VENV (lxml and xmlsec build from source: minutes)" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check \
    $([ -n "${PEER_WHEELS:-}" ] || echo --no-binary lxml,xmlsec) -r benches/peers/requirements.txt
  cp benches/peers/requirements.txt "$STAMP"
fi
PY="$VENV/bin/python"
peer() { (cd benches/peers && "../../$PY" -m peer "$@"); }

# Inputs, and a configuration per JWT algorithm (each with its own durable access log).
. benches/load/lib.sh
make_bodies "$BIN" "$WORK"
"$BIN" sample saml --audience https://other.example > "$WORK/other-audience.xml"
"$BIN" sample jwt --audience https://other.example > "$WORK/other-audience.jwt"
mkdir -p "$WORK/es" "$WORK/rs"
load_config "$WORK/es" ES256
load_config "$WORK/rs" RS256

echo "peers: correctness checks" >&2
"$BIN" translate --config "$WORK/es/config.toml" "$WORK/sample.xml" > "$WORK/gateway.jwt" 2>> "$WORK/translate.log"
"$BIN" translate --config "$WORK/es/config.toml" "$WORK/sample.jwt" > "$WORK/gateway-issued.xml" 2>> "$WORK/translate.log"
"$BIN" translate --config "$WORK/rs/config.toml" "$WORK/sample.xml" > "$WORK/gateway-rs.jwt" 2>> "$WORK/translate.log"
peer check "$WORK" || fail "the peer is not a fair comparison; fix it first"
for forged in "$WORK"/forged-*.xml; do
  if "$BIN" translate --config "$WORK/es/config.toml" "$forged" > /dev/null 2>> "$WORK/translate.log"; then
    fail "the gateway accepted $(basename "$forged")"
  fi
done
xmlsec1 --verify --id-attr:ID urn:oasis:names:tc:SAML:2.0:assertion:Assertion \
  --pubkey-cert-pem samples/keys/TEST-ONLY-gateway-saml.crt.pem "$WORK/peer-issued.xml" > "$WORK/xmlsec1.log" 2>&1 \
  || fail "xmlsec1 does not verify the peer's assertion: $(tail -3 "$WORK/xmlsec1.log")"
echo "peers: the gateway refuses the same $(ls "$WORK"/forged-*.xml | wc -l) forgeries; xmlsec1 verifies the peer's assertion" >&2

# The peer's loop runs before and after criterion, so the two sides share the machine's slow spells.
echo "peers: in-process, peer (1 of 2)" >&2
peer bench "$WORK" --iterations "${PEER_ITERATIONS:-1000}" > "$WORK/peer-inproc-1.json"
echo "peers: in-process, gateway (criterion)" >&2
cargo bench --locked -q --bench stages -- \
  '^pipeline/(saml_to_jwt/(ES256|RS256)|jwt_to_saml/ES256-in)$' > "$WORK/criterion.log" 2>&1 \
  || fail "the criterion bench failed: $(tail -5 "$WORK/criterion.log")"
grep -E '^pipeline/|time:' "$WORK/criterion.log" >&2 || true
echo "peers: in-process, peer (2 of 2)" >&2
peer bench "$WORK" --iterations "${PEER_ITERATIONS:-1000}" > "$WORK/peer-inproc-2.json"

echo "peers: starting the servers" >&2
declare -A GW_PID PEER_PID
for alg in ES256 RS256; do
  port=$([ $alg = ES256 ] && echo $BASE || echo $((BASE + 1)))
  conf=$([ $alg = ES256 ] && echo es || echo rs)
  "$BIN" serve --config "$WORK/$conf/config.toml" --listen "127.0.0.1:$port" 2> "$WORK/gateway-$alg.log" &
  PIDS+=($!); GW_PID[$port]=$!
  wait_healthy "$port" "${PIDS[-1]}" || fail "the gateway ($alg) does not start: $(tail -3 "$WORK/gateway-$alg.log")"
done
for alg in ES256 RS256; do
  port=$([ $alg = ES256 ] && echo $((BASE + 2)) || echo $((BASE + 3)))
  (cd benches/peers && PEER_JWT_ALG=$alg exec "../../$VENV/bin/uvicorn" peer.app:app --host 127.0.0.1 \
     --port "$port" --workers 2 --loop uvloop --http httptools --no-access-log --log-level warning) \
     2> "$WORK/peer-$alg.log" &
  PIDS+=($!); PEER_PID[$port]=$!
  # uvicorn answers once both workers have imported the app; wait longer than for the gateway.
  for _ in 1 2 3; do wait_healthy "$port" "${PIDS[-1]}" && break; done \
    || fail "uvicorn ($alg) does not start: $(tail -3 "$WORK/peer-$alg.log")"
done

# One path = a body and the gateway's and the peer's ports.
declare -A BODY=([saml-es]=saml [saml-rs]=saml [jwt]=jwt)
declare -A GW_PORT=([saml-es]=$BASE [saml-rs]=$((BASE + 1)) [jwt]=$BASE)
declare -A PEER_PORT=([saml-es]=$((BASE + 2)) [saml-rs]=$((BASE + 3)) [jwt]=$((BASE + 2)))
for path in saml-es saml-rs jwt; do
  for port in "${GW_PORT[$path]}" "${PEER_PORT[$path]}"; do
    code=$(post_token "$port" "$WORK/${BODY[$path]}.body" "$WORK/answer.json")
    [ "$code" = 200 ] || fail "$path on port $port answers $code: $(head -c 300 "$WORK/answer.json")"
  done
done

echo "peers: HTTP, $ROUNDS × gateway/peer per cell, ${DURATION} s each" >&2
# The machine's state around the HTTP runs: a busy disk makes the gateway's fsyncs slow.
pressure() { echo "load $(cut -d' ' -f1-3 /proc/loadavg), I/O pressure $(head -1 /proc/pressure/io 2>/dev/null || echo n/a)"; }
BEFORE=$(pressure)
: > "$WORK/http.tsv"
for path in saml-es saml-rs jwt; do
  for c in 1 32; do
    for round in $(seq 1 "$ROUNDS"); do
      # Alternate which side goes first, so a slow spell of the shared machine does not favour one.
      order="gateway peer"; [ $((round % 2)) = 0 ] && order="peer gateway"
      for system in $order; do
        port=$([ $system = gateway ] && echo "${GW_PORT[$path]}" || echo "${PEER_PORT[$path]}")
        if [ $system = gateway ]; then procs=("${GW_PID[$port]}"); else
          procs=("${PEER_PID[$port]}" $(pgrep -P "${PEER_PID[$port]}" || true)); fi
        before=$(cpu_ticks "${procs[@]}")
        out=$(wrk_run "$WORK/${BODY[$path]}.body" "$port" "$c" "$DURATION")
        out="$out cpu_us=$(( ($(cpu_ticks "${procs[@]}") - before) * 1000000 / TICK / $(result_get "$out" requests) ))"
        printf '%s,%s,%s\t%s\n' "$path" "$system" "$c" "$out" >> "$WORK/http.tsv"
        echo "peers: $path $system c=$c: $out" >&2
      done
    done
  done
done

AFTER=$(pressure)
echo "## Gateway ÷ Python peer ($CORES cores, wrk on the same machine, ${DURATION} s per run, access log on $(df --output=fstype "$WORK" | tail -1))"
echo
status=0
python3 benches/peers/report.py "$WORK" target/criterion || status=$?
echo
echo "Before the HTTP runs: $BEFORE"
echo "After them: $AFTER"
exit $status

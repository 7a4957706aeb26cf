# Shared by benches/load/run.sh and benches/peers/run.sh (sourced, from the repository root): the sample
# configuration for a load run, the server, the two request bodies and one wrk run.

# load_config DIR [JWT_ALG]: writes DIR/config.toml, the sample configuration with absolute key paths, the
# access log (the real SQLite store: group commit, fsync) at DIR/audit.sqlite, warnings-only logging and
# replay protection off (wrk re-sends one token). JWT_ALG=RS256 signs the issued JWTs with the RSA key.
# LOAD_EXTRA_CONFIG=file is appended; BLOCKING_THREADS sets [server] blocking_threads; VERIFIER sets [saml]
# verifier ("libxmlsec1" or "streaming"; unset keeps the configuration's default); LOG_LEVEL sets [logging]
# level (default "warn").
load_config() {
  local dir=$1 alg=${2:-ES256} keys="$PWD/samples/keys" key=TEST-ONLY-gateway-jwt-es256.key.pem
  [ "$alg" = ES256 ] || key=TEST-ONLY-gateway-jwt-rsa.key.pem
  sed -e "s#\"keys/#\"$keys/#g" \
      -e "s#TEST-ONLY-gateway-jwt-es256.key.pem#$key#" \
      -e "s#^algorithm = \"ES256\"#algorithm = \"$alg\"#" \
      -e "s#\"\\([a-z]*-register.toml\\)\"#\"$PWD/samples/\\1\"#" \
      -e "s#path = \"xua-gateway-audit.sqlite\"#path = \"$dir/audit.sqlite\"#" \
      -e "s#^level = \"info\"#level = \"${LOG_LEVEL:-warn}\"#" \
      -e "s#^\# verifier = \"streaming\"#${VERIFIER:+verifier = \"$VERIFIER\"}#" \
      -e "s#^blocking_threads = 8#blocking_threads = ${BLOCKING_THREADS:-8}#" \
      -e "s#^saml = true#saml = false#" -e "s#^jwt = true#jwt = false#" \
      samples/config.toml > "$dir/config.toml"
  cat "${LOAD_EXTRA_CONFIG:-/dev/null}" >> "$dir/config.toml"
}

# wait_healthy PORT PID: waits up to 10 s for GET /healthz; fails if the process is gone or never answers.
wait_healthy() {
  local port=$1 pid=$2
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# make_bodies BIN DIR: one SAML → JWT and one JWT → SAML /token form body, valid for an hour, as DIR/saml.body
# and DIR/jwt.body (the tokens themselves as DIR/sample.xml and DIR/sample.jwt).
make_bodies() {
  local bin=$1 dir=$2 prefix='grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange'
  "$bin" sample saml --lifetime 3600 > "$dir/sample.xml"
  "$bin" sample jwt --lifetime 3500 > "$dir/sample.jwt"
  local saml jwt
  saml=$(base64 -w0 < "$dir/sample.xml" | tr '+/' '-_' | tr -d '=')
  jwt=$(tr -d '\n' < "$dir/sample.jwt")
  printf '%s&subject_token_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Atoken-type%%3Asaml2&requested_token_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Atoken-type%%3Ajwt&subject_token=%s' "$prefix" "$saml" > "$dir/saml.body"
  printf '%s&subject_token_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Atoken-type%%3Ajwt&requested_token_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Atoken-type%%3Asaml2&subject_token=%s' "$prefix" "$jwt" > "$dir/jwt.body"
}

# post_token PORT BODY_FILE [OUT]: the HTTP status of one POST /token (the answer into OUT).
post_token() {
  curl -s -o "${3:-/dev/null}" -w '%{http_code}' -H 'Content-Type: application/x-www-form-urlencoded' \
    --data-binary "@$2" "http://127.0.0.1:$1/token"
}

# wrk_run BODY_FILE PORT CONCURRENCY SECONDS: one wrk run against POST /token; prints its RESULT line
# (rps, p50_ms, p99_ms, p999_ms, requests, non200, socket_errors).
wrk_run() {
  local threads=$(( $3 < 2 ? 1 : 2 ))
  BODY_FILE="$1" wrk -t"$threads" -c"$3" -d"$4s" -s benches/load/post.lua "http://127.0.0.1:$2/token" | grep '^RESULT'
}

# cpu_ticks PID...: user + system CPU time of the processes (all their threads) in clock ticks
# (getconf CLK_TCK per second), to give a server's CPU per request.
cpu_ticks() {
  local pid total=0
  for pid in "$@"; do total=$(( total + $(awk '{print $14 + $15}' "/proc/$pid/stat") )); done
  echo "$total"
}

# result_get RESULT_LINE KEY
result_get() { echo "$1" | tr ' ' '\n' | grep "^$2=" | cut -d= -f2; }

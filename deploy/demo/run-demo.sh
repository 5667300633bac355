#!/usr/bin/env bash
# The demo behind `make demo`: signet verifying real signatures, on loopback only.
#
# Starts Debian's docker-registry on 127.0.0.1 and pushes small images to it: one signed with a
# P-256 key generated here, two with tampered signatures, unsigned ones, and the connaisseur
# registry mirror from Tests/Vectors (real cosign signatures, key-based and keyless). Starts
# `signet serve` over HTTPS with the policies of deploy/demo/policies/ (expiry times computed from
# now), sends it AdmissionReviews and prints what it decided and why (deploy/demo/demo.py). Stops
# both and removes its temporary directory on exit. deploy/demo/README.md shows the output.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
signet="${SIGNET_BINARY:-$root/.build/debug/signet}"
vectors="$root/Tests/Vectors/connaisseur/test/testdata/cosign"
registry_binary="${DOCKER_REGISTRY:-/usr/bin/docker-registry}"

for need in "$signet" "$registry_binary"; do
  [ -x "$need" ] || { echo "run-demo.sh: $need is missing (make demo builds signet and installs docker-registry)" >&2; exit 1; }
done
[ -d "$vectors/securesystemsengineering/testimage" ] || { echo "run-demo.sh: $vectors is missing" >&2; exit 1; }

work="$(mktemp -d)"
registry_pid=""
server_pid=""
stop() { # pid: SIGTERM, then wait for it
  if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
  fi
}
cleanup() {
  stop "$server_pid"
  stop "$registry_pid"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# Polls `curl ARGS...` until it succeeds, for at most 20 s, while process $1 lives.
wait_for() {
  local pid="$1" what="$2"; shift 2
  for _ in $(seq 1 200); do
    curl -sf -o /dev/null "$@" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { echo "$what exited before becoming ready" >&2; return 1; }
    sleep 0.1
  done
  echo "$what did not become ready in 20 s" >&2
  return 1
}

# The registry: anonymous, plain HTTP, storage in the temporary directory.
registry_port="$(free_port)"
registry="127.0.0.1:$registry_port"
cat > "$work/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $registry
  secret: signet-demo
EOF
"$registry_binary" serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
wait_for "$registry_pid" docker-registry "http://$registry/v2/" || { cat "$work/registry.log" >&2; exit 1; }

# A signing key (what `cosign generate-key-pair` makes: ECDSA P-256) and the serving certificate.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/demo.key" 2>/dev/null
openssl pkey -in "$work/demo.key" -pubout -out "$work/demo.pub" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj "/CN=signet-demo" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null

python3 "$root/deploy/demo/demo.py" push --registry "$registry" --storage "$work/registry" \
  --vectors "$vectors" --key "$work/demo.key" --out "$work/images.json"

# The demo's policies with this run's registry, keys and expiry times (two and four hours ahead).
mkdir "$work/policies"
exception_until="$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%SZ)"
bypass_until="$(date -u -d '+4 hours' +%Y-%m-%dT%H:%M:%SZ)"
for template in "$root"/deploy/demo/policies/*.yaml; do
  sed -e "s|@REGISTRY@|$registry|g" -e "s|@DEMO_KEY@|$work/demo.pub|g" -e "s|@ALICE_KEY@|$vectors/alice.key|g" \
      -e "s|@EXCEPTION_UNTIL@|$exception_until|g" -e "s|@BYPASS_UNTIL@|$bypass_until|g" \
      "$template" > "$work/policies/$(basename "$template")"
done
"$signet" lint "$work/policies" >/dev/null

port="${SIGNET_DEMO_PORT:-$(free_port)}"
"$signet" serve --address 127.0.0.1 --port "$port" \
  --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" --policy-dir "$work/policies" \
  --allow-insecure-registry "$registry" --audit-log stdout --log-format json --log-level debug \
  >"$work/audit.log" 2>"$work/signet.log" &
server_pid=$!
wait_for "$server_pid" "signet serve" --cacert "$work/tls.crt" "https://127.0.0.1:$port/readyz" || { cat "$work/signet.log" >&2; exit 1; }

echo "signet demo"
echo "  registry  docker-registry on http://$registry: demo/* pushed now (demo/web signed with a P-256"
echo "            key made now), securesystemsengineering/testimage from connaisseur (real cosign signatures)"
echo "  signet    signet serve on https://127.0.0.1:$port, policies deploy/demo/policies/*.yaml:"
echo "            release-keys (demo/** and testimage:multi-cosigned-*: the demo key or alice.key),"
echo "            keyless-github (testimage:keyless), a PolicyException and an EmergencyBypass"
python3 "$root/deploy/demo/demo.py" scenes --url "https://127.0.0.1:$port" --ca "$work/tls.crt" \
  --audit "$work/audit.log" --log "$work/signet.log" --registry "$registry" --images "$work/images.json" \
  --signet "$signet" --policies "$work/policies" --root "$root"

echo
echo "== stopping signet (SIGTERM, graceful) and the registry"
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=""
[ "$status" = 0 ] || { echo "signet exited with status $status" >&2; exit 1; }
echo "signet exited cleanly (status 0)"

#!/usr/bin/env bash
# The demo behind `make demo`: starts `signet serve` on 127.0.0.1 with a fresh self-signed
# certificate and the example policies in policies/, sends it an AdmissionReview for an allowed
# pod and one for a denied pod over HTTPS, prints both decisions, and stops the server.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
signet="${SIGNET_BINARY:-$root/.build/debug/signet}"
work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port="${SIGNET_DEMO_PORT:-18443}"
echo "== generating a self-signed certificate for 127.0.0.1 (EC P-256)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj "/CN=signet-demo" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null

echo "== starting signet serve on https://127.0.0.1:$port with policies from policies/"
"$signet" serve --address 127.0.0.1 --port "$port" \
  --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" \
  --policy-dir "$root/policies" --log-format text --log-level warning --audit-log off &
server_pid=$!

for _ in $(seq 1 100); do
  if curl -sf --cacert "$work/tls.crt" "https://127.0.0.1:$port/readyz" >/dev/null 2>&1; then break; fi
  kill -0 "$server_pid" 2>/dev/null || { echo "signet exited before becoming ready" >&2; exit 1; }
  sleep 0.1
done
curl -sf --cacert "$work/tls.crt" "https://127.0.0.1:$port/readyz" >/dev/null

show() {
  local title="$1" file="$2"
  echo
  echo "== $title: $(basename "$file")"
  curl -sS --cacert "$work/tls.crt" -H 'Content-Type: application/json' \
    --data-binary @"$file" "https://127.0.0.1:$port/validate?timeout=10s" \
  | python3 -c '
import json, sys
review = json.load(sys.stdin)
r = review["response"]
print("uid:      ", r["uid"])
print("decision: ", "ALLOWED" if r["allowed"] else "DENIED")
if not r["allowed"]:
    print("status:   ", r["status"]["code"], r["status"].get("message", ""))
for w in r.get("warnings", []):
    print("warning:  ", w)
for k, v in sorted(r.get("auditAnnotations", {}).items()):
    print("audit:    ", k, "=", v)
'
}
show "a pod whose images the policies trust" "$root/deploy/demo/review-allowed.json"
show "a pod with an image no policy trusts" "$root/deploy/demo/review-denied.json"

echo
echo "== stopping signet (SIGTERM, graceful)"
kill -TERM "$server_pid"
wait "$server_pid" && echo "signet exited cleanly (status 0)"
server_pid=""

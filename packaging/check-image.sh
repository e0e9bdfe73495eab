#!/usr/bin/env bash
# Checks a built Coffer image as a user would run it: it starts with a mounted
# certificate and a volume, runs as its unprivileged user, its health check
# passes, the AWS CLI creates and reads a secret through it with the root
# credential it wrote, and SIGTERM stops it cleanly (exit code 0).
#
# Usage: packaging/check-image.sh [image, default coffer]
#   ENGINE=docker (default) or podman; ENGINE_FLAGS for the engine's own flags
#   (e.g. "--runtime runc"); RUN_FLAGS for `run`'s (default "-p 8443:8443";
#   "--network host" where the engine cannot publish ports). Needs openssl,
#   curl and aws. Port 8443 on the host must be free.
set -euo pipefail
IMAGE="${1:-coffer}"
E="${ENGINE:-docker} ${ENGINE_FLAGS:-}"
NAME=coffer-image-check
RUN_FLAGS="${RUN_FLAGS:--p 8443:8443}"
DIR=""
cleanup() {
  $E rm -f "$NAME" >/dev/null 2>&1 || true
  $E volume rm -f "$NAME" >/dev/null 2>&1 || true
  [ -z "$DIR" ] || rm -rf "$DIR"
}
trap cleanup EXIT
cleanup
DIR="$(mktemp -d)"
mkdir -p "$DIR/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -keyout "$DIR/tls/server.key" -out "$DIR/tls/server.pem" -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
# The container's user (uid 10001) reads the mounted key.
chmod 644 "$DIR/tls/server.key"

# shellcheck disable=SC2086
$E run -d --name "$NAME" $RUN_FLAGS -v "$NAME:/var/lib/coffer" \
  -v "$DIR/tls:/etc/coffer/tls:ro" "$IMAGE" >/dev/null
for _ in $(seq 60); do curl -fsk https://127.0.0.1:8443/health >/dev/null 2>&1 && break; sleep 1; done
curl -fsS --cacert "$DIR/tls/server.pem" https://localhost:8443/health >/dev/null
echo "serving /health over TLS"

[ "$($E exec "$NAME" id -u)" = 10001 ] || { echo "not running as uid 10001" >&2; exit 1; }
echo "running as uid 10001"
if [ "${ENGINE:-docker}" = podman ]; then
  $E healthcheck run "$NAME"
else
  # Docker runs the first check after the image's interval (30 s).
  for _ in $(seq 90); do
    [ "$($E inspect -f '{{.State.Health.Status}}' "$NAME")" = healthy ] && break; sleep 1
  done
  [ "$($E inspect -f '{{.State.Health.Status}}' "$NAME")" = healthy ]
fi
echo "health check passes"

eval "$($E exec "$NAME" cat /var/lib/coffer/root-credentials)"
export AWS_DEFAULT_REGION=us-east-1 AWS_CA_BUNDLE="$DIR/tls/server.pem"
aws --endpoint-url https://localhost:8443 secretsmanager create-secret \
  --name image-check/demo --secret-string "from-the-image" >/dev/null
got=$(aws --endpoint-url https://localhost:8443 secretsmanager get-secret-value \
  --secret-id image-check/demo --query SecretString --output text)
[ "$got" = from-the-image ] || { echo "read back: $got" >&2; exit 1; }
echo "the AWS CLI creates and reads a secret"

$E stop -t 20 "$NAME" >/dev/null
code=$($E inspect -f '{{.State.ExitCode}}' "$NAME")
[ "$code" = 0 ] || { echo "exit code $code after SIGTERM" >&2; $E logs "$NAME" | tail -20 >&2; exit 1; }
echo "SIGTERM: clean exit"

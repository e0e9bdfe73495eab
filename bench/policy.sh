#!/usr/bin/env bash
# Measures the cost of authorization, in one run on this machine: signed, decrypted
# GetSecretValue for the account's root credential (which skips policy evaluation)
# and for an IAM user whose permission comes from a 20-statement policy with tag
# conditions and policy variables (the matching statement last, so every statement is
# evaluated on every request), at 1, 16 and 64 connections.
# Writes bench/POLICY_RESULTS.md. Usage: bench/policy.sh [seconds-per-point, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-10}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import boto3" 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r e2e/requirements.txt
fi
cargo build --release -q -p coffer -p coffer-bench
BIN="$CARGO_TARGET_DIR/release"
WORK="$(mktemp -d)"
PORT=18760
export AWS_ACCESS_KEY_ID=AKIABENCHBENCHBENCH0 AWS_SECRET_ACCESS_KEY=bench-secret-key AWS_DEFAULT_REGION=us-east-1
cleanup() { kill "${SRV:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

COFFER_DEV_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID COFFER_DEV_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
  "$BIN/coffer" server --dev --log-level warn --data-dir "$WORK/data" --listen 127.0.0.1:$PORT > "$WORK/env" 2> "$WORK/server.log" &
SRV=$!
until grep -q AWS_DEFAULT_REGION "$WORK/env" 2>/dev/null; do sleep 0.2; done

# The secret, the user and its policy, through boto3.
USER_KEY=$(.venv/bin/python - "http://127.0.0.1:$PORT" <<'PY'
import json, sys, boto3
ep = sys.argv[1]
sm = boto3.client("secretsmanager", endpoint_url=ep)
iam = boto3.client("iam", endpoint_url=ep)
value = json.dumps({"username": "app", "password": "0" * 170})
sm.create_secret(Name="bench/secret", SecretString=value, Tags=[{"Key": "Team", "Value": "Dev"}])
statements = [{
    "Sid": f"Team{i}",
    "Effect": "Allow",
    "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
    "Resource": f"arn:aws:secretsmanager:*:*:secret:team{i}/*",
    "Condition": {"StringEquals": {"aws:ResourceTag/Team": f"Team{i}"}},
} for i in range(19)]
statements.append({
    "Sid": "OwnTeam",
    "Effect": "Allow",
    "Action": "secretsmanager:GetSecretValue",
    "Resource": "*",
    "Condition": {"StringEquals": {"aws:ResourceTag/Team": "${aws:PrincipalTag/Team}"}},
})
iam.create_user(UserName="bench", Tags=[{"Key": "Team", "Value": "Dev"}])
iam.put_user_policy(UserName="bench", PolicyName="teams",
                    PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
key = iam.create_access_key(UserName="bench")["AccessKey"]
print(key["AccessKeyId"], key["SecretAccessKey"])
PY
)
read -r UKEY USECRET <<< "$USER_KEY"

headers_for() { # akid secret -> wrk -H args in HDRS, body in BENCH_BODY
  local signed
  signed=$("$BIN/coffer-bench" sign --endpoint-host 127.0.0.1:$PORT --secret-id bench/secret \
    --access-key-id "$1" --secret-access-key "$2")
  export BENCH_BODY; BENCH_BODY=$(printf '%s\n' "$signed" | sed -n 's/^BODY //p')
  HDRS=()
  while IFS= read -r line; do
    case "$line" in BODY*) ;; *) HDRS+=(-H "$line") ;; esac
  done <<< "$signed"
}
run() { # connections -> "rps p50 p99"
  local threads=$(( $1 < 2 ? 1 : 2 )) out non2xx
  out=$(wrk -t$threads -c$1 -d${SECS}s --latency -s bench/get.lua "${HDRS[@]}" "http://127.0.0.1:$PORT/" 2>&1)
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<< "$out")
  [ -z "$non2xx" ] || { echo "wrk saw $non2xx non-2xx answers" >&2; echo "$out" >&2; exit 1; }
  echo "$(awk '/Requests\/sec/ {print $2}' <<< "$out") $(awk '$1=="50%" {print $2}' <<< "$out") $(awk '$1=="99%" {print $2}' <<< "$out")"
}

ROWS=""
for c in 1 16 64; do
  headers_for "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
  read -r rrps rp50 rp99 < <(run $c)
  headers_for "$UKEY" "$USECRET"
  read -r urps up50 up99 < <(run $c)
  ratio=$(python3 -c "print(f'{$urps/$rrps*100:.0f}%')")
  ROWS+="| $c | $rrps | $rp50 | $rp99 | $urps | $up50 | $up99 | $ratio |"$'\n'
done

cat > bench/POLICY_RESULTS.md <<MD
# Authorization cost

Run by \`bench/policy.sh $SECS\` on $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m);
wrk on the same machine. Release builds. Signed, decrypted, audited GetSecretValue of one
tagged secret: by the root credential (no policy evaluation) and by an IAM user allowed
by a 20-statement policy whose only matching statement is the last one
(\`aws:ResourceTag/Team\` = \`\${aws:PrincipalTag/Team}\`).

| connections | root req/s | p50 | p99 | policy user req/s | p50 | p99 | user / root |
|---|---|---|---|---|---|---|---|
$ROWS
Goal: ≥ 90% of the root credential's throughput.
MD
cat bench/POLICY_RESULTS.md

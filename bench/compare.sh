#!/usr/bin/env bash
# Compares this checkout's server with an earlier revision's, in one run on this
# machine: signed, decrypted GetSecretValue by the root credential (no policy
# evaluation) and by an IAM user allowed by the 20-statement policy of
# bench/policy.sh, at 1, 16 and 64 connections, alternating base and head at each
# point so drift on a shared machine hits both alike.
# Writes bench/COMPARE_RESULTS.md.
# Usage: bench/compare.sh BASE_REVISION [seconds-per-point, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
BASE_REV="${1:?usage: bench/compare.sh BASE_REVISION [seconds]}"
SECS="${2:-10}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
# The base builds in its own target directory: two checkouts of one workspace
# layout must not share one (their artifacts would overwrite each other).
BASE_TARGET="${CARGO_TARGET_DIR}-base"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import boto3" 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r e2e/requirements.txt
fi
WORK="$(mktemp -d)"
BASE_SRC="$WORK/base-src"
cleanup() {
  kill "${BASE_PID:-}" "${HEAD_PID:-}" 2>/dev/null || true; wait 2>/dev/null || true
  git worktree remove --force "$BASE_SRC" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

git worktree add --detach -q "$BASE_SRC" "$BASE_REV"
(cd "$BASE_SRC" && CARGO_TARGET_DIR="$BASE_TARGET" cargo build --release -q -p coffer)
cargo build --release -q -p coffer -p coffer-bench
BIN="$CARGO_TARGET_DIR/release"
export AWS_ACCESS_KEY_ID=AKIABENCHBENCHBENCH0 AWS_SECRET_ACCESS_KEY=bench-secret-key AWS_DEFAULT_REGION=us-east-1

start() { # binary port name -> pid in $!
  COFFER_DEV_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID COFFER_DEV_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
    "$1" server --dev --log-level warn --data-dir "$WORK/$3" --listen 127.0.0.1:$2 > "$WORK/$3.env" 2> "$WORK/$3.log" &
}
start "$BASE_TARGET/release/coffer" 18770 base; BASE_PID=$!
start "$BIN/coffer" 18771 head; HEAD_PID=$!
for n in base head; do until grep -q AWS_DEFAULT_REGION "$WORK/$n.env" 2>/dev/null; do sleep 0.2; done; done

seed() { # port -> "akid secret" of the policy user
  .venv/bin/python - "http://127.0.0.1:$1" <<'PY'
import json, sys, boto3
ep = sys.argv[1]
sm = boto3.client("secretsmanager", endpoint_url=ep)
iam = boto3.client("iam", endpoint_url=ep)
value = json.dumps({"username": "app", "password": "0" * 170})
sm.create_secret(Name="bench/secret", SecretString=value, Tags=[{"Key": "Team", "Value": "Dev"}])
statements = [{
    "Sid": f"Team{i}", "Effect": "Allow",
    "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
    "Resource": f"arn:aws:secretsmanager:*:*:secret:team{i}/*",
    "Condition": {"StringEquals": {"aws:ResourceTag/Team": f"Team{i}"}},
} for i in range(19)]
statements.append({
    "Sid": "OwnTeam", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
    "Condition": {"StringEquals": {"aws:ResourceTag/Team": "${aws:PrincipalTag/Team}"}},
})
iam.create_user(UserName="bench", Tags=[{"Key": "Team", "Value": "Dev"}])
iam.put_user_policy(UserName="bench", PolicyName="teams",
                    PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
key = iam.create_access_key(UserName="bench")["AccessKey"]
print(key["AccessKeyId"], key["SecretAccessKey"])
PY
}
read -r BASE_UKEY BASE_USECRET <<< "$(seed 18770)"
read -r HEAD_UKEY HEAD_USECRET <<< "$(seed 18771)"

run() { # port akid secret connections -> "rps p50 p99"
  local signed out non2xx threads=$(( $4 < 2 ? 1 : 2 ))
  signed=$("$BIN/coffer-bench" sign --endpoint-host 127.0.0.1:$1 --secret-id bench/secret \
    --access-key-id "$2" --secret-access-key "$3")
  export BENCH_BODY; BENCH_BODY=$(printf '%s\n' "$signed" | sed -n 's/^BODY //p')
  local hdrs=()
  while IFS= read -r line; do
    case "$line" in BODY*) ;; *) hdrs+=(-H "$line") ;; esac
  done <<< "$signed"
  out=$(wrk -t$threads -c$4 -d${SECS}s --latency -s bench/get.lua "${hdrs[@]}" "http://127.0.0.1:$1/" 2>&1)
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<< "$out")
  [ -z "$non2xx" ] || { echo "wrk saw $non2xx non-2xx answers" >&2; echo "$out" >&2; exit 1; }
  echo "$(awk '/Requests\/sec/ {print $2}' <<< "$out") $(awk '$1=="50%" {print $2}' <<< "$out") $(awk '$1=="99%" {print $2}' <<< "$out")"
}

ROWS=""
for who in root user; do
  for c in 1 16 64; do
    if [ "$who" = root ]; then
      bk=($AWS_ACCESS_KEY_ID $AWS_SECRET_ACCESS_KEY); hk=($AWS_ACCESS_KEY_ID $AWS_SECRET_ACCESS_KEY)
    else
      bk=($BASE_UKEY $BASE_USECRET); hk=($HEAD_UKEY $HEAD_USECRET)
    fi
    # Base, head, head, base: each side gets an early and a late slot.
    read -r b1 bp50 bp99 < <(run 18770 "${bk[@]}" $c)
    read -r h1 hp50 hp99 < <(run 18771 "${hk[@]}" $c)
    read -r h2 _ _ < <(run 18771 "${hk[@]}" $c)
    read -r b2 _ _ < <(run 18770 "${bk[@]}" $c)
    line=$(python3 -c "b=($b1+$b2)/2; h=($h1+$h2)/2; print(f'| $who | $c | {b:.0f} | $bp50 | $bp99 | {h:.0f} | $hp50 | $hp99 | {h/b*100:.0f}% |')")
    ROWS+="$line"$'\n'
  done
done

cat > bench/COMPARE_RESULTS.md <<MD
# Head against a base revision

Run by \`bench/compare.sh $BASE_REV $SECS\` on $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m);
base $(git rev-parse --short "$BASE_REV"), head $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with uncommitted changes)').
wrk on the same machine, release builds. Signed, decrypted, audited GetSecretValue of
one tagged secret by the root credential and by an IAM user allowed by a 20-statement
policy (its matching statement last). Each point runs base, head, head, base for
${SECS} s each; req/s is the mean of a side's two runs, latencies are from its first.

| caller | connections | base req/s | p50 | p99 | head req/s | p50 | p99 | head / base |
|---|---|---|---|---|---|---|---|---|
$ROWS
MD
cat bench/COMPARE_RESULTS.md

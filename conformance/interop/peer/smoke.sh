#!/usr/bin/env bash
# Smoke test of rumor's Go memberlist peer (conformance/interop/peer): three
# peers on 127.0.0.1 with kernel-chosen ports join, see each other, get a
# broadcast, a best-effort and a reliable send, a meta change; then one is
# SIGKILLed (the others must report it dead) and one leaves (the last one
# must report it left). Prints PASS or FAIL; exit status 0 only on PASS.
#
# Usage: conformance/interop/peer/smoke.sh
# Environment:
#   SMOKE_TIMEOUT=60   overall limit in seconds, counted after the build
#   SMOKE_KEEP=1       keep the work dir (peer stdout/stderr) and print its path
#   build.sh's own variables (RUMOR_GO_CACHE, MEMBERLIST_NO_APT) apply.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
limit="${SMOKE_TIMEOUT:-60}"

bin="$(bash "$here/../build.sh" peer | tail -n 1)"
if [[ -z "$bin" || ! -x "$bin" ]]; then
  echo "FAIL: could not build the peer"
  exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/rumor-peer-smoke.XXXXXX")"
deadline=$((SECONDS + limit))
declare -A pid=() port=() fd=() mark=()

cleanup() {
  local n
  for n in "${!pid[@]}"; do
    kill -KILL "${pid[$n]}" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [[ "${SMOKE_KEEP:-0}" == 1 ]]; then
    echo "smoke: logs kept in $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

fail() {
  echo "smoke: $*" >&2
  local f
  for f in "$work"/*.out; do
    echo "---- $(basename "$f")" >&2
    tail -n 20 "$f" >&2
  done
  echo "FAIL: $*"
  exit 1
}

step() { printf 'smoke: [%2ds] %s\n' "$((SECONDS + limit - deadline))" "$*" >&2; }

# expect NODE ERE [SECONDS]: waits until NODE's stdout has a line matching
# ERE after its mark (see send), bounded by the overall deadline.
expect() {
  local node="$1" re="$2" secs="${3:-10}"
  local until=$((SECONDS + secs))
  ((until <= deadline)) || until=$deadline
  while ! tail -n +"$((${mark[$node]:-0} + 1))" "$work/$node.out" | grep -Eq -- "$re"; do
    if ((SECONDS >= until)); then
      if ((SECONDS >= deadline)); then
        fail "overall timeout (${limit}s) waiting on $node for /$re/"
      fi
      fail "$node: no line matching /$re/ within ${secs}s"
    fi
    sleep 0.05
  done
}

# send NODE LINE: marks NODE's current stdout length, then writes LINE to its
# stdin, so that a following expect only sees the answer to it.
send() {
  local node="$1" line="$2"
  mark[$node]=$(wc -l <"$work/$node.out")
  # In a subshell: a write to a dead peer's stdin (SIGPIPE) must fail the
  # test, not kill this script.
  (printf '%s\n' "$line" >&"${fd[$node]}") 2>/dev/null || fail "$node: cannot write to its stdin"
}

# start NODE ARGS...: starts a peer named smoke-NODE and waits for ready.
start() {
  local node="$1"
  shift
  mkfifo "$work/$node.in"
  : >"$work/$node.out"
  "$bin" -name "smoke-$node" -bind 127.0.0.1 -port 0 -retransmit-mult 4 \
    -pushpull-interval 5s -meta "role=$node" "$@" \
    <"$work/$node.in" >"$work/$node.out" 2>"$work/$node.err" &
  pid[$node]=$!
  local f
  exec {f}>"$work/$node.in"
  fd[$node]=$f
  mark[$node]=0
  expect "$node" '^\{"event":"ready",' 10
  port[$node]=$(grep -m1 '^{"event":"ready"' "$work/$node.out" | sed -E 's/.*"port":([0-9]+).*/\1/')
  [[ "${port[$node]}" =~ ^[0-9]+$ && "${port[$node]}" != 0 ]] || fail "$node: no port in its ready event"
}

node_re() { printf '"(node|name)":"smoke-%s",' "$1"; }

# --- the scenario --------------------------------------------------------------
tag="$$-$RANDOM"

step "start a, b, c"
start a
grep -q '"real_state":true' "$work/a.out" || fail "a: ready without real_state"
start b -join "127.0.0.1:${port[a]}"
expect b '^\{"event":"ok","cmd":"join","joined":1\}' 1
start c -join "127.0.0.1:${port[b]}"
expect c '^\{"event":"ok","cmd":"join","joined":1\}' 1

step "everyone sees everyone"
for n in a b c; do
  for m in a b c; do
    expect "$n" "^\\{\"event\":\"join\",$(node_re "$m").*\"state\":\"alive\",\"meta\":\"role=$m\"" 10
  done
done
for n in a b c; do
  send "$n" members
  expect "$n" '^\{"event":"members",' 5
  line="$(tail -n +"$((${mark[$n]} + 1))" "$work/$n.out" | grep -m1 '^{"event":"members"')"
  for m in a b c; do
    grep -Eq "\\{$(node_re "$m")[^}]*\"state\":\"alive\"" <<<"$line" || fail "$n: smoke-$m not alive in members: $line"
  done
done

step "broadcast from a"
send a "broadcast hello-$tag"
expect a '^\{"event":"ok","cmd":"broadcast","queued":[0-9]+\}' 2
for n in b c; do
  expect "$n" "^\\{\"event\":\"user_msg\",\"payload\":\"hello-$tag\"" 10
done

step "send b -> c (UDP), send-reliable-b64 c -> a (TCP)"
send b "send smoke-c udp-$tag"
expect b '^\{"event":"ok","cmd":"send","to":"smoke-c"\}' 5
expect c "^\\{\"event\":\"user_msg\",\"payload\":\"udp-$tag\"" 5
bytes_b64="$(printf 'tcp-%s\000\377' "$tag" | base64 -w0)"
send c "send-reliable-b64 smoke-a $bytes_b64"
expect c '^\{"event":"ok","cmd":"send-reliable-b64","to":"smoke-a"\}' 5
expect a "\"payload_b64\":\"$bytes_b64\"" 5

step "meta change on c"
send c "meta role=c2"
expect c '^\{"event":"ok","cmd":"meta"\}' 6
for n in a b; do
  expect "$n" "^\\{\"event\":\"update\",$(node_re c).*\"meta\":\"role=c2\"" 10
done

step "SIGKILL c: a and b must report it dead"
{ kill -KILL "${pid[c]}" && wait "${pid[c]}"; } 2>/dev/null # no "Killed" job notice
unset 'pid[c]'
for n in a b; do
  expect "$n" "^\\{\"event\":\"leave\",$(node_re c).*\"state\":\"dead\"" 30
done

step "b leaves: a must report it left"
send b "leave 3s"
expect b '^\{"event":"ok","cmd":"leave"\}' 5
expect b "^\\{\"event\":\"leave\",$(node_re b).*\"state\":\"left\"" 1
expect a "^\\{\"event\":\"leave\",$(node_re b).*\"state\":\"left\"" 10
send a members
expect a '^\{"event":"members","members":\[\{"name":"smoke-a",[^{]*\}\]\}$' 5

step "shutdown a and b"
for n in a b; do
  send "$n" shutdown
  expect "$n" "^\\{\"event\":\"shutdown\",\"name\":\"smoke-$n\"\\}$" 5
done
for n in a b; do
  wait "${pid[$n]}"
  rc=$?
  unset "pid[$n]"
  ((rc == 0)) || fail "$n exited with status $rc"
done
if grep -h '"event":"error"' "$work"/*.out >&2; then
  fail "unexpected error events"
fi

step "done"
echo "PASS ($((SECONDS + limit - deadline))s)"

#!/usr/bin/env bash
# make demo: a private dockerd wired to portcullis with the example policy, driven by the real docker CLI.
# Everything lives in one temp dir and is stopped by pid at the end, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

DOCKER=/usr/bin/docker
DIR=$(mktemp -d /tmp/portcullis-demo.XXXXXX)
NAME="portcullis-demo-$$"
SPEC="/etc/docker/plugins/$NAME.spec"
PC=(node "$PWD/dist/cli.js")

# What the demo leaves behind when it is done: the evidence bundle, with its report.html.
KEEP=$(mktemp -d /tmp/portcullis-demo-report.XXXXXX)

# Colour only on a terminal, and never with NO_COLOR set (https://no-color.org).
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then BOLD=$'\033[1m' CYAN=$'\033[36m' RESET=$'\033[0m'; else BOLD='' CYAN='' RESET=''; fi
bold() { printf '\n%s== %s%s\n' "$BOLD" "$*" "$RESET"; }
show() { printf '%s$ %s%s\n' "$CYAN" "$*" "$RESET"; }
# quoted ARG...: the arguments as a shell would need them typed, so a shown command can be pasted.
quoted() {
  local out='' arg
  for arg in "$@"; do
    if [[ $arg =~ ^[A-Za-z0-9_./:=@+,%-]+$ ]]; then out+="$arg "; else out+="'${arg//\'/\'\\\'\'}' "; fi
  done
  printf '%s' "${out% }"
}

cleanup() {
  set +e
  [ -f "$DIR/docker.pid" ] && kill "$(cat "$DIR/docker.pid")" 2>/dev/null
  for _ in $(seq 50); do [ -f "$DIR/docker.pid" ] && kill -0 "$(cat "$DIR/docker.pid")" 2>/dev/null || break; sleep 0.2; done
  [ -n "${PLUGIN_PID:-}" ] && kill "$PLUGIN_PID" 2>/dev/null && wait "$PLUGIN_PID" 2>/dev/null
  rm -f "$SPEC"
  umount -R "$DIR" 2>/dev/null
  rm -rf "$DIR"
}
trap cleanup EXIT

# as USER: run the docker CLI with USER's token in its config (no token for "anonymous").
as() {
  local user=$1; shift
  show "$(quoted docker "$@")      # as $user"
  "$DOCKER" --config "$DIR/cli-$user" --host "unix://$DIR/docker.sock" "$@" 2>&1 | sed 's/^/    /' || true
}

bold "policy: examples/policy.json (viewer < developer < operator < admin; projects payments and web)"
"${PC[@]}" policy validate --config examples/policy.json

# The demo's copy of the policy: alice gets an SSH key and the bridge listens on a free loopback port.
ssh-keygen -q -t ed25519 -N '' -C alice -f "$DIR/alice_ed25519"
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
SSH_PORT=$(free_port)
ELEVATION_URL="http://127.0.0.1:$(free_port)"
node -e "
  const fs = require('fs'); const p = JSON.parse(fs.readFileSync('examples/policy.json', 'utf8'))
  p.users.alice.sshKeys = [fs.readFileSync('$DIR/alice_ed25519.pub', 'utf8').trim()]
  p.bridge = { enabled: true, listen: '127.0.0.1:$SSH_PORT', hostname: 'dockerhost' }
  fs.writeFileSync('$DIR/policy.json', JSON.stringify(p, null, 2))"

"${PC[@]}" keys init --keys "$DIR/keys" >/dev/null
for user in ops alice bob carol mallory anonymous; do
  mkdir -p "$DIR/cli-$user"
  if [ "$user" = anonymous ]; then echo '{}' > "$DIR/cli-$user/config.json"; continue; fi
  token=$("${PC[@]}" token issue --keys "$DIR/keys" --user "$user" --ttl 1h)
  printf '{"HttpHeaders":{"X-Portcullis-Token":"%s"}}\n' "$token" > "$DIR/cli-$user/config.json"
done

bold "start portcullis and a private dockerd with --authorization-plugin=$NAME"
"${PC[@]}" serve --config "$DIR/policy.json" --socket "$DIR/plugin.sock" --data "$DIR/audit" \
  --admin-socket "$DIR/admin.sock" --keys "$DIR/keys" --docker-host "unix://$DIR/docker.sock" \
  --plugin-name "$NAME" --elevation-listen "${ELEVATION_URL#http://}" --log-level warn 2>"$DIR/portcullis.log" &
PLUGIN_PID=$!
for _ in $(seq 100); do [ -S "$DIR/plugin.sock" ] && break; sleep 0.1; done
mkdir -p /etc/docker/plugins
echo "unix://$DIR/plugin.sock" > "$SPEC"
dockerd --host "unix://$DIR/docker.sock" --data-root "$DIR/data" --exec-root "$DIR/exec" --pidfile "$DIR/docker.pid" \
  --bridge=none --iptables=false --ip-forward=false --authorization-plugin="$NAME" >"$DIR/dockerd.log" 2>&1 &
for _ in $(seq 150); do "$DOCKER" --config "$DIR/cli-ops" --host "unix://$DIR/docker.sock" version >/dev/null 2>&1 && break; sleep 0.2; done
echo "dockerd $("$DOCKER" --config "$DIR/cli-ops" --host "unix://$DIR/docker.sock" version --format '{{.Server.Version}}') is up, every call goes through portcullis"

bold "ops (global admin) imports a busybox image"
mkdir -p "$DIR/rootfs/bin" && cp /usr/bin/busybox "$DIR/rootfs/bin/" && for a in sh ls cat echo sleep id; do ln -sf busybox "$DIR/rootfs/bin/$a"; done
tar -C "$DIR/rootfs" -c . | "$DOCKER" --config "$DIR/cli-ops" --host "unix://$DIR/docker.sock" import - busybox:demo >/dev/null
echo "imported busybox:demo"

bold "alice (developer in payments) runs a payments container: allowed"
as alice run -d --name pay-1 --network none --label portcullis.project=payments busybox:demo sleep 600
as alice ps --format '{{.Names}} {{.Status}}'
as alice exec pay-1 echo hello from pay-1

bold "bob (viewer in payments) tries to stop it: denied, with the reason"
as bob stop pay-1

bold "mallory (in no project) tries to look inside: denied"
as mallory exec pay-1 cat /etc/hostname

bold "alice asks for a privileged container: refused (host-reaching settings need an unsafe role)"
as alice run --rm --privileged --network none --label portcullis.project=payments busybox:demo id

bold "alice tries an interactive shell with docker exec -it: her role is bridge-only"
as alice exec -i pay-1 sh

bold "alice tries docker run -it, and a shell string past her command rules: the same rules cover every way in"
as alice run --rm -i --network none --label portcullis.project=payments busybox:demo sh </dev/null
as alice exec pay-1 sh -c 'n""senter --help'

bold "carol (operator of payments) prunes stopped containers: only inside her project, and the refusal names the filter"
as carol container prune -f
as carol container prune -f --filter label=portcullis.project=payments

bold "alice takes the recorded SSH bridge instead: the same policy, and every byte on record"
echo "[127.0.0.1]:$SSH_PORT $(cat "$DIR/keys/ssh_host_ed25519_key.pub")" > "$DIR/known_hosts"
SSH=(ssh -F /dev/null -p "$SSH_PORT" -i "$DIR/alice_ed25519" -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes
  -o UserKnownHostsFile="$DIR/known_hosts" -o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR)
show "ssh -p $SSH_PORT alice+pay-1@dockerhost 'echo hello over ssh from \$(hostname); exit 3'"
status=0
"${SSH[@]}" alice+pay-1@127.0.0.1 'echo hello over ssh from $(hostname); exit 3' >"$DIR/ssh.out" 2>&1 || status=$?
sed 's/^/    /' "$DIR/ssh.out"
echo "    (ssh exited with the command's own status: $status)"
show "printf 'id\\nexit\\n' | ssh -tt -p $SSH_PORT alice+pay-1@dockerhost      # an interactive shell, fed by a pipe"
printf 'id\nexit\n' | "${SSH[@]}" -tt alice+pay-1@127.0.0.1 2>&1 | tr -d '\r' | sed 's/^/    /' || true
show "ssh -T -p $SSH_PORT alice@dockerhost      # no container named: what may alice enter?"
"${SSH[@]}" -T alice@127.0.0.1 2>&1 | sed 's/^/    /' || true
show "ssh -p $SSH_PORT bob+pay-1@dockerhost ...   # bob has no key in the policy"
"${SSH[@]}" bob+pay-1@127.0.0.1 true 2>&1 | sed 's/^/    /' || true

bold "the recorded sessions, and one played back"
show "portcullis audit sessions"
"${PC[@]}" audit sessions --admin-socket "$DIR/admin.sock" | sed 's/^/    /'
SESSION=$("${PC[@]}" audit sessions --json -n 2 --admin-socket "$DIR/admin.sock" | node -e "let t='';process.stdin.on('data',d=>t+=d).on('end',()=>console.log(JSON.parse(t).find(s=>s.tty).session))")
show "portcullis audit replay $SESSION --speed 5"
"${PC[@]}" audit replay "$SESSION" --speed 5 --admin-socket "$DIR/admin.sock" 2>&1 | tr -d '\r' | sed 's/^/    /'

bold "alice needs more for an incident: the refusal names the role and the command to ask for it"
as alice run -d --name pay-2 --network none --label portcullis.project=payments busybox:demo sleep 600 >/dev/null
as alice rm -f pay-2
request() { local user=$1; shift; "${PC[@]}" request "$@" --url "$ELEVATION_URL" --token "$(node -e "console.log(JSON.parse(require('fs').readFileSync('$DIR/cli-$user/config.json','utf8')).HttpHeaders['X-Portcullis-Token'])")"; }
show "portcullis request create --project payments --role operator --ttl 10m --reason \"INC-4711\"   (as alice)"
REQUEST=$(request alice create --project payments --role operator --ttl 10m --reason "INC-4711: stuck payment pod" --json | node -e "let t='';process.stdin.on('data',d=>t+=d).on('end',()=>console.log(JSON.parse(t).id))")
echo "    $REQUEST pending"
show "portcullis request approve $REQUEST   (as alice herself)"
request alice approve "$REQUEST" 2>&1 | sed 's/^/    /' || true
show "portcullis request approve $REQUEST   (as ops, an approver)"
request ops approve "$REQUEST" 2>&1 | sed 's/^/    /' || true
as alice rm -f pay-2
show "portcullis request revoke $REQUEST   (as ops)"
request ops revoke "$REQUEST" 2>&1 | sed 's/^/    /' || true

bold "a caller without a token: told how to get one"
as anonymous ps

bold "the refusals this demo just caused, from the audit trail (its store is new: seq 1..$("${PC[@]}" status -o json --admin-socket "$DIR/admin.sock" | node -e "let t='';process.stdin.on('data',d=>t+=d).on('end',()=>console.log(JSON.parse(t).audit.head.seq))") are all this run's)"
show "portcullis audit tail --decision deny -n 200"
"${PC[@]}" audit tail --decision deny -n 200 --admin-socket "$DIR/admin.sock" | cut -c1-220 | sed 's/^/    /'
show "portcullis audit tail --user alice --action 'container.*' -n 5"
"${PC[@]}" audit tail --user alice --action 'container.*' -n 5 --admin-socket "$DIR/admin.sock" | grep -v ' response ' | cut -c1-220 | sed 's/^/    /'

bold "a signed checkpoint, then an evidence bundle a reviewer checks with nothing but the bundle"
show "portcullis audit checkpoint"
"${PC[@]}" audit checkpoint --admin-socket "$DIR/admin.sock" | sed 's/^/    /'
show "portcullis audit bundle --since 1h --out $KEEP/evidence"
"${PC[@]}" audit bundle --since 1h --out "$KEEP/evidence" --admin-socket "$DIR/admin.sock" | sed 's/^/    /'
show "portcullis audit verify-bundle $KEEP/evidence   (anywhere: no daemon, no store)"
"${PC[@]}" audit verify-bundle "$KEEP/evidence" | sed 's/^/    /'

bold "the hash chain is intact"
show "portcullis audit verify"
"${PC[@]}" audit verify --admin-socket "$DIR/admin.sock" | sed 's/^/    /'

as ops rm -f pay-1 >/dev/null
bold "done: the daemons are stopped and their files removed; the evidence bundle stays"
echo "the report: $KEEP/evidence/report.html   (open it in a browser; it needs no network)"
echo
echo "what next:"
echo "  - your own host, two teams, 15 minutes: the quickstart in README.md"
echo "  - every action a policy can allow or deny: \`portcullis actions\`; the rest of the reference is linked from README.md"
echo "  - the CLI's habits (-o json, audit tail filters, --out/--force): docs/cli.md"
echo "  - what portcullis defends against, and what it does not: docs/security-model.md"

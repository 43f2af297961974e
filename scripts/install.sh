#!/usr/bin/env bash
# make install: portcullis on this host as a legacy Docker authorization plugin, run by systemd.
#
#   scripts/install.sh               install (or upgrade) the built tree; run `make build` first
#   scripts/install.sh --uninstall   remove what the install put there (same DESTDIR and PREFIX); the policy, keys
#                                    and audit data stay
#
# Settings, from the environment:
#   DESTDIR  staging root for packaging; nothing outside it is touched, no keys are made, systemd is left alone
#   PREFIX   where the code and the `portcullis` command go (default /usr/local)
#   SOCKET   the plugin socket (default /run/docker/plugins/portcullis.sock, where dockerd looks by name);
#            any other path gets a spec file, /etc/docker/plugins/portcullis.spec, so dockerd can find it
#   NODE     the Node.js (>= 20) to run on (default: `node` on PATH)
#   JEMALLOC the jemalloc library the unit preloads (default: libjemalloc.so.2 as ldconfig finds it, from Debian's
#            libjemalloc2); 'none', or none found, leaves the preload out of the unit (serve then warns at start)
#
# Running it again is safe: the code is replaced as a whole, an existing policy or key pair is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."

DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
DEFAULT_SOCKET=/run/docker/plugins/portcullis.sock
SOCKET=${SOCKET:-$DEFAULT_SOCKET}

LIB_DIR=$PREFIX/lib/portcullis
BIN=$PREFIX/bin/portcullis
UNIT=/etc/systemd/system/portcullis.service
SPEC=/etc/docker/plugins/portcullis.spec
POLICY=/etc/portcullis/policy.json
KEYS=/etc/portcullis/keys
# Lists the installed paths (without DESTDIR), so --uninstall removes exactly those.
MANIFEST=$LIB_DIR/install-manifest

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "portcullis: $*"; }

for path in "$PREFIX" "$SOCKET"; do
  case $path in
    /*) ;;
    *) die "PREFIX and SOCKET must be absolute paths, got '$path'" ;;
  esac
  # They are substituted into the unit file and a shell script: keep them plain.
  [[ $path =~ ^[A-Za-z0-9._/+-]+$ ]] || die "'$path' has characters this script will not put into a unit file; pick a plainer path"
done

systemd_running() { [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; }

uninstall() {
  if systemd_running; then
    systemctl disable --now portcullis.service 2>/dev/null || true
  fi
  local manifest=$DESTDIR$MANIFEST
  if [ -f "$manifest" ]; then
    # The lib dir is listed last: the manifest lives in it.
    local path
    while IFS= read -r path; do
      case $path in
        /?*) rm -rf -- "$DESTDIR$path" ;;
      esac
    done < "$manifest"
  else
    say "no install manifest at $manifest; nothing to remove"
  fi
  if systemd_running; then systemctl daemon-reload; fi
  say "removed. Kept: $POLICY, $KEYS and the audit store in /var/lib/portcullis."
  if [ -z "$DESTDIR" ] && grep -qs '"portcullis"' /etc/docker/daemon.json; then
    say "WARNING: /etc/docker/daemon.json still names portcullis in authorization-plugins; dockerd refuses every call"
    say "         (and will not start) until you remove it there and run \`systemctl restart docker\`."
  fi
}

install_tree() {
  [ -f dist/cli.js ] || die "dist/cli.js is missing; run \`make build\` first"
  NODE=${NODE:-$(command -v node || true)}
  [ -n "$NODE" ] && [ -x "$NODE" ] || die "no Node.js found; install Node.js 20 or later, or set NODE=/path/to/node"
  local major
  major=$("$NODE" -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 20 ] || die "$NODE is Node.js $major; portcullis needs 20 or later (set NODE=/path/to/node)"
  case $NODE in
    /home/*|/root/*) say "WARNING: $NODE is under a home directory, which the unit's ProtectHome=yes hides; set NODE to a system-wide Node.js" ;;
  esac

  # Read before the swap below replaces it: an earlier install may have left a spec file to clean up.
  local previous_manifest
  previous_manifest=$(cat "$DESTDIR$MANIFEST" 2>/dev/null || true)

  # Build the new tree next to the old one, then swap, so a running portcullis never sees half an install.
  local lib=$DESTDIR$LIB_DIR
  mkdir -p "$(dirname "$lib")"
  STAGE=$(mktemp -d "$lib.new.XXXXXX")
  local stage=$STAGE
  trap 'rm -rf "$STAGE"' EXIT
  cp -R dist package.json package-lock.json "$stage/"
  # Production dependencies only. `make build` ran `npm ci`, so the npm cache already holds every package.
  # The native ones (classic-level) ship prebuilt binaries: no install scripts, no compiler.
  (cd "$stage" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null) ||
    die "npm ci --omit=dev failed in $stage (see above)"
  chmod -R u=rwX,go=rX "$stage"
  if [ -e "$lib" ]; then
    mv "$lib" "$stage.old"
    mv "$stage" "$lib"
    rm -rf "$stage.old"
  else
    mv "$stage" "$lib"
  fi
  trap - EXIT

  local manifest_paths=("$BIN" "$UNIT")

  # The command finds the code relative to itself, so a DESTDIR tree runs where it was staged too.
  mkdir -p "$DESTDIR$PREFIX/bin"
  cat > "$DESTDIR$BIN.tmp" <<EOF
#!/bin/sh
# portcullis, installed by scripts/install.sh: the CLI in ../lib/portcullis, on the Node.js it was installed with.
here=\$(dirname "\$(readlink -f "\$0")")
exec $NODE "\$here/../lib/portcullis/dist/cli.js" "\$@"
EOF
  chmod 0755 "$DESTDIR$BIN.tmp"
  mv "$DESTDIR$BIN.tmp" "$DESTDIR$BIN"

  local socket_dir jemalloc preload
  socket_dir=$(dirname "$SOCKET")
  jemalloc=${JEMALLOC:-$( (ldconfig -p 2>/dev/null || true) | awk '$1 == "libjemalloc.so.2" { print $NF; exit }')}
  if [ -n "$jemalloc" ] && [ "$jemalloc" != none ] && [ -f "$jemalloc" ] && [[ $jemalloc =~ ^[A-Za-z0-9._/+-]+$ ]]; then
    preload="s#^Environment=LD_PRELOAD=.*#Environment=LD_PRELOAD=$jemalloc#"
  else
    [ "$jemalloc" = none ] || say "WARNING: no jemalloc library found (apt-get install libjemalloc2, or set JEMALLOC=/path/to/libjemalloc.so.2): the unit runs serve on glibc's malloc, whose memory grows under sustained load"
    preload='/^Environment=LD_PRELOAD=/d'
  fi
  command -v ss >/dev/null 2>&1 || say "WARNING: no ss (apt-get install iproute2): serve refuses audit reads through the admin socket, since it cannot tell who reads"
  mkdir -p "$DESTDIR$(dirname "$UNIT")"
  sed -e "s#/usr/local/bin/portcullis#$BIN#g" \
      -e "s#$DEFAULT_SOCKET#$SOCKET#g" \
      -e "s#/run/docker/plugins\$#$socket_dir#" \
      -e "$preload" \
      plugin/portcullis.service > "$DESTDIR$UNIT.tmp"
  chmod 0644 "$DESTDIR$UNIT.tmp"
  mv "$DESTDIR$UNIT.tmp" "$DESTDIR$UNIT"

  # dockerd finds /run/docker/plugins/NAME.sock by itself; anywhere else needs a spec file naming the socket.
  if [ "$SOCKET" != "$DEFAULT_SOCKET" ]; then
    mkdir -p "$DESTDIR$(dirname "$SPEC")"
    echo "unix://$SOCKET" > "$DESTDIR$SPEC"
    chmod 0644 "$DESTDIR$SPEC"
    manifest_paths+=("$SPEC")
  elif grep -qxF "$SPEC" <<< "$previous_manifest"; then
    rm -f "$DESTDIR$SPEC" # from an earlier install with another SOCKET: it would point dockerd elsewhere
  fi

  if [ ! -e "$DESTDIR$POLICY" ]; then
    install -D -m 0644 examples/policy.json "$DESTDIR$POLICY"
    say "wrote the example policy to $DESTDIR$POLICY: edit it, then \`portcullis policy validate\`"
  fi

  if [ -z "$DESTDIR" ] && [ ! -e "$KEYS/token.pub" ] && [ ! -e "$KEYS/token.key" ]; then
    "$BIN" keys init --keys "$KEYS"
  fi

  manifest_paths+=("$LIB_DIR")
  printf '%s\n' "${manifest_paths[@]}" > "$DESTDIR$MANIFEST"

  if systemd_running; then
    systemctl daemon-reload
    systemctl enable portcullis.service
    # An upgrade restarts it; dockerd retries its calls meanwhile, so none is let through unchecked.
    systemctl restart portcullis.service
    say "portcullis.service is enabled and running"
  elif [ -z "$DESTDIR" ]; then
    say "systemd is not running here: start \`$BIN serve\` yourself, before dockerd"
  fi
  say "installed in $DESTDIR$LIB_DIR. To turn it on, put this in /etc/docker/daemon.json:"
  say '  { "authorization-plugins": ["portcullis"] }'
  say 'then `systemctl reload docker` (dockerd exits if it cannot reach portcullis at that moment).'
}

case ${1:-} in
  --uninstall) uninstall ;;
  '') install_tree ;;
  -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown option '$1'; use --uninstall, or no option to install" ;;
esac

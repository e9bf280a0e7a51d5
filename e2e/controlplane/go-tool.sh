#!/usr/bin/env bash
# Builds one Go tool the tests run from the module pinned in <tool folder>/module/ (go.mod, go.sum,
# tools.go) into target/controlplane/<name>/<version>/: the machine's Go, only the modules and
# hashes go.sum pins, and a stamp of the pins, the scripts and the linker flags so an unchanged
# tool is never rebuilt. Called by a tool folder's build.sh (toxiproxy, krew, actionlint):
#
#   go-tool.sh <tool folder> <module path> [--path] [--ldflags FLAGS] -- <binary>=<package> ...
#
# Prints "<name> <version>: <folder>", or with --path only the folder holding the binaries.
# --ldflags: more linker flags (after `-s -w`); `{version}` in them is replaced by the pinned
# version (e.g. `-X <module>.Version={version}`).
# Stamped apart from e2e/controlplane/build.sh (whose stamp hashes e2e/controlplane/*/go.mod, one
# folder up from these pins): adding or changing a tool never rebuilds the Kubernetes control plane.
set -euo pipefail
tool_dir="$(cd "$1" && pwd)"; module="$2"; shift 2
print_path=false
ldflags=""
while [[ "${1:-}" == --path || "${1:-}" == --ldflags ]]; do
  case "$1" in
    --path) print_path=true; shift ;;
    --ldflags) ldflags="${2:?--ldflags needs a value}"; shift 2 ;;
  esac
done
[[ "${1:-}" == "--" ]] || { echo "usage: go-tool.sh <tool folder> <module path> [--path] [--ldflags FLAGS] -- <binary>=<package> ..." >&2; exit 2; }
shift
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
name="$(basename "$tool_dir")"
pins="$tool_dir/module"
version="$(sed -n "s|^require $module \(v[^ ]*\)$|\1|p" "$pins/go.mod")"
[[ -n "$version" ]] || { echo "error: $pins/go.mod: no 'require $module vX.Y.Z' line" >&2; exit 1; }
out="$root/target/controlplane/$name/$version"
ldflags="-s -w${ldflags:+ ${ldflags//\{version\}/$version}}"
stamp="$( (cat "$here/go-tool.sh" "$tool_dir/build.sh" "$pins/go.mod" "$pins/go.sum" "$pins/tools.go"; echo "$ldflags") | sha256sum | cut -d' ' -f1)"

current() {
  [[ -f "$out/.stamp" && "$(cat "$out/.stamp")" == "$stamp" ]] || return 1
  for spec in "$@"; do [[ -x "$out/${spec%%=*}" ]] || return 1; done
}

# Tests running side by side may call this at once: one builds, the others wait and find it
# current (two builds into one staging folder would remove each other's binaries).
mkdir -p "$(dirname "$out")"
exec 9>"$out.lock"
flock 9

if ! current "$@"; then
  command -v go >/dev/null || { echo "error: go is not installed; $name is built from its Go module" >&2; exit 1; }
  export GOTOOLCHAIN=local GOFLAGS=-mod=readonly
  staging="$out.partial"
  rm -rf "$staging" && mkdir -p "$staging"
  echo "== building $name $version into $out"
  start=$SECONDS
  for spec in "$@"; do
    (cd "$pins" && go build -trimpath -ldflags "$ldflags" -o "$staging/${spec%%=*}" "${spec#*=}")
  done
  echo "$stamp" > "$staging/.stamp"
  rm -rf "$out" && mv "$staging" "$out"
  echo "== $name built in $((SECONDS - start)) s"
fi

if $print_path; then
  echo "$out"
else
  echo "$name $version: $out"
fi

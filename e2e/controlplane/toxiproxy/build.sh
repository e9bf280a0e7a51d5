#!/usr/bin/env bash
# Builds toxiproxy-server (Go module github.com/Shopify/toxiproxy/v2, pinned with go.mod/go.sum in
# module/ beside this script) into target/controlplane/toxiproxy/<version>/, for the
# fault-injection tests (e2e/tests/faults.rs, e2e/src/toxi.rs).
#
#   e2e/controlplane/toxiproxy/build.sh          build, or reuse the build when current
#   e2e/controlplane/toxiproxy/build.sh --path   print the binary's path (building first if needed)
#
# Stamped on its own, apart from e2e/controlplane/build.sh: that script's stamp hashes itself and
# every e2e/controlplane/*/go.mod, so the pins live one folder deeper (module/) and this script is
# separate — adding or changing toxiproxy never rebuilds the Kubernetes control plane.
# Cold build (empty Go build cache, modules already downloaded — 4 s more): 64 s and 83 s on the
# 2-core machine while other builds ran (load 4); nothing to do once stamped: 0.01 s.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
version="$(sed -n 's|^require github.com/Shopify/toxiproxy/v2 \(v[^ ]*\)$|\1|p' "$here/module/go.mod")"
[[ -n "$version" ]] || { echo "error: $here/module/go.mod: no 'require github.com/Shopify/toxiproxy/v2 vX.Y.Z' line" >&2; exit 1; }
out="$root/target/controlplane/toxiproxy/$version"
stamp="$(cat "$here/build.sh" "$here/module/go.mod" "$here/module/go.sum" "$here/module/tools.go" | sha256sum | cut -d' ' -f1)"

if ! [[ -f "$out/.stamp" && "$(cat "$out/.stamp")" == "$stamp" && -x "$out/toxiproxy-server" ]]; then
  command -v go >/dev/null || { echo "error: go is not installed; toxiproxy is built from its Go module" >&2; exit 1; }
  # As the control plane: the machine's Go, and only the modules (and hashes) go.sum pins.
  export GOTOOLCHAIN=local GOFLAGS=-mod=readonly
  staging="$out.partial"
  rm -rf "$staging" && mkdir -p "$staging"
  echo "== building toxiproxy $version into $out (cold: 1-1.5 min on 2 cores)"
  start=$SECONDS
  (cd "$here/module" && go build -trimpath -ldflags "-s -w -X github.com/Shopify/toxiproxy/v2.Version=$version" \
    -o "$staging/toxiproxy-server" github.com/Shopify/toxiproxy/v2/cmd/server)
  echo "$stamp" > "$staging/.stamp"
  rm -rf "$out" && mv "$staging" "$out"
  echo "== toxiproxy built in $((SECONDS - start)) s"
fi

if [[ "${1:-}" == "--path" ]]; then
  echo "$out/toxiproxy-server"
else
  echo "toxiproxy $version: $out/toxiproxy-server"
fi

#!/usr/bin/env bash
# Builds toxiproxy-server (Go module github.com/Shopify/toxiproxy/v2, pinned with go.mod/go.sum in
# module/ beside this script) into target/controlplane/toxiproxy/<version>/, for the
# fault-injection tests (e2e/tests/faults.rs, e2e/src/toxi.rs), through ../go-tool.sh (stamped
# apart from the control plane: adding or changing toxiproxy never rebuilds Kubernetes).
#
#   e2e/controlplane/toxiproxy/build.sh          build, or reuse the build when current
#   e2e/controlplane/toxiproxy/build.sh --path   print the binary's path (building first if needed)
#
# Cold build (empty Go build cache, modules already downloaded — 4 s more): 64 s and 83 s on the
# 2-core machine while other builds ran (load 4); nothing to do once stamped: 0.01 s.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
module=github.com/Shopify/toxiproxy/v2
built="$("$here/../go-tool.sh" "$here" "$module" --path --ldflags "-X $module.Version={version}" -- \
  toxiproxy-server="$module/cmd/server")"
# go-tool.sh's progress lines (a build and its time) go on to the log; its last line is the folder.
sed '$d' <<<"$built" >&2
dir="$(tail -n 1 <<<"$built")"
if [[ "${1:-}" == "--path" ]]; then
  echo "$dir/toxiproxy-server"
else
  echo "toxiproxy: $dir/toxiproxy-server"
fi

#!/usr/bin/env bash
# Builds krew's plugin-manifest validator and krew itself (Go module sigs.k8s.io/krew, pinned in
# module/ beside this script) into target/controlplane/krew/<version>/, for the test that checks
# deploy/krew/cronhpa.yaml (crates/cli/tests/krew.rs): validate-krew-manifest, and kubectl-krew,
# which the validator runs (`kubectl krew install --manifest`) to install every platform.
#
#   e2e/controlplane/krew/build.sh          build, or reuse the build when current
#   e2e/controlplane/krew/build.sh --path   print the binaries' folder (building first if needed)
#
# Cold build: BENCHMARKS.md; nothing to do once stamped.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/../go-tool.sh" "$here" sigs.k8s.io/krew "$@" -- \
  validate-krew-manifest=sigs.k8s.io/krew/cmd/validate-krew-manifest \
  kubectl-krew=sigs.k8s.io/krew/cmd/krew

#!/usr/bin/env bash
# Builds actionlint (Go module github.com/rhysd/actionlint, pinned in module/ beside this script)
# into target/controlplane/actionlint/<version>/, for the test that lints .github/workflows/
# (crates/cli/tests/workflows.rs).
#
#   e2e/controlplane/actionlint/build.sh          build, or reuse the build when current
#   e2e/controlplane/actionlint/build.sh --path   print the binary's folder (building first if needed)
#
# Cold build: BENCHMARKS.md; nothing to do once stamped.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/../go-tool.sh" "$here" github.com/rhysd/actionlint "$@" -- \
  actionlint=github.com/rhysd/actionlint/cmd/actionlint

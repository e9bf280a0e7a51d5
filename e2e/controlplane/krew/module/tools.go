//go:build tools

// Package tools pins what krew/build.sh builds: krew's manifest validator and krew itself (the
// validator checks a manifest by running `kubectl krew install --manifest` for each platform).
// Nothing here is compiled.
package tools

import (
	_ "sigs.k8s.io/krew/cmd/krew"
	_ "sigs.k8s.io/krew/cmd/validate-krew-manifest"
)

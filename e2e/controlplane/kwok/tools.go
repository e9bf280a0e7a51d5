//go:build tools

// Package tools pins the kwok build.sh builds; nothing here is compiled.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"

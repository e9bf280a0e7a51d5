//go:build tools

// Package tools pins the helm build.sh builds; nothing here is compiled.
package tools

import _ "helm.sh/helm/v3/cmd/helm"

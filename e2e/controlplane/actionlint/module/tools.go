//go:build tools

// Package tools pins the actionlint command actionlint/build.sh builds; nothing here is compiled.
package tools

import _ "github.com/rhysd/actionlint/cmd/actionlint"

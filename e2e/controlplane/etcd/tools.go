//go:build tools

// Package tools pins the etcd server build.sh builds; nothing here is compiled.
package tools

import _ "go.etcd.io/etcd/server/v3"

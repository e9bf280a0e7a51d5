//go:build tools

// Package tools pins the toxiproxy server toxiproxy/build.sh builds; nothing here is compiled.
package tools

import _ "github.com/Shopify/toxiproxy/v2/cmd/server"

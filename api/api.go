// Package api embeds the OpenAPI contract so the binary can serve it and
// tests can validate responses against it.
package api

import _ "embed"

// Spec is api/openapi.yaml, the source of truth of the HTTP contract.
//
//go:embed openapi.yaml
var Spec []byte

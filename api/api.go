// Package api is the HTTP contract: the OpenAPI document, embedded so the
// binary can serve it and tests can validate responses against it, and the
// wire types the server, the CLI and the load generator share.
package api

import _ "embed"

// Spec is api/openapi.yaml, the source of truth of the HTTP contract.
//
//go:embed openapi.yaml
var Spec []byte

// Package tokenvectors holds Token04 test vectors: tokens made by ZEGO's own
// Go generator (CBC) and by an independent implementation (GCM), with the
// claims each one carries. The token tests and the CLI tests share them.
//
// It imports nothing of authsvc, so that package token's own tests can use it.
package tokenvectors

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
)

// The JSON sits beside this file, not in a testdata directory, because
// go:embed reaches no file above the package directory.
//
//go:embed token04-vectors.json
var vectorsJSON []byte

// Vector is one token and what decoding it must give.
type Vector struct {
	Generator string `json:"generator"`
	Secret    string `json:"secret"` // the ServerSecret the token was made with
	Token     string `json:"token"`
	Want      Want   `json:"want"`
}

// Want is a vector's expected claims, with the field names of the token's
// JSON body; Variant is "cbc" or "gcm".
type Want struct {
	Variant string `json:"variant"`
	AppID   uint32 `json:"appID"`
	UserID  string `json:"userID"`
	Ctime   int64  `json:"ctime"`
	Expire  int64  `json:"expire"`
	Nonce   int32  `json:"nonce"`
	Payload string `json:"payload"`
}

// All returns every vector, in a fresh slice the caller may change.
func All() []Vector {
	vs, err := parse(vectorsJSON)
	if err != nil {
		// The file is compiled in: a broken one is a build defect that
		// this package's test reports, not a condition callers handle.
		panic(err)
	}
	return vs
}

// parse decodes vectors strictly, so that a field added to the file without
// a field here is noticed rather than silently dropped.
func parse(b []byte) ([]Vector, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var vs []Vector
	if err := dec.Decode(&vs); err != nil {
		return nil, fmt.Errorf("token vectors: %w", err)
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("token vectors: none")
	}
	return vs, nil
}

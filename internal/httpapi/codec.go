package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
)

// Body size limits. Import carries up to users.MaxImport users with their
// largest fields; everything else is small.
const (
	maxBody       = 64 << 10
	maxImportBody = 16 << 20
)

// decode reads one JSON value into v: unknown fields, trailing data, wrong
// types and oversized bodies are the client's mistakes and come back as
// problems. With optional set, an empty body leaves v untouched.
func decode(r *http.Request, v any, optional bool) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return newProblem(http.StatusUnsupportedMediaType, codeUnsupportedMedia, "request body must be application/json")
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) && optional {
			return nil
		}
		return jsonProblem(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return newProblem(http.StatusBadRequest, codeInvalidRequest, "request body must hold exactly one JSON value")
	}
	return nil
}

func jsonProblem(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.Is(err, io.EOF):
		return newProblem(http.StatusBadRequest, codeInvalidRequest, "request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return newProblem(http.StatusBadRequest, codeInvalidRequest, "request body is truncated JSON")
	case errors.As(err, &syn):
		return newProblem(http.StatusBadRequest, codeInvalidRequest, "malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return newProblem(http.StatusBadRequest, codeInvalidRequest, "request body must be a JSON object")
		}
		p := invalidField(field, codeInvalidRequest, "%s must be %s", field, jsonKind(typ.Type.Kind().String()))
		return p
	}
	// encoding/json reports unknown fields only as text.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return invalidField(name, codeInvalidRequest, "unknown field %q", name)
	}
	return newProblem(http.StatusBadRequest, codeInvalidRequest, "malformed request body")
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	default:
		return "a number in range"
	}
}

// encode writes v as JSON with the given status. Headers must be complete
// before WriteHeader, so Content-Type is set first.
func encode(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

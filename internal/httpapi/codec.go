package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"authsvc/api"
)

// Body size limits. Import carries up to users.MaxImport users with their
// largest fields; everything else is small.
const (
	maxBody       = 64 << 10
	maxImportBody = 16 << 20
)

// errNull marks a JSON null where the contract has no nullable value.
var errNull = api.ErrNull

// errNullBody is a request body that is the JSON null. toProblem makes it
// 400 invalid_request; a route may classify it more precisely first.
var errNullBody = errors.New("request body must be a JSON object, not null")

// decoders recycles JSON decoders: a new one costs about 5 KiB and a
// dozen allocations per request. It holds no state between requests.
var decoders = sync.Pool{New: func() any { return new(jsontext.Decoder) }}

// decode reads one JSON value into v, and accepts exactly what the contract
// describes (api.Strict, which the CLI's import reader shares). Unknown
// fields, trailing data, wrong types and oversized bodies are the client's
// mistakes and come back as problems. With optional set, an empty body
// leaves v untouched. go-json-experiment/json is encoding/json/v2 as the
// standard library adopts it, strict by default.
func decode(r *http.Request, v any, optional bool) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return newProblem(http.StatusUnsupportedMediaType, codeUnsupportedMedia, "request body must be application/json")
		}
	}
	if r.ContentLength == 0 {
		// Known to be empty, as most token requests are: no decoder needed.
		if optional {
			return nil
		}
		return emptyBody()
	}
	dec := decoders.Get().(*jsontext.Decoder)
	dec.Reset(r.Body)
	defer func() {
		// A decoder keeps its buffer; one that read a large body is left
		// to the garbage collector rather than kept.
		small := dec.InputOffset() <= maxBody
		dec.Reset(http.NoBody)
		if small {
			decoders.Put(dec)
		}
	}()
	switch dec.PeekKind() {
	case 0: // empty, or a read or syntax error
		_, err := dec.ReadToken()
		if errors.Is(err, io.EOF) && optional {
			return nil
		}
		return jsonProblem(err)
	case 'n':
		return errNullBody
	}
	if err := jsonv2.UnmarshalDecode(dec, v, api.Strict); err != nil {
		return jsonProblem(err)
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return newProblem(http.StatusBadRequest, codeInvalidRequest, "request body must hold exactly one JSON value")
	}
	return nil
}

// emptyBody is the problem for a body without a JSON value.
func emptyBody() error {
	return newProblem(http.StatusBadRequest, codeInvalidRequest, "request body is empty")
}

func jsonProblem(err error) error {
	var (
		syn *jsontext.SyntacticError
		sem *jsonv2.SemanticError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.Is(err, io.EOF):
		return emptyBody()
	case errors.Is(err, io.ErrUnexpectedEOF):
		return newProblem(http.StatusBadRequest, codeInvalidRequest, "request body is truncated JSON")
	case errors.As(err, &syn):
		if errors.Is(syn.Err, jsontext.ErrDuplicateName) {
			field := fieldName(syn.JSONPointer)
			return invalidField(field, codeInvalidRequest, "duplicate field %q", field)
		}
		// The cause's text may quote the input, a password perhaps, so it
		// only picks our message. The library exports no UTF-8 sentinel.
		if msg := syn.Err.Error(); strings.Contains(msg, "UTF-8") || strings.Contains(msg, "surrogate") {
			return newProblem(http.StatusBadRequest, codeInvalidRequest,
				"request body has invalid UTF-8 or a lone surrogate escape at byte %d", syn.ByteOffset)
		}
		return newProblem(http.StatusBadRequest, codeInvalidRequest, "malformed JSON at byte %d", syn.ByteOffset)
	case errors.As(err, &sem):
		field := fieldName(sem.JSONPointer)
		switch {
		case errors.Is(sem.Err, jsonv2.ErrUnknownName):
			return invalidField(field, codeInvalidRequest, "unknown field %q", field)
		case field == "":
			return newProblem(http.StatusBadRequest, codeInvalidRequest, "request body must be a JSON object")
		case errors.Is(sem.Err, errNull) && (field == "userID" || strings.HasSuffix(field, ".userID")):
			// Like an empty userID: never read as "assign one".
			return invalidField(field, codeInvalidUserID, "%s must not be null; leave it out to have one assigned", field)
		case errors.Is(sem.Err, errNull):
			return invalidField(field, codeInvalidRequest, "%s must not be null", field)
		}
		return invalidField(field, codeInvalidRequest, "%s must be %s", field, jsonKind(sem))
	}
	return newProblem(http.StatusBadRequest, codeInvalidRequest, "malformed request body")
}

// fieldName turns a JSON pointer into the API's name for a field:
// "/room/roomID" is "room.roomID", "/users/3/userID" is "users[3].userID".
func fieldName(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		switch {
		case isIndex(tok):
			fmt.Fprintf(&b, "[%s]", tok)
		case b.Len() > 0:
			b.WriteString(".")
			b.WriteString(tok)
		default:
			b.WriteString(tok)
		}
	}
	return b.String()
}

func isIndex(tok string) bool {
	if tok == "" {
		return false
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < '0' || tok[i] > '9' {
			return false
		}
	}
	return true
}

// jsonKind names the JSON a field expects, from the Go type it decodes into.
func jsonKind(sem *jsonv2.SemanticError) string {
	if sem.GoType == nil {
		return "valid"
	}
	t := sem.GoType
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
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

// tokenBufs recycles the buffers token responses are appended into.
var tokenBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// encodeToken writes t, never to be cached, as encode would, byte for
// byte, but appended by hand when appendToken can: the token routes are the
// hot path, and reflection was a fifth of their encoding and decoding cost.
func encodeToken(w http.ResponseWriter, t *api.TokenResponse) error {
	// The two header values share one allocation; the names are canonical.
	vals := &[2]string{"no-store", "application/json"}
	h := w.Header()
	h["Cache-Control"], h["Content-Type"] = vals[:1:1], vals[1:]
	bp := tokenBufs.Get().(*[]byte)
	defer tokenBufs.Put(bp)
	b, ok := appendToken((*bp)[:0], t)
	if !ok {
		return encode(w, http.StatusOK, *t)
	}
	*bp = b
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(b)
	return err
}

// appendToken appends t as encoding/json writes it, newline included. It
// reports false, and the caller encodes by reflection, when a string needs
// escaping, which is left to encoding/json.
func appendToken(b []byte, t *api.TokenResponse) ([]byte, bool) {
	if !plainJSON(t.Token) || !plainJSON(t.UserID) || !plainJSON(t.UserName) {
		return b, false
	}
	b = append(b, `{"token":"`...)
	b = append(b, t.Token...)
	b = append(b, `","appID":`...)
	b = strconv.AppendUint(b, uint64(t.AppID), 10)
	b = append(b, `,"userID":"`...)
	b = append(b, t.UserID...)
	b = append(b, `","userName":"`...)
	b = append(b, t.UserName...)
	b = append(b, `","issuedAt":`...)
	b = strconv.AppendInt(b, t.IssuedAt, 10)
	b = append(b, `,"expiresAt":`...)
	b = strconv.AppendInt(b, t.ExpiresAt, 10)
	b = append(b, `,"effectiveTimeInSeconds":`...)
	b = strconv.AppendInt(b, t.EffectiveTimeInSeconds, 10)
	if r := t.Room; r != nil {
		if !plainJSON(r.RoomID) {
			return b, false
		}
		b = append(b, `,"room":{"roomID":"`...)
		b = append(b, r.RoomID...)
		b = append(b, `","login":`...)
		b = strconv.AppendBool(b, r.Login)
		b = append(b, `,"publish":`...)
		b = strconv.AppendBool(b, r.Publish)
		b = append(b, `,"streamIDs":`...)
		if r.StreamIDs == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '[')
			for i, id := range r.StreamIDs {
				if !plainJSON(id) {
					return b, false
				}
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, '"')
				b = append(b, id...)
				b = append(b, '"')
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	return append(b, "}\n"...), true
}

// plainJSON reports whether encoding/json writes s as it is between quotes:
// printable ASCII without the characters it escapes ("\ and, for HTML, <>&).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if !plainByte[s[i]] {
			return false
		}
	}
	return true
}

// plainByte is plainJSON's test of one byte, as a table: a lookup per byte
// of a 200-byte token instead of seven comparisons took a third off
// plainJSON (BenchmarkEncodeToken).
var plainByte = func() (t [256]bool) {
	for c := ' '; c < 0x7f; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()

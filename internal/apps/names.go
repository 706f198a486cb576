package apps

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"
)

// checkNames holds an apps file to what encoding/json alone lets through:
// it matches member names case-insensitively ("SECRET" sets secret, even
// "ſecret" does), keeps the last of duplicate names, and replaces invalid
// UTF-8 with U+FFFD, which would silently change an inline secret. The file
// must be valid UTF-8, and every object's member names unique and spelled
// exactly as one of the file format's names (a known name in the wrong
// place is then refused by the decoder's DisallowUnknownFields). Syntax
// errors are left to the decoder, whose messages say more.
func checkNames(raw []byte) error {
	if !utf8.Valid(raw) {
		return errors.New("the file is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	type level struct {
		object   bool
		wantName bool // the next string is a member name
		seen     map[string]bool
	}
	var stack []level
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantName = true
		}
	}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil // the decoder reports it
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				stack = append(stack, level{object: true, wantName: true, seen: map[string]bool{}})
			case '[':
				stack = append(stack, level{})
			default: // '}' or ']'
				stack = stack[:len(stack)-1]
				valueDone()
			}
			continue
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantName {
			name := tok.(string)
			switch {
			case stack[n-1].seen[name]:
				return fmt.Errorf("member %q appears twice in one object", name)
			case !fileNames[name]:
				return fmt.Errorf("unknown field %q (names are case-sensitive)", name)
			}
			stack[n-1].seen[name] = true
			stack[n-1].wantName = false
			continue
		}
		valueDone()
	}
}

// fileNames are the member names of the apps file format, at any depth.
var fileNames = jsonNames(reflect.TypeFor[file](), map[string]bool{})

// jsonNames adds the JSON names of t's fields, and of the structs within, to
// names.
func jsonNames(t reflect.Type, names map[string]bool) map[string]bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return names
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			names[name] = true
		}
		jsonNames(f.Type, names)
	}
	return names
}

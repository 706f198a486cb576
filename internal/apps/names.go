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
// place is then refused by the decoder's DisallowUnknownFields), no string
// may hold an unpaired surrogate escape, and nothing may follow the one
// value. Syntax errors are left to the decoder, whose messages say more.
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
	done := false // the file's one value is complete: only EOF may follow
	valueDone := func() {
		switch n := len(stack); {
		case n == 0:
			done = true
		case stack[n-1].object:
			stack[n-1].wantName = true
		}
	}
	for {
		before := dec.InputOffset()
		tok, err := dec.Token()
		switch {
		case done && errors.Is(err, io.EOF):
			return nil
		case done:
			// The decoder would read the first value and ignore the rest.
			return errors.New("unexpected data after the apps object")
		case err != nil:
			return nil // the decoder reports it, with more to say
		}
		if s, ok := tok.(string); ok && strings.Count(s, "\uFFFD") > replacementsIn(raw[before:dec.InputOffset()]) {
			// An escaped lone surrogate ("\ud800"), which encoding/json
			// replaces with U+FFFD as it does invalid UTF-8.
			return errors.New("a string holds an unpaired surrogate escape")
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

// replacementsIn counts the U+FFFD characters that the JSON text in b
// writes, literally or as an escape.
func replacementsIn(b []byte) int {
	return bytes.Count(b, []byte("\uFFFD")) + bytes.Count(bytes.ToLower(b), []byte(`\ufffd`))
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
		switch name {
		case "-":
		case "":
			names[f.Name] = true // as encoding/json names it
		default:
			names[name] = true
		}
		jsonNames(f.Type, names)
	}
	return names
}

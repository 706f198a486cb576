package apps

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"authsvc/internal/token"
)

// readSecret reads a secret file the way the service does: trailing
// newlines dropped.
func readSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	return []byte(strings.TrimRight(string(b), "\n")), err
}

func fileOptions() FileOptions {
	return FileOptions{Defaults: hour, ParseDuration: time.ParseDuration, ReadSecret: readSecret}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestParseFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b, bOld := strings.Repeat("a", 32), strings.Repeat("b", 32), strings.Repeat("c", 32)
	writeFile(t, filepath.Join(dir, "b.secret"), b+"\n")
	writeFile(t, filepath.Join(dir, "b.old"), bOld)
	path := filepath.Join(dir, "apps.json")
	writeFile(t, path, `{"default":222,"apps":[
		{"appID":111,"secret":"`+a+`","tokenTTL":"10m","tokenMaxTTL":"1h","variant":"cbc"},
		{"appID":222,"secretFile":"b.secret","previousSecretFiles":["`+filepath.Join(dir, "b.old")+`"],"previousSecrets":["`+a+`"]}]}`)
	s, err := ParseFile(path, fileOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("parsed set does not validate: %v", err)
	}
	if s.Default != 222 || len(s.Apps) != 2 {
		t.Fatalf("ParseFile = default %d, %d apps, want 222 and 2", s.Default, len(s.Apps))
	}
	a111, a222 := s.Find(111), s.Find(222)
	if want := (TTLBounds{Default: 10 * time.Minute, Min: time.Minute, Max: time.Hour}); a111.TTL != want || a111.Variant != token.CBC {
		t.Errorf("app 111 = TTL %+v, %v; want %+v, CBC", a111.TTL, a111.Variant, want)
	}
	if a222.TTL != hour || a222.Variant != token.GCM {
		t.Errorf("app 222 = TTL %+v, %v; want the defaults, GCM", a222.TTL, a222.Variant)
	}
	// Keys in order: current, previous inline, previous files.
	for i, secret := range []string{b, a, bOld} {
		tok := mint(t, mustKey(t, secret), now, token.Params{AppID: 222, UserID: "u", EffectiveTime: 60, Variant: token.GCM})
		if v, err := token.Verify(tok, a222.Keys, now, token.Expect{}); err != nil || v.KeyIndex != i {
			t.Errorf("app 222 key %d: Verify = index %d, %v", i, v.KeyIndex, err)
		}
	}
}

func TestParseFileRefusals(t *testing.T) {
	t.Parallel()
	good := strings.Repeat("a", 32)
	tests := []struct {
		name, file, want string
	}{
		{"not JSON", `{`, "unexpected EOF"},
		{"unknown field", `{"apps":[{"appID":1,"secret":"` + good + `","colour":"red"}]}`, `unknown field "colour"`},
		{"no apps", `{"apps":[]}`, "lists no apps"},
		{"no appID", `{"apps":[{"secret":"` + good + `"}]}`, "apps[0] (appID 0): appID is required"},
		{"both secrets", `{"apps":[{"appID":1,"secret":"` + good + `","secretFile":"x"}]}`, "set secret or secretFile, not both"},
		{"no secret", `{"apps":[{"appID":1}]}`, "secret or secretFile is required"},
		{"missing file", `{"apps":[{"appID":1,"secretFile":"nope"}]}`, "apps[0] (appID 1): open"},
		{"short secret", `{"apps":[{"appID":1,"secret":"short"}]}`, "apps[0] (appID 1): secret 1: "},
		{"short previous", `{"apps":[{"appID":1,"secret":"` + good + `","previousSecrets":["x"]}]}`, "secret 2: "},
		{"bad duration", `{"apps":[{"appID":1,"secret":"` + good + `","tokenTTL":"soon"}]}`, "apps[0] (appID 1): time: invalid duration"},
		{"bad bounds", `{"apps":[{"appID":1,"secret":"` + good + `","tokenMinTTL":"2h"}]}`, "token lifetimes must satisfy"},
		{"bad variant", `{"apps":[{"appID":1,"secret":"` + good + `","variant":"ecb"}]}`, "apps[0] (appID 1): variant: "},
		{"case-folded name", `{"apps":[{"appID":1,"Secret":"` + good + `"}]}`, `unknown field "Secret"`},
		{"long s", `{"apps":[{"appID":1,"ſecret":"` + good + `"}]}`, "unknown field"},
		{"duplicate name", `{"apps":[{"appID":1,"secret":"` + good + `","secret":"` + good + `"}]}`, `member "secret" appears twice`},
		{"duplicate at the top", `{"default":1,"default":2,"apps":[{"appID":1,"secret":"` + good + `"}]}`, `member "default" appears twice`},
		{"known name, wrong place", `{"appID":1,"apps":[{"appID":1,"secret":"` + good + `"}]}`, `unknown field "appID"`},
		{"lone surrogate escape", `{"apps":[{"appID":1,"secret":"` + good[:29] + `\udc00"}]}`, "unpaired surrogate"},
		{"lone surrogate in zim", `{"apps":[{"appID":1,"secret":"` + good + `","zim":{"callbackSecret":"0123456789abcdef\ud800"}}]}`, "unpaired surrogate"},
		{"trailing bracket", `{"apps":[{"appID":1,"secret":"` + good + `"}]} ]`, "unexpected data after the apps object"},
		{"two files pasted", `{"apps":[{"appID":1,"secret":"` + good + `"}]} {"apps":[{"appID":2,"secret":"` + good + `"}]}`, "unexpected data after the apps object"},
		{"invalid UTF-8", "{\"apps\":[{\"appID\":1,\"secret\":\"" + good + "\xff\"}]}", "not valid UTF-8"},
		{"several, no default", `{"apps":[{"appID":1,"secret":"` + good + `"},{"appID":2,"secret":"` + good + `"}]}`, `name the default one with "default"`},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "apps.json")
		writeFile(t, path, tt.file)
		_, err := ParseFile(path, fileOptions())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ParseFile = %v, want an error containing %q", tt.name, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), good) {
			t.Errorf("%s: error %q repeats a secret", tt.name, err)
		}
	}
	if _, err := ParseFile(filepath.Join(t.TempDir(), "none.json"), fileOptions()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ParseFile of a missing file = %v, want ErrNotExist", err)
	}
}

// TestParseFileStrictAcceptsValid: the strict reading takes what is valid:
// whitespace and a newline after the object, an escaped name, escaped
// characters, a paired surrogate and an escaped U+FFFD in a secret, an
// empty zim object and an empty array.
func TestParseFileStrictAcceptsValid(t *testing.T) {
	t.Parallel()
	good := strings.Repeat("a", 32)
	for _, f := range []string{
		`{"apps":[{"appID":1,"secret":"` + good + `"}]}` + "\n\t \n",
		`{"apps":[{"appID":1,"s\u0065cret":"` + good + `","previousSecrets":[],"zim":{}}]}`,
		`{"apps":[{"appID":1,"secret":"` + good[:23] + `\ud83d\ude00\ufffd\"\\","zim":{"callbackSecret":"secret-as-a-value-0"}}]}`,
	} {
		path := filepath.Join(t.TempDir(), "apps.json")
		writeFile(t, path, f)
		if _, err := ParseFile(path, fileOptions()); err != nil {
			t.Errorf("ParseFile(%s) = %v", f, err)
		}
	}
}

func TestParseFileDefaultOfOne(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "apps.json")
	writeFile(t, path, `{"apps":[{"appID":7,"secret":"`+strings.Repeat("a", 32)+`"}]}`)
	s, err := ParseFile(path, fileOptions())
	if err != nil || s.Default != 7 {
		t.Errorf("ParseFile of one app = default %d, %v, want 7", s.Default, err)
	}
}

// FuzzParse: whatever an apps file holds, parsing returns a set or an error
// and never panics, and every app of a set it returns has an ID, a key and
// valid bounds.
func FuzzParse(f *testing.F) {
	good := strings.Repeat("a", 32)
	f.Add([]byte(`{"default":2,"apps":[{"appID":2,"secret":"` + good + `","tokenTTL":"10m","variant":"cbc"}]}`))
	f.Add([]byte(`{"apps":[{"appID":1,"secretFile":"s","previousSecrets":["` + good + `"]}]}`))
	f.Add([]byte(`{"apps":[{"appID":1,"secret":"x"},{"appID":1}]}`))
	f.Add([]byte(`null`))
	o := FileOptions{Defaults: hour, ParseDuration: time.ParseDuration,
		ReadSecret: func(string) ([]byte, error) { return []byte(good), nil }}
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := parse(raw, "apps.json", o)
		if err != nil {
			return
		}
		// The default may name an app the file lacks: Set.Validate says so.
		if s.Default == 0 {
			t.Error("parsed set has no default app")
		}
		for _, a := range s.Apps {
			if a.ID == 0 || len(a.Keys) == 0 || a.TTL.Validate() != nil {
				t.Errorf("parsed app %+v is not usable", a)
			}
		}
	})
}

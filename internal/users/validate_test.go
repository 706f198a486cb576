package users

import (
	"crypto/rand"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestValidateID(t *testing.T) {
	t.Parallel()
	type want struct {
		rule   string // "" = valid
		offset int
	}
	tests := []struct {
		name string
		id   string
		want want
	}{
		{"empty", "", want{RuleRequired, -1}},
		{"one letter", "a", want{}},
		{"one digit", "7", want{}},
		{"letters digits", "Alice01", want{}},
		{"32 bytes", strings.Repeat("x", 32), want{}},
		{"33 bytes", strings.Repeat("x", 33), want{RuleTooLong, 32}},
		{"1000 bytes", strings.Repeat("x", 1000), want{RuleTooLong, 32}},
		{"bad char before the limit of a long ID", strings.Repeat("x", 5) + " " + strings.Repeat("x", 30), want{RuleInvalidChar, 5}},
		{"bad char past the limit", strings.Repeat("x", 35) + " ", want{RuleTooLong, 32}},
		{"bad char at the last allowed byte", strings.Repeat("x", 31) + "*", want{RuleInvalidChar, 31}},
		{"NUL alone", "\x00", want{RuleInvalidChar, 0}},
		{"NUL inside", "ab\x00c", want{RuleInvalidChar, 2}},
		{"non-ASCII letter", "caf\u00e9", want{RuleInvalidChar, 3}},
		{"non-ASCII first", "\u00e9", want{RuleInvalidChar, 0}},
		{"invalid UTF-8", "ab\xff", want{RuleInvalidChar, 2}},
		{"DEL", "a\x7f", want{RuleInvalidChar, 1}},
		{"tab", "a\tb", want{RuleInvalidChar, 1}},
		{"fullwidth letter", "\uff21", want{RuleInvalidChar, 0}},
	}
	for _, c := range IDPunctuation {
		tests = append(tests, struct {
			name string
			id   string
			want want
		}{"allowed " + string(c), string(c), want{}})
	}
	// Every other printable ASCII character, alone and after a valid prefix.
	for c := byte(0x20); c <= 0x7e; c++ {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(IDPunctuation, c) >= 0 {
			continue
		}
		tests = append(tests,
			struct {
				name string
				id   string
				want want
			}{"not allowed " + string(c), string(c), want{RuleInvalidChar, 0}},
			struct {
				name string
				id   string
				want want
			}{"not allowed after prefix " + string(c), "ab" + string(c) + "cd", want{RuleInvalidChar, 2}},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateID(tt.id)
			if tt.want.rule == "" {
				if err != nil {
					t.Errorf("ValidateID(%q) = %v, want nil", tt.id, err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("ValidateID(%q) = %v, want a *FieldError", tt.id, err)
			}
			got := want{fe.Rule, fe.Offset}
			if got != tt.want {
				t.Errorf("ValidateID(%q) rule, offset = %v, want %v (%s)", tt.id, got, tt.want, fe.Message)
			}
			if fe.Field != "userID" || fe.Code != CodeInvalidUserID || fe.Message == "" {
				t.Errorf("ValidateID(%q) = %+v, want field userID, code %s, a message", tt.id, fe, CodeInvalidUserID)
			}
		})
	}
}

// The allowed punctuation listed the way the ZIM documentation lists it,
// independently of IDPunctuation.
const zimPunctuation = `! # $ % & ( ) + - : ; < = . > ? @ [ ] ^ _ { } | ~`

// refIDPrefix matches the longest prefix of up to 32 allowed characters. It
// is built by a different route from the validator: a regexp character
// class from the documented list, every punctuation character escaped (RE2
// accepts \ before any punctuation; QuoteMeta would leave '-' a range).
var refIDPrefix = regexp.MustCompile(`^[A-Za-z0-9` + `\` + strings.Join(strings.Fields(zimPunctuation), `\`) + `]{0,32}`)

// refValidateID is the reference the fuzz target compares ValidateID with.
func refValidateID(id string) (rule string, offset int) {
	if len(id) == 0 {
		return RuleRequired, -1
	}
	n := len(refIDPrefix.FindString(id))
	switch {
	case n == len(id):
		return "", 0
	case n == 32:
		return RuleTooLong, 32
	default:
		return RuleInvalidChar, n
	}
}

func TestIDPunctuationMatchesZIM(t *testing.T) {
	t.Parallel()
	got := IDPunctuation
	want := strings.ReplaceAll(zimPunctuation, " ", "")
	if got != want {
		t.Errorf("IDPunctuation = %q, want %q", got, want)
	}
}

func FuzzValidateID(f *testing.F) {
	for _, s := range []string{"", "a", "alice", "A-b_c.d", strings.Repeat("z", 32), strings.Repeat("z", 33),
		"a b", "a*b", "é", "\x00", "\xff", "%_[", "{}|~^", "a/b", `a\b`, "a'b", "a`b", `a"b`, "a,b",
		"evil\u202egnp.exe", "a\u200bb", "👩\u200d💻", "a\u200db", "\u200d💻", "\ufeffx", "👩🏽\u200d💻"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		checkName(t, id)
		err := ValidateID(id)
		rule, offset := refValidateID(id)
		if rule == "" {
			if err != nil {
				t.Fatalf("ValidateID(%q) = %v, reference says valid", id, err)
			}
			return
		}
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("ValidateID(%q) = %v, reference says %s at %d", id, err, rule, offset)
		}
		if fe.Rule != rule || fe.Offset != offset {
			t.Fatalf("ValidateID(%q) = %s at %d, reference says %s at %d", id, fe.Rule, fe.Offset, rule, offset)
		}
		if !utf8.ValidString(fe.Message) {
			t.Fatalf("ValidateID(%q) message is not UTF-8: %q", id, fe.Message)
		}
	})
}

func TestValidateName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     string
		rule   string
		offset int
	}{
		{"empty means default", "", "", 0},
		{"plain", "Alice Liddell", "", 0},
		{"unicode", "李小龍 🐉", "", 0},
		{"U+FFFD itself", "a\uFFFDb", "", 0},
		{"256 bytes", strings.Repeat("é", 128), "", 0},
		{"257 bytes", strings.Repeat("a", 257), RuleTooLong, 256},
		{"NUL", "a\x00", RuleControlChar, 1},
		{"newline", "a\nb", RuleControlChar, 1},
		{"tab", "\t", RuleControlChar, 0},
		{"DEL", "ab\x7f", RuleControlChar, 2},
		{"C1 NEL", "a\u0085", RuleControlChar, 1},
		{"C1 first", "\u0080", RuleControlChar, 0},
		{"after C1", "\u00a0", "", 0},
		{"invalid UTF-8", "ab\xc3", RuleInvalidUTF8, 2},
		{"overlong", "\xc0\xaf", RuleInvalidUTF8, 0},
		{"surrogate", "a\xed\xa0\x80", RuleInvalidUTF8, 1},
		{"right-to-left override", "evil\u202egnp.exe", RuleFormatChar, 4},
		{"left-to-right embedding", "\u202aa", RuleFormatChar, 0},
		{"pop directional formatting", "a\u202c", RuleFormatChar, 1},
		{"right-to-left isolate", "ab\u2067c", RuleFormatChar, 2},
		{"pop directional isolate", "a\u2069", RuleFormatChar, 1},
		{"left-to-right mark", "a\u200e", RuleFormatChar, 1},
		{"right-to-left mark", "\u200fa", RuleFormatChar, 0},
		{"zero width space", "ad\u200bmin", RuleFormatChar, 2},
		{"zero width non-joiner", "a\u200cb", RuleFormatChar, 1},
		{"word joiner", "a\u2060b", RuleFormatChar, 1},
		{"invisible plus", "a\u2064", RuleFormatChar, 1},
		{"byte order mark", "\ufeffAlice", RuleFormatChar, 0},
		{"Arabic letter mark", "a\u061c", RuleFormatChar, 1},
		{"Mongolian vowel separator", "a\u180eb", RuleFormatChar, 1},
		{"soft hyphen", "ad\u00admin", RuleFormatChar, 2},
		{"tag character", "a\U000E0041", RuleFormatChar, 1},
		{"Hangul filler", "ad\u3164min", RuleFormatChar, 2},
		{"Hangul choseong filler", "\u115fa", RuleFormatChar, 0},
		{"halfwidth Hangul filler", "a\uffa0", RuleFormatChar, 1},
		{"combining grapheme joiner", "a\u034fb", RuleFormatChar, 1},
		{"braille blank", "ad\u2800min", RuleFormatChar, 2},
		{"line separator", "a\u2028b", RuleFormatChar, 1},
		{"paragraph separator", "a\u2029b", RuleFormatChar, 1},
		{"ZWJ between letters", "ad\u200dmin", RuleFormatChar, 2},
		{"ZWJ first", "\u200d💻", RuleFormatChar, 0},
		{"ZWJ last", "👩\u200d", RuleFormatChar, 4},
		{"two ZWJ", "👩\u200d\u200d💻", RuleFormatChar, 4},
		{"ZWJ emoji: technologist", "👩\u200d💻", "", 0},
		{"ZWJ emoji: skin tone", "Ann 👩🏽\u200d💻", "", 0},
		{"ZWJ emoji: rainbow flag", "🏳\ufe0f\u200d🌈", "", 0},
		{"ZWJ emoji: family", "👨\u200d👩\u200d👧", "", 0},
		{"ZWJ emoji: man running", "🏃\u200d♂\ufe0f", "", 0},
		{"variation selector", "❤\ufe0f", "", 0},
		{"combining mark", "e\u0301", "", 0},
		{"Hangul syllables", "한글", "", 0},
		{"braille letters", "\u2801\u2803", "", 0},
		{"ideographic space", "山\u3000田", "", 0},
	}
	for _, tt := range tests {
		err := ValidateName(tt.in)
		checkFieldError(t, "ValidateName", tt.in, err, "userName", CodeInvalidUserName, tt.rule, tt.offset)
	}
}

func TestValidateAvatarURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		rule string
	}{
		{"", ""},
		{"https://cdn.example.com/a.png", ""},
		{"http://example.com", ""},
		{"HTTPS://EXAMPLE.COM/X", ""},
		{"https://example.com:8443/a?s=64#x", ""},
		{"https://[::1]/a.png", ""},
		{"https://example.com/" + strings.Repeat("a", MaxAvatarURLLen-20), ""},
		{"https://example.com/" + strings.Repeat("a", MaxAvatarURLLen-19), RuleTooLong},
		{"ftp://example.com/a.png", RuleInvalidURL},
		{"javascript:alert(1)", RuleInvalidURL},
		{"data:image/png;base64,AAAA", RuleInvalidURL},
		{"/a.png", RuleInvalidURL},
		{"//example.com/a.png", RuleInvalidURL},
		{"https://", RuleInvalidURL},
		{"https:///a.png", RuleInvalidURL},
		{"https://:443/a.png", RuleInvalidURL},
		{"https://user:secret@example.com/a.png", RuleInvalidURL},
		{"https://example.com/a b.png", RuleInvalidURL},
		{"https://example.com/%zz", RuleInvalidURL},
		{"https://example.com/\x00", RuleControlChar},
		{"https://example.com/\n", RuleControlChar},
		{"https://example.com/\xff", RuleInvalidUTF8},
	}
	for _, tt := range tests {
		err := ValidateAvatarURL(tt.in)
		var fe *FieldError
		if tt.rule == "" {
			if err != nil {
				t.Errorf("ValidateAvatarURL(%q) = %v, want nil", tt.in, err)
			}
			continue
		}
		if !errors.As(err, &fe) || fe.Rule != tt.rule || fe.Field != "avatarURL" || fe.Code != CodeInvalidAvatarURL {
			t.Errorf("ValidateAvatarURL(%q) = %#v, want rule %s", tt.in, err, tt.rule)
		}
	}
}

func TestValidateExtendedData(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     string
		rule   string
		offset int
	}{
		{"empty", "", "", 0},
		{"json", `{"level": 3,\n "tags": ["a"]}`, "", 0},
		{"control chars allowed", "a\tb\nc\x7f", "", 0},
		{"4096 bytes", strings.Repeat("x", 4096), "", 0},
		{"4097 bytes", strings.Repeat("x", 4097), RuleTooLong, 4096},
		{"NUL", "ab\x00", RuleControlChar, 2},
		{"invalid UTF-8", "\xfe", RuleInvalidUTF8, 0},
	}
	for _, tt := range tests {
		err := ValidateExtendedData(tt.in)
		checkFieldError(t, "ValidateExtendedData", tt.name, err, "extendedData", CodeInvalidExtendedData, tt.rule, tt.offset)
	}
}

func TestValidatePassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		rule string
	}{
		{"1234567", RuleTooShort},
		{"12345678", ""},
		{"correct horse battery staple", ""},
		{strings.Repeat("p", 1024), ""},
		{strings.Repeat("p", 1025), RuleTooLong},
		{"\x00\x00\x00\x00\x00\x00\x00\x00", ""}, // any bytes: a password is only hashed
	}
	for _, tt := range tests {
		err := ValidatePassword(tt.in)
		if tt.rule == "" {
			if err != nil {
				t.Errorf("ValidatePassword(%d bytes) = %v, want nil", len(tt.in), err)
			}
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Rule != tt.rule || fe.Field != "password" {
			t.Fatalf("ValidatePassword(%d bytes) = %v, want rule %s", len(tt.in), err, tt.rule)
		}
		if strings.Contains(fe.Message, tt.in) {
			t.Errorf("ValidatePassword message %q contains the password", fe.Message)
		}
	}
}

func cryptoRand() io.Reader { return rand.Reader }

func TestNewID(t *testing.T) {
	t.Parallel()
	seen := make(map[string]bool)
	for range 1000 {
		id, err := NewID(cryptoRand())
		if err != nil {
			t.Fatal(err)
		}
		if err := ValidateID(id); err != nil {
			t.Fatalf("NewID() = %q, invalid: %v", id, err)
		}
		if len(id) != 26 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Fatalf("NewID() = %q, want 26 characters of [a-z2-7]", id)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
	if _, err := NewID(strings.NewReader("short")); err == nil {
		t.Error("NewID(short reader) = nil error, want one")
	}
	// 128 bits: two readers that differ in the last byte give different IDs.
	a, _ := NewID(strings.NewReader(strings.Repeat("\x00", 16)))
	b, _ := NewID(strings.NewReader(strings.Repeat("\x00", 15) + "\x01"))
	if a == b {
		t.Errorf("NewID ignores the 16th random byte: %q", a)
	}
}

func TestInvalidErrorMessage(t *testing.T) {
	t.Parallel()
	err := validateCreateParams(CreateParams{ID: "a b", Password: "short", AvatarURL: "ftp://x"}, false, Limits{})
	var ie *InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("validateCreateParams = %v, want *InvalidError", err)
	}
	var fields []string
	for _, f := range ie.Fields {
		fields = append(fields, f.Field)
	}
	if got, want := strings.Join(fields, ","), "userID,password,avatarURL"; got != want {
		t.Errorf("invalid fields = %s, want %s", got, want)
	}
	msg := err.Error()
	if strings.Contains(msg, "short") {
		t.Errorf("message %q contains the password", msg)
	}
	for _, f := range ie.Fields {
		if !strings.Contains(msg, f.Message) {
			t.Errorf("message %q lacks %q", msg, f.Message)
		}
	}
}

func TestValidateListOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		o         ListOptions
		wantLimit int
		wantField []string
	}{
		{ListOptions{}, 100, nil},
		{ListOptions{Limit: 1}, 1, nil},
		{ListOptions{Limit: 1000}, 1000, nil},
		{ListOptions{Limit: 1001}, 0, []string{"limit"}},
		{ListOptions{Limit: -1}, 0, []string{"limit"}},
		{ListOptions{After: "a b", Prefix: "x/"}, 0, []string{"after", "prefix"}},
		{ListOptions{Prefix: strings.Repeat("p", 32)}, 100, nil},
		{ListOptions{Prefix: strings.Repeat("p", 33)}, 0, []string{"prefix"}},
		{ListOptions{After: "%_[", Prefix: "%"}, 100, nil},
	}
	for _, tt := range tests {
		limit, err := validateListOptions(tt.o)
		var got []string
		var ie *InvalidError
		if errors.As(err, &ie) {
			for _, f := range ie.Fields {
				got = append(got, f.Field)
			}
		} else if err != nil {
			t.Fatalf("validateListOptions(%+v) = %v", tt.o, err)
		}
		if strings.Join(got, ",") != strings.Join(tt.wantField, ",") {
			t.Errorf("validateListOptions(%+v) invalid fields = %v, want %v", tt.o, got, tt.wantField)
		}
		if err == nil && limit != tt.wantLimit {
			t.Errorf("validateListOptions(%+v) limit = %d, want %d", tt.o, limit, tt.wantLimit)
		}
	}
}

// checkFieldError checks that err is nil when rule is "", else a *FieldError
// for field with code, rule and offset.
func checkFieldError(t *testing.T, fn, in string, err error, field, code, rule string, offset int) {
	t.Helper()
	if rule == "" {
		if err != nil {
			t.Errorf("%s(%q) = %v, want nil", fn, in, err)
		}
		return
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Errorf("%s(%q) = %v, want a *FieldError", fn, in, err)
		return
	}
	if fe.Field != field || fe.Code != code || fe.Rule != rule || fe.Offset != offset {
		t.Errorf("%s(%q) = {%s %s %s %d}, want {%s %s %s %d}", fn, in,
			fe.Field, fe.Code, fe.Rule, fe.Offset, field, code, rule, offset)
	}
}

// checkName holds ValidateName to its contract on any input: an accepted
// name is short UTF-8 with no control character and no format character
// but a ZERO WIDTH JOINER before an emoji; a refused one names the rule
// and where.
func checkName(t *testing.T, name string) {
	t.Helper()
	err := ValidateName(name)
	if err == nil {
		if len(name) > MaxNameLen || !utf8.ValidString(name) {
			t.Fatalf("ValidateName(%q) = nil for a long or invalid name", name)
		}
		for i, r := range name {
			if unicode.IsControl(r) {
				t.Fatalf("ValidateName(%q) = nil with the control character %U", name, r)
			}
			if unicode.Is(unicode.Cf, r) {
				next, _ := utf8.DecodeRuneInString(name[i+utf8.RuneLen(r):])
				if r != '\u200d' || i == 0 || next == utf8.RuneError || !unicode.Is(unicode.So, next) {
					t.Fatalf("ValidateName(%q) = nil with the format character %U at %d", name, r, i)
				}
			}
		}
		return
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "userName" || fe.Code != CodeInvalidUserName || !utf8.ValidString(fe.Message) {
		t.Fatalf("ValidateName(%q) = %#v, want a userName FieldError", name, err)
	}
	if fe.Rule == RuleFormatChar {
		if r, _ := utf8.DecodeRuneInString(name[fe.Offset:]); !unicode.Is(unicode.Cf, r) {
			t.Fatalf("ValidateName(%q): format_char at %d, where %U is", name, fe.Offset, r)
		}
	}
}

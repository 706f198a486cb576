package users

import (
	"encoding/base32"
	"fmt"
	"io"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds of a user's fields, in bytes. The HTTP API and its OpenAPI document
// cite them.
const (
	// MaxIDLen is the longest userID: ZIM's limit.
	MaxIDLen = 32

	// MaxNameLen is the longest userName: ZIM's limit.
	MaxNameLen = 256

	// MaxAvatarURLLen is the longest avatarURL. 2048 is the length URLs can
	// rely on across browsers, proxies and CDNs; an avatar URL needs far less.
	MaxAvatarURLLen = 2048

	// MaxExtendedDataLen is the longest extendedData: room for a small JSON
	// document an app keeps beside a user, not a blob store. 4096 is one
	// database page, which keeps a user row cheap to read.
	MaxExtendedDataLen = 4096

	// MinPasswordLen is the shortest password accepted (NIST SP 800-63B).
	MinPasswordLen = 8

	// MaxPasswordLen is the longest password accepted: long passphrases
	// fit, and a request cannot make the server hash megabytes.
	MaxPasswordLen = 1024
)

// IDPunctuation is the punctuation a userID may contain besides ASCII letters
// and digits (the ZIM rule).
const IDPunctuation = "!#$%&()+-:;<=.>?@[]^_{}|~"

// Stable codes of FieldError.Code, one per field; FieldError.Rule says which
// rule of the field failed.
const (
	CodeInvalidUserID       = "invalid_user_id"
	CodeInvalidUserName     = "invalid_user_name"
	CodeInvalidPassword     = "invalid_password"
	CodeInvalidAvatarURL    = "invalid_avatar_url"
	CodeInvalidExtendedData = "invalid_extended_data"
	CodeInvalidLimit        = "invalid_limit"
	CodeInvalidAfter        = "invalid_after"
	CodeInvalidPrefix       = "invalid_prefix"
)

// Stable values of FieldError.Rule.
const (
	RuleRequired    = "required"     // the value is empty but must not be
	RuleTooLong     = "too_long"     // the value has more bytes than allowed; Offset is the first byte past the limit
	RuleTooShort    = "too_short"    // the value has fewer bytes than required
	RuleInvalidChar = "invalid_char" // a character outside the allowed set; Offset is where
	RuleInvalidUTF8 = "invalid_utf8" // the bytes are not UTF-8; Offset is the first bad byte
	RuleControlChar = "control_char" // a control character (C0, DEL, C1) or NUL; Offset is where
	RuleFormatChar  = "format_char"  // an invisible character (Unicode Cf, Zl, Zp or default-ignorable), such as a bidi control; Offset is where
	RuleInvalidURL  = "invalid_url"  // not an absolute http or https URL with a host and no user info
	RuleOutOfRange  = "out_of_range" // a number outside its allowed range
)

// FieldError is one invalid field of a request.
type FieldError struct {
	// Field is the API's name for the field: "userID", "userName",
	// "password", "avatarURL", "extendedData", "limit", "after", "prefix".
	Field string
	// Code is stable per field, such as "invalid_user_id".
	Code string
	// Rule is stable and says which rule failed, such as "too_long".
	Rule string
	// Offset is the byte offset of the first bad character, -1 when the
	// failed rule is not about one character.
	Offset int
	// Message says, for people, which rule failed. It never contains a
	// password.
	Message string
}

func (e *FieldError) Error() string { return e.Message }

// InvalidError carries all the invalid fields of one request.
type InvalidError struct {
	Fields []FieldError
}

func (e *InvalidError) Error() string {
	var b strings.Builder
	b.WriteString("invalid user")
	for i, f := range e.Fields {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.Message)
	}
	return b.String()
}

// invalid returns nil for no field errors, else an *InvalidError with them.
func invalid(fields []FieldError) error {
	if len(fields) == 0 {
		return nil
	}
	return &InvalidError{Fields: fields}
}

// addField appends err, when it is a *FieldError, to fields.
func addField(fields []FieldError, err error) []FieldError {
	if fe, ok := err.(*FieldError); ok {
		fields = append(fields, *fe)
	}
	return fields
}

// isIDChar reports whether a userID may contain c.
func isIDChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte(IDPunctuation, c) >= 0
}

// ValidateID reports whether id follows the ZIM userID rule: 1 to MaxIDLen
// bytes, each an ASCII letter, digit or one of IDPunctuation. It returns nil
// or a *FieldError whose Offset is the length of the longest valid prefix of
// id: where the first bad character is, or MaxIDLen when id is too long.
func ValidateID(id string) error {
	return validateID("userID", CodeInvalidUserID, id)
}

func validateID(field, code, id string) error {
	if id == "" {
		return &FieldError{Field: field, Code: code, Rule: RuleRequired, Offset: -1,
			Message: field + " is empty"}
	}
	return validateIDChars(field, code, id)
}

// validateIDChars checks the rule except for emptiness, so that it also
// checks a prefix of an ID.
func validateIDChars(field, code, id string) error {
	for i := 0; i < len(id); i++ {
		if i == MaxIDLen {
			return &FieldError{Field: field, Code: code, Rule: RuleTooLong, Offset: i,
				Message: fmt.Sprintf("%s is %d bytes, longer than the maximum of %d", field, len(id), MaxIDLen)}
		}
		if c := id[i]; !isIDChar(c) {
			return &FieldError{Field: field, Code: code, Rule: RuleInvalidChar, Offset: i,
				Message: fmt.Sprintf("%s has %s at byte offset %d; allowed are ASCII letters, digits and %s",
					field, describeByte(c), i, IDPunctuation)}
		}
	}
	return nil
}

// describeByte names c for a message, quoting printable ASCII only.
func describeByte(c byte) string {
	if c > ' ' && c < 0x7f {
		return fmt.Sprintf("%q", c)
	}
	if c == ' ' {
		return "a space"
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// ValidateName reports whether name is a valid userName: at most MaxNameLen
// bytes of UTF-8 without control characters (C0 including NUL, DEL, C1) and
// without invisible characters (Unicode category Cf: bidi controls,
// zero-width spaces and joiners, BOM, soft hyphen, tags; the line and
// paragraph separators; the other default-ignorable code points such as
// the Hangul fillers; the braille blank), which let one name display as
// another. The one exception is ZERO WIDTH JOINER inside an
// emoji sequence such as 👩‍💻, between an emoji (with its modifier or
// variation selector) and another emoji. The empty name is valid: it stands
// for the default, the userID. It returns nil or a *FieldError.
func ValidateName(name string) error {
	const field, code = "userName", CodeInvalidUserName
	if len(name) > MaxNameLen {
		return &FieldError{Field: field, Code: code, Rule: RuleTooLong, Offset: MaxNameLen,
			Message: fmt.Sprintf("userName is %d bytes, longer than the maximum of %d", len(name), MaxNameLen)}
	}
	if err := validateText(field, code, name, true); err != nil {
		return err
	}
	for i, r := range name {
		if r < utf8.RuneSelf || !invisible(r) || r == zeroWidthJoiner && joinsEmoji(name, i) {
			continue
		}
		return &FieldError{Field: field, Code: code, Rule: RuleFormatChar, Offset: i,
			Message: fmt.Sprintf("userName has the invisible format character %U at byte offset %d", r, i)}
	}
	return nil
}

const zeroWidthJoiner = '\u200d'

// invisible reports whether r renders as nothing, or as a blank that can
// pass for nothing, so that two names could look alike: format characters
// (Cf), the line and paragraph separators, and the other default-ignorable
// code points (Hangul fillers, the combining grapheme joiner, ...). The
// variation selectors emoji need are none of these.
func invisible(r rune) bool {
	return unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Other_Default_Ignorable_Code_Point) ||
		r == '\u2800' // BRAILLE PATTERN BLANK, a visible character that shows nothing
}

// joinsEmoji reports whether the ZERO WIDTH JOINER at s[i] stands between two
// parts of an emoji ZWJ sequence. Emoji are category So; the part before may
// end in a skin tone modifier (Sk) or the emoji variation selector.
func joinsEmoji(s string, i int) bool {
	prev, n := utf8.DecodeLastRuneInString(s[:i])
	next, m := utf8.DecodeRuneInString(s[i+utf8.RuneLen(zeroWidthJoiner):])
	if n == 0 || m == 0 || prev == utf8.RuneError || next == utf8.RuneError { // U+FFFD is So too
		return false
	}
	emojiEnd := unicode.Is(unicode.So, prev) || prev == '\ufe0f' || '\U0001F3FB' <= prev && prev <= '\U0001F3FF'
	return emojiEnd && unicode.Is(unicode.So, next)
}

// validateText checks that s is UTF-8 without NUL and, if noControl, without
// any control character.
func validateText(field, code, s string, noControl bool) error {
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			return &FieldError{Field: field, Code: code, Rule: RuleInvalidUTF8, Offset: i,
				Message: fmt.Sprintf("%s is not valid UTF-8 at byte offset %d", field, i)}
		case r == 0 || noControl && (r < 0x20 || r >= 0x7f && r <= 0x9f):
			return &FieldError{Field: field, Code: code, Rule: RuleControlChar, Offset: i,
				Message: fmt.Sprintf("%s has the control character %U at byte offset %d", field, r, i)}
		}
	}
	return nil
}

// ValidateAvatarURL reports whether u is a valid avatarURL: empty, or an
// absolute http or https URL with a host and without user info (no
// credentials in a URL that is handed to every app), at most MaxAvatarURLLen
// bytes of UTF-8 without control characters. It returns nil or a
// *FieldError.
func ValidateAvatarURL(u string) error {
	const field, code = "avatarURL", CodeInvalidAvatarURL
	if u == "" {
		return nil
	}
	if len(u) > MaxAvatarURLLen {
		return &FieldError{Field: field, Code: code, Rule: RuleTooLong, Offset: MaxAvatarURLLen,
			Message: fmt.Sprintf("avatarURL is %d bytes, longer than the maximum of %d", len(u), MaxAvatarURLLen)}
	}
	if err := validateText(field, code, u, true); err != nil {
		return err
	}
	bad := func(why string) error {
		return &FieldError{Field: field, Code: code, Rule: RuleInvalidURL, Offset: -1,
			Message: "avatarURL " + why}
	}
	p, err := url.Parse(u)
	switch {
	case err != nil:
		return bad("is not a URL")
	case p.Scheme != "http" && p.Scheme != "https":
		return bad("must be an absolute http or https URL")
	case p.Host == "" || p.Hostname() == "":
		return bad("has no host")
	case p.User != nil:
		return bad("must not contain user info")
	case strings.ContainsAny(u, " "):
		return bad("must not contain spaces")
	}
	return nil
}

// ValidateExtendedData reports whether d is valid extendedData: at most
// MaxExtendedDataLen bytes of UTF-8 without NUL (which PostgreSQL text cannot
// hold). Other control characters, such as newlines, are allowed. It returns
// nil or a *FieldError.
func ValidateExtendedData(d string) error {
	const field, code = "extendedData", CodeInvalidExtendedData
	if len(d) > MaxExtendedDataLen {
		return &FieldError{Field: field, Code: code, Rule: RuleTooLong, Offset: MaxExtendedDataLen,
			Message: fmt.Sprintf("extendedData is %d bytes, longer than the maximum of %d", len(d), MaxExtendedDataLen)}
	}
	return validateText(field, code, d, false)
}

// ValidatePassword reports whether p is an acceptable password: from
// MinPasswordLen to MaxPasswordLen bytes, any content. It returns nil or a
// *FieldError, whose message never contains the password.
func ValidatePassword(p string) error {
	const field, code = "password", CodeInvalidPassword
	switch {
	case len(p) < MinPasswordLen:
		return &FieldError{Field: field, Code: code, Rule: RuleTooShort, Offset: -1,
			Message: fmt.Sprintf("password must be at least %d bytes", MinPasswordLen)}
	case len(p) > MaxPasswordLen:
		return &FieldError{Field: field, Code: code, Rule: RuleTooLong, Offset: MaxPasswordLen,
			Message: fmt.Sprintf("password must be at most %d bytes", MaxPasswordLen)}
	}
	return nil
}

// validateCreateParams checks every field of u. requireID is for Import, whose
// items must name their user so that running it again is harmless.
func validateCreateParams(u CreateParams, requireID bool, l Limits) error {
	var fields []FieldError
	if u.ID != "" || requireID {
		fields = addField(fields, ValidateID(u.ID))
	}
	fields = addField(fields, ValidateName(u.Name))
	if u.Password != "" {
		fields = addField(fields, ValidatePassword(u.Password))
	}
	fields = addField(fields, ValidateAvatarURL(u.AvatarURL))
	fields = addField(fields, ValidateExtendedData(u.ExtendedData))
	fields = l.check(fields, &u.AvatarURL, &u.ExtendedData)
	return invalid(fields)
}

// validatePatch checks every field p changes. An empty password removes it.
func validatePatch(p Patch, l Limits) error {
	var fields []FieldError
	if p.Name != nil {
		fields = addField(fields, ValidateName(*p.Name))
	}
	if p.Password != nil && *p.Password != "" {
		fields = addField(fields, ValidatePassword(*p.Password))
	}
	if p.AvatarURL != nil {
		fields = addField(fields, ValidateAvatarURL(*p.AvatarURL))
	}
	if p.ExtendedData != nil {
		fields = addField(fields, ValidateExtendedData(*p.ExtendedData))
	}
	fields = l.check(fields, p.AvatarURL, p.ExtendedData)
	return invalid(fields)
}

// validateListOptions checks o and returns the limit to use.
func validateListOptions(o ListOptions) (int, error) {
	var fields []FieldError
	limit := o.Limit
	switch {
	case limit == 0:
		limit = DefaultListLimit
	case limit < 1 || limit > MaxListLimit:
		fields = append(fields, FieldError{Field: "limit", Code: CodeInvalidLimit, Rule: RuleOutOfRange, Offset: -1,
			Message: fmt.Sprintf("limit must be from 1 to %d", MaxListLimit)})
	}
	if o.After != "" {
		fields = addField(fields, validateIDChars("after", CodeInvalidAfter, o.After))
	}
	if o.Prefix != "" {
		fields = addField(fields, validateIDChars("prefix", CodeInvalidPrefix, o.Prefix))
	}
	return limit, invalid(fields)
}

// idAlphabet writes assigned IDs: lower-case letters and the digits 2-7, so
// an ID survives being read aloud, lower-cased or put in a URL path as is.
const idAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

// NewID returns a fresh userID for a user created without one: 128 bits from
// rnd in 26 characters of [a-z2-7], within the userID rule and safe in a URL
// path without escaping. rnd should be crypto/rand.Reader outside tests.
func NewID(rnd io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return "", fmt.Errorf("new user ID: %w", err)
	}
	return base32.NewEncoding(idAlphabet).WithPadding(base32.NoPadding).EncodeToString(b[:]), nil
}

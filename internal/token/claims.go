package token

import (
	"errors"
	"math"
	"strconv"
	"unicode/utf8"
)

// Claims is what a token says, as carried in its encrypted JSON body.
type Claims struct {
	AppID     uint32
	UserID    string
	Nonce     int32 // random, so two tokens minted in the same second differ
	IssuedAt  int64 // JSON "ctime", unix seconds
	ExpiresAt int64 // JSON "expire", unix seconds; equals the binary header expire
	Payload   string
}

// Field names of the JSON body, in the order ZEGO's generators write them.
const (
	keyAppID   = `"app_id":`
	keyUserID  = `,"user_id":`
	keyNonce   = `,"nonce":`
	keyCtime   = `,"ctime":`
	keyExpire  = `,"expire":`
	keyPayload = `,"payload":`
	bodyFixed  = len(`{`) + len(keyAppID) + len(keyUserID) + len(keyNonce) + len(keyCtime) + len(keyExpire) + len(keyPayload) + len(`}`)
)

// appendClaims appends the JSON body for c. UserID and Payload must be valid
// UTF-8.
func appendClaims(b []byte, c *Claims) []byte {
	b = append(b, '{')
	b = append(b, keyAppID...)
	b = strconv.AppendUint(b, uint64(c.AppID), 10)
	b = append(b, keyUserID...)
	b = appendQuoted(b, c.UserID)
	b = append(b, keyNonce...)
	b = strconv.AppendInt(b, int64(c.Nonce), 10)
	b = append(b, keyCtime...)
	b = strconv.AppendInt(b, c.IssuedAt, 10)
	b = append(b, keyExpire...)
	b = strconv.AppendInt(b, c.ExpiresAt, 10)
	b = append(b, keyPayload...)
	b = appendQuoted(b, c.Payload)
	return append(b, '}')
}

var (
	errMissing   = errors.New("missing field")
	errDuplicate = errors.New("duplicate field")
	errType      = errors.New("field of the wrong type")
)

// parseClaims reads a JSON body. Keys may come in any order, unknown keys are
// ignored and a missing payload means "". body is used as scratch memory.
func parseClaims(body []byte) (Claims, error) {
	if !utf8.Valid(body) {
		return Claims{}, errSyntax
	}
	const (
		haveApp = 1 << iota
		haveUser
		haveNonce
		haveCtime
		haveExpire
		havePayload
		required = haveApp | haveUser | haveNonce | haveCtime | haveExpire
	)
	var (
		c         Claims
		have      int
		user, pay []byte
		s         = scanner{buf: body}
	)
	err := s.object(func(key []byte) error {
		var bit int
		switch string(key) {
		case "app_id":
			bit = haveApp
		case "user_id":
			bit = haveUser
		case "nonce":
			bit = haveNonce
		case "ctime":
			bit = haveCtime
		case "expire":
			bit = haveExpire
		case "payload":
			bit = havePayload
		default:
			return s.skip(1)
		}
		if have&bit != 0 {
			return errDuplicate
		}
		have |= bit
		var err error
		var v int64
		switch bit {
		case haveApp:
			v, err = s.integer(0, math.MaxUint32)
			c.AppID = uint32(v)
		case haveNonce:
			v, err = s.integer(math.MinInt32, math.MaxInt32)
			c.Nonce = int32(v)
		case haveCtime:
			c.IssuedAt, err = s.integer(math.MinInt64, math.MaxInt64)
		case haveExpire:
			c.ExpiresAt, err = s.integer(math.MinInt64, math.MaxInt64)
		case haveUser:
			user, err = s.stringValue()
		case havePayload:
			pay, err = s.stringValue()
		}
		return err
	})
	if err != nil {
		return Claims{}, err
	}
	if !s.end() {
		return Claims{}, errSyntax
	}
	if have&required != required {
		return Claims{}, errMissing
	}
	c.UserID = string(user)
	c.Payload = string(pay)
	return c, nil
}

// stringValue reads a value that must be a JSON string.
func (s *scanner) stringValue() ([]byte, error) {
	if s.peek() != '"' {
		return nil, errType
	}
	return s.str()
}

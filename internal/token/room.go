package token

import (
	"fmt"
	"unicode/utf8"
)

// Room is the typed form of the RTC room privilege payload:
//
//	{"room_id":"…","privilege":{"1":0|1,"2":0|1},"stream_id_list":[…]|null}
//
// The RTC SDK checks it when the token is used to log in to a room or to
// publish a stream.
type Room struct {
	RoomID    string
	Login     bool     // privilege key "1": may log in to the room
	Publish   bool     // privilege key "2": may publish streams
	StreamIDs []string // the streams that may be published; nil encodes as null
}

// Payload returns r as a payload string for Params.Payload. Strings are copied
// as they are apart from JSON's escapes, so a RoomID or stream ID that is not
// valid UTF-8 makes Mint fail with ErrInvalidPayload rather than change it.
func (r Room) Payload() string {
	n := len(`{"room_id":,"privilege":{"1":0,"2":0},"stream_id_list":}`) + quotedLen(r.RoomID) + len("null")
	for _, s := range r.StreamIDs {
		n += quotedLen(s) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"room_id":`...)
	b = appendQuoted(b, r.RoomID)
	b = append(b, `,"privilege":{"1":`...)
	b = append(b, bit(r.Login))
	b = append(b, `,"2":`...)
	b = append(b, bit(r.Publish))
	b = append(b, `},"stream_id_list":`...)
	if r.StreamIDs == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, s := range r.StreamIDs {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendQuoted(b, s)
		}
		b = append(b, ']')
	}
	return string(append(b, '}'))
}

func bit(v bool) byte {
	if v {
		return '1'
	}
	return '0'
}

// ParseRoom reads a payload written by Room.Payload or another generator of
// the same format. It is strict, so that a payload it accepts means the same
// to the RTC servers: the three keys and the two privilege keys must each
// appear exactly once and nothing else, privileges are the numbers 0 or 1,
// room_id a string and stream_id_list null or an array of strings. Any order
// and white space are fine. Failures wrap ErrInvalidPayload.
func ParseRoom(payload string) (Room, error) {
	r, err := parseRoom([]byte(payload))
	if err != nil {
		return Room{}, fmt.Errorf("%w: not a room privilege payload: %v", ErrInvalidPayload, err)
	}
	return r, nil
}

func parseRoom(b []byte) (Room, error) {
	if !utf8.Valid(b) {
		return Room{}, errSyntax
	}
	var (
		r          Room
		have       [3]bool
		privileges [2]bool
		s          = scanner{buf: b}
	)
	err := s.object(func(key []byte) error {
		var i int
		switch string(key) {
		case "room_id":
			i = 0
		case "privilege":
			i = 1
		case "stream_id_list":
			i = 2
		default:
			return fmt.Errorf("unknown key %q", key)
		}
		if have[i] {
			return errDuplicate
		}
		have[i] = true
		switch i {
		case 0:
			id, err := s.stringValue()
			r.RoomID = string(id)
			return err
		case 1:
			var err error
			r.Login, r.Publish, err = s.privileges(&privileges)
			return err
		default:
			var err error
			r.StreamIDs, err = s.streamIDs()
			return err
		}
	})
	switch {
	case err != nil:
		return Room{}, err
	case !s.end():
		return Room{}, errSyntax
	case !have[0] || !have[1] || !have[2] || !privileges[0] || !privileges[1]:
		return Room{}, errMissing
	}
	return r, nil
}

// privileges reads the privilege object, recording in have which keys it saw.
func (s *scanner) privileges(have *[2]bool) (login, publish bool, err error) {
	if s.peek() != '{' {
		return false, false, errType
	}
	err = s.object(func(key []byte) error {
		var i int
		switch string(key) {
		case "1":
			i = 0
		case "2":
			i = 1
		default:
			return fmt.Errorf("unknown privilege %q", key)
		}
		if have[i] {
			return errDuplicate
		}
		have[i] = true
		v, err := s.number()
		if err != nil {
			return err
		}
		if len(v) != 1 || (v[0] != '0' && v[0] != '1') {
			return errRange
		}
		if i == 0 {
			login = v[0] == '1'
		} else {
			publish = v[0] == '1'
		}
		return nil
	})
	return login, publish, err
}

// streamIDs reads null or an array of strings.
func (s *scanner) streamIDs() ([]string, error) {
	switch s.peek() {
	case 'n':
		return nil, s.literal("null")
	case '[':
	default:
		return nil, errType
	}
	s.pos++
	ids := []string{}
	if s.consume(']') {
		return ids, nil
	}
	for {
		id, err := s.stringValue()
		if err != nil {
			return nil, err
		}
		ids = append(ids, string(id))
		if s.consume(',') {
			continue
		}
		if s.consume(']') {
			return ids, nil
		}
		return nil, errSyntax
	}
}

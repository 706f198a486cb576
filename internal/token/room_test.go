package token

import (
	"encoding/json"
	"errors"
	mrand "math/rand/v2"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestRoomPayload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		room Room
		want string
	}{
		// The first two are the payloads of the shared vectors.
		{Room{RoomID: "room-1", Login: true}, `{"room_id":"room-1","privilege":{"1":1,"2":0},"stream_id_list":null}`},
		{Room{RoomID: "r-9", Login: true, Publish: true, StreamIDs: []string{"s1"}}, `{"room_id":"r-9","privilege":{"1":1,"2":1},"stream_id_list":["s1"]}`},
		{Room{StreamIDs: []string{}}, `{"room_id":"","privilege":{"1":0,"2":0},"stream_id_list":[]}`},
		{Room{RoomID: "a\"b\\c\n", Publish: true, StreamIDs: []string{"x", "y\x01"}}, `{"room_id":"a\"b\\c\n","privilege":{"1":0,"2":1},"stream_id_list":["x","y\u0001"]}`},
	}
	for _, tt := range tests {
		if got := tt.room.Payload(); got != tt.want {
			t.Errorf("%#v.Payload() = %s, want %s", tt.room, got, tt.want)
		}
		got, err := ParseRoom(tt.want)
		if err != nil || !cmp.Equal(got, tt.room) {
			t.Errorf("ParseRoom(%s) = %#v, %v; want %#v", tt.want, got, err, tt.room)
		}
	}
}

// roomCases are payloads with what ParseRoom must make of them; they seed
// FuzzParseRoom too.
var roomCases = []struct {
	payload string
	want    *Room // nil: want ErrInvalidPayload
}{
	{` {"stream_id_list" : [ "a" , "b" ] , "privilege":{"2":1,"1":0}, "room_id":"r\u00e9"} `, &Room{RoomID: "ré", Publish: true, StreamIDs: []string{"a", "b"}}},
	{``, nil},
	{`null`, nil},
	{`{"room_id":"r","privilege":{"1":1,"2":0}}`, nil},
	{`{"room_id":"r","stream_id_list":null}`, nil},
	{`{"privilege":{"1":1,"2":0},"stream_id_list":null}`, nil},
	{`{"room_id":"r","privilege":{"1":1},"stream_id_list":null}`, nil},
	{`{"room_id":"r","privilege":{"1":1,"2":0,"3":1},"stream_id_list":null}`, nil},
	{`{"room_id":"r","privilege":{"1":1,"2":0,"1":0},"stream_id_list":null}`, nil},
	{`{"room_id":"r","privilege":{"1":2,"2":0},"stream_id_list":null}`, nil},
	{`{"room_id":"r","privilege":{"1":-0,"2":0},"stream_id_list":null}`, nil},
	{`{"room_id":"r","privilege":{"1":1.0,"2":0},"stream_id_list":null}`, nil},
	{`{"room_id":"r","privilege":{"1":true,"2":0},"stream_id_list":null}`, nil},
	{`{"room_id":"r","privilege":{"1":"1","2":0},"stream_id_list":null}`, nil},
	{`{"room_id":"r","privilege":null,"stream_id_list":null}`, nil},
	{`{"room_id":1,"privilege":{"1":1,"2":0},"stream_id_list":null}`, nil},
	{`{"room_id":null,"privilege":{"1":1,"2":0},"stream_id_list":null}`, nil},
	{`{"room_id":"r","privilege":{"1":1,"2":0},"stream_id_list":[null]}`, nil},
	{`{"room_id":"r","privilege":{"1":1,"2":0},"stream_id_list":"s"}`, nil},
	{`{"room_id":"r","privilege":{"1":1,"2":0},"stream_id_list":["s",]}`, nil},
	{`{"room_id":"r","privilege":{"1":1,"2":0},"stream_id_list":null,"x":1}`, nil},
	{`{"room_id":"r","privilege":{"1":1,"2":0},"stream_id_list":null,"room_id":"s"}`, nil},
	{`{"room_id":"r","privilege":{"1":1,"2":0},"stream_id_list":null}x`, nil},
	{"{\"room_id\":\"\xff\",\"privilege\":{\"1\":1,\"2\":0},\"stream_id_list\":null}", nil},
}

func TestParseRoom(t *testing.T) {
	t.Parallel()
	for _, tt := range roomCases {
		got, err := ParseRoom(tt.payload)
		if tt.want == nil {
			if !errors.Is(err, ErrInvalidPayload) {
				t.Errorf("ParseRoom(%s) = %#v, %v; want ErrInvalidPayload", tt.payload, got, err)
			}
		} else if err != nil || !cmp.Equal(got, *tt.want) {
			t.Errorf("ParseRoom(%s) = %#v, %v; want %#v", tt.payload, got, err, *tt.want)
		}
		checkParseRoom(t, []byte(tt.payload))
	}
}

// TestRoomRoundTrip: Payload then ParseRoom gives the room back, for rooms
// with valid UTF-8 strings.
func TestRoomRoundTrip(t *testing.T) {
	t.Parallel()
	rng := mrand.New(mrand.NewPCG(11, 12))
	for range 2000 {
		r := Room{RoomID: randomString(rng, 128, false), Login: rng.IntN(2) == 0, Publish: rng.IntN(2) == 0}
		switch rng.IntN(3) {
		case 0:
		case 1:
			r.StreamIDs = []string{}
		case 2:
			for range 1 + rng.IntN(4) {
				r.StreamIDs = append(r.StreamIDs, randomString(rng, 64, false))
			}
		}
		got, err := ParseRoom(r.Payload())
		if err != nil || !cmp.Equal(got, r) {
			t.Fatalf("ParseRoom(%#v.Payload()) = %#v, %v", r, got, err)
		}
	}
}

// referenceRoom reads a room payload with encoding/json, following the rules
// ParseRoom documents.
func referenceRoom(b []byte) (Room, error) {
	var r Room
	seen, err := referenceObject(b, func(key string, raw []byte) (bool, error) {
		var err error
		switch key {
		case "room_id":
			r.RoomID, err = referenceString(raw)
		case "privilege":
			var p map[string]bool
			p, err = referenceObject(raw, func(key string, raw []byte) (bool, error) {
				if key != "1" && key != "2" {
					return true, errors.New("unknown privilege")
				}
				if s := string(raw); s != "0" && s != "1" {
					return true, errors.New("privilege not 0 or 1")
				}
				if key == "1" {
					r.Login = string(raw) == "1"
				} else {
					r.Publish = string(raw) == "1"
				}
				return true, nil
			})
			if err == nil && len(p) != 2 {
				err = errors.New("missing privilege")
			}
		case "stream_id_list":
			if string(raw) == "null" {
				break
			}
			var list []json.RawMessage
			if raw[0] != '[' {
				return true, errors.New("not an array")
			}
			if err := json.Unmarshal(raw, &list); err != nil {
				return true, err
			}
			r.StreamIDs = []string{}
			for _, e := range list {
				s, err := referenceString(e)
				if err != nil {
					return true, err
				}
				r.StreamIDs = append(r.StreamIDs, s)
			}
		default:
			return true, errors.New("unknown key")
		}
		return true, err
	})
	if err == nil && len(seen) != 3 {
		err = errors.New("missing key")
	}
	if err != nil {
		return Room{}, err
	}
	return r, nil
}

// checkParseRoom compares ParseRoom with referenceRoom on payload, and checks
// that what it accepts survives Payload and ParseRoom unchanged.
func checkParseRoom(tb testing.TB, payload []byte) {
	tb.Helper()
	got, err := ParseRoom(string(payload))
	want, wantErr := referenceRoom(payload)
	switch {
	case !utf8.Valid(payload) && err == nil:
		tb.Fatalf("ParseRoom(%q) = %#v, nil; want an error for invalid UTF-8", payload, got)
	case (err == nil) != (wantErr == nil):
		tb.Fatalf("ParseRoom(%q) = %#v, %v; encoding/json says %#v, %v", payload, got, err, want, wantErr)
	case !cmp.Equal(got, want):
		tb.Fatalf("ParseRoom(%q) = %#v; encoding/json says %#v", payload, got, want)
	}
	if err != nil {
		if !errors.Is(err, ErrInvalidPayload) {
			tb.Fatalf("ParseRoom(%q) = %v, want it to wrap ErrInvalidPayload", payload, err)
		}
		return
	}
	again, err := ParseRoom(got.Payload())
	if err != nil || !cmp.Equal(again, got) {
		tb.Fatalf("ParseRoom(%#v.Payload()) = %#v, %v", got, again, err)
	}
}

package audit

import (
	"cmp"
	"encoding/binary"
	"errors"
	"slices"
	"time"
)

// Token events (token.issued and token.renewed) are most of the trail: one
// per token minted. A row and three index entries each cost 9–15 µs of
// CPU and about 190 bytes of disk, more than minting the token. So they
// are stored in blocks instead: the events of one kind from one batch, a
// second of them at most, encoded one after the other in a blob, each
// field against the same field of the event before. A block is one row and
// two index entries, plus one entry per distinct user in it for listing a
// user's events. Every other event, and the token events written before
// blocks existed, stay rows of audit_events; List merges the two.

// blockSpan is the most time the events of one block span. List finds the
// blocks holding events before a time t among those whose latest event is
// before t + blockSpan, so it bounds how far past a page the index range
// starts.
const blockSpan = time.Second

// maxBlockEvents is the most events a block holds, so that an event's ID
// (below) can name its block and its place in it.
const maxBlockEvents = 1 << blockIndexBits

const blockIndexBits = 10

// tokenIDBase is the smallest ID of an event in a block: the ID of event i
// of block b is tokenIDBase + b<<blockIndexBits + i. audit_events' IDs stay
// far below it, and every ID stays below 2^53, so that JavaScript reads it
// exactly.
const tokenIDBase = int64(1) << 52

// maxBlockID is the largest block ID whose events' IDs fit below 2^53.
const maxBlockID = (int64(1)<<53-tokenIDBase)>>blockIndexBits - 1

// blockFormat is the first byte of a block's data: its encoding.
const blockFormat = 1

// blockFlagNonce says that the event has a nonce.
const blockFlagNonce = 1

// inBlock reports whether e is stored in a block. Tallies (Count > 1) and
// every other kind of event are rows.
func inBlock(e *Event) bool {
	return (e.Kind == TokenIssued || e.Kind == TokenRenewed) && e.Count == 1
}

// block is the events of one block, of one kind, in time order.
type block struct {
	kind   string
	events []Event
	first  int64 // the events' earliest time, Unix microseconds
	last   int64 // the events' latest time
}

// splitBlocks sorts events, all inBlock, by kind and time and cuts them
// into blocks of at most maxBlockEvents events spanning at most blockSpan.
// It reorders events in place; the blocks share its memory.
func splitBlocks(events []Event, blocks []block) []block {
	slices.SortStableFunc(events, func(a, b Event) int {
		if a.Kind != b.Kind {
			if a.Kind < b.Kind {
				return -1
			}
			return 1
		}
		// By the times stored, so that first and last are the block's
		// bounds whatever the times' monotonic readings say.
		return cmp.Compare(a.Time.UnixMicro(), b.Time.UnixMicro())
	})
	span := blockSpan.Microseconds()
	start := 0
	for i := range events {
		at := events[i].Time.UnixMicro()
		if i > start && (events[i].Kind != events[start].Kind || i-start == maxBlockEvents ||
			at-events[start].Time.UnixMicro() > span) {
			blocks = appendBlock(blocks, events[start:i])
			start = i
		}
	}
	if start < len(events) {
		blocks = appendBlock(blocks, events[start:])
	}
	return blocks
}

func appendBlock(blocks []block, events []Event) []block {
	return append(blocks, block{
		kind:   events[0].Kind,
		events: events,
		first:  events[0].Time.UnixMicro(),
		last:   events[len(events)-1].Time.UnixMicro(),
	})
}

// encode appends the block's data to buf: blockFormat, then each event as
//
//	flags byte (blockFlagNonce)
//	time: signed varint, microseconds after the event before (the first: after first)
//	appID: signed varint, the difference from the event before's
//	userID, actor, clientIP, requestID, reason: each a uvarint of the bytes
//	  it shares at its start with the event before's, a uvarint length and
//	  the bytes that follow
//	expire: signed varint, seconds after the event's time in seconds
//	nonce (when flagged): signed varint
//
// Events of a batch share most of their bytes with the one before: the
// actor is "user:" and the userID, request IDs a per-process prefix and a
// counter, the client IP and app the same. A token event takes 25–40 bytes.
func (b *block) encode(buf []byte) []byte {
	buf = append(buf, blockFormat)
	var prev Event
	prevAt := b.first
	for i := range b.events {
		e := &b.events[i]
		var flags byte
		if e.Nonce != nil {
			flags |= blockFlagNonce
		}
		buf = append(buf, flags)
		at := e.Time.UnixMicro()
		buf = binary.AppendVarint(buf, at-prevAt)
		buf = binary.AppendVarint(buf, int64(e.AppID)-int64(prev.AppID))
		buf = appendText(buf, prev.UserID, e.UserID)
		buf = appendText(buf, prev.Actor, e.Actor)
		buf = appendText(buf, prev.ClientIP, e.ClientIP)
		buf = appendText(buf, prev.RequestID, e.RequestID)
		buf = appendText(buf, prev.Reason, e.Reason)
		buf = binary.AppendVarint(buf, e.Expire-floorDiv(at, 1e6))
		if e.Nonce != nil {
			buf = binary.AppendVarint(buf, int64(*e.Nonce))
		}
		prev, prevAt = *e, at
	}
	return buf
}

// users returns the distinct userIDs of the block's events but "", sorted.
func (b *block) users() []string {
	us := make([]string, 0, len(b.events))
	for i := range b.events {
		if u := b.events[i].UserID; u != "" {
			us = append(us, u)
		}
	}
	slices.Sort(us)
	return slices.Compact(us)
}

// appendText appends s as the bytes it shares with prev at the start, then
// the rest.
func appendText(buf []byte, prev, s string) []byte {
	n := 0
	for n < len(prev) && n < len(s) && prev[n] == s[n] {
		n++
	}
	buf = binary.AppendUvarint(buf, uint64(n))
	buf = binary.AppendUvarint(buf, uint64(len(s)-n))
	return append(buf, s[n:]...)
}

// floorDiv is a / b rounded down.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

var errCorruptBlock = errors.New("corrupt audit block")

// decodeBlock calls fn with each event of the block id of kind whose
// earliest event is at first and whose data is data, in its order, until fn
// returns false. The Event's strings are its own, but its Nonce points into
// memory that the next event reuses: fn copies what it keeps. A block that
// does not decode is an error, never a panic: it was read from a file.
func decodeBlock(id int64, kind string, first int64, data []byte, fn func(*Event) bool) error {
	if len(data) == 0 || data[0] != blockFormat || id < 1 || id > maxBlockID {
		return errCorruptBlock
	}
	d := decoder{buf: data[1:]}
	var e, prev Event
	var nonce int32
	at := first
	for i := int64(0); len(d.buf) > 0; i++ {
		if i == maxBlockEvents {
			return errCorruptBlock
		}
		flags := d.byte()
		at += d.varint()
		appID := int64(prev.AppID) + d.varint()
		e = Event{
			ID:        tokenIDBase + id<<blockIndexBits + i,
			Time:      time.UnixMicro(at).UTC(),
			Kind:      kind,
			AppID:     uint32(appID),
			UserID:    d.text(prev.UserID, MaxUserIDLen),
			Actor:     d.text(prev.Actor, MaxActorLen),
			ClientIP:  d.text(prev.ClientIP, MaxClientIPLen),
			RequestID: d.text(prev.RequestID, MaxRequestIDLen),
			Reason:    d.text(prev.Reason, MaxReasonLen),
			Count:     1,
		}
		e.Expire = floorDiv(at, 1e6) + d.varint()
		if flags&blockFlagNonce != 0 {
			v := d.varint()
			nonce = int32(v)
			if int64(nonce) != v {
				d.err = true
			}
			e.Nonce = &nonce
		}
		if d.err || flags&^blockFlagNonce != 0 || appID < 0 || appID > 1<<32-1 {
			return errCorruptBlock
		}
		if !fn(&e) {
			return nil
		}
		prev = e
	}
	return nil
}

// blockUsers returns the distinct userIDs but "" of the events of a block's
// data, sorted, for the indexer. seen is scratch space, emptied. It fails
// where decodeBlock would, or on less.
func blockUsers(data []byte, seen map[string]struct{}) ([]string, error) {
	defer clear(seen)
	var users []string
	err := scanUsers(data, func(user []byte) bool {
		if _, ok := seen[string(user)]; !ok && len(user) > 0 {
			u := string(user)
			seen[u] = struct{}{}
			users = append(users, u)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(users)
	return users, nil
}

// hasUser reports whether a block's data holds an event of user, or an
// error where blockUsers would fail.
func hasUser(data []byte, user string) (bool, error) {
	found := false
	err := scanUsers(data, func(u []byte) bool {
		found = string(u) == user
		return !found
	})
	return found, err
}

// scanUsers calls fn with the userID of each event of a block's data, in
// its order, decoding no other field, until fn returns false. The slice is
// valid until fn returns.
func scanUsers(data []byte, fn func(user []byte) bool) error {
	if len(data) == 0 || data[0] != blockFormat {
		return errCorruptBlock
	}
	d := decoder{buf: data[1:]}
	var user []byte
	var other [4]int // the lengths of actor, clientIP, requestID and reason before
	limits := [4]int{MaxActorLen, MaxClientIPLen, MaxRequestIDLen, MaxReasonLen}
	for i := 0; len(d.buf) > 0; i++ {
		if i == maxBlockEvents {
			return errCorruptBlock
		}
		flags := d.byte()
		d.varint() // time
		d.varint() // appID
		shared := d.uvarint(len(user))
		rest := d.uvarint(MaxUserIDLen - shared)
		if d.err || rest > len(d.buf) {
			return errCorruptBlock
		}
		user = append(user[:shared], d.buf[:rest]...)
		d.buf = d.buf[rest:]
		for j := range other {
			shared := d.uvarint(other[j])
			rest := d.uvarint(limits[j] - shared)
			if d.err || rest > len(d.buf) {
				return errCorruptBlock
			}
			other[j] = shared + rest
			d.buf = d.buf[rest:]
		}
		d.varint() // expire
		if flags&blockFlagNonce != 0 {
			d.varint()
		}
		if d.err || flags&^blockFlagNonce != 0 {
			return errCorruptBlock
		}
		if !fn(user) {
			return nil
		}
	}
	return nil
}

// decoder reads a block's data; err records the first malformed field, after
// which every read returns zero values.
type decoder struct {
	buf []byte
	err bool
}

func (d *decoder) byte() byte {
	if d.err || len(d.buf) == 0 {
		d.err = true
		return 0
	}
	c := d.buf[0]
	d.buf = d.buf[1:]
	return c
}

func (d *decoder) varint() int64 {
	if d.err {
		return 0
	}
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.err = true
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) uvarint(limit int) int {
	if d.err {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 || v > uint64(limit) {
		d.err = true
		return 0
	}
	d.buf = d.buf[n:]
	return int(v)
}

// text reads a field written by appendText after prev, at most limit bytes.
func (d *decoder) text(prev string, limit int) string {
	shared := d.uvarint(len(prev))
	rest := d.uvarint(limit - shared)
	if d.err || rest > len(d.buf) {
		d.err = true
		return ""
	}
	s := prev[:shared] + string(d.buf[:rest])
	d.buf = d.buf[rest:]
	return s
}

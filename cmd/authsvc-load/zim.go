package main

import (
	"crypto/sha1"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// zimSigner writes before_send_msg callbacks as ZIM sends them, each with a
// fresh nonce and signed with the callback secret (SHA-1 of the secret, the
// timestamp and the nonce, sorted and joined), from the run's provisioned
// users in turn.
type zimSigner struct {
	appID  string
	secret string
	runID  string
	users  int
	nonces atomic.Int64
	prefix string // of nonces: unique to the run, so two runs never collide
}

func newZIMSigner(appID uint32, secret, runID string, users int) *zimSigner {
	return &zimSigner{appID: strconv.FormatUint(uint64(appID), 10), secret: secret, runID: runID, users: users,
		prefix: strconv.FormatUint(uint64(time.Now().UnixNano()%1e9), 10)}
}

// body is the next callback of client c. The userIDs and nonces are
// digits and letters, so they need no JSON escaping.
func (z *zimSigner) body(c *client) []byte {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	nonce := z.prefix + strconv.FormatInt(z.nonces.Add(1), 10)
	parts := []string{z.secret, ts, nonce}
	slices.Sort(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	user := (c.id + c.next) % z.users
	c.next = (c.next + 1) % z.users
	b := make([]byte, 0, 320)
	b = append(b, `{"appid":"`...)
	b = append(b, z.appID...)
	b = append(b, `","event":"before_send_msg","nonce":"`...)
	b = append(b, nonce...)
	b = append(b, `","timestamp":`...)
	b = append(b, ts...)
	b = append(b, `,"signature":"`...)
	b = hex.AppendEncode(b, sum[:])
	b = append(b, `","from_user_id":"load-`...)
	b = append(b, z.runID...)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(user), 10)
	b = append(b, `","conv_id":"load","conv_type":0,"msg_id":"`...)
	b = append(b, nonce...)
	b = append(b, `","msg_type":1,"msg_body":"hello"}`...)
	return b
}

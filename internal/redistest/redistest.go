// Package redistest gives tests a real Redis: the server named by
// AUTHSVC_TEST_REDIS_URL, and a key prefix of their own on it.
//
// Without the variable a test is skipped, so go test passes on a bare
// machine; with AUTHSVC_REQUIRE_REDIS=1 (as CI sets it) it fails instead, so
// a missing Redis cannot pass for a green run. Tests share the server and
// its database: each keeps to its Prefix and deletes its keys at the end,
// and none may run FLUSHDB or FLUSHALL.
package redistest

import (
	"context"
	"crypto/rand"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Required reports whether a missing Redis fails the test rather than
// skipping it (AUTHSVC_REQUIRE_REDIS=1).
func Required() bool { return os.Getenv("AUTHSVC_REQUIRE_REDIS") == "1" }

// URL returns AUTHSVC_TEST_REDIS_URL, skipping tb when it is unset, or
// failing it when Required.
func URL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("AUTHSVC_TEST_REDIS_URL")
	if u == "" {
		if Required() {
			tb.Fatal("AUTHSVC_TEST_REDIS_URL is unset, and AUTHSVC_REQUIRE_REDIS=1")
		}
		tb.Skip("AUTHSVC_TEST_REDIS_URL is unset (e.g. redis://127.0.0.1:6379/0)")
	}
	return u
}

// Client returns a client of the test Redis, checked with a PING and closed
// by tb's cleanup.
func Client(tb testing.TB) *redis.Client {
	tb.Helper()
	opt, err := redis.ParseURL(URL(tb))
	if err != nil {
		tb.Fatalf("AUTHSVC_TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	tb.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		tb.Fatalf("AUTHSVC_TEST_REDIS_URL: ping: %v", err)
	}
	return c
}

// Prefix returns a key prefix no other test uses, such as
// "test:3f9c…:", and deletes every key under it when tb ends.
func Prefix(tb testing.TB) string {
	tb.Helper()
	c := Client(tb)
	p := "test:" + rand.Text() + ":"
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// Libraries put their own prefix first (redis_rate writes
		// "rate:<key>"), so match the test's prefix anywhere.
		iter := c.Scan(ctx, 0, "*"+p+"*", 100).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			tb.Errorf("delete the test's Redis keys: %v", err)
		}
	})
	return p
}

// Keys returns the keys holding prefix anywhere in their name.
func Keys(tb testing.TB, c *redis.Client, prefix string) []string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var keys []string
	iter := c.Scan(ctx, 0, "*"+prefix+"*", 100).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		tb.Fatalf("scan Redis keys: %v", err)
	}
	return keys
}

package tokenvectors

import (
	"strings"
	"testing"
)

// TestAll checks that the embedded file parses and that every vector is
// complete, so a test that ranges over All never passes vacuously.
func TestAll(t *testing.T) {
	t.Parallel()
	vs := All()
	variants := map[string]int{}
	for i, v := range vs {
		if v.Generator == "" || len(v.Secret) != 32 || !strings.HasPrefix(v.Token, "04") ||
			v.Want.AppID == 0 || v.Want.UserID == "" || v.Want.Expire <= v.Want.Ctime {
			t.Errorf("vector %d = %+v, want every field set", i, v)
		}
		variants[v.Want.Variant]++
	}
	if variants["cbc"] == 0 || variants["gcm"] == 0 || len(variants) != 2 {
		t.Errorf("variants %v, want both cbc and gcm and no other", variants)
	}
	vs[0].Token = "changed"
	if All()[0].Token == "changed" {
		t.Error("All shares its slice between calls")
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{``, `[]`, `{}`, `[{"token":"04","extra":1}]`} {
		if _, err := parse([]byte(in)); err == nil {
			t.Errorf("parse(%q) = nil error, want one", in)
		}
	}
}

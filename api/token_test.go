package api

import (
	"encoding/json"
	"testing"
)

// TestRequestsLeaveOutNil: a Go client marshalling a request sends no null
// for what it left unset, since the server refuses a null.
func TestRequestsLeaveOutNil(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   any
		want string
	}{
		{TokenRequest{}, `{}`},
		{RenewRequest{Token: "04x"}, `{"token":"04x"}`},
		{VerifyRequest{Token: "04x"}, `{"token":"04x"}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.in)
		if err != nil || string(b) != tt.want {
			t.Errorf("json.Marshal(%#v) = %s, %v, want %s", tt.in, b, err, tt.want)
		}
	}
}

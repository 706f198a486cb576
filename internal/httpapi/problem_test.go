package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"authsvc/internal/apps"
	"authsvc/internal/audit"
	"authsvc/internal/idp"
	"authsvc/internal/token"
	"authsvc/internal/users"
)

// TestToProblem pins the error table: each domain error, however wrapped,
// becomes one status and code, with no help from the handler that returned
// it, so that another front end can render the same classification.
func TestToProblem(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error { return fmt.Errorf("renew: %w", err) }
	tests := []struct {
		err  error
		want problem
		ok   bool
	}{
		{wrap(token.ErrExpired), problem{Status: 400, Code: codeInvalidToken, Detail: "renew: token expired (zim error 6000106, rtc error 1002078)",
			Reason: "expired", ZIMErrorCode: 6000106, RTCErrorCode: 1002078}, true},
		{fmt.Errorf("%w: 10 s", token.ErrTTLTooShort), problem{Status: 400, Code: codeInvalidTTL, Detail: "token lifetime too short (zim error 6000108): 10 s",
			Reason: "ttl_too_short", ZIMErrorCode: 6000108}, true},
		{token.ErrTTLTooLong, problem{Status: 400, Code: codeInvalidTTL, Detail: token.ErrTTLTooLong.Error(), Reason: "ttl_too_long", ZIMErrorCode: 6000109}, true},
		{wrap(&apps.UnknownAppError{ID: 9}), problem{Status: 400, Code: codeInvalidAppID, Detail: "app 9 is not configured",
			Errors: []fieldProblem{{Field: "appID", Code: codeInvalidAppID, Message: "app 9 is not configured"}}}, true},
		{&apps.TTLError{Requested: 5, Min: 60, Max: 3600}, problem{Status: 400, Code: codeInvalidTTL, Detail: "effectiveTimeInSeconds must be from 60 to 3600",
			Errors: []fieldProblem{{Field: "effectiveTimeInSeconds", Code: codeInvalidTTL, Message: "effectiveTimeInSeconds must be from 60 to 3600"}}}, true},
		{&audit.QueryError{Field: "limit", Message: "too big"}, problem{Status: 400, Code: codeInvalidLimit, Detail: "too big",
			Errors: []fieldProblem{{Field: "limit", Code: codeInvalidLimit, Message: "too big"}}}, true},
		{&audit.QueryError{Field: "after", Message: "bad cursor"}, problem{Status: 400, Code: codeInvalidAfter, Detail: "bad cursor",
			Errors: []fieldProblem{{Field: "after", Code: codeInvalidAfter, Message: "bad cursor"}}}, true},
		{wrap(users.ErrNotFound), problem{Status: 404, Code: codeUserNotFound, Detail: "no such user"}, true},
		{users.ErrExists, problem{Status: 409, Code: codeUserExists, Detail: "a user with this userID already exists"}, true},
		{&http.MaxBytesError{Limit: 10}, problem{Status: 413, Code: codePayloadTooLarge, Detail: "request body is larger than 10 bytes"}, true},
		{wrap(errForbidden), *errForbidden, true},
		{wrap(errWrongCurrentPassword), problem{Status: 403, Code: codeInvalidCredentials, Detail: "currentPassword is wrong"}, true},
		{wrap(users.ErrInvalidCredentials), problem{Status: 401, Code: codeInvalidCredentials, Detail: "unknown user or wrong password"}, true},
		{wrap(&rateLimitedError{retryAfter: 1500 * time.Millisecond}), problem{Status: 429, Code: codeRateLimited,
			Detail: "too many requests; retry in 2 s", retryAfter: 2}, true},
		{&rateLimitedError{retryAfter: time.Minute}, problem{Status: 429, Code: codeRateLimited,
			Detail: "too many requests; retry in 60 s", retryAfter: 60}, true},
		{fmt.Errorf("verify: %w", idp.ErrExpired), problem{Status: 401, Code: codeUnauthorized,
			Detail: "identity provider token refused: expired", Reason: "expired"}, true},
		{&claimError{claim: "email"}, problem{Status: 403, Code: codeForbidden,
			Detail: `the identity provider token has no "email" claim to map to a userID`}, true},
		{&claimError{claim: "sub", invalid: errors.New("bad byte")}, problem{Status: 403, Code: codeForbidden,
			Detail: `the "sub" claim cannot be used as a ZIM userID (bad byte); the service can derive one instead (AUTHSVC_JWT_USER_ID=hash)`}, true},
		{wrap(&users.UnregisteredError{ID: "carol"}), problem{Status: 403, Code: codeUserNotFound, Detail: `user "carol" is not registered`}, true},
		{errors.New("disk on fire"), problem{Status: 500, Code: codeInternal, Detail: "internal error"}, false},
	}
	for _, tt := range tests {
		p, ok := toProblem(tt.err)
		if ok != tt.ok {
			t.Errorf("toProblem(%v) ok = %t, want %t", tt.err, ok, tt.ok)
		}
		if diff := cmp.Diff(tt.want, *p, cmp.AllowUnexported(problem{})); diff != "" {
			t.Errorf("toProblem(%v) mismatch (-want +got):\n%s", tt.err, diff)
		}
	}
}

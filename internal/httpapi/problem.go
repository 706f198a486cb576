package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"authsvc/api"
	"authsvc/internal/apps"
	"authsvc/internal/audit"
	"authsvc/internal/idp"
	"authsvc/internal/token"
	"authsvc/internal/users"
)

// Problem codes. They are part of the API contract (api/openapi.yaml lists
// them): clients branch on them, so they never change meaning.
const (
	codeInvalidRequest     = "invalid_request"
	codeInvalidUserID      = "invalid_user_id"
	codeInvalidAppID       = "invalid_app_id"
	codeInvalidTTL         = "invalid_ttl"
	codeInvalidRoom        = "invalid_room"
	codeInvalidToken       = "invalid_token"
	codeInvalidLimit       = "invalid_limit"
	codeInvalidAfter       = "invalid_after"
	codeInvalidCredentials = "invalid_credentials"
	codeTooManyUsers       = "too_many_users"
	codeUserExists         = "user_exists"
	codeUserNotFound       = "user_not_found"
	codeUserDisabled       = "user_disabled"
	codeUnauthorized       = "unauthorized"
	codeForbidden          = "forbidden"
	codeNotASession        = "not_a_session"
	codeNotFound           = "not_found"
	codeMethodNotAllowed   = "method_not_allowed"
	codePayloadTooLarge    = "payload_too_large"
	codeUnsupportedMedia   = "unsupported_media_type"
	codeRateLimited        = "rate_limited"
	codeNotReady           = "not_ready"
	codeUnavailable        = "unavailable"
	codeInternal           = "internal"
	codeInvalidCallback    = "invalid_callback"
	codeInvalidSignature   = "invalid_signature"
	codeStaleCallback      = "stale_callback"
	codeReplayedCallback   = "replayed_callback"
)

// fieldProblem is one invalid field of a request.
type fieldProblem = api.FieldProblem

// problem is an RFC 9457 problem detail, and the error type handlers return
// for every failure that is the client's to fix.
type problem struct {
	Type      string         `json:"type"`
	Title     string         `json:"title"`
	Status    int            `json:"status"`
	Detail    string         `json:"detail,omitempty"`
	Code      string         `json:"code"`
	Errors    []fieldProblem `json:"errors,omitempty"`
	RequestID string         `json:"requestID,omitempty"`

	// Token failures carry the client error codes an app would have seen.
	Reason       string `json:"reason,omitempty"`
	ZIMErrorCode int    `json:"zimErrorCode,omitempty"`
	RTCErrorCode int    `json:"rtcErrorCode,omitempty"`

	retryAfter int // seconds; sets Retry-After when positive
}

func (p *problem) Error() string { return p.Code + ": " + p.Detail }

func newProblem(status int, code, format string, args ...any) *problem {
	return &problem{Status: status, Code: code, Detail: fmt.Sprintf(format, args...)}
}

func invalidField(field, code, format string, args ...any) *problem {
	msg := fmt.Sprintf(format, args...)
	return &problem{
		Status: http.StatusBadRequest, Code: code, Detail: msg,
		Errors: []fieldProblem{{Field: field, Code: code, Message: msg}},
	}
}

// toProblem maps any error a handler returns to the problem the client sees.
// It is the one place where domain errors meet HTTP. ok is false for errors
// that are not the client's fault.
func toProblem(err error) (p *problem, ok bool) {
	var ie *users.InvalidError
	var mbe *http.MaxBytesError
	var qe *audit.QueryError
	var uae *apps.UnknownAppError
	var ttle *apps.TTLError
	var te *token.Error
	var idpe *idp.Error
	var ce *claimError
	var ue *users.UnregisteredError
	var rle *rateLimitedError
	switch {
	case errors.As(err, &p):
		return p, true
	case errors.As(err, &rle):
		p = newProblem(http.StatusTooManyRequests, codeRateLimited, "%s", rle.Error())
		p.retryAfter = rle.seconds()
		return p, true
	case errors.As(err, &idpe):
		p = newProblem(http.StatusUnauthorized, codeUnauthorized, "identity provider token refused: %s", idpe.Reason)
		p.Reason = idpe.Reason
		return p, true
	case errors.As(err, &ce):
		return newProblem(http.StatusForbidden, codeForbidden, "%s", ce.Error()), true
	case errors.As(err, &ue):
		return newProblem(http.StatusForbidden, codeUserNotFound, "user %q is not registered", ue.ID), true
	case errors.As(err, &uae):
		return invalidField("appID", codeInvalidAppID, "app %d is not configured", uae.ID), true
	case errors.As(err, &ttle):
		return invalidField("effectiveTimeInSeconds", codeInvalidTTL,
			"effectiveTimeInSeconds must be from %d to %d", ttle.Min, ttle.Max), true
	case errors.As(err, &te):
		return tokenProblem(te, err), true
	case errors.As(err, &qe):
		code := codeInvalidRequest
		switch qe.Field {
		case "limit":
			code = codeInvalidLimit
		case "after":
			code = codeInvalidAfter
		}
		return invalidField(qe.Field, code, "%s", qe.Message), true
	case errors.As(err, &ie):
		p = &problem{Status: http.StatusBadRequest, Code: codeInvalidRequest, Detail: ie.Error()}
		for _, f := range ie.Fields {
			p.Errors = append(p.Errors, fieldProblem{Field: f.Field, Code: f.Code, Message: f.Message})
		}
		if len(ie.Fields) > 0 {
			p.Code = ie.Fields[0].Code
		}
		return p, true
	case errors.Is(err, errNullBody):
		return newProblem(http.StatusBadRequest, codeInvalidRequest, "%v", err), true
	case errors.Is(err, users.ErrNotFound):
		return newProblem(http.StatusNotFound, codeUserNotFound, "no such user"), true
	case errors.Is(err, users.ErrExists):
		return newProblem(http.StatusConflict, codeUserExists, "a user with this userID already exists"), true
	case errors.Is(err, errWrongCurrentPassword):
		return newProblem(http.StatusForbidden, codeInvalidCredentials, "currentPassword is wrong"), true
	case errors.Is(err, users.ErrInvalidCredentials):
		return newProblem(http.StatusUnauthorized, codeInvalidCredentials, "unknown user or wrong password"), true
	case errors.Is(err, users.ErrTooMany):
		return newProblem(http.StatusBadRequest, codeTooManyUsers, "at most %d users per import", users.MaxImport), true
	case errors.As(err, &mbe):
		return newProblem(http.StatusRequestEntityTooLarge, codePayloadTooLarge, "request body is larger than %d bytes", mbe.Limit), true
	}
	return newProblem(http.StatusInternalServerError, codeInternal, "internal error"), false
}

// tokenProblem explains why a presented token, or the parameters of a token
// to mint, were refused, with the error codes the ZIM and RTC SDKs would
// have reported. err is te with its detail.
func tokenProblem(te *token.Error, err error) *problem {
	code := codeInvalidToken
	if te == token.ErrTTLTooShort || te == token.ErrTTLTooLong {
		code = codeInvalidTTL
	}
	p := newProblem(http.StatusBadRequest, code, "%s", err.Error())
	p.Reason, p.ZIMErrorCode, p.RTCErrorCode = te.Reason, te.ZIMCode, te.RTCCode
	return p
}

// writeError answers a failed request. Errors that are not the client's
// fault are logged once, here, with the request ID; the client learns only
// that something went wrong and which request it was.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p, ok := toProblem(err)
	switch {
	case ok:
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; there is nobody to answer.
		return
	case s.unavailable(err):
		// Not a fault of ours to chase, but an operator wants to see it.
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "database unavailable",
			slog.String("request_id", requestID(r.Context())), slog.String("error", err.Error()))
		p = newProblem(http.StatusServiceUnavailable, codeUnavailable, "the database is unavailable; retry shortly")
		p.retryAfter = 1
	default:
		s.log.LogAttrs(r.Context(), slog.LevelError, "internal error",
			slog.String("request_id", requestID(r.Context())), slog.String("error", err.Error()))
	}
	s.writeProblem(w, r, p)
}

func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, p *problem) {
	out := *p
	out.Type = "about:blank"
	out.Title = http.StatusText(p.Status)
	out.RequestID = requestID(r.Context())
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	if p.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="authsvc"`)
	}
	if p.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(p.retryAfter))
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(&out)
}

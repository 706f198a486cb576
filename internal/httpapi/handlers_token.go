package httpapi

import (
	"errors"
	"net/http"
	"time"

	"authsvc/api"
	"authsvc/internal/apps"
	"authsvc/internal/audit"
	"authsvc/internal/token"
	"authsvc/internal/users"
)

// Room IDs and stream IDs follow ZEGO's RTC limits.
const (
	maxRoomIDLen   = 128
	maxStreamIDLen = 256
	maxStreamIDs   = 64
)

// roomFromPayload is the room privileges a payload carries, nil when it
// carries none.
func roomFromPayload(payload string) *api.Room {
	if payload == "" {
		return nil
	}
	room, err := token.ParseRoom(payload)
	if err != nil {
		return nil
	}
	return &api.Room{RoomID: room.RoomID, Login: room.Login, Publish: room.Publish, StreamIDs: room.StreamIDs}
}

// roomPayload validates a requested room and encodes it as a Token04
// payload; no room is the empty payload.
func roomPayload(rj *api.Room) (string, error) {
	if rj == nil {
		return "", nil
	}
	if n := len(rj.RoomID); n == 0 || n > maxRoomIDLen {
		return "", invalidField("room.roomID", codeInvalidRoom, "roomID must be 1 to %d bytes", maxRoomIDLen)
	}
	for i := 0; i < len(rj.RoomID); i++ {
		if c := rj.RoomID[i]; c <= ' ' || c >= 0x7f {
			return "", invalidField("room.roomID", codeInvalidRoom, "roomID byte %d is not printable ASCII", i)
		}
	}
	if len(rj.StreamIDs) > maxStreamIDs {
		return "", invalidField("room.streamIDs", codeInvalidRoom, "at most %d streamIDs", maxStreamIDs)
	}
	for _, sid := range rj.StreamIDs {
		if !validStreamID(sid) {
			return "", invalidField("room.streamIDs", codeInvalidRoom,
				"streamIDs must be 1 to %d bytes of ASCII letters, digits, '-' and '_'", maxStreamIDLen)
		}
	}
	return token.Room{RoomID: rj.RoomID, Login: rj.Login, Publish: rj.Publish, StreamIDs: rj.StreamIDs}.Payload(), nil
}

func validStreamID(s string) bool {
	if s == "" || len(s) > maxStreamIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// issueToken mints a Token04 for the caller, or for any registered user when
// an admin (a trusted backend) asks.
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request) error {
	err := s.issue(w, r)
	s.countFailure(err)
	return err
}

func (s *Server) issue(w http.ResponseWriter, r *http.Request) error {
	var req api.TokenRequest
	if err := decode(r, &req, true); err != nil {
		return err
	}
	target, err := s.tokenTarget(r, req.UserID)
	if err != nil {
		return err
	}
	if err := s.limit(r.Context(), s.limits.Token, limitToken, target.ID); err != nil {
		return err
	}
	app, err := s.creds.Load().appSet().Pick(req.AppID)
	if err != nil {
		return err
	}
	params, err := app.Issue(target.ID, req.EffectiveTimeInSeconds)
	if err != nil {
		return err
	}
	if params.Payload, err = roomPayload(req.Room); err != nil {
		return err
	}
	return s.mint(w, r, kindIssue, app, params, s.now(), target, req.Room)
}

// tokenTarget decides whose token this is: a user always gets their own; an
// admin must name a registered user.
func (s *Server) tokenTarget(r *http.Request, userID *string) (users.User, error) {
	p := principalFrom(r.Context())
	if !p.isAdmin() {
		if userID != nil && *userID != p.user.ID {
			return users.User{}, errForbidden
		}
		return p.user, nil
	}
	if userID == nil || *userID == "" {
		return users.User{}, invalidField("userID", codeInvalidUserID, "userID is required when an admin asks for a token")
	}
	return s.enabledUser(r, *userID)
}

// enabledUser is the registered user id, for a token an admin asks for.
func (s *Server) enabledUser(r *http.Request, id string) (users.User, error) {
	u, err := s.store.Get(r.Context(), id)
	if err != nil {
		return users.User{}, err
	}
	if u.Disabled {
		return users.User{}, errUserDisabled
	}
	return u, nil
}

// mintKind is what a token was minted for, in metrics and the audit trail.
type mintKind struct{ label, event string }

var (
	kindIssue = mintKind{"issue", audit.TokenIssued}
	kindRenew = mintKind{"renew", audit.TokenRenewed}
)

// mint mints token p of app for target, counts and records it, and writes
// it with room, the privileges p.Payload carries.
func (s *Server) mint(w http.ResponseWriter, r *http.Request, kind mintKind, app *apps.App, p token.Params, now time.Time, target users.User, room *api.Room) error {
	tok, c, err := app.Mint(s.rand, now, p)
	if err != nil {
		return err
	}
	// A room token whose room is not recorded could not be revoked from
	// the room, so it fails closed: a database that cannot record it
	// answers 503 (or 500), as any store failure does. Tokens without a
	// room cost nothing more.
	if room != nil && s.grants != nil {
		ok, err := s.grants.Grant(r.Context(), c.AppID, c.UserID, room.RoomID, time.Unix(c.ExpiresAt, 0))
		if err != nil {
			return err
		}
		if !ok {
			return errUserDisabled
		}
	}
	s.metrics.tokenIssued(app, kind.label, app.Variant)
	s.record(r, tokenEvent(kind.event, c))
	return encodeToken(w, &api.TokenResponse{
		Token:                  tok,
		AppID:                  c.AppID,
		UserID:                 c.UserID,
		UserName:               target.Name,
		IssuedAt:               c.IssuedAt,
		ExpiresAt:              c.ExpiresAt,
		EffectiveTimeInSeconds: c.ExpiresAt - c.IssuedAt,
		Room:                   room,
	})
}

// renewToken serves zim.renewToken: a new token for the same app, user and
// room privileges, whose expiry never moves backwards (the ZIM SDK rejects a
// renewal that expires earlier than the token it replaces, error 6000106),
// in the variant the app is configured with now, so that an app moved off
// CBC renews its CBC tokens into GCM ones.
//
// Failures are tallied: a caller can repeat them at will.
func (s *Server) renewToken(w http.ResponseWriter, r *http.Request) error {
	old, err := s.renew(w, r)
	if err != nil {
		s.countFailure(err)
		userID := old.UserID
		if userID != "" && !validID(userID) {
			userID = fingerprint(s.creds.Load().SessionKey, userID)
		}
		// The caller is authenticated and rate limited, so its failures
		// are not the anonymous kind that folds first.
		s.tally(r, audit.Event{Kind: audit.TokenRenewFailed, AppID: old.AppID, UserID: userID, Reason: failureReason(err)}, true)
	}
	return err
}

// renew serves renewToken. It returns the presented token's claims, as far
// as they are known, for the audit trail.
func (s *Server) renew(w http.ResponseWriter, r *http.Request) (token.Claims, error) {
	// A user's every attempt, failed ones too, counts against their token
	// limit, so bad tokens cannot be tried without bound. An admin's
	// renewal counts against the token's user, once it is known.
	if p := principalFrom(r.Context()); !p.isAdmin() {
		if err := s.limit(r.Context(), s.limits.Token, limitToken, p.user.ID); err != nil {
			return token.Claims{}, err
		}
	}
	var req api.RenewRequest
	if err := decode(r, &req, false); err != nil {
		return token.Claims{}, err
	}
	if req.Token == "" {
		return token.Claims{}, invalidField("token", codeInvalidToken, "token is required")
	}
	now := s.now()
	app, old, err := s.creds.Load().appSet().Renewable(req.Token, now, s.cfg.RenewGrace)
	if err != nil {
		return old.Claims, err
	}
	if err := s.renewed(w, r, app, old, req.EffectiveTimeInSeconds, now); err != nil {
		return old.Claims, err
	}
	return old.Claims, nil
}

// renewed mints the renewal of old, which has been verified.
func (s *Server) renewed(w http.ResponseWriter, r *http.Request, app *apps.App, old token.Verified, requested *int64, now time.Time) error {
	p := principalFrom(r.Context())
	var target users.User
	if p.isAdmin() {
		var err error
		if target, err = s.enabledUser(r, old.UserID); err != nil {
			return err
		}
		if err := s.limit(r.Context(), s.limits.Token, limitToken, target.ID); err != nil {
			return err
		}
	} else {
		if old.UserID != p.user.ID {
			return errForbidden
		}
		target = p.user // renew took from the user's bucket already
	}
	params, err := app.Renewal(old, requested, now)
	if err != nil {
		return err
	}
	return s.mint(w, r, kindRenew, app, params, now, target, roomFromPayload(old.Payload))
}

// countFailure records a failed token request by a bounded reason.
func (s *Server) countFailure(err error) {
	if err != nil {
		s.metrics.tokenFailed(failureReason(err))
	}
}

// verifyToken is the support tool for "why does my app say the token is
// invalid": it says what the token holds and what an SDK would think of it.
func (s *Server) verifyToken(w http.ResponseWriter, r *http.Request) error {
	var req api.VerifyRequest
	if err := decode(r, &req, false); err != nil {
		return err
	}
	if req.Token == "" {
		return invalidField("token", codeInvalidToken, "token is required")
	}
	v, err := s.creds.Load().appSet().Usable(req.Token, s.now(), req.AppID, req.UserID)
	resp := api.VerifyResponse{Valid: err == nil}
	if v.UserID != "" {
		nonce := v.Nonce
		resp.Variant, resp.AppID, resp.UserID = v.Variant.String(), v.AppID, v.UserID
		resp.IssuedAt, resp.ExpiresAt, resp.Nonce, resp.Payload = v.IssuedAt, v.ExpiresAt, &nonce, v.Payload
		resp.Room = roomFromPayload(v.Payload)
		resp.Secret = "current"
		if v.KeyIndex > 0 {
			resp.Secret = "previous"
		}
		authenticated := v.Variant.Authenticated()
		resp.Authenticated = &authenticated
		if !authenticated {
			resp.Warning = token.CBCWarning
		}
	} else if exp, herr := token.Expiry(req.Token); herr == nil {
		resp.ExpiresAt = exp
	}
	if err != nil {
		var te *token.Error
		if !errors.As(err, &te) {
			return err
		}
		resp.Reason, resp.ZIMErrorCode, resp.RTCErrorCode = te.Reason, te.ZIMCode, te.RTCCode
		s.metrics.tokenFailed(te.Reason)
		// Tallied like the other failures a caller can repeat at will: an
		// admin's script verifying a stream of bad tokens costs a row per
		// user, reason and minute, not one each.
		s.tally(r, audit.Event{Kind: audit.TokenVerifyFailed, AppID: v.AppID, UserID: v.UserID, Reason: te.Reason}, true)
	}
	w.Header().Set("Cache-Control", "no-store")
	return encode(w, http.StatusOK, resp)
}

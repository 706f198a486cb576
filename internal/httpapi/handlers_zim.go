package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"authsvc/internal/apps"
	"authsvc/internal/audit"
	"authsvc/internal/users"
	"authsvc/internal/zego"
)

// Reasons a before_send_msg answer gives the sender's SDK. Fixed texts: they
// reach every client whose message is refused.
const (
	reasonDisabled = "sender is disabled"
	reasonUnknown  = "sender is not registered"
)

// Verdicts, the values of authsvc_zim_messages_total's label.
const (
	verdictSend     = "send"
	verdictDisabled = "blocked_disabled"
	verdictUnknown  = "blocked_unknown"
)

// zimCallback is POST /v1/zego/callbacks/zim: ZIM's server callbacks,
// authenticated by their signature with the app's callback secret. It
// answers before_send_msg from the user cache, without writing, since ZIM
// holds every message until it answers; it turns user_action into audit
// events and the users' online state; it acknowledges every other event.
func (s *Server) zimCallback(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err // *http.MaxBytesError, or the connection failed
	}
	cb, err := zego.DecodeCallback(body)
	if err != nil {
		// zego's message names the field at fault, never a value.
		return newProblem(http.StatusBadRequest, codeInvalidCallback, "%s", err.Error())
	}
	app := s.callbackApp(cb.AppID)
	if app == nil {
		return newProblem(http.StatusNotFound, codeNotFound, "no ZIM callbacks are configured for this app")
	}
	if !cb.VerifySignature(string(app.ZIM.CallbackSecret)) {
		return newProblem(http.StatusUnauthorized, codeInvalidSignature, "the callback's signature does not verify with the app's callback secret")
	}
	now := s.now().Unix()
	if d := now - cb.Timestamp; d > callbackWindow || d < -callbackWindow {
		return newProblem(http.StatusUnauthorized, codeStaleCallback, "the callback's timestamp is %d s off our clock; at most %d s are accepted", d, callbackWindow)
	}
	key := s.replays.key(app.ID, cb.Timestamp, cb.Nonce)
	switch s.replays.admit(key, cb.Timestamp, now) {
	case replayed:
		return newProblem(http.StatusUnauthorized, codeReplayedCallback, "this callback's nonce was already used")
	case tooOld:
		return newProblem(http.StatusUnauthorized, codeStaleCallback, "the callback is older than the replay cache reaches under this load")
	}
	// Unless it is handled, in full, ZIM's retry, to this replica or
	// another, must not be refused as a replay: a failure or a panic
	// releases the callback.
	handled := false
	var shared, claim string // the shared key, and this request's claim of it
	defer func() {
		if handled {
			return
		}
		s.replays.release(key)
		if shared == "" {
			return
		}
		if err := s.nonces.Release(context.WithoutCancel(r.Context()), shared, claim); err != nil {
			s.log.LogAttrs(r.Context(), slog.LevelWarn, "ZIM callback nonce not released; its retry on another replica is refused until the window ends",
				slog.String("error", err.Error()))
		}
	}()
	if s.nonces != nil {
		var raw [8]byte
		if _, err := io.ReadFull(s.rand, raw[:]); err != nil {
			return err
		}
		shared, claim = sharedNonceKey(app.ID, cb.Timestamp, cb.Nonce), hex.EncodeToString(raw[:])
		// Held past the window's far end on this clock, and by
		// nonceSkew more for a replica whose clock is behind.
		ttl := time.Duration(cb.Timestamp+callbackWindow+nonceSkew-now) * time.Second
		fresh, err := s.nonces.Claim(r.Context(), shared, claim, ttl)
		switch {
		case err != nil:
			// Only this replica remembers it, as without Nonces; the
			// shared memory logs its outages. The claim may have been
			// made all the same: the release above still tries it.
		case !fresh:
			// Another replica holds it. This one lets it go too (above),
			// or the retry that follows a release there would find it
			// here; the other's claim stays.
			shared = ""
			return newProblem(http.StatusUnauthorized, codeReplayedCallback, "this callback's nonce was already used")
		}
	}
	switch {
	case cb.BeforeSendMsg != nil:
		err = s.beforeSendMsg(w, app, cb.BeforeSendMsg, r)
	case cb.UserAction != nil:
		err = s.userAction(w, r, app, cb)
	default:
		err = encode(w, http.StatusOK, struct{}{})
	}
	handled = err == nil
	return err
}

// nonceSkew is how far behind another replica's clock may be: a shared
// claim outlives the window by it.
const nonceSkew = 60 // seconds

// sharedNonceKey names a callback among replicas: the same on every one
// (unlike replayCache.key's seeded hash), and short whatever the nonce.
func sharedNonceKey(app uint32, ts int64, nonce string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d %d ", app, ts)
	io.WriteString(h, nonce)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// callbackApp is the app a callback names when it has a callback secret,
// else nil.
func (s *Server) callbackApp(appID string) *apps.App {
	id, err := strconv.ParseUint(appID, 10, 32)
	if err != nil {
		return nil
	}
	app := s.creds.Load().appSet().Find(uint32(id))
	if app == nil || app.ZIM.CallbackSecret == nil {
		return nil
	}
	return app
}

// beforeSendMsg answers whether ZIM may deliver a message: not when its
// sender is disabled, nor when the registry does not know them (deleted,
// or never created) unless the app allows unknown senders.
func (s *Server) beforeSendMsg(w http.ResponseWriter, app *apps.App, m *zego.BeforeSendMsg, r *http.Request) error {
	answer, verdict := zego.BeforeSendMsgAnswer{Result: zego.ResultSend}, verdictSend
	var u users.User
	err := users.ValidateID(m.FromUserID)
	if err == nil {
		u, err = s.store.Get(r.Context(), m.FromUserID)
	}
	var fe *users.FieldError
	switch {
	case err == nil && u.Disabled:
		answer, verdict = zego.BeforeSendMsgAnswer{Result: zego.ResultBlock, Reason: reasonDisabled}, verdictDisabled
	case err == nil:
	case errors.Is(err, users.ErrNotFound) || errors.As(err, &fe):
		if app.ZIM.UnknownSender == apps.BlockUnknown {
			answer, verdict = zego.BeforeSendMsgAnswer{Result: zego.ResultBlock, Reason: reasonUnknown}, verdictUnknown
		}
	default:
		return err
	}
	b, err := zego.EncodeBeforeSendMsgAnswer(answer)
	if err != nil {
		return err
	}
	s.metrics.zimVerdicts.WithLabelValues(verdict).Inc()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b)
	return err
}

// userAction records a ZIM login, logout or disconnection: the session's
// online state, and an audit event when it changed something (a retry
// changes nothing) or when the user is not in the registry.
func (s *Server) userAction(w http.ResponseWriter, r *http.Request, app *apps.App, cb zego.Callback) error {
	a := cb.UserAction
	var kind string
	switch a.Action {
	case zego.UserOnline:
		kind = audit.ZIMLogin
	case zego.UserLogout:
		kind = audit.ZIMLogout
	case zego.UserOffline:
		kind = audit.ZIMDisconnected
	default: // an action ZIM may add later: acknowledged, like other events
		return encode(w, http.StatusOK, struct{}{})
	}
	if len(a.SessionID) > users.MaxSessionIDLen {
		return newProblem(http.StatusBadRequest, codeInvalidCallback, "session_id is longer than %d bytes", users.MaxSessionIDLen)
	}
	e := audit.Event{Kind: kind, AppID: app.ID, UserID: a.UserID, Actor: "zim"}
	err := users.ValidateID(a.UserID)
	if err != nil {
		e.UserID = "" // not a userID: nothing to look up, nor to audit it under
	} else {
		_, err = s.store.Get(r.Context(), a.UserID)
	}
	var fe *users.FieldError
	switch {
	case errors.As(err, &fe) || errors.Is(err, users.ErrNotFound):
		e.Reason = "not registered"
		s.record(r, e)
	case err != nil:
		return err
	default:
		applied, err := s.store.RecordPresence(r.Context(), users.PresenceEvent{
			UserID: a.UserID, AppID: app.ID, SessionID: a.SessionID, Online: a.Action == zego.UserOnline,
			At: actionTime(a, cb.Timestamp),
		})
		if err != nil {
			return err
		}
		if applied {
			s.record(r, e)
		}
	}
	return encode(w, http.StatusOK, struct{}{})
}

// actionTime is when a user action happened, by ZIM's own account: the
// login, logout or offline time, read as milliseconds when it is that
// large and as seconds otherwise (ZIM's documents leave the unit open),
// or the callback's timestamp when the event carries none.
func actionTime(a *zego.UserAction, callbackTS int64) time.Time {
	v := a.LoginTime
	switch a.Action {
	case zego.UserLogout:
		v = a.LogoutTime
	case zego.UserOffline:
		v = a.OfflineTime
	}
	switch {
	case v >= 1e12 && v < 1e15:
		return time.UnixMilli(v)
	case v > 0 && v < 1e12:
		return time.Unix(v, 0)
	}
	return time.Unix(callbackTS, 0)
}

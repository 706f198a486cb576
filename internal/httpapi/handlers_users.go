package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"authsvc/api"
	"authsvc/internal/audit"
	"authsvc/internal/users"
)

func toUserResponse(u users.User) api.User {
	return api.User{
		UserID:       u.ID,
		UserName:     u.Name,
		AvatarURL:    u.AvatarURL,
		ExtendedData: u.ExtendedData,
		Disabled:     u.Disabled,
		CreatedAt:    api.FormatTime(u.CreatedAt),
		UpdatedAt:    api.FormatTime(u.UpdatedAt),
	}
}

func toCreateParams(n api.NewUser) users.CreateParams {
	var id string
	if n.UserID != nil {
		id = *n.UserID
	}
	return users.CreateParams{ID: id, Name: n.UserName, Password: n.Password, AvatarURL: n.AvatarURL, ExtendedData: n.ExtendedData}
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	var req api.NewUser
	if err := decode(r, &req, false); err != nil {
		if errors.Is(err, errNullBody) {
			// A script's unset variable, like an empty userID: refuse it
			// rather than create a user with an assigned ID.
			return invalidField("userID", codeInvalidUserID, "request body is null; send an object, leaving userID out to have one assigned")
		}
		return err
	}
	if req.UserID != nil && *req.UserID == "" {
		return invalidField("userID", codeInvalidUserID, "userID is empty; leave it out to have one assigned")
	}
	u, err := s.store.Create(r.Context(), toCreateParams(req))
	if err != nil {
		return err
	}
	s.record(r, audit.Event{Kind: audit.UserCreated, UserID: u.ID})
	w.Header().Set("Location", "/v1/users/"+url.PathEscape(u.ID))
	return encode(w, http.StatusCreated, toUserResponse(u))
}

func (s *Server) importUsers(w http.ResponseWriter, r *http.Request) error {
	var req api.ImportRequest
	if err := decode(r, &req, false); err != nil {
		return err
	}
	if req.Users == nil { // decode refuses null, so the field is missing
		return invalidField("users", codeInvalidRequest, "users is required")
	}
	batch := make([]users.CreateParams, len(req.Users))
	for i, u := range req.Users {
		batch[i] = toCreateParams(u)
	}
	results, err := s.store.Import(r.Context(), batch)
	if err != nil {
		return err
	}
	resp := api.ImportResponse{Results: make([]api.ImportResult, len(results))}
	for i, res := range results {
		resp.Results[i] = api.ImportResult{UserID: res.ID, Status: string(res.Status)}
		if res.Status == users.ImportCreated {
			s.record(r, audit.Event{Kind: audit.UserImported, UserID: res.ID})
		}
		if res.Err != nil {
			resp.Results[i].Error = firstFieldProblem(res.Err)
		}
	}
	return encode(w, http.StatusOK, resp)
}

// firstFieldProblem describes why an imported user was invalid.
func firstFieldProblem(err error) *fieldProblem {
	var ie *users.InvalidError
	var fe *users.FieldError
	switch {
	case errors.As(err, &ie) && len(ie.Fields) > 0:
		f := ie.Fields[0]
		return &fieldProblem{Field: f.Field, Code: f.Code, Message: f.Message}
	case errors.As(err, &fe):
		return &fieldProblem{Field: fe.Field, Code: fe.Code, Message: fe.Message}
	}
	return &fieldProblem{Code: codeInvalidRequest, Message: err.Error()}
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	opts := users.ListOptions{After: q.Get("after"), Prefix: q.Get("prefix")}
	if v := q.Get("limit"); v != "" {
		// 0 would mean the default to the store; on the wire it is a
		// mistake, as for the audit trail.
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return invalidField("limit", codeInvalidLimit, "limit must be a whole number from 1 to %d", users.MaxListLimit)
		}
		opts.Limit = n
	}
	page, err := s.store.List(r.Context(), opts)
	if err != nil {
		return err
	}
	total, err := s.store.Count(r.Context())
	if err != nil {
		return err
	}
	resp := api.UserList{Users: make([]api.User, len(page.Users)), Next: page.Next, Total: total}
	for i, u := range page.Users {
		resp.Users[i] = toUserResponse(u)
	}
	return encode(w, http.StatusOK, resp)
}

// pathUserID returns the {userID} path segment, decoded. chi matches on the
// escaped path when the request's escaping is not Go's default, and then
// hands out the segment still escaped; otherwise it is already decoded.
// Decoding twice would turn a user "a%41" into "aA".
func pathUserID(r *http.Request) (string, error) {
	id := chi.URLParam(r, "userID")
	if r.URL.RawPath != "" {
		var err error
		if id, err = url.PathUnescape(id); err != nil {
			return "", invalidField("userID", codeInvalidUserID, "userID in the path is not valid percent-encoding")
		}
	}
	if err := users.ValidateID(id); err != nil {
		var fe *users.FieldError
		if errors.As(err, &fe) {
			return "", invalidField("userID", codeInvalidUserID, "%s", fe.Message)
		}
		return "", err
	}
	return id, nil
}

// selfOrAdmin returns the target userID of a per-user route, allowing an
// admin any user and a user only themself.
func selfOrAdmin(r *http.Request) (string, *principal, error) {
	id, err := pathUserID(r)
	if err != nil {
		return "", nil, err
	}
	p := principalFrom(r.Context())
	if !p.isAdmin() && p.user.ID != id {
		return "", nil, errForbidden
	}
	return id, p, nil
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) error {
	id, p, err := selfOrAdmin(r)
	if err != nil {
		return err
	}
	u := p.user
	if p.isAdmin() {
		if u, err = s.store.Get(r.Context(), id); err != nil {
			return err
		}
	}
	resp := toUserResponse(u)
	presence, err := s.store.Presence(r.Context(), id)
	if err != nil {
		return err
	}
	resp.Online = &presence.Online
	if !presence.LastSeenAt.IsZero() {
		resp.LastSeenAt = api.FormatTime(presence.LastSeenAt)
	}
	if s.zimSync != nil {
		if resp.ZIMSync, err = s.zimSync(r.Context(), id); err != nil {
			return err
		}
	}
	return encode(w, http.StatusOK, resp)
}

type patchUserRequest struct {
	UserName     *string `json:"userName"`
	Password     *string `json:"password"`
	AvatarURL    *string `json:"avatarURL"`
	ExtendedData *string `json:"extendedData"`
	Disabled     *bool   `json:"disabled"`
	// CurrentPassword is required when users change their own password, so
	// a stolen session cannot lock the owner out.
	CurrentPassword *string `json:"currentPassword"`
}

func (s *Server) patchUser(w http.ResponseWriter, r *http.Request) error {
	id, p, err := selfOrAdmin(r)
	if err != nil {
		return err
	}
	var req patchUserRequest
	if err := decode(r, &req, false); err != nil {
		return err
	}
	if !p.isAdmin() {
		if req.Disabled != nil {
			return newProblem(http.StatusForbidden, codeForbidden, "only an admin may disable or enable a user")
		}
		if req.Password != nil {
			if req.CurrentPassword == nil {
				return invalidField("currentPassword", codeInvalidRequest, "currentPassword is required to change your own password")
			}
			if err := s.checkCurrentPassword(r, id, *req.CurrentPassword); err != nil {
				return err
			}
		}
	}
	before, u, err := s.store.Update(r.Context(), id, users.Patch{
		Name: req.UserName, Password: req.Password, AvatarURL: req.AvatarURL,
		ExtendedData: req.ExtendedData, Disabled: req.Disabled,
	})
	if err != nil {
		return err
	}
	if changed := req.changedFields(); changed != "" {
		s.record(r, audit.Event{Kind: audit.UserUpdated, UserID: id, Reason: changed})
	}
	if u.Disabled != before.Disabled {
		event := audit.UserEnabled
		if u.Disabled {
			event = audit.UserDisabled
		}
		s.record(r, audit.Event{Kind: event, UserID: id})
	}
	return encode(w, http.StatusOK, toUserResponse(u))
}

// checkCurrentPassword checks a user's own password before they change it.
// It shares the per-user login limit, so a stolen session guesses no faster
// than a login would, and tallies failures as logins do.
func (s *Server) checkCurrentPassword(r *http.Request, id, password string) error {
	err := s.limit(r.Context(), s.limits.LoginUser, limitLoginUser, id)
	if err == nil {
		_, err = s.store.CheckPassword(r.Context(), id, password)
		if errors.Is(err, users.ErrInvalidCredentials) {
			// The caller is signed in: a wrong password is forbidden, not unauthenticated.
			err = errWrongCurrentPassword
		}
	}
	if err != nil {
		s.tally(r, audit.Event{Kind: audit.PasswordFailed, UserID: id, Reason: failureReason(err)}, true)
	}
	return err
}

// errWrongCurrentPassword is a user's own wrong password on a password
// change; toProblem makes it a 403, where a wrong login is a 401.
var errWrongCurrentPassword = errors.New("currentPassword is wrong")

// changedFields names the fields a patch sets, other than disabled, for
// the audit trail (never their values).
func (req *patchUserRequest) changedFields() string {
	var names []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"userName", req.UserName != nil}, {"password", req.Password != nil},
		{"avatarURL", req.AvatarURL != nil}, {"extendedData", req.ExtendedData != nil},
	} {
		if f.set {
			names = append(names, f.name)
		}
	}
	return strings.Join(names, ",")
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUserID(r)
	if err != nil {
		return err
	}
	if err := s.store.Delete(r.Context(), id); err != nil {
		return err
	}
	s.record(r, audit.Event{Kind: audit.UserDeleted, UserID: id})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

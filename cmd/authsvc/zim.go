package main

import (
	"context"
	"errors"

	"authsvc/internal/zego"
	"authsvc/internal/zimsync"
)

// zimSender is the ZIM sync worker's Sender for one app: a zego.Client,
// with ZEGO's answers turned into one outcome per user.
type zimSender struct{ c *zego.Client }

func (s zimSender) Register(ctx context.Context, ps []zimsync.Profile) ([]zimsync.Result, error) {
	res, err := s.c.UserRegister(ctx, zegoUsers(ps))
	return results(ps, res, err)
}

func (s zimSender) Modify(ctx context.Context, ps []zimsync.Profile) ([]zimsync.Result, error) {
	res, err := s.c.ModifyUserInfo(ctx, zegoUsers(ps))
	return results(ps, res, err)
}

func zegoUsers(ps []zimsync.Profile) []zego.User {
	us := make([]zego.User, len(ps))
	for i, p := range ps {
		us[i] = zego.User{ID: p.UserID, Name: p.Name, Avatar: p.Avatar, Extra: p.Extra}
	}
	return us
}

// results gives every user of ps its outcome: OK unless ZEGO listed it as
// failed; for a call refused as a whole with a code, that code for every
// user (or each user's own, when ZEGO listed them). A call that got no
// answer ZEGO gave a code to (a timeout, a 5xx) is the error itself: the
// worker retries it as a whole.
func results(ps []zimsync.Profile, res zego.Result, err error) ([]zimsync.Result, error) {
	failed := res.Failed
	var whole zego.Code
	var message string
	if err != nil {
		var ze *zego.Error
		if !errors.As(err, &ze) || ze.Code == 0 {
			return nil, err
		}
		failed, whole, message = ze.Items, ze.Code, ze.Message
	}
	byID := make(map[string]zego.ItemError, len(failed))
	for _, f := range failed {
		byID[f.UserID] = f
	}
	out := make([]zimsync.Result, len(ps))
	for i, p := range ps {
		r := zimsync.Result{UserID: p.UserID, Outcome: zimsync.OK}
		code, msg := whole, message
		if f, ok := byID[p.UserID]; ok {
			code, msg = f.SubCode, f.SubMessage
		}
		if code != 0 {
			r.Outcome, r.Code, r.Message = outcome(code), int64(code), msg
		}
		out[i] = r
	}
	return out, nil
}

// outcome classifies one of ZEGO's codes for a user. A signature refusal
// is transient: it is the clock or a secret being rotated, not the user.
func outcome(c zego.Code) zimsync.Outcome {
	switch {
	case c.AlreadyExists():
		return zimsync.Exists
	case c.NotRegistered():
		return zimsync.NotRegistered
	case c.RateLimited():
		return zimsync.RateLimited
	case c.PermanentItem():
		return zimsync.Permanent
	}
	return zimsync.Transient
}

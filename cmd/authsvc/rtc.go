package main

import (
	"context"
	"errors"

	"authsvc/internal/zego"
	"authsvc/internal/zimsync"
)

// rtcKicker is the RTC kick-out worker's Kicker for one app: a zego.Client,
// with ZEGO's answer turned into what the worker does with the rows.
type rtcKicker struct{ c *zego.Client }

// Kickout calls KickoutUser. A call without a ZEGO code (a timeout, a
// 5xx, any HTTP answer that is not ZEGO's) is the error itself, retried;
// a code is classified, a signature refusal as transient since it is the
// clock or a secret being rotated, not the kick-out.
func (k rtcKicker) Kickout(ctx context.Context, roomID string, userIDs []string, reason string) (zimsync.Result, error) {
	_, err := k.c.KickoutUser(ctx, roomID, userIDs, reason)
	if err == nil {
		return zimsync.Result{Outcome: zimsync.OK}, nil
	}
	if errors.Is(err, zego.ErrInvalidRequest) { // refused before sending: sending again cannot help
		return zimsync.Result{Outcome: zimsync.Permanent, Message: "invalid request"}, nil
	}
	var ze *zego.Error
	if !errors.As(err, &ze) || ze.Code == 0 {
		return zimsync.Result{}, err
	}
	// Unknown codes are retried, until the worker gives up a day after the
	// grant expired: dropping a revocation on a code we cannot read would
	// leave the user in the room. Only a refusal of the request itself is
	// final.
	r := zimsync.Result{Outcome: zimsync.Transient, Code: int64(ze.Code), Message: ze.Message}
	switch {
	case zego.RateLimited(err):
		r.Outcome = zimsync.RateLimited
	case ze.Code == zego.CodeInvalidParameter:
		r.Outcome = zimsync.Permanent
	}
	return r, nil
}

package zego

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// User is a ZIM user's profile as ZIM keeps it.
type User struct {
	ID     string // ZIM userID
	Name   string // userName, at most 256 bytes
	Avatar string // avatar URL, at most 500 bytes
	// Extra is ZIM's extra data, 2 KB unless ZEGO raised the app's limit.
	// UserRegister has no such field: register, then ModifyUserInfo.
	Extra string
}

// UserRegister registers up to MaxBatch users in ZIM with their ID, name
// and avatar. A user already registered comes back with CodeUserExists,
// in Result.Failed or, when every user failed, in the *Error's Items.
func (c *Client) UserRegister(ctx context.Context, users []User) (Result, error) {
	if err := checkBatch(users); err != nil {
		return Result{}, fmt.Errorf("zego %s: %w", ActionUserRegister, err)
	}
	type item struct {
		UserID     string `json:"UserId"`
		UserName   string `json:"UserName"`
		UserAvatar string `json:"UserAvatar"`
	}
	body := struct {
		UserInfo []item `json:"UserInfo"`
	}{UserInfo: make([]item, len(users))}
	for i, u := range users {
		body.UserInfo[i] = item{u.ID, u.Name, u.Avatar}
	}
	return c.call(ctx, ActionUserRegister, c.zim, http.MethodPost, "", body)
}

// ModifyUserInfo sets the name, avatar and extra data of up to MaxBatch
// registered ZIM users. It always sends all three, so what ZIM keeps is the
// whole profile given, empty fields included. A user ZIM does not know
// comes back with CodeUserNotRegistered; ZIM tells the users' apps of the
// change.
func (c *Client) ModifyUserInfo(ctx context.Context, users []User) (Result, error) {
	if err := checkBatch(users); err != nil {
		return Result{}, fmt.Errorf("zego %s: %w", ActionModifyUserInfo, err)
	}
	type item struct {
		UserID     string `json:"UserId"`
		UserName   string `json:"UserName"`
		UserAvatar string `json:"UserAvatar"`
		Extra      string `json:"Extra"`
	}
	body := struct {
		UserInfo []item `json:"UserInfo"`
	}{UserInfo: make([]item, len(users))}
	for i, u := range users {
		body.UserInfo[i] = item{u.ID, u.Name, u.Avatar, u.Extra}
	}
	return c.call(ctx, ActionModifyUserInfo, c.zim, http.MethodPost, "", body)
}

func checkBatch(users []User) error {
	if len(users) == 0 || len(users) > MaxBatch {
		return fmt.Errorf("%w: %d users, want 1 to %d", ErrInvalidRequest, len(users), MaxBatch)
	}
	return nil
}

// KickoutUser removes 1 to MaxKickoutUsers users from an RTC room and stops
// their streams. reason, at most MaxCustomReasonBytes and possibly empty,
// reaches the removed users' SDKs.
func (c *Client) KickoutUser(ctx context.Context, roomID string, userIDs []string, reason string) (Result, error) {
	switch {
	case roomID == "":
		return Result{}, fmt.Errorf("zego %s: %w: no room ID", ActionKickoutUser, ErrInvalidRequest)
	case len(userIDs) == 0 || len(userIDs) > MaxKickoutUsers:
		return Result{}, fmt.Errorf("zego %s: %w: %d users, want 1 to %d", ActionKickoutUser, ErrInvalidRequest, len(userIDs), MaxKickoutUsers)
	case len(reason) > MaxCustomReasonBytes:
		return Result{}, fmt.Errorf("zego %s: %w: reason over %d bytes", ActionKickoutUser, ErrInvalidRequest, MaxCustomReasonBytes)
	}
	// ZEGO's array parameters repeat with brackets, written as the docs do
	// rather than percent-encoded.
	var q strings.Builder
	q.WriteString("RoomId=")
	q.WriteString(url.QueryEscape(roomID))
	for _, id := range userIDs {
		q.WriteString("&UserId[]=")
		q.WriteString(url.QueryEscape(id))
	}
	if reason != "" {
		q.WriteString("&CustomReason=")
		q.WriteString(url.QueryEscape(reason))
	}
	return c.call(ctx, ActionKickoutUser, c.rtc, http.MethodGet, q.String(), nil)
}

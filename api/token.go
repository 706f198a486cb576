package api

// Wire types of the token routes (POST /v1/token, /v1/token/renew and
// /v1/token/verify), as api/openapi.yaml defines them. The server, the CLI
// and the examples' tests share them, so a field is spelled in one place.

// Room is an RTC room's privileges, carried in a token's payload.
type Room struct {
	RoomID    string   `json:"roomID"`
	Login     bool     `json:"login"`
	Publish   bool     `json:"publish"`
	StreamIDs []string `json:"streamIDs"`
}

// Request fields that may be left out are pointers, nil when left out, and
// left out when nil: the server refuses a null.

// TokenRequest is the body of POST /v1/token. Every field is optional: nil
// means "the default" (the caller, the default app, its default lifetime, no
// room).
type TokenRequest struct {
	UserID                 *string `json:"userID,omitempty"`
	AppID                  *uint32 `json:"appID,omitempty"`
	EffectiveTimeInSeconds *int64  `json:"effectiveTimeInSeconds,omitempty"`
	Room                   *Room   `json:"room,omitempty"`
}

// TokenResponse is a minted Token04, the answer of POST /v1/token and
// POST /v1/token/renew.
type TokenResponse struct {
	Token                  string `json:"token"`
	AppID                  uint32 `json:"appID"`
	UserID                 string `json:"userID"`
	UserName               string `json:"userName"`
	IssuedAt               int64  `json:"issuedAt"`
	ExpiresAt              int64  `json:"expiresAt"`
	EffectiveTimeInSeconds int64  `json:"effectiveTimeInSeconds"`
	Room                   *Room  `json:"room,omitempty"`
}

// RenewRequest is the body of POST /v1/token/renew.
type RenewRequest struct {
	Token                  string `json:"token"`
	EffectiveTimeInSeconds *int64 `json:"effectiveTimeInSeconds,omitempty"`
}

// VerifyRequest is the body of POST /v1/token/verify.
type VerifyRequest struct {
	Token  string  `json:"token"`
	AppID  *uint32 `json:"appID,omitempty"`
	UserID *string `json:"userID,omitempty"`
}

// VerifyResponse is what POST /v1/token/verify says about a token: whether
// an SDK would accept it, and if not, why, with the SDKs' error codes.
type VerifyResponse struct {
	Valid        bool   `json:"valid"`
	Reason       string `json:"reason,omitempty"`
	ZIMErrorCode int    `json:"zimErrorCode,omitempty"`
	RTCErrorCode int    `json:"rtcErrorCode,omitempty"`
	Variant      string `json:"variant,omitempty"`
	AppID        uint32 `json:"appID,omitempty"`
	UserID       string `json:"userID,omitempty"`
	IssuedAt     int64  `json:"issuedAt,omitempty"`
	ExpiresAt    int64  `json:"expiresAt,omitempty"`
	Nonce        *int32 `json:"nonce,omitempty"`
	Payload      string `json:"payload,omitempty"`
	Room         *Room  `json:"room,omitempty"`
	Secret       string `json:"secret,omitempty"` // "current" or "previous": which secret authenticated it
	// Authenticated says whether the claims above are proof of what the
	// secret's holder minted: false for CBC, which has no integrity check.
	Authenticated *bool  `json:"authenticated,omitempty"`
	Warning       string `json:"warning,omitempty"`
}

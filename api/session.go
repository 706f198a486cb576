package api

// SessionRequest is the body of POST /v1/sessions: a user's password login.
type SessionRequest struct {
	UserID   string `json:"userID"`
	Password string `json:"password"`
}

// SessionResponse is a session token, the answer of POST /v1/sessions.
type SessionResponse struct {
	AccessToken string `json:"accessToken"`
	TokenType   string `json:"tokenType"`
	ExpiresIn   int64  `json:"expiresIn"`
	UserID      string `json:"userID"`
}

// Package zego speaks ZEGO's server-side protocols: the signed server API of
// ZIM and RTC (register and modify ZIM users, remove users from an RTC room),
// and the callbacks ZIM sends to the business server (authenticate them,
// decode them, answer before_send_msg).
//
// It is a leaf: it imports only the standard library and nothing of authsvc,
// so the outbox worker, the CLI and the HTTP route can all build on it. It
// keeps no state beyond a Client's pacers; a call's timestamp and nonce
// come from the clock and random source Config injects, while pacing runs
// on the time package, which testing/synctest fakes. It never puts the
// ServerSecret, a callback secret or a request signature in an error.
//
// # Calling the server API
//
// NewClient takes a Config naming the app, its ServerSecret, the base URL of
// each product (DefaultZIMURL, DefaultRTCURL or a regional host; tests pass an
// httptest URL), an *http.Client with a timeout, a clock and a random source.
// Each call carries the common query parameters (Action, AppId,
// SignatureNonce, Timestamp, SignatureVersion, Signature) with a fresh
// 16-hex-character nonce; POST actions send their parameters as a JSON body,
// GET actions in the query.
//
//	res, err := c.UserRegister(ctx, []zego.User{{ID: "u1", Name: "Ann"}})
//
// A call returns a Result when ZEGO answered Code 0: the call succeeded for
// every user except those in Result.Failed, each with ZEGO's SubCode. Any
// other outcome is an *Error: ZEGO's non-zero Code (with Items when every
// user of a batch failed), an HTTP status, or a transport failure. Read it
// with errors.As and classify it with the Code methods (RateLimited,
// AlreadyExists, NotRegistered, PermanentItem, Signature) and with
// Transient, which says whether the same call may succeed later unchanged.
// Argument mistakes the client can see itself (an empty or oversized batch)
// are ErrInvalidRequest and never reach ZEGO.
//
// # Pacing
//
// ZEGO limits each action to 20 calls per second per app and answers
// 660700001 or 660300005 beyond that. A Client paces every action on its
// own: a call waits (honouring ctx) until its action has a free slot, at
// most Config.Rate calls per second, evenly spaced. After a rate-limited
// answer the client holds that action for one second by itself; a caller
// that knows better, say a worker backing off after repeated rate-limited
// answers, calls Hold to pause an action longer. Pacing is per Client, so
// per process, unless Config.Shared counts the calls of every replica
// sharing the app, as ZEGO does; without it they must expect rate-limited
// answers and back off on them. RTC allows KickoutUser
// 50 calls per second; it is paced at Config.Rate too, kick-outs being
// rare.
//
// # Callbacks
//
// ZIM signs a callback with SHA-1 over the sorted callback secret, timestamp
// and nonce; VerifyCallbackSignature checks it in constant time. The
// signature does not cover the body, so a receiver must also refuse stale
// timestamps and replayed nonces (the HTTP layer keeps that window).
// DecodeCallback reads a body of at most MaxCallbackBytes into a Callback:
// the common fields always, BeforeSendMsg or UserAction for those events,
// and the remaining raw fields for any other event. It never panics and
// refuses what is not a JSON object with the common fields. Answer
// before_send_msg with EncodeBeforeSendMsgAnswer.
package zego

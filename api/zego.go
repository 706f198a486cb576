package api

// ZIMCallbackAnswer is the answer to a ZIM callback: the verdict on a
// before_send_msg (Result 1, send, or 3, do not send, with the Reason the
// sender's SDK gets), and the empty object for every other event.
type ZIMCallbackAnswer struct {
	Result int    `json:"result,omitempty"`
	Reason string `json:"reason,omitempty"`
}

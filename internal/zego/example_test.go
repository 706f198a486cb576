package zego_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"authsvc/internal/zego"
	"authsvc/internal/zego/zegofake"
)

// A sync worker registers users and turns "already exists" into a modify.
func ExampleClient_UserRegister() {
	fake := zegofake.New(zegofake.Options{AppID: 1, ServerSecret: secret})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	fake.PutUser(zegofake.User{ID: "bob"})

	c, err := zego.NewClient(zego.Config{
		AppID: 1, ServerSecret: secret, ZIMURL: srv.URL, RTCURL: srv.URL,
		HTTPClient: &http.Client{Timeout: 10 * time.Second}, Now: time.Now, Rand: rand.Reader,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	users := []zego.User{{ID: "ann", Name: "Ann"}, {ID: "bob", Name: "Bob"}}
	res, err := c.UserRegister(ctx, users)
	var ze *zego.Error
	switch {
	case errors.As(err, &ze) && zego.Transient(err):
		fmt.Println("retry later:", ze.Code, ze.Status)
	case err != nil:
		fmt.Println("failed:", err)
	}
	for _, f := range res.Failed {
		if f.SubCode.AlreadyExists() {
			_, err := c.ModifyUserInfo(ctx, []zego.User{{ID: f.UserID, Name: "Bob"}})
			fmt.Println("modified", f.UserID, err)
		}
	}
	u, _ := fake.User("bob")
	fmt.Println(u.Name)
	// Output:
	// modified bob <nil>
	// Bob
}

// The callback route authenticates, decodes and answers.
func ExampleDecodeCallback() {
	body := []byte(`{"appid":"1","event":"before_send_msg","nonce":"123412","timestamp":1470820198,
		"signature":"5bd59fd62953a8059fb7eaba95720f66d19e4517","from_user_id":"ann","conv_id":"bob",
		"conv_type":0,"msg_id":"1","msg_type":1,"msg_body":"hi"}`)
	cb, err := zego.DecodeCallback(body)
	if err != nil {
		fmt.Println("400:", err)
		return
	}
	if !cb.VerifySignature("secret") {
		fmt.Println("401")
		return
	}
	answer := zego.BeforeSendMsgAnswer{Result: zego.ResultSend}
	if cb.BeforeSendMsg.FromUserID == "ann" { // say ann is disabled
		answer = zego.BeforeSendMsgAnswer{Result: zego.ResultBlock, Reason: "user disabled"}
	}
	out, _ := zego.EncodeBeforeSendMsgAnswer(answer)
	fmt.Println(string(out))
	// Output: {"result":3,"reason":"user disabled"}
}

package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"authsvc/api"
	"authsvc/internal/token"
	"authsvc/internal/users"
)

const tokenUsage = `Usage: authsvc token <command> [flags]

Mint or inspect a ZEGO Token04 offline.

Commands:
  mint --app-id N --user-id U [--rtc] [--ttl 1h] [--legacy] [--json]
       [--room R [--login] [--publish] [--stream S]... | --payload STRING]
  decode TOKEN      decode and check TOKEN; - reads it from standard input

The ServerSecret comes from --secret-file F, else $AUTHSVC_SERVER_SECRET,
else the file named by $AUTHSVC_SERVER_SECRET_FILE; never from a plain flag.
Run 'authsvc token <command> -h' for the flags of a command.
`

const secretEnv = "AUTHSVC_SERVER_SECRET"

// runToken implements "authsvc token mint|decode".
func runToken(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := tokenCmd{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr, now: time.Now, rand: rand.Reader}
	return c.run(args)
}

// tokenCmd is "authsvc token" with its clock and randomness as fields, so
// that tests can fix them.
type tokenCmd struct {
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
	now            func() time.Time
	rand           io.Reader
}

func (c tokenCmd) run(args []string) error {
	if len(args) == 0 {
		return usageError("token: missing command (mint or decode)\nrun 'authsvc token help' for its commands")
	}
	switch args[0] {
	case "mint":
		return c.mint(args[1:])
	case "decode":
		return c.decode(args[1:])
	case "help", "-h", "-help", "--help":
		fmt.Fprint(c.stdout, tokenUsage)
		return nil
	default:
		return usageError("token: unknown command %q\nrun 'authsvc token help' for its commands", args[0])
	}
}

// key reads the ServerSecret and prepares it. ok is false when no secret
// is configured.
func (c tokenCmd) key(file string) (key *token.Key, ok bool, err error) {
	secret, ok, err := readSecretFrom(c.getenv, secretEnv, file, "--secret-file")
	if err != nil || !ok {
		return nil, false, err
	}
	key, err = token.NewKey(secret)
	return key, err == nil, err
}

const noSecret = "no ServerSecret: set " + secretEnv + " or " + secretEnv + "_FILE, or pass --secret-file"

// stringsFlag is a flag that may be repeated.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }
func (s *stringsFlag) Type() string       { return "string" }

// mintAbout is the help of "token mint": which userID rule applies.
const mintAbout = `Mints a Token04 offline with the app's ServerSecret.

The userID follows ZIM's rule, which the user registry enforces too: 1 to 32
bytes of ASCII letters, digits and ` + users.IDPunctuation + ` .
With --rtc it follows RTC's instead: 1 to 64 bytes of UTF-8 (a token for
RTC only; ZIM refuses such an ID).`

func (c tokenCmd) mint(args []string) error {
	cmd := newCommand("token mint", "token mint --app-id N --user-id U [flags]", mintAbout, c.getenv, c.stderr)
	fs := cmd.fs
	cmd.addUint32("app-id", "ZEGO appID, 1 to 4294967295 (required)")
	userID := fs.String("user-id", "", "userID (required): ZIM's rule, or RTC's with --rtc")
	rtc := fs.Bool("rtc", false, "allow RTC's userID rule, 1 to 64 bytes, instead of ZIM's")
	cmd.addDuration("ttl", "1h", "lifetime in whole seconds, from 31s to 576h (24d)")
	legacy := fs.Bool("legacy", false, "mint the legacy AES-CBC variant, for old SDKs only")
	room := fs.String("room", "", "RTC room ID: carry room privileges as the payload")
	login := fs.Bool("login", false, "with --room: may log in to the room")
	publish := fs.Bool("publish", false, "with --room: may publish streams")
	var streams stringsFlag
	fs.Var(&streams, "stream", "with --room: a stream ID that may be published; repeat for more")
	payload := fs.String("payload", "", "raw payload string, passed on as it is (not with --room)")
	asJSON := fs.Bool("json", false, "print JSON instead of the bare token")
	secretFile := fs.String("secret-file", "", "file holding the 32-byte ServerSecret")
	pos, err := cmd.parseFlags(args)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case len(pos) > 0:
		return cmd.usageError("unexpected argument %q", pos[0])
	case !set["app-id"] || *userID == "":
		return cmd.usageError("--app-id and --user-id are required")
	case set["room"] && set["payload"]:
		return cmd.usageError("--room and --payload exclude each other")
	case !set["room"] && (set["login"] || set["publish"] || set["stream"]):
		return cmd.usageError("--login, --publish and --stream need --room")
	case set["room"] && *room == "":
		return cmd.usageError("--room must not be empty")
	}
	appID, err := cmd.uint32("app-id")
	if err != nil {
		return cmd.usageError("%v", err)
	}
	ttl, err := cmd.duration("ttl")
	if err != nil {
		return cmd.usageError("%v", err)
	}
	if ttl%time.Second != 0 {
		return cmd.usageError("--ttl must be whole seconds, got %v", ttl)
	}
	if !*rtc {
		if err := users.ValidateID(*userID); err != nil {
			return cmd.usageError("--user-id: %v (ZIM's rule; --rtc allows RTC's, up to %d bytes)", err, token.MaxUserIDLen)
		}
	}
	p := token.Params{
		AppID:         appID,
		UserID:        *userID,
		EffectiveTime: int64(ttl / time.Second),
		Payload:       *payload,
		Variant:       token.GCM,
	}
	if *legacy {
		p.Variant = token.CBC
	}
	if set["room"] {
		r := token.Room{RoomID: *room, Login: *login, Publish: *publish}
		if len(streams) > 0 {
			r.StreamIDs = streams
		}
		p.Payload = r.Payload()
	}

	key, ok, err := c.key(*secretFile)
	switch {
	case err != nil:
		return &exitError{code: 1, err: fmt.Errorf("token mint: %w", err)}
	case !ok:
		return cmd.usageError("%s", noSecret)
	}
	tok, claims, err := key.Mint(c.rand, c.now(), p)
	if err != nil {
		var te *token.Error
		if errors.As(err, &te) {
			// Every *token.Error from Mint is about a flag's value.
			return cmd.usageError("%v", err)
		}
		return &exitError{code: 1, err: fmt.Errorf("token mint: %w", err)}
	}
	if !*asJSON {
		_, err = fmt.Fprintln(c.stdout, tok)
		return err
	}
	return writeJSON(c.stdout, struct {
		Token     string `json:"token"`
		AppID     uint32 `json:"appID"`
		UserID    string `json:"userID"`
		IssuedAt  int64  `json:"issuedAt"`
		ExpiresAt int64  `json:"expiresAt"`
		Variant   string `json:"variant"`
	}{tok, claims.AppID, claims.UserID, claims.IssuedAt, claims.ExpiresAt, p.Variant.String()})
}

// decoded is what "token decode" prints for an authentic token.
type decoded struct {
	Variant   string    `json:"variant"`
	AppID     uint32    `json:"appID"`
	UserID    string    `json:"userID"`
	Ctime     int64     `json:"ctime"`
	Expire    int64     `json:"expire"`
	Nonce     int32     `json:"nonce"`
	Payload   string    `json:"payload"`
	Room      *api.Room `json:"room,omitempty"`
	Expired   bool      `json:"expired"`
	ExpiresIn int64     `json:"expiresIn"` // seconds, negative once expired
	// Authenticated is false for CBC, whose claims anyone who saw the
	// token could have changed; Warning then says so.
	Authenticated bool   `json:"authenticated"`
	Warning       string `json:"warning,omitempty"`
}

// header is what "token decode" prints without a secret.
type header struct {
	Expire    int64 `json:"expire"`
	Expired   bool  `json:"expired"`
	ExpiresIn int64 `json:"expiresIn"`
}

// maxTokenInput bounds what decode reads from standard input; real tokens
// are well under a kilobyte, the format's limit under 90 KB.
const maxTokenInput = 1 << 20

func (c tokenCmd) decode(args []string) error {
	cmd := newCommand("token decode", "token decode [--secret-file F] TOKEN",
		"Decodes and checks TOKEN; a TOKEN of - is read from standard input.\n"+
			"Exit status: 0 valid and unexpired, 1 invalid or expired, 2 usage error.", c.getenv, c.stderr)
	secretFile := cmd.fs.String("secret-file", "", "file holding the 32-byte ServerSecret")
	pos, err := cmd.parseFlags(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return cmd.usageError("want one TOKEN, got %d arguments", len(pos))
	}
	tok := pos[0]
	if tok == "-" {
		b, err := io.ReadAll(io.LimitReader(c.stdin, maxTokenInput))
		if err != nil {
			return &exitError{code: 1, err: fmt.Errorf("token decode: read standard input: %w", err)}
		}
		tok = strings.TrimSpace(string(b))
	}
	if tok == "" {
		return cmd.usageError("empty token")
	}

	key, ok, err := c.key(*secretFile)
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("token decode: %w", err)}
	}
	now := c.now().Unix()
	if !ok {
		exp, err := token.Expiry(tok)
		if err != nil {
			return &exitError{code: 1, err: fmt.Errorf("token decode: %w", err)}
		}
		if err := writeIndented(c.stdout, header{Expire: exp, Expired: exp <= now, ExpiresIn: exp - now}); err != nil {
			return err
		}
		return &exitError{code: 1, err: errors.New("token decode: authenticity not checked: " + noSecret)}
	}

	v, err := token.Verify(tok, []*token.Key{key}, time.Unix(now, 0), token.Expect{})
	if v.Variant != 0 { // authentic, even if err says it is expired
		out := decoded{
			Variant: v.Variant.String(), AppID: v.AppID, UserID: v.UserID, Ctime: v.IssuedAt, Expire: v.ExpiresAt,
			Nonce: v.Nonce, Payload: v.Payload, Expired: v.ExpiresAt <= now, ExpiresIn: v.ExpiresAt - now,
			Authenticated: v.Variant.Authenticated(),
		}
		if !out.Authenticated {
			out.Warning = token.CBCWarning
		}
		if r, err := token.ParseRoom(v.Payload); err == nil {
			out.Room = &api.Room{RoomID: r.RoomID, Login: r.Login, Publish: r.Publish, StreamIDs: r.StreamIDs}
		}
		if err := writeIndented(c.stdout, out); err != nil {
			return err
		}
	}
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("token decode: %w", err)}
	}
	return nil
}

// writeIndented writes v as indented JSON for people, leaving <, > and & as
// they are.
func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

package main

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"authsvc/internal/apps"
)

// TestZIMConfig: the single app's ZIM settings, the callback secret from a
// variable or a file, and the mistakes startup refuses, each naming the
// setting and never the secret.
func TestZIMConfig(t *testing.T) {
	t.Parallel()
	const cb = "zim-callback-secret-0123456789"
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "cb"), cb+"\n")
	load := func(t *testing.T, env map[string]string, args ...string) (apps.ZIM, error) {
		t.Helper()
		base := productionEnv(t)
		for k, v := range env {
			base[k] = v
		}
		cfg, err := parseServeConfig(args, envFunc(base))
		if err != nil {
			return apps.ZIM{}, err
		}
		creds, err := cfg.loadCredentials(context.Background(), cfg.s, cfg.getenv)
		if err != nil {
			return apps.ZIM{}, err
		}
		if p := profileLimits(creds); p.AvatarURLLen != 0 && !creds.Apps[0].ZIM.Sync {
			t.Errorf("profileLimits without sync = %+v", p)
		}
		return creds.Apps[0].ZIM, nil
	}

	z, err := load(t, nil)
	if err != nil || z.Sync || z.CallbackSecret != nil || z.ZIMURL() != apps.DefaultZIMAPIURL || z.RTCURL() != apps.DefaultRTCAPIURL ||
		z.ExtraLimit() != 2048 || z.UnknownSender != apps.BlockUnknown {
		t.Errorf("defaults: %+v, %v", z, err)
	}
	z, err = load(t, map[string]string{"AUTHSVC_ZIM_SYNC": "true", "AUTHSVC_ZIM_CALLBACK_SECRET": cb, "AUTHSVC_ZIM_EXTRA_MAX_BYTES": "32768",
		"AUTHSVC_ZIM_UNKNOWN_SENDER": "allow", "AUTHSVC_ZIM_API_URL": "https://zim-api-sgp.zego.im"})
	if err != nil || !z.Sync || string(z.CallbackSecret) != cb || z.ExtraLimit() != 32768 || z.UnknownSender != apps.AllowUnknown ||
		z.ZIMURL() != "https://zim-api-sgp.zego.im" {
		t.Errorf("from variables: %+v, %v", z, err)
	}
	z, err = load(t, nil, "--zim-callback-secret-file", filepath.Join(dir, "cb"))
	if err != nil || string(z.CallbackSecret) != cb {
		t.Errorf("from --zim-callback-secret-file: %q, %v", z.CallbackSecret, err)
	}
	z, err = load(t, map[string]string{"AUTHSVC_ZIM_CALLBACK_SECRET_FILE": filepath.Join(dir, "cb")})
	if err != nil || string(z.CallbackSecret) != cb {
		t.Errorf("from AUTHSVC_ZIM_CALLBACK_SECRET_FILE: %q, %v", z.CallbackSecret, err)
	}

	appsFile := filepath.Join(dir, "apps.json")
	writeFile(t, appsFile, `{"apps":[{"appID":5,"secret":"`+secretA+`","zim":{"sync":true,"callbackSecretFile":"cb"}}]}`)
	withFile := map[string]string{"AUTHSVC_APPS_FILE": appsFile, "AUTHSVC_APP_ID": "", "AUTHSVC_SERVER_SECRET": ""}
	if z, err := load(t, withFile); err != nil || !z.Sync || string(z.CallbackSecret) != cb {
		t.Errorf("apps file: %+v, %v", z, err)
	}

	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"short secret", map[string]string{"AUTHSVC_ZIM_CALLBACK_SECRET": "short-secret"}, "AUTHSVC_ZIM_CALLBACK_SECRET: the ZIM callback secret is 12 bytes; use at least 16"},
		{"missing file", map[string]string{"AUTHSVC_ZIM_CALLBACK_SECRET_FILE": filepath.Join(dir, "none")}, "AUTHSVC_ZIM_CALLBACK_SECRET_FILE: "},
		{"bad URL", map[string]string{"AUTHSVC_ZIM_API_URL": "zim-api.zego.im"}, `AUTHSVC_ZIM_API_URL: "zim-api.zego.im" is not an http or https URL`},
		{"bad RTC URL", map[string]string{"AUTHSVC_RTC_API_URL": "ftp://rtc"}, "AUTHSVC_RTC_API_URL: "},
		{"extra too big", map[string]string{"AUTHSVC_ZIM_EXTRA_MAX_BYTES": "40000"}, `AUTHSVC_ZIM_EXTRA_MAX_BYTES: "40000" is not a number of bytes from 1 to 32768`},
		{"bad policy", map[string]string{"AUTHSVC_ZIM_UNKNOWN_SENDER": "shrug"}, `AUTHSVC_ZIM_UNKNOWN_SENDER: "shrug" is neither block nor allow`},
		{"bad sync", map[string]string{"AUTHSVC_ZIM_SYNC": "often"}, "AUTHSVC_ZIM_SYNC: "},
		{"single-app setting beside an apps file", map[string]string{"AUTHSVC_APPS_FILE": appsFile, "AUTHSVC_APP_ID": "", "AUTHSVC_SERVER_SECRET": "",
			"AUTHSVC_ZIM_SYNC": "true"}, `AUTHSVC_ZIM_SYNC: with AUTHSVC_APPS_FILE, configure ZIM per app in the file's "zim" objects`},
		{"secret beside an apps file", map[string]string{"AUTHSVC_APPS_FILE": appsFile, "AUTHSVC_APP_ID": "", "AUTHSVC_SERVER_SECRET": "",
			"AUTHSVC_ZIM_CALLBACK_SECRET": cb}, "AUTHSVC_ZIM_CALLBACK_SECRET: with AUTHSVC_APPS_FILE"},
	}
	for _, tt := range tests {
		_, err := load(t, tt.env)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error containing %q", tt.name, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), cb) || strings.Contains(err.Error(), "short-secret") {
			t.Errorf("%s: error %q repeats the secret", tt.name, err)
		}
	}
}

// zimCallbackBody is a before_send_msg from user, signed with secret as
// ZIM signs callbacks.
func zimCallbackBody(appID, secret, nonce, user string) map[string]any {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	parts := []string{secret, ts, nonce}
	sort.Strings(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return map[string]any{"appid": appID, "event": "before_send_msg", "nonce": nonce, "timestamp": ts,
		"signature": hex.EncodeToString(sum[:]), "from_user_id": user}
}

// TestZIMWithSIGHUP: the callback secret and ZIM's limits on the registry
// come from the apps file and change with it on SIGHUP. Not parallel: the
// signal reaches every server of the process.
func TestZIMWithSIGHUP(t *testing.T) {
	dir := t.TempDir()
	cb1, cb2 := "first-zim-callback-secret-0123", "second-zim-callback-secret-0123"
	writeFile(t, filepath.Join(dir, "cb1"), cb1)
	writeFile(t, filepath.Join(dir, "cb2"), cb2)
	appsFile := filepath.Join(dir, "apps.json")
	writeApps := func(cbFile string, sync bool) {
		writeFile(t, appsFile, fmt.Sprintf(`{"apps":[{"appID":5,"secret":%q,"zim":{"sync":%v,"callbackSecretFile":%q}}]}`, secretA, sync, cbFile))
	}
	writeApps("cb1", true)
	env := productionEnv(t)
	delete(env, "AUTHSVC_APP_ID")
	delete(env, "AUTHSVC_SERVER_SECRET")
	env["AUTHSVC_APPS_FILE"] = appsFile
	srv := startServer(t, env)
	url := srv.url + "/v1/zego/callbacks/zim"
	longAvatar := "https://a.example/" + strings.Repeat("a", 500)

	call(t, "POST", srv.url+"/v1/users", e2eAdminKey, map[string]any{"userID": "ann"}, 201, nil)
	call(t, "POST", srv.url+"/v1/users", e2eAdminKey, map[string]any{"userID": "bob", "avatarURL": longAvatar}, 400, nil)
	var answer struct{ Result int }
	call(t, "POST", url, "", zimCallbackBody("5", cb1, "1", "ann"), 200, &answer)
	if answer.Result != 1 {
		t.Errorf("before_send_msg from ann = %d, want 1", answer.Result)
	}
	call(t, "POST", url, "", zimCallbackBody("5", cb1, "2", "nobody"), 200, &answer)
	if answer.Result != 3 {
		t.Errorf("before_send_msg from nobody = %d, want 3", answer.Result)
	}

	writeApps("cb2", false)
	sighup(t, srv, 1)
	call(t, "POST", url, "", zimCallbackBody("5", cb1, "3", "ann"), 401, nil)
	call(t, "POST", url, "", zimCallbackBody("5", cb2, "4", "ann"), 200, nil)
	call(t, "POST", srv.url+"/v1/users", e2eAdminKey, map[string]any{"userID": "bob", "avatarURL": longAvatar}, 201, nil)
	for _, secret := range []string{cb1, cb2} {
		if strings.Contains(srv.stderr.String(), secret) {
			t.Error("the log shows a callback secret")
		}
	}
}

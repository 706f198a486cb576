package apps

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestParseFileZIM(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secret, cb := strings.Repeat("a", 32), "callback-secret-0123456789"
	writeFile(t, filepath.Join(dir, "cb.secret"), cb+"\n")
	path := filepath.Join(dir, "apps.json")
	writeFile(t, path, `{"default":1,"apps":[
		{"appID":1,"secret":"`+secret+`","zim":{"sync":true,"apiURL":"https://zim-api-sgp.zego.im","callbackSecretFile":"cb.secret","extraMaxBytes":32768,"unknownSender":"allow"}},
		{"appID":2,"secret":"`+secret+`","zim":{"callbackSecret":"`+cb+`"}},
		{"appID":3,"secret":"`+secret+`"}]}`)
	s, err := ParseFile(path, fileOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("parsed set does not validate: %v", err)
	}
	z1, z2, z3 := s.Find(1).ZIM, s.Find(2).ZIM, s.Find(3).ZIM
	if !z1.Sync || z1.ZIMURL() != "https://zim-api-sgp.zego.im" || z1.RTCURL() != DefaultRTCAPIURL ||
		string(z1.CallbackSecret) != cb || z1.ExtraLimit() != 32768 || z1.UnknownSender != AllowUnknown {
		t.Errorf("app 1 ZIM = %+v", z1)
	}
	if z2.Sync || string(z2.CallbackSecret) != cb || z2.ExtraLimit() != DefaultZIMExtraMaxBytes || z2.UnknownSender != BlockUnknown {
		t.Errorf("app 2 ZIM = %+v", z2)
	}
	if z3.Sync || z3.CallbackSecret != nil || z3.ZIMURL() != DefaultZIMAPIURL {
		t.Errorf("app 3 ZIM = %+v, want the zero value", z3)
	}
	// Only app 1 syncs: its limits are the registry's.
	if a, e, ok := s.ProfileLimits(); !ok || a != MaxZIMAvatarURLLen || e != 32768 {
		t.Errorf("ProfileLimits = %d, %d, %v; want %d, 32768, true", a, e, ok, MaxZIMAvatarURLLen)
	}
}

func TestParseFileZIMRefusals(t *testing.T) {
	t.Parallel()
	good, cb := strings.Repeat("a", 32), "callback-secret-0123456789"
	app := func(zim string) string {
		return `{"apps":[{"appID":1,"secret":"` + good + `","zim":` + zim + `}]}`
	}
	tests := []struct {
		name, file, want string
	}{
		{"unknown field", app(`{"synch":true}`), `unknown field "synch"`},
		{"both secrets", app(`{"callbackSecret":"` + cb + `","callbackSecretFile":"x"}`), "callbackSecret or callbackSecretFile, not both"},
		{"missing secret file", app(`{"callbackSecretFile":"nope"}`), "apps[0] (appID 1): zim: callbackSecretFile: "},
		{"short secret", app(`{"callbackSecret":"short"}`), "callback secret is 5 bytes; use at least 16"},
		{"bad URL", app(`{"apiURL":"zim-api.zego.im"}`), `ZIM API URL "zim-api.zego.im" is not`},
		{"bad RTC URL", app(`{"rtcAPIURL":"ftp://x"}`), "RTC API URL"},
		{"extra too large", app(`{"extraMaxBytes":40000}`), "extra max bytes 40000 is not from 1 to 32768"},
		{"extra negative", app(`{"extraMaxBytes":-1}`), "extraMaxBytes -1 is negative"},
		{"bad policy", app(`{"unknownSender":"maybe"}`), `unknownSender: "maybe" is neither block nor allow`},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "apps.json")
		writeFile(t, path, tt.file)
		_, err := ParseFile(path, fileOptions())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ParseFile = %v, want an error containing %q", tt.name, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), good) || strings.Contains(err.Error(), cb) || strings.Contains(err.Error(), "short\"") {
			t.Errorf("%s: error %q repeats a secret", tt.name, err)
		}
	}
}

func TestProfileLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		zims        []ZIM
		avatar, ext int
		ok          bool
	}{
		{"no sync", []ZIM{{}, {CallbackSecret: []byte("0123456789abcdef")}}, 0, 0, false},
		{"default extra", []ZIM{{Sync: true}}, MaxZIMAvatarURLLen, DefaultZIMExtraMaxBytes, true},
		{"the smallest wins", []ZIM{{Sync: true, ExtraMaxBytes: 8192}, {}, {Sync: true, ExtraMaxBytes: 4096}}, MaxZIMAvatarURLLen, 4096, true},
	}
	for _, tt := range tests {
		var s Set
		for i, z := range tt.zims {
			s.Apps = append(s.Apps, App{ID: uint32(i + 1), ZIM: z})
		}
		a, e, ok := s.ProfileLimits()
		if a != tt.avatar || e != tt.ext || ok != tt.ok {
			t.Errorf("%s: ProfileLimits = %d, %d, %v; want %d, %d, %v", tt.name, a, e, ok, tt.avatar, tt.ext, tt.ok)
		}
	}
}

package apps

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"authsvc/internal/token"
)

// file is the format of an apps file (AUTHSVC_APPS_FILE). Secrets may be
// inline (then the file is itself a secret) or in files of their own;
// relative paths are relative to the apps file.
type file struct {
	Default uint32 `json:"default"`
	Apps    []struct {
		AppID               uint32   `json:"appID"`
		Secret              string   `json:"secret"`
		SecretFile          string   `json:"secretFile"`
		PreviousSecrets     []string `json:"previousSecrets"`
		PreviousSecretFiles []string `json:"previousSecretFiles"`
		TokenTTL            string   `json:"tokenTTL"`
		TokenMinTTL         string   `json:"tokenMinTTL"`
		TokenMaxTTL         string   `json:"tokenMaxTTL"`
		Variant             string   `json:"variant"`
		ZIM                 *zimFile `json:"zim"`
	} `json:"apps"`
}

// zimFile is an app's "zim" object in an apps file.
type zimFile struct {
	Sync               bool   `json:"sync"`
	APIURL             string `json:"apiURL"`
	RTCAPIURL          string `json:"rtcAPIURL"`
	CallbackSecret     string `json:"callbackSecret"`
	CallbackSecretFile string `json:"callbackSecretFile"`
	ExtraMaxBytes      int    `json:"extraMaxBytes"`
	UnknownSender      string `json:"unknownSender"` // "block" (the default) or "allow"
}

// zim reads an app's "zim" object; secrets in files are resolved against
// dir.
func (z *zimFile) zim(dir string, o FileOptions) (ZIM, error) {
	if z == nil {
		return ZIM{}, nil
	}
	out := ZIM{Sync: z.Sync, APIURL: z.APIURL, RTCAPIURL: z.RTCAPIURL, ExtraMaxBytes: z.ExtraMaxBytes}
	switch {
	case z.CallbackSecret != "" && z.CallbackSecretFile != "":
		return ZIM{}, fmt.Errorf("zim: set callbackSecret or callbackSecretFile, not both")
	case z.CallbackSecret != "":
		out.CallbackSecret = []byte(z.CallbackSecret)
	case z.CallbackSecretFile != "":
		b, err := o.ReadSecret(inDir(dir, z.CallbackSecretFile))
		if err != nil {
			return ZIM{}, fmt.Errorf("zim: callbackSecretFile: %w", err)
		}
		out.CallbackSecret = b
	}
	if z.ExtraMaxBytes < 0 {
		return ZIM{}, fmt.Errorf("zim: extraMaxBytes %d is negative", z.ExtraMaxBytes)
	}
	if z.UnknownSender != "" {
		var err error
		if out.UnknownSender, err = ParseUnknownSender(z.UnknownSender); err != nil {
			return ZIM{}, fmt.Errorf("zim: unknownSender: %w", err)
		}
	}
	if err := out.Validate(); err != nil {
		return ZIM{}, fmt.Errorf("zim: %w", err)
	}
	return out, nil
}

// FileOptions say how to read what an apps file refers to.
type FileOptions struct {
	// Defaults are the lifetimes of an app that sets none of its own.
	Defaults TTLBounds
	// ParseDuration reads tokenTTL, tokenMinTTL and tokenMaxTTL, so that they
	// take the same form as the service's other durations.
	ParseDuration func(string) (time.Duration, error)
	// ReadSecret reads a secret file named by secretFile or
	// previousSecretFiles, resolved against the apps file's folder.
	ReadSecret func(path string) ([]byte, error)
}

// ParseFile reads the apps file at path. Its errors name the file or the
// entry at fault, never a secret.
func ParseFile(path string, o FileOptions) (Set, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Set{}, err
	}
	return parse(raw, path, o)
}

// parse reads the content of the apps file at path.
func parse(raw []byte, path string, o FileOptions) (Set, error) {
	var f file
	if err := checkNames(raw); err != nil {
		return Set{}, fmt.Errorf("%s: %w", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return Set{}, fmt.Errorf("%s: %w", path, err)
	}
	if len(f.Apps) == 0 {
		return Set{}, fmt.Errorf("%s lists no apps", path)
	}
	dir := filepath.Dir(path)
	apps := make([]App, 0, len(f.Apps))
	for i, a := range f.Apps {
		where := fmt.Sprintf("apps[%d] (appID %d)", i, a.AppID)
		if a.AppID == 0 {
			return Set{}, fmt.Errorf("%s: appID is required", where)
		}
		var secrets [][]byte
		switch {
		case a.Secret != "" && a.SecretFile != "":
			return Set{}, fmt.Errorf("%s: set secret or secretFile, not both", where)
		case a.Secret != "":
			secrets = append(secrets, []byte(a.Secret))
		case a.SecretFile != "":
			b, err := o.ReadSecret(inDir(dir, a.SecretFile))
			if err != nil {
				return Set{}, fmt.Errorf("%s: %w", where, err)
			}
			secrets = append(secrets, b)
		default:
			return Set{}, fmt.Errorf("%s: secret or secretFile is required", where)
		}
		for _, p := range a.PreviousSecrets {
			secrets = append(secrets, []byte(p))
		}
		for _, pf := range a.PreviousSecretFiles {
			b, err := o.ReadSecret(inDir(dir, pf))
			if err != nil {
				return Set{}, fmt.Errorf("%s: %w", where, err)
			}
			secrets = append(secrets, b)
		}
		app := App{ID: a.AppID, TTL: o.Defaults, Variant: token.GCM, Secret: secrets[0]}
		for j, sec := range secrets {
			k, err := token.NewKey(sec)
			if err != nil {
				return Set{}, fmt.Errorf("%s: secret %d: %w", where, j+1, err)
			}
			app.Keys = append(app.Keys, k)
		}
		for _, d := range []struct {
			text string
			dst  *time.Duration
		}{{a.TokenTTL, &app.TTL.Default}, {a.TokenMinTTL, &app.TTL.Min}, {a.TokenMaxTTL, &app.TTL.Max}} {
			if d.text == "" {
				continue
			}
			var err error
			if *d.dst, err = o.ParseDuration(d.text); err != nil {
				return Set{}, fmt.Errorf("%s: %w", where, err)
			}
		}
		if err := app.TTL.Validate(); err != nil {
			return Set{}, fmt.Errorf("%s: %w", where, err)
		}
		var err error
		if a.Variant != "" {
			if app.Variant, err = token.ParseVariant(a.Variant); err != nil {
				return Set{}, fmt.Errorf("%s: variant: %w", where, err)
			}
		}
		if app.ZIM, err = a.ZIM.zim(dir, o); err != nil {
			return Set{}, fmt.Errorf("%s: %w", where, err)
		}
		apps = append(apps, app)
	}
	def := f.Default
	if def == 0 {
		if len(apps) > 1 {
			return Set{}, fmt.Errorf("%s lists several apps: name the default one with \"default\"", path)
		}
		def = apps[0].ID
	}
	return Set{Apps: apps, Default: def}, nil
}

// inDir resolves a path of the apps file relative to the file's folder.
func inDir(dir, name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(dir, name)
}

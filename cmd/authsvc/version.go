package main

import "runtime/debug"

// buildVersion is stamped by the release build:
// go build -ldflags "-X main.buildVersion=v1.2.3".
var buildVersion = ""

// version reports the stamped version, or the module version and VCS revision
// the Go toolchain recorded, so every binary can say what it is.
func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += "+" + s.Value[:12]
		}
	}
	if v == "" {
		v = "devel"
	}
	return v
}

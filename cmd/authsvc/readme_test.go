package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func readREADME(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestREADMEConfiguration keeps the README's configuration table equal to
// the flags of "authsvc serve": every flag with its variable and default,
// and the variables that carry secrets.
func TestREADMEConfiguration(t *testing.T) {
	t.Parallel()
	row := regexp.MustCompile("^\\| (`--[a-z0-9-]+`|—) \\| `(AUTHSVC_[A-Z0-9_]+)` \\| ?(`[^`]*`)? ?\\|")
	type entry struct{ flag, env, def string }
	var inREADME []entry
	for _, line := range strings.Split(readREADME(t), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		inREADME = append(inREADME, entry{strings.Trim(m[1], "`"), m[2], strings.Trim(m[3], "`")})
	}
	var inCode []entry
	s := serveSettings(flag.NewFlagSet("serve", flag.ContinueOnError), func(string) string { return "" })
	for _, st := range s.list {
		inCode = append(inCode, entry{"--" + st.Name, st.Env, st.Default})
	}
	for _, env := range secretVariables() {
		inCode = append(inCode, entry{"—", env, ""})
	}
	key := func(e entry) string { return e.env }
	slices.SortFunc(inREADME, func(a, b entry) int { return strings.Compare(key(a), key(b)) })
	slices.SortFunc(inCode, func(a, b entry) int { return strings.Compare(key(a), key(b)) })
	if !slices.Equal(inREADME, inCode) {
		t.Errorf("README configuration table and serve flags differ\nREADME: %v\ncode:   %v", inREADME, inCode)
	}
}

// TestREADMEQuickstart runs the README's quickstart block, command by
// command, against a dev server started by run, and checks every answer
// against the "# →" lines shown under its command (see matchShown). It
// understands the small subset of shell the block uses: VAR=value,
// VAR=$(curl ... | jq -r .field), curl ... [| grep PATTERN], and
// [VAR=value] ./authsvc ARGS (or go run ./cmd/authsvc ARGS).
func TestREADMEQuickstart(t *testing.T) {
	t.Parallel()
	block := quickstartBlock(t, readREADME(t))
	srv := startServer(t, map[string]string{"AUTHSVC_DB": filepath.Join(t.TempDir(), "dev.db")}, "--dev")
	vars := map[string]string{"AUTHSVC": srv.url}
	for _, line := range strings.Split(srv.stdout.String(), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "ServerSecret" {
			vars["SECRET"] = f[1]
		} else if len(f) == 3 && f[0] == "admin" && f[1] == "key" {
			vars["ADMIN"] = f[2]
		}
	}
	if vars["SECRET"] == "" || vars["ADMIN"] == "" {
		t.Fatalf("dev banner lacks the secret or admin key:\n%s", srv.stdout)
	}

	steps := 0
	for _, st := range shellSteps(block) {
		cmd := st.cmd
		if strings.HasPrefix(cmd, "export ") {
			continue // the placeholders the reader fills in; set above
		}
		steps++
		if st.shown == "" {
			t.Errorf("%s: the README does not show what it prints (a \"# →\" line)", cmd)
		}
		check := func(out []byte) {
			t.Helper()
			if st.shown == "" {
				return
			}
			if err := matchShown(st.shown, out); err != nil {
				t.Errorf("%s: %v\nREADME shows: %s\nit printed:  %s", cmd, err, st.shown, out)
			}
		}
		if m := regexp.MustCompile(`^([A-Z_]+)=\$\((.*)\)$`).FindStringSubmatch(cmd); m != nil {
			words := mustShellWords(t, m[2], vars)
			curlArgs, filter := splitPipe(words)
			if len(filter) != 3 || filter[0] != "jq" || filter[1] != "-r" {
				t.Fatalf("unsupported command substitution: %s", cmd)
			}
			body := curl(t, curlArgs, 0)
			check(body)
			var doc map[string]any
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatalf("%s: not JSON: %s", cmd, body)
			}
			v, _ := doc[strings.TrimPrefix(filter[2], ".")].(string)
			if v == "" {
				t.Fatalf("%s: no %s in %s", cmd, filter[2], body)
			}
			vars[m[1]] = v
			continue
		}
		words := mustShellWords(t, cmd, vars)
		env := map[string]string{}
		for len(words) > 0 && regexp.MustCompile(`^[A-Z_]+=`).MatchString(words[0]) {
			k, v, _ := strings.Cut(words[0], "=")
			env[k] = v
			words = words[1:]
		}
		switch {
		case len(words) > 0 && words[0] == "./authsvc",
			len(words) > 2 && words[0] == "go" && words[1] == "run" && words[2] == "./cmd/authsvc":
			args := words[1:]
			if words[0] == "go" {
				args = words[3:]
			}
			var out, errOut bytes.Buffer
			if err := run(context.Background(), append([]string{"authsvc"}, args...), envFunc(env), strings.NewReader(""), &out, &errOut); err != nil {
				t.Fatalf("%s: %v\n%s", cmd, err, errOut.String())
			}
			check(out.Bytes())
		case len(words) > 0 && words[0] == "curl":
			curlArgs, filter := splitPipe(words)
			out := curl(t, curlArgs, shownStatus(st.shown))
			if len(filter) == 2 && filter[0] == "grep" {
				var kept []string
				for _, line := range strings.Split(string(out), "\n") {
					if strings.Contains(line, filter[1]) {
						kept = append(kept, line)
					}
				}
				out = []byte(strings.Join(kept, "\n"))
			} else if len(filter) > 0 {
				t.Fatalf("unsupported pipe: %s", cmd)
			}
			check(out)
		default:
			t.Fatalf("the quickstart test does not understand: %s", cmd)
		}
	}
	if steps < 10 {
		t.Errorf("ran only %d steps; is the quickstart block the right one?", steps)
	}
}

// quickstartBlock returns the shell block of the README's quickstart that
// sets AUTHSVC.
func quickstartBlock(t *testing.T, readme string) string {
	t.Helper()
	for _, part := range strings.Split(readme, "```sh\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		if strings.HasPrefix(block, "export AUTHSVC=") {
			return block
		}
	}
	t.Fatal("README has no quickstart block starting with export AUTHSVC=")
	return ""
}

// shellStep is one command of a README block and what the README shows it
// prints: the "# → " line under it and the "#   " lines that continue it.
type shellStep struct {
	cmd   string
	shown string
}

// shellSteps joins continued lines and drops comments and blank lines,
// keeping the output shown under each command.
func shellSteps(block string) []shellStep {
	var steps []shellStep
	cur := ""
	inShown := false
	for _, line := range strings.Split(block, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == "" {
			if rest, ok := strings.CutPrefix(trimmed, "# → "); ok && len(steps) > 0 {
				steps[len(steps)-1].shown = rest
				inShown = true
				continue
			}
			if rest, ok := strings.CutPrefix(line, "#   "); ok && inShown {
				steps[len(steps)-1].shown += "\n" + rest
				continue
			}
			inShown = false
			if trimmed == "" || strings.HasPrefix(trimmed, "#") {
				continue
			}
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur += strings.TrimSpace(strings.TrimSuffix(trimmed, "\\")) + " "
			continue
		}
		steps = append(steps, shellStep{cmd: cur + trimmed})
		cur = ""
	}
	return steps
}

// shellCommands is shellSteps without the outputs.
func shellCommands(block string) []string {
	var cmds []string
	for _, st := range shellSteps(block) {
		cmds = append(cmds, st.cmd)
	}
	return cmds
}

// matchShown checks what a command printed against the README's abridged
// rendering of it. When shown is JSON, got must be JSON with every key shown,
// each value of the same type; booleans and null must be equal, and strings
// too, except that a string with "…" only fixes what comes before the "…",
// and an RFC 3339 time stands for any time. Numbers are examples. ", …"
// before a closing bracket marks left-out keys or elements. Each element
// shown in an array must match some element of got's. Otherwise, each shown
// line must be a line of got, "…" matching anything.
//
// One exception: the audit trail is written in batches off the request path,
// so a read right after the events may not find them all yet. In the
// top-level "events" array, a shown element is compared only with the
// events of its kind ("event"), and skipped when there are none yet.
func matchShown(shown string, got []byte) error {
	shown = strings.TrimSpace(shown)
	if !strings.HasPrefix(shown, "{") && !strings.HasPrefix(shown, "[") {
		lines := strings.Split(strings.TrimRight(string(got), "\n"), "\n")
		for _, want := range strings.Split(shown, "\n") {
			re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(want), "…", ".*") + "$")
			if !slices.ContainsFunc(lines, re.MatchString) {
				return fmt.Errorf("no line matches %q", want)
			}
		}
		return nil
	}
	var want, have any
	abridged := regexp.MustCompile(`,\s*…\s*([}\]])`).ReplaceAllString(shown, "$1")
	abridged = regexp.MustCompile(`,\s*…\s*,`).ReplaceAllString(abridged, ",")
	if err := json.Unmarshal([]byte(abridged), &want); err != nil {
		return fmt.Errorf("the README's output is not abridged JSON: %v", err)
	}
	if err := json.Unmarshal(got, &have); err != nil {
		return fmt.Errorf("the output is not JSON: %v", err)
	}
	return matchJSON("$", want, have)
}

func matchJSON(path string, want, got any) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: got %T, want an object", path, got)
		}
		for _, k := range slices.Sorted(maps.Keys(w)) {
			gv, ok := g[k]
			if !ok {
				return fmt.Errorf("%s: no key %q", path, k)
			}
			if err := matchJSON(path+"."+k, w[k], gv); err != nil {
				return err
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			return fmt.Errorf("%s: got %T, want an array", path, got)
		}
		for i, we := range w {
			candidates := g
			if path == "$.events" {
				candidates = sameEvent(we, g)
				if len(candidates) == 0 {
					continue
				}
			}
			if !slices.ContainsFunc(candidates, func(ge any) bool { return matchJSON("", we, ge) == nil }) {
				return fmt.Errorf("%s[%d]: no element matches", path, i)
			}
		}
	case string:
		g, ok := got.(string)
		if !ok {
			return fmt.Errorf("%s: got %T, want a string", path, got)
		}
		if prefix, _, ok := strings.Cut(w, "…"); ok {
			if !strings.HasPrefix(g, prefix) {
				return fmt.Errorf("%s: %q does not start with %q", path, g, prefix)
			}
		} else if _, err := time.Parse(time.RFC3339Nano, w); err == nil {
			if _, err := time.Parse(time.RFC3339Nano, g); err != nil {
				return fmt.Errorf("%s: %q is not an RFC 3339 time", path, g)
			}
		} else if g != w {
			return fmt.Errorf("%s: %q, want %q", path, g, w)
		}
	case float64:
		if _, ok := got.(float64); !ok {
			return fmt.Errorf("%s: got %T, want a number", path, got)
		}
	default: // bool, nil
		if got != want {
			return fmt.Errorf("%s: %v, want %v", path, got, want)
		}
	}
	return nil
}

// sameEvent returns the audit events in got of the kind of want.
func sameEvent(want any, got []any) []any {
	w, _ := want.(map[string]any)
	var same []any
	for _, g := range got {
		if ge, ok := g.(map[string]any); ok && w != nil && ge["event"] == w["event"] {
			same = append(same, g)
		}
	}
	return same
}

// shownStatus is the status of a problem document the README shows, or 0.
func shownStatus(shown string) int {
	var p struct{ Status int }
	if json.Unmarshal([]byte(strings.ReplaceAll(shown, "…", "")), &p) != nil {
		return 0
	}
	return p.Status
}

func mustShellWords(t *testing.T, cmd string, vars map[string]string) []string {
	t.Helper()
	words, err := shellWords(cmd, vars)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return words
}

func splitPipe(words []string) (cmd, filter []string) {
	if i := slices.Index(words, "|"); i >= 0 {
		return words[:i], words[i+1:]
	}
	return words, nil
}

// curl performs the request that a curl command line describes (-s, -X,
// -H, -d, -o /dev/null, -w with %{http_code} and a URL) and returns what curl
// would print. It fails the test unless the answer is a 2xx or has status
// allowed (0 for none).
func curl(t *testing.T, args []string, allowed int) []byte {
	t.Helper()
	method, url, format := "", "", ""
	discard := false
	var body io.Reader
	header := http.Header{}
	for i := 1; i < len(args); i++ {
		switch a := args[i]; a {
		case "-s":
		case "-X", "-H", "-d", "-o", "-w":
			if i+1 >= len(args) {
				t.Fatalf("curl %s without a value", a)
			}
			i++
			switch a {
			case "-X":
				method = args[i]
			case "-H":
				k, v, _ := strings.Cut(args[i], ":")
				header.Add(k, strings.TrimSpace(v))
			case "-d":
				body = strings.NewReader(args[i])
				if method == "" {
					method = "POST"
				}
			case "-o":
				if args[i] != "/dev/null" {
					t.Fatalf("the quickstart test does not understand curl -o %s", args[i])
				}
				discard = true
			case "-w":
				format = args[i]
			}
		default:
			if !strings.HasPrefix(a, "http://") || url != "" {
				t.Fatalf("the quickstart test does not understand curl argument %q", a)
			}
			url = a
		}
	}
	if method == "" {
		method = "GET"
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode/100 != 2 && resp.StatusCode != allowed {
		t.Fatalf("curl %s %s: %d %s", method, url, resp.StatusCode, b)
	}
	if discard {
		b = nil
	}
	if format != "" {
		w := strings.NewReplacer("%{http_code}", strconv.Itoa(resp.StatusCode), `\n`, "\n").Replace(format)
		b = append(b, w...)
	}
	return b
}

func TestShellCommands(t *testing.T) {
	t.Parallel()
	if got := fmt.Sprint(shellCommands("# c\na \\\n  b\n\nc\n")); got != "[a b c]" {
		t.Errorf("shellCommands = %s, want [a b c]", got)
	}
}

func TestShellSteps(t *testing.T) {
	t.Parallel()
	got := shellSteps("a \\\n  b\n# → {\"x\":\n#   1}\n# a comment\nc\n#   not output\n")
	want := []shellStep{{cmd: "a b", shown: "{\"x\":\n1}"}, {cmd: "c"}}
	if !slices.Equal(got, want) {
		t.Errorf("shellSteps = %q, want %q", got, want)
	}
}

func TestMatchShown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		shown, got string
		ok         bool
	}{
		{`{"a":"x","n":1}`, `{"a":"x","n":2,"extra":true}`, true},
		{`{"a":"x"}`, `{"a":"y"}`, false},
		{`{"a":"x"}`, `{"b":"x"}`, false},
		{`{"n":1}`, `{"n":"1"}`, false},
		{`{"t":"eyJ…"}`, `{"t":"eyJhbGc"}`, true},
		{`{"t":"eyJ…"}`, `{"t":"04AA"}`, false},
		{`{"at":"2026-12-01T23:16:13Z"}`, `{"at":"2031-01-01T00:00:00.5Z"}`, true},
		{`{"at":"2026-12-01T23:16:13Z"}`, `{"at":"yesterday"}`, false},
		{`{"ok":true,"r":null}`, `{"ok":false,"r":null}`, false},
		{`{"ok":true,"r":null}`, `{"ok":true,"r":{}}`, false},
		{`{"a":1, …}`, `{"a":1,"b":2}`, true},
		{`{"e":[{"k":"y"}, …],"n":""}`, `{"e":[{"k":"x"},{"k":"y","z":1}],"n":""}`, true},
		{`{"e":[{"k":"y"}, …, {"k":"x"}]}`, `{"e":[{"k":"x"},{"k":"y"}]}`, true},
		{`{"e":[{"k":"w"}]}`, `{"e":[{"k":"x"}]}`, false},
		{`{"e":[{"k":"w"}]}`, `{"e":[]}`, false},
		{`{"events":[{"event":"a","n":1}]}`, `{"events":[]}`, true},
		{`{"events":[{"event":"a","n":1}]}`, `{"events":[{"event":"b"}]}`, true},
		{`{"events":[{"event":"a","n":1}]}`, `{"events":[{"event":"b"},{"event":"a"}]}`, false},
		{`{"events":[{"event":"a","n":1}]}`, `{"events":[{"event":"a","n":2}]}`, true},
		{`{"a":1}`, `not json`, false},
		{"204", "204\n", true},
		{"204", "401\n", false},
		{"# HELP m …\nm{a=\"1\"} 2", "# HELP m Things.\nm{a=\"1\"} 2\nm{a=\"2\"} 1", true},
		{"m{a=\"1\"} 3", "m{a=\"1\"} 2", false},
	}
	for _, tt := range tests {
		if err := matchShown(tt.shown, []byte(tt.got)); (err == nil) != tt.ok {
			t.Errorf("matchShown(%q, %q) = %v, want ok %v", tt.shown, tt.got, err, tt.ok)
		}
	}
}

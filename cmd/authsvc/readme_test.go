package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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
// command, against a dev server started by run, and checks every response.
// It understands the small subset of shell the block uses: VAR=value,
// VAR=$(curl ... | jq -r .field), curl ... [| grep PATTERN], and
// [VAR=value] go run ./cmd/authsvc ARGS.
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
	for _, cmd := range shellCommands(block) {
		if strings.HasPrefix(cmd, "export ") {
			continue // the placeholders the reader fills in; set above
		}
		steps++
		if m := regexp.MustCompile(`^([A-Z_]+)=\$\((.*)\)$`).FindStringSubmatch(cmd); m != nil {
			words := mustShellWords(t, m[2], vars)
			curlArgs, filter := splitPipe(words)
			if len(filter) != 3 || filter[0] != "jq" || filter[1] != "-r" {
				t.Fatalf("unsupported command substitution: %s", cmd)
			}
			body := curl(t, curlArgs)
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
		case len(words) > 2 && words[0] == "go" && words[1] == "run" && words[2] == "./cmd/authsvc":
			var out, errOut bytes.Buffer
			if err := run(context.Background(), append([]string{"authsvc"}, words[3:]...), envFunc(env), strings.NewReader(""), &out, &errOut); err != nil {
				t.Fatalf("%s: %v\n%s", cmd, err, errOut.String())
			}
			if !strings.Contains(out.String(), `"userID": "alice"`) {
				t.Errorf("%s printed %s", cmd, out.String())
			}
		case len(words) > 0 && words[0] == "curl":
			curlArgs, filter := splitPipe(words)
			body := curl(t, curlArgs)
			if len(filter) == 2 && filter[0] == "grep" {
				if !strings.Contains(string(body), filter[1]) {
					t.Errorf("%s: no line matches %q", cmd, filter[1])
				}
			} else if len(filter) > 0 {
				t.Fatalf("unsupported pipe: %s", cmd)
			}
		default:
			t.Fatalf("the quickstart test does not understand: %s", cmd)
		}
	}
	if steps < 8 {
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

// shellCommands joins continued lines and drops comments and blank lines.
func shellCommands(block string) []string {
	var cmds []string
	cur := ""
	for _, line := range strings.Split(block, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur += strings.TrimSpace(strings.TrimSuffix(trimmed, "\\")) + " "
			continue
		}
		cmds = append(cmds, cur+trimmed)
		cur = ""
	}
	return cmds
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
// -H, -d and a URL) and fails the test unless the answer is a 2xx.
func curl(t *testing.T, args []string) []byte {
	t.Helper()
	method, url := "", ""
	var body io.Reader
	header := http.Header{}
	for i := 1; i < len(args); i++ {
		switch a := args[i]; a {
		case "-s":
		case "-X", "-H", "-d":
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
	if resp.StatusCode/100 != 2 {
		t.Fatalf("curl %s %s: %d %s", method, url, resp.StatusCode, b)
	}
	return b
}

func TestShellCommands(t *testing.T) {
	t.Parallel()
	if got := fmt.Sprint(shellCommands("# c\na \\\n  b\n\nc\n")); got != "[a b c]" {
		t.Errorf("shellCommands = %s, want [a b c]", got)
	}
}

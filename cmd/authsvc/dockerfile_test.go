package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Docker cannot run on CI machines, so these tests hold the Dockerfile to its
// rules by reading it, and run its go build command on the build context
// .dockerignore lets through.

const repoRoot = "../.."

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int    // where it starts
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// stage is the instructions from one FROM to the next.
type stage struct {
	from  instruction
	image string // the FROM image, without --platform or AS
	name  string
	body  []instruction
}

func parseDockerfile(t *testing.T, text string) []stage {
	t.Helper()
	var ins []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(trimmed, "#") {
			continue // comment lines inside a continuation are dropped
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`))
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		ins = append(ins, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("Dockerfile ends inside a continuation started on line %d", start)
	}

	var stages []stage
	for _, in := range ins {
		if in.cmd == "FROM" {
			var words []string
			for _, w := range strings.Fields(in.args) {
				if !strings.HasPrefix(w, "--") {
					words = append(words, w)
				}
			}
			s := stage{from: in}
			if len(words) > 0 {
				s.image = words[0]
			}
			if len(words) == 3 && strings.EqualFold(words[1], "AS") {
				s.name = words[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("line %d: %s before the first FROM", in.line, in.cmd)
			}
			continue
		}
		stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
	}
	return stages
}

func readDockerfile(t *testing.T) []stage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	return parseDockerfile(t, string(b))
}

// find returns the instructions of a stage with the given command.
func (s stage) find(cmd string) []instruction {
	var out []instruction
	for _, in := range s.body {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// execForm decodes a JSON-array (exec form) argument list.
func execForm(t *testing.T, in instruction, args string) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(args), &argv); err != nil {
		t.Errorf("line %d: %s %s is not in exec form (a JSON array): %v", in.line, in.cmd, args, err)
	}
	return argv
}

// goBuild finds the one RUN of the build stage that runs go build and returns
// it without its --mount options.
func goBuild(t *testing.T, s stage) (instruction, string) {
	t.Helper()
	var found []instruction
	for _, in := range s.find("RUN") {
		if strings.Contains(in.args, "go build") {
			found = append(found, in)
		}
	}
	if len(found) != 1 {
		t.Fatalf("build stage has %d RUN go build instructions, want 1", len(found))
	}
	cmd := found[0].args
	for strings.HasPrefix(cmd, "--") {
		_, cmd, _ = strings.Cut(cmd, " ")
		cmd = strings.TrimSpace(cmd)
	}
	return found[0], cmd
}

// goModVersion is the go directive of go.mod, as major.minor.
func goModVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	return string(m[1])
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	stages := readDockerfile(t)
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a runtime stage", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]

	// Build: the official Go image at go.mod's version, a static, trimmed,
	// stamped binary.
	if want := "golang:" + goModVersion(t); build.image != want && !strings.HasPrefix(build.image, want+"-") && !strings.HasPrefix(build.image, want+".") {
		t.Errorf("build stage FROM %s, want %s (go.mod's Go version)", build.image, want)
	}
	in, cmd := goBuild(t, build)
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.buildVersion=${VERSION}", "./cmd/authsvc"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("line %d: the go build command lacks %s: %s", in.line, want, cmd)
		}
	}
	if _, ok := argDefaults(stages)["VERSION"]; !ok {
		t.Error("no ARG VERSION with a default for the version stamp")
	}

	// Run: a minimal base, a non-root user, the binary from the build stage.
	base := final.image
	if !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
		t.Errorf("runtime stage FROM %s, want a distroless static image or scratch", base)
	}
	users := final.find("USER")
	switch {
	case len(users) > 0:
		u := users[len(users)-1].args
		if name, _, _ := strings.Cut(u, ":"); name == "root" || name == "0" {
			t.Errorf("runtime stage runs as USER %s", u)
		}
	case !strings.HasSuffix(base, ":nonroot"):
		t.Error("runtime stage has no USER and its base is not a nonroot image")
	}
	var copied bool
	for _, c := range final.find("COPY") {
		if strings.Contains(c.args, "--from="+build.name) && strings.HasSuffix(c.args, " /authsvc") {
			copied = true
		}
	}
	if build.name == "" || !copied {
		t.Errorf("runtime stage does not COPY --from=<build stage> the binary to /authsvc")
	}

	// The service: port, data volume, health check, entry point.
	exposed := false
	for _, e := range final.find("EXPOSE") {
		for _, p := range strings.Fields(e.args) {
			exposed = exposed || p == "8080" || p == "8080/tcp"
		}
	}
	if !exposed {
		t.Error("no EXPOSE 8080")
	}
	env := map[string]string{}
	for _, e := range final.find("ENV") {
		for _, kv := range strings.Fields(e.args) {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
	}
	if port := strings.TrimPrefix(env["AUTHSVC_ADDR"], ":"); port != "" && port != "8080" {
		t.Errorf("AUTHSVC_ADDR=%s does not listen on the exposed port 8080", env["AUTHSVC_ADDR"])
	}
	volumes := final.find("VOLUME")
	if len(volumes) != 1 || strings.Trim(volumes[0].args, `[]" `) != "/data" {
		t.Errorf("VOLUME instructions %v, want VOLUME /data", volumes)
	}
	if env["AUTHSVC_DB"] != "/data/authsvc.db" {
		t.Errorf("AUTHSVC_DB=%q, want the database on the volume, /data/authsvc.db", env["AUTHSVC_DB"])
	}
	var entry []string
	if e := final.find("ENTRYPOINT"); len(e) == 1 {
		entry = execForm(t, e[0], e[0].args)
	}
	if len(entry) != 2 || entry[0] != "/authsvc" || entry[1] != "serve" {
		t.Errorf("ENTRYPOINT %q, want [\"/authsvc\", \"serve\"]", entry)
	}
	hc := final.find("HEALTHCHECK")
	if len(hc) != 1 {
		t.Fatalf("runtime stage has %d HEALTHCHECK instructions, want 1", len(hc))
	}
	_, hcCmd, ok := strings.Cut(hc[0].args, "CMD ")
	if argv := execForm(t, hc[0], strings.TrimSpace(hcCmd)); !ok || len(argv) < 2 || argv[0] != "/authsvc" || argv[1] != "healthcheck" {
		t.Errorf("HEALTHCHECK %s, want CMD [\"/authsvc\", \"healthcheck\"]", hc[0].args)
	}
	if m := regexp.MustCompile(`--timeout=(\S+)`).FindStringSubmatch(hc[0].args); m != nil {
		if d, err := time.ParseDuration(m[1]); err != nil || d <= 3*time.Second {
			t.Errorf("HEALTHCHECK --timeout=%s must exceed healthcheck's own 3s", m[1])
		}
	}

	// Secrets are given at run time, never baked into a layer or the history.
	secretish := regexp.MustCompile(`(?i)SECRET|TOKEN|KEY|PASSWORD|PASSWD|CREDENTIAL`)
	for _, s := range stages {
		for _, in := range append([]instruction{s.from}, s.body...) {
			if in.cmd != "ARG" && in.cmd != "ENV" {
				continue
			}
			for _, kv := range strings.Fields(in.args) {
				if name, _, _ := strings.Cut(kv, "="); secretish.MatchString(name) {
					t.Errorf("line %d: %s %s looks like a secret; pass secrets at run time as files", in.line, in.cmd, name)
				}
			}
		}
	}
}

// argDefaults are the ARG defaults the Dockerfile declares, with the
// platform arguments BuildKit supplies set to this machine's.
func argDefaults(stages []stage) map[string]string {
	args := map[string]string{
		"TARGETOS": runtime.GOOS, "TARGETARCH": runtime.GOARCH,
		"BUILDPLATFORM": runtime.GOOS + "/" + runtime.GOARCH,
	}
	for _, s := range stages {
		for _, in := range s.find("ARG") {
			for _, kv := range strings.Fields(in.args) {
				if k, v, ok := strings.Cut(kv, "="); ok {
					args[k] = v
				}
			}
		}
	}
	return args
}

var shellName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// shellWords splits a simple POSIX shell command line, expanding $NAME and
// ${NAME} from vars outside single quotes; an unquoted | is a word of its
// own. It knows no more shell than the Dockerfile's build command and the
// README's quickstart need, and says so when it meets more.
func shellWords(line string, vars map[string]string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, single, double := false, false, false
	expand := func(i int) (int, error) {
		name, j := "", i+1
		if j < len(line) && line[j] == '{' {
			end := strings.IndexByte(line[j:], '}')
			if end < 0 {
				return 0, fmt.Errorf("unterminated ${ in %q", line)
			}
			name, j = line[j+1:j+end], j+end+1
		} else {
			for j < len(line) && (line[j] == '_' || 'A' <= line[j] && line[j] <= 'Z' || 'a' <= line[j] && line[j] <= 'z' || '0' <= line[j] && line[j] <= '9') {
				j++
			}
			name = line[i+1 : j]
		}
		if !shellName.MatchString(name) {
			return 0, fmt.Errorf("unsupported expansion $%s", name)
		}
		cur.WriteString(vars[name])
		return j, nil
	}
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case single:
			if c == '\'' {
				single = false
			} else {
				cur.WriteByte(c)
			}
			i++
		case c == '\'':
			single, inWord = true, true
			i++
		case c == '"':
			double, inWord = !double, true
			i++
		case double && c == '\\' && i+1 < len(line) && strings.IndexByte(`"\\$`, line[i+1]) >= 0:
			cur.WriteByte(line[i+1])
			i += 2
		case !double && c == '|':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
			words = append(words, "|")
			i++
		case c == '$':
			j, err := expand(i)
			if err != nil {
				return nil, err
			}
			inWord, i = true, j
		case c == '\\' || (!double && strings.ContainsRune(";&<>`()", rune(c))):
			return nil, fmt.Errorf("shell syntax %q is beyond this test's parser", c)
		case !double && (c == ' ' || c == '\t'):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
			i++
		default:
			cur.WriteByte(c)
			inWord = true
			i++
		}
	}
	if single || double {
		return nil, fmt.Errorf("unterminated quote in %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

func TestShellWords(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"VERSION": "v1.2.3", "GOOS": "linux"}
	got, err := shellWords(`A=0 GOOS=$GOOS go build -ldflags "-s -X main.v=${VERSION}" 'lit $X' -o /x`, vars)
	want := []string{"A=0", "GOOS=linux", "go", "build", "-ldflags", "-s -X main.v=v1.2.3", "lit $X", "-o", "/x"}
	if err != nil || strings.Join(got, "\x00") != strings.Join(want, "\x00") {
		t.Errorf("shellWords = %q, %v, want %q", got, err, want)
	}
	got, err = shellWords(`curl -d "{\"t\":\"$GOOS\"}"| jq -r .b`, vars)
	want = []string{"curl", "-d", `{"t":"linux"}`, "|", "jq", "-r", ".b"}
	if err != nil || strings.Join(got, "\x00") != strings.Join(want, "\x00") {
		t.Errorf("shellWords = %q, %v, want %q", got, err, want)
	}
	for _, bad := range []string{`go build && rm -rf /`, `echo "open`, `echo $(id)`, `echo ${`} {
		if _, err := shellWords(bad, vars); err == nil {
			t.Errorf("shellWords(%q) succeeded, want an error", bad)
		}
	}
}

// dockerContext copies to dst what .dockerignore lets into the build
// context. It understands the allow-list form the file uses: "*", then
// "!path" lines; anything else fails the test rather than being guessed at.
func dockerContext(t *testing.T, dst string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var allowed []string
	excludeAll := false
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case line == "*" && len(allowed) == 0:
			excludeAll = true
		case strings.HasPrefix(line, "!") && !strings.ContainsAny(line[1:], "*?[") && excludeAll:
			allowed = append(allowed, filepath.Clean(strings.TrimPrefix(line, "!")))
		default:
			t.Fatalf(".dockerignore: %q: this test understands only \"*\" followed by \"!path\" lines", line)
		}
	}
	if !excludeAll {
		t.Fatal(`.dockerignore must start by excluding everything ("*") and list what the build needs`)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range allowed {
		src := filepath.Join(repoRoot, p)
		err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(repoRoot, path)
			if err != nil {
				return err
			}
			if d.IsDir() {
				return os.MkdirAll(filepath.Join(dst, rel), 0o755)
			}
			if !d.Type().IsRegular() {
				return nil
			}
			return copyFile(path, filepath.Join(dst, rel))
		})
		if err != nil {
			t.Fatalf(".dockerignore allows %s: %v", p, err)
		}
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// TestDockerfileBuild runs the Dockerfile's go build command, as written, on
// the files .dockerignore sends, then checks that the binary is stamped and
// that its healthcheck, the image's HEALTHCHECK, works. It compiles the whole
// binary, which takes a while with a cold build cache, so -short skips it.
func TestDockerfileBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the binary; skipped with -short")
	}
	// Not parallel: a cold compile takes both cores for a minute, which
	// would starve the servers other tests in this package start.
	stages := readDockerfile(t)
	_, cmdline := goBuild(t, stages[0])
	vars := argDefaults(stages)
	words, err := shellWords(cmdline, vars)
	if err != nil {
		t.Fatal(err)
	}

	srcDir := filepath.Join(t.TempDir(), "src")
	dockerContext(t, srcDir)
	binDir := t.TempDir()
	bin := filepath.Join(binDir, "authsvc")

	// Leading NAME=value words are the command's environment.
	env := os.Environ()
	for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-") {
		env = append(env, words[0])
		words = words[1:]
	}
	if len(words) < 2 || words[0] != "go" || words[1] != "build" {
		t.Fatalf("build command %q is not go build", cmdline)
	}
	for i, w := range words {
		if w == "-o" && i+1 < len(words) {
			words[i+1] = bin // /out/authsvc in the image
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH")
	}
	build := exec.CommandContext(ctx, gobin, words[1:]...)
	build.Dir = srcDir
	build.Env = env
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s (in the .dockerignore context): %v\n%s", cmdline, err, out)
	}

	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if got, want := strings.TrimSpace(string(out)), vars["VERSION"]; err != nil || got != want {
		t.Errorf("authsvc version = %q, %v, want the stamped %q", got, err, want)
	}

	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, `{"status":"ok"}`)
	}))
	defer healthy.Close()
	hc := exec.CommandContext(ctx, bin, "healthcheck")
	hc.Env = append(os.Environ(), "AUTHSVC_ADDR="+strings.TrimPrefix(healthy.URL, "http://"))
	if out, err := hc.CombinedOutput(); err != nil {
		t.Errorf("the built binary's healthcheck against a healthy server: %v\n%s", err, out)
	}

	// Backups need only the binary: the image has no sqlite3, and here no
	// PATH either.
	data := t.TempDir()
	for _, args := range [][]string{{"migrate", "--create"}, {"backup", "--to", filepath.Join(data, "copy.db")}} {
		c := exec.CommandContext(ctx, bin, args...)
		c.Env = []string{"PATH=", "AUTHSVC_DB=" + filepath.Join(data, "authsvc.db")}
		if out, err := c.CombinedOutput(); err != nil {
			t.Errorf("the built binary's %v: %v\n%s", args, err, out)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "copy.db")); err != nil {
		t.Errorf("the built binary's backup wrote nothing: %v", err)
	}
}

// TestREADMEDocker holds the README's Docker recipe to the Dockerfile: the
// secrets are given to the image's group, which must be numeric and fixed,
// the data directory belongs to the image's user, and the commands run the
// image's binary on its volume.
func TestREADMEDocker(t *testing.T) {
	t.Parallel()
	stages := readDockerfile(t)
	final := stages[len(stages)-1]
	users := final.find("USER")
	if len(users) == 0 {
		t.Fatal("runtime stage has no USER; the README's recipe needs a fixed uid:gid")
	}
	user := users[len(users)-1].args
	m := regexp.MustCompile(`^([0-9]+):([0-9]+)$`).FindStringSubmatch(user)
	if m == nil {
		t.Fatalf("USER %s, want a numeric uid:gid: the README gives the secrets to that group", user)
	}
	uid, gid := m[1], m[2]
	owned := false
	for _, c := range final.find("COPY") {
		owned = owned || strings.Contains(c.args, "--chown="+uid+":"+gid) && strings.HasSuffix(c.args, " /data")
	}
	if !owned {
		t.Errorf("no COPY --chown=%s:%s ... /data: a new volume would not be writable by USER %s", uid, gid, user)
	}

	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(b), "\n## Docker\n")
	section, _, _ = strings.Cut(section, "\n## ")
	for _, want := range []string{
		"running as uid " + uid + "\nand gid " + gid,
		"sudo chgrp -R " + gid + " secrets",
		"umask 027",
		"--restart unless-stopped",
		"-v authsvc-data:/data",
		"`/data/authsvc.db`",
		"docker exec -i authsvc /authsvc user add",
		"docker exec authsvc /authsvc backup --to /data/",
		"chown " + uid + ":" + gid + " /data/authsvc.db",
	} {
		if !strings.Contains(section, want) {
			t.Errorf("README's Docker section lacks %q", want)
		}
	}
	if strings.Contains(section, "chown -R "+uid) || strings.Contains(section, "go-rwx") {
		t.Error("README's Docker section gives the secrets to the container's user, locking their owner out")
	}
}

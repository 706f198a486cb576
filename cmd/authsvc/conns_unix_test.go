//go:build unix

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	rlimitChildEnv = "AUTHSVC_TEST_RLIMIT_CHILD"
	childNoFile    = 4096
)

// TestIdleConnsUnderFileLimit is the production case: "authsvc serve" in a
// process limited to 4,096 open files, with its default connection cap,
// holds 5,000 idle keep-alive clients and still answers a new client's
// /healthz. The server runs in a child (this test binary again, with the
// limit lowered) so that the clients' own descriptors don't count against
// it.
func TestIdleConnsUnderFileLimit(t *testing.T) {
	t.Parallel()
	const idle = 5000
	var own syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &own); err != nil || own.Cur < idle+1024 || own.Max < childNoFile {
		t.Skipf("needs %d open files for the clients, and a hard limit of at least %d for the child: %+v, %v", idle+1024, childNoFile, own, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // hang guard
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestFileLimitChild$")
	cmd.Env = append(os.Environ(), rlimitChildEnv+"="+filepath.Join(t.TempDir(), "authsvc.db"))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close() // the child shuts down on EOF
		if err := cmd.Wait(); err != nil {
			t.Errorf("child: %v", err)
		}
	}()

	var listening struct {
		Msg, Addr string
		MaxConns  int `json:"max_conns"`
	}
	sc := bufio.NewScanner(stderr)
	for listening.Msg != "listening" && sc.Scan() {
		json.Unmarshal(sc.Bytes(), &listening)
	}
	if listening.Addr == "" {
		t.Fatalf("child never listened: %v", sc.Err())
	}
	go io.Copy(io.Discard, stderr)
	if want := childNoFile - fdHeadroom; listening.MaxConns != want {
		t.Errorf("default max_conns = %d with %d open files, want %d", listening.MaxConns, childNoFile, want)
	}

	for i := 0; i < idle; i++ {
		c := keepAliveHealthz(t, listening.Addr)
		defer c.Close()
	}
	client := &http.Client{Timeout: hangGuard, Transport: &http.Transport{}}
	resp, err := client.Get("http://" + listening.Addr + "/healthz")
	if err != nil {
		t.Fatalf("new client after %d idle ones: %v", idle, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("new client: status %d", resp.StatusCode)
	}
}

// TestFileLimitChild is the server of TestIdleConnsUnderFileLimit; it does
// nothing in a normal run.
func TestFileLimitChild(t *testing.T) {
	db := os.Getenv(rlimitChildEnv)
	if db == "" {
		t.Skip("runs only as the child of TestIdleConnsUnderFileLimit")
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: childNoFile, Max: childNoFile}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	// Every client of the test is 127.0.0.1: no cap per client, so that
	// the connection cap is what the clients meet.
	env := map[string]string{"AUTHSVC_DB": db, "AUTHSVC_SHUTDOWN_TIMEOUT": "5s", "AUTHSVC_MAX_CONNS_PER_CLIENT": "0"}
	argv := []string{"authsvc", "serve", "--dev", "--addr", "127.0.0.1:0"}
	if err := run(ctx, argv, envFunc(env), strings.NewReader(""), io.Discard, os.Stderr); err != nil {
		t.Fatal(err)
	}
}

package main

import (
	"bytes"
	"fmt"
	"os"
)

// readSecret returns a secret from the file named by file when it is set, else
// from the environment variable env, else from the file named by env+"_FILE".
// Secrets never come from plain flags: those show up in ps and shell history.
// Trailing whitespace is dropped from files, since editors add newlines. The
// returned error names where it looked, never the secret. ok is false when
// no source was configured.
func readSecret(getenv func(string) string, env, file string) (secret []byte, ok bool, err error) {
	return readSecretFrom(getenv, env, file, env)
}

// readSecretFrom is readSecret where the file, when given, came from fileSrc
// (a flag, say): an error about it names fileSrc, not a variable that was
// not used.
func readSecretFrom(getenv func(string) string, env, file, fileSrc string) (secret []byte, ok bool, err error) {
	src := fileSrc
	if file == "" {
		src = env + "_FILE"
		if v := getenv(env); v != "" {
			return []byte(v), true, nil
		}
		file = getenv(env + "_FILE")
		if file == "" {
			return nil, false, nil
		}
	}
	b, err := readSecretFile(file)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", src, err)
	}
	return b, true, nil
}

// readSecretFile reads a secret from a file, without the trailing
// whitespace editors add. An empty file is an error.
func readSecretFile(name string) ([]byte, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read secret file: %w", err)
	}
	b = bytes.TrimRight(b, " \t\r\n")
	if len(b) == 0 {
		return nil, fmt.Errorf("secret file %s is empty", name)
	}
	return b, nil
}

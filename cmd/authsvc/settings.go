package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// settings are the flags of a command, each with an environment twin. A
// flag given on the command line wins over its variable, which wins over
// the default. Errors name the flag or variable the bad value came from.
type settings struct {
	fs     *flag.FlagSet
	getenv func(string) string
	list   []*setting
	byName map[string]*setting
}

type setting struct {
	Name, Env, Default, Help string
	kind                     string // for the help; see kindOf
	val                      flagValue
	set                      bool // given on the command line
}

// flagValue holds a flag's text; boolean flags may be given bare (--dev).
type flagValue struct {
	s      *string
	isBool bool
}

func (v flagValue) String() string {
	if v.s == nil {
		return ""
	}
	return *v.s
}
func (v flagValue) Set(s string) error { *v.s = s; return nil }
func (v flagValue) IsBoolFlag() bool   { return v.isBool }

func newSettings(fs *flag.FlagSet, getenv func(string) string) *settings {
	return &settings{fs: fs, getenv: getenv, byName: map[string]*setting{}}
}

// add declares a flag --name with the environment twin env.
func (s *settings) add(name, env, def, help string) {
	s.declare(name, env, def, help, false)
}

// addUint32 declares a flag whose value is read with uint32.
func (s *settings) addUint32(name, env, help string) {
	s.declare(name, env, "", help, false)
	s.byName[name].kind = "uint32"
}

// addBool declares a boolean flag, which may be given bare.
func (s *settings) addBool(name, env, help string) {
	s.declare(name, env, "false", help, true)
}

func (s *settings) declare(name, env, def, help string, isBool bool) {
	st := &setting{Name: name, Env: env, Default: def, Help: help}
	v := def
	st.val = flagValue{s: &v, isBool: isBool}
	usage := help
	if env != "" {
		usage += " (env " + env + ")"
	}
	s.fs.Var(st.val, name, usage)
	s.list = append(s.list, st)
	s.byName[name] = st
}

// get returns a setting's value and where it came from.
func (s *settings) get(name string) (value, source string) {
	st := s.byName[name]
	if st.set {
		return *st.val.s, "--" + name
	}
	if st.Env != "" {
		if v := s.getenv(st.Env); v != "" {
			return v, st.Env
		}
	}
	return st.Default, "--" + name
}

// explicit reports whether the command line or the environment gave a value.
func (s *settings) explicit(name string) bool {
	st := s.byName[name]
	return st.set || (st.Env != "" && s.getenv(st.Env) != "")
}

func (s *settings) str(name string) string {
	v, _ := s.get(name)
	return v
}

func (s *settings) duration(name string) (time.Duration, error) {
	v, src := s.get(name)
	d, err := parseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", src, err)
	}
	return d, nil
}

// parseDuration parses a Go duration ("90s", "1h30m"), optionally led by a
// whole number of days ("7d", "1d12h"), which Go's syntax lacks and
// lifetimes and retention periods want. Every command parses durations
// with it, so they all accept the same text and say the same when it is
// wrong.
func parseDuration(v string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a duration such as 90s, 15m, 1h or 7d", v)
	rest := v
	var days time.Duration
	if i := strings.IndexByte(v, 'd'); i >= 0 {
		n, err := strconv.ParseUint(v[:i], 10, 32)
		if err != nil || i == 0 || v[0] == '+' || time.Duration(n) > math.MaxInt64/(24*time.Hour) {
			return 0, bad
		}
		days, rest = time.Duration(n)*24*time.Hour, v[i+1:]
		if rest == "" {
			return days, nil
		}
		if rest[0] == '-' || rest[0] == '+' {
			return 0, bad
		}
	}
	d, err := time.ParseDuration(rest)
	if err != nil || d > math.MaxInt64-days {
		return 0, bad
	}
	return days + d, nil
}

func (s *settings) boolean(name string) (bool, error) {
	v, src := s.get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s: %q is not true or false", src, v)
	}
	return b, nil
}

func (s *settings) uint32(name string) (uint32, error) {
	v, src := s.get(name)
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%s: %q is not a number from 1 to 4294967295", src, v)
	}
	return uint32(n), nil
}

// secret reads the secret whose value variable is env and whose file is
// the setting fileSetting (see readSecret); errors name where the file's
// name came from.
func (s *settings) secret(env, fileSetting string) ([]byte, error) {
	file, src := s.get(fileSetting)
	return readSecretFrom(s.getenv, env, file, src)
}

// list splits a comma-separated value, dropping blanks.
func splitList(v string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '\n' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// command is the flag set of one command, e.g. "token mint", and the text
// of its help. Its settings (flags with an optional environment twin) and
// plain flags on fs may be mixed.
type command struct {
	*settings
	path  string    // the words after "authsvc"
	usage string    // the usage line after "authsvc", e.g. "token decode [flags] TOKEN"
	about string    // a paragraph for the help, optional
	out   io.Writer // where -h prints the help
}

func newCommand(path, usage, about string, getenv func(string) string, out io.Writer) *command {
	fs := flag.NewFlagSet("authsvc "+path, flag.ContinueOnError)
	// The flag package would print its error and the whole usage; parse
	// reports the error with a one-line hint instead.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &command{settings: newSettings(fs, getenv), path: path, usage: usage, about: about, out: out}
}

// parse parses args. Flags may follow positional arguments; after "--"
// everything is positional, so an argument may start with '-'. With -h it
// prints the help and returns flag.ErrHelp (see helpOr); a mistake is a
// usage error with a hint.
func (c *command) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := c.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.help(c.out)
				return nil, flag.ErrHelp
			}
			return nil, c.usageError("%s", strings.Replace(err.Error(), " -", " --", 1))
		}
		rest := c.fs.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	c.fs.Visit(func(f *flag.Flag) {
		if st, ok := c.byName[f.Name]; ok {
			st.set = true
		}
	})
	return pos, nil
}

// usageError is a mistake on the command line: the error and a hint where
// to read more, not the whole help.
func (c *command) usageError(format string, args ...any) error {
	return usageError("%s: %s\nrun 'authsvc %s -h' for its flags", c.path, fmt.Sprintf(format, args...), c.path)
}

// help prints the usage line, the paragraph and every flag with its type,
// default and environment twin.
func (c *command) help(w io.Writer) {
	fmt.Fprintf(w, "Usage: authsvc %s\n\n", c.usage)
	if c.about != "" {
		fmt.Fprintf(w, "%s\n\n", strings.TrimSpace(c.about))
	}
	fmt.Fprintln(w, "Flags:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	c.fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		var notes []string
		if st, ok := c.byName[f.Name]; ok {
			typ, usage = kindOf(st), st.Help
			if st.Default != "" && !st.val.isBool {
				notes = append(notes, "default "+st.Default)
			}
			if st.Env != "" {
				notes = append(notes, "env "+st.Env)
			}
		} else {
			if t, ok := f.Value.(interface{ Type() string }); ok {
				typ = t.Type()
			}
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
				notes = append(notes, "default "+f.DefValue)
			}
		}
		if len(notes) > 0 {
			usage += " (" + strings.Join(notes, ", ") + ")"
		}
		fmt.Fprintf(tw, "  --%s %s\t%s\n", f.Name, typ, usage)
	})
	tw.Flush()
}

// kindOf names the type of a setting's value for the help: settings are
// text until read, so the type is told by the default.
func kindOf(st *setting) string {
	switch {
	case st.val.isBool:
		return ""
	case st.kind != "":
		return st.kind
	case st.Default == "":
		return "string"
	}
	if _, err := strconv.ParseInt(st.Default, 10, 64); err == nil {
		return "int"
	}
	if _, err := parseDuration(st.Default); err == nil {
		return "duration"
	}
	return "string"
}

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

// settings are the flags of a command, typed: each value is parsed when it
// is set, so a mistake is reported before anything starts, naming where the
// value came from. With twins, each setting also has an environment
// variable named after it (envTwin), applied through flag.Set after the
// command line: a flag given on the command line wins over its variable,
// which wins over the default.
type settings struct {
	fs     *flag.FlagSet
	getenv func(string) string
	twins  bool
	list   []*setting
	byName map[string]*setting
	setErr error // why the last Set during fs.Parse failed, naming the flag
}

// setting is one typed flag; it is the flag's flag.Value.
type setting struct {
	Name, Env, Default, Help string
	kind                     string // for the help: "string", "duration", ...; "" for a boolean
	parse                    func(string) (any, error)
	text                     string // as given
	value                    any    // as parsed
	src                      string // "--name" or the variable it came from; "" for the default
	owner                    *settings
}

func (st *setting) String() string {
	if st == nil {
		return ""
	}
	return st.text
}

func (st *setting) Set(v string) error {
	val, err := st.parse(v)
	if err != nil {
		st.owner.setErr = fmt.Errorf("--%s: %w", st.Name, err)
		return err
	}
	st.text, st.value = v, val
	return nil
}

func (st *setting) IsBoolFlag() bool { return st.kind == "" }

// envTwin names the variable of the setting --name: AUTHSVC_ and the name
// in capitals, with _ for - (--token-ttl: AUTHSVC_TOKEN_TTL).
func envTwin(name string) string {
	return "AUTHSVC_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// newSettings declares settings on fs; with twins, each has its variable.
func newSettings(fs *flag.FlagSet, getenv func(string) string, twins bool) *settings {
	return &settings{fs: fs, getenv: getenv, twins: twins, byName: map[string]*setting{}}
}

// addText declares a text flag.
func (s *settings) addText(name, def, help string) *setting {
	return s.declare(name, "string", def, help, func(v string) (any, error) { return v, nil })
}

// addDuration declares a flag read with parseDuration.
func (s *settings) addDuration(name, def, help string) *setting {
	return s.declare(name, "duration", def, help, func(v string) (any, error) { return parseDuration(v) })
}

// addUint32 declares a flag of a number from 1 to 4294967295, without a
// default.
func (s *settings) addUint32(name, help string) *setting {
	return s.declare(name, "uint32", "", help, func(v string) (any, error) {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("%q is not a number from 1 to 4294967295", v)
		}
		return uint32(n), nil
	})
}

// addInt declares a flag of a number from lo to hi; what names it in an
// error ("a prefix length").
func (s *settings) addInt(name, def string, lo, hi int, what, help string) *setting {
	return s.declare(name, "int", def, help, func(v string) (any, error) {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return nil, fmt.Errorf("%q is not %s from %d to %d", v, what, lo, hi)
		}
		return n, nil
	})
}

// addBool declares a boolean flag, which may be given bare.
func (s *settings) addBool(name, help string) *setting {
	return s.declare(name, "", "false", help, parseBool)
}

// parseBool reads a boolean setting; a flag of kind "" declared with it
// and a default of "true" is one that is on unless turned off.
func parseBool(v string) (any, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, fmt.Errorf("%q is not true or false", v)
	}
	return b, nil
}

func (s *settings) declare(name, kind, def, help string, parse func(string) (any, error)) *setting {
	st := &setting{Name: name, Default: def, Help: help, kind: kind, parse: parse, text: def, owner: s}
	if s.twins {
		st.Env = envTwin(name)
	}
	if def != "" {
		v, err := parse(def)
		if err != nil {
			panic(fmt.Sprintf("setting --%s: default %q: %v", name, def, err)) // a mistake in this file
		}
		st.value = v
	}
	s.fs.Var(st, name, help)
	s.list = append(s.list, st)
	s.byName[name] = st
	return st
}

// twin names the setting's variable env instead of the one envTwin
// derives, for a name kept from before that rule.
func (st *setting) twin(env string) *setting {
	st.Env = env
	return st
}

// applyEnv sets each setting the command line left alone from its
// variable, through flag.Set, so the value is parsed as a flag's is; an
// error names the variable.
func (s *settings) applyEnv() error {
	for _, st := range s.list {
		if st.src != "" || st.Env == "" {
			continue
		}
		v := s.getenv(st.Env)
		if v == "" {
			continue
		}
		if err := s.fs.Set(st.Name, v); err != nil {
			return fmt.Errorf("%s: %w", st.Env, err)
		}
		st.src = st.Env
	}
	return nil
}

// get returns a setting's text and where it came from.
func (s *settings) get(name string) (value, source string) {
	st := s.byName[name]
	if st.src == "" {
		return st.text, "--" + name
	}
	return st.text, st.src
}

// source is where a setting's value came from, for errors: its flag, its
// variable, or its flag when the value is the default.
func (s *settings) source(name string) string {
	_, src := s.get(name)
	return src
}

// explicit reports whether the command line or the environment gave a value.
func (s *settings) explicit(name string) bool {
	return s.byName[name].src != ""
}

func (s *settings) str(name string) string {
	v, _ := s.get(name)
	return v
}

// duration returns a duration setting's value; it was parsed when set.
func (s *settings) duration(name string) (time.Duration, error) {
	if d, ok := s.byName[name].value.(time.Duration); ok {
		return d, nil
	}
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

// boolean returns a boolean setting's value.
func (s *settings) boolean(name string) (bool, error) {
	b, _ := s.byName[name].value.(bool)
	return b, nil
}

// uint32 returns a uint32 setting's value; unset, it is an error naming the
// flag, as 0 is not a valid value.
func (s *settings) uint32(name string) (uint32, error) {
	if n, ok := s.byName[name].value.(uint32); ok {
		return n, nil
	}
	_, src := s.get(name)
	return 0, fmt.Errorf("%s: \"\" is not a number from 1 to 4294967295", src)
}

// integer returns an int setting's value.
func (s *settings) integer(name string) int {
	n, _ := s.byName[name].value.(int)
	return n
}

// secret reads the secret whose value variable is env and whose file is
// the setting fileSetting (see readSecret); errors name where the file's
// name came from.
func (s *settings) secret(env, fileSetting string) (secret []byte, ok bool, err error) {
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
// of its help. Its settings (typed flags, with environment twins once
// twins is set) and plain flags on fs may be mixed.
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
	return &command{settings: newSettings(fs, getenv, false), path: path, usage: usage, about: about, out: out}
}

// parseFlags parses args, and is the one place that does: flags may
// follow positional arguments; after "--" everything is positional, so an
// argument may start with '-'. Then the variables of the settings the
// command line left alone are applied. With -h it prints the help and
// returns flag.ErrHelp, which runEnv turns into success; a mistake on the
// command line is a usage error with a hint (exit status 2), a bad
// variable an error naming it.
func (c *command) parseFlags(args []string) ([]string, error) {
	var pos []string
	for {
		c.setErr = nil
		if err := c.fs.Parse(args); err != nil {
			switch {
			case errors.Is(err, flag.ErrHelp):
				c.help(c.out)
				return nil, flag.ErrHelp
			case c.setErr != nil:
				return nil, c.usageError("%v", c.setErr)
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
			st.src = "--" + f.Name
		}
	})
	if err := c.applyEnv(); err != nil {
		return nil, err
	}
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
			typ, usage = st.kind, st.Help
			if st.Default != "" && !st.IsBoolFlag() {
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

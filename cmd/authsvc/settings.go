package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
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

// parse parses args and marks which flags the command line set.
func (s *settings) parse(args []string) error {
	if err := s.fs.Parse(args); err != nil {
		return err
	}
	s.fs.Visit(func(f *flag.Flag) {
		if st, ok := s.byName[f.Name]; ok {
			st.set = true
		}
	})
	return nil
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
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a duration such as 90s, 15m or 1h", src, v)
	}
	return d, nil
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

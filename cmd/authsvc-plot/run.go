package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxFiles is how many series the palette tells apart.
const maxFiles = len(palette)

const usageHeader = `authsvc-plot draws authsvc-load --timeline CSV files as one SVG: p99
latency (ms) over elapsed time (s), with p50 lighter, a colour per file.

Usage:
  authsvc-plot [flags] FILE.csv...

Flags:
`

// series is one file's points and its name in the legend.
type series struct {
	label string
	pts   []point
}

// run is the whole program; main only wires it to the process. args[0] is
// the program name. It reads only the files named, quickly, so it neither
// watches ctx nor reads the environment.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("authsvc-plot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHeader)
		fs.PrintDefaults()
	}
	out := fs.String("out", "", "write the SVG to this file (default: stdout)")
	title := fs.String("title", "Latency over time", "the plot's title")
	logY := fs.Bool("log-y", false, "a logarithmic latency axis")
	labels := map[string]string{}
	fs.Func("label", "FILE=NAME: the legend's name for FILE (repeatable; default: the file's base name)", func(s string) error {
		file, name, ok := strings.Cut(s, "=")
		if !ok || file == "" || name == "" {
			return fmt.Errorf("%q is not FILE=NAME", s)
		}
		labels[file] = name
		return nil
	})
	if len(args) == 0 {
		args = []string{"authsvc-plot"}
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("invalid command line: %w", err)
	}
	files := fs.Args()
	if len(files) == 0 || len(files) > maxFiles {
		return fmt.Errorf("give 1 to %d CSV files (see -h); got %d", maxFiles, len(files))
	}
	used := map[string]bool{}
	ss := make([]series, len(files))
	for i, name := range files {
		pts, err := readFile(name)
		if err != nil {
			return err
		}
		label := filepath.Base(name)
		for _, key := range []string{label, name} { // the path as given wins
			if l, ok := labels[key]; ok {
				label = l
			}
		}
		used[name], used[filepath.Base(name)] = true, true
		ss[i] = series{label: label, pts: pts}
	}
	for file := range labels {
		if !used[file] {
			return fmt.Errorf("--label %s=...: no such file among the arguments", file)
		}
	}

	w := stdout
	var f *os.File
	if *out != "" {
		var err error
		if f, err = os.Create(*out); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		defer f.Close() // on the way out early; closed and checked below otherwise
		w = f
	}
	bw := bufio.NewWriter(w)
	render(bw, *title, ss, *logY)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write the SVG: %w", err)
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	return nil
}

func readFile(name string) ([]point, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readTimeline(f, name)
}

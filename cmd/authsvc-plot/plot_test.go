package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// svgDoc is what the tests read back from an SVG.
type svgDoc struct {
	width, height float64
	polylines     []polyline
	texts         map[string][]string // by class ("" for none)
}

type polyline struct {
	class, series string
	points        [][2]float64
}

// parseSVG decodes an SVG with encoding/xml, failing the test unless it is
// well-formed with an <svg> root.
func parseSVG(t testing.TB, b []byte) svgDoc {
	t.Helper()
	doc := svgDoc{texts: map[string][]string{}}
	dec := xml.NewDecoder(bytes.NewReader(b))
	var depth int
	var textClass *string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v\n%s", err, b)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			attr := func(name string) string {
				for _, a := range tok.Attr {
					if a.Name.Local == name {
						return a.Value
					}
				}
				return ""
			}
			if depth == 0 {
				if tok.Name.Local != "svg" || tok.Name.Space != "http://www.w3.org/2000/svg" {
					t.Fatalf("root element %v, want svg in the SVG namespace", tok.Name)
				}
				doc.width, _ = strconv.ParseFloat(attr("width"), 64)
				doc.height, _ = strconv.ParseFloat(attr("height"), 64)
			}
			depth++
			switch tok.Name.Local {
			case "polyline":
				pl := polyline{class: attr("class"), series: attr("data-series")}
				for _, xy := range strings.Fields(attr("points")) {
					xs, ys, _ := strings.Cut(xy, ",")
					x, err1 := strconv.ParseFloat(xs, 64)
					y, err2 := strconv.ParseFloat(ys, 64)
					if err1 != nil || err2 != nil {
						t.Fatalf("polyline point %q is not x,y", xy)
					}
					pl.points = append(pl.points, [2]float64{x, y})
				}
				doc.polylines = append(doc.polylines, pl)
			case "text":
				c := attr("class")
				textClass = &c
			}
		case xml.EndElement:
			depth--
			textClass = nil
		case xml.CharData:
			if textClass != nil {
				doc.texts[*textClass] = append(doc.texts[*textClass], string(tok))
			}
		}
	}
	return doc
}

// writeCSV writes a timeline of n rows to dir/name and returns its path.
func writeCSV(t testing.TB, dir, name string, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("elapsed_s,requests,errors,p50_ms,p99_ms,max_ms\n")
	for i := range n {
		// An empty interval (all zeros) among them, as the load generator writes.
		if i == 1 {
			b.WriteString(strconv.Itoa(i+1) + ".000,0,0,0.000,0.000,0.000\n")
			continue
		}
		b.WriteString(strconv.Itoa(i+1) + ".000,100,0," + strconv.Itoa(i+1) + ".250," + strconv.Itoa(10*(i+1)) + ".5,99\n")
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunPlot(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := writeCSV(t, dir, "a.csv", 3), writeCSV(t, dir, "b.csv", 5)
	for _, logY := range []bool{false, true} {
		t.Run("log-y="+strconv.FormatBool(logY), func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "plot.svg")
			args := []string{"authsvc-plot", "--title", `Token route <1M & "1k">`, "--label", "a.csv=SQLite", "--out", out, a, b}
			if logY {
				args = append(args[:1], append([]string{"--log-y"}, args[1:]...)...)
			}
			var stdout, stderr bytes.Buffer
			if err := run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr); err != nil {
				t.Fatalf("run = %v\nstderr:\n%s", err, stderr.String())
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout = %q with --out, want nothing", stdout.String())
			}
			svg, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			doc := parseSVG(t, svg)
			if got := doc.texts["title"]; len(got) != 1 || got[0] != `Token route <1M & "1k">` {
				t.Errorf("title = %q, want the --title", got)
			}
			if got := doc.texts["legend"]; len(got) != 2 || got[0] != "SQLite" || got[1] != "b.csv" {
				t.Errorf("legend = %q, want [SQLite b.csv]", got)
			}
			want := []struct {
				class, series string
				points        int
			}{{"p50", "0", 3}, {"p99", "0", 3}, {"p50", "1", 5}, {"p99", "1", 5}}
			if len(doc.polylines) != len(want) {
				t.Fatalf("%d polylines, want %d", len(doc.polylines), len(want))
			}
			for i, w := range want {
				pl := doc.polylines[i]
				if pl.class != w.class || pl.series != w.series || len(pl.points) != w.points {
					t.Errorf("polyline %d: %s of series %s with %d points, want %s of %s with %d",
						i, pl.class, pl.series, len(pl.points), w.class, w.series, w.points)
				}
				for j, p := range pl.points {
					if p[0] < left || p[0] > width-right || p[1] < top || p[1] > top+plotHeight {
						t.Errorf("polyline %d point %d = %v, outside the plot area", i, j, p)
					}
					if j > 0 && p[0] <= pl.points[j-1][0] {
						t.Errorf("polyline %d point %d = %v: x does not rise", i, j, p)
					}
				}
			}
			// The empty interval lies on the bottom axis; the longest run's
			// last point reaches the right edge's last tick or short of it.
			if y := doc.polylines[1].points[1][1]; y != top+plotHeight {
				t.Errorf("the empty interval's p99 is at y = %v, want the bottom axis %v", y, top+plotHeight)
			}
			if !strings.Contains(strings.Join(doc.texts[""], "|"), "latency (ms)") {
				t.Errorf("no y axis title among %q", doc.texts[""])
			}
		})
	}
}

func TestRunPlotStdout(t *testing.T) {
	t.Parallel()
	a := writeCSV(t, t.TempDir(), "run-1.csv", 4)
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"authsvc-plot", a}, func(string) string { return "" }, &stdout, &stderr); err != nil {
		t.Fatalf("run = %v", err)
	}
	doc := parseSVG(t, stdout.Bytes())
	if len(doc.polylines) != 2 || len(doc.polylines[0].points) != 4 || doc.texts["legend"][0] != "run-1.csv" {
		t.Errorf("stdout SVG: %d polylines, legend %q; want 2 of 4 points, run-1.csv", len(doc.polylines), doc.texts["legend"])
	}
}

func TestRunPlotErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := writeCSV(t, dir, "good.csv", 2)
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("elapsed_s,requests,errors,p50_ms,p99_ms,max_ms\n1,1,0,1,2,3\n2,1,0,1,NaN,3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	many := make([]string, maxFiles+1)
	for i := range many {
		many[i] = good
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no files", nil, "give 1 to"},
		{"too many files", many, "give 1 to"},
		{"missing file", []string{filepath.Join(dir, "nope.csv")}, "nope.csv"},
		{"bad value", []string{good, bad}, `bad.csv: line 3: p99_ms "NaN" is not a number`},
		{"label for no file", []string{"--label", "other.csv=X", good}, "--label other.csv"},
		{"label without name", []string{"--label", "good.csv", good}, "not FILE=NAME"},
		{"out in no directory", []string{"--out", filepath.Join(dir, "no", "x.svg"), good}, "--out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"authsvc-plot"}, tt.args...), func(string) string { return "" }, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run = %v, want an error saying %q", err, tt.want)
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout = %q after an error, want nothing", stdout.String())
			}
		})
	}
}

func TestReadTimelineErrors(t *testing.T) {
	t.Parallel()
	const h = "elapsed_s,requests,errors,p50_ms,p99_ms,max_ms\n"
	tests := []struct{ in, want string }{
		{"", "empty"},
		{h, "no rows"},
		{"elapsed_s,p50_ms\n1,2\n", "no p99_ms column"},
		{"elapsed_s,p50_ms,p99_ms,p99_ms\n1,2,3,4\n", "p99_ms appears twice"},
		{h + "1,1,0,1,2\n", "wrong number of fields"},
		{h + "1,1,0,1,2,3\n-1,1,0,1,2,3\n", `line 3: elapsed_s "-1"`},
		{h + "1,1,0,x,2,3\n", `line 2: p50_ms "x"`},
		{h + "1,1,0,1,+Inf,3\n", `p99_ms "+Inf"`},
		{h + "1,1,0,1,1e10,3\n", `p99_ms "1e10" is not a number from 0 to 1e+09`},
		{h + "1,1,0,\"1,2,3\n", "extraneous or missing"},
	}
	for _, tt := range tests {
		_, err := readTimeline(strings.NewReader(tt.in), "t.csv")
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "t.csv: ") {
			t.Errorf("readTimeline(%q) = %v, want an error naming t.csv and saying %q", tt.in, err, tt.want)
		}
	}
	// Columns found by name, in any order, others ignored.
	pts, err := readTimeline(strings.NewReader("p99_ms,x,elapsed_s,p50_ms\n9,a,1.5,2\n"), "t.csv")
	if err != nil || len(pts) != 1 || pts[0] != (point{elapsed: 1.5, p50: 2, p99: 9}) {
		t.Errorf("readTimeline(reordered) = %v, %v; want one point {1.5 2 9}", pts, err)
	}
}

func TestLinearTicks(t *testing.T) {
	t.Parallel()
	for _, hi := range []float64{0, 1e-9, 0.3, 1, 3.4, 7, 10, 12.5, 99, 600, 1e6} {
		ticks := linearTicks(hi)
		last := ticks[len(ticks)-1]
		if ticks[0] != 0 || last < hi || len(ticks) < 3 || len(ticks) > 12 {
			t.Errorf("linearTicks(%v) = %v, want 0 up to at least %v in 2 to 11 steps", hi, ticks, hi)
		}
	}
}

// FuzzReadTimeline: any input is a clear error or points that render to
// well-formed SVG; never a panic.
func FuzzReadTimeline(f *testing.F) {
	f.Add([]byte("elapsed_s,requests,errors,p50_ms,p99_ms,max_ms\n1.000,10,0,1.5,4.2,5\n2.000,0,0,0,0,0\n"))
	f.Add([]byte("elapsed_s,p50_ms,p99_ms\n1e308,1e-308,0\n"))
	f.Add([]byte("p99_ms,elapsed_s,p50_ms\n\"1\",2,3\n"))
	f.Add([]byte("elapsed_s,p50_ms,p99_ms\n1,2\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pts, err := readTimeline(bytes.NewReader(b), "f.csv")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.csv: ") {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		if len(pts) == 0 || len(pts) > maxRows {
			t.Fatalf("%d points without an error", len(pts))
		}
		for _, p := range pts {
			for _, v := range []float64{p.elapsed, p.p50, p.p99} {
				if !(v >= 0 && v <= maxValue) {
					t.Fatalf("point %+v holds %v", p, v)
				}
			}
		}
		for _, logY := range []bool{false, true} {
			var svg bytes.Buffer
			render(&svg, "fuzz", []series{{label: "f", pts: pts}}, logY)
			doc := parseSVG(t, svg.Bytes())
			if len(doc.polylines) != 2 || len(doc.polylines[0].points) != len(pts) {
				t.Fatalf("%d polylines, want 2 of %d points", len(doc.polylines), len(pts))
			}
			for _, pl := range doc.polylines {
				for _, p := range pl.points {
					if !(p[0] >= left && p[0] <= width-right && p[1] >= top && p[1] <= top+plotHeight) {
						t.Fatalf("log-y %v: point %v outside the plot area, from %+v", logY, p, pts)
					}
				}
			}
		}
	})
}

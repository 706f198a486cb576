package main

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
)

// The plot's geometry, in SVG user units.
const (
	width, plotHeight      = 800, 400
	left, right, top, axes = 70, 20, 40, 50 // margins; axes: below the plot, for tick labels and the x title
	legendLine             = 18
)

// palette tells the files apart; colour-blind safe (Okabe-Ito, then grey).
var palette = [...]string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000", "#999999"}

// render writes the SVG of ss to w; write errors are the caller's to see
// when it flushes.
func render(w io.Writer, title string, ss []series, logY bool) {
	xmax, ymin, ymax := 0.0, math.Inf(1), 0.0
	for _, s := range ss {
		for _, p := range s.pts {
			xmax, ymax = max(xmax, p.elapsed), max(ymax, p.p99, p.p50)
			for _, v := range []float64{p.p50, p.p99} {
				if v > 0 {
					ymin = min(ymin, v)
				}
			}
		}
	}
	xTicks := linearTicks(xmax)
	xmax = xTicks[len(xTicks)-1]
	var yTicks []float64
	if logY {
		if math.IsInf(ymin, 1) { // nothing above zero
			ymin, ymax = 1, 10
		}
		lo, hi := math.Floor(math.Log10(ymin)), math.Ceil(math.Log10(ymax))
		if hi == lo {
			hi++
		}
		for e := lo; e <= hi; e++ {
			yTicks = append(yTicks, math.Pow(10, e))
		}
	} else {
		yTicks = linearTicks(ymax)
	}
	y0, y1 := yTicks[0], yTicks[len(yTicks)-1]
	plotW, bottom := float64(width-left-right), float64(top+plotHeight)
	sx := func(v float64) float64 { return left + v/xmax*plotW }
	sy := func(v float64) float64 {
		if logY {
			// Zero (an interval without requests) sits on the bottom axis.
			return bottom - (math.Log10(max(v, y0))-math.Log10(y0))/(math.Log10(y1)-math.Log10(y0))*plotHeight
		}
		return bottom - (v-y0)/(y1-y0)*plotHeight
	}

	height := top + plotHeight + axes + legendLine*(len(ss)+1)
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(w, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(w, `<text class="title" x="%d" y="24" text-anchor="middle" font-size="16">%s</text>`+"\n", width/2, esc(title))
	for _, v := range xTicks {
		x := sx(v)
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x, top, x, bottom)
		fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, bottom+16, tickLabel(v))
	}
	for _, v := range yTicks {
		y := sy(v)
		fmt.Fprintf(w, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", left, y, width-right, y)
		fmt.Fprintf(w, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y+4, tickLabel(v))
	}
	fmt.Fprintf(w, `<path d="M%d %d V%.0f H%d" fill="none" stroke="black"/>`+"\n", left, top, bottom, width-right)
	fmt.Fprintf(w, `<text x="%.0f" y="%.0f" text-anchor="middle">elapsed (s)</text>`+"\n", left+plotW/2, bottom+36)
	yTitle := "latency (ms)"
	if logY {
		yTitle += ", log scale"
	}
	fmt.Fprintf(w, `<text x="16" y="%.0f" text-anchor="middle" transform="rotate(-90 16 %.0f)">%s</text>`+"\n",
		top+plotHeight/2.0, top+plotHeight/2.0, yTitle)

	for i, s := range ss {
		c := palette[i]
		for _, q := range []struct {
			class, opacity string
			v              func(point) float64
		}{{"p50", "0.35", func(p point) float64 { return p.p50 }}, {"p99", "1", func(p point) float64 { return p.p99 }}} {
			var b strings.Builder
			for j, p := range s.pts {
				if j > 0 {
					b.WriteByte(' ')
				}
				fmt.Fprintf(&b, "%.1f,%.1f", sx(p.elapsed), sy(q.v(p)))
			}
			fmt.Fprintf(w, `<polyline class="%s" data-series="%d" points="%s" fill="none" stroke="%s" stroke-opacity="%s" stroke-width="1.5"/>`+"\n",
				q.class, i, b.String(), c, q.opacity)
		}
		ly := top + plotHeight + axes + legendLine*i + 12
		fmt.Fprintf(w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", left, ly-4, left+24, ly-4, c)
		fmt.Fprintf(w, `<text class="legend" x="%d" y="%d">%s</text>`+"\n", left+30, ly, esc(s.label))
	}
	fmt.Fprintf(w, `<text x="%d" y="%d" fill="#555">solid: p99 of each interval; light: p50</text>`+"\n",
		left, top+plotHeight+axes+legendLine*len(ss)+12)
	fmt.Fprintln(w, "</svg>")
}

// linearTicks returns 0 and round steps of 1, 2 or 5 × 10^k up to the
// first at or above hi, about 5 to 10 of them.
func linearTicks(hi float64) []float64 {
	if !(hi > 0) {
		hi = 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(hi/5))) // hi/mag is from 5 to 50
	step := mag
	for _, m := range []float64{1, 2, 5} {
		if step = m * mag; hi/step <= 10 {
			break
		}
	}
	n := int(math.Ceil(hi/step - 1e-9))
	ticks := make([]float64, n+1)
	for i := range ticks {
		ticks[i] = float64(i) * step
	}
	return ticks
}

// tickLabel prints v without float noise (0.30000000000000004).
func tickLabel(v float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.6f", v), "0"), ".")
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder never fails
	return b.String()
}

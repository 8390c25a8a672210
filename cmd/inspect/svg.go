package inspect

// Drawing a Graph as SVG, by hand: the format is text, and the few elements
// a graph needs (lines as paths, text, a clip rectangle) are easier to read
// written out than hidden behind a plotting library.
//
// The drawing is done in pixels, and everything that would land on the same
// pixel column is merged first: the data ticks of one column become one
// tick per run of touching ticks, a stepped line keeps one step per column.
// So a transfer of a million segments gives a file about as big as one of
// a few thousand, and a browser draws it at once. Colours follow tcptrace's
// habits (green ACK line, yellow window line, red retransmissions, purple
// SACK blocks), darkened enough to read on white.

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The canvas and the plot area inside it, in pixels.
const (
	svgWidth     = 1200
	svgHeight    = 800
	plotLeft     = 110
	plotRight    = svgWidth - 40
	plotTop      = 80
	plotBottom   = svgHeight - 70
	fontFamily   = "DejaVu Sans, Helvetica, Arial, sans-serif"
	capThreshold = 300 // draw end caps on data ticks when there are at most this many
)

// The colours of the graph's elements.
const (
	colourData       = "#1f3f9f"
	colourRetransmit = "#d62728"
	colourACK        = "#2ca02c"
	colourWindow     = "#c49a00"
	colourSACK       = "#8e44ad"
	colourGrid       = "#e4e4e4"
	colourAxis       = "#555555"
)

// scale maps data units to pixels.
type scale struct {
	tMax       float64 // seconds at the right edge
	yMin, yMax float64 // sequence numbers at the bottom and the top
}

func (s scale) x(t time.Duration) float64 {
	return plotLeft + t.Seconds()/s.tMax*(plotRight-plotLeft)
}

func (s scale) y(seq int64) float64 {
	return plotBottom - (float64(seq)-s.yMin)/(s.yMax-s.yMin)*(plotBottom-plotTop)
}

// WriteSVG draws g as an SVG document. title is the first line of the
// heading; the graph's own facts go in the second.
func (g *Graph) WriteSVG(w io.Writer, title string) error {
	sc := scale{tMax: g.Duration.Seconds() * 1.02, yMin: 0, yMax: float64(g.MaxSeq) * 1.04}
	if sc.tMax <= 0 {
		sc.tMax = 0.001
	}
	if sc.yMax <= sc.yMin {
		sc.yMax = sc.yMin + 1
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="%s">`+"\n",
		svgWidth, svgHeight, svgWidth, svgHeight, fontFamily)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", svgWidth, svgHeight)
	fmt.Fprintf(&b, `<clipPath id="plot"><rect x="%d" y="%d" width="%d" height="%d"/></clipPath>`+"\n",
		plotLeft, plotTop, plotRight-plotLeft, plotBottom-plotTop)

	g.writeAxes(&b, sc)
	b.WriteString(`<g clip-path="url(#plot)" fill="none" stroke-linecap="butt">` + "\n")
	writeSteps(&b, sc, g.Window, g.Duration, colourWindow, 1.5)
	writeSteps(&b, sc, g.ACK, g.Duration, colourACK, 1.5)
	writeTicks(&b, sc, g.Data, func(t Tick) bool { return !t.Retransmit }, colourData, 1.2, true)
	writeTicks(&b, sc, g.SACK, func(Tick) bool { return true }, colourSACK, 2.5, false)
	retransmits := writeTicks(&b, sc, g.Data, func(t Tick) bool { return t.Retransmit }, colourRetransmit, 2.5, true)
	writeMarks(&b, retransmits, colourRetransmit)
	b.WriteString("</g>\n")

	g.writeHeading(&b, title)
	g.writeLegend(&b)
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// writeAxes draws the grid, the axes, their tick labels and their names.
func (g *Graph) writeAxes(b *bytes.Buffer, sc scale) {
	unit, div := "s", 1.0
	if sc.tMax < 2 {
		unit, div = "ms", 1e-3
	}
	fmt.Fprintf(b, `<g stroke="%s" stroke-width="1">`+"\n", colourGrid)
	xt := niceTicks(0, sc.tMax/div, 10)
	yt := niceTicks(sc.yMin, sc.yMax, 8)
	for _, v := range xt {
		x := sc.x(time.Duration(v * div * float64(time.Second)))
		fmt.Fprintf(b, `<path d="M%.1f %dV%d"/>`+"\n", x, plotTop, plotBottom)
	}
	for _, v := range yt {
		fmt.Fprintf(b, `<path d="M%d %.1fH%d"/>`+"\n", plotLeft, sc.y(int64(v)), plotRight)
	}
	b.WriteString("</g>\n")
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="%s" stroke-width="1.5"/>`+"\n",
		plotLeft, plotTop, plotRight-plotLeft, plotBottom-plotTop, colourAxis)
	fmt.Fprintf(b, `<g font-size="14" fill="#333">`+"\n")
	for _, v := range xt {
		x := sc.x(time.Duration(v * div * float64(time.Second)))
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x, plotBottom+22, formatNumber(v))
	}
	yStep := 1.0
	if len(yt) > 1 {
		yStep = yt[1] - yt[0]
	}
	for _, v := range yt {
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n",
			plotLeft-8, sc.y(int64(v)), formatBytes(v, yStep))
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" font-size="15">time since the first segment (%s)</text>`+"\n",
		(plotLeft+plotRight)/2, plotBottom+52, unit)
	fmt.Fprintf(b, `<text transform="translate(24 %d) rotate(-90)" text-anchor="middle" font-size="15">sequence number (bytes after the ISN)</text>`+"\n",
		(plotTop+plotBottom)/2)
	b.WriteString("</g>\n")
}

// writeHeading writes the title and a line of facts above the plot.
func (g *Graph) writeHeading(b *bytes.Buffer, title string) {
	fmt.Fprintf(b, `<text x="%d" y="30" font-size="19" font-weight="bold" fill="#111">%s</text>`+"\n", plotLeft, escape(title))
	facts := fmt.Sprintf("%s > %s: %s in %s, %d segments sent, %d retransmitted",
		g.Sender, g.Receiver, formatBytes(float64(g.Bytes), 1), formatDuration(g.Duration), len(g.Data), g.Retransmits)
	if g.WindowScale > 0 {
		facts += fmt.Sprintf(", receiver's window scale %d", g.WindowScale)
	}
	fmt.Fprintf(b, `<text x="%d" y="56" font-size="15" fill="#333">%s</text>`+"\n", plotLeft, escape(facts))
}

// writeLegend draws the key in the top left corner of the plot, which a
// time-sequence graph climbing to the right leaves empty.
func (g *Graph) writeLegend(b *bytes.Buffer) {
	type entry struct {
		colour string
		width  float64
		label  string
	}
	entries := []entry{
		{colourData, 2, fmt.Sprintf("data segment (%d)", len(g.Data)-g.Retransmits)},
		{colourRetransmit, 3, fmt.Sprintf("retransmission (%d)", g.Retransmits)},
		{colourACK, 2, "ACK (receiver's SEG.ACK)"},
		{colourWindow, 2, "receive window edge (ACK + window)"},
		{colourSACK, 3, fmt.Sprintf("SACK block (%d)", len(g.SACK))},
	}
	const x, y, row = plotLeft + 14, plotTop + 14, 22
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="300" height="%d" fill="white" fill-opacity="0.92" stroke="#999"/>`+"\n",
		x, y, len(entries)*row+12)
	for i, e := range entries {
		cy := y + 18 + i*row
		fmt.Fprintf(b, `<path d="M%d %dH%d" stroke="%s" stroke-width="%.1f"/>`+"\n", x+12, cy, x+44, e.colour, e.width)
		if e.colour == colourRetransmit {
			fmt.Fprintf(b, `<circle cx="%d" cy="%d" r="4" fill="white" stroke="%s" stroke-width="1.5"/>`+"\n", x+28, cy, e.colour)
		}
		fmt.Fprintf(b, `<text x="%d" y="%d" font-size="14" dominant-baseline="middle" fill="#222">%s</text>`+"\n", x+54, cy, escape(e.label))
	}
}

// vtick is a vertical line in pixels, top above bottom.
type vtick struct{ x, top, bottom float64 }

// writeTicks draws the ticks that keep accepts as vertical lines, merging
// the ones that touch in the same pixel column, with short horizontal caps
// at their ends when there are few enough to tell apart. It returns the
// lines it drew.
func writeTicks(b *bytes.Buffer, sc scale, ticks []Tick, keep func(Tick) bool, colour string, width float64, caps bool) []vtick {
	var vs []vtick
	for _, t := range ticks {
		if !keep(t) {
			continue
		}
		v := vtick{x: math.Round(sc.x(t.T)*2) / 2, top: sc.y(t.Hi), bottom: sc.y(t.Lo)}
		if v.bottom-v.top < 1 { // at least a pixel, or it vanishes
			mid := (v.top + v.bottom) / 2
			v.top, v.bottom = mid-0.5, mid+0.5
		}
		vs = append(vs, v)
	}
	if len(vs) == 0 {
		return nil
	}
	sort.Slice(vs, func(i, j int) bool {
		if vs[i].x != vs[j].x {
			return vs[i].x < vs[j].x
		}
		return vs[i].top < vs[j].top
	})
	merged := vs[:1]
	for _, v := range vs[1:] {
		last := &merged[len(merged)-1]
		if v.x == last.x && v.top <= last.bottom+1 {
			last.bottom = max(last.bottom, v.bottom)
			continue
		}
		merged = append(merged, v)
	}
	caps = caps && len(merged) <= capThreshold
	fmt.Fprintf(b, `<path stroke="%s" stroke-width="%.1f" d="`, colour, width)
	for i, v := range merged {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(b, "M%s %sV%s", num(v.x), num(v.top), num(v.bottom))
		if caps && v.bottom-v.top >= 4 {
			fmt.Fprintf(b, "M%s %sh6M%s %sh6", num(v.x-3), num(v.top), num(v.x-3), num(v.bottom))
		}
	}
	b.WriteString(`"/>` + "\n")
	return merged
}

// writeMarks draws a small ring above each tick, so that a retransmission
// stands out of a dense graph where its tick alone would hide behind the
// others. Rings closer than a few pixels are drawn once.
func writeMarks(b *bytes.Buffer, ticks []vtick, colour string) {
	if len(ticks) == 0 {
		return
	}
	fmt.Fprintf(b, `<g fill="none" stroke="%s" stroke-width="1.5">`+"\n", colour)
	lastX, lastY := math.Inf(-1), math.Inf(-1)
	for _, v := range ticks {
		x, y := v.x, v.top-6
		if math.Abs(x-lastX) < 4 && math.Abs(y-lastY) < 4 {
			continue
		}
		lastX, lastY = x, y
		fmt.Fprintf(b, `<circle cx="%s" cy="%s" r="4"/>`+"\n", num(x), num(y))
	}
	b.WriteString("</g>\n")
}

// writeSteps draws a stepped line through pts, carried on to the time end:
// at each point the line moves right at its old level, then up or down to
// the new one. Steps within the same half pixel are drawn as one.
func writeSteps(b *bytes.Buffer, sc scale, pts []Point, end time.Duration, colour string, width float64) {
	if len(pts) == 0 {
		return
	}
	x, y := sc.x(pts[0].T), sc.y(pts[0].Seq)
	fmt.Fprintf(b, `<path stroke="%s" stroke-width="%.1f" stroke-linejoin="miter" d="M%s %s`, colour, width, num(x), num(y))
	pending := y
	for _, p := range pts[1:] {
		px := sc.x(p.T)
		if px-x >= 0.5 {
			if pending != y {
				fmt.Fprintf(b, "V%s", num(pending))
				y = pending
			}
			fmt.Fprintf(b, "H%s", num(px))
			x = px
		}
		pending = sc.y(p.Seq)
	}
	if pending != y {
		fmt.Fprintf(b, "V%s", num(pending))
	}
	if ex := sc.x(end); ex > x {
		fmt.Fprintf(b, "H%s", num(ex))
	}
	b.WriteString(`"/>` + "\n")
}

// num formats a pixel coordinate with one decimal at most.
func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

// niceTicks returns about n round values (1, 2 or 5 times a power of ten
// apart) covering lo to hi.
func niceTicks(lo, hi float64, n int) []float64 {
	if hi <= lo || n < 1 {
		return []float64{lo}
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var ts []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		ts = append(ts, math.Round(v/step)*step)
	}
	return ts
}

// formatNumber prints a tick value without trailing zeros.
func formatNumber(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// formatBytes prints a number of bytes in B, kB or MB (powers of ten, as on
// a tick of a decimal axis), with as many decimals as step needs.
func formatBytes(v, step float64) string {
	unit, div := "B", 1.0
	switch {
	case math.Abs(v) >= 1e9 || step >= 1e9:
		unit, div = "GB", 1e9
	case math.Abs(v) >= 1e6 || step >= 1e6:
		unit, div = "MB", 1e6
	case math.Abs(v) >= 1e4 || step >= 1e4:
		unit, div = "kB", 1e3
	}
	if v == 0 {
		return "0"
	}
	decimals := 0
	for s := step / div; s < 1 && decimals < 3; s *= 10 {
		decimals++
	}
	if step <= 1 { // a total, not a tick: keep three significant digits
		decimals = 0
		if div > 1 {
			decimals = 2
		}
	}
	s := strconv.FormatFloat(v/div, 'f', decimals, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s + " " + unit
}

// formatDuration prints d in ms below two seconds, in s above.
func formatDuration(d time.Duration) string {
	if d < 2*time.Second {
		return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s"
}

// escape makes s safe as SVG text.
func escape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) //nolint:errcheck // a strings.Builder does not fail
	return b.String()
}

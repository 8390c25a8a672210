package bench

// The table of `make bench`: one row per figure of each workload (a rate,
// a latency percentile, memory per connection), one column per stack with
// the median over the repetitions, then the ratios that matter: each
// tinytcp stack over gVisor, and over the kernel. A ratio is the plain
// quotient of the two medians; the "better" column says whether a higher
// or a lower figure is the better one (1.20 on a rate is tinytcp 20%
// faster, 1.20 on a latency 20% slower).
//
// A run that failed or ran out of its budget gives no figure or a partial
// one. The median is over the runs that finished; when none did, a partial
// median is shown, marked with partialMark; failures are counted in the
// cell. The same Markdown table goes to the terminal and, on request, to a
// file.

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Figure is one number a workload measured.
type Figure struct {
	Name  string // what it is: "goodput", "p99 latency"
	Unit  string // "MB/s", "µs", "KiB"
	Value float64
	Lower bool // a lower value is better (latency, time, memory)
}

// Outcome is what one run of one workload on one stack gave.
type Outcome struct {
	Figures []Figure
	Partial bool  // stopped by its budget: the figures cover what was done
	Err     error // a failure; Figures may still hold what was measured
	Elapsed time.Duration
}

// finished reports whether the run completed.
func (o Outcome) finished() bool { return o.Err == nil && !o.Partial }

// PerfRun is one run of a workload on a stack.
type PerfRun struct {
	Workload string
	Stack    StackName
	Outcome
}

// TUNRate is the raw TUN device's packet rate with no stack: MTU-sized
// packets, one per write(2) or read(2).
type TUNRate struct {
	MTU      int
	WritePPS float64 // packets per second written into the device (towards the kernel)
	ReadPPS  float64 // packets per second read from the device (from the kernel)
}

// mbits is a packet rate as Mbit/s of MTU-sized packets.
func (r TUNRate) mbits(pps float64) float64 { return pps * float64(r.MTU) * 8 / 1e6 }

// segmentPayload is the TCP payload of an MTU-sized segment with the
// timestamp option (1500 - 20 - 20 - 12), used to turn goodput into
// packets per second for the comparison with the raw TUN rate.
const segmentPayload = 1448

// PerfReport is a finished (or interrupted) `make bench`.
type PerfReport struct {
	Date      time.Time
	Command   string
	Notes     []string
	Stacks    []StackName // the columns, in order
	Workloads []string    // the rows' workloads, in order
	Runs      []PerfRun
	TUN       *TUNRate // nil when not measured
}

// perfRow is one figure of one workload across the stacks.
type perfRow struct {
	workload, figure, unit string
	lower                  bool
	cells                  map[StackName][]figureSample
	derived                bool // computed from another row, not measured
}

// figureSample is one run's value of a row's figure.
type figureSample struct {
	value    float64
	finished bool
}

// cellMedian is a row's median for one stack.
type cellMedian struct {
	value   float64
	partial bool // no run finished: the median of partial figures
	ok      bool // there is a value
}

// median of the finished runs' values, else of all the values (partial).
func (r perfRow) median(s StackName) cellMedian {
	var done, all []float64
	for _, v := range r.cells[s] {
		all = append(all, v.value)
		if v.finished {
			done = append(done, v.value)
		}
	}
	switch {
	case len(done) > 0:
		return cellMedian{value: median(done), ok: true}
	case len(all) > 0:
		return cellMedian{value: median(all), partial: true, ok: true}
	}
	return cellMedian{}
}

// median of v, the mean of the middle two for an even count; v is not
// empty and is sorted in place.
func median(v []float64) float64 {
	slices.Sort(v)
	return (v[(len(v)-1)/2] + v[len(v)/2]) / 2
}

// rows gathers the runs into rows, in workload order and, within a
// workload, in the order its figures first appear; then the rows derived
// from the raw TUN rate.
func (rep *PerfReport) rows() []perfRow {
	var rows []perfRow
	index := map[[2]string]int{}
	for _, w := range rep.Workloads {
		for _, run := range rep.Runs {
			if run.Workload != w {
				continue
			}
			for _, f := range run.Figures {
				k := [2]string{w, f.Name}
				i, ok := index[k]
				if !ok {
					i = len(rows)
					index[k] = i
					rows = append(rows, perfRow{workload: w, figure: f.Name, unit: f.Unit, lower: f.Lower, cells: map[StackName][]figureSample{}})
				}
				rows[i].cells[run.Stack] = append(rows[i].cells[run.Stack], figureSample{f.Value, run.finished()})
			}
		}
		if rep.TUN != nil {
			rows = append(rows, rep.tunShare(rows, w)...)
		}
	}
	return rows
}

// tunShare derives, for a bulk workload over one connection, its packet
// rate as a share of the raw TUN rate: a download makes the stack write
// data segments (compared with the raw write rate), an upload read them
// (the raw read rate). The kernel crosses no TUN and gets none.
func (rep *PerfReport) tunShare(rows []perfRow, workload string) []perfRow {
	var raw float64
	switch workload {
	case wlDownload:
		raw = rep.TUN.WritePPS
	case wlUpload:
		raw = rep.TUN.ReadPPS
	default:
		return nil
	}
	if raw <= 0 {
		return nil
	}
	for _, r := range rows {
		if r.workload != workload || r.unit != "MB/s" {
			continue
		}
		d := perfRow{workload: workload, figure: "share of raw TUN packet rate", unit: "%", cells: map[StackName][]figureSample{}, derived: true}
		for s, samples := range r.cells {
			if s == Kernel {
				continue
			}
			for _, v := range samples {
				pps := v.value * 1e6 / segmentPayload
				d.cells[s] = append(d.cells[s], figureSample{100 * pps / raw, v.finished})
			}
		}
		return []perfRow{d}
	}
	return nil
}

// failures counts, per stack and workload, the runs that failed or ran out
// of their budget.
func (rep *PerfReport) failures(workload string, s StackName) (failed, partial, total int) {
	for _, run := range rep.Runs {
		if run.Workload != workload || run.Stack != s {
			continue
		}
		total++
		switch {
		case run.Err != nil:
			failed++
		case run.Partial:
			partial++
		}
	}
	return
}

// ratioPairs are the ratio columns: every tinytcp stack over gVisor and
// over the kernel, for the stacks in the report.
func (rep *PerfReport) ratioPairs() [][2]StackName {
	var pairs [][2]StackName
	for _, ref := range []StackName{GVisor, Kernel} {
		if !slices.Contains(rep.Stacks, ref) {
			continue
		}
		for _, s := range rep.Stacks {
			if strings.HasPrefix(string(s), string(Tinytcp)) {
				pairs = append(pairs, [2]StackName{s, ref})
			}
		}
	}
	return pairs
}

// PerfPartialNote explains partialMark under the table.
const PerfPartialNote = "Marked " + partialMark + ": no run finished within its budget; the figure is the median over what " +
	"the runs did before they were stopped."

// cellText is one stack's entry in a row.
func (rep *PerfReport) cellText(r perfRow, s StackName) string {
	m := r.median(s)
	failed, partial, total := rep.failures(r.workload, s)
	var notes []string
	if failed > 0 {
		notes = append(notes, fmt.Sprintf("%d/%d failed", failed, total))
	}
	if partial > 0 {
		notes = append(notes, fmt.Sprintf("%d/%d timed out", partial, total))
	}
	note := ""
	if len(notes) > 0 {
		note = " (" + strings.Join(notes, ", ") + ")"
	}
	switch {
	case m.ok && m.partial:
		return formatFigure(m.value) + partialMark + note
	case m.ok:
		return formatFigure(m.value) + note
	case total == 0:
		return "-"
	case failed+partial > 0:
		return "FAILED" + note
	}
	return "n/a" // the stack ran but has no such figure (the kernel's heap)
}

// ratioText is a over b for a row.
func ratioText(r perfRow, a, b StackName) string {
	x, y := r.median(a), r.median(b)
	if !x.ok || !y.ok || y.value == 0 {
		return "-"
	}
	if x.partial || y.partial {
		return fmt.Sprintf("%.2f%s", x.value/y.value, partialMark)
	}
	return fmt.Sprintf("%.2f", x.value/y.value)
}

// formatFigure shows three significant figures, at most two decimals.
func formatFigure(v float64) string { return formatRate(v) }

// WriteTable writes the rows as an aligned Markdown table, and
// PerfPartialNote under it if a cell rests on partial runs.
func (rep *PerfReport) WriteTable(w io.Writer) error {
	header := []string{"workload", "figure", "unit", "better"}
	for _, s := range rep.Stacks {
		header = append(header, string(s))
	}
	pairs := rep.ratioPairs()
	for _, p := range pairs {
		header = append(header, string(p[0])+"/"+string(p[1]))
	}
	table := [][]string{header}
	partial := false
	for _, r := range rep.rows() {
		better := "higher"
		if r.lower {
			better = "lower"
		}
		line := []string{r.workload, r.figure, r.unit, better}
		for _, s := range rep.Stacks {
			partial = partial || r.median(s).partial
			line = append(line, rep.cellText(r, s))
		}
		for _, p := range pairs {
			line = append(line, ratioText(r, p[0], p[1]))
		}
		table = append(table, line)
	}
	var b strings.Builder
	writeAligned(&b, table, 4)
	if partial {
		b.WriteString("\n" + PerfPartialNote + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeAligned writes rows as a Markdown table with padded columns; the
// first textColumns are left-aligned text, the rest right-aligned numbers.
func writeAligned(b *strings.Builder, rows [][]string, textColumns int) {
	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, s := range row {
			width[i] = max(width[i], len([]rune(s)))
		}
	}
	line := func(cells []string) {
		b.WriteString("|")
		for i, s := range cells {
			pad := strings.Repeat(" ", width[i]-len([]rune(s)))
			if i < textColumns {
				b.WriteString(" " + s + pad + " |")
			} else {
				b.WriteString(" " + pad + s + " |")
			}
		}
		b.WriteByte('\n')
	}
	line(rows[0])
	rule := make([]string, len(width))
	for i, n := range width {
		rule[i] = strings.Repeat("-", n)
		if i >= textColumns {
			rule[i] = rule[i][1:] + ":"
		}
	}
	line(rule)
	for _, row := range rows[1:] {
		line(row)
	}
}

// TUNLine describes the raw TUN rate, for the terminal and the Markdown.
func (rep *PerfReport) TUNLine() string {
	if rep.TUN == nil {
		return ""
	}
	r := *rep.TUN
	return fmt.Sprintf("Raw TUN device, no stack, one %d-byte packet per syscall: write(2) %s packets/s (%s Mbit/s), "+
		"read(2) %s packets/s (%s Mbit/s).", r.MTU,
		formatFigure(r.WritePPS), formatFigure(r.mbits(r.WritePPS)), formatFigure(r.ReadPPS), formatFigure(r.mbits(r.ReadPPS)))
}

// WriteMarkdown writes a section for docs/benchmarks.md: the date, the
// command, the notes, the raw TUN rate and the table.
func (rep *PerfReport) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### make bench, %s\n\n", rep.Date.Format("2006-01-02"))
	fmt.Fprintf(&b, "```sh\n%s\n```\n\n", rep.Command)
	for _, n := range rep.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	if l := rep.TUNLine(); l != "" {
		fmt.Fprintf(&b, "- %s\n", l)
	}
	b.WriteByte('\n')
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	return rep.WriteTable(w)
}

package bench

// The table: one row per profile, the median goodput of each stack over
// its repetitions, their ratio, and each stack's median retransmissions
// and retransmission timeouts. A run that timed out, was interrupted or
// failed counts as slower than any run that finished: if the median falls
// on one, the cell says so instead of showing a number. The same Markdown
// table goes to the terminal and, on request, to a file.

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Cell holds the runs of one stack on one profile.
type Cell []Result

// Median returns the median goodput in MB/s over the cell's runs. A run
// that timed out counts with its rate over the budget (the bytes it got,
// checked, divided by the budget), which is below the rate of every run
// that finished within it; partial says that the median rests on such a
// run. A run that failed or was interrupted counts below all others: ok is
// false when the median rests on one (or there are no runs).
func (c Cell) Median() (mbps float64, partial, ok bool) {
	if len(c) == 0 {
		return 0, false, false
	}
	type value struct {
		mbps    float64
		partial bool
	}
	v := make([]value, len(c))
	for i, r := range c {
		switch {
		case r.OK():
			v[i] = value{r.Goodput(), false}
		case r.TimedOut:
			v[i] = value{r.Goodput(), true}
		default:
			v[i] = value{-1, false}
		}
	}
	slices.SortFunc(v, func(a, b value) int { return cmp.Compare(a.mbps, b.mbps) })
	lo, hi := v[(len(v)-1)/2], v[len(v)/2]
	if lo.mbps < 0 {
		return 0, false, false
	}
	return (lo.mbps + hi.mbps) / 2, lo.partial || hi.partial, true
}

// MedianCounts returns the median retransmissions and timeouts over the
// runs that finished or timed out (the counts then run to the end of the
// budget), and false if there are none.
func (c Cell) MedianCounts() (Counts, bool) {
	var rexmit, rto []uint64
	for _, r := range c {
		if r.OK() || r.TimedOut {
			rexmit, rto = append(rexmit, r.Counts.Retransmits), append(rto, r.Counts.Timeouts)
		}
	}
	if len(rexmit) == 0 {
		return Counts{}, false
	}
	return Counts{Retransmits: medianUint(rexmit), Timeouts: medianUint(rto)}, true
}

// medianUint is the median of v, rounded down; v is not empty.
func medianUint(v []uint64) uint64 {
	slices.Sort(v)
	return (v[(len(v)-1)/2] + v[len(v)/2]) / 2
}

// failures counts the runs that did not finish, by kind.
func (c Cell) failures() (timedOut, interrupted, failed int) {
	for _, r := range c {
		switch {
		case r.TimedOut:
			timedOut++
		case r.Interrupted:
			interrupted++
		case r.Err != nil:
			failed++
		}
	}
	return
}

// goodputText is the cell's entry in a goodput column.
func (c Cell) goodputText() string {
	if len(c) == 0 {
		return "-"
	}
	timedOut, interrupted, failed := c.failures()
	var notes []string
	for _, f := range []struct {
		n    int
		what string
	}{{timedOut, "timed out"}, {interrupted, "interrupted"}, {failed, "failed"}} {
		if f.n > 0 {
			notes = append(notes, fmt.Sprintf("%d/%d %s", f.n, len(c), f.what))
		}
	}
	note := ""
	if len(notes) > 0 {
		note = " (" + strings.Join(notes, ", ") + ")"
	}
	mbps, partial, ok := c.Median()
	switch {
	case ok && partial:
		return formatRate(mbps) + partialMark + note
	case ok:
		return formatRate(mbps) + note
	case failed > 0:
		return "FAILED" + note
	}
	return "interrupted" + note
}

// countsText is the cell's entry in a repairs column: "retransmits / timeouts".
func (c Cell) countsText() string {
	n, ok := c.MedianCounts()
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%d / %d", n.Retransmits, n.Timeouts)
}

// formatRate shows three significant figures, at most two decimals.
func formatRate(mbps float64) string {
	switch {
	case mbps >= 100:
		return fmt.Sprintf("%.0f", mbps)
	case mbps >= 10:
		return fmt.Sprintf("%.1f", mbps)
	}
	return fmt.Sprintf("%.2f", mbps)
}

// Row is one profile's cells.
type Row struct {
	Profile string
	Tinytcp Cell
	GVisor  Cell
}

// partialMark follows a median that rests on a run that timed out.
const partialMark = "*"

// PartialNote explains partialMark under the table.
const PartialNote = "Marked " + partialMark + ": the median rests on a run that timed out; its rate is the bytes it " +
	"received (all checked) divided by the budget, below that of any run that finished within it."

// ratioText is tinytcp's median over gVisor's, marked when either rests
// on a run that timed out.
func (r Row) ratioText() string {
	t, tp, ok1 := r.Tinytcp.Median()
	g, gp, ok2 := r.GVisor.Median()
	if !ok1 || !ok2 || g == 0 {
		return "-"
	}
	if tp || gp {
		return fmt.Sprintf("%.2f%s", t/g, partialMark)
	}
	return fmt.Sprintf("%.2f", t/g)
}

// Report is a finished (or interrupted) benchmark.
type Report struct {
	Date    time.Time
	Command string   // how it was run
	Notes   []string // one line each: machine, sizes, settings
	Rows    []Row
}

// tableHeader names the columns.
var tableHeader = []string{
	"profile", "tinytcp MB/s", "gVisor MB/s", "tinytcp/gVisor",
	"tinytcp rexmit / RTO", "gVisor rexmit / RTO",
}

// WriteTable writes the rows as an aligned Markdown table, and
// PartialNote under it if a median rests on a run that timed out.
func (rep *Report) WriteTable(w io.Writer) error {
	rows := [][]string{tableHeader}
	partial := false
	for _, r := range rep.Rows {
		_, tp, _ := r.Tinytcp.Median()
		_, gp, _ := r.GVisor.Median()
		partial = partial || tp || gp
		rows = append(rows, []string{
			r.Profile, r.Tinytcp.goodputText(), r.GVisor.goodputText(), r.ratioText(),
			r.Tinytcp.countsText(), r.GVisor.countsText(),
		})
	}
	width := make([]int, len(tableHeader))
	for _, row := range rows {
		for i, s := range row {
			width[i] = max(width[i], len(s))
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		for i, s := range cells {
			if i == 0 {
				fmt.Fprintf(&b, "| %-*s |", width[i], s)
			} else {
				fmt.Fprintf(&b, " %*s |", width[i], s)
			}
		}
		b.WriteByte('\n')
	}
	line(rows[0])
	rule := make([]string, len(width))
	for i, n := range width {
		rule[i] = strings.Repeat("-", n)
		if i > 0 {
			rule[i] = rule[i][1:] + ":" // right-aligned numbers
		}
	}
	line(rule)
	for _, row := range rows[1:] {
		line(row)
	}
	if partial {
		b.WriteString("\n" + PartialNote + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown writes a section for docs/benchmarks.md: the date, the
// command, the notes and the table.
func (rep *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### Goodput under loss, %s\n\n", rep.Date.Format("2006-01-02"))
	fmt.Fprintf(&b, "```sh\n%s\n```\n\n", rep.Command)
	for _, n := range rep.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	b.WriteByte('\n')
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	return rep.WriteTable(w)
}

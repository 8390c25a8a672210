package bench

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The table's arithmetic, without a network: these run in `make test`.

// finished is a run that downloaded mb megabytes in one second.
func finished(mb float64) Result {
	return Result{Bytes: int64(mb * 1e6), Elapsed: time.Second}
}

// timedOut is a run that got mb megabytes in a one-second budget.
func timedOut(mb float64) Result {
	return Result{Bytes: int64(mb * 1e6), Elapsed: time.Second, TimedOut: true}
}

var failedRun = Result{Err: errors.New("reset")}

func TestCellMedian(t *testing.T) {
	tests := []struct {
		name    string
		cell    Cell
		want    float64
		partial bool
		ok      bool
	}{
		{"no runs", nil, 0, false, false},
		{"odd count", Cell{finished(3), finished(1), finished(2)}, 2, false, true},
		{"even count averages the middle two", Cell{finished(4), finished(1), finished(2), finished(3)}, 2.5, false, true},
		{"a timeout below the median does not move it", Cell{finished(3), timedOut(0.5), finished(2)}, 2, false, true},
		{"a median on a timeout is partial", Cell{timedOut(0.5), timedOut(0.7), finished(2)}, 0.7, true, true},
		{"a failure counts below everything", Cell{failedRun, finished(1), finished(2)}, 1, false, true},
		{"a median on a failure is no number", Cell{failedRun, failedRun, finished(2)}, 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, partial, ok := tt.cell.Median()
			assert.InDelta(t, tt.want, got, 1e-9, "median")
			assert.Equal(t, tt.partial, partial, "partial")
			assert.Equal(t, tt.ok, ok, "ok")
		})
	}
}

func TestCellTexts(t *testing.T) {
	tests := []struct {
		name          string
		cell          Cell
		goodput, reps string
	}{
		{"no runs", nil, "-", "-"},
		{"all finished", Cell{finished(12.345), finished(12.345), finished(12.345)}, "12.3", "0 / 0"},
		{"one timed out", Cell{finished(2), timedOut(0.1), finished(3)}, "2.00 (1/3 timed out)", "0 / 0"},
		{"all timed out", Cell{timedOut(0.1)}, "0.10* (1/1 timed out)", "0 / 0"},
		{"failed", Cell{failedRun}, "FAILED (1/1 failed)", "-"},
		{"interrupted", Cell{{Interrupted: true}}, "interrupted (1/1 interrupted)", "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.goodput, tt.cell.goodputText(), "goodput")
			assert.Equal(t, tt.reps, tt.cell.countsText(), "repairs")
		})
	}
}

func TestReportTable(t *testing.T) {
	rep := &Report{Rows: []Row{
		{Profile: "clean", Tinytcp: Cell{finished(150)}, GVisor: Cell{finished(100)}},
		{Profile: "drop 15%", Tinytcp: Cell{timedOut(0.2)}, GVisor: Cell{timedOut(0.1)}},
	}}
	var b strings.Builder
	require.NoError(t, rep.WriteTable(&b))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.Len(t, lines, 6, "header, rule, two rows, a blank line and the note:\n%s", b.String())
	assert.Equal(t, "1.50", cellOf(lines[2], 3), "ratio of the clean row")
	assert.Equal(t, "2.00*", cellOf(lines[3], 3), "ratio of the timed-out row")
	assert.Equal(t, PartialNote, lines[5])
	for _, l := range lines[:4] {
		assert.Len(t, l, len(lines[0]), "every row as wide as the header")
	}
}

// cellOf returns column i of a Markdown table line, trimmed.
func cellOf(line string, i int) string {
	cells := strings.Split(strings.Trim(line, "|"), "|")
	if i >= len(cells) {
		return ""
	}
	return strings.TrimSpace(cells[i])
}

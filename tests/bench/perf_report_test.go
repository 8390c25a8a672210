package bench

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The arithmetic and layout of `make bench`'s table, without a network:
// these run in `make test`.

// rate is a finished run of a bulk workload at mbps MB/s.
func rate(workload string, s StackName, mbps float64) PerfRun {
	return PerfRun{Workload: workload, Stack: s, Outcome: Outcome{Figures: []Figure{{Name: "goodput", Unit: "MB/s", Value: mbps}}}}
}

// latency is a finished run of the request/response workload.
func latency(s StackName, p50 float64) PerfRun {
	return PerfRun{Workload: wlRR, Stack: s, Outcome: Outcome{Figures: []Figure{{Name: "p50 latency", Unit: "µs", Value: p50, Lower: true}}}}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{"one", []float64{7}, 7},
		{"odd count", []float64{3, 1, 2}, 2},
		{"even count averages the middle two", []float64{4, 1, 3, 2}, 2.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.InDelta(t, tt.want, median(tt.in), 1e-9)
		})
	}
}

func TestPerfRowMedian(t *testing.T) {
	rep := &PerfReport{Stacks: []StackName{Tinytcp, GVisor}, Workloads: []string{wlDownload}, Runs: []PerfRun{
		rate(wlDownload, Tinytcp, 100), rate(wlDownload, Tinytcp, 300), rate(wlDownload, Tinytcp, 200),
		{Workload: wlDownload, Stack: GVisor, Outcome: Outcome{Partial: true, Figures: []Figure{{Name: "goodput", Unit: "MB/s", Value: 10}}}},
		{Workload: wlDownload, Stack: GVisor, Outcome: Outcome{Err: errors.New("reset")}},
	}}
	rows := rep.rows()
	require.Len(t, rows, 1)
	assert.Equal(t, cellMedian{value: 200, ok: true}, rows[0].median(Tinytcp), "the median of three finished runs")
	assert.Equal(t, cellMedian{value: 10, partial: true, ok: true}, rows[0].median(GVisor), "no run finished: the partial one")
	assert.Equal(t, "200", rep.cellText(rows[0], Tinytcp))
	assert.Equal(t, "10.0* (1/2 failed, 1/2 timed out)", rep.cellText(rows[0], GVisor))
	assert.Equal(t, "20.00*", ratioText(rows[0], Tinytcp, GVisor))
}

func TestPerfRatiosAndColumns(t *testing.T) {
	rep := &PerfReport{
		Stacks:    []StackName{Tinytcp, TinytcpOffload, GVisor, Kernel},
		Workloads: []string{wlDownload, wlRR, wlIdle},
		Runs: []PerfRun{
			rate(wlDownload, Tinytcp, 150), rate(wlDownload, TinytcpOffload, 600), rate(wlDownload, GVisor, 100), rate(wlDownload, Kernel, 1500),
			latency(Tinytcp, 30), latency(TinytcpOffload, 30), latency(GVisor, 60), latency(Kernel, 20),
			{Workload: wlIdle, Stack: Tinytcp, Outcome: Outcome{Figures: []Figure{{Name: "heap per connection", Unit: "KiB", Value: 2.5, Lower: true}}}},
			{Workload: wlIdle, Stack: Kernel, Outcome: Outcome{}}, // ran, has no heap figure
		},
		TUN: &TUNRate{MTU: 1500, WritePPS: 200_000, ReadPPS: 100_000},
	}
	assert.Equal(t, [][2]StackName{{Tinytcp, GVisor}, {TinytcpOffload, GVisor}, {Tinytcp, Kernel}, {TinytcpOffload, Kernel}}, rep.ratioPairs())

	var b strings.Builder
	require.NoError(t, rep.WriteTable(&b))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.Len(t, lines, 2+4, "header, rule, download, its TUN share, rr, idle")
	cells := func(line string) []string {
		var out []string
		for _, c := range strings.Split(strings.Trim(line, "|"), "|") {
			out = append(out, strings.TrimSpace(c))
		}
		return out
	}
	assert.Equal(t, []string{"workload", "figure", "unit", "better", "tinytcp", "tinytcp-offload", "gvisor", "kernel",
		"tinytcp/gvisor", "tinytcp-offload/gvisor", "tinytcp/kernel", "tinytcp-offload/kernel"}, cells(lines[0]))
	assert.Equal(t, []string{"download", "goodput", "MB/s", "higher", "150", "600", "100", "1500", "1.50", "6.00", "0.10", "0.40"}, cells(lines[2]))
	// 150 MB/s in 1448-byte segments is 103,591 packets/s: 51.8% of 200,000.
	assert.Equal(t, []string{"download", "share of raw TUN packet rate", "%", "higher", "51.8", "207", "34.5", "n/a", "1.50", "6.00", "-", "-"}, cells(lines[3]))
	assert.Equal(t, []string{"rr 1 byte", "p50 latency", "µs", "lower", "30.0", "30.0", "60.0", "20.0", "0.50", "0.50", "1.50", "1.50"}, cells(lines[4]))
	assert.Equal(t, []string{"idle connections", "heap per connection", "KiB", "lower", "2.50", "-", "-", "n/a", "-", "-", "-", "-"}, cells(lines[5]))
	assert.True(t, strings.HasSuffix(lines[1], "-: |"), "numbers are right-aligned: %q", lines[1])
}

func TestPerfMarkdown(t *testing.T) {
	rep := &PerfReport{
		Date:      time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		Command:   "./bin/bench.test -perf -bulk-mb 300",
		Notes:     []string{"Machine: a test."},
		Stacks:    []StackName{Tinytcp, GVisor},
		Workloads: []string{wlUpload},
		Runs:      []PerfRun{rate(wlUpload, Tinytcp, 50), rate(wlUpload, GVisor, 100)},
		TUN:       &TUNRate{MTU: 1500, WritePPS: 300_000, ReadPPS: 100_000},
	}
	var b strings.Builder
	require.NoError(t, rep.WriteMarkdown(&b))
	md := b.String()
	assert.True(t, strings.HasPrefix(md, "### make bench, 2026-12-01\n\n```sh\n./bin/bench.test -perf -bulk-mb 300\n```\n\n- Machine: a test.\n"), md)
	assert.Contains(t, md, "write(2) 300000 packets/s (3600 Mbit/s), read(2) 100000 packets/s (1200 Mbit/s)")
	assert.Contains(t, md, "| upload   | goodput                      | MB/s | higher |    50.0 |    100 |           0.50 |")
	assert.NotContains(t, md, PerfPartialNote, "no partial figure, no note")
}

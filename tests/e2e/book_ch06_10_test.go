package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"tinytcp/tcp"
	"tinytcp/tests/netns"
)

// The generators of chapters 6 to 10 (flow control, error control,
// congestion control, HTTP state, testing). Each runs the real `tinytcp up`
// (or the demo server in process) in a fresh namespace and returns what a
// reader would see. Figures go to docs/figures.

// figuresDirB is where the book's figures live, from this package's directory.
const figuresDirB = "../../docs/figures"

var bookTranscriptsB = transcripts{
	"ch06-stop-and-wait":       genStopAndWait,
	"ch07-recovery-trace":      genRecoveryTrace,
	"ch08-congestion-state":    genCongestionState,
	"ch09-session-headers":     genSessionHeaders,
	"ch10-conformance-excerpt": genConformanceExcerpt,
}

// fenced wraps text in a fenced code block.
func fenceB(text string) string {
	return "```\n" + strings.TrimRight(text, "\n") + "\n```\n"
}

// timedDownloadB runs `tinytcp up ARGS` in a fresh namespace and fetches
// n bytes with curl, returning curl's one-line summary.
func timedDownloadB(t *testing.T, n int, args ...string) string {
	ns := netns.New(t)
	startUp(t, ns, args...)
	return string(inNS(t, ns, "curl", "-sS", "--fail", "--max-time", "240", "-o", "/dev/null",
		"-w", "%{size_download} bytes in %{time_total}s\n", fmt.Sprintf("%s/bytes?n=%d", stackURL, n)))
}

func genStopAndWait(t *testing.T) string {
	const n = 200_000
	var b strings.Builder
	for _, args := range [][]string{{"--delay", "20ms"}, {"--delay", "20ms", "--stop-and-wait"}} {
		fmt.Fprintf(&b, "$ sudo tinytcp up %s\n", strings.Join(args, " "))
		fmt.Fprintf(&b, "$ curl -s -o /dev/null -w '%%{size_download} bytes in %%{time_total}s\\n' 'http://10.77.0.2/bytes?n=%d'\n", n)
		b.WriteString(timedDownloadB(t, n, args...))
	}
	return fenceB(b.String())
}

// recoveryLineB is a --trace line about loss recovery (not a segment).
var recoveryLineB = regexp.MustCompile(`fast retransmit|recovery done|retransmission timeout|tail loss probe|D-SACK`)

func genRecoveryTrace(t *testing.T) string {
	ns := netns.New(t)
	pcap := filepath.Join(t.TempDir(), "lossy.pcap")
	cmd, _, trace := startUp(t, ns, "--drop-chance", "2", "--delay", "10ms", "--seed", "3", "--trace", "--pcap", pcap)
	curl := string(inNS(t, ns, "curl", "-sS", "--fail", "--max-time", "240", "-o", "/dev/null",
		"-w", "%{size_download} bytes in %{time_total}s\n", stackURL+"/bytes?n=2000000"))
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	cmd.Wait() //nolint:errcheck // it was interrupted; the lines are what matter

	var lines []string
	for _, l := range strings.Split(trace.String(), "\n") {
		if recoveryLineB.MatchString(l) {
			lines = append(lines, l)
		}
	}
	require.NotEmpty(t, lines, "no recovery in the trace")
	shown := lines
	if len(shown) > 6 {
		shown = shown[:6]
	}
	plot, err := exec.Command(binary, "plot", pcap, "-o", filepath.Join(figuresDirB, "ch07-lossy.svg")).CombinedOutput()
	require.NoError(t, err, "%s", plot)
	plotLine := strings.Replace(strings.TrimSpace(string(plot)), figuresDirB+"/", "docs/figures/", 1)

	var b strings.Builder
	b.WriteString("$ sudo tinytcp up --drop-chance 2 --delay 10ms --seed 3 --trace --pcap lossy.pcap 2>&1 | grep -E 'fast retransmit|recovery done|timeout|probe|D-SACK'\n")
	b.WriteString(strings.Join(shown, "\n") + "\n")
	if len(lines) > len(shown) {
		fmt.Fprintf(&b, "... (%d recovery lines in all)\n", len(lines))
	}
	b.WriteString("$ curl -s -o /dev/null -w '%{size_download} bytes in %{time_total}s\\n' 'http://10.77.0.2/bytes?n=2000000'\n")
	b.WriteString(curl)
	b.WriteString("$ tinytcp plot lossy.pcap -o docs/figures/ch07-lossy.svg\n")
	b.WriteString(plotLine + "\n")
	return fenceB(b.String())
}

func genCongestionState(t *testing.T) string {
	shown := regexp.MustCompile(`^(rtt|cwnd|segments|recovery) `)
	var b strings.Builder
	for _, cc := range []string{tcp.CongestionCubic, tcp.CongestionNewReno} {
		args := []string{"--drop-chance", "1", "--delay", "10ms", "--seed", "5", "--congestion", cc}
		ns := netns.New(t)
		startUp(t, ns, args...)
		// Two requests on one connection: the page describes the
		// connection that has just carried the 3 MB.
		page := string(inNS(t, ns, "curl", "-sS", "--fail", "--max-time", "240",
			"-o", "/dev/null", stackURL+"/bytes?n=3000000", "-o", "-", stackURL+"/"))
		fmt.Fprintf(&b, "$ sudo tinytcp up %s\n", strings.Join(args, " "))
		b.WriteString("$ curl -s -o /dev/null 'http://10.77.0.2/bytes?n=3000000' -o - http://10.77.0.2/ | grep -E '^(rtt|cwnd|segments|recovery) '\n")
		for _, l := range strings.Split(page, "\n") {
			if shown.MatchString(l) {
				b.WriteString(l + "\n")
			}
		}
	}
	return fenceB(b.String())
}

func genSessionHeaders(t *testing.T) string {
	h := upHost(t)
	jar := filepath.Join(t.TempDir(), "jar")
	var b strings.Builder
	for i := 0; i < 2; i++ {
		out := string(h.run(t, "sh", "-c", "curl -sS -v -c "+jar+" -b "+jar+" "+stackURL+"/session 2>&1"))
		b.WriteString("$ curl -v -c jar -b jar http://10.77.0.2/session\n")
		for _, l := range strings.Split(out, "\n") {
			l = strings.TrimRight(l, "\r")
			switch {
			case strings.HasPrefix(l, "> ") || strings.HasPrefix(l, "< ") || strings.HasPrefix(l, "visits="):
				if strings.HasPrefix(l, "> Accept") || strings.HasPrefix(l, "> User-Agent") || strings.HasPrefix(l, "< Date") {
					continue
				}
				b.WriteString(l + "\n")
			}
		}
	}
	b.WriteString("$ curl http://10.77.0.2/session        # no jar: a stranger every time\n")
	b.WriteString(string(h.run(t, "curl", "-sS", stackURL+"/session")))
	return fenceB(b.String())
}

func genConformanceExcerpt(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "conformance.test")
	build := exec.Command("go", "test", "-c", "-o", bin, "tinytcp/tests/conformance")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	run := exec.Command(bin, "-test.run", "^TestConformance$/^(fast-retransmit|receiver-zero-window|sack-blocks)$", "-report")
	run.Dir = "../conformance"
	out, err = run.CombinedOutput()
	require.NoError(t, err, "%s", out)
	// The scenario table, the flow-control rows of the requirement table,
	// and the summaries.
	flowRows := regexp.MustCompile(`^(label |MUST-3[4-9] |SHLD-(14|29|30) |rfc9293: |conformance: )`)
	var keep []string
	inRequirements := false
	for _, l := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(l, "PASS") || strings.HasPrefix(l, "ok ") || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- "):
		case strings.HasPrefix(l, "label "):
			inRequirements = true
			keep = append(keep, l)
		case inRequirements && !flowRows.MatchString(l):
			if len(keep) > 0 && keep[len(keep)-1] != "..." && l != "" {
				keep = append(keep, "...")
			}
		default:
			keep = append(keep, l)
		}
	}
	text := strings.Trim(strings.Join(keep, "\n"), "\n")
	return fenceB("$ go test -c -o /tmp/c.test ./tests/conformance && cd tests/conformance\n" +
		"$ /tmp/c.test -test.run '^TestConformance$/^(fast-retransmit|receiver-zero-window|sack-blocks)$' -report\n" + text)
}

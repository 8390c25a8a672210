package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"tinytcp/tests/netns"
)

// The generators of the book's chapters 1 to 5 (docs/book/01-layers.md to
// 05-closing.md). Each runs what its chapter tells the reader to run, in a
// fresh namespace, and returns the real output as a fenced code block.
// The helpers end in A (this set) so that they cannot collide with the
// other chapters' generator files.

var bookTranscriptsA = transcripts{
	// Chapter 1: the same records over UDP and over TCP on a lossy link.
	"udp-vs-tcp": func(t *testing.T) string {
		ns := netns.New(t)
		startUp(t, ns, "--drop-chance", "5", "--dup-chance", "5", "--reorder-chance", "5")
		out := inNS(t, ns, binary, "udp-vs-tcp", "--count", "500")
		return fenceA("$ tinytcp udp-vs-tcp --count 500", string(out))
	},
	// Chapter 2: the first packet of a curl, the kernel's SYN, dissected.
	"ipv4-dissected": func(t *testing.T) string {
		pcap := curlCaptureA(t, 1)
		out := tsharkA(t, "-n", "-r", pcap, "-c", "1", "-o", "ip.check_checksum:TRUE", "-O", "ip", "-x")
		return fenceA("$ tshark -n -r up.pcap -c 1 -o ip.check_checksum:TRUE -O ip -x", out)
	},
	// Chapter 3: the TCP header and options of the SYN-ACK tinytcp
	// answers a curl with.
	"tcp-syn-options": func(t *testing.T) string {
		pcap := curlCaptureA(t, 1)
		out := tsharkA(t, "-n", "-r", pcap, "-Y", "tcp.flags.syn == 1 && tcp.flags.ack == 1",
			"-o", "tcp.relative_sequence_numbers:FALSE", "-o", "tcp.check_checksum:TRUE", "-O", "tcp")
		var keep []string
		for _, line := range strings.Split(out, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(line), "[") {
				keep = append(keep, line)
			}
		}
		return fenceA(`$ tshark -n -r up.pcap -Y 'tcp.flags.syn == 1 && tcp.flags.ack == 1' \
    -o tcp.relative_sequence_numbers:FALSE -o tcp.check_checksum:TRUE -O tcp | grep -v '^ *\['`, strings.Join(keep, "\n"))
	},
	// Chapter 4: the handshake (and the rest) of one curl, drawn live.
	"open-ladder": func(t *testing.T) string {
		ns := netns.New(t)
		cmd, _, stderr := startUp(t, ns, "--trace=ladder")
		inNS(t, ns, "curl", "-sS", "--fail", "--max-time", "30", "-o", "/dev/null", stackURL+"/")
		stopA(t, ns, cmd)
		return fenceA("$ sudo tinytcp up --trace=ladder      # and curl -s http://10.77.0.2/ >/dev/null", ladderLinesA(stderr.String()))
	},
	// Chapter 4: three connections from the same client, three ISNs.
	"isn-absolute": func(t *testing.T) string {
		pcap := curlCaptureA(t, 3)
		out := runA(t, binary, "ladder", "--absolute", pcap)
		var keep []string
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "CTL=SYN") || strings.HasPrefix(line, "connection") {
				keep = append(keep, line)
			}
		}
		if len(keep) == 0 {
			keep = []string{out}
		}
		return fenceA("$ tinytcp ladder --absolute up.pcap | grep -e CTL=SYN -e ^connection", strings.Join(keep, "\n"))
	},
	// Chapter 5: the close of one curl, and the kernel's end in TIME-WAIT.
	"close-ladder": func(t *testing.T) string {
		ns := netns.New(t)
		pcap := filepath.Join(t.TempDir(), "up.pcap")
		cmd, _, _ := startUp(t, ns, "--pcap", pcap)
		inNS(t, ns, "curl", "-sS", "--fail", "--max-time", "30", "-o", "/dev/null", stackURL+"/")
		ss := string(inNS(t, ns, "ss", "-tan", "state", "time-wait"))
		stopA(t, ns, cmd)
		ladder := runA(t, binary, "ladder", pcap)
		return fenceA("$ tinytcp ladder up.pcap", ladder) + fenceA("$ ss -tan state time-wait      # on the kernel's side, right after curl", ss)
	},
}

// curlCaptureA runs `tinytcp up --pcap` in a fresh namespace, curls the
// page n times, stops it and returns the capture.
func curlCaptureA(t *testing.T, n int) string {
	t.Helper()
	ns := netns.New(t)
	pcap := filepath.Join(t.TempDir(), "up.pcap")
	cmd, _, _ := startUp(t, ns, "--pcap", pcap)
	for i := 0; i < n; i++ {
		inNS(t, ns, "curl", "-sS", "--fail", "--max-time", "30", "-o", "/dev/null", stackURL+"/")
	}
	stopA(t, ns, cmd)
	return pcap
}

// stopA ends a `tinytcp up` with SIGTERM, as Ctrl-C would, so that its
// capture and its trace are complete. It first waits until no connection
// is half-way through its close (`tinytcp ss -a`), so the close's last ACK
// is in the capture.
func stopA(t *testing.T, ns *netns.NS, cmd *exec.Cmd) {
	t.Helper()
	require.Eventually(t, func() bool {
		out := string(inNS(t, ns, binary, "ss", "-a"))
		return !strings.Contains(out, "FIN-WAIT-1") && !strings.Contains(out, "CLOSING") && !strings.Contains(out, "LAST-ACK")
	}, 10*time.Second, 20*time.Millisecond, "a connection never finished closing")
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait())
}

// runA runs a program outside any namespace (on a capture file) and
// returns its standard output.
func runA(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	require.NoError(t, err, "%s %v", name, args)
	return string(out)
}

func tsharkA(t *testing.T, args ...string) string {
	t.Helper()
	return runA(t, "tshark", args...)
}

// ladderLinesA keeps the ladder lines of a --trace=ladder stderr, without
// the log lines around them.
func ladderLinesA(s string) string {
	var keep []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, "level=") || strings.TrimSpace(line) == "" {
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n")
}

// fenceA puts a command and its output in a fenced code block.
func fenceA(command, out string) string {
	return fmt.Sprintf("```\n%s\n%s\n```\n", command, strings.TrimRight(out, "\n"))
}

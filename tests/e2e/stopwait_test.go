package e2e

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tinytcp/tests/netns"
)

// Stop-and-wait against the sliding window, against the kernel: `tinytcp up
// --delay 20ms`, with and without --stop-and-wait, serves the same download
// to curl over the same link (20 ms added each way). The test checks
// correctness only: the bytes are right, and, read from the capture with
// gopacket (not with tinytcp's own parser), the stop-and-wait sender never
// has more than one segment unacknowledged while the sliding window has
// several. How long each took is logged, never asserted; the README has the
// figures.

// stopWaitBytes keeps the stop-and-wait download to about 90 segments: each
// takes a round trip (40 ms) plus the kernel's delayed ACK (about 40 ms),
// so some 7 s.
const stopWaitBytes = 128 << 10

func TestStopAndWaitAgainstSlidingWindow(t *testing.T) {
	t.Parallel()
	for _, stopAndWait := range []bool{false, true} {
		name := "sliding window"
		if stopAndWait {
			name = "stop-and-wait"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ns := netns.New(t)
			pcap := filepath.Join(t.TempDir(), "up.pcap")
			args := []string{"--delay", "20ms", "--pcap", pcap}
			if stopAndWait {
				args = append(args, "--stop-and-wait")
			}
			cmd, out, stderr := startUp(t, ns, args...)

			page := string(inNS(t, ns, "curl", "-sS", "--fail", "--max-time", "30", stackURL+"/"))
			if stopAndWait {
				assert.Contains(t, out.String(), "stop-and-wait", "up says how it sends")
				assert.Contains(t, page, "stop-and-wait: one segment in flight", "Info().StopAndWait on the page")
			} else {
				assert.NotContains(t, page, "stop-and-wait")
			}

			file := filepath.Join(t.TempDir(), "bytes")
			took := inNS(t, ns, "curl", "-sS", "--fail", "--max-time", "60", "-o", file,
				"-w", "%{time_total}", fmt.Sprintf("%s/bytes?n=%d", stackURL, stopWaitBytes))
			f, err := os.Open(file)
			require.NoError(t, err)
			checkPattern(t, f, stopWaitBytes)
			f.Close()

			// SIGTERM flushes and closes the capture.
			require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
			require.NoError(t, cmd.Wait(), "stderr: %s", stderr.String())
			fl := countFlight(t, pcap, 80)
			t.Logf("%s: %d bytes in %ss; %d data segments, at most %d in flight", name, stopWaitBytes, took, fl.sent, fl.max)
			require.GreaterOrEqual(t, fl.sent, stopWaitBytes/1460, "the capture holds the download")
			if stopAndWait {
				assert.Equal(t, 1, fl.max, "segments in flight at once")
			} else {
				assert.Greater(t, fl.max, 1, "segments in flight at once")
			}
		})
	}
}

// flight is what countFlight finds in a capture.
type flight struct {
	sent int // data and FIN segments the stack sent, retransmissions included
	max  int // the most of them unacknowledged at once
}

// countFlight reads a capture of the stack's port and counts, connection
// by connection, the segments the stack sent (with data or FIN) that no ACK
// from the kernel had covered yet, at each send. A segment sent again from
// the same sequence number is the same segment.
func countFlight(t *testing.T, file string, port layers.TCPPort) flight {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	require.NoError(t, err)
	require.Equal(t, layers.LinkTypeRaw, r.LinkType())
	var fl flight
	inFlight := map[layers.TCPPort]map[uint32]uint32{} // kernel port -> start -> end
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		pkt := gopacket.NewPacket(data, layers.LayerTypeIPv4, gopacket.Default)
		tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok {
			continue
		}
		switch {
		case tcp.SrcPort == port && (len(tcp.Payload) > 0 || tcp.FIN):
			end := tcp.Seq + uint32(len(tcp.Payload))
			if tcp.FIN {
				end++
			}
			conn := inFlight[tcp.DstPort]
			if conn == nil {
				conn = map[uint32]uint32{}
				inFlight[tcp.DstPort] = conn
			}
			conn[tcp.Seq] = end
			fl.sent++
			fl.max = max(fl.max, len(conn))
		case tcp.DstPort == port && tcp.ACK:
			conn := inFlight[tcp.SrcPort]
			for start, end := range conn {
				if int32(end-tcp.Ack) <= 0 { // end =< SEG.ACK, modulo 2^32
					delete(conn, start)
				}
			}
		}
	}
	return fl
}

package e2e

import (
	"encoding/json"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tinytcp/cmd/demo"
	"tinytcp/tests/netns"
)

// UDP against the kernel (stack/udp.go, cmd/demo/udp.go): the kernel's
// UDP sockets talk to tinytcp's UDP echo and discard, a closed port answers
// with ICMP port unreachable, and on an impaired link `tinytcp udp-vs-tcp`
// shows datagrams lost while the TCP stream arrives whole and in order.

// dialUDP opens a connected kernel UDP socket inside the namespace.
func (h *host) dialUDP(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	var c net.Conn
	require.NoError(t, h.ns.Do(func() error {
		var err error
		c, err = net.Dial("udp4", addr)
		return err
	}))
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(30*time.Second)))
	return c.(*net.UDPConn)
}

func TestUDPKernelEchoAndDiscard(t *testing.T) {
	pcap := filepath.Join(t.TempDir(), "udp.pcap")
	// Registered before upHost, so it runs after the host has closed and
	// flushed the capture: an independent decoder agrees with our
	// checksums and sees every datagram.
	t.Cleanup(func() {
		out, err := exec.Command("tshark", "-n", "-r", pcap, "-o", "udp.check_checksum:TRUE",
			"-Y", "udp && (_ws.malformed || udp.checksum.status == 2)").Output()
		require.NoError(t, err, "tshark: %s", out)
		assert.Empty(t, strings.TrimSpace(string(out)), "malformed datagrams or bad checksums in the capture")
		out, err = exec.Command("tshark", "-n", "-r", pcap, "-Y", "udp").Output()
		require.NoError(t, err)
		assert.Equal(t, 11, strings.Count(string(out), "\n"), "6 datagrams in, 5 out:\n%s", out)
	})
	h := upHost(t, func(c *demo.HostConfig) { c.PcapFile = pcap })
	echo := h.dialUDP(t, "10.77.0.2:7")
	discard := h.dialUDP(t, "10.77.0.2:9")
	buf := make([]byte, 2000)

	// Sizes up to the largest that fits the 1500-byte MTU unfragmented.
	for _, size := range []int{0, 1, 511, 1472} {
		msg := make([]byte, size)
		for i := range msg {
			msg[i] = byte(i % 251)
		}
		_, err := echo.Write(msg)
		require.NoError(t, err)
		n, err := echo.Read(buf)
		require.NoError(t, err)
		require.Equal(t, msg, buf[:n], "echo of %d bytes", size)
	}

	// Discard answers nothing. A datagram to echo after it proves that the
	// stack has taken the discarded one off the link (packets are handled
	// in order), so the counters below are settled.
	_, err := discard.Write([]byte("into the void"))
	require.NoError(t, err)
	_, err = echo.Write([]byte("after"))
	require.NoError(t, err)
	n, err := echo.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "after", string(buf[:n]))

	c := &h.h.Stack.Counters
	assert.Equal(t, uint64(6), c.Get("udp.PacketsReceived"), "5 to echo, 1 to discard")
	assert.Equal(t, uint64(5), c.Get("udp.PacketsSent"), "only echo answers")
	assert.Zero(t, c.Get("udp.ChecksumErrors"), "the kernel's checksums verify")
}

func TestUDPKernelClosedPortRefused(t *testing.T) {
	// RFC 1122 §4.1.3.1: the stack answers ICMP port unreachable, and the
	// kernel reports it on the connected socket as ECONNREFUSED.
	h := upHost(t)
	c := h.dialUDP(t, "10.77.0.2:5000")
	_, err := c.Write([]byte("anyone?"))
	require.NoError(t, err)
	_, err = c.Read(make([]byte, 100))
	require.ErrorIs(t, err, syscall.ECONNREFUSED, "got %v, want ECONNREFUSED", err)
	assert.Equal(t, uint64(1), h.h.Stack.Counters.Get("udp.UnknownPortErrors"))
}

func TestUDPVsTCPOnLossyLink(t *testing.T) {
	// The book's experiment with the real binaries: `tinytcp up` with 5%
	// drop, duplication and reordering both ways, and `tinytcp udp-vs-tcp`
	// beside it. With 300 records over a round trip that loses about one
	// datagram in ten, a run without loss is beyond belief (0.9^300), and
	// the seed fixes the impairments' choices anyway.
	ns := netns.New(t)
	startUp(t, ns, "--drop-chance", "5", "--dup-chance", "5", "--reorder-chance", "5", "--seed", "7")
	out := inNS(t, ns, binary, "udp-vs-tcp", "--count", "300", "--json")
	var res demo.CompareResult
	require.NoError(t, json.Unmarshal(out, &res), "%s", out)
	t.Logf("%s", out)
	u, tc := res.UDP, res.TCP
	require.NotNil(t, u)
	require.NotNil(t, tc)

	// UDP: the link shows through.
	assert.Equal(t, 300, u.Sent)
	assert.Positive(t, u.Lost, "some datagrams are lost")
	assert.Positive(t, u.Duplicated, "some datagrams come twice")
	assert.Equal(t, u.Sent, u.Received+u.Lost, "every record is received or lost")
	assert.LessOrEqual(t, u.Reordered, u.Received, "only received records can be out of order")

	// TCP: the same records, all back, in order, paid for in resends.
	assert.Equal(t, 300, tc.Sent)
	assert.Equal(t, 300, tc.Received)
	assert.True(t, tc.InOrder, "first problem: %s", tc.FirstProblem)
	assert.Positive(t, tc.Retransmits, "the kernel's TCP had to resend")
}

func TestUDPSendToClosedPortFails(t *testing.T) {
	// udp-send to a port nobody serves ends with "connection refused"
	// (the ICMP port unreachable), not with 100% loss.
	h := upHost(t)
	out, err := h.command(t, binary, "udp-send", "--to", "10.77.0.2:5000", "--count", "20")
	require.Error(t, err, "%s", out)
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "%v", err)
	assert.Contains(t, err.Error(), "connection refused")
}

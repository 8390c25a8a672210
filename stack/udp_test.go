package stack_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tinytcp/ip"
	"tinytcp/stack"
	"tinytcp/tun"
)

// UDP through the stack (stack/udp.go): two stacks on the pipe for the
// socket API, and a raw peer for what goes on the wire. Raw packets go in
// with Inject, so each is processed when the call returns.

// buildUDP builds an IPv4 packet holding a UDP datagram from src to dst;
// corrupt spoils its checksum.
func buildUDP(src, dst netip.AddrPort, data string, corrupt bool) []byte {
	pkt := make([]byte, ip.HeaderMinLen+ip.UDPHeaderLen+len(data))
	b := pkt[ip.HeaderMinLen:]
	copy(b[ip.UDPHeaderLen:], data)
	(&ip.UDPFields{SrcPort: src.Port(), DstPort: dst.Port()}).Encode(b, src.Addr(), dst.Addr())
	if corrupt {
		b[6] ^= 0x55
	}
	f := ip.IPv4Fields{TotalLen: uint16(len(pkt)), TTL: 64, Protocol: ip.ProtocolUDP, Src: src.Addr(), Dst: dst.Addr()}
	f.Encode(pkt)
	return pkt
}

// readUDP reads the next packet from dev and checks it is a well-formed UDP
// datagram with a correct checksum.
func readUDP(t *testing.T, dev tun.Device) (ip.IPv4, ip.UDP) {
	t.Helper()
	h := readPacket(t, dev)
	require.Equal(t, uint8(ip.ProtocolUDP), h.Protocol())
	u, err := ip.ParseUDP(h.Payload())
	require.NoError(t, err)
	require.NotZero(t, u.Checksum(), "tinytcp always sends a checksum")
	require.NoError(t, u.VerifyChecksum(h.Src(), h.Dst()))
	return h, u
}

// echoUDP answers every datagram on c with itself until c is closed.
func echoUDP(c net.PacketConn) {
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		c.WriteTo(buf[:n], from) //nolint:errcheck // a datagram may be lost anyway
	}
}

func TestUDPEchoBetweenStacks(t *testing.T) {
	a, b := stackPair(t)
	srv, err := b.ListenUDP(7)
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { echoUDP(srv); close(done) }()
	defer func() { srv.Close(); <-done }()

	cli, err := a.ListenUDP(0)
	require.NoError(t, err)
	defer cli.Close()
	require.NoError(t, cli.SetReadDeadline(time.Now().Add(10*time.Second)))
	to := &net.UDPAddr{IP: addrB.AsSlice(), Port: 7}
	buf := make([]byte, 2000)
	for i, size := range []int{0, 1, 100, 1500 - 28} {
		msg := bytes.Repeat([]byte{byte(i + 1)}, size)
		n, err := cli.WriteTo(msg, to)
		require.NoError(t, err)
		require.Equal(t, size, n)
		n, from, err := cli.ReadFrom(buf)
		require.NoError(t, err)
		assert.Equal(t, msg, buf[:n], "datagram of %d bytes", size)
		assert.Equal(t, "10.0.0.2:7", from.String())
	}
	assert.Equal(t, uint64(4), a.Counters.Get("udp.PacketsSent"))
	assert.Equal(t, uint64(4), a.Counters.Get("udp.PacketsReceived"))
	assert.Equal(t, uint64(4), b.Counters.Get("udp.PacketsReceived"))
	assert.Equal(t, "10.0.0.1", cli.LocalAddr().(*net.UDPAddr).IP.String())
	assert.Nil(t, cli.RemoteAddr())
}

func TestUDPDialIsConnected(t *testing.T) {
	a, b := stackPair(t)
	srv, err := b.ListenUDP(7)
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { echoUDP(srv); close(done) }()
	defer func() { srv.Close(); <-done }()

	c, err := a.DialUDP(netip.AddrPortFrom(addrB, 7))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = c.Write([]byte("hello"))
	require.NoError(t, err)
	buf := make([]byte, 100)
	n, err := c.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(buf[:n]))
	assert.Equal(t, "10.0.0.2:7", c.RemoteAddr().String())
	_, err = c.WriteTo([]byte("x"), &net.UDPAddr{IP: addrB.AsSlice(), Port: 9})
	assert.ErrorIs(t, err, net.ErrWriteToConnected)
}

func TestUDPWireFormatAndTruncation(t *testing.T) {
	s, raw := rawPeer(t)
	peer := netip.AddrPortFrom(addrA, 40000)
	c, err := s.ListenUDP(5353)
	require.NoError(t, err)
	defer c.Close()

	// In: the datagram is queued; a short buffer gets its first bytes.
	s.Inject(buildUDP(peer, netip.AddrPortFrom(addrB, 5353), "0123456789", false))
	buf := make([]byte, 4)
	n, from, err := c.ReadFrom(buf)
	require.NoError(t, err)
	assert.Equal(t, "0123", string(buf[:n]), "the rest of a long datagram is lost, as with a kernel socket")
	assert.Equal(t, peer.String(), from.String())

	// Out: IPv4 and UDP headers as RFC 768 has them.
	_, err = c.WriteTo([]byte("odd"), net.UDPAddrFromAddrPort(peer))
	require.NoError(t, err)
	h, u := readUDP(t, raw)
	assert.Equal(t, addrB, h.Src())
	assert.Equal(t, addrA, h.Dst())
	assert.True(t, h.DontFragment())
	assert.Equal(t, uint16(5353), u.SrcPort())
	assert.Equal(t, uint16(40000), u.DstPort())
	assert.Equal(t, ip.UDPHeaderLen+3, u.Length())
	assert.Equal(t, "odd", string(u.Payload()))
}

func TestUDPClosedPortAnswersPortUnreachable(t *testing.T) {
	// RFC 1122 §4.1.3.1: UDP SHOULD send an ICMP Port Unreachable.
	s, raw := rawPeer(t)
	pkt := buildUDP(netip.AddrPortFrom(addrA, 40000), netip.AddrPortFrom(addrB, 9), "anyone?", false)
	s.Inject(pkt)
	h := readPacket(t, raw)
	require.Equal(t, uint8(ip.ProtocolICMP), h.Protocol())
	m, err := ip.ParseICMP(h.Payload())
	require.NoError(t, err)
	assert.Equal(t, uint8(ip.TypeDestinationUnreachable), m.Type())
	assert.Equal(t, uint8(ip.CodePortUnreachable), m.Code())
	orig, quoted, err := m.Original()
	require.NoError(t, err)
	assert.Equal(t, pkt[:ip.HeaderMinLen], []byte(orig), "quotes our header")
	assert.Equal(t, pkt[ip.HeaderMinLen:ip.HeaderMinLen+8], quoted, "and the UDP header")
	assert.Equal(t, uint64(1), s.Counters.Get("udp.UnknownPortErrors"))
	assert.Zero(t, s.Counters.Get("udp.PacketsReceived"))

	// A datagram for a connected socket from anyone but its peer finds no
	// socket either.
	c, err := s.DialUDP(netip.MustParseAddrPort("10.0.0.1:53"))
	require.NoError(t, err)
	defer c.Close()
	local := c.LocalAddr().(*net.UDPAddr).AddrPort()
	s.Inject(buildUDP(netip.AddrPortFrom(addrA, 54), local, "not from 53", false))
	h = readPacket(t, raw)
	require.Equal(t, uint8(ip.ProtocolICMP), h.Protocol())
	assert.Equal(t, uint64(2), s.Counters.Get("udp.UnknownPortErrors"))
}

func TestUDPBadInputDroppedAndCounted(t *testing.T) {
	// RFC 1122 §4.1.3.4: a non-zero, invalid checksum MUST be silently
	// discarded; a zero checksum means none was sent, and is accepted.
	s, raw := rawPeer(t)
	c, err := s.ListenUDP(7)
	require.NoError(t, err)
	defer c.Close()
	peer, local := netip.AddrPortFrom(addrA, 40000), netip.AddrPortFrom(addrB, 7)

	s.Inject(buildUDP(peer, local, "corrupt", true))
	short := buildUDP(peer, local, "", false)
	short = short[:ip.HeaderMinLen+4]
	(&ip.IPv4Fields{TotalLen: uint16(len(short)), TTL: 64, Protocol: ip.ProtocolUDP, Src: addrA, Dst: addrB}).Encode(short)
	s.Inject(short)
	long := buildUDP(peer, local, "abc", false)
	long[ip.HeaderMinLen+5] = 200 // UDP length past the packet
	s.Inject(long)
	none := buildUDP(peer, local, "no checksum", false)
	none[ip.HeaderMinLen+6], none[ip.HeaderMinLen+7] = 0, 0
	s.Inject(none)

	assert.Equal(t, uint64(1), s.Counters.Get("udp.ChecksumErrors"))
	assert.Equal(t, uint64(1), s.Counters.Get("drop.udp_bad_checksum"))
	assert.Equal(t, uint64(2), s.Counters.Get("udp.MalformedPacketsReceived"))
	assert.Equal(t, uint64(1), s.Counters.Get("drop.udp_too_short"))
	assert.Equal(t, uint64(1), s.Counters.Get("drop.udp_bad_length"))
	assert.Equal(t, uint64(1), s.Counters.Get("udp.PacketsReceived"))
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	buf := make([]byte, 100)
	n, _, err := c.ReadFrom(buf)
	require.NoError(t, err)
	assert.Equal(t, "no checksum", string(buf[:n]), "only the datagram without a checksum got through")

	// Nothing was answered: a ping's reply is the next packet out.
	s.Inject(echoRequest("ping"))
	h := readPacket(t, raw)
	assert.Equal(t, uint8(ip.ProtocolICMP), h.Protocol())
	m, err := ip.ParseICMP(h.Payload())
	require.NoError(t, err)
	assert.Equal(t, uint8(ip.TypeEchoReply), m.Type())
}

func TestUDPReceiveQueueIsBounded(t *testing.T) {
	s, _ := rawPeer(t)
	c, err := s.ListenUDP(7)
	require.NoError(t, err)
	defer c.Close()
	// Room for 3 datagrams of 100 bytes and their overhead, not 4.
	require.NoError(t, c.SetReadBuffer(3*(100+64)+10))
	peer, local := netip.AddrPortFrom(addrA, 40000), netip.AddrPortFrom(addrB, 7)
	for i := range 10 {
		s.Inject(buildUDP(peer, local, fmt.Sprintf("%-100d", i), false))
	}
	assert.Equal(t, uint64(3), s.Counters.Get("udp.PacketsReceived"))
	assert.Equal(t, uint64(7), s.Counters.Get("udp.ReceiveBufferErrors"))
	assert.Equal(t, uint64(7), s.Counters.Get("drop.udp_receive_buffer_full"))

	// The first three wait in order; reading one makes room for one more.
	buf := make([]byte, 200)
	n, _, err := c.ReadFrom(buf)
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("%-100d", 0), string(buf[:n]))
	s.Inject(buildUDP(peer, local, fmt.Sprintf("%-100d", 10), false))
	assert.Equal(t, uint64(4), s.Counters.Get("udp.PacketsReceived"))
	for _, want := range []int{1, 2, 10} {
		n, _, err := c.ReadFrom(buf)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("%-100d", want), string(buf[:n]))
	}
}

func TestUDPDeadlinesAndClose(t *testing.T) {
	s, _ := rawPeer(t)
	c, err := s.ListenUDP(7)
	require.NoError(t, err)

	// A read deadline in the past fails at once; one in the near future
	// fails a blocked read.
	require.NoError(t, c.SetReadDeadline(time.Now().Add(-time.Second)))
	_, _, err = c.ReadFrom(make([]byte, 10))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "a net.Error that times out: %v", err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, _, err = c.ReadFrom(make([]byte, 10))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)

	// Clearing the deadline lets a read block until Close.
	require.NoError(t, c.SetReadDeadline(time.Time{}))
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.ReadFrom(make([]byte, 10))
		errc <- err
	}()
	require.NoError(t, c.SetWriteDeadline(time.Now().Add(-time.Second)))
	_, err = c.WriteTo([]byte("x"), &net.UDPAddr{IP: addrA.AsSlice(), Port: 1})
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.NoError(t, c.Close())
	require.ErrorIs(t, <-errc, net.ErrClosed)
	require.ErrorIs(t, c.Close(), net.ErrClosed)
	_, err = c.WriteTo([]byte("x"), &net.UDPAddr{IP: addrA.AsSlice(), Port: 1})
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "the write deadline is checked first")

	// The port is free again; a second socket on a port in use is refused.
	c2, err := s.ListenUDP(7)
	require.NoError(t, err)
	defer c2.Close()
	_, err = s.ListenUDP(7)
	require.ErrorIs(t, err, syscall.EADDRINUSE)
}

func TestUDPWriteErrors(t *testing.T) {
	s, _ := rawPeer(t)
	c, err := s.ListenUDP(0)
	require.NoError(t, err)
	defer c.Close()
	to := &net.UDPAddr{IP: addrA.AsSlice(), Port: 7}
	// No fragmentation: 1472 bytes fit a 1500-byte MTU, 1473 do not.
	_, err = c.WriteTo(make([]byte, 1500-28), to)
	require.NoError(t, err)
	_, err = c.WriteTo(make([]byte, 1500-28+1), to)
	require.ErrorIs(t, err, syscall.EMSGSIZE)
	_, err = c.WriteTo([]byte("x"), &net.UDPAddr{IP: net.ParseIP("2001:db8::1"), Port: 7})
	require.ErrorIs(t, err, syscall.EINVAL, "IPv4 only")
	_, err = c.Write([]byte("x"))
	require.ErrorIs(t, err, syscall.EDESTADDRREQ, "Write needs DialUDP")
	assert.Equal(t, uint64(1), s.Counters.Get("udp.PacketsSent"))
}

func TestUDPReadEndsWhenStackCloses(t *testing.T) {
	da, _ := tun.Pipe(1500)
	s, err := stack.New(stack.Config{Device: da, Addr: addrB})
	require.NoError(t, err)
	c, err := s.ListenUDP(7)
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.ReadFrom(make([]byte, 10))
		errc <- err
	}()
	require.NoError(t, s.Close())
	require.ErrorIs(t, <-errc, net.ErrClosed)
}

package stack_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/net/nettest"

	"tinytcp/cmd/demo"
	"tinytcp/ip"
	"tinytcp/stack"
	"tinytcp/tcp"
	"tinytcp/tun"
)

// Two tinytcp stacks joined by an in-memory pipe: the stack API end to end
// without root. The kernel as peer is in tests/.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	addrA = netip.MustParseAddr("10.0.0.1")
	addrB = netip.MustParseAddr("10.0.0.2")
)

func newStack(t testing.TB, dev tun.Device, addr netip.Addr) *stack.Stack {
	t.Helper()
	s, err := stack.New(stack.Config{Device: dev, Addr: addr})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func stackPair(t testing.TB) (a, b *stack.Stack) {
	da, db := tun.Pipe(1500)
	return newStack(t, da, addrA), newStack(t, db, addrB)
}

// connPair returns a connection dialed from a and its accepted end on b.
func connPair(t testing.TB, a, b *stack.Stack, port uint16) (dialed, accepted net.Conn) {
	t.Helper()
	l, err := b.Listen(port)
	require.NoError(t, err)
	defer l.Close()
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		ch <- result{c, err}
	}()
	d, err := a.Dial(context.Background(), netip.AddrPortFrom(addrB, port))
	require.NoError(t, err)
	r := <-ch
	require.NoError(t, r.err)
	return d, r.c
}

func TestDialAcceptEchoBothWays(t *testing.T) {
	a, b := stackPair(t)
	d, acc := connPair(t, a, b, 7)
	defer d.Close()
	defer acc.Close()
	go demo.Echo(acc)

	data := bytes.Repeat([]byte("tinytcp "), 200_000) // 1.6 MB, far more than one window
	errc := make(chan error, 1)
	go func() {
		_, err := d.Write(data)
		errc <- err
	}()
	got := make([]byte, len(data))
	_, err := io.ReadFull(d, got)
	require.NoError(t, err)
	require.NoError(t, <-errc)
	assert.True(t, bytes.Equal(data, got), "echoed bytes differ")
	assert.Equal(t, "10.0.0.2:7", d.RemoteAddr().String())
	assert.Equal(t, "10.0.0.2:7", acc.LocalAddr().String())
	assert.Equal(t, d.LocalAddr().String(), acc.RemoteAddr().String())
}

func TestHalfCloseAndEOF(t *testing.T) {
	a, b := stackPair(t)
	d, acc := connPair(t, a, b, 9)
	defer acc.Close()
	_, err := d.Write([]byte("request"))
	require.NoError(t, err)
	require.NoError(t, d.(*stack.Conn).CloseWrite())
	got, err := io.ReadAll(acc)
	require.NoError(t, err, "the server reads to EOF after the client's FIN")
	assert.Equal(t, "request", string(got))
	_, err = acc.Write([]byte("reply"))
	require.NoError(t, err, "the server can still write after a half-close")
	require.NoError(t, acc.Close())
	got, err = io.ReadAll(d)
	require.NoError(t, err)
	assert.Equal(t, "reply", string(got))
	require.NoError(t, d.Close())
	assert.ErrorIs(t, d.Close(), net.ErrClosed)
	_, err = d.Read(make([]byte, 1))
	assert.ErrorIs(t, err, net.ErrClosed)
}

func TestDialClosedPortIsRefused(t *testing.T) {
	a, _ := stackPair(t)
	_, err := a.Dial(context.Background(), netip.AddrPortFrom(addrB, 4444))
	require.Error(t, err)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
}

func TestListenTwiceOnOnePort(t *testing.T) {
	a, _ := stackPair(t)
	l, err := a.Listen(80)
	require.NoError(t, err)
	defer l.Close()
	_, err = a.Listen(80)
	assert.ErrorIs(t, err, syscall.EADDRINUSE)
}

func TestReadDeadline(t *testing.T) {
	a, b := stackPair(t)
	d, acc := connPair(t, a, b, 7)
	defer d.Close()
	defer acc.Close()
	require.NoError(t, d.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, err := d.Read(make([]byte, 10))
	require.Error(t, err)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	// Clearing the deadline makes the connection usable again.
	require.NoError(t, d.SetReadDeadline(time.Time{}))
	_, err = acc.Write([]byte("x"))
	require.NoError(t, err)
	n, err := d.Read(make([]byte, 10))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

func TestHTTPServesOverTinytcp(t *testing.T) {
	a, b := stackPair(t)
	stop, err := demo.Serve(b, discardLogger{})
	require.NoError(t, err)
	defer stop()
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return a.Dial(ctx, netip.MustParseAddrPort(addr))
		},
	}}
	defer client.CloseIdleConnections()

	resp, err := client.Get("http://10.0.0.2/bytes?n=1000003")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Len(t, body, 1000003)
	for i, c := range body {
		if c != byte(i%251) {
			t.Fatalf("byte %d is %d, want %d", i, c, i%251)
		}
	}

	upload := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 300_000)
	resp, err = client.Post("http://10.0.0.2/upload", "application/octet-stream", bytes.NewReader(upload))
	require.NoError(t, err)
	body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	sum := sha256.Sum256(upload)
	assert.Equal(t, fmt.Sprintf("bytes=%d sha256=%s\n", len(upload), hex.EncodeToString(sum[:])), string(body))

	resp, err = client.Get("http://10.0.0.2/")
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(body), "ESTABLISHED")
	assert.Contains(t, string(body), "10.0.0.2:80")
}

type discardLogger struct{}

func (discardLogger) Error(string, ...any) {}

// TestNetConn runs golang.org/x/net/nettest's conformance suite for
// net.Conn on a pair of tinytcp connections.
func TestNetConn(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		da, db := tun.Pipe(1500)
		sa, err := stack.New(stack.Config{Device: da, Addr: addrA})
		if err != nil {
			return nil, nil, nil, err
		}
		sb, err := stack.New(stack.Config{Device: db, Addr: addrB})
		if err != nil {
			sa.Close()
			return nil, nil, nil, err
		}
		c1, c2 = connPair(t, sa, sb, 7)
		return c1, c2, func() {
			c1.Close()
			c2.Close()
			sa.Close()
			sb.Close()
		}, nil
	})
}

// rawPeer is a stack under test on one end of a pipe and the test writing
// and reading raw packets on the other.
func rawPeer(t *testing.T) (*stack.Stack, tun.Device) {
	da, db := tun.Pipe(1500)
	return newStack(t, da, addrB), db
}

func buildTCP(t *testing.T, src, dst netip.AddrPort, seg tcp.Segment, corrupt bool) []byte {
	seg.SrcPort, seg.DstPort = src.Port(), dst.Port()
	hl := seg.HeaderLen()
	n := hl + len(seg.Payload)
	pkt := make([]byte, ip.HeaderMinLen+n)
	b := pkt[ip.HeaderMinLen:]
	seg.MarshalHeader(b)
	copy(b[hl:], seg.Payload)
	sum := ip.Fold(ip.Sum(b, ip.PseudoHeaderSum(src.Addr(), dst.Addr(), ip.ProtocolTCP, n)))
	if corrupt {
		sum ^= 0x5555
	}
	tcp.Header(b).SetChecksum(sum)
	f := ip.IPv4Fields{TotalLen: uint16(len(pkt)), TTL: 64, Protocol: ip.ProtocolTCP, Src: src.Addr(), Dst: dst.Addr()}
	f.Encode(pkt)
	return pkt
}

// echoRequest builds an ICMP echo request from addrA to addrB.
func echoRequest(data string) []byte {
	req := append([]byte{8, 0, 0, 0, 0x12, 0x34, 0, 1}, data...)
	cs := ip.Checksum(req)
	req[2], req[3] = byte(cs>>8), byte(cs)
	pkt := make([]byte, ip.HeaderMinLen+len(req))
	f := ip.IPv4Fields{TotalLen: uint16(len(pkt)), TTL: 64, Protocol: ip.ProtocolICMP, Src: addrA, Dst: addrB}
	f.Encode(pkt)
	copy(pkt[ip.HeaderMinLen:], req)
	return pkt
}

// readPacket reads the next packet the stack sent and checks its header.
func readPacket(t *testing.T, dev tun.Device) ip.IPv4 {
	t.Helper()
	buf := make([]byte, 2000)
	n, err := dev.Read(buf)
	require.NoError(t, err)
	h, err := ip.ParseIPv4(buf[:n])
	require.NoError(t, err)
	return h
}

func readSegment(t *testing.T, dev tun.Device) (ip.IPv4, tcp.Segment) {
	t.Helper()
	h := readPacket(t, dev)
	require.Equal(t, uint8(ip.ProtocolTCP), h.Protocol())
	var seg tcp.Segment
	require.NoError(t, tcp.ParseSegment(h.Payload(), &seg))
	require.Zero(t, ip.Fold(ip.Sum(h.Payload(), ip.PseudoHeaderSum(h.Src(), h.Dst(), ip.ProtocolTCP, len(h.Payload())))), "checksum of a segment we sent")
	return h, seg
}

func TestRSTForClosedPortAndBadChecksumDropped(t *testing.T) {
	s, raw := rawPeer(t)
	peer := netip.MustParseAddrPort("10.0.0.1:5555")
	local := netip.AddrPortFrom(addrB, 81)

	// A bad checksum: dropped and counted, nothing sent (MUST-3).
	_, err := raw.Write(buildTCP(t, peer, local, tcp.Segment{Seq: 1000, Flags: tcp.FlagSYN}, true))
	require.NoError(t, err)
	// A good SYN to a closed port: <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK>.
	_, err = raw.Write(buildTCP(t, peer, local, tcp.Segment{Seq: 2000, Flags: tcp.FlagSYN}, false))
	require.NoError(t, err)
	_, seg := readSegment(t, raw)
	assert.Equal(t, tcp.FlagRST|tcp.FlagACK, seg.Flags)
	assert.Equal(t, tcp.Seq(2001), seg.Ack)
	assert.Equal(t, uint64(1), s.Counters.Get("tcp.ChecksumErrors"))
}

func TestMalformedPacketsAreCountedNotFatal(t *testing.T) {
	s, raw := rawPeer(t)
	bad := [][]byte{
		{},
		{0x45},
		bytes.Repeat([]byte{0x60}, 40), // IPv6
		append([]byte{0x4f}, bytes.Repeat([]byte{0}, 30)...), // IHL 15 > length
	}
	for _, p := range bad {
		_, err := raw.Write(p)
		require.NoError(t, err)
	}
	// Then an echo request, whose reply proves the stack is alive and has
	// processed everything before it.
	_, err := raw.Write(echoRequest("ping"))
	require.NoError(t, err)
	h := readPacket(t, raw)
	assert.Equal(t, addrA, h.Dst())
	m, err := ip.ParseICMP(h.Payload())
	require.NoError(t, err)
	assert.Equal(t, uint8(ip.TypeEchoReply), m.Type())
	assert.Equal(t, "ping", string(m.Body()))
	assert.Equal(t, uint64(len(bad)), s.Counters.Get("ip.MalformedPacketsReceived"))
	var reasons []string
	for name := range s.Counters.Snapshot() {
		if strings.HasPrefix(name, "drop.") {
			reasons = append(reasons, name)
		}
	}
	assert.NotEmpty(t, reasons)
}

func TestManySequentialConnections(t *testing.T) {
	a, b := stackPair(t)
	l, err := b.Listen(7)
	require.NoError(t, err)
	defer l.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			demo.Echo(c)
			c.Close()
		}
	}()
	for i := 0; i < 200; i++ {
		c, err := a.Dial(context.Background(), netip.AddrPortFrom(addrB, 7))
		require.NoError(t, err)
		msg := []byte(fmt.Sprintf("hello %d", i))
		_, err = c.Write(msg)
		require.NoError(t, err)
		require.NoError(t, c.CloseWrite())
		got, err := io.ReadAll(c)
		require.NoError(t, err)
		require.Equal(t, msg, got)
		require.NoError(t, c.Close())
	}
	l.Close()
	wg.Wait()
	assert.Equal(t, uint64(200), a.Counters.Get("tcp.ActiveConnectionOpenings"))
	assert.Equal(t, uint64(200), b.Counters.Get("tcp.PassiveConnectionOpenings"))
}

// lockedBuffer collects the trace, written by the stack's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestTraceShowsSegmentsAndTransitions(t *testing.T) {
	da, db := tun.Pipe(1500)
	var trace lockedBuffer
	sa, err := stack.New(stack.Config{Device: da, Addr: addrA, Trace: &trace})
	require.NoError(t, err)
	defer sa.Close()
	sb := newStack(t, db, addrB)
	d, acc := connPair(t, sa, sb, 7)
	_, err = d.Write([]byte("hello"))
	require.NoError(t, err)
	_, err = io.ReadFull(acc, make([]byte, 5))
	require.NoError(t, err)
	require.NoError(t, d.Close())
	_, err = io.ReadAll(acc)
	require.NoError(t, err)
	require.NoError(t, acc.Close())
	require.NoError(t, sa.Close())

	out := trace.String()
	for _, want := range []string{
		"CLOSED -> SYN-SENT",
		"SYN-SENT -> ESTABLISHED",
		"ESTABLISHED -> FIN-WAIT-1",
		"Out IP 10.0.0.1.",
		"> 10.0.0.2.7: Flags [S], seq ",
		"In  IP 10.0.0.2.7 > 10.0.0.1.",
		"Flags [S.]",
		"options [mss 1460",
		"length 5",
	} {
		assert.Contains(t, out, want)
	}
}

func TestPacketsForOtherAddressesAreDropped(t *testing.T) {
	s, raw := rawPeer(t)
	other := netip.MustParseAddrPort("10.0.0.99:80")
	_, err := raw.Write(buildTCP(t, netip.MustParseAddrPort("10.0.0.1:5555"), other, tcp.Segment{Seq: 1, Flags: tcp.FlagSYN}, false))
	require.NoError(t, err)
	// A SYN to a closed port of ours afterwards: its RST proves the first
	// packet was processed (and answered with nothing).
	_, err = raw.Write(buildTCP(t, netip.MustParseAddrPort("10.0.0.1:5555"), netip.AddrPortFrom(addrB, 1), tcp.Segment{Seq: 1, Flags: tcp.FlagSYN}, false))
	require.NoError(t, err)
	h, seg := readSegment(t, raw)
	assert.Equal(t, addrB, h.Src())
	assert.True(t, seg.Flags.Has(tcp.FlagRST))
	assert.Equal(t, uint64(1), s.Counters.Get("drop.ip_not_for_us"))
}

func TestBacklogBoundsHalfOpenConnections(t *testing.T) {
	da, raw := tun.Pipe(1500)
	s, err := stack.New(stack.Config{Device: da, Addr: addrB, Backlog: 3})
	require.NoError(t, err)
	defer s.Close()
	l, err := s.Listen(80)
	require.NoError(t, err)
	defer l.Close()
	// Five SYNs from five ports, never completed: three SYN-ACKs, two
	// counted drops.
	for port := uint16(1000); port < 1005; port++ {
		_, err := raw.Write(buildTCP(t, netip.AddrPortFrom(addrA, port), netip.AddrPortFrom(addrB, 80), tcp.Segment{Seq: 1, Flags: tcp.FlagSYN}, false))
		require.NoError(t, err)
	}
	for i := 0; i < 3; i++ {
		_, seg := readSegment(t, raw)
		assert.Equal(t, tcp.FlagSYN|tcp.FlagACK, seg.Flags)
	}
	// A ping after them: its reply is the next packet, so no fourth SYN-ACK
	// was sent.
	_, err = raw.Write(echoRequest(""))
	require.NoError(t, err)
	assert.Equal(t, uint8(ip.ProtocolICMP), readPacket(t, raw).Protocol())
	assert.Equal(t, uint64(2), s.Counters.Get("tcp.ListenOverflowSynDrop"))
}

func TestKeepAliveThroughTheConnAPI(t *testing.T) {
	a, b := stackPair(t)
	d, acc := connPair(t, a, b, 7)
	defer d.Close()
	defer acc.Close()
	c := d.(*stack.Conn)
	require.NoError(t, c.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: 50 * time.Millisecond, Interval: 10 * time.Millisecond, Count: 2}))
	sent := a.Counters.Get("tcp.SegmentsSent")
	// The peer answers every probe, so the connection lives on; wait for
	// the first probes on the wall clock (the stack's own timers fire them).
	require.Eventually(t, func() bool { return a.Counters.Get("tcp.SegmentsSent") >= sent+2 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, tcp.StateEstablished, c.State())
	require.NoError(t, c.SetKeepAlive(false))
	assert.Equal(t, tcp.StateEstablished, c.Info().State)
}

// rawAccept opens a connection to s's port from a hand-driven peer on raw
// and returns the accepted Conn.
func rawAccept(t *testing.T, s *stack.Stack, raw tun.Device, port uint16) *stack.Conn {
	t.Helper()
	l, err := s.Listen(port)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	peer, local := netip.AddrPortFrom(addrA, 40000), netip.AddrPortFrom(addrB, port)
	_, err = raw.Write(buildTCP(t, peer, local, tcp.Segment{Seq: 1, Flags: tcp.FlagSYN, Window: 65535}, false))
	require.NoError(t, err)
	_, synack := readSegment(t, raw)
	require.Equal(t, tcp.FlagSYN|tcp.FlagACK, synack.Flags)
	_, err = raw.Write(buildTCP(t, peer, local, tcp.Segment{Seq: 2, Ack: synack.Seq.Add(1), Flags: tcp.FlagACK, Window: 65535}, false))
	require.NoError(t, err)
	c, err := l.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c.(*stack.Conn)
}

func TestTTLAndDSCPReachTheIPHeader(t *testing.T) {
	da, raw := tun.Pipe(1500)
	s := newStack(t, da, addrB)
	c := rawAccept(t, s, raw, 80)
	assert.Error(t, c.SetTTL(0))
	assert.Error(t, c.SetDSCP(64))
	require.NoError(t, c.SetTTL(9))
	require.NoError(t, c.SetDSCP(10)) // AF11 (RFC 2597)
	_, err := c.Write([]byte("x"))
	require.NoError(t, err)
	h, seg := readSegment(t, raw)
	assert.Equal(t, []byte("x"), seg.Payload)
	assert.Equal(t, uint8(9), h.TTL())
	assert.Equal(t, uint8(10<<2), h.TOS())

	// The DiffServ field of what arrives is passed up (MAY-9).
	pkt := buildTCP(t, netip.AddrPortFrom(addrA, 40000), netip.AddrPortFrom(addrB, 80),
		tcp.Segment{Seq: 2, Ack: seg.Seq.Add(1), Flags: tcp.FlagACK, Window: 65535}, false)
	pkt[1] = 26 << 2 // AF31; the IPv4 header checksum is fixed below
	pkt[10], pkt[11] = 0, 0
	cs := ip.Checksum(pkt[:ip.HeaderMinLen])
	pkt[10], pkt[11] = byte(cs>>8), byte(cs)
	s.Inject(pkt)
	assert.Equal(t, 26, c.ReceivedDSCP())
}

func TestSetUserTimeoutReachesTheTCB(t *testing.T) {
	da, raw := tun.Pipe(1500)
	s := newStack(t, da, addrB)
	c := rawAccept(t, s, raw, 80)
	require.NoError(t, c.SetUserTimeout(2*time.Second))
	assert.Equal(t, 2*time.Second, c.Info().UserTimeout)
	require.NoError(t, c.Close())
	assert.Error(t, c.SetUserTimeout(time.Second), "a closed connection takes no options")
}

// TestNoConnectionsWithBroadcastOrMulticast: Dial refuses addresses that
// cannot be a unicast peer (MUST-46), and packets from them, or to a
// broadcast or multicast address, are dropped without an answer
// (MUST-57, MUST-63).
func TestNoConnectionsWithBroadcastOrMulticast(t *testing.T) {
	s, raw := rawPeer(t)
	for _, a := range []string{"255.255.255.255", "224.0.0.1", "0.0.0.0", "127.0.0.1", "240.0.0.9"} {
		_, err := s.Dial(context.Background(), netip.AddrPortFrom(netip.MustParseAddr(a), 80))
		assert.ErrorIs(t, err, syscall.ENETUNREACH, a)
		assert.ErrorIs(t, err, ip.ErrInvalidAddress, a)
	}
	assert.Zero(t, s.ConnCount())

	l, err := s.Listen(80)
	require.NoError(t, err)
	defer l.Close()
	syn := tcp.Segment{Seq: 1, Flags: tcp.FlagSYN, Window: 65535}
	to := netip.AddrPortFrom(addrB, 80)
	for _, from := range []string{"255.255.255.255", "224.0.0.1", "0.0.0.0", "127.0.0.1"} {
		_, err := raw.Write(buildTCP(t, netip.AddrPortFrom(netip.MustParseAddr(from), 1234), to, syn, false))
		require.NoError(t, err)
	}
	for _, dst := range []string{"255.255.255.255", "224.0.0.1"} {
		_, err := raw.Write(buildTCP(t, netip.AddrPortFrom(addrA, 1234), netip.AddrPortFrom(netip.MustParseAddr(dst), 80), syn, false))
		require.NoError(t, err)
	}
	// A ping after them: its reply is the next packet, so none of the
	// SYNs drew a SYN,ACK or a RST.
	_, err = raw.Write(echoRequest(""))
	require.NoError(t, err)
	assert.Equal(t, uint8(ip.ProtocolICMP), readPacket(t, raw).Protocol())
	assert.Equal(t, uint64(4), s.Counters.Get("drop.ip_invalid_source"))
	assert.Equal(t, uint64(2), s.Counters.Get("drop.ip_not_for_us"))
	assert.Zero(t, s.ConnCount())
}

// TestListenOnAPortWithAConnectionOpening: a LISTEN can be opened on a
// local port while a connection from that port is in SYN-SENT, and the two
// then open side by side without disturbing each other (MUST-41, MUST-42).
func TestListenOnAPortWithAConnectionOpening(t *testing.T) {
	s, raw := rawPeer(t)
	server := netip.AddrPortFrom(addrA, 9000)
	c, err := s.Connect(server, nil)
	require.NoError(t, err)
	_, syn := readSegment(t, raw)
	require.Equal(t, tcp.FlagSYN, syn.Flags)
	local := netip.AddrPortFrom(addrB, syn.SrcPort)
	require.Equal(t, tcp.StateSynSent, c.State())

	l, err := s.Listen(local.Port())
	require.NoError(t, err, "LISTEN beside a SYN-SENT connection on the same port")
	defer l.Close()

	// A second peer opens a connection to the listener...
	client := netip.AddrPortFrom(addrA, 5555)
	_, err = raw.Write(buildTCP(t, client, local, tcp.Segment{Seq: 100, Flags: tcp.FlagSYN, Window: 65535}, false))
	require.NoError(t, err)
	_, synack := readSegment(t, raw)
	require.Equal(t, tcp.FlagSYN|tcp.FlagACK, synack.Flags)
	require.Equal(t, client.Port(), synack.DstPort)
	// ...while the first answers the SYN-SENT connection.
	_, err = raw.Write(buildTCP(t, server, local, tcp.Segment{Seq: 700, Ack: syn.Seq.Add(1), Flags: tcp.FlagSYN | tcp.FlagACK, Window: 65535}, false))
	require.NoError(t, err)
	_, ack := readSegment(t, raw)
	assert.Equal(t, tcp.FlagACK, ack.Flags)
	assert.Equal(t, server.Port(), ack.DstPort)
	assert.Equal(t, tcp.StateEstablished, c.State())

	_, err = raw.Write(buildTCP(t, client, local, tcp.Segment{Seq: 101, Ack: synack.Seq.Add(1), Flags: tcp.FlagACK, Window: 65535}, false))
	require.NoError(t, err)
	acc, err := l.Accept()
	require.NoError(t, err)
	defer acc.Close()
	assert.Equal(t, client.String(), acc.RemoteAddr().String())
	assert.Equal(t, tcp.StateEstablished, c.State(), "the first connection is untouched")
}

// TestQueuedSegmentsDrawOneACK: four full segments queued together are all
// processed before one ACK covers them (MUST-58, MUST-59); one at a time,
// every second one is acknowledged.
func TestQueuedSegmentsDrawOneACK(t *testing.T) {
	s, raw := rawPeer(t)
	c := rawAccept(t, s, raw, 80)
	peer, local := netip.AddrPortFrom(addrA, 40000), netip.AddrPortFrom(addrB, 80)
	una := tcp.Seq(0)
	{
		// The SYN,ACK was consumed by rawAccept; learn SND.NXT from the
		// ACK of a first byte.
		_, err := c.Write([]byte("x"))
		require.NoError(t, err)
		_, seg := readSegment(t, raw)
		una = seg.Seq.Add(1)
	}
	next := tcp.Seq(2)
	segments := func(k int) [][]byte {
		var pkts [][]byte
		for i := 0; i < k; i++ {
			seg := tcp.Segment{Seq: next, Ack: una, Flags: tcp.FlagACK, Window: 65535, Payload: bytes.Repeat([]byte{'d'}, 1460)}
			pkts = append(pkts, buildTCP(t, peer, local, seg, false))
			next = next.Add(1460)
		}
		return pkts
	}
	acksUntilPing := func() []tcp.Seq {
		_, err := raw.Write(echoRequest(""))
		require.NoError(t, err)
		var acks []tcp.Seq
		for {
			h := readPacket(t, raw)
			if h.Protocol() == ip.ProtocolICMP {
				return acks
			}
			var seg tcp.Segment
			require.NoError(t, tcp.ParseSegment(h.Payload(), &seg))
			acks = append(acks, seg.Ack)
		}
	}

	s.InjectBatch(segments(4))
	assert.Equal(t, []tcp.Seq{next}, acksUntilPing(), "one ACK for the batch")

	for _, p := range segments(4) {
		s.Inject(p)
	}
	assert.Equal(t, []tcp.Seq{next.Add(^uint32(2*1460 - 1)), next}, acksUntilPing(), "one ACK per two segments")
}

// TestLingerZeroClosesWithReset: SetLinger(0) makes Close an ABORT (RFC
// 9293 §3.10.5): the peer sees a reset, not an end of file.
func TestLingerZeroClosesWithReset(t *testing.T) {
	a, b := stackPair(t)
	d, acc := connPair(t, a, b, 7)
	defer acc.Close()
	c := d.(*stack.Conn)
	_, err := c.Write([]byte("unsent?"))
	require.NoError(t, err)
	require.NoError(t, c.SetLinger(0))
	require.NoError(t, c.Close())
	_, err = io.ReadAll(acc)
	assert.ErrorIs(t, err, syscall.ECONNRESET)
	assert.Error(t, c.SetLinger(1), "closed")
}

// TestTraceShowsLossRecovery: over a link that drops 3% of packets each
// way, a 2 MB transfer arrives intact, and the trace shows fast
// retransmits and SACK recoveries doing the repair, not only timeouts.
func TestTraceShowsLossRecovery(t *testing.T) {
	da, db := tun.Pipe(1500)
	lossy := tun.NewImpair(da, tun.ImpairConfig{DropChance: 3, Seed: 7})
	var trace lockedBuffer
	sa, err := stack.New(stack.Config{Device: lossy, Addr: addrA, Trace: &trace})
	require.NoError(t, err)
	defer sa.Close()
	sb := newStack(t, db, addrB)
	d, acc := connPair(t, sa, sb, 9)
	data := bytes.Repeat([]byte("0123456789abcdef"), 2<<20/16)
	go func() {
		d.Write(data)
		d.(*stack.Conn).CloseWrite()
	}()
	got, err := io.ReadAll(acc)
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, got), "the bytes arrive intact")
	require.NotZero(t, lossy.Stats().Out.Dropped+lossy.Stats().In.Dropped)

	info := d.(*stack.Conn).Info()
	out := trace.String()
	assert.Contains(t, out, "SACK recovery until")
	assert.Contains(t, out, "recovery done")
	assert.NotZero(t, info.Stats.FastRecoveries)
	assert.Greater(t, info.Stats.FastRetransmits, info.Stats.Timeouts, "fast retransmits do most of the repair")
	d.Close()
	acc.Close()
}

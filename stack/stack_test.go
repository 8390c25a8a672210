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

func readSegment(t *testing.T, dev tun.Device) (ip.IPv4, tcp.Segment) {
	t.Helper()
	buf := make([]byte, 2000)
	n, err := dev.Read(buf)
	require.NoError(t, err)
	h, err := ip.ParseIPv4(buf[:n])
	require.NoError(t, err)
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
	req := []byte{8, 0, 0, 0, 0x12, 0x34, 0, 1, 'p', 'i', 'n', 'g'}
	cs := ip.Checksum(req)
	req[2], req[3] = byte(cs>>8), byte(cs)
	pkt := make([]byte, 20+len(req))
	f := ip.IPv4Fields{TotalLen: uint16(len(pkt)), TTL: 64, Protocol: ip.ProtocolICMP, Src: addrA, Dst: addrB}
	f.Encode(pkt)
	copy(pkt[20:], req)
	_, err := raw.Write(pkt)
	require.NoError(t, err)

	buf := make([]byte, 2000)
	n, err := raw.Read(buf)
	require.NoError(t, err)
	h, err := ip.ParseIPv4(buf[:n])
	require.NoError(t, err)
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

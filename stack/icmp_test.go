package stack_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tinytcp/ip"
	"tinytcp/stack"
	"tinytcp/tcp"
	"tinytcp/tun"
)

// ICMP errors through the stack: demultiplexing by the quoted 4-tuple
// (MUST-54), the counters, malformed quotes, and the errors the
// application sees. Packets go in with Inject, so each is processed when
// the call returns.

var router = netip.MustParseAddr("10.0.0.254")

// icmpPacket wraps an ICMP error of type typ and code, whose body is quote
// as given (well formed or not), in an IPv4 packet from a router to addrB.
func icmpPacket(typ, code uint8, mtu uint16, quote []byte) []byte {
	m := make([]byte, ip.ICMPHeaderLen+len(quote))
	m[0], m[1] = typ, code
	binary.BigEndian.PutUint16(m[6:], mtu)
	copy(m[ip.ICMPHeaderLen:], quote)
	binary.BigEndian.PutUint16(m[2:], ip.Checksum(m))
	pkt := make([]byte, ip.HeaderMinLen+len(m))
	f := ip.IPv4Fields{TotalLen: uint16(len(pkt)), TTL: 64, Protocol: ip.ProtocolICMP, Src: router, Dst: addrB}
	f.Encode(pkt)
	copy(pkt[ip.HeaderMinLen:], m)
	return pkt
}

// quoteOf is what a router quotes of a packet: its header and 8 bytes.
func quoteOf(h ip.IPv4) []byte {
	return append([]byte(nil), h[:h.HeaderLen()+8]...)
}

// icmpPeer is a stack on a manual clock, tracing into trace, with the test
// as its raw peer at addrA:5555, and a connection from the stack to it,
// established unless synSent; it returns the stack's last packet (its SYN
// or its ACK).
func icmpPeer(t *testing.T, synSent bool, trace *lockedBuffer) (*stack.Stack, tun.Device, *stack.ManualClock, *stack.Conn, ip.IPv4) {
	t.Helper()
	da, db := tun.Pipe(1500)
	clock := stack.NewManualClock(time.Unix(1_700_000_000, 0))
	cfg := stack.Config{Device: da, Addr: addrB, Clock: clock}
	if trace != nil {
		cfg.Trace = trace
	}
	s, err := stack.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	peer := netip.AddrPortFrom(addrA, 5555)
	c, err := s.Connect(peer, nil)
	require.NoError(t, err)
	h, syn := readSegment(t, db)
	require.Equal(t, tcp.FlagSYN, syn.Flags)
	if synSent {
		return s, db, clock, c, h
	}
	local := netip.AddrPortFrom(addrB, syn.SrcPort)
	s.Inject(buildTCP(t, peer, local, tcp.Segment{Seq: 5000, Ack: syn.Seq.Add(1), Flags: tcp.FlagSYN | tcp.FlagACK,
		Window: 65535, Options: tcp.Options{MSS: 1460}}, false))
	h, ack := readSegment(t, db)
	require.Equal(t, tcp.FlagACK, ack.Flags)
	require.Equal(t, tcp.StateEstablished, c.State())
	return s, db, clock, c, h
}

// TestICMPUnreachableFailsDial: a port unreachable quoting our SYN fails
// the open with ECONNREFUSED, a host unreachable with EHOSTUNREACH, as
// connect(2) fails on Linux (RFC 5461).
func TestICMPUnreachableFailsDial(t *testing.T) {
	for _, tt := range []struct {
		code uint8
		want syscall.Errno
	}{
		{ip.CodePortUnreachable, syscall.ECONNREFUSED},
		{ip.CodeHostUnreachable, syscall.EHOSTUNREACH},
		{ip.CodeNetUnreachable, syscall.ENETUNREACH},
		{ip.CodeProtocolUnreachable, syscall.ENOPROTOOPT},
	} {
		t.Run(tt.want.Error(), func(t *testing.T) {
			s, raw := rawPeer(t)
			type result struct {
				c   *stack.Conn
				err error
			}
			done := make(chan result, 1)
			go func() {
				c, err := s.Dial(context.Background(), netip.AddrPortFrom(addrA, 5555))
				done <- result{c, err}
			}()
			h, _ := readSegment(t, raw)
			s.Inject(icmpPacket(ip.TypeDestinationUnreachable, tt.code, 0, quoteOf(h)))
			r := <-done
			require.Error(t, r.err)
			assert.ErrorIs(t, r.err, tt.want)
			assert.Equal(t, uint64(1), s.Counters.Get("icmp.DstUnreachableReceived"))
			assert.Equal(t, uint64(1), s.Counters.Get("tcp.icmp_aborted"))
			assert.Equal(t, uint64(1), s.Counters.Get("tcp.FailedConnectionAttempts"))
			assert.Zero(t, s.ConnCount())
		})
	}
}

// TestICMPSoftErrorThroughTheStack: on an established connection a host
// unreachable is kept, visible through SoftError and Info (SHLD-25), the
// connection lives on (MUST-56), and when it times out Read reports
// EHOSTUNREACH, not ETIMEDOUT, as on Linux.
func TestICMPSoftErrorThroughTheStack(t *testing.T) {
	s, raw, clock, c, _ := icmpPeer(t, false, nil)
	_, err := c.Write([]byte("hello"))
	require.NoError(t, err)
	h, data := readSegment(t, raw)
	require.Equal(t, "hello", string(data.Payload))

	s.Inject(icmpPacket(ip.TypeDestinationUnreachable, ip.CodeHostUnreachable, 0, quoteOf(h)))
	assert.Equal(t, tcp.StateEstablished, c.State())
	assert.NoError(t, c.Err())
	assert.ErrorIs(t, c.SoftError(), syscall.EHOSTUNREACH)
	assert.ErrorIs(t, c.Info().SoftErr, tcp.ErrHostUnreachable)
	assert.Equal(t, uint64(1), s.Counters.Get("tcp.icmp_soft_error"))

	s.Inject(icmpPacket(ip.TypeTimeExceeded, 0, 0, quoteOf(h)))
	assert.ErrorIs(t, c.SoftError(), syscall.EHOSTUNREACH, "time exceeded reads as EHOSTUNREACH too")
	assert.Equal(t, uint64(1), s.Counters.Get("icmp.TimeExceededReceived"))
	s.Inject(icmpPacket(ip.TypeParameterProblem, 0, 0, quoteOf(h)))
	assert.ErrorIs(t, c.SoftError(), syscall.EPROTO)
	assert.Equal(t, tcp.StateEstablished, c.State())

	// Nobody answers: the retransmissions run out.
	for i := 0; i < 100 && c.State() != tcp.StateClosed; i++ {
		next := clock.NextDeadline()
		require.False(t, next.IsZero())
		clock.Advance(next.Sub(clock.Now()))
	}
	require.Equal(t, tcp.StateClosed, c.State())
	_, err = c.Read(make([]byte, 10))
	assert.ErrorIs(t, err, syscall.EPROTO, "the last soft error, not ETIMEDOUT")
	var op interface{ Timeout() bool }
	assert.False(t, errors.As(err, &op) && op.Timeout())
}

// TestICMPFragmentationNeededThroughTheStack: the next-hop MTU lowers the
// send MSS and the segment is sent again at once, smaller (RFC 1191).
func TestICMPFragmentationNeededThroughTheStack(t *testing.T) {
	trace := &lockedBuffer{}
	s, raw, _, c, _ := icmpPeer(t, false, trace)
	_, err := c.Write(make([]byte, 1460))
	require.NoError(t, err)
	h, big := readSegment(t, raw)
	require.Len(t, big.Payload, 1460)

	s.Inject(icmpPacket(ip.TypeDestinationUnreachable, ip.CodeFragmentationNeeded, 1000, quoteOf(h)))
	assert.Equal(t, 960, c.Info().SendMSS)
	assert.Equal(t, 1000, c.Info().PathMTU)
	_, first := readSegment(t, raw)
	_, second := readSegment(t, raw)
	assert.Equal(t, big.Seq, first.Seq)
	assert.Len(t, first.Payload, 960)
	assert.Equal(t, big.Seq.Add(960), second.Seq)
	assert.Len(t, second.Payload, 500)
	assert.Equal(t, uint64(1), s.Counters.Get("tcp.icmp_path_mtu_lowered"))
	assert.Contains(t, trace.String(), "ICMP fragmentation needed (next-hop MTU 1000) quoting seq")

	s.Inject(icmpPacket(ip.TypeDestinationUnreachable, ip.CodeFragmentationNeeded, 1400, quoteOf(h)))
	assert.Equal(t, uint64(1), s.Counters.Get("tcp.icmp_path_mtu_kept"), "no increase (RFC 1191 §3)")
	assert.Equal(t, 960, c.Info().SendMSS)
}

// TestICMPMalformedAndStrayErrorsAreCounted: every ICMP error that cannot
// be about one of our connections, or is not credible, is dropped under a
// reason, and the connection is untouched.
func TestICMPMalformedAndStrayErrorsAreCounted(t *testing.T) {
	s, raw, _, c, _ := icmpPeer(t, false, nil)
	_, err := c.Write([]byte("hello"))
	require.NoError(t, err)
	h, _ := readSegment(t, raw)
	good := quoteOf(h)
	edit := func(f func(q []byte)) []byte {
		q := append([]byte(nil), good...)
		f(q)
		return q
	}
	const unreach = ip.TypeDestinationUnreachable
	tests := []struct {
		name    string
		pkt     []byte
		counter string
	}{
		{"no quote", icmpPacket(unreach, 1, 0, nil), "drop.icmp_bad_original"},
		{"truncated IPv4 header", icmpPacket(unreach, 1, 0, good[:12]), "drop.icmp_bad_original"},
		{"IHL past the quote", icmpPacket(unreach, 1, 0, edit(func(q []byte) { q[0] = 0x4f })), "drop.icmp_bad_original"},
		{"IPv6 in the quote", icmpPacket(unreach, 1, 0, edit(func(q []byte) { q[0] = 0x65 })), "drop.icmp_bad_original"},
		{"4 bytes of TCP", icmpPacket(unreach, 1, 0, good[:24]), "drop.icmp_quote_too_short"},
		{"a later fragment", icmpPacket(unreach, 1, 0, edit(func(q []byte) { q[6], q[7] = 0x20, 0xb9 })), "drop.icmp_quote_fragment"},
		{"quotes UDP", icmpPacket(unreach, 3, 0, edit(func(q []byte) { q[9] = ip.ProtocolUDP })), "drop.icmp_quote_not_tcp"},
		{"not from us", icmpPacket(unreach, 3, 0, edit(func(q []byte) { q[15] = 99 })), "drop.icmp_quote_not_ours"},
		{"no such connection", icmpPacket(unreach, 3, 0, edit(func(q []byte) { q[20]++ })), "drop.tcp_icmp_no_connection"},
		{"sequence number out of the flight", icmpPacket(unreach, 3, 0, edit(func(q []byte) { q[24] ^= 0x80 })), "drop.tcp_icmp_out_of_window"},
		{"unknown code", icmpPacket(unreach, 16, 0, good), "drop.icmp_unknown_code"},
		{"redirect", icmpPacket(ip.TypeRedirect, 1, 0, good), "drop.icmp_unhandled_type"},
		{"source quench", icmpPacket(ip.TypeSourceQuench, 0, 0, good), "tcp.icmp_source_quench_discarded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.Counters.Get(tt.counter)
			s.Inject(tt.pkt)
			assert.Equal(t, before+1, s.Counters.Get(tt.counter))
			assert.Equal(t, tcp.StateEstablished, c.State())
			assert.NoError(t, c.SoftError())
		})
	}
	bad := icmpPacket(unreach, 3, 0, good)
	bad[len(bad)-1] ^= 0xff
	s.Inject(bad)
	assert.Equal(t, uint64(1), s.Counters.Get("drop.icmp_bad_checksum"))
	assert.Equal(t, uint64(1), s.Counters.Get("icmp.SrcQuenchReceived"))
	assert.Equal(t, uint64(1), s.Counters.Get("icmp.RedirectReceived"))
	assert.Equal(t, tcp.StateEstablished, c.State(), "MUST-55, MUST-56: nothing ended it")
}

package ip

import (
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoRequest returns an echo request with the given id, seq and data, as
// ping sends it.
func echoRequest(id, seq uint16, data string) []byte {
	b := make([]byte, ICMPHeaderLen+len(data))
	b[0] = TypeEchoRequest
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	copy(b[8:], data)
	binary.BigEndian.PutUint16(b[2:], Checksum(b))
	return b
}

func TestParseICMPRejects(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrICMPTooShort},
		{"7 bytes", echoRequest(1, 1, "")[:7], ErrICMPTooShort},
		{"bad checksum", func() []byte { b := echoRequest(1, 1, "abc"); b[2]++; return b }(), ErrICMPChecksum},
		{"corrupt data", func() []byte { b := echoRequest(1, 1, "abc"); b[9] ^= 0x40; return b }(), ErrICMPChecksum},
		{"truncated data", echoRequest(1, 1, "abcd")[:11], ErrICMPChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseICMP(tt.in)
			require.ErrorIs(t, err, tt.want, "got %v, want %v", err, tt.want)
			assert.Nil(t, m)
		})
	}
}

func TestEchoReply(t *testing.T) {
	tests := []struct {
		name string
		data string
	}{
		{"no data", ""},
		{"odd data", "abc"},
		{"ping pattern", "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f !\"#$%&'()*+,-./01234567"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := ParseICMP(echoRequest(0xbeef, 42, tt.data))
			require.NoError(t, err)
			assert.Equal(t, uint8(TypeEchoRequest), req.Type())
			assert.Equal(t, uint16(0xbeef), req.ID())
			assert.Equal(t, uint16(42), req.Seq())

			dst := make([]byte, 100)
			n := EchoReply(dst, req)
			require.Equal(t, len(req), n)
			rep, err := ParseICMP(dst[:n])
			require.NoError(t, err)
			assert.Equal(t, uint8(TypeEchoReply), rep.Type())
			assert.Equal(t, uint8(0), rep.Code())
			assert.Equal(t, req.ID(), rep.ID())
			assert.Equal(t, req.Seq(), rep.Seq())
			assert.Equal(t, []byte(tt.data), []byte(rep.Payload()))

			// In place, over the request itself.
			in := echoRequest(0xbeef, 42, tt.data)
			m, err := ParseICMP(in)
			require.NoError(t, err)
			require.Equal(t, n, EchoReply(in, m))
			assert.Equal(t, dst[:n], in)

			// gopacket agrees.
			var g layers.ICMPv4
			require.NoError(t, g.DecodeFromBytes(dst[:n], gopacket.NilDecodeFeedback))
			assert.Equal(t, uint8(layers.ICMPv4TypeEchoReply), g.TypeCode.Type())
			assert.Equal(t, rep.Checksum(), g.Checksum)
			assert.Equal(t, uint16(0xbeef), g.Id)
			assert.Equal(t, uint16(42), g.Seq)
		})
	}
}

func TestEchoReplyRefuses(t *testing.T) {
	req := ICMP(echoRequest(1, 2, "hello"))
	assert.Zero(t, EchoReply(make([]byte, len(req)-1), req), "short dst")
	notEcho := ICMP(echoRequest(1, 2, "hello"))
	notEcho[0] = TypeEchoReply
	assert.Zero(t, EchoReply(make([]byte, 64), notEcho), "not a request")
	assert.Zero(t, EchoReply(make([]byte, 64), nil), "empty")
}

func TestDestUnreachable(t *testing.T) {
	// The original: a TCP SYN-sized packet with 12 bytes of payload.
	orig := make([]byte, 32)
	f := IPv4Fields{TotalLen: 32, ID: 5, TTL: 64, Protocol: ProtocolTCP, Src: kernelAddr, Dst: stackAddr}
	f.Encode(orig)
	copy(orig[20:], "0123456789ab")
	ov, err := ParseIPv4(orig)
	require.NoError(t, err)

	// A 3-byte payload is quoted whole.
	short := make([]byte, 23)
	f.TotalLen = 23
	f.Encode(short)
	copy(short[20:], "xyz")
	sv, err := ParseIPv4(short)
	require.NoError(t, err)

	tests := []struct {
		name      string
		code      uint8
		mtu       uint16
		original  IPv4
		wantMTU   uint16
		wantQuote string
	}{
		{"port unreachable", CodePortUnreachable, 1400, ov, 0, "01234567"},
		{"protocol unreachable", CodeProtocolUnreachable, 0, ov, 0, "01234567"},
		{"fragmentation needed", CodeFragmentationNeeded, 1400, ov, 1400, "01234567"},
		{"short original", CodePortUnreachable, 0, sv, 0, "xyz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := make([]byte, MaxDestUnreachableLen)
			n := DestUnreachable(dst, tt.code, tt.mtu, tt.original)
			require.Equal(t, ICMPHeaderLen+20+len(tt.wantQuote), n)
			m, err := ParseICMP(dst[:n])
			require.NoError(t, err)
			assert.Equal(t, uint8(TypeDestinationUnreachable), m.Type())
			assert.Equal(t, tt.code, m.Code())
			assert.Equal(t, tt.wantMTU, m.MTU())
			assert.Zero(t, m.ID(), "unused bytes are zero")
			assert.True(t, m.IsError())

			hdr, payload, err := m.Original()
			require.NoError(t, err)
			assert.Equal(t, []byte(tt.original[:20]), []byte(hdr))
			assert.Equal(t, []byte(tt.wantQuote), payload)
			assert.Equal(t, kernelAddr, hdr.Src())
			assert.Equal(t, stackAddr, hdr.Dst())
			assert.Equal(t, uint8(ProtocolTCP), hdr.Protocol())
			assert.Empty(t, hdr.Payload())

			var g layers.ICMPv4
			require.NoError(t, g.DecodeFromBytes(dst[:n], gopacket.NilDecodeFeedback))
			assert.Equal(t, layers.CreateICMPv4TypeCode(TypeDestinationUnreachable, tt.code), g.TypeCode)
			assert.Equal(t, tt.wantMTU, g.Seq) // gopacket reads bytes 6-7 as Seq
			assert.Equal(t, dst[8:n], g.Payload)

			assert.Zero(t, DestUnreachable(dst[:n-1], tt.code, tt.mtu, tt.original), "short dst")
		})
	}
}

func TestOriginalRejects(t *testing.T) {
	withBody := func(typ uint8, body []byte) ICMP {
		b := append(make([]byte, 8), body...)
		b[0] = typ
		return ICMP(b)
	}
	hdr := make([]byte, 20)
	(&IPv4Fields{TotalLen: 40, TTL: 1, Protocol: ProtocolTCP, Src: stackAddr, Dst: kernelAddr}).Encode(hdr)
	tests := []struct {
		name string
		m    ICMP
	}{
		{"echo request", withBody(TypeEchoRequest, hdr)},
		{"no body", withBody(TypeDestinationUnreachable, nil)},
		{"short header", withBody(TypeDestinationUnreachable, hdr[:19])},
		{"not version 4", withBody(TypeTimeExceeded, append([]byte{0x65}, hdr[1:]...))},
		{"IHL 4", withBody(TypeTimeExceeded, append([]byte{0x44}, hdr[1:]...))},
		{"IHL past the quote", withBody(TypeParameterProblem, append([]byte{0x46}, hdr[1:]...))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, p, err := tt.m.Original()
			require.ErrorIs(t, err, ErrICMPOriginal)
			assert.Nil(t, h)
			assert.Nil(t, p)
		})
	}
	// A header without any quoted payload is fine.
	h, p, err := withBody(TypeSourceQuench, hdr).Original()
	require.NoError(t, err)
	assert.Len(t, h, 20)
	assert.Empty(t, p)
}

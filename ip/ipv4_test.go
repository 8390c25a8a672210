package ip

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	kernelAddr = netip.MustParseAddr("10.77.0.1")
	stackAddr  = netip.MustParseAddr("10.77.0.2")
)

// template returns a valid 28-byte packet (20-byte header, 8 bytes of UDP-ish
// payload) from 10.77.0.1 to 10.77.0.2.
func template() []byte {
	b := make([]byte, 28)
	f := IPv4Fields{TOS: 0x10, TotalLen: 28, ID: 0x1234, DontFragment: true, TTL: DefaultTTL,
		Protocol: ProtocolUDP, Src: kernelAddr, Dst: stackAddr}
	f.Encode(b)
	copy(b[20:], "payload!")
	return b
}

// fixChecksum recomputes the header checksum after a test edited the header.
func fixChecksum(b []byte) {
	hl := int(b[0]&0x0f) * 4
	binary.BigEndian.PutUint16(b[10:], 0)
	binary.BigEndian.PutUint16(b[10:], Checksum(b[:hl]))
}

func TestParseIPv4Rejects(t *testing.T) {
	tests := []struct {
		name string
		edit func([]byte) []byte // returns the packet to parse
		want error
	}{
		{"empty", func(b []byte) []byte { return nil }, ErrTooShort},
		{"19 bytes", func(b []byte) []byte { return b[:19] }, ErrTooShort},
		{"version 6", func(b []byte) []byte { b[0] = 0x65; fixChecksum(b); return b }, ErrVersion},
		{"version 0", func(b []byte) []byte { b[0] = 0x05; return b }, ErrVersion},
		{"version checked before length", func(b []byte) []byte { b[0] = 0x60; return b }, ErrVersion},
		{"IHL 4", func(b []byte) []byte { b[0] = 0x44; return b }, ErrHeaderLength},
		{"IHL 0", func(b []byte) []byte { b[0] = 0x40; return b }, ErrHeaderLength},
		{"IHL past the packet", func(b []byte) []byte { b[0] = 0x48; return b }, ErrHeaderLength},
		{"IHL 15 in 28 bytes", func(b []byte) []byte { b[0] = 0x4f; return b }, ErrHeaderLength},
		{"total length < header", func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[2:], 19)
			fixChecksum(b)
			return b
		}, ErrTotalLength},
		{"total length < IHL*4", func(b []byte) []byte {
			b[0] = 0x46 // 24-byte header
			binary.BigEndian.PutUint16(b[2:], 22)
			fixChecksum(b)
			return b
		}, ErrTotalLength},
		{"total length past the packet", func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[2:], 29)
			fixChecksum(b)
			return b
		}, ErrTotalLength},
		{"truncated packet", func(b []byte) []byte { return b[:27] }, ErrTotalLength},
		{"bad checksum", func(b []byte) []byte { b[10] ^= 0x01; return b }, ErrChecksum},
		{"flipped TTL", func(b []byte) []byte { b[8]--; return b }, ErrChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := ParseIPv4(tt.edit(template()))
			require.ErrorIs(t, err, tt.want, "got %v, want %v", err, tt.want)
			assert.Nil(t, v)
		})
	}
}

func TestParseIPv4Accessors(t *testing.T) {
	b := template()
	v, err := ParseIPv4(b)
	require.NoError(t, err)
	assert.Equal(t, 20, v.HeaderLen())
	assert.Equal(t, 28, v.TotalLen())
	assert.Equal(t, uint8(0x10), v.TOS())
	assert.Equal(t, uint16(0x1234), v.ID())
	assert.Equal(t, uint8(0b010), v.Flags())
	assert.True(t, v.DontFragment())
	assert.False(t, v.MoreFragments())
	assert.Equal(t, 0, v.FragmentOffset())
	assert.False(t, v.IsFragment())
	assert.Equal(t, uint8(64), v.TTL())
	assert.Equal(t, uint8(ProtocolUDP), v.Protocol())
	assert.Equal(t, binary.BigEndian.Uint16(b[10:]), v.Checksum())
	assert.Equal(t, kernelAddr, v.Src())
	assert.Equal(t, stackAddr, v.Dst())
	assert.Empty(t, v.Options())
	assert.Equal(t, []byte("payload!"), v.Payload())
}

func TestParseIPv4TrimsLinkPadding(t *testing.T) {
	b := append(template(), 0, 0, 0, 0, 0, 0) // Ethernet-style padding
	v, err := ParseIPv4(b)
	require.NoError(t, err)
	assert.Len(t, v, 28)
	assert.Equal(t, []byte("payload!"), v.Payload())
}

func TestParseIPv4OptionsAndFragments(t *testing.T) {
	b := make([]byte, 32)
	f := IPv4Fields{TotalLen: 32, ID: 7, TTL: 1, Protocol: ProtocolTCP, Src: kernelAddr, Dst: stackAddr}
	f.Encode(b)
	// Grow the header to 24 bytes with a NOP,NOP,NOP,EOL option word, and
	// make it the second fragment (offset 185*8 = 1480) with MF set.
	b[0] = 0x46
	copy(b[20:24], []byte{1, 1, 1, 0})
	binary.BigEndian.PutUint16(b[6:], 0x2000|185)
	fixChecksum(b)
	v, err := ParseIPv4(b)
	require.NoError(t, err)
	assert.Equal(t, 24, v.HeaderLen())
	assert.Equal(t, []byte{1, 1, 1, 0}, v.Options())
	assert.Len(t, v.Payload(), 8)
	assert.True(t, v.MoreFragments())
	assert.False(t, v.DontFragment())
	assert.Equal(t, 1480, v.FragmentOffset())
	assert.True(t, v.IsFragment())

	// The last fragment: MF clear, offset not zero.
	binary.BigEndian.PutUint16(b[6:], 185)
	fixChecksum(b)
	v, err = ParseIPv4(b)
	require.NoError(t, err)
	assert.True(t, v.IsFragment())
}

func TestIPv4FieldsEncode(t *testing.T) {
	tests := []struct {
		name string
		f    IPv4Fields
	}{
		{"tcp", IPv4Fields{TotalLen: 40, ID: 1, DontFragment: true, TTL: 64, Protocol: ProtocolTCP, Src: stackAddr, Dst: kernelAddr}},
		{"icmp with tos", IPv4Fields{TOS: 0xb8, TotalLen: 84, ID: 0xffff, TTL: 255, Protocol: ProtocolICMP, Src: kernelAddr, Dst: stackAddr}},
		{"mapped addresses", IPv4Fields{TotalLen: 20, TTL: 1, Src: netip.AddrFrom16(stackAddr.As16()), Dst: kernelAddr}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, tt.f.TotalLen)
			for i := range b {
				b[i] = 0xee // Encode must overwrite every header byte
			}
			tt.f.Encode(b)
			v, err := ParseIPv4(b)
			require.NoError(t, err)
			assert.Equal(t, tt.f.TOS, v.TOS())
			assert.Equal(t, int(tt.f.TotalLen), v.TotalLen())
			assert.Equal(t, tt.f.ID, v.ID())
			assert.Equal(t, tt.f.DontFragment, v.DontFragment())
			assert.False(t, v.IsFragment())
			assert.Equal(t, tt.f.TTL, v.TTL())
			assert.Equal(t, tt.f.Protocol, v.Protocol())
			assert.Equal(t, tt.f.Src.Unmap(), v.Src())
			assert.Equal(t, tt.f.Dst.Unmap(), v.Dst())

			// gopacket, an independent decoder, reads the same header.
			var g layers.IPv4
			require.NoError(t, g.DecodeFromBytes(b, gopacket.NilDecodeFeedback))
			assert.Equal(t, uint8(4), g.Version)
			assert.Equal(t, uint8(5), g.IHL)
			assert.Equal(t, tt.f.TOS, g.TOS)
			assert.Equal(t, tt.f.TotalLen, g.Length)
			assert.Equal(t, tt.f.ID, g.Id)
			assert.Equal(t, tt.f.DontFragment, g.Flags&layers.IPv4DontFragment != 0)
			assert.Equal(t, uint16(0), g.FragOffset)
			assert.Equal(t, tt.f.TTL, g.TTL)
			assert.Equal(t, layers.IPProtocol(tt.f.Protocol), g.Protocol)
			assert.Equal(t, net.IP(tt.f.Src.Unmap().AsSlice()).String(), g.SrcIP.String())
			assert.Equal(t, net.IP(tt.f.Dst.Unmap().AsSlice()).String(), g.DstIP.String())

			// gopacket's own checksum of the header agrees with ours.
			g.Checksum = 0
			out := gopacket.NewSerializeBuffer()
			require.NoError(t, g.SerializeTo(out, gopacket.SerializeOptions{ComputeChecksums: true}))
			assert.Equal(t, b[:20], out.Bytes())
		})
	}
}

func TestParseIPv4MatchesGopacket(t *testing.T) {
	// Packets built by gopacket parse to the same fields with ours.
	g := &layers.IPv4{Version: 4, IHL: 6, TOS: 3, Id: 99, Flags: layers.IPv4MoreFragments, FragOffset: 10,
		TTL: 9, Protocol: layers.IPProtocolTCP, SrcIP: net.IPv4(192, 0, 2, 1), DstIP: net.IPv4(198, 51, 100, 7),
		Options: []layers.IPv4Option{{OptionType: 1, OptionLength: 1}, {OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}}}
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true},
		g, gopacket.Payload([]byte("0123456789"))))
	v, err := ParseIPv4(buf.Bytes())
	require.NoError(t, err)
	assert.Equal(t, int(g.IHL)*4, v.HeaderLen())
	assert.Equal(t, int(g.Length), v.TotalLen())
	assert.Equal(t, g.TOS, v.TOS())
	assert.Equal(t, g.Id, v.ID())
	assert.True(t, v.MoreFragments())
	assert.Equal(t, int(g.FragOffset)*8, v.FragmentOffset())
	assert.Equal(t, g.TTL, v.TTL())
	assert.Equal(t, uint8(g.Protocol), v.Protocol())
	assert.Equal(t, g.Checksum, v.Checksum())
	assert.Equal(t, "192.0.2.1", v.Src().String())
	assert.Equal(t, "198.51.100.7", v.Dst().String())
	assert.Equal(t, []byte("0123456789"), v.Payload())
}

func TestIPv4DoesNotAllocate(t *testing.T) {
	b := template()
	var f IPv4Fields
	allocs := testing.AllocsPerRun(100, func() {
		v, _ := ParseIPv4(b)
		_, _ = v.Src(), v.Dst()
		f = IPv4Fields{TotalLen: 28, TTL: 64, Protocol: ProtocolUDP, Src: v.Src(), Dst: v.Dst()}
		f.Encode(b)
	})
	assert.Zero(t, allocs)
}

func BenchmarkParseIPv4(b *testing.B) {
	pkt := template()
	b.ReportAllocs()
	for b.Loop() {
		v, err := ParseIPv4(pkt)
		if err != nil || v.Src() != kernelAddr {
			b.Fatal(err)
		}
	}
}

func BenchmarkIPv4FieldsEncode(b *testing.B) {
	pkt := make([]byte, 20)
	f := IPv4Fields{TotalLen: 1500, TTL: 64, Protocol: ProtocolTCP, Src: stackAddr, Dst: kernelAddr}
	b.ReportAllocs()
	for b.Loop() {
		f.Encode(pkt)
	}
}

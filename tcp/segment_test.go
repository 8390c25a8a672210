package tcp

// Cross-checks against gopacket's layers, a decoder written by other people
// from the same RFCs: what tinytcp writes, gopacket must read the same way,
// and the reverse.

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tinytcp/ip"
)

var (
	wireKernel = netip.MustParseAddr("10.77.0.1")
	wireStack  = netip.MustParseAddr("10.77.0.2")
)

// wirePacket builds the IPv4 packet carrying seg from src to dst the way the
// stack will: header in place, checksum over the pseudo-header, then IPv4.
func wirePacket(seg *Segment, src, dst netip.Addr) []byte {
	n := seg.HeaderLen()
	b := make([]byte, ip.HeaderMinLen+n+len(seg.Payload))
	tcp := b[ip.HeaderMinLen:]
	seg.MarshalHeader(tcp)
	copy(tcp[n:], seg.Payload)
	Header(tcp).SetChecksum(ip.Fold(ip.Sum(tcp, ip.PseudoHeaderSum(src, dst, ip.ProtocolTCP, len(tcp)))))
	f := ip.IPv4Fields{TotalLen: uint16(len(b)), ID: 1, DontFragment: true, TTL: ip.DefaultTTL, Protocol: ip.ProtocolTCP, Src: src, Dst: dst}
	f.Encode(b)
	return b
}

// gopacketOptions reads gopacket's decoded option list into Options: an
// independent interpretation of the same bytes.
func gopacketOptions(opts []layers.TCPOption) Options {
	var o Options
	for _, opt := range opts {
		d := opt.OptionData
		switch opt.OptionType {
		case layers.TCPOptionKindMSS:
			o.MSS = binary.BigEndian.Uint16(d)
		case layers.TCPOptionKindWindowScale:
			o.HasWindowScale, o.WindowScale = true, min(d[0], MaxWindowScale)
		case layers.TCPOptionKindSACKPermitted:
			o.SACKPermitted = true
		case layers.TCPOptionKindSACK:
			o.SACK = [MaxSACKBlocks]SACKBlock{}
			o.NumSACK = uint8(len(d) / 8)
			for i := range int(o.NumSACK) {
				o.SACK[i] = SACKBlock{Seq(binary.BigEndian.Uint32(d[8*i:])), Seq(binary.BigEndian.Uint32(d[8*i+4:]))}
			}
		case layers.TCPOptionKindTimestamps:
			o.HasTimestamps = true
			o.TSVal, o.TSEcr = binary.BigEndian.Uint32(d), binary.BigEndian.Uint32(d[4:])
		}
	}
	return o
}

// gopacketFlags reads gopacket's flag booleans into Flags.
func gopacketFlags(g *layers.TCP) Flags {
	var f Flags
	for _, x := range []struct {
		set bool
		bit Flags
	}{{g.FIN, FlagFIN}, {g.SYN, FlagSYN}, {g.RST, FlagRST}, {g.PSH, FlagPSH}, {g.ACK, FlagACK}, {g.URG, FlagURG}, {g.ECE, FlagECE}, {g.CWR, FlagCWR}} {
		if x.set {
			f |= x.bit
		}
	}
	return f
}

// crossCheck decodes pkt with gopacket and compares every field with seg.
func crossCheck(t *testing.T, pkt []byte, seg *Segment) {
	t.Helper()
	p := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.Default)
	require.Nil(t, p.ErrorLayer(), "gopacket: %v", p.ErrorLayer())
	g4 := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	g := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	assert.Equal(t, layers.IPProtocolTCP, g4.Protocol)
	assert.Equal(t, uint16(len(pkt)), g4.Length)
	assert.Equal(t, seg.SrcPort, uint16(g.SrcPort))
	assert.Equal(t, seg.DstPort, uint16(g.DstPort))
	assert.Equal(t, uint32(seg.Seq), g.Seq)
	assert.Equal(t, uint32(seg.Ack), g.Ack)
	assert.Equal(t, seg.Flags, gopacketFlags(g))
	assert.False(t, g.NS)
	assert.Equal(t, seg.Window, g.Window)
	assert.Equal(t, seg.Urgent, g.Urgent)
	assert.Equal(t, seg.HeaderLen(), int(g.DataOffset)*4)
	assert.Empty(t, g.Padding)
	assert.Equal(t, string(seg.Payload), string(g.Payload))
	assert.Equal(t, seg.Options, gopacketOptions(g.Options))

	// gopacket serialises what it decoded, computing its own checksum, to
	// the very same bytes.
	require.NoError(t, g.SetNetworkLayerForChecksum(g4))
	out := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(out, gopacket.SerializeOptions{ComputeChecksums: true}, g, gopacket.Payload(g.Payload)))
	assert.Equal(t, pkt[ip.HeaderMinLen:], out.Bytes(), "gopacket re-encoding differs")
}

// assertSameSegment compares two segments field by field, an empty payload
// equal to a nil one.
func assertSameSegment(t *testing.T, want, got Segment) {
	t.Helper()
	assert.Equal(t, string(want.Payload), string(got.Payload), "payload")
	want.Payload, got.Payload = nil, nil
	assert.Equal(t, want, got)
}

func TestSegmentMatchesGopacket(t *testing.T) {
	blocks := [4]SACKBlock{{0xfffffff0, 0x10}, {300, 400}, {500, 600}, {700, 800}}
	tests := []struct {
		name string
		seg  Segment
	}{
		{"SYN", Segment{SrcPort: 40000, DstPort: 80, Seq: 0x01020304, Flags: FlagSYN, Window: 64240,
			Options: Options{MSS: 1460, SACKPermitted: true, HasTimestamps: true, TSVal: 1, HasWindowScale: true, WindowScale: 7}}},
		{"SYN-ACK without timestamps", Segment{SrcPort: 80, DstPort: 40000, Seq: 0xffffffff, Ack: 0x01020305, Flags: FlagSYN | FlagACK, Window: 65535,
			Options: Options{MSS: 1460, SACKPermitted: true, HasWindowScale: true, WindowScale: 14}}},
		{"ECN SYN", Segment{SrcPort: 1, DstPort: 2, Flags: FlagSYN | FlagECE | FlagCWR, Options: Options{MSS: 536}}},
		{"data", Segment{SrcPort: 80, DstPort: 40000, Seq: 1, Ack: 2, Flags: FlagACK | FlagPSH, Window: 502,
			Options: Options{HasTimestamps: true, TSVal: 0xdeadbeef, TSEcr: 0xcafef00d}, Payload: []byte("HTTP/1.1 200 OK\r\n\r\nodd")}},
		{"ACK with 3 SACK blocks", Segment{SrcPort: 80, DstPort: 40000, Seq: 1, Ack: 2, Flags: FlagACK, Window: 502,
			Options: Options{HasTimestamps: true, TSVal: 5, TSEcr: 4, NumSACK: 3, SACK: [4]SACKBlock{blocks[0], blocks[1], blocks[2]}}}},
		{"ACK with 4 SACK blocks", Segment{SrcPort: 80, DstPort: 40000, Flags: FlagACK, Options: Options{NumSACK: 4, SACK: blocks}}},
		{"FIN", Segment{SrcPort: 9, DstPort: 9, Seq: 100, Ack: 200, Flags: FlagFIN | FlagACK, Window: 1}},
		{"RST", Segment{SrcPort: 9, DstPort: 9, Seq: 100, Flags: FlagRST}},
		{"urgent", Segment{SrcPort: 9, DstPort: 9, Flags: FlagURG | FlagACK, Urgent: 0xffff, Payload: []byte{0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkt := wirePacket(&tt.seg, wireStack, wireKernel)
			crossCheck(t, pkt, &tt.seg)

			// And tinytcp reads back its own packet, checksums included.
			v, err := ip.ParseIPv4(pkt)
			require.NoError(t, err)
			assert.Equal(t, uint16(0), ip.Fold(ip.Sum(v.Payload(), ip.PseudoHeaderSum(v.Src(), v.Dst(), v.Protocol(), len(v.Payload())))))
			var got Segment
			require.NoError(t, ParseSegment(v.Payload(), &got))
			assertSameSegment(t, tt.seg, got)
		})
	}
}

func TestSegmentRandomMatchesGopacket(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for i := range 300 {
		seg := Segment{
			SrcPort: uint16(r.Uint32()), DstPort: uint16(r.Uint32()),
			Seq: Seq(r.Uint32()), Ack: Seq(r.Uint32()), Flags: Flags(r.Uint32()),
			Window: uint16(r.Uint32()), Urgent: uint16(r.Uint32()),
			Payload: make([]byte, r.IntN(64)),
		}
		for j := range seg.Payload {
			seg.Payload[j] = byte(r.Uint32())
		}
		o := &seg.Options
		if r.IntN(2) == 0 {
			o.MSS = uint16(r.IntN(65535) + 1)
		}
		o.SACKPermitted = r.IntN(2) == 0
		if r.IntN(2) == 0 {
			o.HasWindowScale, o.WindowScale = true, uint8(r.IntN(MaxWindowScale+1))
		}
		if r.IntN(2) == 0 {
			o.HasTimestamps, o.TSVal, o.TSEcr = true, r.Uint32(), r.Uint32()
		}
		o.NumSACK = uint8(r.IntN(MaxSACKBlocks + 1))
		for j := range int(o.NumSACK) {
			o.SACK[j] = SACKBlock{Seq(r.Uint32()), Seq(r.Uint32())}
		}
		// What fits is what is sent.
		b := make([]byte, o.Len())
		o.Marshal(b)
		require.NoError(t, ParseOptions(b, o))

		pkt := wirePacket(&seg, wireKernel, wireStack)
		if !t.Run("", func(t *testing.T) { crossCheck(t, pkt, &seg) }) {
			t.Fatalf("segment %d: %+v", i, seg)
		}
	}
}

func TestParseSegmentOfGopacketBytes(t *testing.T) {
	// Segments written by gopacket, with option layouts tinytcp never
	// sends: odd alignment (MUST-64), unknown kinds (MUST-6), EOL and
	// padding.
	tests := []struct {
		name string
		opts []layers.TCPOption
		want Options
	}{
		{"no options", nil, Options{}},
		{"MSS at offset 1", []layers.TCPOption{
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindMSS, OptionData: []byte{0x23, 0x28}},
		}, Options{MSS: 9000}},
		{"unknown kinds around window scale", []layers.TCPOption{
			{OptionType: 30, OptionData: []byte{1, 2, 3}},
			{OptionType: layers.TCPOptionKindWindowScale, OptionData: []byte{3}},
			{OptionType: 254, OptionData: []byte{0xf9, 0x89}},
		}, Options{HasWindowScale: true, WindowScale: 3}},
		{"timestamps unaligned, then EOL", []layers.TCPOption{
			{OptionType: layers.TCPOptionKindSACKPermitted},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindTimestamps, OptionData: []byte{0, 0, 0, 1, 0, 0, 0, 2}},
			{OptionType: layers.TCPOptionKindEndList},
		}, Options{SACKPermitted: true, HasTimestamps: true, TSVal: 1, TSEcr: 2}},
		{"SACK, two blocks", []layers.TCPOption{
			{OptionType: layers.TCPOptionKindSACK, OptionData: []byte{0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4}},
		}, Options{NumSACK: 2, SACK: [4]SACKBlock{{1, 2}, {3, 4}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
				SrcIP: net.IP(wireKernel.AsSlice()), DstIP: net.IP(wireStack.AsSlice())}
			g := &layers.TCP{SrcPort: 33000, DstPort: 7, Seq: 11, Ack: 12, ACK: true, PSH: true, Window: 1000, Options: tt.opts}
			require.NoError(t, g.SetNetworkLayerForChecksum(g4))
			buf := gopacket.NewSerializeBuffer()
			require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true},
				g4, g, gopacket.Payload("echo me")))

			v, err := ip.ParseIPv4(buf.Bytes())
			require.NoError(t, err)
			assert.Equal(t, uint16(0), ip.Fold(ip.Sum(v.Payload(), ip.PseudoHeaderSum(v.Src(), v.Dst(), ip.ProtocolTCP, len(v.Payload())))),
				"gopacket's checksum verifies with ours")
			var seg Segment
			require.NoError(t, ParseSegment(v.Payload(), &seg))
			assert.Equal(t, Segment{SrcPort: 33000, DstPort: 7, Seq: 11, Ack: 12, Flags: FlagACK | FlagPSH, Window: 1000,
				Options: tt.want, Payload: []byte("echo me")}, seg)
		})
	}
}

package inspect

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tinytcp/ip"
	"tinytcp/tcp"
)

var (
	kernel = netip.MustParseAddrPort("10.77.0.1:40000")
	stack  = netip.MustParseAddrPort("10.77.0.2:80")
)

// packet builds an intact IPv4 TCP packet with tinytcp's own encoders.
func packet(src, dst netip.AddrPort, seq, ackNum uint32, flags tcp.Flags, payload []byte) []byte {
	seg := tcp.Segment{SrcPort: src.Port(), DstPort: dst.Port(), Seq: tcp.Seq(seq), Ack: tcp.Seq(ackNum), Flags: flags, Window: 1000, Payload: payload}
	hl := seg.HeaderLen()
	b := make([]byte, ip.HeaderMinLen+hl+len(payload))
	f := ip.IPv4Fields{TotalLen: uint16(len(b)), TTL: 64, Protocol: ip.ProtocolTCP, Src: src.Addr(), Dst: dst.Addr()}
	f.Encode(b)
	seg.MarshalHeader(b[ip.HeaderMinLen:])
	copy(b[ip.HeaderMinLen+hl:], payload)
	t := b[ip.HeaderMinLen:]
	tcp.Header(t).SetChecksum(ip.Fold(ip.Sum(t, ip.PseudoHeaderSum(src.Addr(), dst.Addr(), ip.ProtocolTCP, len(t)))))
	return b
}

func TestReadSortsConnections(t *testing.T) {
	other := netip.MustParseAddrPort("10.77.0.1:40001")
	corrupt := packet(kernel, stack, 101, 301, ack, []byte("hello"))
	corrupt[len(corrupt)-1] ^= 1
	pkts := [][]byte{
		packet(kernel, stack, 100, 0, syn, nil),
		packet(stack, kernel, 300, 101, synAck, nil),
		packet(other, stack, 7, 0, syn, nil), // a second connection
		packet(kernel, stack, 101, 301, ack, nil),
		corrupt,
		packet(stack, kernel, 301, 101, ack, []byte("hi")),
		packet(kernel, stack, 900, 0, syn, nil), // the 4-tuple again, a new ISN
		{0x45, 0},                               // garbage
	}
	var file bytes.Buffer
	w := pcapgo.NewWriter(&file)
	require.NoError(t, w.WriteFileHeader(65535, layers.LinkTypeRaw))
	for i, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: epoch.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(p), Length: len(p)}
		require.NoError(t, w.WritePacket(ci, p))
	}

	c, err := Read(&file)
	require.NoError(t, err)
	assert.Equal(t, 2, c.Skipped, "the corrupted packet and the garbage")
	require.Len(t, c.Conns, 3)
	first := c.Conns[0]
	assert.Equal(t, kernel, first.A)
	assert.Equal(t, stack, first.B)
	require.Len(t, first.Segments, 4)
	assert.Equal(t, []bool{true, false, true, false}, []bool{first.Segments[0].FromA, first.Segments[1].FromA, first.Segments[2].FromA, first.Segments[3].FromA})
	assert.Equal(t, 2, first.Segments[3].Len)
	assert.Equal(t, epoch.Add(5*time.Millisecond), first.Segments[3].Time)
	assert.Equal(t, other, c.Conns[1].A)
	assert.Equal(t, tcp.Seq(900), c.Conns[2].Segments[0].Seq)
	assert.Equal(t, "10.77.0.1:40000 > 10.77.0.2:80: 4 segments, 0 bytes A>B, 2 bytes B>A", first.Summary())
}

func TestReadRefusesOtherLinkTypes(t *testing.T) {
	var file bytes.Buffer
	require.NoError(t, pcapgo.NewWriter(&file).WriteFileHeader(65535, layers.LinkTypeEthernet))
	_, err := Read(&file)
	assert.ErrorIs(t, err, ErrLinkType)
}

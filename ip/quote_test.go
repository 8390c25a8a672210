package ip

import (
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tcpOriginal returns a 40-byte TCP segment from stackAddr:40000 to
// kernelAddr:80 with sequence number seq, as the stack would send it, with
// ihl*4 bytes of IPv4 header.
func tcpOriginal(seq uint32, ihl int) IPv4 {
	hl := ihl * 4
	b := make([]byte, hl+20)
	f := IPv4Fields{TotalLen: uint16(len(b)), ID: 7, DontFragment: true, TTL: 64, Protocol: ProtocolTCP, Src: stackAddr, Dst: kernelAddr}
	f.Encode(b)
	if hl > HeaderMinLen {
		b[0] = 0x40 | byte(ihl)
		fixChecksum(b)
	}
	binary.BigEndian.PutUint16(b[hl:], 40000)
	binary.BigEndian.PutUint16(b[hl+2:], 80)
	binary.BigEndian.PutUint32(b[hl+4:], seq)
	binary.BigEndian.PutUint32(b[hl+8:], 0xa5a5a5a5) // the ACK number, not quoted
	v, err := ParseIPv4(b)
	if err != nil {
		panic(err)
	}
	return v
}

// TestQuoteOfEveryError builds each error TCP cares about with Error and
// reads the quoted 4-tuple and sequence number back (RFC 792; MUST-54 needs
// them to find the connection).
func TestQuoteOfEveryError(t *testing.T) {
	tests := []struct {
		name      string
		typ, code uint8
		mtu       uint16
		ihl       int
		wantMTU   uint16
	}{
		{"net unreachable", TypeDestinationUnreachable, CodeNetUnreachable, 0, 5, 0},
		{"host unreachable", TypeDestinationUnreachable, CodeHostUnreachable, 1000, 5, 0},
		{"port unreachable", TypeDestinationUnreachable, CodePortUnreachable, 0, 5, 0},
		{"fragmentation needed", TypeDestinationUnreachable, CodeFragmentationNeeded, 1000, 5, 1000},
		{"source quench", TypeSourceQuench, 0, 1000, 5, 0},
		{"time exceeded", TypeTimeExceeded, 0, 0, 5, 0},
		{"parameter problem", TypeParameterProblem, 0, 0, 5, 0},
		{"quoted header with options", TypeDestinationUnreachable, CodeHostUnreachable, 0, 15, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := tcpOriginal(0xfffffff0, tt.ihl)
			dst := make([]byte, MaxErrorLen)
			n := Error(dst, tt.typ, tt.code, tt.mtu, orig)
			require.Equal(t, ICMPHeaderLen+tt.ihl*4+8, n, "the header and 8 bytes are quoted")
			m, err := ParseICMP(dst[:n])
			require.NoError(t, err)
			assert.Equal(t, tt.typ, m.Type())
			assert.Equal(t, tt.code, m.Code())
			assert.Equal(t, tt.wantMTU, m.MTU())

			q, err := m.Quote()
			require.NoError(t, err)
			assert.Equal(t, Quote{Src: stackAddr, Dst: kernelAddr, Protocol: ProtocolTCP, TotalLen: len(orig),
				SrcPort: 40000, DstPort: 80, Seq: 0xfffffff0}, q)

			var g layers.ICMPv4
			require.NoError(t, g.DecodeFromBytes(dst[:n], gopacket.NilDecodeFeedback))
			assert.Equal(t, layers.CreateICMPv4TypeCode(tt.typ, tt.code), g.TypeCode, "gopacket agrees")
			assert.Zero(t, Error(dst[:n-1], tt.typ, tt.code, tt.mtu, orig), "short dst")
		})
	}
}

// TestQuoteRejects: a malformed quote is an error with a drop reason,
// never a panic (DESIGN.md, "Bad input never panics").
func TestQuoteRejects(t *testing.T) {
	errorWith := func(typ uint8, body []byte) ICMP {
		b := append(make([]byte, ICMPHeaderLen), body...)
		b[0] = typ
		return ICMP(b)
	}
	good := tcpOriginal(1, 5)
	fragment := append(IPv4(nil), good...)
	binary.BigEndian.PutUint16(fragment[6:], 0x2000|185) // MF, offset 1480
	tests := []struct {
		name string
		m    ICMP
		want error
	}{
		{"not an error", errorWith(TypeEchoReply, good[:28]), ErrICMPOriginal},
		{"no quote", errorWith(TypeDestinationUnreachable, nil), ErrICMPOriginal},
		{"truncated header", errorWith(TypeDestinationUnreachable, good[:19]), ErrICMPOriginal},
		{"IPv6 header", errorWith(TypeTimeExceeded, append([]byte{0x60}, good[1:28]...)), ErrICMPOriginal},
		{"IHL past the quote", errorWith(TypeParameterProblem, append([]byte{0x4f}, good[1:28]...)), ErrICMPOriginal},
		{"header only", errorWith(TypeDestinationUnreachable, good[:20]), ErrICMPQuoteShort},
		{"7 bytes of payload", errorWith(TypeDestinationUnreachable, good[:27]), ErrICMPQuoteShort},
		{"non-first fragment", errorWith(TypeDestinationUnreachable, fragment[:28]), ErrICMPQuoteFragment},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := tt.m.Quote()
			require.ErrorIs(t, err, tt.want)
			assert.Equal(t, Quote{}, q)
			assert.NotEqual(t, "ip_other", DropReason(err))
		})
	}
	// A router may quote more than 8 bytes (RFC 1812 §4.3.2.3).
	q, err := errorWith(TypeDestinationUnreachable, good).Quote()
	require.NoError(t, err)
	assert.Equal(t, uint32(1), q.Seq)
}

func TestErrorRefusesNonErrors(t *testing.T) {
	dst := make([]byte, MaxErrorLen)
	assert.Zero(t, Error(dst, TypeEchoRequest, 0, 0, tcpOriginal(1, 5)))
	assert.Zero(t, Error(dst, TypeDestinationUnreachable, 0, 0, nil))
}

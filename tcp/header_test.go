package tcp

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wireSYN returns a Linux SYN from port 40000 to port 80, ISN 0x01020304,
// with the options of linuxSYNOptions: a 40-byte header, then payload.
func wireSYN(payload string) []byte {
	b := []byte{
		0x9c, 0x40, 0x00, 0x50, // ports 40000 -> 80
		0x01, 0x02, 0x03, 0x04, // seq
		0x00, 0x00, 0x00, 0x00, // ack
		0xa0, 0x02, 0xfa, 0xf0, // data offset 10, SYN, window 64240
		0x12, 0x34, 0x00, 0x00, // checksum, urgent
	}
	b = append(b, linuxSYNOptions...)
	return append(b, payload...)
}

func TestParseHeaderRejects(t *testing.T) {
	withOffset := func(b []byte, words byte) []byte {
		b[12] = words<<4 | b[12]&0x0f
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrTooShort},
		{"19 bytes", wireSYN("")[:19], ErrTooShort},
		{"data offset 0", withOffset(wireSYN(""), 0), ErrDataOffset},
		{"data offset 4", withOffset(wireSYN(""), 4), ErrDataOffset},
		{"data offset past the end", withOffset(wireSYN(""), 11), ErrDataOffset},
		{"data offset 15 in 40 bytes", withOffset(wireSYN(""), 15), ErrDataOffset},
		{"options cut off", wireSYN("")[:39], ErrDataOffset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseHeader(tt.in)
			require.ErrorIs(t, err, tt.want, "got %v, want %v", err, tt.want)
			assert.Nil(t, h)

			seg := Segment{SrcPort: 7}
			require.ErrorIs(t, ParseSegment(tt.in, &seg), tt.want)
			assert.Equal(t, Segment{SrcPort: 7}, seg, "a header error leaves seg alone")
		})
	}
}

func TestParseHeaderAccessors(t *testing.T) {
	b := wireSYN("hello")
	h, err := ParseHeader(b)
	require.NoError(t, err)
	assert.Equal(t, uint16(40000), h.SrcPort())
	assert.Equal(t, uint16(80), h.DstPort())
	assert.Equal(t, Seq(0x01020304), h.Seq())
	assert.Equal(t, Seq(0), h.Ack())
	assert.Equal(t, 40, h.DataOffset())
	assert.Equal(t, FlagSYN, h.Flags())
	assert.Equal(t, uint16(64240), h.Window())
	assert.Equal(t, uint16(0x1234), h.Checksum())
	assert.Equal(t, uint16(0), h.Urgent())
	assert.Equal(t, linuxSYNOptions, h.OptionBytes())
	assert.Equal(t, []byte("hello"), h.Payload())

	h.SetChecksum(0xbeef)
	assert.Equal(t, uint16(0xbeef), h.Checksum())
	assert.Equal(t, []byte{0xbe, 0xef}, b[ChecksumOffset:ChecksumOffset+2])
}

func TestHeaderFlagBits(t *testing.T) {
	// Byte 13 carries CWR (bit 7) down to FIN (bit 0); the NS bit and the
	// reserved bits of byte 12 are ignored.
	tests := []struct {
		byte13 byte
		want   Flags
		str    string
	}{
		{0x01, FlagFIN, "F"},
		{0x02, FlagSYN, "S"},
		{0x04, FlagRST, "R"},
		{0x08, FlagPSH, "P"},
		{0x10, FlagACK, "."},
		{0x20, FlagURG, "U"},
		{0x40, FlagECE, "E"},
		{0x80, FlagCWR, "W"},
		{0x12, FlagSYN | FlagACK, "S."},
		{0x19, FlagFIN | FlagPSH | FlagACK, "FP."},
		{0xc2, FlagSYN | FlagECE | FlagCWR, "SEW"},
	}
	for _, tt := range tests {
		t.Run(tt.str, func(t *testing.T) {
			b := make([]byte, 20)
			b[12] = 0x5f // data offset 5, reserved bits and NS all set
			b[13] = tt.byte13
			h, err := ParseHeader(b)
			require.NoError(t, err)
			assert.Equal(t, tt.want, h.Flags())
			assert.Equal(t, tt.str, h.Flags().String())
			assert.Equal(t, 20, h.DataOffset())
		})
	}
}

func TestParseSegment(t *testing.T) {
	b := wireSYN("data")
	var seg Segment
	require.NoError(t, ParseSegment(b, &seg))
	assert.Equal(t, Segment{
		SrcPort: 40000, DstPort: 80, Seq: 0x01020304, Flags: FlagSYN, Window: 64240,
		Options: Options{MSS: 1460, SACKPermitted: true, HasTimestamps: true, TSVal: 1, HasWindowScale: true, WindowScale: 7},
		Payload: []byte("data"),
	}, seg)
	assert.Same(t, &b[40], &seg.Payload[0], "the payload aliases the input")
	assert.Equal(t, uint32(5), seg.Len(), "SYN + 4 bytes")

	// Reusing a Segment clears the options of the last one.
	ack := make([]byte, 20)
	binary.BigEndian.PutUint16(ack[0:], 1)
	ack[12], ack[13] = 0x50, 0x10
	require.NoError(t, ParseSegment(ack, &seg))
	assert.Equal(t, Options{}, seg.Options)
	assert.Empty(t, seg.Payload)
	assert.Equal(t, FlagACK, seg.Flags)
}

func TestParseSegmentBadOption(t *testing.T) {
	// MSS, then a timestamps option with length 0: the header, payload and
	// MSS are filled in, and the error is the caller's to judge.
	b := []byte{
		0x00, 0x07, 0x00, 0x50, 0, 0, 0, 9, 0, 0, 0, 8,
		0x70, 0x18, 0x01, 0x00, 0, 0, 0, 0,
		2, 4, 0x05, 0xb4, 8, 0, 0, 0,
		'x', 'y',
	}
	var seg Segment
	err := ParseSegment(b, &seg)
	require.ErrorIs(t, err, ErrBadOption)
	require.ErrorIs(t, err, ErrOptionLength)
	assert.Equal(t, uint16(7), seg.SrcPort)
	assert.Equal(t, Seq(9), seg.Seq)
	assert.Equal(t, Seq(8), seg.Ack)
	assert.Equal(t, FlagACK|FlagPSH, seg.Flags)
	assert.Equal(t, uint16(256), seg.Window)
	assert.Equal(t, Options{MSS: 1460}, seg.Options)
	assert.Equal(t, []byte("xy"), seg.Payload)
}

func TestMarshalHeader(t *testing.T) {
	tests := []struct {
		name string
		seg  Segment
		want int
	}{
		{"bare ACK", Segment{SrcPort: 80, DstPort: 40000, Seq: 1, Ack: 2, Flags: FlagACK, Window: 502}, 20},
		{"SYN-ACK", Segment{SrcPort: 80, DstPort: 40000, Seq: 0xffffffff, Ack: 0x01020305, Flags: FlagSYN | FlagACK, Window: 65535,
			Options: Options{MSS: 1460, SACKPermitted: true, HasTimestamps: true, TSVal: 7, TSEcr: 1, HasWindowScale: true, WindowScale: 7}}, 40},
		{"data with SACK", Segment{SrcPort: 1, DstPort: 2, Flags: FlagACK | FlagPSH | FlagURG, Urgent: 3,
			Options: Options{HasTimestamps: true, NumSACK: 4, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}}}, 60},
		{"RST", Segment{Flags: FlagRST, Seq: 5}, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.seg.HeaderLen())
			b := make([]byte, HeaderMaxLen)
			for i := range b {
				b[i] = 0xff // MarshalHeader must overwrite every byte
			}
			n := tt.seg.MarshalHeader(b)
			require.Equal(t, tt.want, n)
			assert.Equal(t, []byte{0, 0}, b[ChecksumOffset:ChecksumOffset+2], "checksum left zero")
			assert.Equal(t, byte(n/4)<<4, b[12], "data offset, reserved bits zero")

			var got Segment
			require.NoError(t, ParseSegment(b[:n], &got))
			want := tt.seg
			if want.Options.NumSACK > 3 && want.Options.HasTimestamps {
				want.Options.NumSACK = 3
				want.Options.SACK[3] = SACKBlock{}
			}
			want.Payload = b[n:n]
			assert.Equal(t, want, got)
		})
	}
}

func TestTCPDropReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{ErrTooShort, "tcp_too_short"},
		{ErrDataOffset, "tcp_bad_data_offset"},
		{ErrBadOption, "tcp_bad_option"},
		{ErrOptionTruncated, "tcp_bad_option"},
		{fmt.Errorf("segment: %w", ErrOptionLength), "tcp_bad_option"},
		{assert.AnError, "tcp_other"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, DropReason(tt.err), "DropReason(%v)", tt.err)
	}
}

func TestHeaderDoesNotAllocate(t *testing.T) {
	b := wireSYN("payload")
	out := make([]byte, HeaderMaxLen)
	var seg Segment
	allocs := testing.AllocsPerRun(100, func() {
		_ = ParseSegment(b, &seg)
		_ = seg.MarshalHeader(out)
	})
	assert.Zero(t, allocs)
}

func BenchmarkParseSegment(b *testing.B) {
	pkt := wireSYN("GET / HTTP/1.1\r\n\r\n")
	var seg Segment
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseSegment(pkt, &seg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalHeader(b *testing.B) {
	seg := Segment{SrcPort: 80, DstPort: 40000, Seq: 1, Ack: 2, Flags: FlagACK, Window: 502,
		Options: Options{HasTimestamps: true, TSVal: 1, TSEcr: 2, NumSACK: 1, SACK: [4]SACKBlock{{10, 20}}}}
	out := make([]byte, HeaderMaxLen)
	b.ReportAllocs()
	for b.Loop() {
		seg.MarshalHeader(out)
	}
}

package inspect

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tinytcp/tcp"
)

// at stamps a segment with a time after the epoch of the test.
var epoch = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func at(ms int, s *Segment) *Segment {
	s.Time = epoch.Add(time.Duration(ms) * time.Millisecond)
	return s
}

// withWS gives a SYN the window scale option.
func withWS(s *Segment, shift uint8) *Segment {
	s.Options.HasWindowScale, s.Options.WindowScale = true, shift
	return s
}

// withSACK gives an ACK SACK blocks.
func withSACK(s *Segment, blocks ...tcp.SACKBlock) *Segment {
	s.Options.NumSACK = uint8(copy(s.Options.SACK[:], blocks))
	return s
}

// download is B (ISN 1000) sending 4 segments of 100 bytes to A, the
// second lost and retransmitted after A's SACK.
func download() *Conn {
	return &Conn{Segments: []*Segment{
		at(0, withWS(aSends(10, 0, syn, 0), 2)),
		at(1, withWS(bSends(1000, 11, synAck, 0), 3)),
		at(2, aSends(11, 1001, ack, 0)),
		at(3, bSends(1001, 11, ack, 100)),
		at(3, bSends(1101, 11, ack, 100)), // lost on the way
		at(4, bSends(1201, 11, ack, 100)),
		at(5, aSends(11, 1101, ack, 0)),
		at(6, withSACK(aSends(11, 1101, ack, 0), tcp.SACKBlock{Left: 1201, Right: 1301})),
		at(7, bSends(1101, 11, ack, 100)), // the retransmission
		at(8, aSends(11, 1301, ack, 0)),
		at(9, bSends(1301, 11, finAck, 0)),
	}}
}

func TestGraphGeometry(t *testing.T) {
	g := NewGraph(download(), false)
	assert.Equal(t, []Tick{
		{T: 1 * time.Millisecond, Lo: 0, Hi: 1}, // the SYN
		{T: 3 * time.Millisecond, Lo: 1, Hi: 101},
		{T: 3 * time.Millisecond, Lo: 101, Hi: 201},
		{T: 4 * time.Millisecond, Lo: 201, Hi: 301},
		{T: 7 * time.Millisecond, Lo: 101, Hi: 201, Retransmit: true},
		{T: 9 * time.Millisecond, Lo: 301, Hi: 302}, // the FIN
	}, g.Data)
	assert.Equal(t, 1, g.Retransmits)
	assert.Equal(t, int64(400), g.Bytes)
	// A's SYN carries no ACK, so the line starts with A's first ACK.
	assert.Equal(t, []Point{{2 * time.Millisecond, 1}, {5 * time.Millisecond, 101}, {6 * time.Millisecond, 101}, {8 * time.Millisecond, 301}}, g.ACK)
	// A's window scale is 2: the windows of its ACKs are shifted by it.
	assert.Equal(t, 2, g.WindowScale)
	assert.Equal(t, []Point{{2 * time.Millisecond, 1 + 4000}, {5 * time.Millisecond, 101 + 4000}, {6 * time.Millisecond, 101 + 4000}, {8 * time.Millisecond, 301 + 4000}}, g.Window)
	assert.Equal(t, []Tick{{T: 6 * time.Millisecond, Lo: 201, Hi: 301}}, g.SACK)
	assert.Equal(t, int64(302), g.MaxSeq)
	assert.Equal(t, 9*time.Millisecond, g.Duration)
}

func TestGraphWindowScale(t *testing.T) {
	for _, tc := range []struct {
		name         string
		synA, synB   int // -1: no option
		wantScale    int
		wantLastEdge int64
	}{
		{"both SYNs carry it: the receiver's counts", 2, 7, 7, 11 + 1000<<7},
		{"only the receiver's SYN", -1, 7, 0, 11 + 1000},
		{"only the sender's SYN", 7, -1, 0, 11 + 1000},
		{"a shift over 14 counts as 14 (RFC 7323 §2.3)", 2, 20, 14, 11 + 1000<<14},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synA, synB := aSends(10, 0, syn, 0), bSends(1000, 11, synAck, 0)
			if tc.synA >= 0 {
				withWS(synA, uint8(tc.synA))
			}
			if tc.synB >= 0 {
				withWS(synB, uint8(tc.synB))
			}
			conn := &Conn{Segments: []*Segment{synA, synB, aSends(11, 1001, ack, 10), bSends(1001, 21, ack, 0)}}
			g := NewGraph(conn, true) // A's data, B's window
			assert.Equal(t, tc.wantScale, g.WindowScale)
			assert.Equal(t, tc.wantLastEdge, g.Window[len(g.Window)-1].Seq)
		})
	}
}

func TestGraphUnwrapsSequenceNumbers(t *testing.T) {
	conn := &Conn{Segments: []*Segment{
		bSends(0xfffffff0, 1, synAck, 0),
		bSends(0xfffffff1, 1, ack, 0x20), // crosses 2^32
		bSends(0x00000011, 1, ack, 0x20),
		aSends(1, 0x00000031, ack, 0),
	}}
	g := NewGraph(conn, false)
	require.Len(t, g.Data, 3)
	assert.Equal(t, Tick{Lo: 0x21, Hi: 0x41}, g.Data[2])
	assert.Equal(t, int64(0x41), g.ACK[0].Seq)
}

func TestGraphWithoutHandshake(t *testing.T) {
	// The capture starts mid-transfer: the first number seen is byte 1.
	conn := &Conn{Segments: []*Segment{
		bSends(5000, 1, ack, 100),
		aSends(1, 5100, ack, 0),
	}}
	g := NewGraph(conn, false)
	assert.Equal(t, []Tick{{Lo: 1, Hi: 101}}, g.Data)
	assert.Equal(t, int64(101), g.ACK[0].Seq)
}

// bulk is a transfer of n segments of 1000 bytes, one every 10 µs, every
// 50th retransmitted once, and an ACK for every other segment.
func bulk(n int) *Conn {
	c := &Conn{Segments: []*Segment{
		aSends(0, 0, syn, 0),
		bSends(0, 1, synAck, 0),
	}}
	for i := range n {
		ts := time.Duration(i) * 10 * time.Microsecond
		s := bSends(uint32(1+i*1000), 1, ack, 1000)
		s.Time = epoch.Add(ts)
		c.Segments = append(c.Segments, s)
		if i%50 == 49 {
			r := bSends(uint32(1+(i-10)*1000), 1, ack, 1000)
			r.Time = s.Time
			c.Segments = append(c.Segments, r)
		}
		if i%2 == 1 {
			a := aSends(1, uint32(1+(i-4)*1000), ack, 0)
			a.Time = s.Time
			c.Segments = append(c.Segments, a)
		}
	}
	for _, s := range c.Segments[:2] {
		s.Time = epoch
	}
	return c
}

func TestSVGIsXMLAndStaysSmall(t *testing.T) {
	for _, n := range []int{10, 2_000, 200_000} {
		t.Run(fmt.Sprint(n, " segments"), func(t *testing.T) {
			conn := bulk(n)
			conn.A, conn.B = netip.MustParseAddrPort("10.77.0.1:40000"), netip.MustParseAddrPort("10.77.0.2:80")
			g := NewGraph(conn, false)
			assert.Equal(t, n/50, g.Retransmits)
			var b bytes.Buffer
			require.NoError(t, g.WriteSVG(&b, "test <&> title"))
			svg := b.String()
			assert.Less(t, len(svg), 400<<10, "the SVG of %d segments", n)
			dec := xml.NewDecoder(strings.NewReader(svg))
			for {
				_, err := dec.Token()
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err)
			}
			assert.Contains(t, svg, "test &lt;&amp;&gt; title")
			assert.Contains(t, svg, "10.77.0.2:80 &gt; 10.77.0.1:40000")
			for _, c := range []string{colourData, colourRetransmit, colourACK, colourWindow} {
				assert.Contains(t, svg, `stroke="`+c+`"`)
			}
		})
	}
}

func TestNiceTicksAndLabels(t *testing.T) {
	assert.Equal(t, []float64{0, 20, 40, 60, 80, 100, 120}, niceTicks(0, 128.9, 10))
	assert.Equal(t, []float64{0, 500_000, 1e6, 1.5e6, 2e6, 2.5e6, 3e6}, niceTicks(0, 3.12e6, 8))
	for _, tc := range []struct {
		v, step float64
		want    string
	}{
		{0, 500_000, "0"},
		{1.5e6, 500_000, "1.5 MB"},
		{500_000, 500_000, "500 kB"},
		{2e6, 1e6, "2 MB"},
		{300, 100, "300 B"},
		{3_082_657, 1, "3.08 MB"},
	} {
		assert.Equal(t, tc.want, formatBytes(tc.v, tc.step), "formatBytes(%v, %v)", tc.v, tc.step)
	}
}

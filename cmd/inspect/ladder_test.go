package inspect

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tinytcp/tcp"
)

// Segment scripts for the ladder, in the RFC's own numbers: A's ISN is 100,
// B's 300, so the output must read like RFC 9293's figures.

const (
	syn    = tcp.FlagSYN
	ack    = tcp.FlagACK
	fin    = tcp.FlagFIN
	rst    = tcp.FlagRST
	synAck = tcp.FlagSYN | tcp.FlagACK
	finAck = tcp.FlagFIN | tcp.FlagACK
	rstAck = tcp.FlagRST | tcp.FlagACK
)

// aSends and bSends build a segment of A or of B.
func aSends(seq, ackNum uint32, flags tcp.Flags, n int) *Segment {
	return &Segment{FromA: true, Seq: tcp.Seq(seq), Ack: tcp.Seq(ackNum), Flags: flags, Len: n, Window: 1000}
}

func bSends(seq, ackNum uint32, flags tcp.Flags, n int) *Segment {
	s := aSends(seq, ackNum, flags, n)
	s.FromA = false
	return s
}

// handshake is RFC 9293 Figure 6, the basic three-way handshake.
func handshake() []*Segment {
	return []*Segment{
		aSends(100, 0, syn, 0),
		bSends(300, 101, synAck, 0),
		aSends(101, 301, ack, 0),
	}
}

// rungLine is a rung reduced to what the tests compare.
func rungLine(r Rung) string {
	if r.Skipped != "" {
		return "... " + r.Skipped
	}
	s := r.A + " " + r.Arrow + " " + r.Text + " " + r.Arrow + " " + r.B
	if r.Arrow == "" {
		s = r.A + " " + r.B
	}
	if r.Note != "" {
		s = r.Note + " " + s
	}
	return s
}

func ladderOf(segs []*Segment) []string {
	l := NewLadder()
	var out []string
	for _, s := range segs {
		for _, r := range l.Step(s) {
			out = append(out, rungLine(r))
		}
	}
	for _, r := range l.Finish() {
		out = append(out, rungLine(r))
	}
	return out
}

func TestLadderStates(t *testing.T) {
	for _, tc := range []struct {
		name string
		segs []*Segment
		want []string
	}{{
		name: "Figure 6: basic three-way handshake",
		segs: handshake(),
		want: []string{
			"CLOSED LISTEN",
			"SYN-SENT --> <SEQ=100><CTL=SYN> --> SYN-RECEIVED",
			"ESTABLISHED <-- <SEQ=300><ACK=101><CTL=SYN,ACK> <-- SYN-RECEIVED",
			"ESTABLISHED --> <SEQ=101><ACK=301><CTL=ACK> --> ESTABLISHED",
		},
	}, {
		name: "Figure 12: normal close, A first, data in between counted",
		segs: append(handshake(),
			aSends(101, 301, ack, 50),
			bSends(301, 151, ack, 0),
			aSends(151, 301, finAck, 0),
			bSends(301, 152, ack, 0),
			bSends(301, 152, finAck, 0),
			aSends(152, 302, ack, 0),
		),
		want: []string{
			"CLOSED LISTEN",
			"SYN-SENT --> <SEQ=100><CTL=SYN> --> SYN-RECEIVED",
			"ESTABLISHED <-- <SEQ=300><ACK=101><CTL=SYN,ACK> <-- SYN-RECEIVED",
			"ESTABLISHED --> <SEQ=101><ACK=301><CTL=ACK> --> ESTABLISHED",
			"... (2 segments: 50 bytes A>B, 0 bytes B>A)",
			"(Close) FIN-WAIT-1 --> <SEQ=151><ACK=301><CTL=FIN,ACK> --> CLOSE-WAIT",
			"FIN-WAIT-2 <-- <SEQ=301><ACK=152><CTL=ACK> <-- CLOSE-WAIT",
			"(Close) TIME-WAIT <-- <SEQ=301><ACK=152><CTL=FIN,ACK> <-- LAST-ACK",
			"TIME-WAIT --> <SEQ=152><ACK=302><CTL=ACK> --> CLOSED",
			"(2 MSL) CLOSED CLOSED",
		},
	}, {
		name: "B closes first, FIN acknowledged with A's FIN",
		segs: append(handshake(),
			bSends(301, 101, finAck, 0),
			aSends(101, 302, finAck, 0),
			bSends(302, 102, ack, 0),
		),
		want: []string{
			"CLOSED LISTEN",
			"SYN-SENT --> <SEQ=100><CTL=SYN> --> SYN-RECEIVED",
			"ESTABLISHED <-- <SEQ=300><ACK=101><CTL=SYN,ACK> <-- SYN-RECEIVED",
			"ESTABLISHED --> <SEQ=101><ACK=301><CTL=ACK> --> ESTABLISHED",
			"(Close) CLOSE-WAIT <-- <SEQ=301><ACK=101><CTL=FIN,ACK> <-- FIN-WAIT-1",
			"(Close) LAST-ACK --> <SEQ=101><ACK=302><CTL=FIN,ACK> --> TIME-WAIT",
			"CLOSED <-- <SEQ=302><ACK=102><CTL=ACK> <-- TIME-WAIT",
			"(2 MSL) CLOSED CLOSED",
		},
	}, {
		name: "Figure 13: simultaneous close",
		segs: append(handshake(),
			aSends(101, 301, finAck, 0),
			bSends(301, 101, finAck, 0), // crossed A's FIN
			aSends(102, 302, ack, 0),
			bSends(302, 102, ack, 0),
		),
		want: []string{
			"CLOSED LISTEN",
			"SYN-SENT --> <SEQ=100><CTL=SYN> --> SYN-RECEIVED",
			"ESTABLISHED <-- <SEQ=300><ACK=101><CTL=SYN,ACK> <-- SYN-RECEIVED",
			"ESTABLISHED --> <SEQ=101><ACK=301><CTL=ACK> --> ESTABLISHED",
			"(Close) FIN-WAIT-1 --> <SEQ=101><ACK=301><CTL=FIN,ACK> --> CLOSE-WAIT",
			// In the capture A's FIN came first, so B is in CLOSE-WAIT
			// when its own FIN leaves: LAST-ACK, not CLOSING.
			"(Close) CLOSING <-- <SEQ=301><ACK=101><CTL=FIN,ACK> <-- LAST-ACK",
			"CLOSING --> <SEQ=102><ACK=302><CTL=ACK> --> CLOSED",
			"TIME-WAIT <-- <SEQ=302><ACK=102><CTL=ACK> <-- CLOSED",
			"(2 MSL) CLOSED CLOSED",
		},
	}, {
		name: "Figure 8: SYN to a closed port, reset",
		segs: []*Segment{
			aSends(100, 0, syn, 0),
			bSends(0, 101, rstAck, 0),
		},
		want: []string{
			"CLOSED LISTEN",
			"SYN-SENT --> <SEQ=100><CTL=SYN> --> SYN-RECEIVED",
			"CLOSED <-- <SEQ=0><ACK=101><CTL=RST,ACK> <-- CLOSED",
		},
	}, {
		name: "Figure 7: simultaneous open",
		segs: []*Segment{
			aSends(100, 0, syn, 0),
			bSends(300, 0, syn, 0),
			aSends(100, 301, synAck, 0),
			bSends(300, 101, synAck, 0),
		},
		want: []string{
			"CLOSED LISTEN",
			"SYN-SENT --> <SEQ=100><CTL=SYN> --> SYN-RECEIVED",
			// B listened in our picture, so its own SYN leaves from
			// SYN-RECEIVED; A sees a bare SYN in SYN-SENT.
			"SYN-RECEIVED <-- <SEQ=300><CTL=SYN> <-- SYN-RECEIVED",
			"SYN-RECEIVED --> <SEQ=100><ACK=301><CTL=SYN,ACK> --> ESTABLISHED",
			"ESTABLISHED <-- <SEQ=300><ACK=101><CTL=SYN,ACK> <-- ESTABLISHED",
		},
	}, {
		name: "retransmitted SYN and retransmitted data counted",
		segs: append([]*Segment{aSends(100, 0, syn, 0)}, append(handshake(),
			bSends(301, 101, ack, 1000),
			bSends(1301, 101, ack, 1000),
			bSends(301, 101, ack, 1000), // again
			aSends(101, 2301, ack, 0),
		)...),
		want: []string{
			"CLOSED LISTEN",
			"SYN-SENT --> <SEQ=100><CTL=SYN> --> SYN-RECEIVED",
			"SYN-SENT --> <SEQ=100><CTL=SYN> --> SYN-RECEIVED",
			"ESTABLISHED <-- <SEQ=300><ACK=101><CTL=SYN,ACK> <-- SYN-RECEIVED",
			"ESTABLISHED --> <SEQ=101><ACK=301><CTL=ACK> --> ESTABLISHED",
			"... (4 segments: 0 bytes A>B, 3000 bytes B>A, 1 retransmitted)",
		},
	}, {
		name: "a FIN after a hole: received when its ACK says so",
		segs: append(handshake(),
			bSends(311, 101, finAck, 0), // bytes 301..310 not seen yet
			bSends(301, 101, ack, 10),   // the hole filled; A now has the FIN
			aSends(101, 312, ack, 0),
		),
		want: []string{
			"CLOSED LISTEN",
			"SYN-SENT --> <SEQ=100><CTL=SYN> --> SYN-RECEIVED",
			"ESTABLISHED <-- <SEQ=300><ACK=101><CTL=SYN,ACK> <-- SYN-RECEIVED",
			"ESTABLISHED --> <SEQ=101><ACK=301><CTL=ACK> --> ESTABLISHED",
			"(Close) ESTABLISHED <-- <SEQ=311><ACK=101><CTL=FIN,ACK> <-- FIN-WAIT-1",
			"... (1 segment: 0 bytes A>B, 10 bytes B>A, 1 retransmitted)", // reordered, in fact
			"CLOSE-WAIT --> <SEQ=101><ACK=312><CTL=ACK> --> FIN-WAIT-2",
		},
	}, {
		name: "the capture starts after the handshake",
		segs: []*Segment{
			aSends(5000, 9000, ack, 100),
			aSends(5100, 9000, finAck, 0),
			bSends(9000, 5101, finAck, 0),
			aSends(5101, 9001, ack, 0),
		},
		want: []string{
			"(the capture starts after the handshake) ESTABLISHED ESTABLISHED",
			"... (1 segment: 100 bytes A>B, 0 bytes B>A)",
			// 5000 and 9000 are taken as the first bytes, 101 and 301.
			"(Close) FIN-WAIT-1 --> <SEQ=201><ACK=301><CTL=FIN,ACK> --> CLOSE-WAIT",
			"(Close) TIME-WAIT <-- <SEQ=301><ACK=202><CTL=FIN,ACK> <-- LAST-ACK",
			"TIME-WAIT --> <SEQ=202><ACK=302><CTL=ACK> --> CLOSED",
			"(2 MSL) CLOSED CLOSED",
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, ladderOf(tc.segs))
		})
	}
}

func TestLadderWrapsAroundAndAbsolute(t *testing.T) {
	// A's ISN just below 2^32: relative numbers still count from 100.
	segs := []*Segment{
		aSends(0xffffff00, 0, syn, 0),
		bSends(7, 0xffffff01, synAck, 0),
		aSends(0xffffff01, 8, ack, 0),
		aSends(0xffffff01, 8, ack, 0x200),
		aSends(0x00000101, 8, finAck, 0),
	}
	got := ladderOf(segs)
	require.Len(t, got, 6)
	assert.Equal(t, "(Close) FIN-WAIT-1 --> <SEQ=613><ACK=301><CTL=FIN,ACK> --> CLOSE-WAIT", got[5])

	l := NewLadder()
	l.Absolute = true
	r := l.Step(segs[0])
	assert.Equal(t, "<SEQ=4294967040><CTL=SYN>", r[len(r)-1].Text)
}

func TestLadderWriterLayout(t *testing.T) {
	conn := &Conn{Segments: append(handshake(), aSends(101, 301, finAck, 0))}
	var b strings.Builder
	require.NoError(t, WriteLadder(&b, conn, false))
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	t.Log("\n" + b.String())
	require.Len(t, lines, 7)
	assert.Contains(t, lines[0], "TCP Peer A")
	// B's column starts at the same place on every line.
	col := strings.Index(lines[0], "TCP Peer B")
	assert.Equal(t, col, strings.Index(lines[1], "LISTEN"), "got %q", lines[1])
	assert.Equal(t, col, strings.Index(lines[2], "SYN-RECEIVED"), "got %q", lines[2])
	assert.Equal(t, col, strings.LastIndex(lines[4], "ESTABLISHED"), "got %q", lines[4])
	assert.True(t, strings.HasPrefix(lines[2], "  2.  SYN-SENT     --> <SEQ=100><CTL=SYN> "), "got %q", lines[2])
	assert.Equal(t, "  5.  (Close)", lines[5])
}

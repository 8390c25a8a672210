package inspect

// Ladder diagrams: a connection's handshake and close drawn as RFC 9293
// draws them in its figures (§3.5, Figures 6 to 13), one numbered line per
// segment, with the state of each end after it:
//
//	      TCP Peer A (10.77.0.1:40000)                 TCP Peer B (10.77.0.2:80)
//	 1.   CLOSED                                       LISTEN
//	 2.   SYN-SENT     --> <SEQ=100><CTL=SYN>      --> SYN-RECEIVED
//	 3.   ESTABLISHED  <-- <SEQ=300><ACK=101><CTL=SYN,ACK> <-- SYN-RECEIVED
//	 4.   ESTABLISHED  --> <SEQ=101><ACK=301><CTL=ACK> --> ESTABLISHED
//	      ...          (6 segments: 77 bytes A>B, 1024 bytes B>A)
//	 5.   (Close)
//	      FIN-WAIT-1   --> <SEQ=178><ACK=1325><CTL=FIN,ACK> --> CLOSE-WAIT
//
// A line is drawn for every segment with SYN, FIN or RST and for every
// segment that changes the state of an end (the ACK that completes the
// handshake, the one that acknowledges a FIN); the segments in between are
// counted on one "..." line. That one rule gives the RFC's figures for a
// handshake and for a close.
//
// The states are inferred from the segments, as the diagram in RFC 9293
// §3.3.2 would move them: the sender's state changes when it sends, the
// receiver's when it receives. A capture is taken at one place, tinytcp's
// device, so "receives" means "was seen at the device": a segment tinytcp
// sent and the link then dropped is taken as received, until the peer's
// ACKs say otherwise for a FIN (a FIN counts as received when it arrives in
// order, or when the receiver acknowledges it). Crossing segments of a
// simultaneous close are put in the order tinytcp saw them.
//
// Sequence numbers are shown relative, the way the RFC's figures show them:
// A's ISN as 100 and B's as 300, every other number offset from those, so
// "<SEQ=101>" is A's first data byte. Absolute numbers (the ones on the
// wire, the ones tcpdump prints) are an option. Only the control bits the
// figures use appear in CTL (SYN, FIN, RST, ACK); PSH, URG, ECE and CWR are
// left out, and "<DATA>" marks a segment with payload, as in the figures.

import (
	"fmt"
	"io"
	"strings"

	"tinytcp/tcp"
)

// The offsets of relative sequence numbers: A's ISN is shown as 100 and
// B's as 300, as in RFC 9293's figures.
const (
	relISNA = 100
	relISNB = 300
)

// end is what the ladder knows of one end of the connection.
type end struct {
	state   tcp.State
	passive bool // reached SYN-RECEIVED from LISTEN (a RST sends it back there)

	base    tcp.Seq // its ISN, or the number taken for it when the capture missed the SYN
	hasBase bool

	finSent bool    // it has sent a FIN
	finSeq  tcp.Seq // the sequence number of that FIN

	rcvNxt tcp.Seq // the next byte it is known to have received in order
	hasRcv bool

	sndMax tcp.Seq // the highest SEG.SEQ+SEG.LEN it has sent
	hasSnd bool
}

// Rung is one entry of a ladder diagram: a numbered segment line, possibly
// under a note such as "(Close)", or a "..." line counting the segments
// left out.
type Rung struct {
	Num         int    // the RFC's line number; 0 for a "..." line
	Note        string // "(Close)" or "(2 MSL)" above the line, or ""
	NoteOnRight bool   // the note belongs to B's column
	A, B        string // the states of A and B after the segment
	Arrow       string // "-->" (A sent it), "<--" (B sent it), or "" for a line of states only
	Text        string // the segment, "<SEQ=100><CTL=SYN>"
	Skipped     string // for a "..." line: what was left out
}

// Ladder infers the states of a connection's two ends from its segments,
// one at a time, and yields the rungs of its diagram. Make one with
// NewLadder and feed it every segment of the connection in order.
type Ladder struct {
	Absolute bool // show sequence numbers as on the wire

	a, b    end
	started bool
	num     int
	skipped skipCount
}

// skipCount is what a "..." line reports.
type skipCount struct {
	segs        int
	bytesA      int64 // payload A sent
	bytesB      int64 // payload B sent
	retransmits int   // data segments starting below the sender's highest sequence number (or reordered)
}

// NewLadder returns a ladder for a connection whose A end opens actively
// (it starts CLOSED) and whose B end listens.
func NewLadder() *Ladder {
	return &Ladder{a: end{state: tcp.StateClosed}, b: end{state: tcp.StateListen}}
}

// States returns the inferred states of A and B.
func (l *Ladder) States() (a, b tcp.State) { return l.a.state, l.b.state }

// Done reports whether neither end has anything left to send: both CLOSED
// or in TIME-WAIT, after a connection was seen.
func (l *Ladder) Done() bool {
	over := func(s tcp.State) bool { return s == tcp.StateClosed || s == tcp.StateTimeWait }
	return l.started && over(l.a.state) && over(l.b.state)
}

// Step takes the next segment of the connection and returns the rungs it
// adds to the diagram: none for a segment counted on a "..." line, one or
// more otherwise (the "..." line before it, the first line of states).
func (l *Ladder) Step(seg *Segment) []Rung {
	var out []Rung
	if !l.started {
		l.started = true
		l.num = 1
		if seg.Flags&(tcp.FlagSYN|tcp.FlagACK) != tcp.FlagSYN {
			// The capture began after the handshake (or this is a stray
			// segment): take both ends as synchronized.
			l.a.state, l.b.state = tcp.StateEstablished, tcp.StateEstablished
			out = append(out, Rung{Num: 1, Note: "(the capture starts after the handshake)", A: "ESTABLISHED", B: "ESTABLISHED"})
		} else {
			out = append(out, Rung{Num: 1, A: l.a.state.String(), B: l.b.state.String()})
		}
	}
	x, y := &l.a, &l.b
	if !seg.FromA {
		x, y = y, x
	}
	beforeA, beforeB := l.a.state, l.b.state
	retransmit := seg.Len > 0 && x.hasSnd && seg.Seq.LessThan(x.sndMax)
	closing := l.send(x, y, seg)
	l.receive(y, x, seg)
	changed := beforeA != l.a.state || beforeB != l.b.state
	if seg.Flags&(tcp.FlagSYN|tcp.FlagFIN|tcp.FlagRST) == 0 && !changed {
		l.skipped.segs++
		if seg.FromA {
			l.skipped.bytesA += int64(seg.Len)
		} else {
			l.skipped.bytesB += int64(seg.Len)
		}
		if retransmit {
			l.skipped.retransmits++
		}
		return out
	}
	out = append(out, l.flush()...)
	l.num++
	r := Rung{Num: l.num, A: l.a.state.String(), B: l.b.state.String(), Arrow: "-->", Text: l.text(seg)}
	if !seg.FromA {
		r.Arrow = "<--"
	}
	if closing {
		r.Note, r.NoteOnRight = "(Close)", !seg.FromA
	}
	return append(out, r)
}

// Finish returns the rungs that end the diagram: the "..." line of the last
// segments, and "(2 MSL)" for an end left in TIME-WAIT.
func (l *Ladder) Finish() []Rung {
	out := l.flush()
	if !l.started {
		return out
	}
	if l.a.state == tcp.StateTimeWait || l.b.state == tcp.StateTimeWait {
		l.num++
		r := Rung{Num: l.num, Note: "(2 MSL)", NoteOnRight: l.b.state == tcp.StateTimeWait, A: l.a.state.String(), B: l.b.state.String()}
		for _, e := range []*end{&l.a, &l.b} {
			if e.state == tcp.StateTimeWait {
				e.state = tcp.StateClosed
			}
		}
		r.A, r.B = l.a.state.String(), l.b.state.String()
		out = append(out, r)
	}
	return out
}

// flush returns the "..." line for the segments counted since the last
// line, if any.
func (l *Ladder) flush() []Rung {
	s := l.skipped
	l.skipped = skipCount{}
	if s.segs == 0 {
		return nil
	}
	noun := "segments"
	if s.segs == 1 {
		noun = "segment"
	}
	text := fmt.Sprintf("(%d %s: %d bytes A>B, %d bytes B>A", s.segs, noun, s.bytesA, s.bytesB)
	if s.retransmits > 0 {
		text += fmt.Sprintf(", %d retransmitted", s.retransmits)
	}
	return []Rung{{Skipped: text + ")"}}
}

// send moves the sender x on for sending seg, and reports whether seg is
// x's first FIN, the one its user's CLOSE called for.
func (l *Ladder) send(x, y *end, seg *Segment) (closing bool) {
	switch {
	case seg.Flags.Has(tcp.FlagRST):
		if x.state != tcp.StateListen {
			x.state = tcp.StateClosed
		}
		return false
	case seg.Flags.Has(tcp.FlagSYN):
		x.base, x.hasBase = seg.Seq, true
		if seg.Flags.Has(tcp.FlagACK) {
			if x.state == tcp.StateListen || x.state == tcp.StateClosed {
				x.state, x.passive = tcp.StateSynReceived, true
			}
		} else if x.state == tcp.StateClosed {
			x.state = tcp.StateSynSent
		}
	}
	// Without a SYN in the capture, take the ISNs as if they came just
	// before the first numbers seen.
	if !x.hasBase {
		x.base, x.hasBase = seg.Seq.Add(^uint32(0)), true
	}
	if seg.Flags.Has(tcp.FlagACK) && !y.hasBase && x.state.Synchronized() {
		y.base, y.hasBase = seg.Ack.Add(^uint32(0)), true
	}
	if end := seg.End(); !x.hasSnd || end.GreaterThan(x.sndMax) {
		x.sndMax, x.hasSnd = end, true
	}
	// x's ACK tells what x has received, whatever the capture saw: the
	// FIN of y it acknowledges has reached it.
	if seg.Flags.Has(tcp.FlagACK) && x.hasRcv && seg.Ack.GreaterThan(x.rcvNxt) {
		x.rcvNxt = seg.Ack
		if y.finSent && x.rcvNxt.GreaterThan(y.finSeq) {
			l.finArrived(x)
		}
	}
	if seg.Flags.Has(tcp.FlagFIN) && !x.finSent {
		x.finSent, x.finSeq = true, seg.Seq.Add(uint32(seg.Len))
		switch x.state {
		case tcp.StateEstablished, tcp.StateSynReceived:
			x.state = tcp.StateFinWait1
			closing = true
		case tcp.StateCloseWait:
			x.state = tcp.StateLastAck
			closing = true
		}
	}
	return closing
}

// receive moves the receiver y on for receiving seg from x, in the order of
// RFC 9293 §3.10.7: the early states first, then the ACK, then the text and
// the FIN.
func (l *Ladder) receive(y, x *end, seg *Segment) {
	switch {
	case seg.Flags.Has(tcp.FlagRST):
		switch {
		case y.state == tcp.StateSynReceived && y.passive:
			y.state = tcp.StateListen // RFC 9293 §3.10.7.4, second check
		case y.state != tcp.StateListen:
			y.state = tcp.StateClosed
		}
		return
	case y.state == tcp.StateClosed:
		return
	case y.state == tcp.StateListen:
		if seg.Flags&(tcp.FlagSYN|tcp.FlagACK) == tcp.FlagSYN {
			y.state, y.passive = tcp.StateSynReceived, true
			y.rcvNxt, y.hasRcv = seg.Seq.Add(1), true
		}
		return
	case y.state == tcp.StateSynSent:
		if seg.Flags.Has(tcp.FlagSYN) {
			y.rcvNxt, y.hasRcv = seg.Seq.Add(1), true
			if seg.Flags.Has(tcp.FlagACK) && y.hasBase && seg.Ack == y.base.Add(1) {
				y.state = tcp.StateEstablished
			} else if !seg.Flags.Has(tcp.FlagACK) {
				y.state = tcp.StateSynReceived // simultaneous open
			}
		}
		return
	}
	if !y.hasRcv {
		y.rcvNxt, y.hasRcv = seg.Seq, true
	}
	if seg.Flags.Has(tcp.FlagACK) {
		acked := func(s tcp.Seq) bool { return seg.Ack.GreaterThan(s) }
		switch {
		case y.state == tcp.StateSynReceived && y.hasBase && acked(y.base):
			y.state = tcp.StateEstablished
		case y.state == tcp.StateFinWait1 && acked(y.finSeq):
			y.state = tcp.StateFinWait2
		case y.state == tcp.StateClosing && acked(y.finSeq):
			y.state = tcp.StateTimeWait
		case y.state == tcp.StateLastAck && acked(y.finSeq):
			y.state = tcp.StateClosed
		}
	}
	if seg.Seq.LessThanEq(y.rcvNxt) && seg.End().GreaterThan(y.rcvNxt) {
		y.rcvNxt = seg.End()
		if seg.Flags.Has(tcp.FlagFIN) {
			l.finArrived(y)
		}
	}
}

// finArrived moves y on for the peer's FIN, once it has all the bytes
// before it (RFC 9293 §3.10.7.4, eighth step).
func (l *Ladder) finArrived(y *end) {
	switch y.state {
	case tcp.StateSynReceived, tcp.StateEstablished:
		y.state = tcp.StateCloseWait
	case tcp.StateFinWait1:
		y.state = tcp.StateClosing
	case tcp.StateFinWait2:
		y.state = tcp.StateTimeWait
	}
}

// text spells seg as the RFC's figures do: <SEQ=..><ACK=..><CTL=..><DATA>.
func (l *Ladder) text(seg *Segment) string {
	x, y := &l.a, &l.b
	xOff, yOff := uint32(relISNA), uint32(relISNB)
	if !seg.FromA {
		x, y = y, x
		xOff, yOff = yOff, xOff
	}
	num := func(e *end, off uint32, s tcp.Seq) uint32 {
		if l.Absolute || !e.hasBase {
			return uint32(s) // no ISN to count from: a RST answering a SYN
		}
		return off + s.Sub(e.base)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<SEQ=%d>", num(x, xOff, seg.Seq))
	if seg.Flags.Has(tcp.FlagACK) {
		fmt.Fprintf(&b, "<ACK=%d>", num(y, yOff, seg.Ack))
	}
	var ctl []string
	for _, f := range []struct {
		bit  tcp.Flags
		name string
	}{{tcp.FlagSYN, "SYN"}, {tcp.FlagFIN, "FIN"}, {tcp.FlagRST, "RST"}, {tcp.FlagACK, "ACK"}} {
		if seg.Flags.Has(f.bit) {
			ctl = append(ctl, f.name)
		}
	}
	if len(ctl) > 0 {
		fmt.Fprintf(&b, "<CTL=%s>", strings.Join(ctl, ","))
	}
	if seg.Len > 0 {
		b.WriteString("<DATA>")
	}
	return b.String()
}

// stateWidth is the width of A's state column: "SYN-RECEIVED" and a space.
const stateWidth = 13

// LadderWriter writes rungs as text, the segment column textWidth wide
// (longer segments push B's column to the right).
type LadderWriter struct {
	W         io.Writer
	Prefix    string // written before every line, e.g. "#3 " in a live trace
	TextWidth int
}

// Header writes the line that names the two ends.
func (lw *LadderWriter) Header(conn *Conn) error {
	left := fmt.Sprintf("TCP Peer A (%v)", conn.A)
	_, err := fmt.Fprintf(lw.W, "%s      %-*s%s\n", lw.Prefix, lw.rightColumn(), left, fmt.Sprintf("TCP Peer B (%v)", conn.B))
	return err
}

// rightColumn is where B's state starts, counted after the line number.
func (lw *LadderWriter) rightColumn() int { return stateWidth + 4 + lw.TextWidth + 5 }

// Write writes one rung, on one line or two (a note above a segment).
func (lw *LadderWriter) Write(r Rung) error {
	var b strings.Builder
	num := "      "
	if r.Num > 0 {
		num = fmt.Sprintf("%3d.  ", r.Num)
	}
	switch {
	case r.Skipped != "":
		fmt.Fprintf(&b, "%s      %-*s%s\n", lw.Prefix, stateWidth, "...", r.Skipped)
	case r.Arrow == "" && r.Note == "":
		fmt.Fprintf(&b, "%s%s%-*s%s\n", lw.Prefix, num, lw.rightColumn(), r.A, r.B)
	case r.Arrow == "":
		// A note on a line of states only: "(2 MSL)" above CLOSED, or the
		// remark that the capture began late.
		lw.note(&b, num, r)
		fmt.Fprintf(&b, "%s      %-*s%s\n", lw.Prefix, lw.rightColumn(), r.A, r.B)
	default:
		if r.Note != "" {
			lw.note(&b, num, r)
			num = "      "
		}
		text := r.Text
		if pad := lw.TextWidth - len(text); pad > 0 {
			text += strings.Repeat(" ", pad)
		}
		fmt.Fprintf(&b, "%s%s%-*s%s %s %s %s\n", lw.Prefix, num, stateWidth, r.A, r.Arrow, text, r.Arrow, r.B)
	}
	_, err := io.WriteString(lw.W, b.String())
	return err
}

func (lw *LadderWriter) note(b *strings.Builder, num string, r Rung) {
	if r.NoteOnRight {
		fmt.Fprintf(b, "%s%s%-*s%s\n", lw.Prefix, num, lw.rightColumn(), "", r.Note)
	} else {
		fmt.Fprintf(b, "%s%s%s\n", lw.Prefix, num, r.Note)
	}
}

// WriteLadder writes the ladder diagram of conn: a header, then the rungs,
// the segment column as wide as the widest segment.
func WriteLadder(w io.Writer, conn *Conn, absolute bool) error {
	l := NewLadder()
	l.Absolute = absolute
	var rungs []Rung
	for _, seg := range conn.Segments {
		rungs = append(rungs, l.Step(seg)...)
	}
	rungs = append(rungs, l.Finish()...)
	lw := &LadderWriter{W: w}
	for _, r := range rungs {
		lw.TextWidth = max(lw.TextWidth, len(r.Text))
	}
	if err := lw.Header(conn); err != nil {
		return err
	}
	for _, r := range rungs {
		if err := lw.Write(r); err != nil {
			return err
		}
	}
	return nil
}

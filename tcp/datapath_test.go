package tcp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The data path in steady state: one Conn in ESTABLISHED, its peer played
// by hand, so that what is measured is the TCB alone. The receiver takes
// full-sized in-order segments and the application reads them; the sender
// gets an ACK and sends the segment it lets out. Both run through the
// micro-benchmarks below and through TestSteadyStateDoesNotAllocate, which
// holds the data path to its promise of no allocation per segment
// (DESIGN.md, "Fast by design"). Speed is reported, never asserted.

// countingHooks are Hooks that keep nothing but a count and a copy of the
// last segment's header fields, so that the harness allocates nothing of
// its own.
type countingHooks struct {
	sent int     // segments transmitted
	last Segment // the last one, with its payload left out
}

func (h *countingHooks) Transmit(_ *Conn, seg *Segment) {
	h.sent++
	h.last = *seg
	h.last.Payload = nil
}

func (h *countingHooks) StateChanged(*Conn, State, State) {}

// handPeer is the remote end of one connection, played by hand: it makes
// the segments a Linux peer would send (timestamps on every segment, a
// window of 64 KiB) and delivers them to the Conn under test.
type handPeer struct {
	c     *Conn
	hooks *countingHooks
	now   time.Time
	nxt   Seq    // the peer's SND.NXT
	ack   Seq    // the peer's RCV.NXT, what it acknowledges
	wnd   uint16 // the window field, scaled by the peer's shift of 7
	seg   Segment
}

// Full-sized segments: the MSS less the 12 bytes of timestamps each
// segment carries (MUST-16), as Linux sends them.
const fullSized = DefaultMSS - 12

// establishedWithHandPeer returns a server Conn in ESTABLISHED, with its
// default buffers (256 KiB) and congestion control, after a handshake in
// which the peer offered what Linux offers: MSS 1460, window scale 7, SACK
// and timestamps.
func establishedWithHandPeer(tb testing.TB) *handPeer {
	return establishedWithConfig(tb, Config{})
}

// establishedWithConfig is establishedWithHandPeer with the server's
// settings in cfg (its ISN is set here).
func establishedWithConfig(tb testing.TB, cfg Config) *handPeer {
	tb.Helper()
	p := &handPeer{hooks: &countingHooks{}, now: t0, nxt: 5000, wnd: 512}
	cfg.ISN = fixedISN(9000)
	p.c = Listen(cfg, p.hooks, ID{Local: serverAP, Remote: clientAP})
	syn := p.segment(FlagSYN, nil)
	syn.Window = 64240
	syn.Options.MSS = DefaultMSS
	syn.Options.HasWindowScale, syn.Options.WindowScale = true, 7
	syn.Options.SACKPermitted = true
	p.deliver(syn)
	require.Equal(tb, FlagSYN|FlagACK, p.hooks.last.Flags)
	p.nxt = p.nxt.Add(1)
	p.ack = p.hooks.last.Seq.Add(1)
	p.deliver(p.segment(FlagACK, nil))
	require.Equal(tb, StateEstablished, p.c.State())
	require.Equal(tb, DefaultMSS, p.c.SendMSS())
	return p
}

// segment builds the peer's next segment in p.seg, which Input may change
// (trimming), so that building one allocates nothing.
func (p *handPeer) segment(flags Flags, payload []byte) *Segment {
	p.seg = Segment{
		SrcPort: clientAP.Port(), DstPort: serverAP.Port(),
		Seq: p.nxt, Ack: p.ack, Flags: flags, Window: p.wnd, Payload: payload,
	}
	p.seg.Options.HasTimestamps = true
	p.seg.Options.TSVal = uint32(p.now.Sub(t0).Milliseconds()) + 1
	p.seg.Options.TSEcr = p.hooks.last.Options.TSVal
	return &p.seg
}

// deliver hands seg to the Conn at the current time.
func (p *handPeer) deliver(seg *Segment) { p.c.Input(seg, p.now) }

// receiver drives the receiving side: each step is one full-sized, in-order
// data segment from the peer, and the application reading it. The Conn
// acknowledges every second segment (RFC 9293 §3.8.6.3).
type receiver struct {
	*handPeer
	data, readBuf []byte
}

func newReceiver(tb testing.TB) *receiver {
	r := &receiver{handPeer: establishedWithHandPeer(tb), data: pattern(fullSized), readBuf: make([]byte, fullSized)}
	for range 100 { // past the first ACKs, into steady state
		r.step(tb)
	}
	return r
}

func (r *receiver) step(tb testing.TB) {
	r.now = r.now.Add(10 * time.Microsecond) // ~1.2 Gbit/s
	r.deliver(r.segment(FlagACK, r.data))
	r.nxt = r.nxt.Add(fullSized)
	if n := r.c.Read(r.readBuf, r.now); n != fullSized {
		tb.Fatalf("read %d bytes, want %d", n, fullSized)
	}
}

// sender drives the sending side, limited by the peer's 64 KiB window: each
// step the application writes one full-sized segment's worth, and an ACK
// for the oldest segment in flight arrives, which opens the window for one
// more segment.
type sender struct {
	*handPeer
	data []byte
}

func newSender(tb testing.TB) *sender {
	s := &sender{handPeer: establishedWithHandPeer(tb), data: pattern(fullSized)}
	// Fill the window and queue some more behind it.
	for range 64 {
		n, err := s.c.Write(s.data, s.now)
		require.NoError(tb, err)
		require.Equal(tb, fullSized, n)
	}
	s.ack = s.c.snd.una
	for range 200 { // slow start, until the peer's window is the limit
		s.step(tb)
	}
	return s
}

func (s *sender) step(tb testing.TB) {
	s.now = s.now.Add(10 * time.Microsecond)
	if n, err := s.c.Write(s.data, s.now); n != fullSized || err != nil {
		tb.Fatalf("wrote %d bytes (%v), want %d", n, err, fullSized)
	}
	s.ack = s.ack.Add(fullSized)
	s.deliver(s.segment(FlagACK, nil))
}

func TestSteadyStateSegmentCounts(t *testing.T) {
	// The harness does what it claims: per step, one segment in and half
	// an ACK out on the receiver; one ACK in and one segment out on the
	// sender, which the window (not the congestion window) holds back.
	r := newReceiver(t)
	before := r.hooks.sent
	for range 100 {
		r.step(t)
	}
	assert.Equal(t, 50, r.hooks.sent-before, "receiver: ACKs sent for 100 segments")
	assert.Equal(t, r.nxt, r.c.rcv.nxt)

	s := newSender(t)
	before = s.hooks.sent
	for range 100 {
		s.step(t)
	}
	assert.Equal(t, 100, s.hooks.sent-before, "sender: segments sent for 100 ACKs")
	assert.Greater(t, s.c.cong.CWnd, uint32(s.wnd)<<7, "the window, not cwnd, is the limit")
	assert.Zero(t, s.c.Stats.Retransmits)
}

// TestSteadyStateDoesNotAllocate holds the data path to no allocation per
// segment. Allocation counts are deterministic, so this is an exact
// assertion, not a timing; it holds under the race detector too, which
// instruments memory accesses but does not add heap allocations.
func TestSteadyStateDoesNotAllocate(t *testing.T) {
	tests := []struct {
		name string
		step func(t *testing.T) func()
	}{
		{"receive a full-sized segment, read it, ACK every second", func(t *testing.T) func() {
			r := newReceiver(t)
			return func() { r.step(t) }
		}},
		{"write a segment, an ACK sends it", func(t *testing.T) func() {
			s := newSender(t)
			return func() { s.step(t) }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allocs := testing.AllocsPerRun(1000, tt.step(t))
			assert.Zero(t, allocs, "got %v allocations per segment, want 0", allocs)
		})
	}
}

// BenchmarkReceiveSegment is the receiver's work per segment: a full-sized
// in-order data segment through SEGMENT ARRIVES into the receive buffer,
// the application's Read, and every second time the ACK.
func BenchmarkReceiveSegment(b *testing.B) {
	r := newReceiver(b)
	b.SetBytes(fullSized)
	b.ReportAllocs()
	for b.Loop() {
		r.step(b)
	}
}

// BenchmarkSendSegment is the sender's work per segment: the application's
// Write of one segment's worth, then an ACK through SEGMENT ARRIVES that
// frees the send buffer, takes an RTT sample, grows cwnd and sends the
// next full-sized segment.
func BenchmarkSendSegment(b *testing.B) {
	s := newSender(b)
	b.SetBytes(fullSized)
	b.ReportAllocs()
	for b.Loop() {
		s.step(b)
	}
}

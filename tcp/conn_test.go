package tcp

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Segment-script tests of the TCB in virtual time: two Conns wired back to
// back through recorders, or one Conn fed hand-made segments.

// fixedISN returns the same ISN for every connection.
type fixedISN Seq

func (f fixedISN) ISN(_, _ netip.AddrPort, _ time.Time) Seq { return Seq(f) }

// recorder is the Hooks of a Conn under test: it keeps what was sent and the
// transitions made.
type recorder struct {
	sent   []Segment
	states []string
}

func (r *recorder) Transmit(_ *Conn, seg *Segment) {
	s := *seg
	s.Payload = bytes.Clone(seg.Payload)
	r.sent = append(r.sent, s)
}

func (r *recorder) StateChanged(_ *Conn, from, to State) {
	r.states = append(r.states, fmt.Sprintf("%v -> %v", from, to))
}

// take returns and forgets what was sent.
func (r *recorder) take() []Segment {
	s := r.sent
	r.sent = nil
	return s
}

var (
	clientAP = netip.MustParseAddrPort("10.77.0.1:40000")
	serverAP = netip.MustParseAddrPort("10.77.0.2:80")
	t0       = time.Unix(1_000_000, 0)
)

func testConfig(isn Seq) Config {
	return Config{ISN: fixedISN(isn), RecvBufferSize: 64 << 10, SendBufferSize: 64 << 10}
}

// pair is a client and a server Conn joined by a lossless wire.
type pair struct {
	t              *testing.T
	now            time.Time
	client, server *Conn
	cr, sr         *recorder
	drop           func(from *Conn, seg *Segment) bool // optional loss
}

// handshake dials from client to server and runs the three-way handshake.
func handshake(t *testing.T, clientISN, serverISN Seq) *pair {
	t.Helper()
	p := &pair{t: t, now: t0, cr: &recorder{}, sr: &recorder{}}
	p.client = Dial(testConfig(clientISN), p.cr, ID{Local: clientAP, Remote: serverAP}, p.now)
	p.server = Listen(testConfig(serverISN), p.sr, ID{Local: serverAP, Remote: clientAP})
	p.run()
	require.Equal(t, StateEstablished, p.client.State())
	require.Equal(t, StateEstablished, p.server.State())
	return p
}

// run delivers segments both ways until neither side has anything to send.
func (p *pair) run() {
	for i := 0; i < 100000; i++ {
		cs, ss := p.cr.take(), p.sr.take()
		if len(cs) == 0 && len(ss) == 0 {
			return
		}
		for i := range cs {
			if p.drop == nil || !p.drop(p.client, &cs[i]) {
				p.server.Input(&cs[i], p.now)
			}
		}
		for i := range ss {
			if p.drop == nil || !p.drop(p.server, &ss[i]) {
				p.client.Input(&ss[i], p.now)
			}
		}
	}
	p.t.Fatal("the connection never went quiet")
}

// advance moves virtual time to the earlier deadline of the two Conns and
// fires it, then delivers what that caused.
func (p *pair) advance() bool {
	next := time.Time{}
	for _, c := range []*Conn{p.client, p.server} {
		if d := c.NextDeadline(); !d.IsZero() && (next.IsZero() || d.Before(next)) {
			next = d
		}
	}
	if next.IsZero() {
		return false
	}
	p.now = next
	p.client.OnTimer(p.now)
	p.server.OnTimer(p.now)
	p.run()
	return true
}

// transfer writes data into from and reads it all out of to.
func (p *pair) transfer(from, to *Conn, data []byte) []byte {
	var got []byte
	buf := make([]byte, 4096)
	written := 0
	for steps := 0; len(got) < len(data); steps++ {
		require.Less(p.t, steps, 100000, "transfer stalled at %d of %d bytes", len(got), len(data))
		progress := len(got) + written
		if written < len(data) {
			n, err := from.Write(data[written:], p.now)
			require.NoError(p.t, err)
			written += n
		}
		p.run()
		for {
			n := to.Read(buf, p.now)
			if n == 0 {
				break
			}
			got = append(got, buf[:n]...)
		}
		p.run()
		if len(got)+written == progress {
			// Nothing moved: only a timer can help now.
			require.True(p.t, p.advance(), "stalled with no timer running")
		}
	}
	return got
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// TestFigure6ThreeWayHandshake reproduces RFC 9293 Figure 6.
func TestFigure6ThreeWayHandshake(t *testing.T) {
	cr, sr := &recorder{}, &recorder{}
	client := Dial(testConfig(100), cr, ID{Local: clientAP, Remote: serverAP}, t0)
	server := Listen(testConfig(300), sr, ID{Local: serverAP, Remote: clientAP})

	// 2. CLOSED --> <SEQ=100><CTL=SYN> --> SYN-SENT
	syn := cr.take()
	require.Len(t, syn, 1)
	assert.Equal(t, FlagSYN, syn[0].Flags)
	assert.Equal(t, Seq(100), syn[0].Seq)
	assert.Equal(t, uint16(DefaultMSS), syn[0].Options.MSS, "MSS option sent (MUST-14)")
	assert.Equal(t, StateSynSent, client.State())

	// 3. SYN-RECEIVED <-- <SEQ=300><ACK=101><CTL=SYN,ACK> <-- SYN-RECEIVED
	server.Input(&syn[0], t0)
	synack := sr.take()
	require.Len(t, synack, 1)
	assert.Equal(t, FlagSYN|FlagACK, synack[0].Flags)
	assert.Equal(t, Seq(300), synack[0].Seq)
	assert.Equal(t, Seq(101), synack[0].Ack)
	assert.Equal(t, StateSynReceived, server.State())

	// 4. ESTABLISHED --> <SEQ=101><ACK=301><CTL=ACK> --> ESTABLISHED
	client.Input(&synack[0], t0)
	ack := cr.take()
	require.Len(t, ack, 1)
	assert.Equal(t, FlagACK, ack[0].Flags)
	assert.Equal(t, Seq(101), ack[0].Seq)
	assert.Equal(t, Seq(301), ack[0].Ack)
	server.Input(&ack[0], t0)
	assert.Equal(t, StateEstablished, client.State())
	assert.Equal(t, StateEstablished, server.State())
	assert.Equal(t, []string{"CLOSED -> SYN-SENT", "SYN-SENT -> ESTABLISHED"}, cr.states)
	assert.Equal(t, []string{"LISTEN -> SYN-RECEIVED", "SYN-RECEIVED -> ESTABLISHED"}, sr.states)
}

// TestFigure7SimultaneousOpen reproduces RFC 9293 Figure 7 (MUST-10).
func TestFigure7SimultaneousOpen(t *testing.T) {
	ar, br := &recorder{}, &recorder{}
	a := Dial(testConfig(100), ar, ID{Local: clientAP, Remote: serverAP}, t0)
	b := Dial(testConfig(300), br, ID{Local: serverAP, Remote: clientAP}, t0)
	synA, synB := ar.take(), br.take()
	a.Input(&synB[0], t0)
	b.Input(&synA[0], t0)
	require.Equal(t, StateSynReceived, a.State())
	require.Equal(t, StateSynReceived, b.State())
	sa, sb := ar.take(), br.take()
	require.Len(t, sa, 1)
	assert.Equal(t, FlagSYN|FlagACK, sa[0].Flags)
	assert.Equal(t, Seq(301), sa[0].Ack)
	a.Input(&sb[0], t0)
	b.Input(&sa[0], t0)
	assert.Equal(t, StateEstablished, a.State())
	assert.Equal(t, StateEstablished, b.State())
}

func TestDataBothWaysAcrossWrap(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		clientISN, serverISN Seq
	}{
		{"low numbers", 1000, 5000},
		{"wrap-around", 0xffffffff - 10000, 0xffffffff - 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := handshake(t, tc.clientISN, tc.serverISN)
			up := pattern(500_000)
			assert.True(t, bytes.Equal(up, p.transfer(p.client, p.server, up)), "client -> server bytes differ")
			down := pattern(700_001)
			assert.True(t, bytes.Equal(down, p.transfer(p.server, p.client, down)), "server -> client bytes differ")
			assert.Zero(t, p.client.Stats.Retransmits)
			assert.Zero(t, p.server.Stats.Retransmits)
		})
	}
}

func TestSendMSSHonoured(t *testing.T) {
	p := &pair{t: t, now: t0, cr: &recorder{}, sr: &recorder{}}
	cfg := testConfig(1)
	cfg.MSS = 500
	p.client = Dial(cfg, p.cr, ID{Local: clientAP, Remote: serverAP}, p.now)
	p.server = Listen(testConfig(2), p.sr, ID{Local: serverAP, Remote: clientAP})
	p.run()
	require.Equal(t, 500, p.server.SendMSS())
	_, err := p.server.Write(pattern(5000), p.now)
	require.NoError(t, err)
	for _, s := range p.sr.sent {
		assert.LessOrEqual(t, len(s.Payload), 500)
	}
	p.run()
}

func TestDefaultSendMSSWithoutOption(t *testing.T) {
	sr := &recorder{}
	server := Listen(testConfig(2), sr, ID{Local: serverAP, Remote: clientAP})
	server.Input(&Segment{Seq: 7, Flags: FlagSYN, Window: 1000}, t0)
	assert.Equal(t, DefaultSendMSS, server.SendMSS(), "MUST-15: 536 when no MSS option")
	assert.False(t, sr.sent[0].Options.HasWindowScale, "no window scale unless the SYN had one")
}

func TestCloseFromEachSide(t *testing.T) {
	for _, clientCloses := range []bool{true, false} {
		t.Run(fmt.Sprintf("client closes first=%v", clientCloses), func(t *testing.T) {
			p := handshake(t, 1, 2)
			first, second := p.server, p.client
			if clientCloses {
				first, second = p.client, p.server
			}
			first.Close(p.now)
			p.run()
			assert.Equal(t, StateFinWait2, first.State())
			assert.Equal(t, StateCloseWait, second.State())
			assert.True(t, second.ReadEOF())
			// Half-close: the side that got the FIN may still send.
			data := pattern(10_000)
			assert.Equal(t, data, p.transfer(second, first, data))
			second.Close(p.now)
			p.run()
			assert.Equal(t, StateTimeWait, first.State())
			assert.Equal(t, StateClosed, second.State())
			require.True(t, p.advance())
			assert.Equal(t, StateClosed, first.State())
			assert.Equal(t, 2*DefaultMSL, p.now.Sub(t0), "TIME-WAIT lasts 2*MSL (MUST-13)")
		})
	}
}

func TestSimultaneousClose(t *testing.T) {
	p := handshake(t, 1, 2)
	p.client.Close(p.now)
	p.server.Close(p.now)
	p.run()
	assert.Equal(t, StateTimeWait, p.client.State())
	assert.Equal(t, StateTimeWait, p.server.State())
	assert.Contains(t, p.cr.states, "FIN-WAIT-1 -> CLOSING")
}

func TestResetForClosedPort(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Segment
		want Segment
		send bool
	}{
		{"SYN", Segment{SrcPort: 1, DstPort: 2, Seq: 100, Flags: FlagSYN}, Segment{SrcPort: 2, DstPort: 1, Ack: 101, Flags: FlagRST | FlagACK}, true},
		{"ACK", Segment{SrcPort: 1, DstPort: 2, Seq: 100, Ack: 555, Flags: FlagACK, Payload: []byte("x")}, Segment{SrcPort: 2, DstPort: 1, Seq: 555, Flags: FlagRST}, true},
		{"data without ACK", Segment{Seq: 100, Flags: FlagFIN, Payload: []byte("abc")}, Segment{Ack: 104, Flags: FlagRST | FlagACK}, true},
		{"RST", Segment{Seq: 100, Flags: FlagRST}, Segment{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, send := ResetFor(&tc.in)
			assert.Equal(t, tc.send, send)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestListenIgnoresRSTAndResetsACK(t *testing.T) {
	sr := &recorder{}
	l := Listen(testConfig(2), sr, ID{Local: serverAP, Remote: clientAP})
	l.Input(&Segment{Seq: 5, Flags: FlagRST}, t0)
	assert.Empty(t, sr.sent)
	l.Input(&Segment{Seq: 5, Ack: 77, Flags: FlagACK}, t0)
	require.Len(t, sr.sent, 1)
	assert.Equal(t, Segment{SrcPort: 80, DstPort: 40000, Seq: 77, Flags: FlagRST}, sr.sent[0])
	assert.Equal(t, StateListen, l.State())
}

func TestSynSentUnacceptableACKAndRefused(t *testing.T) {
	cr := &recorder{}
	c := Dial(testConfig(100), cr, ID{Local: clientAP, Remote: serverAP}, t0)
	cr.take()
	c.Input(&Segment{Seq: 9, Ack: 500, Flags: FlagSYN | FlagACK}, t0)
	require.Len(t, cr.sent, 1, "a bad ACK is answered with a RST")
	assert.Equal(t, Segment{SrcPort: 40000, DstPort: 80, Seq: 500, Flags: FlagRST}, cr.sent[0])
	assert.Equal(t, StateSynSent, c.State())

	c.Input(&Segment{Seq: 0, Flags: FlagRST}, t0)
	assert.Equal(t, StateSynSent, c.State(), "a RST without an acceptable ACK is dropped")
	c.Input(&Segment{Seq: 0, Ack: 101, Flags: FlagRST | FlagACK}, t0)
	assert.Equal(t, StateClosed, c.State())
	assert.ErrorIs(t, c.Err(), ErrConnectionRefused)
}

func TestRSTInEstablished(t *testing.T) {
	p := handshake(t, 1, 1000)
	rcvNxt := p.server.rcv.nxt
	// In the window but not exact: challenge ACK (RFC 5961 §3.2).
	p.server.Input(&Segment{Seq: rcvNxt.Add(10), Flags: FlagRST}, p.now)
	require.Len(t, p.sr.sent, 1)
	assert.Equal(t, FlagACK, p.sr.sent[0].Flags)
	assert.Equal(t, StateEstablished, p.server.State())
	p.sr.take()
	// Outside the window: dropped silently.
	p.server.Input(&Segment{Seq: rcvNxt.Add(1 << 30), Flags: FlagRST}, p.now)
	assert.Empty(t, p.sr.sent)
	// Exact: reset.
	p.server.Input(&Segment{Seq: rcvNxt, Flags: FlagRST}, p.now)
	assert.Equal(t, StateClosed, p.server.State())
	assert.ErrorIs(t, p.server.Err(), ErrConnectionReset)
	_, err := p.server.Write([]byte("x"), p.now)
	assert.ErrorIs(t, err, ErrConnectionReset)
}

func TestSYNInEstablishedDrawsChallengeACK(t *testing.T) {
	p := handshake(t, 1, 1000)
	p.server.Input(&Segment{Seq: p.server.rcv.nxt, Flags: FlagSYN}, p.now)
	require.Len(t, p.sr.sent, 1)
	assert.Equal(t, FlagACK, p.sr.sent[0].Flags)
	assert.Equal(t, StateEstablished, p.server.State())
}

func TestRetransmitLostSegment(t *testing.T) {
	p := handshake(t, 1, 2)
	dropped := 0
	p.drop = func(from *Conn, seg *Segment) bool {
		if from == p.client && len(seg.Payload) > 0 && dropped == 0 {
			dropped++
			return true
		}
		return false
	}
	data := pattern(100_000)
	got := p.transfer(p.client, p.server, data)
	assert.Equal(t, data, got)
	assert.Equal(t, 1, dropped)
	assert.NotZero(t, p.client.Stats.Retransmits)
}

func TestRetransmitSYNWithBackoff(t *testing.T) {
	cr := &recorder{}
	c := Dial(testConfig(100), cr, ID{Local: clientAP, Remote: serverAP}, t0)
	now := t0
	var gaps []time.Duration
	for c.State() == StateSynSent {
		d := c.NextDeadline()
		require.False(t, d.IsZero())
		gaps = append(gaps, d.Sub(now))
		now = d
		c.OnTimer(now)
	}
	// Seven retransmissions, the last timeout capped at MaxRTO (120 s).
	assert.Equal(t, []time.Duration{1, 2, 4, 8, 16, 32, 64, 120}, scale(gaps, time.Second))
	assert.Len(t, cr.sent, 1+DefaultSYNRetries)
	assert.ErrorIs(t, c.Err(), ErrTimeout)
	// MUST-23: R2 for a SYN is at least 3 minutes.
	assert.GreaterOrEqual(t, now.Sub(t0), 3*time.Minute)
}

func scale(ds []time.Duration, unit time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d / unit
	}
	return out
}

func TestZeroWindowThenReaderDrains(t *testing.T) {
	p := handshake(t, 1, 2)
	data := pattern(100_000) // more than the 64 KiB receive buffer
	n, err := p.client.Write(data, p.now)
	require.NoError(t, err)
	p.run()
	// Delayed ACKs and Nagle's algorithm take a few timer rounds to send
	// the last small piece and report the closed window.
	for i := 0; i < 5 && p.client.snd.wnd != 0; i++ {
		require.True(t, p.advance())
	}
	require.Equal(t, uint32(0), p.client.snd.wnd, "the server's window closed")
	m, err := p.client.Write(data[n:], p.now)
	require.NoError(t, err)
	require.Equal(t, len(data), n+m)

	// Nobody reads for a while: the client probes, backing off, and never
	// gives up (MUST-36, MUST-37).
	sent := p.client.Stats.SegmentsSent
	start := p.now
	var gaps []time.Duration
	for i := 0; i < 6; i++ {
		before := p.now
		require.True(t, p.advance())
		gaps = append(gaps, p.now.Sub(before))
	}
	assert.Equal(t, sent+6, p.client.Stats.SegmentsSent, "one probe per expiry")
	for i := 1; i < len(gaps); i++ {
		assert.Equal(t, 2*gaps[i-1], gaps[i], "probe intervals double")
	}
	assert.Greater(t, p.now.Sub(start), 10*time.Second)
	assert.Equal(t, StateEstablished, p.client.State())

	got := make([]byte, 0, len(data))
	buf := make([]byte, 8192)
	for steps := 0; len(got) < len(data); steps++ {
		require.Less(t, steps, 10000)
		k := p.server.Read(buf, p.now)
		got = append(got, buf[:k]...)
		p.run()
		if k == 0 && p.server.Readable() == 0 {
			require.True(t, p.advance())
		}
	}
	assert.Equal(t, data, got)
}

func TestDataAfterCloseReadResets(t *testing.T) {
	p := handshake(t, 1, 2)
	p.server.Close(p.now)
	p.server.CloseRead(p.now)
	p.run()
	_, err := p.client.Write([]byte("late"), p.now)
	require.NoError(t, err)
	p.run()
	assert.Equal(t, StateClosed, p.client.State())
	assert.ErrorIs(t, p.client.Err(), ErrConnectionReset)
}

func TestWindowUpdateOnlyWhenItMatters(t *testing.T) {
	p := handshake(t, 1, 2)
	_, err := p.client.Write(pattern(100), p.now)
	require.NoError(t, err)
	p.run()
	sent := p.server.Stats.SegmentsSent
	p.server.Read(make([]byte, 100), p.now)
	assert.Equal(t, sent, p.server.Stats.SegmentsSent, "a wide-open window needs no update after a small read")

	// Fill the window, then read: now the update is due.
	_, err = p.client.Write(pattern(70_000), p.now)
	require.NoError(t, err)
	p.run()
	if p.server.ackPending > 0 {
		require.True(t, p.advance()) // the delayed ACK
	}
	require.Less(t, p.client.snd.wnd, uint32(DefaultMSS), "the window is (nearly) closed")
	sent = p.server.Stats.SegmentsSent
	p.server.Read(make([]byte, 32<<10), p.now)
	assert.Equal(t, sent+1, p.server.Stats.SegmentsSent, "reading opened a closed window: one update")
}

// TestNagleHoldsSmallSegments: with data in flight a small segment waits
// for the ACK (RFC 9293 §3.7.4, SHLD-7) unless Nagle is off (MUST-17).
func TestNagleHoldsSmallSegments(t *testing.T) {
	for _, noDelay := range []bool{false, true} {
		t.Run(fmt.Sprintf("nodelay=%v", noDelay), func(t *testing.T) {
			p := handshake(t, 1, 2)
			p.client.SetNoDelay(noDelay, p.now)
			_, err := p.client.Write([]byte("first"), p.now)
			require.NoError(t, err)
			_, err = p.client.Write([]byte("second"), p.now)
			require.NoError(t, err)
			sent := p.cr.take()
			if noDelay {
				require.Len(t, sent, 2, "both small segments go at once")
				return
			}
			require.Len(t, sent, 1, "the second waits for the first to be acknowledged")
			p.server.Input(&sent[0], p.now)
			require.True(t, p.advance()) // the server's delayed ACK
			assert.Equal(t, []byte("second"), p.server.recvBuf.buf[5:11])
		})
	}
}

func TestSetNoDelayFlushesWhatNagleHeld(t *testing.T) {
	p := handshake(t, 1, 2)
	_, err := p.client.Write([]byte("first"), p.now)
	require.NoError(t, err)
	_, err = p.client.Write([]byte("second"), p.now)
	require.NoError(t, err)
	require.Len(t, p.cr.take(), 1)
	p.client.SetNoDelay(true, p.now)
	sent := p.cr.take()
	require.Len(t, sent, 1)
	assert.Equal(t, "second", string(sent[0].Payload))
}

// TestAckFarBelowWindowIsChallenged: an ACK older than SND.UNA minus the
// largest window the peer offered is a blind injection attempt; it draws a
// challenge ACK and its data is dropped (RFC 5961 §5.2, MAY-12).
func TestAckFarBelowWindowIsChallenged(t *testing.T) {
	p := handshake(t, 1, 2)
	una := p.server.snd.una
	bad := Segment{Seq: p.server.rcv.nxt, Ack: una.Add(^uint32(0) - p.server.snd.maxWnd - 10), Flags: FlagACK | FlagPSH,
		Window: 1000, Payload: []byte("injected")}
	p.server.Input(&bad, p.now)
	require.Len(t, p.sr.sent, 1)
	assert.Equal(t, FlagACK, p.sr.sent[0].Flags)
	assert.Zero(t, p.server.Readable(), "the data is dropped")
	ok := bad
	ok.Ack = una
	p.sr.take()
	p.server.Input(&ok, p.now)
	assert.Equal(t, len("injected"), p.server.Readable(), "with an acceptable ACK it is taken")
}

// TestSenderSWSAvoidance follows RFC 9293 §3.8.6.2.1 (MUST-38) against a
// peer whose largest window (1500) is under two segments (MSS 1000): a
// window-limited piece waits while data is in flight unless it is at least
// half that window.
func TestSenderSWSAvoidance(t *testing.T) {
	r := &recorder{}
	c := Dial(testConfig(0), r, ID{Local: clientAP, Remote: serverAP}, t0)
	synack := Segment{Seq: 5000, Ack: 1, Flags: FlagSYN | FlagACK, Window: 1500}
	synack.Options.MSS = 1000
	c.Input(&synack, t0)
	require.Equal(t, StateEstablished, c.State())
	r.take()
	_, err := c.Write(pattern(5000), t0)
	require.NoError(t, err)
	sent := r.take()
	require.Len(t, sent, 1, "a full segment; the 500 bytes left in the window wait")
	assert.Len(t, sent[0].Payload, 1000)

	ack := func(n uint32) []Segment {
		c.Input(&Segment{Seq: 5001, Ack: Seq(1 + n), Flags: FlagACK, Window: 1500}, t0)
		return r.take()
	}
	// 200 acknowledged: 700 usable, under half the largest window.
	assert.Empty(t, ack(200))
	// 300 acknowledged: 800 usable, at least half of it: sent.
	sent = ack(300)
	require.Len(t, sent, 1)
	assert.Len(t, sent[0].Payload, 800)
	// Everything acknowledged, nothing in flight: a full segment again.
	sent = ack(1800)
	require.NotEmpty(t, sent)
	assert.Len(t, sent[0].Payload, 1000)
}

// TestChallengeACKsAreRateLimited: a burst of in-window RSTs and SYNs draws
// one challenge ACK per ChallengeACKInterval, and the connection survives
// them all (RFC 5961 §7).
func TestChallengeACKsAreRateLimited(t *testing.T) {
	p := handshake(t, 1, 2)
	c := p.server
	p.sr.take()
	for i := 0; i < 10; i++ {
		rst := Segment{Seq: c.rcv.nxt.Add(100 + uint32(i)), Flags: FlagRST}
		c.Input(&rst, p.now)
		syn := Segment{Seq: c.rcv.nxt.Add(7), Flags: FlagSYN}
		c.Input(&syn, p.now)
	}
	assert.Len(t, p.sr.take(), 1, "one challenge ACK within the interval")
	assert.Equal(t, uint64(19), c.Stats.ChallengeACKsSkipped)
	p.now = p.now.Add(DefaultChallengeACKInterval)
	rst := Segment{Seq: c.rcv.nxt.Add(100), Flags: FlagRST}
	c.Input(&rst, p.now)
	sent := p.sr.take()
	require.Len(t, sent, 1, "the next interval allows another")
	assert.Equal(t, FlagACK, sent[0].Flags)
	assert.Equal(t, StateEstablished, c.State())
	assert.Equal(t, uint64(2), c.Stats.ChallengeACKs)
}

// TestRSTWithDataResets: a RST may carry text (SHLD-2); it resets the
// connection all the same, and the text is kept for the application, not
// delivered as data.
func TestRSTWithDataResets(t *testing.T) {
	p := handshake(t, 1, 2)
	c := p.server
	rst := Segment{Seq: c.rcv.nxt, Flags: FlagRST, Payload: []byte("shutting down\n")}
	c.Input(&rst, p.now)
	assert.Equal(t, StateClosed, c.State())
	assert.ErrorIs(t, c.Err(), ErrConnectionReset)
	assert.Equal(t, "shutting down.", c.Info().ResetText)
	assert.Zero(t, c.Readable())
}

// TestTimeWaitNewIncarnation applies RFC 6191's rules to SYNs arriving in
// TIME-WAIT (SHLD-4, MAY-2).
func TestTimeWaitNewIncarnation(t *testing.T) {
	c := &Conn{state: StateTimeWait}
	c.rcv.nxt = 1000
	syn := func(seq Seq, ts bool, tsval uint32) *Segment {
		s := &Segment{Seq: seq, Flags: FlagSYN}
		s.Options.HasTimestamps, s.Options.TSVal = ts, tsval
		return s
	}
	// Without timestamps: only the sequence number counts.
	assert.True(t, c.AcceptsNewIncarnation(syn(1001, false, 0)))
	assert.False(t, c.AcceptsNewIncarnation(syn(1000, false, 0)))
	assert.False(t, c.AcceptsNewIncarnation(syn(5, true, 99)), "the old connection had no timestamps")
	// With timestamps on both: a newer TSval wins whatever the sequence
	// number; an equal one needs a higher sequence number.
	c.tsOK, c.tsRecent = true, 500
	assert.True(t, c.AcceptsNewIncarnation(syn(5, true, 501)))
	assert.True(t, c.AcceptsNewIncarnation(syn(1001, true, 500)))
	assert.False(t, c.AcceptsNewIncarnation(syn(5, true, 500)))
	assert.False(t, c.AcceptsNewIncarnation(syn(5000, true, 499)), "an older timestamp is an old duplicate")
	assert.True(t, c.AcceptsNewIncarnation(syn(5000, false, 0)), "a SYN without timestamps falls back to the sequence number")
	// Not a bare SYN, or not TIME-WAIT: no.
	s := syn(5000, false, 0)
	s.Flags |= FlagACK
	assert.False(t, c.AcceptsNewIncarnation(s))
	c.state = StateEstablished
	assert.False(t, c.AcceptsNewIncarnation(syn(5000, false, 0)))
}

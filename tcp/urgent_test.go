package tcp

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Urgent data (RFC 9293 §3.8.5, urgent.go): the pointer on the wire, the
// receiver's RCV.UP and what the application hears of it.

// urgentRecorder is a recorder that also hears of urgent data (MUST-32):
// it keeps what Urgent said at each notice.
type urgentRecorder struct {
	*recorder
	notices []int
}

func (u *urgentRecorder) UrgentArrived(c *Conn) {
	pending, n := c.Urgent()
	if !pending {
		n = -1 // told of urgent data that is not pending: a bug
	}
	u.notices = append(u.notices, n)
}

// urgentPair is handshake with hooks that hear of urgent data.
func urgentPair(t *testing.T, clientISN, serverISN Seq) (p *pair, client, server *urgentRecorder) {
	t.Helper()
	p = &pair{t: t, now: t0, cr: &recorder{}, sr: &recorder{}}
	client, server = &urgentRecorder{recorder: p.cr}, &urgentRecorder{recorder: p.sr}
	p.client = Dial(testConfig(clientISN), client, ID{Local: clientAP, Remote: serverAP}, p.now)
	p.server = Listen(testConfig(serverISN), server, ID{Local: serverAP, Remote: clientAP})
	p.run()
	require.Equal(t, StateEstablished, p.client.State())
	require.Equal(t, StateEstablished, p.server.State())
	return p, client, server
}

// fromPeer builds a segment from the client to the server at RCV.NXT plus
// off, acknowledging everything the server sent.
func fromPeer(p *pair, off uint32, flags Flags, up uint16, payload []byte) *Segment {
	return &Segment{Seq: p.server.rcv.nxt.Add(off), Ack: p.server.snd.nxt, Flags: flags | FlagACK,
		Window: 65535, Urgent: up, Payload: payload}
}

// TestUrgentPointerPointsPastTheUrgentData: the segments carrying urgent
// data have URG set and SEG.UP = SND.UP - SEG.SEQ, the offset of the first
// octet after the urgent data (MUST-62), also across the wrap of the
// sequence space; data written after it carries no URG.
func TestUrgentPointerPointsPastTheUrgentData(t *testing.T) {
	for _, isn := range []Seq{1000, 0xffffffff - 1} {
		t.Run(fmt.Sprintf("iss=%d", isn), func(t *testing.T) {
			p := handshake(t, isn, 5000)
			n, err := p.client.WriteUrgent([]byte("abc"), p.now)
			require.NoError(t, err)
			require.Equal(t, 3, n)
			_, err = p.client.Write([]byte("defg"), p.now)
			require.NoError(t, err)
			sent := p.cr.take()
			require.Len(t, sent, 2, "urgent mode holds nothing back for Nagle's algorithm")
			assert.Equal(t, FlagACK|FlagPSH|FlagURG, sent[0].Flags)
			assert.Equal(t, uint16(3), sent[0].Urgent, "SEG.SEQ+SEG.UP is the first non-urgent octet (MUST-62)")
			assert.Equal(t, isn.Add(4), sent[0].Seq.Add(uint32(sent[0].Urgent)))
			assert.Equal(t, FlagACK|FlagPSH, sent[1].Flags, "the segment starting at SND.UP carries no URG")
			assert.Equal(t, isn.Add(4), p.client.Info().SndUP)
		})
	}
}

// TestUrgentPointerOnEverySegmentUntilAcknowledged: urgent data longer
// than a segment (MUST-31): every segment before SND.UP points to it, a
// pure ACK sent while urgent data waits for the window included, and once
// the peer has acknowledged it no segment carries URG.
func TestUrgentPointerOnEverySegmentUntilAcknowledged(t *testing.T) {
	sr := &recorder{}
	server := Listen(testConfig(100), sr, ID{Local: serverAP, Remote: clientAP})
	server.Input(&Segment{Seq: 1, Flags: FlagSYN, Window: 600}, t0) // no MSS option: 536
	server.Input(&Segment{Seq: 2, Ack: 101, Flags: FlagACK, Window: 600}, t0)
	require.Equal(t, StateEstablished, server.State())
	sr.take()

	_, err := server.WriteUrgent(pattern(1000), t0)
	require.NoError(t, err)
	sent := sr.take()
	require.Len(t, sent, 1, "the peer's window takes one segment")
	assert.Equal(t, FlagACK|FlagURG, sent[0].Flags)
	assert.Equal(t, 536, len(sent[0].Payload))
	assert.Equal(t, uint16(1000), sent[0].Urgent, "the pointer lies beyond this segment")

	// Data from the peer, acknowledging nothing: the ACK that answers it
	// carries the pointer too.
	server.Input(&Segment{Seq: 2, Ack: 101, Flags: FlagACK | FlagPSH, Window: 600, Payload: []byte("x")}, t0)
	server.OnTimer(t0.Add(DefaultDelayedACK))
	acks := sr.take()
	require.Len(t, acks, 1)
	assert.Equal(t, FlagACK|FlagURG, acks[0].Flags)
	assert.Empty(t, acks[0].Payload)
	assert.Equal(t, uint16(1000-536), acks[0].Urgent, "a pure ACK at SND.NXT points to SND.UP")

	// The window opens: the rest of the urgent data.
	server.Input(&Segment{Seq: 3, Ack: 637, Flags: FlagACK, Window: 1000}, t0)
	sent = sr.take()
	require.Len(t, sent, 1)
	assert.Equal(t, FlagACK|FlagPSH|FlagURG, sent[0].Flags)
	assert.Equal(t, uint16(1000-536), sent[0].Urgent)

	// Everything acknowledged: urgent mode is over.
	server.Input(&Segment{Seq: 3, Ack: 1101, Flags: FlagACK, Window: 1000}, t0)
	_, err = server.Write([]byte("normal"), t0)
	require.NoError(t, err)
	sent = sr.take()
	require.Len(t, sent, 1)
	assert.Equal(t, FlagACK|FlagPSH, sent[0].Flags)
	assert.Zero(t, sent[0].Urgent)
}

// TestUrgentDataLongerThanThePointerField sends 200,000 octets of urgent
// data, three times what the 16-bit field reaches (MUST-31): segments
// more than 64 KiB before SND.UP carry 0xffff, as Linux sends, the rest
// the exact offset; the receiver stays in urgent mode, hearing of each
// advance (MUST-32), until it has read the last urgent octet, and reads
// every byte inline.
func TestUrgentDataLongerThanThePointerField(t *testing.T) {
	p, _, server := urgentPair(t, 1, 2)
	p.client.sendBuf = newRing(256 << 10) // all of it queued at once; the receiver's 64 KiB window still takes several flights
	data := pattern(200_000)
	clamped, exact := 0, 0
	p.drop = func(from *Conn, seg *Segment) bool {
		if from != p.client || len(seg.Payload) == 0 {
			return false
		}
		require.True(t, seg.Flags.Has(FlagURG), "every segment of urgent data carries URG")
		if ahead := p.client.snd.up.Sub(seg.Seq); ahead > 0xffff {
			require.Equal(t, uint16(0xffff), seg.Urgent, "SND.UP out of reach: the field points as far as it can")
			clamped++
		} else {
			require.Equal(t, uint16(ahead), seg.Urgent)
			exact++
		}
		return false
	}
	var got []byte
	buf := make([]byte, 8192)
	written := 0
	for steps := 0; len(got) < len(data); steps++ {
		require.Less(t, steps, 10000, "stalled at %d bytes", len(got))
		if written < len(data) {
			n, err := p.client.WriteUrgent(data[written:], p.now)
			require.NoError(t, err)
			written += n
		}
		p.run()
		for {
			pending, n := p.server.Urgent()
			require.True(t, pending, "urgent mode until the last urgent octet is read (read %d)", len(got))
			require.Positive(t, n)
			k := p.server.Read(buf[:min(len(buf), n)], p.now)
			if k == 0 {
				break
			}
			got = append(got, buf[:k]...)
			if len(got) == len(data) {
				break
			}
		}
		p.run()
		if p.server.Readable() == 0 && written == len(data) && len(got) < len(data) {
			require.True(t, p.advance())
		}
	}
	assert.Equal(t, data, got, "urgent data is read inline, every byte in order")
	pending, n := p.server.Urgent()
	assert.False(t, pending, "normal mode once the reader reached RCV.UP")
	assert.Zero(t, n)
	assert.Greater(t, clamped, 40)
	assert.Greater(t, exact, 40)
	assert.Greater(t, len(server.notices), 2, "each advance of the pointer is told (MUST-32)")
	assert.NotContains(t, server.notices, -1)
}

// TestUrgentReceivePointer walks RCV.UP <- max(RCV.UP, SEG.SEQ+SEG.UP)
// (RFC 9293 §3.10.7.4, sixth step) and what Urgent reports (MUST-33): how
// much of the stream, from the read position, is urgent.
func TestUrgentReceivePointer(t *testing.T) {
	p, _, server := urgentPair(t, 1, 2)
	pending, _ := p.server.Urgent()
	require.False(t, pending)

	// 10 octets, the first 4 urgent.
	p.server.Input(fromPeer(p, 0, FlagPSH|FlagURG, 4, pattern(10)), p.now)
	pending, n := p.server.Urgent()
	assert.True(t, pending)
	assert.Equal(t, 4, n)
	assert.Equal(t, []int{4}, server.notices, "told at once (MUST-32)")
	assert.Equal(t, 10, p.server.Readable(), "the urgent octets stay in the stream")

	// The same segment again: RCV.UP does not move, nothing more is told.
	p.server.Input(fromPeer(p, ^uint32(9), FlagPSH|FlagURG, 4, pattern(10)), p.now)
	assert.Equal(t, []int{4}, server.notices)

	buf := make([]byte, 3)
	require.Equal(t, 3, p.server.Read(buf, p.now))
	_, n = p.server.Urgent()
	assert.Equal(t, 1, n, "n counts from the read position")
	require.Equal(t, 3, p.server.Read(buf, p.now))
	pending, n = p.server.Urgent()
	assert.False(t, pending, "read past RCV.UP: normal mode")
	assert.Zero(t, n)

	// A pointer beyond the data that came with it (urgent data longer than
	// the segment, MUST-31): 4 octets unread, the segment's 5, and 20 more.
	p.server.Input(fromPeer(p, 0, FlagPSH|FlagURG, 25, pattern(5)), p.now)
	pending, n = p.server.Urgent()
	assert.True(t, pending)
	assert.Equal(t, 4+25, n)
	assert.Equal(t, 9, p.server.Readable())

	// A segment beyond a gap can move the pointer too; the URG of a
	// segment whose pointer lies behind RCV.UP cannot.
	p.server.Input(fromPeer(p, 100, FlagPSH|FlagURG, 1, pattern(5)), p.now)
	_, n = p.server.Urgent()
	assert.Equal(t, 4+5+100+1, n)
	p.server.Input(fromPeer(p, 0, FlagPSH|FlagURG, 1, pattern(5)), p.now)
	_, n = p.server.Urgent()
	assert.Equal(t, 4+5+100+1, n)
	assert.Equal(t, []int{4, 29, 110}, server.notices)
	assert.Equal(t, p.server.rcv.up, p.server.Info().RcvUP)
}

// TestUrgentIgnoredAfterFIN: "CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT:
// This should not occur since a FIN has been received from the remote
// side. Ignore the URG." (RFC 9293 §3.10.7.4, sixth step)
func TestUrgentIgnoredAfterFIN(t *testing.T) {
	p, _, server := urgentPair(t, 1, 2)
	p.server.Input(fromPeer(p, 0, FlagFIN, 0, nil), p.now)
	require.Equal(t, StateCloseWait, p.server.State())
	p.server.Input(fromPeer(p, 0, FlagURG, 10, nil), p.now)
	pending, _ := p.server.Urgent()
	assert.False(t, pending)
	assert.Empty(t, server.notices)
}

// TestUrgentInZeroWindow: with the receive window closed, the URG of a
// segment at RCV.NXT is still processed (MUST-66), whether the segment is
// a bare ACK or brings text that does not fit; the text is refused and
// acknowledged, and the pointer counts the octets not yet received.
func TestUrgentInZeroWindow(t *testing.T) {
	p, _, server := urgentPair(t, 1, 2)
	buffered := 0
	for p.server.recvBuf.Free() > 0 {
		k := min(1000, p.server.recvBuf.Free())
		p.server.Input(fromPeer(p, 0, FlagPSH, 0, pattern(k)), p.now)
		buffered += k
	}
	p.sr.take()
	require.Zero(t, p.server.Info().RcvWND)

	p.server.Input(fromPeer(p, 0, FlagURG, 3, nil), p.now)
	pending, n := p.server.Urgent()
	require.True(t, pending, "a bare URG at RCV.NXT is acceptable with a zero window")
	assert.Equal(t, buffered+3, n)
	assert.Empty(t, p.sr.take(), "an acceptable bare ACK draws no answer")

	p.server.Input(fromPeer(p, 0, FlagPSH|FlagURG, 7, pattern(10)), p.now)
	_, n = p.server.Urgent()
	assert.Equal(t, buffered+7, n, "the URG of a segment whose text does not fit is processed too")
	ack := p.sr.take()
	require.Len(t, ack, 1, "the refused text is acknowledged")
	assert.Equal(t, p.server.rcv.nxt, ack[0].Ack)
	assert.Zero(t, ack[0].Window)
	assert.Equal(t, buffered, p.server.Readable(), "and not taken")
	assert.Equal(t, []int{buffered + 3, buffered + 7}, server.notices)
}

// TestUrgentZeroWindowProbe: the sender facing a zero window precedes its
// window probe with an ACK at SND.UNA, which the receiver accepts, so the
// pointer gets through (as Linux's tcp_write_wakeup does).
func TestUrgentZeroWindowProbe(t *testing.T) {
	p := handshake(t, 1, 2)
	p.client.Input(&Segment{Seq: p.client.rcv.nxt, Ack: p.client.snd.nxt, Flags: FlagACK, Window: 0}, p.now)
	_, err := p.client.WriteUrgent([]byte("interrupt"), p.now)
	require.NoError(t, err)
	require.Empty(t, p.cr.take(), "nothing fits in a zero window")
	p.now = p.client.NextDeadline()
	p.client.OnTimer(p.now)
	probes := p.cr.take()
	require.Len(t, probes, 2)
	una := p.client.snd.una
	assert.Equal(t, una, probes[0].Seq, "first an ACK at SND.UNA, inside a zero window")
	assert.Equal(t, FlagACK|FlagURG, probes[0].Flags)
	assert.Equal(t, uint16(9), probes[0].Urgent)
	assert.Empty(t, probes[0].Payload)
	assert.Equal(t, una.Add(^uint32(0)), probes[1].Seq, "then the probe itself")
	assert.Equal(t, FlagACK|FlagURG, probes[1].Flags)
	assert.Equal(t, uint16(10), probes[1].Urgent)

	// The receiver (the server, its window in fact open) learns of the
	// urgent data from the first.
	p.server.Input(&probes[0], p.now)
	pending, n := p.server.Urgent()
	assert.True(t, pending)
	assert.Equal(t, 9, n)
}

// TestUrgentRetransmissionKeepsThePointer: a lost urgent segment is sent
// again with its URG.
func TestUrgentRetransmissionKeepsThePointer(t *testing.T) {
	p, _, server := urgentPair(t, 1, 2)
	lost := 0
	p.drop = func(from *Conn, seg *Segment) bool {
		if from == p.client && len(seg.Payload) > 0 && lost == 0 {
			lost++
			return true
		}
		return false
	}
	_, err := p.client.WriteUrgent([]byte("!"), p.now)
	require.NoError(t, err)
	p.run()
	require.Empty(t, server.notices)
	require.True(t, p.advance())
	assert.Equal(t, uint64(1), p.client.Stats.Retransmits)
	assert.Equal(t, []int{1}, server.notices)
	got := make([]byte, 1)
	require.Equal(t, 1, p.server.Read(got, p.now))
	assert.Equal(t, "!", string(got))
}

// TestUrgentWithoutNotifier: hooks that do not implement UrgentNotifier
// still get Urgent.
func TestUrgentWithoutNotifier(t *testing.T) {
	p := handshake(t, 1, 2)
	_, err := p.client.WriteUrgent([]byte("ab"), p.now)
	require.NoError(t, err)
	p.run()
	pending, n := p.server.Urgent()
	assert.True(t, pending)
	assert.Equal(t, 2, n)
}

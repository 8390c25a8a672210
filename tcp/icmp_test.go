package tcp

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ICMP errors for a connection (RFC 9293 §3.9.2.2), in virtual time.

// softKinds are the kinds a synchronized connection keeps as soft errors,
// with the error the application hears: every one of them (MUST-56; the
// protocol and port unreachables of SHLD-26 as RFC 5927 notes).
var softKinds = []struct {
	name string
	kind ICMPKind
	want error
}{
	{"net unreachable", ICMPNetUnreachable, ErrNetUnreachable},
	{"host unreachable", ICMPHostUnreachable, ErrHostUnreachable},
	{"source route failed", ICMPSourceRouteFailed, ErrSourceRouteFailed},
	{"time exceeded", ICMPTimeExceeded, ErrTimeExceeded},
	{"parameter problem", ICMPParameterProblem, ErrParameterProblem},
	{"protocol unreachable", ICMPProtocolUnreachable, ErrProtocolUnreachable},
	{"port unreachable", ICMPPortUnreachable, ErrConnectionRefused},
}

// inFlight has the client of an established pair write n bytes that never
// arrive, and returns the sequence number of the first.
func inFlight(t *testing.T, p *pair, n int) Seq {
	t.Helper()
	p.drop = func(from *Conn, _ *Segment) bool { return from == p.client }
	first := p.client.snd.nxt
	_, err := p.client.Write(pattern(n), p.now)
	require.NoError(t, err)
	p.run()
	require.Equal(t, first.Add(uint32(n)), p.client.snd.max)
	return first
}

// TestICMPSoftErrorNeverAbortsAndIsReportedOnTimeout: on an established
// connection an ICMP error is kept and reported, never an abort (MUST-56,
// SHLD-25); when the connection later times out, its error is the soft
// error, as Linux reports EHOSTUNREACH instead of ETIMEDOUT.
func TestICMPSoftErrorNeverAbortsAndIsReportedOnTimeout(t *testing.T) {
	for _, tt := range softKinds {
		t.Run(tt.name, func(t *testing.T) {
			p := handshake(t, 1, 2)
			seq := inFlight(t, p, 100)
			sent := p.client.Stats.SegmentsSent
			assert.Equal(t, ICMPSoftError, p.client.ICMPError(tt.kind, seq, p.now))
			assert.Equal(t, StateEstablished, p.client.State(), "MUST-56: no abort")
			assert.NoError(t, p.client.Err())
			assert.Equal(t, sent, p.client.Stats.SegmentsSent, "nothing sent in answer")
			assert.Equal(t, tt.want, p.client.SoftError())
			assert.Equal(t, tt.want, p.client.Info().SoftErr, "visible to the application (SHLD-25)")

			for p.client.State() != StateClosed {
				require.True(t, p.advance(), "the connection gives up in the end")
			}
			assert.ErrorIs(t, p.client.Err(), tt.want, "the timeout reports the soft error")
			assert.ErrorIs(t, p.client.Err(), ErrTimeout, "and is still a timeout")
		})
	}
}

// TestICMPSoftErrorClearedByProgress: once new data is acknowledged the
// path works, and the soft error is forgotten; a later timeout is a plain
// timeout.
func TestICMPSoftErrorClearedByProgress(t *testing.T) {
	p := handshake(t, 1, 2)
	seq := inFlight(t, p, 100)
	require.Equal(t, ICMPSoftError, p.client.ICMPError(ICMPHostUnreachable, seq, p.now))
	p.drop = nil
	for p.client.snd.una != p.client.snd.max {
		require.True(t, p.advance()) // the retransmission gets through
	}
	assert.NoError(t, p.client.SoftError())

	inFlight(t, p, 100)
	for p.client.State() != StateClosed {
		require.True(t, p.advance())
	}
	assert.Equal(t, ErrTimeout, p.client.Err())
}

// TestICMPErrorsAbortAnOpeningConnection: in SYN-SENT every unreachable,
// time exceeded and parameter problem ends the open at once with its error
// (RFC 5461, as in Linux), ECONNREFUSED for a port unreachable (SHLD-26).
func TestICMPErrorsAbortAnOpeningConnection(t *testing.T) {
	for _, tt := range softKinds {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{}
			c := Dial(testConfig(100), r, ID{Local: clientAP, Remote: serverAP}, t0)
			r.take()
			assert.Equal(t, ICMPAborted, c.ICMPError(tt.kind, 100, t0), "quoting our SYN")
			assert.Equal(t, StateClosed, c.State())
			assert.Equal(t, tt.want, c.Err())
			assert.Empty(t, r.take(), "no reset for an error from the network")
			assert.Zero(t, c.NextDeadline(), "no more SYNs")
		})
	}
}

// TestICMPErrorInSynReceived: an active open in SYN-RECEIVED (simultaneous
// open) fails with the error; a passive one is dropped without a word, as
// Linux drops its request sock.
func TestICMPErrorInSynReceived(t *testing.T) {
	ar, br := &recorder{}, &recorder{}
	a := Dial(testConfig(100), ar, ID{Local: clientAP, Remote: serverAP}, t0)
	Dial(testConfig(300), br, ID{Local: serverAP, Remote: clientAP}, t0)
	synB := br.take()
	a.Input(&synB[0], t0)
	require.Equal(t, StateSynReceived, a.State())
	assert.Equal(t, ICMPAborted, a.ICMPError(ICMPPortUnreachable, 100, t0))
	assert.Equal(t, ErrConnectionRefused, a.Err())

	sr := &recorder{}
	server := Listen(testConfig(300), sr, ID{Local: serverAP, Remote: clientAP})
	synA := ar.sent[0]
	server.Input(&synA, t0)
	require.Equal(t, StateSynReceived, server.State())
	sr.take()
	assert.Equal(t, ICMPAborted, server.ICMPError(ICMPHostUnreachable, 300, t0))
	assert.Equal(t, StateClosed, server.State())
	assert.Equal(t, []string{"LISTEN -> SYN-RECEIVED", "SYN-RECEIVED -> CLOSED"}, sr.states)
	assert.Empty(t, sr.take())
}

// TestICMPSourceQuenchIsDiscarded: MUST-55, in every state; before RFC 6633
// a quench shrank the congestion window.
func TestICMPSourceQuenchIsDiscarded(t *testing.T) {
	r := &recorder{}
	c := Dial(testConfig(100), r, ID{Local: clientAP, Remote: serverAP}, t0)
	assert.Equal(t, ICMPDiscarded, c.ICMPError(ICMPSourceQuench, 100, t0))
	assert.Equal(t, StateSynSent, c.State())

	p := handshake(t, 1, 2)
	seq := inFlight(t, p, 100)
	before := p.client.Info()
	assert.Equal(t, ICMPDiscarded, p.client.ICMPError(ICMPSourceQuench, seq, p.now))
	after := p.client.Info()
	assert.Equal(t, before.CWND, after.CWND, "the congestion window is untouched")
	assert.Equal(t, before.Stats, after.Stats, "nothing sent")
	assert.NoError(t, after.SoftErr)
}

// TestICMPErrorOutsideTheFlightIsIgnored: the quoted sequence number must
// be in SND.UNA =< SEG.SEQ < SND.MAX (RFC 5927 §4.1), so a blind attacker
// has to guess it, and an idle connection takes no error at all.
func TestICMPErrorOutsideTheFlightIsIgnored(t *testing.T) {
	r := &recorder{}
	c := Dial(testConfig(100), r, ID{Local: clientAP, Remote: serverAP}, t0)
	for _, seq := range []Seq{99, 101, 100 + 1<<31} {
		assert.Equal(t, ICMPOutOfWindow, c.ICMPError(ICMPPortUnreachable, seq, t0), "seq %d", seq)
	}
	assert.Equal(t, StateSynSent, c.State())

	p := handshake(t, 0xfffffff0, 2) // the flight straddles the wrap
	idle := p.client.snd.nxt
	assert.Equal(t, ICMPOutOfWindow, p.client.ICMPError(ICMPHostUnreachable, idle, p.now), "nothing in flight")
	assert.Equal(t, ICMPOutOfWindow, p.client.PathMTU(1000, idle, p.now))
	seq := inFlight(t, p, 100)
	for _, bad := range []Seq{seq.Add(^uint32(0)), seq.Add(100), seq.Add(1 << 20)} {
		assert.Equal(t, ICMPOutOfWindow, p.client.ICMPError(ICMPHostUnreachable, bad, p.now))
		assert.Equal(t, ICMPOutOfWindow, p.client.PathMTU(1000, bad, p.now))
	}
	assert.NoError(t, p.client.SoftError())
	assert.Equal(t, DefaultMSS, p.client.SendMSS())
	assert.Equal(t, ICMPSoftError, p.client.ICMPError(ICMPHostUnreachable, seq.Add(99), p.now), "the last byte in flight")
}

// TestPathMTULowersMSSAndResends: "fragmentation needed" with a next-hop
// MTU lowers the effective send MSS (MUST-16, RFC 1191) and the flight is
// sent again at once in segments that fit; a second message for the same
// burst resends nothing, a higher MTU is ignored, and the data all arrives.
func TestPathMTULowersMSSAndResends(t *testing.T) {
	p := handshake(t, 1, 2)
	data := pattern(5000)
	seq := p.client.snd.nxt
	_, err := p.client.Write(data, p.now)
	require.NoError(t, err)
	lost := p.cr.take() // every one of them too big for the path
	require.NotEmpty(t, lost)
	require.Greater(t, len(lost[0].Payload), 1000-40-12)

	assert.Equal(t, ICMPPathMTULowered, p.client.PathMTU(1000, lost[1].Seq, p.now))
	info := p.client.Info()
	assert.Equal(t, 1000, info.PathMTU)
	assert.Equal(t, 960, info.SendMSS, "MMS_S - TCP header (RFC 9293 §3.7.1)")
	resent := p.cr.take()
	require.NotEmpty(t, resent)
	assert.Equal(t, seq, resent[0].Seq, "from SND.UNA")
	total := 0
	for _, s := range resent {
		assert.LessOrEqual(t, 20+s.HeaderLen()+len(s.Payload), 1000, "each packet fits the path")
		total += len(s.Payload)
	}
	assert.Equal(t, len(data), total, "the whole flight again")
	assert.Equal(t, uint64(len(resent)), p.client.Stats.Retransmits)

	// The other big segments of the burst draw messages of their own:
	// nothing more is resent (RFC 1191 §6.4), and a higher MTU is not
	// believed (RFC 1191 §3).
	assert.Equal(t, ICMPPathMTUKept, p.client.PathMTU(1000, lost[2].Seq, p.now))
	assert.Equal(t, ICMPPathMTUKept, p.client.PathMTU(1400, lost[2].Seq, p.now))
	assert.Empty(t, p.cr.take())
	assert.Equal(t, 960, p.client.SendMSS())
	assert.NoError(t, p.client.SoftError())

	for i := range resent {
		p.server.Input(&resent[i], p.now)
	}
	p.run()
	got := make([]byte, len(data))
	assert.Equal(t, len(data), p.server.Read(got, p.now))
	assert.True(t, bytes.Equal(data, got), "the data arrives intact")
	assert.Equal(t, StateEstablished, p.client.State())
}

// TestPathMTUHasAFloor: an MTU below MinPathMTU (or none, from a router
// older than RFC 1191) sets MinPathMTU, and the application hears that the
// path wants smaller packets still.
func TestPathMTUHasAFloor(t *testing.T) {
	for _, mtu := range []int{0, 68, 300} {
		p := handshake(t, 1, 2)
		seq := inFlight(t, p, 3000)
		assert.Equal(t, ICMPPathMTULowered, p.client.PathMTU(mtu, seq, p.now))
		assert.Equal(t, MinPathMTU-40, p.client.SendMSS(), "mtu %d", mtu)
		assert.Equal(t, ErrMessageTooLong, p.client.SoftError())
	}
}

// TestPathMTUIgnoredWhileOpening: in SYN-SENT the peer's MSS is not known
// yet and a SYN is never too big; the message is ignored.
func TestPathMTUIgnoredWhileOpening(t *testing.T) {
	r := &recorder{}
	c := Dial(testConfig(100), r, ID{Local: clientAP, Remote: serverAP}, t0)
	assert.Equal(t, ICMPIgnored, c.PathMTU(600, 100, t0))
	assert.Equal(t, StateSynSent, c.State())
	assert.Zero(t, c.Info().PathMTU)
}

func TestICMPIgnoredWithoutAPeer(t *testing.T) {
	l := Listen(testConfig(1), nil, ID{Local: serverAP, Remote: clientAP})
	assert.Equal(t, ICMPIgnored, l.ICMPError(ICMPHostUnreachable, 0, t0))
	assert.Equal(t, ICMPIgnored, l.PathMTU(600, 0, t0))
	assert.Equal(t, StateListen, l.State())
	assert.Equal(t, "out_of_window", ICMPOutOfWindow.String())
	assert.Equal(t, "unknown", ICMPOutcome(200).String())
}

// TestSoftErrorReportsCanBeSwitchedOff: with NoSoftErrors the application
// hears nothing of ICMP messages on an open connection (SHLD-20); a
// timeout is then a plain timeout.
func TestSoftErrorReportsCanBeSwitchedOff(t *testing.T) {
	p := handshake(t, 1, 2)
	p.client.cfg.NoSoftErrors = true
	seq := inFlight(t, p, 100)
	assert.Equal(t, ICMPSoftError, p.client.ICMPError(ICMPHostUnreachable, seq, p.now))
	assert.NoError(t, p.client.SoftError())
	for p.client.State() != StateClosed {
		require.True(t, p.advance())
	}
	assert.Equal(t, ErrTimeout, p.client.Err())
}

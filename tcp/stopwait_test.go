package tcp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Stop-and-wait (stopwait.go) against the sliding window, in virtual time:
// the server sends, the client receives, and a watcher on the wire counts
// the server's segments that are sent and not yet acknowledged.

// handshakeWith is handshake with a say in each side's configuration.
func handshakeWith(t *testing.T, tune func(client, server *Config)) *pair {
	t.Helper()
	ccfg, scfg := testConfig(1), testConfig(2)
	tune(&ccfg, &scfg)
	p := &pair{t: t, now: t0, cr: &recorder{}, sr: &recorder{}}
	p.client = Dial(ccfg, p.cr, ID{Local: clientAP, Remote: serverAP}, p.now)
	p.server = Listen(scfg, p.sr, ID{Local: serverAP, Remote: clientAP})
	p.run()
	require.Equal(t, StateEstablished, p.client.State())
	require.Equal(t, StateEstablished, p.server.State())
	return p
}

// flightWatcher counts, from the wire alone, the segments a sender has in
// flight: those it sent (data or FIN) that no ACK from its peer covers yet.
// A retransmission starts at the same sequence number, so it is the same
// segment, not another one.
type flightWatcher struct {
	sender *Conn
	flight map[Seq]Seq // start -> end of each unacknowledged segment
	max    int         // the most segments in flight at once
	sent   int         // data segments sent, retransmissions included
}

// watch observes one segment on its way; it never drops anything, so it can
// be a pair's drop function.
func (w *flightWatcher) watch(from *Conn, seg *Segment) bool {
	if from == w.sender {
		if len(seg.Payload) > 0 || seg.Flags.Has(FlagFIN) {
			w.flight[seg.Seq] = seg.End()
			w.max = max(w.max, len(w.flight))
			w.sent++
		}
		return false
	}
	if seg.Flags.Has(FlagACK) {
		for start, end := range w.flight {
			if end.LessThanEq(seg.Ack) {
				delete(w.flight, start)
			}
		}
	}
	return false
}

func TestStopAndWaitKeepsOneSegmentInFlight(t *testing.T) {
	tests := []struct {
		name             string
		sender, receiver bool // Config.StopAndWait of each side
		loseThird        bool // lose the third data segment once
		wantOne          bool // at most one segment in flight
	}{
		{name: "sliding window", wantOne: false},
		{name: "stop-and-wait sender", sender: true, wantOne: true},
		{name: "stop-and-wait sender, a segment lost", sender: true, loseThird: true, wantOne: true},
		{name: "stop-and-wait receiver only: a sender discipline", receiver: true, wantOne: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := handshakeWith(t, func(client, server *Config) {
				client.StopAndWait, server.StopAndWait = tt.receiver, tt.sender
			})
			w := &flightWatcher{sender: p.server, flight: map[Seq]Seq{}}
			lost := false
			p.drop = func(from *Conn, seg *Segment) bool {
				w.watch(from, seg)
				if tt.loseThird && !lost && from == p.server && w.sent == 3 {
					lost = true
					return true
				}
				return false
			}
			assert.Equal(t, tt.sender, p.server.Info().StopAndWait)

			data := pattern(50_000) // 35 segments of 1460 bytes
			start := p.now
			got := p.transfer(p.server, p.client, data)
			require.Equal(t, data, got, "the data arrives intact")
			p.server.Close(p.now)
			p.run()
			for p.client.State() != StateCloseWait {
				require.True(t, p.advance(), "the FIN never arrived")
			}

			t.Logf("%d segments sent, at most %d in flight, %v of virtual time", w.sent, w.max, p.now.Sub(start))
			if tt.wantOne {
				assert.Equal(t, 1, w.max, "segments in flight")
			} else {
				assert.Greater(t, w.max, 1, "segments in flight")
			}
			if tt.loseThird {
				assert.True(t, lost)
				assert.NotZero(t, p.server.Stats.Retransmits, "the lost segment was sent again")
			}
		})
	}
}

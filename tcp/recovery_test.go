package tcp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lossPair is a handshaken pair whose client data segments number i (from
// 0, full-sized) are lost once each.
func lossPair(t *testing.T, sack bool, segments ...uint32) *pair {
	t.Helper()
	p := handshake(t, 1, 2)
	if !sack {
		p.client.sackOK, p.server.sackOK = false, false
	}
	first := p.client.snd.una
	size := uint32(p.client.snd.mss) - p.client.optionSpace()
	lose := map[Seq]bool{}
	for _, i := range segments {
		lose[first.Add(i*size)] = true
	}
	p.drop = func(from *Conn, seg *Segment) bool {
		if from == p.client && len(seg.Payload) > 0 && lose[seg.Seq] {
			delete(lose, seg.Seq)
			return true
		}
		return false
	}
	return p
}

// TestFastRetransmitAndNewRenoRecovery: without SACK, one lost segment is
// repaired by fast retransmit after three duplicate ACKs, and recovery ends
// at the recovery point with no retransmission timeout (RFC 5681 §3.2,
// RFC 6582).
func TestFastRetransmitAndNewRenoRecovery(t *testing.T) {
	mss := 1460
	p := lossPair(t, false, 3)
	data := pattern(40 * mss)
	assert.Equal(t, data, p.transfer(p.client, p.server, data))
	s := p.client.Stats
	assert.Equal(t, uint64(1), s.FastRetransmits)
	assert.Equal(t, uint64(1), s.FastRecoveries)
	assert.Zero(t, s.Timeouts, "repaired without waiting for the RTO")
	assert.Equal(t, uint64(1), s.Retransmits, "only the lost segment is resent")
}

// TestNewRenoPartialACKs: two losses in one window without SACK; the
// partial ACK after the first repair shows the second hole, which is
// resent at once (RFC 6582 §3.2 step 5), still without a timeout.
func TestNewRenoPartialACKs(t *testing.T) {
	mss := 1460
	p := lossPair(t, false, 2, 6)
	data := pattern(40 * mss)
	assert.Equal(t, data, p.transfer(p.client, p.server, data))
	s := p.client.Stats
	assert.Equal(t, uint64(1), s.FastRetransmits, "one recovery for both losses")
	assert.Zero(t, s.Timeouts)
	assert.Equal(t, uint64(2), s.Retransmits)
}

// TestSACKRecoveryRepairsSeveralHoles: with SACK, three losses in one
// window are all resent in the first round trip of recovery, guided by the
// scoreboard (RFC 6675), with no timeout and nothing resent twice.
func TestSACKRecoveryRepairsSeveralHoles(t *testing.T) {
	mss := 1460
	p := lossPair(t, true, 1, 4, 7)
	data := pattern(60 * mss)
	assert.Equal(t, data, p.transfer(p.client, p.server, data))
	s := p.client.Stats
	assert.Equal(t, uint64(1), s.FastRetransmits)
	assert.Zero(t, s.Timeouts)
	assert.Equal(t, uint64(3), s.Retransmits, "each hole once")
	assert.Zero(t, s.SpuriousRetransmits)
}

// TestScoreboard: merging, pruning and the byte counts IsLost uses.
func TestScoreboard(t *testing.T) {
	var s scoreboard
	assert.Equal(t, uint32(100), s.add(SACKBlock{1000, 1100}))
	assert.Equal(t, uint32(100), s.add(SACKBlock{1200, 1300}))
	assert.Equal(t, uint32(100), s.add(SACKBlock{1100, 1200}), "fills the gap: one block")
	assert.Equal(t, []SACKBlock{{1000, 1300}}, s.blocks)
	assert.Zero(t, s.add(SACKBlock{1050, 1250}), "nothing new")
	s.add(SACKBlock{2000, 2100})
	assert.Equal(t, uint32(400), s.above(900))
	assert.Equal(t, uint32(150), s.above(1250))
	end, ok := s.covering(1299)
	assert.True(t, ok)
	assert.Equal(t, Seq(1300), end)
	_, ok = s.covering(1300)
	assert.False(t, ok)
	s.pruneBelow(1250)
	assert.Equal(t, []SACKBlock{{1250, 1300}, {2000, 2100}}, s.blocks)
}

// TestLimitedTransmit: the first two duplicate ACKs each let one new
// segment out beyond cwnd (RFC 3042).
func TestLimitedTransmit(t *testing.T) {
	p := handshake(t, 1, 2)
	c := p.client
	c.sackOK = false
	mss := uint32(c.snd.mss) - c.optionSpace()
	c.cong.CWnd = 4 * mss
	c.snd.wnd = c.snd.wnd >> c.snd.shift << c.snd.shift
	_, err := c.Write(pattern(10*int(mss)), p.now)
	require.NoError(t, err)
	sent := p.cr.take()
	require.Len(t, sent, 4, "cwnd of four segments")
	dup := Segment{Seq: p.server.snd.nxt, Ack: c.snd.una, Flags: FlagACK, Window: uint16(c.snd.wnd >> c.snd.shift)}
	for i := 1; i <= 2; i++ {
		c.Input(&dup, p.now)
		out := p.cr.take()
		require.Len(t, out, 1, "duplicate ACK %d lets one new segment out", i)
		assert.Equal(t, sent[3].Seq.Add(uint32(i)*mss), out[0].Seq)
	}
	c.Input(&dup, p.now)
	out := p.cr.take()
	require.NotEmpty(t, out)
	assert.Equal(t, sent[0].Seq, out[0].Seq, "the third: fast retransmit of the first")
}

// TestDSACKReportsASpuriousRetransmission: the receiver's ACK is lost, the
// sender resends data the receiver has, and the receiver's next ACK
// reports it in a D-SACK block (RFC 2883), which the sender counts as a
// spurious retransmission.
func TestDSACKReportsASpuriousRetransmission(t *testing.T) {
	p := handshake(t, 1, 2)
	c := p.client
	lostACKs := 1
	p.drop = func(from *Conn, seg *Segment) bool {
		if from == p.server && lostACKs > 0 {
			lostACKs--
			return true
		}
		return false
	}
	_, err := c.Write(pattern(100), p.now)
	require.NoError(t, err)
	p.run()
	for c.Stats.Retransmits == 0 {
		require.True(t, p.advance(), "the sender's timer resends the data")
	}
	assert.Equal(t, uint64(1), c.Stats.DSACKsReceived)
	assert.Equal(t, uint64(1), c.Stats.SpuriousRetransmits)
	assert.Equal(t, 100, p.server.Readable(), "delivered once")
}

// TestDuplicatedACKsAreNotDuplicateACKs: with SACK, copies of one ACK
// (the network duplicated it) do not trigger a fast retransmit.
func TestDuplicatedACKsAreNotDuplicateACKs(t *testing.T) {
	p := handshake(t, 1, 2)
	c := p.client
	require.True(t, c.sackOK)
	_, err := c.Write(pattern(20_000), p.now)
	require.NoError(t, err)
	p.cr.take() // in flight, not delivered yet
	ack := Segment{Seq: p.server.snd.nxt, Ack: c.snd.una.Add(1448), Flags: FlagACK,
		Window: uint16(c.snd.wnd >> c.snd.shift)}
	for i := 0; i < 5; i++ {
		c.Input(&ack, p.now)
	}
	assert.Zero(t, c.Stats.FastRetransmits)
	assert.Zero(t, c.Stats.Retransmits)
}

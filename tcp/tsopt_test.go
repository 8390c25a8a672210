package tcp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Timestamps (RFC 7323) and SACK (RFC 2018) as the receiver uses them.

func TestTimestampsAndSACKNegotiated(t *testing.T) {
	cr, sr := &recorder{}, &recorder{}
	client := Dial(testConfig(100), cr, ID{Local: clientAP, Remote: serverAP}, t0)
	syn := cr.take()[0]
	assert.True(t, syn.Options.HasTimestamps, "an active open offers timestamps")
	assert.True(t, syn.Options.SACKPermitted, "and SACK")
	assert.Zero(t, syn.Options.TSEcr)

	server := Listen(testConfig(300), sr, ID{Local: serverAP, Remote: clientAP})
	server.Input(&syn, t0)
	synack := sr.take()[0]
	assert.True(t, synack.Options.HasTimestamps)
	assert.True(t, synack.Options.SACKPermitted)
	assert.Equal(t, syn.Options.TSVal, synack.Options.TSEcr, "the SYN-ACK echoes the SYN's timestamp")

	client.Input(&synack, t0.Add(5e6)) // 5 ms later
	ack := cr.take()[0]
	assert.Equal(t, synack.Options.TSVal, ack.Options.TSEcr)
	assert.Equal(t, 5, int(ack.Options.TSVal-syn.Options.TSVal), "the timestamp clock ticks in milliseconds")
	assert.InDelta(t, 5.5e6, float64(client.rtt.srtt), 1e6, "RTT measured from the echoed timestamp")
	assert.False(t, ack.Options.SACKPermitted, "SACK-permitted only on SYNs")
}

func TestNoTimestampsUnlessOffered(t *testing.T) {
	sr := &recorder{}
	server := Listen(testConfig(2), sr, ID{Local: serverAP, Remote: clientAP})
	server.Input(&Segment{Seq: 7, Flags: FlagSYN, Window: 1000, Options: Options{MSS: 1460}}, t0)
	synack := sr.take()[0]
	assert.False(t, synack.Options.HasTimestamps)
	assert.False(t, synack.Options.SACKPermitted)
	server.Input(&Segment{Seq: 8, Ack: synack.Seq.Add(1), Flags: FlagACK, Window: 1000}, t0)
	_, err := server.Write(pattern(3000), t0)
	require.NoError(t, err)
	for _, s := range sr.sent {
		assert.False(t, s.Options.HasTimestamps)
		assert.LessOrEqual(t, len(s.Payload), 1460)
	}
}

func TestDataSegmentsLeaveRoomForTimestamps(t *testing.T) {
	p := handshake(t, 1, 2)
	_, err := p.client.Write(pattern(10_000), p.now)
	require.NoError(t, err)
	for _, s := range p.cr.sent {
		if len(s.Payload) > 0 {
			assert.LessOrEqual(t, s.HeaderLen()+len(s.Payload), DefaultMSS+HeaderMinLen, "MUST-16: options come out of the MSS")
			assert.True(t, s.Options.HasTimestamps)
		}
	}
	p.run()
}

func TestPAWSDropsAnOldDuplicate(t *testing.T) {
	p := handshake(t, 1, 2)
	_, err := p.client.Write([]byte("fresh"), p.now)
	require.NoError(t, err)
	fresh := p.cr.take()[0]
	p.server.Input(&fresh, p.now)
	p.sr.take()
	old := fresh
	old.Payload = []byte("stale")
	old.Seq = fresh.End()
	old.Options.TSVal = fresh.Options.TSVal - 1000 // from a previous incarnation
	p.server.Input(&old, p.now)
	require.Len(t, p.sr.sent, 1, "an old duplicate draws an ACK")
	assert.Equal(t, fresh.End(), p.sr.sent[0].Ack, "and is not accepted")
	assert.Equal(t, 5, p.server.Readable())
}

func TestSACKBlocksDescribeHeldSegments(t *testing.T) {
	p := handshake(t, 1, 2)
	base := p.server.rcv.nxt
	seg := func(off, n uint32) *Segment {
		return &Segment{Seq: base.Add(off), Ack: p.server.snd.nxt, Flags: FlagACK, Window: 1000, Payload: pattern(int(n))}
	}
	p.server.Input(seg(1000, 100), p.now)
	p.server.Input(seg(3000, 100), p.now)
	p.server.Input(seg(1100, 100), p.now) // touches the first block
	acks := p.sr.take()
	require.Len(t, acks, 3)
	last := acks[2].Options
	require.Equal(t, uint8(2), last.NumSACK)
	assert.Equal(t, SACKBlock{Left: base.Add(1000), Right: base.Add(1200)}, last.SACK[0], "the block with the latest arrival first")
	assert.Equal(t, SACKBlock{Left: base.Add(3000), Right: base.Add(3100)}, last.SACK[1])
	assert.Equal(t, base, acks[2].Ack)
}

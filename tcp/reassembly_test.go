package tcp

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOOOQueueDeliversInOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		held []heldSegment
		want string
		fin  bool
	}{
		{"one gap", []heldSegment{{seq: 3, data: []byte("def")}}, "def", false},
		{"reversed arrival", []heldSegment{{seq: 6, data: []byte("ghi")}, {seq: 3, data: []byte("def")}}, "defghi", false},
		{"overlaps trimmed", []heldSegment{{seq: 3, data: []byte("defg")}, {seq: 5, data: []byte("fghij")}}, "defghij", false},
		{"old data skipped", []heldSegment{{seq: 1, data: []byte("bc")}, {seq: 3, data: []byte("de")}}, "de", false},
		{"FIN after data", []heldSegment{{seq: 3, data: []byte("de"), fin: true}}, "de", true},
		{"bare FIN", []heldSegment{{seq: 3, fin: true}}, "", true},
		{"gap still open", []heldSegment{{seq: 4, data: []byte("ef")}}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var q oooQueue
			for _, h := range tc.held {
				require.True(t, q.hold(h.seq, h.data, h.fin, 1<<20))
			}
			nxt := Seq(3)
			var got []byte
			fin := false
			for !fin {
				data, f, ok := q.next(nxt)
				if !ok {
					break
				}
				got = append(got, data...)
				nxt = nxt.Add(uint32(len(data)))
				fin = f
			}
			assert.Equal(t, tc.want, string(got))
			assert.Equal(t, tc.fin, fin)
		})
	}
}

func TestOOOQueueIsBounded(t *testing.T) {
	var q oooQueue
	assert.True(t, q.hold(10, make([]byte, 600), false, 1000))
	assert.False(t, q.hold(700, make([]byte, 600), false, 1000), "past the limit: dropped")
	assert.Equal(t, 600, q.bytes)
}

// TestRandomLossBothWays moves data both ways across a wire that drops 5%
// of segments in each direction: every byte arrives, in order, via the
// out-of-order queue, fast retransmit and the retransmission timer.
func TestRandomLossBothWays(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		p := handshake(t, 7, 0xfffff000)
		rng := rand.New(rand.NewPCG(seed, seed))
		p.drop = func(*Conn, *Segment) bool { return rng.IntN(100) < 5 }
		up := pattern(300_000)
		assert.True(t, bytes.Equal(up, p.transfer(p.client, p.server, up)), "seed %d: upload differs", seed)
		down := pattern(300_001)
		assert.True(t, bytes.Equal(down, p.transfer(p.server, p.client, down)), "seed %d: download differs", seed)
		assert.NotZero(t, p.client.Stats.Retransmits+p.server.Stats.Retransmits)
	}
}

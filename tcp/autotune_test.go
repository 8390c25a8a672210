package tcp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Buffer autotuning (autotune.go), driven by a hand-played peer in virtual
// time: the peer sends as much as the window it was offered, the
// application reads everything at once, and a round trip of 50 ms passes.

// windowRounds plays rounds of a window-limited transfer towards p's Conn
// and returns the receive buffer's size after each.
func windowRounds(t *testing.T, p *handPeer, rounds int) []int {
	t.Helper()
	data := pattern(fullSized)
	buf := make([]byte, 1<<20)
	var sizes []int
	for range rounds {
		offered := int(p.c.rcv.adv.Sub(p.nxt)) // the right edge it last advertised
		for sent := 0; sent+fullSized <= offered; sent += fullSized {
			p.deliver(p.segment(FlagACK, data))
			p.nxt = p.nxt.Add(fullSized)
		}
		for p.c.Read(buf, p.now) > 0 {
		}
		// A round trip, long enough for a deferred window update (the
		// delayed-ACK timer) to go out.
		p.now = p.now.Add(50 * time.Millisecond)
		p.c.OnTimer(p.now)
		sizes = append(sizes, p.c.recvBuf.size)
	}
	return sizes
}

func TestReceiveBufferGrowsWhileItLimitsTheSender(t *testing.T) {
	p := establishedWithHandPeer(t)
	require.Equal(t, DefaultBufferSize, p.c.recvBuf.size)
	sizes := windowRounds(t, p, 12)
	t.Logf("receive buffer after each round trip: %v", sizes)
	for i := 1; i < len(sizes); i++ {
		assert.GreaterOrEqual(t, sizes[i], sizes[i-1], "round %d: buffers never shrink in use", i)
	}
	assert.Equal(t, DefaultMaxBufferSize, sizes[len(sizes)-1], "grown to the limit")
	assert.Greater(t, int(p.hooks.last.Window)<<p.c.rcv.shift, DefaultBufferSize, "the window advertised outgrew the initial buffer")
}

func TestABufferSizeSetByHandIsKept(t *testing.T) {
	p := establishedWithConfig(t, Config{RecvBufferSize: DefaultBufferSize, SendBufferSize: DefaultBufferSize})
	sizes := windowRounds(t, p, 12)
	assert.Equal(t, DefaultBufferSize, sizes[len(sizes)-1], "no autotuning when the application chose the size (as SO_RCVBUF)")
	assert.Equal(t, DefaultBufferSize, p.c.cfg.MaxSendBufferSize)
}

func TestReceiveBufferStaysWhenTheApplicationIsSlow(t *testing.T) {
	// A reader that takes little per round trip does not need a bigger
	// window: the buffer stays as it is.
	p := establishedWithHandPeer(t)
	data := pattern(fullSized)
	buf := make([]byte, 4*fullSized)
	for range 50 {
		for range 4 {
			p.deliver(p.segment(FlagACK, data))
			p.nxt = p.nxt.Add(fullSized)
		}
		for p.c.Read(buf, p.now) > 0 {
		}
		p.now = p.now.Add(2 * time.Millisecond)
	}
	assert.Equal(t, DefaultBufferSize, p.c.recvBuf.size)
}

func TestWindowScaleCoversTheLargestBuffer(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want uint8
	}{
		{"defaults: room for 4 MiB", Config{}, 7},
		{"64 KiB set by hand", Config{RecvBufferSize: 64 << 10}, 1},
		{"a limit of 1 MiB", Config{MaxRecvBufferSize: 1 << 20}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := establishedWithConfig(t, tc.cfg)
			assert.Equal(t, tc.want, p.c.rcv.shift)
		})
	}
}

func TestSendBufferGrowsWithTheWindows(t *testing.T) {
	// The peer offers 8 MiB and acknowledges everything each round trip;
	// the application writes as fast as the buffer takes it.
	p := establishedWithHandPeer(t)
	p.wnd = 0xffff // << 7: 8 MiB
	data := pattern(64 << 10)
	var sizes []int
	for range 30 {
		for {
			n, err := p.c.Write(data, p.now)
			require.NoError(t, err)
			if n == 0 {
				break
			}
		}
		p.now = p.now.Add(time.Millisecond)
		// An ACK for every second segment, as a Linux receiver sends.
		for end := p.c.snd.nxt; p.ack.LessThan(end); {
			p.ack = MinSeq(p.ack.Add(2*fullSized), end)
			p.deliver(p.segment(FlagACK, nil))
		}
		sizes = append(sizes, p.c.sendBuf.size)
	}
	t.Logf("send buffer after each round trip: %v (cwnd %d)", sizes, p.c.cong.CWnd)
	assert.Equal(t, DefaultMaxBufferSize, sizes[len(sizes)-1], "grown with the congestion window to the limit")
	assert.Equal(t, DefaultBufferSize, sizes[0], "not before the windows outgrew it")
}

func TestRingGrowKeepsTheBytesInOrder(t *testing.T) {
	r := newRing(8)
	r.Write([]byte("abcdef"))
	r.Discard(4)              // head moves to 4
	r.Write([]byte("ghijkl")) // wraps: "efghijkl"
	r.grow(32)
	r.Write([]byte("mnop"))
	got := make([]byte, 32)
	n := r.Read(got)
	assert.Equal(t, "efghijklmnop", string(got[:n]))
	assert.Equal(t, 32, r.size)
}

package tcp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEmptyBufferKeepsStorageWhileInUse: a reader that keeps up empties the
// receive buffer at every Read; its storage stays, over several runs of
// the reclaim timer, as long as segments keep coming.
func TestEmptyBufferKeepsStorageWhileInUse(t *testing.T) {
	r := newReceiver(t)
	storage := &r.c.recvBuf.buf[0]
	for range 50 { // five seconds, a segment every 100 ms
		r.step(t)
		r.now = r.now.Add(100 * time.Millisecond)
		r.c.OnTimer(r.now) // the delayed ACK, and the reclaim timer with it
		require.Zero(t, r.c.recvBuf.Len())
	}
	assert.Same(t, storage, &r.c.recvBuf.buf[0], "the receive buffer kept its storage")
}

// TestIdleBuffersGiveStorageBack: once the transfer is over and nothing
// more is written, both ends give their buffers' storage back, and the
// connection's timers stop.
func TestIdleBuffersGiveStorageBack(t *testing.T) {
	p := handshake(t, 1000, 5000)
	p.transfer(p.client, p.server, pattern(100_000))
	require.NotNil(t, p.client.sendBuf.buf, "just used")
	require.NotNil(t, p.server.recvBuf.buf, "just used")
	start := p.now
	for p.advance() {
		require.Less(t, p.now.Sub(start), time.Minute, "timers still running after a minute")
	}
	assert.Nil(t, p.client.sendBuf.buf, "client's send buffer")
	assert.Nil(t, p.server.recvBuf.buf, "server's receive buffer")
	assert.LessOrEqual(t, p.now.Sub(start), 2*bufferIdle+time.Second)
	assert.Equal(t, StateEstablished, p.client.State())
}

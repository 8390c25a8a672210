package e2e

import (
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestTenThousandSequentialConnections opens, uses and closes 10,000
// connections from the kernel to tinytcp's echo service one after the
// other, then checks that nothing stayed behind: no connection in the
// table (the kernel closes first, so tinytcp never holds TIME-WAIT), no
// extra goroutine, and no growth of the heap beyond a small bound.
//
// It is not parallel: goroutines and the heap are counted for the whole
// test process, so it runs alone, before the parallel tests start.
func TestTenThousandSequentialConnections(t *testing.T) {
	h := upHost(t)
	echo := func() {
		var c net.Conn
		require.NoError(t, h.ns.Do(func() error {
			var err error
			c, err = net.DialTimeout("tcp", "10.77.0.2:7", 10*time.Second)
			return err
		}))
		_, err := c.Write([]byte("x"))
		require.NoError(t, err)
		b := make([]byte, 1)
		_, err = io.ReadFull(c, b)
		require.NoError(t, err)
		require.NoError(t, c.(*net.TCPConn).CloseWrite())
		_, err = io.ReadAll(c) // the echo service closes after our FIN
		require.NoError(t, err)
		require.NoError(t, c.Close())
	}
	for i := 0; i < 100; i++ { // warm up pools and maps
		echo()
	}
	heapBefore, goroutinesBefore := settledHeap(), goleak.IgnoreCurrent()

	n := 10_000
	if testing.Short() {
		n = 500
	}
	for i := 0; i < n; i++ {
		echo()
	}

	// The last close handshakes finish on the stack's own goroutines.
	require.Eventually(t, func() bool { return h.h.Stack.ConnCount() == 0 }, 10*time.Second, 10*time.Millisecond,
		"connections left in the table: %d", h.h.Stack.ConnCount())
	// No goroutine per connection outlives it (goleak waits for the last
	// handlers to return, then lists any extra goroutine).
	goleak.VerifyNone(t, goroutinesBefore)
	heapAfter := settledHeap()
	growth := int64(heapAfter) - int64(heapBefore)
	t.Logf("%d connections: heap %d -> %d bytes (%+d), %d goroutines", n, heapBefore, heapAfter, growth, runtime.NumGoroutine())
	assert.Less(t, growth, int64(4<<20), "the heap grew by more than 4 MiB over %d closed connections", n)
	assert.Equal(t, uint64(n+100), h.h.Stack.Counters.Get("tcp.PassiveConnectionOpenings"))
}

func settledHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

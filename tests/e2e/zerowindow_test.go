package e2e

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tinytcp/stack"
)

// A reader that stops for a minute closes its window; the sender must wait
// it out, probing (RFC 9293 §3.8.6.1, MUST-35..37), and resume without
// losing a byte when the reader drains. Both directions, against the
// kernel: tinytcp as the stalled reader, and tinytcp as the sender facing
// the kernel's closed window.

const (
	zeroWindowHold  = time.Minute
	zeroWindowBytes = 8 << 20 // far more than either side buffers
)

func patternBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

func TestZeroWindowForAMinute(t *testing.T) {
	t.Parallel()
	t.Run("tinytcp stops reading", func(t *testing.T) {
		t.Parallel()
		h := upHost(t)
		l, err := h.h.Stack.Listen(9000)
		require.NoError(t, err)
		defer l.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := l.Accept()
			if err == nil {
				accepted <- c
			}
		}()
		client := h.dial(t, "10.77.0.2:9000")
		server := <-accepted
		defer server.Close()
		data := patternBytes(zeroWindowBytes)
		written := make(chan error, 1)
		go func() {
			_, err := client.Write(data)
			if err == nil {
				err = client.(*net.TCPConn).CloseWrite()
			}
			written <- err
		}()
		sc := server.(*stack.Conn)
		require.Eventually(t, func() bool { return sc.Info().RcvWND == 0 }, 30*time.Second, 10*time.Millisecond,
			"tinytcp's window never closed")
		probesBefore := sc.Info().Stats.SegmentsReceived
		<-time.After(zeroWindowHold) // the point of the test: a minute of closed window
		assert.Greater(t, sc.Info().Stats.SegmentsReceived, probesBefore, "the kernel probed the closed window")
		got, err := io.ReadAll(server)
		require.NoError(t, err)
		require.NoError(t, <-written)
		assert.True(t, bytes.Equal(data, got), "got %d bytes, want %d, in order", len(got), len(data))
	})
	t.Run("the kernel stops reading", func(t *testing.T) {
		t.Parallel()
		h := upHost(t)
		var kl net.Listener
		require.NoError(t, h.ns.Do(func() error {
			var err error
			kl, err = net.Listen("tcp4", "10.77.0.1:9001")
			return err
		}))
		defer kl.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := kl.Accept()
			if err == nil {
				accepted <- c
			}
		}()
		conn, err := h.h.Stack.Dial(t.Context(), netip.MustParseAddrPort("10.77.0.1:9001"))
		require.NoError(t, err)
		defer conn.Close()
		reader := <-accepted
		defer reader.Close()
		require.NoError(t, reader.(*net.TCPConn).SetReadBuffer(64<<10))
		data := patternBytes(zeroWindowBytes)
		written := make(chan error, 1)
		go func() {
			_, err := conn.Write(data)
			if err == nil {
				err = conn.CloseWrite()
			}
			written <- err
		}()
		require.Eventually(t, func() bool { return conn.Info().SndWND == 0 }, 30*time.Second, 10*time.Millisecond,
			"the kernel's window never closed")
		sentBefore := conn.Info().Stats.SegmentsSent
		<-time.After(zeroWindowHold)
		assert.Greater(t, conn.Info().Stats.SegmentsSent, sentBefore, "tinytcp probed the closed window")
		assert.Equal(t, "ESTABLISHED", conn.State().String(), "a zero window may last indefinitely (MUST-37)")
		got, err := io.ReadAll(reader)
		require.NoError(t, err)
		require.NoError(t, <-written)
		assert.True(t, bytes.Equal(data, got), "got %d bytes, want %d, in order", len(got), len(data))
	})
}

package stack_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tinytcp/stack"
	"tinytcp/tun"
)

// Urgent data through the Conn API (RFC 9293 §3.8.5): two stacks over the
// in-memory pipe.

// waitUrgent waits for the urgent notification of c, or fails the test.
func waitUrgent(t *testing.T, c *stack.Conn) {
	t.Helper()
	select {
	case <-c.UrgentNotify():
	case <-time.After(10 * time.Second):
		t.Fatal("no urgent notification")
	}
}

// TestUrgentDataThroughTheConnAPI: the receiving application is told of
// urgent data asynchronously (MUST-32), learns how much of the stream is
// urgent (MUST-33) and reads it inline; a second, longer piece of urgent
// data raises a new notification.
func TestUrgentDataThroughTheConnAPI(t *testing.T) {
	a, b := stackPair(t)
	d, acc := connPair(t, a, b, 23)
	defer d.Close()
	defer acc.Close()
	sender, receiver := d.(*stack.Conn), acc.(*stack.Conn)

	pending, _ := receiver.Urgent()
	require.False(t, pending)
	_, err := sender.Write([]byte("ls -lR /\n"))
	require.NoError(t, err)
	n, err := sender.WriteUrgent([]byte{0x03})
	require.NoError(t, err)
	require.Equal(t, 1, n)

	waitUrgent(t, receiver)
	pending, n = receiver.Urgent()
	require.True(t, pending)
	require.Equal(t, 10, n, "the bytes before the urgent byte and the urgent byte itself")
	got := make([]byte, n)
	_, err = io.ReadFull(receiver, got)
	require.NoError(t, err)
	assert.Equal(t, "ls -lR /\n\x03", string(got), "urgent data is read inline")
	pending, _ = receiver.Urgent()
	assert.False(t, pending, "read through the urgent data: normal mode")
	assert.Equal(t, sender.Info().SndUP, receiver.Info().RcvUP)

	// Urgent data longer than the pointer field reaches (MUST-31), and
	// longer than the send buffer, so WriteUrgent blocks while the
	// receiver reads it all.
	long := bytes.Repeat([]byte("urgent "), 50_000)
	errc := make(chan error, 1)
	go func() {
		_, err := sender.WriteUrgent(long)
		errc <- err
	}()
	waitUrgent(t, receiver)
	got = make([]byte, len(long))
	_, err = io.ReadFull(receiver, got)
	require.NoError(t, err)
	require.NoError(t, <-errc)
	assert.True(t, bytes.Equal(long, got), "the long urgent data arrives whole and in order")
	pending, _ = receiver.Urgent()
	assert.False(t, pending)
}

// TestUrgentWriteAfterCloseFails: WriteUrgent reports Write's errors.
func TestUrgentWriteAfterCloseFails(t *testing.T) {
	a, b := stackPair(t)
	d, acc := connPair(t, a, b, 23)
	defer acc.Close()
	require.NoError(t, d.Close())
	_, err := d.(*stack.Conn).WriteUrgent([]byte("x"))
	require.Error(t, err)
}

// TestTraceShowsTheUrgentPointer: the trace prints SEG.UP as tcpdump does.
func TestTraceShowsTheUrgentPointer(t *testing.T) {
	da, db := tun.Pipe(1500)
	var trace lockedBuffer
	sa, err := stack.New(stack.Config{Device: da, Addr: addrA, Trace: &trace})
	require.NoError(t, err)
	defer sa.Close()
	sb := newStack(t, db, addrB)
	d, acc := connPair(t, sa, sb, 23)
	defer acc.Close()
	defer d.Close()
	_, err = d.(*stack.Conn).WriteUrgent([]byte("abc"))
	require.NoError(t, err)
	_, err = io.ReadFull(acc, make([]byte, 3))
	require.NoError(t, err)
	require.NoError(t, sa.Close())
	assert.Contains(t, trace.String(), "Flags [PU.]")
	assert.Contains(t, trace.String(), ", urg 3")
}

// The receiving side of urgent data: wait for the notification, ask how
// much of the stream is urgent, read it. (A telnet server, say, would skip
// the buffered input up to the urgent byte, an interrupt.)
func ExampleConn_UrgentNotify() {
	da, db := tun.Pipe(1500)
	client, _ := stack.New(stack.Config{Device: da, Addr: netip.MustParseAddr("10.0.0.1")})
	defer client.Close()
	server, _ := stack.New(stack.Config{Device: db, Addr: netip.MustParseAddr("10.0.0.2")})
	defer server.Close()
	l, _ := server.Listen(23)
	defer l.Close()

	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := client.Dial(context.Background(), netip.MustParseAddrPort("10.0.0.2:23"))
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("ls -lR /\n")) // ordinary data
		c.WriteUrgent([]byte{0x03})   // an interrupt, urgent
		io.Copy(io.Discard, c)        // until the server closes
	}()

	nc, _ := l.Accept()
	c := nc.(*stack.Conn)
	<-c.UrgentNotify()
	pending, n := c.Urgent()
	buf := make([]byte, n)
	io.ReadFull(c, buf)
	fmt.Printf("urgent data pending: %v, %d bytes up to its end: %q\n", pending, n, buf)
	c.Close()
	<-done
	// Output: urgent data pending: true, 10 bytes up to its end: "ls -lR /\n\x03"
}

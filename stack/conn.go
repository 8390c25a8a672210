package stack

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"tinytcp/tcp"
)

// Conn is a TCP connection of the stack. It implements net.Conn, plus
// CloseWrite and CloseRead as *net.TCPConn does, so net/http and other
// standard code can use it unchanged.
type Conn struct {
	s   *Stack
	tcb *tcp.Conn // guarded by s.mu; its ID is the connection's 4-tuple

	listener   *Listener // the listener that accepted it, nil for Dial
	held       bool      // its ACKs are held for the batch being processed (batch.go)
	recvDSCP   uint8     // DSCP of the last segment received; guarded by s.mu
	ephemeral  bool      // its local port was chosen by Dial
	userClosed bool      // Close was called; guarded by s.mu
	heapIndex  int32     // position in s.timers, -1 when absent
	deadline   time.Time // the deadline it is filed under in s.timers
	linger     int       // SetLinger's seconds, -1 by default; guarded by s.mu

	// The channels blocked calls wait on, made by waitOn when a call
	// first has to wait, so that an idle connection nobody waits on costs
	// no channel (see waitOn). Guarded by s.mu.
	readable chan struct{} // signalled when there is something to read; capacity 1
	writable chan struct{} // signalled when the TCB is writable; capacity 1
	urgent   chan struct{} // signalled when urgent data arrives (urgent.go); capacity 1
	closed   chan struct{} // closed by Close
	rd, wd   deadline
}

var _ net.Conn = (*Conn)(nil)

func newConn(s *Stack) *Conn {
	return &Conn{s: s, linger: -1, heapIndex: -1}
}

// id returns the connection's 4-tuple. The TCB is set before the Conn is
// shared and never replaced, and its ID never changes, so this needs no
// lock.
func (c *Conn) id() tcp.ID { return c.tcb.ID() }

// waitOn returns the channel *ch (c.readable or c.writable) and c.closed
// for a call that found nothing to do and is about to wait, making them if
// this is the first wait: most connections of a busy server sit idle with
// nobody waiting, and a channel is about a hundred bytes. made reports that
// a channel is new; the caller then looks at the TCB once more before it
// waits, since a wake before the channel existed signalled nothing.
// Takes s.mu.
func (c *Conn) waitOn(ch *chan struct{}) (wake, closed chan struct{}, made bool) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if *ch == nil {
		*ch = make(chan struct{}, 1)
		made = true
	}
	if c.closed == nil {
		c.closed = make(chan struct{})
		if c.userClosed {
			close(c.closed)
		}
		made = true
	}
	return *ch, c.closed, made
}

// wake tells blocked Read, Write and Dial calls to look again, each only
// when it has something to find: a reader when data, the end of the stream
// or an error is there; a writer (or Dial, or a lingering Close) when the
// TCB says so (tcp.Conn.Writable). A bulk sender's ACKs then wake neither
// an idle reader nor, until a third of the send buffer is free, the writer.
// Called with s.mu held.
func (c *Conn) wake() {
	t := c.tcb
	if c.readable != nil && (t.Readable() > 0 || t.ReadEOF() || t.Err() != nil) {
		signal(c.readable)
	}
	if c.writable != nil && t.Writable() {
		signal(c.writable)
	}
}

// signal leaves a token in ch, a channel of capacity 1, unless one is there
// (or ch is nil: nobody has waited on it yet).
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Read reads data received in order. It returns io.EOF once the peer has
// closed its side and everything was read.
func (c *Conn) Read(p []byte) (int, error) {
	for {
		if c.rd.passed() {
			return 0, c.opError("read", os.ErrDeadlineExceeded)
		}
		if len(p) == 0 {
			_, err := c.TryRead(nil)
			if errors.Is(err, ErrWouldBlock) {
				err = nil
			}
			return 0, err
		}
		n, err := c.TryRead(p)
		if !errors.Is(err, ErrWouldBlock) {
			return n, err
		}
		readable, closed, made := c.waitOn(&c.readable)
		if made {
			continue
		}
		select {
		case <-readable:
		case <-c.rd.wait():
		case <-closed:
		}
	}
}

// Write queues all of p for sending, blocking while the send buffer is
// full.
func (c *Conn) Write(p []byte) (int, error) { return c.writeAll(p, c.TryWrite) }

// writeAll calls try (TryWrite or TryWriteUrgent) until all of p is queued,
// blocking while the send buffer is full.
func (c *Conn) writeAll(p []byte, try func([]byte) (int, error)) (int, error) {
	total := 0
	for {
		if c.wd.passed() {
			return total, c.opError("write", os.ErrDeadlineExceeded)
		}
		n, err := try(p[total:])
		total += n
		switch {
		case errors.Is(err, ErrWouldBlock):
		case err != nil:
			return total, err
		case total == len(p):
			return total, nil
		default:
			continue // the buffer took part of p; try the rest at once
		}
		writable, closed, made := c.waitOn(&c.writable)
		if made {
			continue
		}
		select {
		case <-writable:
		case <-c.wd.wait():
		case <-closed:
		}
	}
}

// Close closes the connection: a FIN follows the data already written, and
// data that arrives afterwards resets the connection (as in Linux). The TCB
// lives on in the stack until the close handshake completes. SetLinger
// changes this: with 0, Close aborts with a RST; with a positive time, it
// waits up to that long for the peer to acknowledge everything.
func (c *Conn) Close() error {
	c.s.mu.Lock()
	if c.userClosed {
		c.s.mu.Unlock()
		return c.opError("close", net.ErrClosed)
	}
	c.userClosed = true
	if c.closed != nil {
		close(c.closed)
	}
	now := c.s.now()
	linger := c.linger
	if linger == 0 {
		c.tcb.Abort(now) // "discard unsent data and send a RST"
	} else {
		c.tcb.Close(now)
		c.tcb.CloseRead(now)
	}
	c.s.settle(c)
	c.s.unlock()
	if linger > 0 {
		c.waitClosed(time.Duration(linger) * time.Second)
	}
	return nil
}

// SetLinger sets what Close does with data not yet acknowledged, as
// (*net.TCPConn).SetLinger does on Linux: sec < 0 (the default) sends it in
// the background; sec == 0 discards it and resets the connection (RFC 9293
// §3.10.5 ABORT); sec > 0 sends it in the background, but Close returns
// only once the peer has acknowledged it and our FIN, or after sec seconds.
func (c *Conn) SetLinger(sec int) error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.userClosed {
		return c.opError("set", net.ErrClosed)
	}
	c.linger = sec
	return nil
}

// waitClosed waits until our FIN is acknowledged (or the connection is
// gone), at most d.
func (c *Conn) waitClosed(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		c.s.mu.Lock()
		st := c.tcb.State()
		c.s.mu.Unlock()
		switch st {
		case tcp.StateFinWait2, tcp.StateTimeWait, tcp.StateClosed:
			return
		}
		writable, _, made := c.waitOn(&c.writable)
		if made {
			continue
		}
		select {
		case <-writable:
		case <-t.C:
			return
		}
	}
}

// CloseWrite shuts down the sending side (a half-close): the peer reads EOF
// while this side can still read.
func (c *Conn) CloseWrite() error {
	return c.shutdown(func(now time.Time) { c.tcb.Close(now) })
}

// CloseRead shuts down the receiving side.
func (c *Conn) CloseRead() error {
	return c.shutdown(func(now time.Time) { c.tcb.CloseRead(now) })
}

// shutdown runs f on the TCB unless the connection was closed (it serves
// the half-closes and the option setters alike).
func (c *Conn) shutdown(f func(time.Time)) error {
	c.s.mu.Lock()
	if c.userClosed {
		c.s.mu.Unlock()
		return c.opError("shutdown", net.ErrClosed)
	}
	f(c.s.now())
	c.s.settle(c)
	c.s.unlock()
	return nil
}

// Abort resets the connection at once (RFC 9293 §3.10.5 ABORT).
func (c *Conn) Abort() {
	c.s.mu.Lock()
	c.tcb.Abort(c.s.now())
	c.s.settle(c)
	c.s.unlock()
}

// SetNoDelay switches Nagle's algorithm off (true) or on, as
// (*net.TCPConn).SetNoDelay does. tinytcp connections start with Nagle on,
// as RFC 9293 asks (SHLD-7), unlike Go's kernel sockets, which start with
// it off.
func (c *Conn) SetNoDelay(noDelay bool) error {
	c.s.mu.Lock()
	if c.userClosed {
		c.s.mu.Unlock()
		return c.opError("set", net.ErrClosed)
	}
	c.tcb.SetNoDelay(noDelay, c.s.now())
	c.s.settle(c)
	c.s.unlock()
	return nil
}

// SetUserTimeout sets how long sent data may stay unacknowledged before
// the connection is given up with ETIMEDOUT: R2 of RFC 9293 §3.8.3 as a
// time (MUST-21), the user timeout of RFC 5482 and Linux's
// TCP_USER_TIMEOUT. Zero goes back to the default of 15 retransmissions.
func (c *Conn) SetUserTimeout(d time.Duration) error {
	return c.shutdown(func(now time.Time) { c.tcb.SetUserTimeout(d, now) })
}

// SetTTL sets the time to live of the connection's packets, as
// (*ipv4.Conn).SetTTL of golang.org/x/net does (RFC 9293 MUST-49).
func (c *Conn) SetTTL(ttl int) error {
	if ttl < 1 || ttl > 255 {
		return c.opError("set", fmt.Errorf("TTL %d is outside 1..255", ttl))
	}
	return c.shutdown(func(time.Time) {
		f := c.tcb.IPFields()
		f.TTL = uint8(ttl)
		c.tcb.SetIPFields(f)
	})
}

// SetDSCP sets the Differentiated Services code point (RFC 2474) of the
// connection's packets, the upper six bits of the old TOS byte (RFC 9293
// MUST-48), passed to IP unchanged (SHLD-22). The two ECN bits below it are
// TCP's, not the application's. It may be changed at any time (SHLD-21),
// though RFC 9293 advises applications not to, in general, once the
// connection is open (SHLD-23): a path may treat the two parts of one
// stream differently.
func (c *Conn) SetDSCP(dscp int) error {
	if dscp < 0 || dscp > 63 {
		return c.opError("set", fmt.Errorf("DSCP %d is outside 0..63", dscp))
	}
	return c.shutdown(func(time.Time) {
		f := c.tcb.IPFields()
		f.DSCP = uint8(dscp)
		c.tcb.SetIPFields(f)
	})
}

// ReceivedDSCP returns the DSCP of the last segment received on the
// connection (RFC 9293 MAY-9: pass the received DiffServ field up).
func (c *Conn) ReceivedDSCP() int {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return int(c.recvDSCP)
}

// SetKeepAliveConfig sets keep-alive probes as (*net.TCPConn) does; zero
// durations and counts take RFC 9293's and Linux's defaults (two hours of
// idle time, 75 s between probes, 9 probes), not Go's.
func (c *Conn) SetKeepAliveConfig(k net.KeepAliveConfig) error {
	return c.shutdown(func(now time.Time) {
		c.tcb.SetKeepAlive(tcp.KeepAlive{Enabled: k.Enable, Idle: k.Idle, Interval: k.Interval, Count: k.Count}, now)
	})
}

// SetKeepAlive switches keep-alive probes on or off, keeping their timing.
func (c *Conn) SetKeepAlive(on bool) error {
	return c.shutdown(func(now time.Time) {
		k := c.tcb.KeepAlive()
		k.Enabled = on
		c.tcb.SetKeepAlive(k, now)
	})
}

// SetKeepAlivePeriod sets both the idle time and the probe interval to d,
// as (*net.TCPConn).SetKeepAlivePeriod does.
func (c *Conn) SetKeepAlivePeriod(d time.Duration) error {
	return c.shutdown(func(now time.Time) {
		k := c.tcb.KeepAlive()
		k.Idle, k.Interval = d, d
		c.tcb.SetKeepAlive(k, now)
	})
}

// LocalAddr returns the stack's end of the connection.
func (c *Conn) LocalAddr() net.Addr { return net.TCPAddrFromAddrPort(c.id().Local) }

// RemoteAddr returns the peer's end of the connection.
func (c *Conn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.id().Remote) }

// SetDeadline sets both the read and the write deadline.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline sets the deadline for Read calls, present and future.
func (c *Conn) SetReadDeadline(t time.Time) error { c.rd.set(t); return nil }

// SetWriteDeadline sets the deadline for Write calls, present and future.
func (c *Conn) SetWriteDeadline(t time.Time) error { c.wd.set(t); return nil }

// Info returns a snapshot of the connection's TCB.
func (c *Conn) Info() tcp.Info {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.tcb.Info()
}

// opError wraps err the way package net does, translating the TCP errors
// to the errno values a kernel socket would report, so errors.Is(err,
// syscall.ECONNRESET) works as with a kernel connection.
func (c *Conn) opError(op string, err error) error {
	if errors.Is(err, io.EOF) {
		return err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: errnoFor(op, err)}
}

func errnoFor(op string, err error) error {
	var errno syscall.Errno
	switch {
	case errors.Is(err, tcp.ErrConnectionReset):
		errno = syscall.ECONNRESET
	case errors.Is(err, tcp.ErrConnectionRefused):
		errno = syscall.ECONNREFUSED
	// The errors of ICMP messages (tcp/icmp.go), before ErrTimeout: a
	// timeout after a soft error reports the soft error, as Linux does.
	case errors.Is(err, tcp.ErrNetUnreachable):
		errno = syscall.ENETUNREACH
	case errors.Is(err, tcp.ErrHostUnreachable), errors.Is(err, tcp.ErrTimeExceeded):
		errno = syscall.EHOSTUNREACH
	case errors.Is(err, tcp.ErrProtocolUnreachable):
		errno = syscall.ENOPROTOOPT
	case errors.Is(err, tcp.ErrSourceRouteFailed):
		errno = syscall.EOPNOTSUPP
	case errors.Is(err, tcp.ErrParameterProblem):
		errno = syscall.EPROTO
	case errors.Is(err, tcp.ErrMessageTooLong):
		errno = syscall.EMSGSIZE
	case errors.Is(err, tcp.ErrTimeout):
		errno = syscall.ETIMEDOUT
	case errors.Is(err, tcp.ErrConnectionAborted):
		errno = syscall.ECONNABORTED
	case errors.Is(err, tcp.ErrClosing):
		errno = syscall.EPIPE
	default:
		return err
	}
	return os.NewSyscallError(op, errno)
}

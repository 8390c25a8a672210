package stack

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"syscall"

	"tinytcp/ip"
	"tinytcp/tcp"
)

// Non-blocking calls, in the manner of a socket with O_NONBLOCK: each does
// what it can at once and returns ErrWouldBlock when it can do nothing. The
// conformance harness drives tinytcp with them, step by step, as it drives
// a kernel socket; applications use the blocking net.Conn calls.

// ErrWouldBlock means a non-blocking call could not make progress now.
var ErrWouldBlock = errors.New("stack: operation would block")

// Connect starts an active open to remote and returns at once, with the
// connection in SYN-SENT (a non-blocking connect). Dial is the blocking
// form.
func (s *Stack) Connect(remote netip.AddrPort, cfg *tcp.Config) (*Conn, error) {
	s.mu.Lock()
	defer s.unlock()
	if s.closed {
		return nil, ErrStackClosed
	}
	if err := ip.ValidPeer(remote.Addr()); err != nil {
		// MUST-46: no OPEN to a broadcast or multicast address, or to any
		// other address that cannot be a unicast peer. Linux says
		// ENETUNREACH for these too.
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(remote), Err: fmt.Errorf("%w: %w", syscall.ENETUNREACH, err)}
	}
	port, ok := s.pickPort(remote)
	if !ok || len(s.conns) >= s.cfg.MaxConnections {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(remote), Err: syscall.EADDRNOTAVAIL}
	}
	tcfg := s.cfg.TCP
	if cfg != nil {
		if err := cfg.Check(); err != nil {
			return nil, err
		}
		tcfg = *cfg
		if tcfg.ISN == nil {
			tcfg.ISN = s.cfg.TCP.ISN
		}
	}
	id := tcp.ID{Local: netip.AddrPortFrom(s.addr, port), Remote: remote}
	c := newConn(s)
	c.ephemeral = true
	s.conns[keyOf(id)] = c
	c.tcb = tcp.Dial(tcfg, s, id, s.now())
	s.Counters.inc("tcp.ActiveConnectionOpenings")
	s.settle(c)
	return c, nil
}

// TryAccept returns the next established connection, or ErrWouldBlock.
func (l *Listener) TryAccept() (*Conn, error) {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if l.closed {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
	}
	if len(l.queue) == 0 {
		return nil, ErrWouldBlock
	}
	c := l.queue[0]
	l.queue[0] = nil
	l.queue = l.queue[1:]
	return c, nil
}

// TryRead reads what is buffered: io.EOF after the peer's FIN, the
// connection's error if it failed, ErrWouldBlock if nothing is there yet.
func (c *Conn) TryRead(p []byte) (int, error) {
	c.s.mu.Lock()
	if c.userClosed {
		c.s.mu.Unlock()
		return 0, c.opError("read", net.ErrClosed)
	}
	if n := c.tcb.Read(p, c.s.now()); n > 0 {
		c.s.settle(c)
		c.s.unlock()
		return n, nil
	}
	err, eof := c.tcb.Err(), c.tcb.ReadEOF()
	c.s.mu.Unlock()
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case eof:
		return 0, io.EOF
	}
	return 0, ErrWouldBlock
}

// TryWrite queues what fits of p, or returns ErrWouldBlock if nothing does.
func (c *Conn) TryWrite(p []byte) (int, error) { return c.tryWrite(p, false) }

// tryWrite is TryWrite, or TryWriteUrgent when urgent is set.
func (c *Conn) tryWrite(p []byte, urgent bool) (int, error) {
	c.s.mu.Lock()
	if c.userClosed {
		c.s.mu.Unlock()
		return 0, c.opError("write", net.ErrClosed)
	}
	write := c.tcb.Write
	if urgent {
		write = c.tcb.WriteUrgent
	}
	n, err := write(p, c.s.now())
	c.s.settle(c)
	c.s.unlock()
	switch {
	case err != nil:
		return n, c.opError("write", err)
	case n == 0 && len(p) > 0:
		return 0, ErrWouldBlock
	}
	return n, nil
}

// State returns the connection's RFC 9293 state.
func (c *Conn) State() tcp.State {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.tcb.State()
}

// Err returns the error that ended the connection, or nil.
func (c *Conn) Err() error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if err := c.tcb.Err(); err != nil {
		return c.opError("read", err)
	}
	return nil
}

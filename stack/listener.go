package stack

import (
	"fmt"
	"net"
	"syscall"
	"time"

	"tinytcp/tcp"
)

// Listener is a passive OPEN on one port (RFC 9293 §3.10.1). It implements
// net.Listener. Connections are created per SYN (see listenInput) and wait
// here, once established, for Accept. The backlog bounds connections that
// are half-open plus those waiting, as in Linux.
type Listener struct {
	s       *Stack
	port    uint16
	backlog int
	tcp     tcp.Config // settings of the connections it accepts

	// Guarded by s.mu.
	pending int     // connections in SYN-RECEIVED
	queue   []*Conn // established, waiting for Accept
	closed  bool

	notify chan struct{} // signalled when queue grows; capacity 1
	done   chan struct{} // closed by Close
}

var _ net.Listener = (*Listener)(nil)

// Listen starts accepting connections to port on the stack's address.
func (s *Stack) Listen(port uint16) (*Listener, error) { return s.ListenWith(port, 0, nil) }

// ListenWith is Listen with a backlog (0 for Config.Backlog) and settings
// for the accepted connections (nil for Config.TCP).
func (s *Stack) ListenWith(port uint16, backlog int, cfg *tcp.Config) (*Listener, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrStackClosed
	}
	if port == 0 {
		return nil, fmt.Errorf("stack: listen on port 0: choose a port")
	}
	if _, ok := s.listeners[port]; ok {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: s.tcpAddr(port), Err: syscall.EADDRINUSE}
	}
	if backlog <= 0 {
		backlog = s.cfg.Backlog
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
	l := &Listener{
		s:       s,
		port:    port,
		backlog: backlog,
		tcp:     tcfg,
		notify:  make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	s.listeners[port] = l
	return l, nil
}

func (s *Stack) tcpAddr(port uint16) *net.TCPAddr {
	return &net.TCPAddr{IP: s.addr.AsSlice(), Port: int(port)}
}

// enqueue makes an established connection available to Accept.
func (l *Listener) enqueue(c *Conn) {
	l.queue = append(l.queue, c)
	select {
	case l.notify <- struct{}{}:
	default:
	}
}

// Accept waits for the next connection.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		l.s.mu.Lock()
		if l.closed {
			l.s.mu.Unlock()
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
		}
		if len(l.queue) > 0 {
			c := l.queue[0]
			l.queue[0] = nil
			l.queue = l.queue[1:]
			l.s.mu.Unlock()
			return c, nil
		}
		l.s.mu.Unlock()
		select {
		case <-l.notify:
		case <-l.done:
		}
	}
}

// Close stops listening. Connections not yet accepted are reset.
func (l *Listener) Close() error {
	l.s.mu.Lock()
	if l.closed {
		l.s.mu.Unlock()
		return &net.OpError{Op: "close", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
	}
	l.closeLocked(l.s.now())
	l.s.unlock()
	return nil
}

func (l *Listener) closeLocked(now time.Time) {
	l.closed = true
	delete(l.s.listeners, l.port)
	for _, c := range l.queue {
		c.tcb.Abort(now)
		l.s.settle(c)
	}
	l.queue = nil
	for _, c := range l.s.conns {
		if c.listener == l && c.tcb.State() == tcp.StateSynReceived {
			c.tcb.Abort(now)
			l.s.settle(c)
		}
	}
	close(l.done)
}

// Addr returns the listening address.
func (l *Listener) Addr() net.Addr { return l.s.tcpAddr(l.port) }

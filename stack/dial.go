package stack

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"tinytcp/tcp"
)

// The ephemeral port range, as Linux's default ip_local_port_range.
const (
	ephemeralFirst = 32768
	ephemeralLast  = 60999
)

// Dial opens a connection to remote (an active OPEN, RFC 9293 §3.10.1) and
// waits until it is established, refused, timed out or ctx is done.
func (s *Stack) Dial(ctx context.Context, remote netip.AddrPort) (*Conn, error) {
	if !remote.Addr().Is4() {
		return nil, fmt.Errorf("stack: dial %v: only IPv4 is supported", remote)
	}
	c, err := s.Connect(remote, nil)
	if err != nil {
		return nil, err
	}
	for {
		s.mu.Lock()
		st, err := c.tcb.State(), c.tcb.Err()
		s.mu.Unlock()
		switch {
		case err != nil:
			s.Counters.inc("tcp.FailedConnectionAttempts")
			return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: c.RemoteAddr(), Err: errnoFor("connect", err)}
		case st.Synchronized():
			return c, nil
		}
		writable, _, made := c.waitOn(&c.writable)
		if made {
			continue
		}
		select {
		case <-writable:
		case <-ctx.Done():
			c.Abort()
			s.Counters.inc("tcp.FailedConnectionAttempts")
			return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: c.RemoteAddr(), Err: ctx.Err()}
		}
	}
}

// pickPort chooses a free local port for a connection to remote, starting
// at a random point of the ephemeral range (RFC 6056 §3.3.1). Called with
// mu held.
func (s *Stack) pickPort(remote netip.AddrPort) (uint16, bool) {
	n := ephemeralLast - ephemeralFirst + 1
	start := s.rng.IntN(n)
	for i := 0; i < n; i++ {
		port := uint16(ephemeralFirst + (start+i)%n)
		if _, listening := s.listeners[port]; listening {
			continue
		}
		if _, used := s.conns[keyOf(tcp.ID{Local: netip.AddrPortFrom(s.addr, port), Remote: remote})]; used {
			continue
		}
		return port, true
	}
	return 0, false
}

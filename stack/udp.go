package stack

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"tinytcp/ip"
)

// UDP, RFC 768 with the host requirements of RFC 1122 §4.1: a socket per
// local port, found by the destination port of each arriving datagram (or,
// for a socket from DialUDP, by both ports and the peer's address), with a
// bounded queue of datagrams waiting for ReadFrom. Datagrams are delivered
// as they arrive: lost, duplicated or out of order, exactly as the link
// made them. That is the point of having UDP next to TCP.
//
// Every arriving datagram is counted under gVisor's udp.* names:
// udp.PacketsReceived (queued for a socket), udp.MalformedPacketsReceived
// (lengths wrong), udp.ChecksumErrors (RFC 1122 §4.1.3.4: "If a UDP
// datagram is received with a checksum that is non-zero and invalid, UDP
// MUST silently discard the datagram"), udp.UnknownPortErrors (nobody
// there: answered with ICMP port unreachable, RFC 1122 §4.1.3.1) and
// udp.ReceiveBufferErrors (the socket's queue was full). udp.PacketsSent
// counts what WriteTo sent.
//
// Left out: fragmentation (a datagram longer than the MTU less the IP and
// UDP headers is refused with EMSGSIZE, as Linux does on a socket with
// IP_PMTUDISC_DO); broadcast and multicast; ICMP errors about our
// datagrams (they are counted and dropped by icmp.go, so a connected
// socket never reports ECONNREFUSED); a datagram is copied once into the
// queue, one allocation each, which TCP's data path avoids and UDP's
// demo rates do not need.

// DefaultUDPReceiveBuffer bounds the bytes a UDP socket holds for ReadFrom,
// each datagram charged its length plus udpOverhead (so that a flood of
// empty datagrams is bounded too). SetReadBuffer changes it per socket.
const DefaultUDPReceiveBuffer = 256 << 10

// udpOverhead is what a queued datagram costs beyond its data: its entry in
// the queue and its source address, roughly.
const udpOverhead = 64

// Drop reasons of UDP that ip.DropReason does not name.
const (
	dropUDPNoSocket   = "drop.udp_no_socket"
	dropUDPBufferFull = "drop.udp_receive_buffer_full"
)

// UDPConn is a UDP socket of the stack. It implements net.PacketConn
// (ReadFrom, WriteTo) and, like *net.UDPConn, net.Conn (Read, Write), which
// needs a peer: DialUDP sets one.
type UDPConn struct {
	s      *Stack
	local  netip.AddrPort
	remote netip.AddrPort // the peer of DialUDP; invalid for ListenUDP

	// Guarded by s.mu.
	queue  []datagram // arrived, waiting for ReadFrom, oldest first
	queued int        // bytes charged for queue (see DefaultUDPReceiveBuffer)
	rcvbuf int        // the bound on queued
	closed bool

	notify chan struct{} // signalled when a datagram is queued; capacity 1
	done   chan struct{} // closed by Close
	rd, wd deadline
}

// datagram is one arrived datagram: its data and where it came from.
type datagram struct {
	from netip.AddrPort
	data []byte
}

var (
	_ net.PacketConn = (*UDPConn)(nil)
	_ net.Conn       = (*UDPConn)(nil)
)

// ListenUDP opens a UDP socket on port of the stack's address (port 0 for
// one from the ephemeral range) that receives from anyone.
func (s *Stack) ListenUDP(port uint16) (*UDPConn, error) {
	return s.openUDP(port, netip.AddrPort{})
}

// DialUDP opens a UDP socket on an ephemeral port that sends to remote and
// receives only from it (a "connected" socket, as connect(2) makes one).
func (s *Stack) DialUDP(remote netip.AddrPort) (*UDPConn, error) {
	if !remote.Addr().Unmap().Is4() || remote.Port() == 0 {
		return nil, &net.OpError{Op: "dial", Net: "udp", Addr: net.UDPAddrFromAddrPort(remote), Err: syscall.EINVAL}
	}
	return s.openUDP(0, netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port()))
}

func (s *Stack) openUDP(port uint16, remote netip.AddrPort) (*UDPConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrStackClosed
	}
	if s.udp == nil {
		s.udp = make(map[uint16]*UDPConn)
	}
	if port == 0 {
		var ok bool
		if port, ok = s.pickUDPPort(); !ok {
			return nil, &net.OpError{Op: "listen", Net: "udp", Err: syscall.EADDRINUSE}
		}
	} else if _, used := s.udp[port]; used {
		return nil, &net.OpError{Op: "listen", Net: "udp", Addr: s.udpAddr(port), Err: syscall.EADDRINUSE}
	}
	c := &UDPConn{
		s:      s,
		local:  netip.AddrPortFrom(s.addr, port),
		remote: remote,
		rcvbuf: DefaultUDPReceiveBuffer,
		notify: make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	s.udp[port] = c
	return c, nil
}

// pickUDPPort chooses a free UDP port from a random point of the
// ephemeral range (RFC 6056 §3.3.1). Called with mu held.
func (s *Stack) pickUDPPort() (uint16, bool) {
	n := ephemeralLast - ephemeralFirst + 1
	start := s.rng.IntN(n)
	for i := 0; i < n; i++ {
		port := uint16(ephemeralFirst + (start+i)%n)
		if _, used := s.udp[port]; !used {
			return port, true
		}
	}
	return 0, false
}

func (s *Stack) udpAddr(port uint16) *net.UDPAddr {
	return &net.UDPAddr{IP: s.addr.AsSlice(), Port: int(port)}
}

// deliverUDP checks a datagram and queues it for its socket, or answers
// that nobody listens. vouched says the device vouches for the checksum
// (offload.go). Called with mu held.
func (s *Stack) deliverUDP(h ip.IPv4, vouched bool) {
	u, err := ip.ParseUDP(h.Payload())
	if err == nil && !vouched {
		err = u.VerifyChecksum(h.Src(), h.Dst())
	}
	if err != nil {
		s.Counters.inc("drop." + ip.DropReason(err))
		if errors.Is(err, ip.ErrUDPChecksum) {
			s.Counters.inc("udp.ChecksumErrors") // MUST silently discard (RFC 1122 §4.1.3.4)
		} else {
			s.Counters.inc("udp.MalformedPacketsReceived")
		}
		return
	}
	from := netip.AddrPortFrom(h.Src(), u.SrcPort())
	c := s.udp[u.DstPort()]
	if c == nil || (c.remote.IsValid() && c.remote != from) {
		// "If a datagram arrives addressed to a UDP port for which there
		// is no pending LISTEN call, UDP SHOULD send an ICMP Port
		// Unreachable message." (RFC 1122 §4.1.3.1) The source is a
		// unicast address (deliver checked), so an answer is allowed.
		s.Counters.inc(dropUDPNoSocket)
		s.Counters.inc("udp.UnknownPortErrors")
		s.sendICMPUnreachable(h, ip.CodePortUnreachable)
		return
	}
	data := u.Payload()
	if cost := len(data) + udpOverhead; c.queued+cost > c.rcvbuf {
		s.Counters.inc(dropUDPBufferFull)
		s.Counters.inc("udp.ReceiveBufferErrors")
		return
	}
	c.queue = append(c.queue, datagram{from: from, data: bytes.Clone(data)})
	c.queued += len(data) + udpOverhead
	s.Counters.inc("udp.PacketsReceived")
	signal(c.notify)
}

// ReadFrom reads the next datagram into p and returns its length and
// sender. A datagram longer than p is cut to fit and the rest is lost, as
// with a kernel socket.
func (c *UDPConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, from, err := c.ReadFromUDPAddrPort(p)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// ReadFromUDPAddrPort is ReadFrom with the sender as a netip.AddrPort, as
// *net.UDPConn has it.
func (c *UDPConn) ReadFromUDPAddrPort(p []byte) (int, netip.AddrPort, error) {
	s := c.s
	for {
		if c.rd.passed() {
			return 0, netip.AddrPort{}, c.opError("read", nil, os.ErrDeadlineExceeded)
		}
		s.mu.Lock()
		if c.closed || s.closed {
			s.mu.Unlock()
			return 0, netip.AddrPort{}, c.opError("read", nil, net.ErrClosed)
		}
		if len(c.queue) > 0 {
			d := c.queue[0]
			c.queue[0] = datagram{}
			c.queue = c.queue[1:]
			c.queued -= len(d.data) + udpOverhead
			s.mu.Unlock()
			return copy(p, d.data), d.from, nil
		}
		s.mu.Unlock()
		select {
		case <-c.notify:
		case <-c.rd.wait():
		case <-c.done:
		case <-s.done:
		}
	}
}

// Read reads the next datagram, on a socket from DialUDP or ListenUDP.
func (c *UDPConn) Read(p []byte) (int, error) {
	n, _, err := c.ReadFromUDPAddrPort(p)
	return n, err
}

// WriteTo sends p as one datagram to addr, a *net.UDPAddr (or anything
// whose String is an IPv4 address and port). It never blocks: a datagram
// the link drops is gone, which UDP does not notice.
func (c *UDPConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if c.remote.IsValid() {
		return 0, c.opError("write", addr, net.ErrWriteToConnected)
	}
	var to netip.AddrPort
	switch a := addr.(type) {
	case *net.UDPAddr:
		to = a.AddrPort()
	case nil:
		return 0, c.opError("write", nil, syscall.EDESTADDRREQ)
	default:
		var err error
		if to, err = netip.ParseAddrPort(addr.String()); err != nil {
			return 0, c.opError("write", addr, syscall.EINVAL)
		}
	}
	return c.WriteToUDPAddrPort(p, to)
}

// Write sends p as one datagram to the peer of DialUDP.
func (c *UDPConn) Write(p []byte) (int, error) {
	if !c.remote.IsValid() {
		return 0, c.opError("write", nil, syscall.EDESTADDRREQ)
	}
	return c.send(p, c.remote)
}

// WriteToUDPAddrPort is WriteTo with the destination as a netip.AddrPort.
func (c *UDPConn) WriteToUDPAddrPort(p []byte, to netip.AddrPort) (int, error) {
	if c.remote.IsValid() {
		return 0, c.opError("write", net.UDPAddrFromAddrPort(to), net.ErrWriteToConnected)
	}
	return c.send(p, to)
}

// send builds the datagram for p (IPv4 and UDP headers, RFC 768 checksum)
// and queues it for the device.
func (c *UDPConn) send(p []byte, to netip.AddrPort) (int, error) {
	s := c.s
	to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	switch {
	case c.wd.passed():
		return 0, c.opError("write", net.UDPAddrFromAddrPort(to), os.ErrDeadlineExceeded)
	case !to.Addr().Is4() || to.Port() == 0:
		return 0, c.opError("write", net.UDPAddrFromAddrPort(to), syscall.EINVAL)
	case ip.HeaderMinLen+ip.UDPHeaderLen+len(p) > s.mtu:
		// No fragmentation: the datagram must fit the link.
		return 0, c.opError("write", net.UDPAddrFromAddrPort(to), syscall.EMSGSIZE)
	}
	s.mu.Lock()
	if c.closed || s.closed {
		s.mu.Unlock()
		return 0, c.opError("write", net.UDPAddrFromAddrPort(to), net.ErrClosed)
	}
	pkt := s.getBuf()
	b := pkt[ip.HeaderMinLen : ip.HeaderMinLen+ip.UDPHeaderLen+len(p)]
	copy(b[ip.UDPHeaderLen:], p)
	f := ip.UDPFields{SrcPort: c.local.Port(), DstPort: to.Port()}
	f.Encode(b, s.addr, to.Addr())
	s.finishIP(pkt, ip.ProtocolUDP, to.Addr(), len(b))
	s.Counters.inc("udp.PacketsSent")
	s.unlock()
	return len(p), nil
}

// Close closes the socket; datagrams still queued are dropped, and blocked
// reads return net.ErrClosed.
func (c *UDPConn) Close() error {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.closed {
		return c.opError("close", nil, net.ErrClosed)
	}
	c.closed = true
	if s.udp[c.local.Port()] == c {
		delete(s.udp, c.local.Port())
	}
	c.queue, c.queued = nil, 0
	close(c.done)
	return nil
}

// SetReadBuffer sets how many bytes of datagrams may wait for ReadFrom
// (each charged its length plus a small overhead); more are dropped and
// counted as udp.ReceiveBufferErrors.
func (c *UDPConn) SetReadBuffer(bytes int) error {
	if bytes <= 0 {
		return c.opError("set", nil, fmt.Errorf("read buffer of %d bytes: %w", bytes, syscall.EINVAL))
	}
	c.s.mu.Lock()
	c.rcvbuf = bytes
	c.s.mu.Unlock()
	return nil
}

// LocalAddr returns the socket's address, a *net.UDPAddr.
func (c *UDPConn) LocalAddr() net.Addr { return net.UDPAddrFromAddrPort(c.local) }

// RemoteAddr returns the peer of DialUDP, or nil.
func (c *UDPConn) RemoteAddr() net.Addr {
	if !c.remote.IsValid() {
		return nil
	}
	return net.UDPAddrFromAddrPort(c.remote)
}

// SetDeadline sets both deadlines.
func (c *UDPConn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline makes a blocked or future ReadFrom fail with
// os.ErrDeadlineExceeded once t has passed; the zero time means none.
func (c *UDPConn) SetReadDeadline(t time.Time) error {
	c.rd.set(t)
	return nil
}

// SetWriteDeadline makes WriteTo fail once t has passed. Writes never
// block, so this only matters for a deadline already in the past.
func (c *UDPConn) SetWriteDeadline(t time.Time) error {
	c.wd.set(t)
	return nil
}

// opError wraps err the way package net does.
func (c *UDPConn) opError(op string, addr net.Addr, err error) error {
	if addr == nil {
		addr = c.RemoteAddr()
	}
	return &net.OpError{Op: op, Net: "udp", Source: c.LocalAddr(), Addr: addr, Err: err}
}

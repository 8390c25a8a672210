package demo

import (
	"net"
	"sync"

	"tinytcp/stack"
)

// The UDP twins of echo and discard: RFC 862 and RFC 863 define both
// services over UDP too, on the same ports. Over UDP each datagram is
// answered (or dropped) on its own, so what the link does to datagrams
// shows up unchanged at the client: see `tinytcp udp-vs-tcp`.

// EchoUDP sends every datagram back to its sender (RFC 862) until c is
// closed.
func EchoUDP(c net.PacketConn) {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		c.WriteTo(buf[:n], from) //nolint:errcheck // a lost answer is UDP's normal
	}
}

// DiscardUDP reads and throws away every datagram (RFC 863) until c is
// closed.
func DiscardUDP(c net.PacketConn) {
	buf := make([]byte, 64<<10)
	for {
		if _, _, err := c.ReadFrom(buf); err != nil {
			return
		}
	}
}

// serveUDP starts UDP echo on 7 and discard on 9. The returned function
// closes both sockets and waits for the services to end.
func serveUDP(s *stack.Stack) (stop func(), err error) {
	var conns []*stack.UDPConn
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	for _, port := range []uint16{PortEcho, PortDiscard} {
		c, err := s.ListenUDP(port)
		if err != nil {
			closeAll()
			return nil, err
		}
		conns = append(conns, c)
	}
	var wg sync.WaitGroup
	for i, serve := range []func(net.PacketConn){EchoUDP, DiscardUDP} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve(conns[i])
		}()
	}
	return func() {
		closeAll()
		wg.Wait()
	}, nil
}

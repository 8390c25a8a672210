package conformance

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"tinytcp/stack"
	"tinytcp/tcp"
	"tinytcp/tun"
)

// Tinytcp runs tinytcp's stack on a manual clock, fed packet by packet
// with stack.Inject, its output caught by an in-memory device: fully
// deterministic, and a minute of retransmission backoff passes at once.
type Tinytcp struct{}

// Name implements Backend.
func (Tinytcp) Name() string { return "tinytcp" }

// VirtualTime implements Backend.
func (Tinytcp) VirtualTime() bool { return true }

// epoch is where the manual clocks start; any fixed time will do.
var epoch = time.Unix(1_700_000_000, 0)

// Start implements Backend.
func (Tinytcp) Start() (Instance, error) {
	clock := stack.NewManualClock(epoch)
	dev := &captureDevice{clock: clock, closed: make(chan struct{})}
	s, err := stack.New(stack.Config{Device: dev, Addr: StackAddr, Clock: clock})
	if err != nil {
		return nil, err
	}
	return &tinytcpInstance{s: s, clock: clock, dev: dev}, nil
}

// captureDevice is the link of a harnessed stack: what the stack writes is
// kept, stamped with the clock; nothing is ever read (packets come in
// through Stack.Inject).
type captureDevice struct {
	clock  *stack.ManualClock
	mu     sync.Mutex
	out    []sent
	closed chan struct{}
	once   sync.Once
}

type sent struct {
	pkt []byte
	at  time.Duration
}

func (d *captureDevice) Read([]byte) (int, error) {
	<-d.closed
	return 0, tun.ErrClosed
}

func (d *captureDevice) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.out = append(d.out, sent{append([]byte(nil), p...), d.clock.Now().Sub(epoch)})
	return len(p), nil
}

func (d *captureDevice) take() (sent, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.out) == 0 {
		return sent{}, false
	}
	s := d.out[0]
	d.out = d.out[1:]
	return s, true
}

func (d *captureDevice) MTU() int     { return 1500 }
func (d *captureDevice) Name() string { return "capture" }
func (d *captureDevice) Close() error {
	d.once.Do(func() { close(d.closed) })
	return nil
}

type tinytcpInstance struct {
	s     *stack.Stack
	clock *stack.ManualClock
	dev   *captureDevice
}

func (i *tinytcpInstance) Inject(pkt []byte) error {
	i.s.Inject(pkt)
	return nil
}

// Next takes the oldest packet sent, or moves the clock from timer to
// timer until one is sent or wait has passed.
func (i *tinytcpInstance) Next(wait time.Duration) ([]byte, time.Duration, bool) {
	end := i.clock.Now().Add(wait)
	for {
		if s, ok := i.dev.take(); ok {
			return s.pkt, s.at, true
		}
		next := i.clock.NextDeadline()
		if next.IsZero() || next.After(end) {
			i.clock.Advance(end.Sub(i.clock.Now()))
			if s, ok := i.dev.take(); ok {
				return s.pkt, s.at, true
			}
			return nil, 0, false
		}
		i.clock.Advance(next.Sub(i.clock.Now()))
	}
}

func (i *tinytcpInstance) Advance(d time.Duration) { i.clock.Advance(d) }
func (i *tinytcpInstance) Now() time.Duration      { return i.clock.Now().Sub(epoch) }
func (i *tinytcpInstance) Close() error            { return i.s.Close() }

func tcpConfig(o SocketOptions) *tcp.Config {
	return &tcp.Config{RecvBufferSize: o.RecvBuffer, SendBufferSize: o.SendBuffer, NoDelay: o.NoDelay, UserTimeout: o.UserTimeout,
		IP: tcp.IPFields{TTL: uint8(o.TTL), DSCP: uint8(o.DSCP)}}
}

func (i *tinytcpInstance) Listen(port uint16, backlog int, opts SocketOptions) (Socket, error) {
	l, err := i.s.ListenWith(port, backlog, tcpConfig(opts))
	if err != nil {
		return nil, err
	}
	return &tinytcpListener{l: l, port: port}, nil
}

func (i *tinytcpInstance) Connect(port uint16, opts SocketOptions) (Socket, error) {
	c, err := i.s.Connect(netip.AddrPortFrom(PeerAddr, port), tcpConfig(opts))
	if err != nil {
		return nil, err
	}
	return &tinytcpConn{c: c}, nil
}

// tinytcpListener is a listening Socket; the data calls do not apply.
type tinytcpListener struct {
	l      *stack.Listener
	port   uint16
	closed bool
}

func (l *tinytcpListener) Accept() (Socket, error) {
	c, err := l.l.TryAccept()
	if err != nil {
		return nil, normalise(err)
	}
	return &tinytcpConn{c: c}, nil
}
func (l *tinytcpListener) Write([]byte) (int, error) { return 0, ErrNotSupported }
func (l *tinytcpListener) Read([]byte) (int, error)  { return 0, ErrNotSupported }
func (l *tinytcpListener) ShutdownWrite() error      { return ErrNotSupported }
func (l *tinytcpListener) Close() error {
	l.closed = true
	return l.l.Close()
}
func (l *tinytcpListener) State() string {
	if l.closed {
		return "CLOSED"
	}
	return "LISTEN"
}
func (l *tinytcpListener) Err() error            { return nil }
func (l *tinytcpListener) LocalPort() uint16     { return l.port }
func (l *tinytcpListener) SetNoDelay(bool) error { return nil }

// No urgent data on a listener.
func (l *tinytcpListener) WriteUrgent([]byte) (int, error) { return 0, ErrNotSupported }
func (l *tinytcpListener) Urgent() (int, error)            { return 0, ErrNotSupported }

type tinytcpConn struct{ c *stack.Conn }

func (c *tinytcpConn) Accept() (Socket, error) { return nil, ErrNotSupported }
func (c *tinytcpConn) Write(p []byte) (int, error) {
	n, err := c.c.TryWrite(p)
	return n, normalise(err)
}
func (c *tinytcpConn) Read(p []byte) (int, error) {
	n, err := c.c.TryRead(p)
	return n, normalise(err)
}
func (c *tinytcpConn) ShutdownWrite() error { return normalise(c.c.CloseWrite()) }
func (c *tinytcpConn) Close() error         { return normalise(c.c.Close()) }
func (c *tinytcpConn) State() string        { return c.c.State().String() }
func (c *tinytcpConn) Err() error           { return normalise(c.c.Err()) }
func (c *tinytcpConn) LocalPort() uint16 {
	return uint16(c.c.LocalAddr().(*net.TCPAddr).Port)
}

// SetNoDelay switches Nagle's algorithm.
func (c *tinytcpConn) SetNoDelay(on bool) error { return normalise(c.c.SetNoDelay(on)) }

// WriteUrgent is stack.Conn's TryWriteUrgent.
func (c *tinytcpConn) WriteUrgent(p []byte) (int, error) {
	n, err := c.c.TryWriteUrgent(p)
	return n, normalise(err)
}

// Urgent is stack.Conn's Urgent.
func (c *tinytcpConn) Urgent() (int, error) {
	_, n := c.c.Urgent()
	return n, nil
}

// normalise maps tinytcp's errors onto the harness's.
func normalise(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, stack.ErrWouldBlock):
		return ErrWouldBlock
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED):
		return ErrReset
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrRefused
	case errors.Is(err, syscall.EHOSTUNREACH):
		return ErrHostUnreachable
	case errors.Is(err, syscall.ENETUNREACH):
		return ErrNetUnreachable
	case errors.Is(err, syscall.ETIMEDOUT):
		return ErrTimedOut
	case errors.Is(err, syscall.EPIPE):
		return ErrPipe
	case errors.Is(err, net.ErrClosed):
		return ErrClosed
	}
	return err
}

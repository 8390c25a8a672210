// Package conformance runs one TCP scenario against three stacks — tinytcp,
// gVisor's netstack and the Linux kernel — and compares what each did.
//
// The harness plays the remote host. It injects raw IPv4 packets into the
// stack under test and reads the packets the stack sends back; socket calls
// (listen, accept, connect, write, read, close, ...) are made on the stack
// under test through the Backend interface. Scenarios are text files in
// scenarios/ (see script.go for the format).
package conformance

import (
	"errors"
	"net/netip"
	"time"
)

// The addresses of every scenario: the stack under test and the remote
// host the harness plays. Both live only inside what a backend creates (a
// pipe, a gVisor channel endpoint, or a TUN device in a private network
// namespace), so no packet ever leaves the machine.
var (
	StackAddr = netip.MustParseAddr("10.99.0.1")
	PeerAddr  = netip.MustParseAddr("10.99.0.2")
)

// Normalised errors every backend maps its own onto.
var (
	ErrWouldBlock   = errors.New("would block")          // nothing to accept/read, or no room to write, right now
	ErrReset        = errors.New("connection reset")     // ECONNRESET
	ErrRefused      = errors.New("connection refused")   // ECONNREFUSED
	ErrTimedOut     = errors.New("connection timed out") // ETIMEDOUT
	ErrClosed       = errors.New("socket closed")        // use after close
	ErrPipe         = errors.New("broken pipe")          // write after shutdown
	ErrNotSupported = errors.New("not supported by this backend")
	// The errors of ICMP destination unreachable (and time exceeded).
	ErrHostUnreachable = errors.New("no route to host")       // EHOSTUNREACH
	ErrNetUnreachable  = errors.New("network is unreachable") // ENETUNREACH
)

// Backend makes fresh instances of one stack.
type Backend interface {
	// Name is "tinytcp", "gvisor" or "linux".
	Name() string
	// Start creates a fresh stack whose address is StackAddr, reachable
	// from PeerAddr, with every option at the backend's documented
	// defaults. The caller must Close it.
	Start() (Instance, error)
	// VirtualTime reports whether Advance and Next run on a virtual clock
	// (instant, exact) or on the wall clock (slow, with jitter).
	VirtualTime() bool
}

// Instance is one running stack under test.
type Instance interface {
	// Inject delivers one raw IPv4 packet from the peer to the stack.
	// When it returns, the stack has processed it (virtual-time backends)
	// or the packet is on its way (the Linux backend).
	Inject(pkt []byte) error
	// Next returns the next packet the stack sent, waiting at most wait
	// (virtual or real time) for one, and the time it was sent, measured
	// from Start. ok is false if none came within wait. Packets are
	// returned in the order the stack sent them; a packet sent earlier and
	// not yet taken is returned at once.
	Next(wait time.Duration) (pkt []byte, at time.Duration, ok bool)
	// Advance lets d pass (virtual clock: moves it, firing timers; wall
	// clock: sleeps). Packets sent meanwhile wait for Next.
	Advance(d time.Duration)
	// Now is the time since Start.
	Now() time.Duration

	// Listen opens a listening socket on StackAddr:port; connections it
	// accepts get opts.
	Listen(port uint16, backlog int, opts SocketOptions) (Socket, error)
	// Connect starts an active open from StackAddr to PeerAddr:port
	// without waiting for it to complete (a non-blocking connect); the
	// local port is the backend's choice (Socket.LocalPort).
	Connect(port uint16, opts SocketOptions) (Socket, error)

	// Close tears everything down.
	Close() error
}

// SocketOptions are settings applied before a connection opens.
type SocketOptions struct {
	NoDelay    bool // disable Nagle's algorithm
	RecvBuffer int  // receive buffer in bytes, 0 for the default
	SendBuffer int  // send buffer in bytes, 0 for the default
	// UserTimeout is R2 as a time (RFC 9293 §3.8.3, MUST-21): Linux's
	// TCP_USER_TIMEOUT; 0 for the retransmission count.
	UserTimeout time.Duration
	// TTL and DSCP of the connection's IPv4 packets (MUST-49, MUST-48):
	// IP_TTL and IP_TOS; 0 for the default.
	TTL, DSCP int
}

// Socket is one socket on the stack under test. Every call is
// non-blocking: it does what it can now and returns ErrWouldBlock when it
// cannot do anything.
type Socket interface {
	// Accept returns the next established connection of a listening
	// socket, or ErrWouldBlock.
	Accept() (Socket, error)
	// Write queues what fits of p; ErrWouldBlock if nothing does.
	Write(p []byte) (int, error)
	// WriteUrgent is Write with the URGENT flag (RFC 9293 §3.8.5): the
	// urgent pointer moves to the end of what it queued, as send(2) with
	// MSG_OOB does; ErrNotSupported where the stack has no urgent data.
	WriteUrgent(p []byte) (int, error)
	// Read returns buffered data; io.EOF after the peer's FIN;
	// ErrWouldBlock if there is nothing yet; ErrReset/ErrTimedOut/... if
	// the connection failed.
	Read(p []byte) (int, error)
	// ShutdownWrite sends a FIN after the queued data (shutdown(SHUT_WR)).
	ShutdownWrite() error
	// Close closes the socket (close(2)).
	Close() error
	// State is the RFC 9293 name of the connection's state
	// ("ESTABLISHED", "TIME-WAIT", ...), "CLOSED" once gone.
	State() string
	// Err is the error that ended the connection (ErrReset, ErrRefused,
	// ErrTimedOut) or nil.
	Err() error
	// LocalPort is the socket's port on StackAddr.
	LocalPort() uint16
	// SetNoDelay switches Nagle's algorithm off (true) or on.
	SetNoDelay(on bool) error
	// Urgent is how much of the stream, from the next byte Read returns
	// through the last urgent byte, is urgent data the application has
	// been told of (RFC 9293 §3.8.5, MUST-33); 0 when none is pending.
	// Linux reports urgent data once its last byte has arrived (POLLPRI),
	// tinytcp as soon as the pointer has. ErrNotSupported where the stack
	// has no urgent data.
	Urgent() (int, error)
}

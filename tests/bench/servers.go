package bench

// The two stacks under test behind one small interface, so that a
// download is the same code for both. tinytcp runs as `tinytcp up` runs
// it, with its defaults unless Options says otherwise; gVisor's setup is in
// gvisor.go.

import (
	"fmt"
	"net"

	"tinytcp/cmd/demo"
	"tinytcp/stack"
	"tinytcp/tun"
)

// StackName names a stack under test.
type StackName string

// The stacks under test, in the order the table shows them.
const (
	Tinytcp StackName = "tinytcp"
	GVisor  StackName = "gvisor"
)

// Options are the settings of the stacks under test.
type Options struct {
	// TinytcpBuffer is tinytcp's send and receive buffer in bytes; zero
	// keeps the stack's default (tcp.DefaultBufferSize).
	TinytcpBuffer int
	// Backlog is tinytcp's listen backlog; zero keeps the stack's default
	// (stack.DefaultBacklog).
	Backlog int
	// GVisorProcessors is fdbased's ProcessorsPerChannel for gVisor in
	// `make bench`; zero keeps its default (GOMAXPROCS).
	GVisorProcessors int
}

// Counts are a connection's loss repairs, as its stack counts them.
type Counts struct {
	Retransmits uint64 // segments sent again, for any reason
	Timeouts    uint64 // retransmission timer expiries
}

// Server is a stack under test running on a link.
type Server interface {
	// Listen opens a listener on the stack's address.
	Listen(port uint16) (net.Listener, error)
	// Counts returns the repairs so far of c, a connection the stack's
	// listener accepted.
	Counts(c net.Conn) Counts
	// Close stops the stack and closes its link.
	Close() error
}

// StartServer starts the named stack on link, which it owns from now on
// (Close closes it, and so does a failure to start).
func StartServer(name StackName, link tun.Device, opts Options) (Server, error) {
	switch name {
	case Tinytcp:
		return startTinytcp(link, opts)
	case GVisor:
		return startGVisor(link)
	}
	link.Close()
	return nil, fmt.Errorf("bench: no stack named %q", name)
}

// tinytcpServer is tinytcp's stack on the link.
type tinytcpServer struct{ s *stack.Stack }

func startTinytcp(link tun.Device, opts Options) (*tinytcpServer, error) {
	cfg := stack.Config{Device: link, Addr: demo.DefaultAddr, Backlog: opts.Backlog}
	cfg.TCP.SendBufferSize, cfg.TCP.RecvBufferSize = opts.TinytcpBuffer, opts.TinytcpBuffer
	s, err := stack.New(cfg)
	if err != nil {
		link.Close()
		return nil, err
	}
	return &tinytcpServer{s: s}, nil
}

func (t *tinytcpServer) Listen(port uint16) (net.Listener, error) { return t.s.Listen(port) }

func (t *tinytcpServer) Counts(c net.Conn) Counts {
	sc, ok := c.(*stack.Conn)
	if !ok {
		return Counts{}
	}
	st := sc.Info().Stats
	return Counts{Retransmits: st.Retransmits, Timeouts: st.Timeouts}
}

func (t *tinytcpServer) Close() error { return t.s.Close() }

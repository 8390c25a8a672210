package bench

// gVisor's netstack as a careful user would set it up for bulk transfers,
// on the same impaired TUN device as tinytcp. netstack cannot read a
// tun.Device itself, so it gets a link/channel endpoint and two goroutines
// carry packets across: one reads the device and injects each packet
// inbound, the other takes what the stack wrote to the channel and writes
// it to the device. Everything crosses the same tun.Impair, so both stacks
// see the same kind of link.
//
// Unlike the conformance backend (tests/conformance/gvisor*.go), which runs
// netstack on a manual clock with one segment processor to keep it in
// lockstep, this one runs on the wall clock with netstack's defaults for
// its goroutines: the point here is speed, not determinism.

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"tinytcp/cmd/demo"
	"tinytcp/tun"
)

// The NIC netstack gets, and how many outbound packets its channel holds
// before netstack sees "no buffer space" (the outbound pump empties it as
// fast as the device takes packets, and tun.Impair's Write never blocks).
const (
	gvisorNIC      tcpip.NICID = 1
	gvisorQueueLen             = 4096
)

// The buffer sizes a careful user gives netstack for bulk transfers: send
// and receive buffers start at 1 MiB and may grow to 8 MiB.
const (
	gvisorBufferMin     = 4096
	gvisorBufferDefault = 1 << 20
	gvisorBufferMax     = 8 << 20
)

// GVisorSetup describes, in one line for the report, how gVisor is set up.
// It names the congestion control the stack really runs.
func GVisorSetup() string {
	return gvisorStackSetup() + ", link/channel NIC (MTU of the TUN device)"
}

// gvisorStackSetup is GVisorSetup without the link.
func gvisorStackSetup() string {
	cc := gvisorCongestion()
	return fmt.Sprintf("SACK on, RACK loss detection (its default), congestion control %s, "+
		"send and receive buffers %d KiB / %d MiB / %d MiB (min / default / max), "+
		"receive-buffer moderation on, Nagle off (its default), wall clock",
		cc, gvisorBufferMin>>10, gvisorBufferDefault>>20, gvisorBufferMax>>20)
}

// gvisorCongestion is "cubic" when netstack offers it, else netstack's
// default (reno).
func gvisorCongestion() string {
	s := stack.New(stack.Options{TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocolCUBIC}})
	defer s.Destroy()
	var avail tcpip.TCPAvailableCongestionControlOption
	if err := s.TransportProtocolOption(tcp.ProtocolNumber, &avail); err == nil &&
		slices.Contains(strings.Fields(string(avail)), "cubic") {
		return "cubic"
	}
	var cc tcpip.CongestionControlOption
	if err := s.TransportProtocolOption(tcp.ProtocolNumber, &cc); err == nil {
		return string(cc)
	}
	return "reno"
}

// gvisorServer is netstack on the link, with the two pumps.
type gvisorServer struct {
	s      *stack.Stack
	ch     *channel.Endpoint
	link   tun.Device
	cancel context.CancelFunc // stops the outbound pump
	pumps  sync.WaitGroup
	once   sync.Once
}

func startGVisor(link tun.Device) (*gvisorServer, error) {
	s, err := newGVisorStack()
	if err != nil {
		link.Close()
		return nil, err
	}
	ch := channel.New(gvisorQueueLen, uint32(link.MTU()), "")
	if err := addGVisorNIC(s, ch); err != nil {
		s.Destroy()
		link.Close()
		return nil, err
	}

	ctx, cancel := context.WithCancel(context.Background())
	g := &gvisorServer{s: s, ch: ch, link: link, cancel: cancel}
	g.pumps.Add(2)
	go func() { defer g.pumps.Done(); g.pumpIn() }()
	go func() { defer g.pumps.Done(); g.pumpOut(ctx) }()
	return g, nil
}

// newGVisorStack is netstack with IPv4 and TCP, set up as a careful user
// sets it up for bulk transfers (GVisorSetup says how).
func newGVisorStack() (*stack.Stack, error) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocolCUBIC},
	})
	var (
		sack     = tcpip.TCPSACKEnabled(true)
		cc       = tcpip.CongestionControlOption(gvisorCongestion())
		moderate = tcpip.TCPModerateReceiveBufferOption(true)
		rcv      = tcpip.TCPReceiveBufferSizeRangeOption{Min: gvisorBufferMin, Default: gvisorBufferDefault, Max: gvisorBufferMax}
		snd      = tcpip.TCPSendBufferSizeRangeOption{Min: gvisorBufferMin, Default: gvisorBufferDefault, Max: gvisorBufferMax}
	)
	for _, o := range []struct {
		name string
		opt  tcpip.SettableTransportProtocolOption
	}{{"SACK", &sack}, {"congestion control", &cc}, {"receive-buffer moderation", &moderate}, {"receive buffer", &rcv}, {"send buffer", &snd}} {
		if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, o.opt); err != nil {
			s.Destroy()
			return nil, fmt.Errorf("gvisor: setting %s: %s", o.name, err)
		}
	}
	return s, nil
}

// addGVisorNIC attaches ep to s as gvisorNIC, with the stack's address
// (demo.DefaultAddr) in the kernel side's prefix and the route to it.
func addGVisorNIC(s *stack.Stack, ep stack.LinkEndpoint) error {
	if err := s.CreateNIC(gvisorNIC, ep); err != nil {
		return fmt.Errorf("gvisor: creating the NIC: %s", err)
	}
	addr := tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4(demo.DefaultAddr.As4()), PrefixLen: demo.DefaultPeer.Bits()}
	pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: addr}
	if err := s.AddProtocolAddress(gvisorNIC, pa, stack.AddressProperties{}); err != nil {
		return fmt.Errorf("gvisor: adding %s: %s", addr, err)
	}
	s.SetRouteTable([]tcpip.Route{{Destination: addr.Subnet(), NIC: gvisorNIC}})
	return nil
}

// pumpIn reads the device and injects every packet into netstack, until
// the device is closed.
func (g *gvisorServer) pumpIn() {
	buf := make([]byte, 65535)
	for {
		n, err := g.link.Read(buf)
		if err != nil {
			return
		}
		pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(buf[:n])}) // copies
		g.ch.InjectInbound(ipv4.ProtocolNumber, pkt)
		pkt.DecRef()
	}
}

// pumpOut writes every packet netstack sends to the device, until ctx is
// done or the device is closed.
func (g *gvisorServer) pumpOut(ctx context.Context) {
	buf := make([]byte, 0, 65535)
	for {
		pkt := g.ch.ReadContext(ctx)
		if pkt == nil {
			return
		}
		buf = buf[:0]
		for _, s := range pkt.AsSlices() {
			buf = append(buf, s...)
		}
		pkt.DecRef()
		if _, err := g.link.Write(buf); err != nil {
			return
		}
	}
}

func (g *gvisorServer) Listen(port uint16) (net.Listener, error) {
	full := tcpip.FullAddress{NIC: gvisorNIC, Addr: tcpip.AddrFrom4(demo.DefaultAddr.As4()), Port: port}
	l, err := gonet.ListenTCP(g.s, full, ipv4.ProtocolNumber)
	if err != nil {
		return nil, err
	}
	return gvisorListener{l}, nil
}

// gvisorListener makes Close wake a pending Accept, which gonet's Close
// alone does not promise.
type gvisorListener struct{ *gonet.TCPListener }

func (l gvisorListener) Close() error {
	l.Shutdown()
	return l.TCPListener.Close()
}

// Counts are the stack's: every run starts a fresh stack for one
// connection.
func (g *gvisorServer) Counts(net.Conn) Counts {
	st := g.s.Stats().TCP
	return Counts{Retransmits: st.Retransmits.Value(), Timeouts: st.Timeouts.Value()}
}

// Close stops the pumps, then the stack, and closes the device.
func (g *gvisorServer) Close() error {
	var err error
	g.once.Do(func() {
		g.cancel()
		err = g.link.Close()
		g.pumps.Wait()
		g.s.Destroy()
		g.ch.Close()
	})
	return err
}

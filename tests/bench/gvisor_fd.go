package bench

// gVisor's netstack on a TUN device the way a user of netstack runs it on
// one: link/fdbased reads and writes the TUN file descriptor itself, with
// its own goroutines, and nothing of tinytcp's stands between the two
// (unlike gvisor.go, where netstack must cross tinytcp's impairment layer
// and so sits on a link/channel endpoint with two pumps).
//
// The device is opened here rather than by tun.Open, whose Devices keep
// their descriptor to themselves: /dev/net/tun with IFF_TUN|IFF_NO_PI
// (one IP packet per read and write, no virtio-net header: the same link
// tinytcp's default driver has), then configured with netlink as tun.Open
// configures its own (no IPv6 address generation, MTU, the kernel side's
// address, up).
//
// fdbased settings, as a careful user picks them for a TUN device:
//
//   - dispatch mode Readv, one readv(2) per packet: the other modes need a
//     socket (RecvMMsg uses recvmmsg(2), PacketMMap an AF_PACKET ring);
//     on a character device fdbased falls back to Readv anyway;
//   - no Ethernet header (TUN carries IP packets), MTU of the device;
//   - no GSO (fdbased offers it for sockets only) and no checksum
//     offloads: the kernel checks the checksums of what a plain TUN
//     device receives, and netstack checks what it receives as tinytcp
//     does;
//   - ProcessorsPerChannel left at its default (GOMAXPROCS goroutines
//     that process inbound packets behind the one that reads).

import (
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/link/fdbased"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"

	"tinytcp/cmd/demo"
	"tinytcp/tests/netns"
	"tinytcp/tun"
)

// GVisorFDSetup describes, for the report, the link gVisor has in `make
// bench` (GVisorSetup describes the stack).
const GVisorFDSetup = "link/fdbased on the TUN file descriptor (IFF_TUN|IFF_NO_PI, MTU 1500): " +
	"dispatch mode Readv (one readv per packet; the batched modes need a socket), no GSO, no checksum offload, " +
	"default processors (GOMAXPROCS); listener made with the tcpip API, Listen(4096), wrapped by gonet.NewTCPListener"

// gvisorFDServer is netstack on an fdbased endpoint over a TUN descriptor.
type gvisorFDServer struct {
	s  *stack.Stack
	fd int // the TUN device; closed after the stack, which removes the device
}

// startGVisorFD creates the TUN device in ns and starts netstack on it.
func startGVisorFD(ns *netns.NS, opts Options) (*gvisorFDServer, error) {
	var fd int
	if err := ns.Do(func() error {
		var err error
		fd, err = openTUNFD(devName, tun.DefaultMTU)
		return err
	}); err != nil {
		return nil, err
	}
	s, err := newGVisorStack()
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ep, err := fdbased.New(&fdbased.Options{
		FDs:                []int{fd},
		MTU:                tun.DefaultMTU,
		EthernetHeader:     false,
		PacketDispatchMode: fdbased.Readv,
		// 0: GOMAXPROCS goroutines process what the reader reads.
		ProcessorsPerChannel: opts.GVisorProcessors,
	})
	if err == nil {
		err = addGVisorNIC(s, ep)
	}
	if err != nil {
		s.Destroy()
		unix.Close(fd)
		return nil, fmt.Errorf("gvisor: fdbased: %w", err)
	}
	return &gvisorFDServer{s: s, fd: fd}, nil
}

// Listen makes a listening endpoint with the tcpip API, for the backlog
// gonet.ListenTCP does not let one choose.
func (g *gvisorFDServer) Listen(port uint16) (net.Listener, error) {
	return listenGVisor(g.s, port, perfBacklog)
}

// listenGVisor binds a TCP endpoint of s to the stack's address and port,
// listens with backlog, and wraps it as a net.Listener.
func listenGVisor(s *stack.Stack, port uint16, backlog int) (net.Listener, error) {
	var wq waiter.Queue
	ep, terr := s.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
	if terr != nil {
		return nil, fmt.Errorf("gvisor: new endpoint: %s", terr)
	}
	full := tcpip.FullAddress{NIC: gvisorNIC, Addr: tcpip.AddrFrom4(demo.DefaultAddr.As4()), Port: port}
	if terr := ep.Bind(full); terr != nil {
		ep.Close()
		return nil, fmt.Errorf("gvisor: bind port %d: %s", port, terr)
	}
	if terr := ep.Listen(backlog); terr != nil {
		ep.Close()
		return nil, fmt.Errorf("gvisor: listen on port %d: %s", port, terr)
	}
	return gvisorListener{gonet.NewTCPListener(s, &wq, ep)}, nil
}

// Counts are the stack's (one stack per run).
func (g *gvisorFDServer) Counts(net.Conn) Counts {
	st := g.s.Stats().TCP
	return Counts{Retransmits: st.Retransmits.Value(), Timeouts: st.Timeouts.Value()}
}

// Close destroys the stack, which stops fdbased's goroutines and waits for
// them, then closes the descriptor, which removes the device.
func (g *gvisorFDServer) Close() error {
	if g.fd < 0 {
		return tun.ErrClosed
	}
	g.s.Destroy()
	err := unix.Close(g.fd)
	g.fd = -1
	return err
}

// openTUNFD creates TUN interface name in the calling thread's network
// namespace (run it inside netns.Do), configures the kernel side as
// tun.Open does with demo.DefaultPeer, and returns the descriptor.
func openTUNFD(name string, mtu int) (int, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("opening /dev/net/tun: %w", err)
	}
	fail := func(step string, err error) (int, error) {
		unix.Close(fd)
		return -1, fmt.Errorf("TUN %s: %s: %w", name, step, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return fail("name", err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI | unix.IFF_TUN_EXCL)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return fail("TUNSETIFF", err)
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fail("netlink", err)
	}
	defer h.Close()
	link, err := h.LinkByName(name)
	if err != nil {
		return fail("looking up", err)
	}
	if err := h.LinkSetIP6AddrGenMode(link, nl.IN6_ADDR_GEN_MODE_NONE); err != nil {
		return fail("turning IPv6 address generation off", err)
	}
	if err := h.LinkSetMTU(link, mtu); err != nil {
		return fail("setting the MTU", err)
	}
	peer := demo.DefaultPeer
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: peer.Addr().AsSlice(), Mask: net.CIDRMask(peer.Bits(), 32)}}
	if err := h.AddrAdd(link, addr); err != nil {
		return fail("adding "+peer.String(), err)
	}
	if err := h.LinkSetUp(link); err != nil {
		return fail("setting the link up", err)
	}
	return fd, nil
}

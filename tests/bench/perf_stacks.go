package bench

// The servers of `make bench`, each alone in a fresh network namespace with
// the kernel's TCP as its client:
//
//   - tinytcp: tinytcp's stack on a TUN device opened by tun.Open with its
//     default driver (one packet per read and write), as `tinytcp up` runs;
//   - tinytcp-offload: the same stack on tun's offload driver (virtio-net
//     header, the kernel segments and checksums super-packets of up to
//     64 KiB), which the stack detects and uses by itself;
//   - gvisor: gVisor's netstack on the same kind of TUN device, reading and
//     writing its file descriptor itself through link/fdbased
//     (gvisor_fd.go);
//   - kernel: no TUN at all: the stack's address sits on the namespace's
//     loopback interface, so server and client are both the kernel's TCP.
//     It is the ceiling: what the machine does with no user-space stack
//     and no TUN crossing in the way.
//
// PerfStacks is the one list of them and startPerfServer the one switch
// that starts them; a new stack is one entry in each.

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"tinytcp/cmd/demo"
	"tinytcp/tests/netns"
	"tinytcp/tun"
)

// The stacks `make bench` adds to those of servers.go.
const (
	// TinytcpOffload is tinytcp on the offload TUN driver: super-packets
	// of up to 64 KiB, segmented and checksummed by the kernel.
	TinytcpOffload StackName = "tinytcp-offload"
	// Kernel is the Linux kernel talking to itself over loopback.
	Kernel StackName = "kernel"
)

// PerfStacks are the stacks `make bench` runs, in the order the table
// shows them. A new stack goes here, with its case in startPerfServer.
func PerfStacks() []StackName {
	return []StackName{Tinytcp, TinytcpOffload, GVisor, Kernel}
}

// perfBacklog is every server's listen backlog: large enough that the
// idle-connections workload never waits for Accept. It is gVisor's reason
// for not using gonet.ListenTCP, which fixes the backlog at 10.
const perfBacklog = 4096

// startPerfServer starts the named stack in ns, on a TUN device it creates
// there (none for the kernel). Close stops the stack and removes the
// device.
func startPerfServer(name StackName, ns *netns.NS, opts Options) (Server, error) {
	switch name {
	case Tinytcp:
		return startTinytcpIn(ns, tun.Config{Name: devName, Peer: demo.DefaultPeer})
	case TinytcpOffload:
		return startTinytcpIn(ns, tun.Config{Driver: tun.DriverOffload, Name: devName, Peer: demo.DefaultPeer})
	case GVisor:
		return startGVisorFD(ns, opts)
	case Kernel:
		return startKernel(ns)
	}
	return nil, fmt.Errorf("bench: no stack named %q", name)
}

// startTinytcpIn opens the TUN device cfg describes in ns and starts
// tinytcp on it with its defaults and the harness's backlog.
func startTinytcpIn(ns *netns.NS, cfg tun.Config) (Server, error) {
	var dev tun.Device
	if err := ns.Do(func() error {
		var err error
		dev, err = tun.Open(cfg)
		return err
	}); err != nil {
		return nil, err
	}
	return StartServer(Tinytcp, dev, Options{Backlog: perfBacklog})
}

// inProcess reports whether the stack's memory is this process's heap, so
// that runtime.MemStats measures it.
func inProcess(name StackName) bool { return name != Kernel }

// kernelServer is the kernel's TCP listening on the stack's address, which
// startKernel puts on the namespace's loopback interface.
type kernelServer struct{ ns *netns.NS }

func startKernel(ns *netns.NS) (*kernelServer, error) {
	err := ns.Do(func() error {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer h.Close()
		lo, err := h.LinkByName("lo")
		if err != nil {
			return err
		}
		p := netip.PrefixFrom(demo.DefaultAddr, 32)
		return h.AddrAdd(lo, &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(32, 32)}})
	})
	if err != nil {
		return nil, fmt.Errorf("kernel: putting %s on lo: %w", demo.DefaultAddr, err)
	}
	return &kernelServer{ns: ns}, nil
}

// Listen opens a kernel listening socket in the namespace (its backlog is
// the namespace's net.core.somaxconn, 4096 by default).
func (k *kernelServer) Listen(port uint16) (net.Listener, error) {
	var l net.Listener
	err := k.ns.Do(func() error {
		var err error
		l, err = net.Listen("tcp4", netip.AddrPortFrom(demo.DefaultAddr, port).String())
		return err
	})
	return l, err
}

// Counts are not collected for the kernel.
func (k *kernelServer) Counts(net.Conn) Counts { return Counts{} }

// Close has nothing to do: the namespace goes with the run.
func (k *kernelServer) Close() error { return nil }

// setSysctl writes value to /proc/sys/NAME as seen from ns. The files
// under /proc/sys/net belong to the namespace of the thread that opens
// them.
func setSysctl(ns *netns.NS, name, value string) error {
	return ns.Do(func() error {
		err := os.WriteFile("/proc/sys/"+name, []byte(value), 0)
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("sysctl %s: %w", name, err)
		}
		return err
	})
}

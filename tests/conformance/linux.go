//go:build linux

package conformance

// The Linux kernel as a stack under test, driven the way packetdrill and
// gVisor's packetimpact drive it. In a network namespace of its own the
// kernel owns StackAddr on a TUN device, cf0, and routes PeerAddr's /24 into
// it; the harness, at the other end of the device, reads every packet the
// kernel sends and writes packets that appear to come from PeerAddr. Socket
// calls are system calls on kernel sockets created inside the namespace.
//
// The namespace is made with unshare(2) on a locked OS thread, as in
// tests/netns, whose New needs a testing.TB (the harness also runs outside
// tests), so those few lines are repeated here. It is not bind-mounted
// under /run/netns: the open handle, the device and the sockets keep it
// alive, and it vanishes with them, even if the process is killed.
//
// Time is real: Advance sleeps, Next waits on a timer. A write to a TUN
// device runs the kernel's receive path in the writing thread (tun_get_user
// calls netif_receive_skb, and RPS is off), so when Inject
// returns, the kernel has processed the packet and queued its answer.
//
// Left out: IPv6 (switched off; IPv6 packets are dropped unseen) and the
// host-wide settings a namespace cannot change (tcp_mem's memory pressure).

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"tinytcp/ip"
	"tinytcp/tests/netns"
	"tinytcp/tun"
)

// linuxDevice is the name of the TUN device in each namespace.
const linuxDevice = "cf0"

// kernelSettings are the sysctls Start writes in each fresh namespace, in
// order. Everything else is what a new namespace starts with, which is the
// kernel's default for nearly every TCP knob: SACK, timestamps and window
// scaling on, ECN only when asked (tcp_ecn=2), RACK and tail loss probes
// (tcp_recovery=1, tcp_early_retrans=3), SYN cookies on overflow, 6 SYN
// retries, an initial RTO of 1 s and a minimum of 200 ms.
var kernelSettings = []struct {
	key, value string
	optional   bool // absent from some kernels; skipped there
}{
	// No IPv6 on the link from the device's birth: tun.Open already stops
	// address generation, so the kernel has no address to chatter from.
	{"net.ipv6.conf.all.disable_ipv6", "1", true},
	{"net.ipv6.conf.default.disable_ipv6", "1", true},
	// No receive packet steering for the new device, so that the kernel
	// handles an injected packet in the thread that writes it, and has done
	// so when Inject returns (the host's mask cannot leak in through here).
	{"net.core.rps_default_mask", "0", true},
	// A new namespace copies the host's buffer limits, and the maximum
	// decides the window scale the kernel offers (10 instead of 7 on a host
	// tuned for 32 MiB). Use the documented defaults
	// (Documentation/networking/ip-sysctl.rst, on a machine with enough RAM).
	{"net.ipv4.tcp_rmem", "4096 131072 6291456", false},
	{"net.ipv4.tcp_wmem", "4096 16384 4194304", false},
	// Autocorking holds a small write back while an earlier segment is
	// still queued below TCP: a delay no RFC asks for, decided by timing.
	{"net.ipv4.tcp_autocorking", "0", false},
	// Do not carry RTT and ssthresh over from one connection to PeerAddr to
	// the next: every connection of a scenario starts from scratch.
	{"net.ipv4.tcp_no_metrics_save", "1", false},
	// Answer every out-of-window segment and send every challenge ACK
	// (RFC 5961 §7 allows a rate limit; the default, one per 500 ms of wall
	// time, would make the answer depend on how fast the harness runs).
	{"net.ipv4.tcp_invalid_ratelimit", "0", false},
	// Send a duplicate ACK with SACK for each out-of-order segment at once
	// (RFC 5681 §4.2), instead of compressing them on a timer of up to 1 ms,
	// which makes the count of ACKs depend on timing.
	{"net.ipv4.tcp_comp_sack_nr", "0", false},
	// Recent kernels retransmit the first 4 SYNs at a fixed 1 s instead of
	// backing off (RFC 6298 §5.5); older ones lack the knob and back off.
	// Back off, so results do not depend on the host's kernel version.
	{"net.ipv4.tcp_syn_linear_timeouts", "0", true},
	// Loss recovery by the rules every stack here shares, RFC 5681's
	// duplicate ACKs and RFC 6675's SACK scoreboard: Linux's RACK and tail
	// loss probes (RFC 8985) resend on timers of a fraction of an RTT, so
	// when they fire depends on the wall clock. tinytcp implements neither.
	{"net.ipv4.tcp_recovery", "0", false},
	{"net.ipv4.tcp_early_retrans", "0", false},
}

// kernelCongestionControl is set on every socket (TCP_CONGESTION, which
// accepted sockets inherit). A new namespace inherits the host's default
// (bbr on some hosts, which also paces segments on a timer) and may only
// switch to what the host lists in tcp_allowed_congestion_control; a socket
// of root may use any. CUBIC is the kernel's default.
const kernelCongestionControl = "cubic"

// kernelQdisc is the queueing discipline of cf0, which otherwise gets the
// host's net.core.default_qdisc (fq would pace segments on a timer), a
// setting no namespace can change. pfifo_fast is the kernel's built-in
// default and only queues.
const kernelQdisc = "pfifo_fast"

// Linux runs scenarios against the kernel the tests run on, through a TUN
// device in a private network namespace. It needs root (CAP_SYS_ADMIN and
// CAP_NET_ADMIN).
type Linux struct{}

// Name implements Backend.
func (Linux) Name() string { return "linux" }

// VirtualTime implements Backend: the kernel keeps its own time.
func (Linux) VirtualTime() bool { return false }

// Start implements Backend: it makes the namespace, sets the kernel up in it
// and starts reading the device.
func (Linux) Start() (Instance, error) {
	i := &linuxInstance{
		ns:      -1,
		packets: make(chan linuxPacket, 4096),
		sockets: make(map[*linuxSocket]struct{}),
	}
	err := onThread(func() error {
		var err error
		i.ns, err = vnetns.New() // unshare(CLONE_NEWNET) moves this thread
		if err != nil {
			return err
		}
		return i.setUp()
	})
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, tun.ErrPermission) {
			err = fmt.Errorf("the linux backend needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN): %w", err)
		}
		if i.dev != nil {
			i.dev.Close()
		}
		return nil, errors.Join(fmt.Errorf("linux: starting: %w", err), i.release())
	}
	i.start = time.Now()
	go i.read()
	return i, nil
}

// setUp configures the namespace the calling thread is in: loopback up, the
// sysctls, the TUN device and its qdisc, and a sock_diag socket.
func (i *linuxInstance) setUp() error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("setting lo up: %w", err)
	}
	for _, s := range kernelSettings {
		err := os.WriteFile("/proc/sys/"+strings.ReplaceAll(s.key, ".", "/"), []byte(s.value), 0)
		if err != nil && !(s.optional && errors.Is(err, fs.ErrNotExist)) {
			return fmt.Errorf("sysctl %s=%s: %w", s.key, s.value, err)
		}
	}
	i.dev, err = tun.Open(tun.Config{Name: linuxDevice, Peer: netip.PrefixFrom(StackAddr, 24), MTU: 1500})
	if err != nil {
		return err
	}
	link, err := h.LinkByName(linuxDevice)
	if err == nil {
		attrs := netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Parent: netlink.HANDLE_ROOT}
		err = h.QdiscReplace(&netlink.GenericQdisc{QdiscAttrs: attrs, QdiscType: kernelQdisc})
	}
	if err != nil {
		return fmt.Errorf("setting %s on %s: %w", kernelQdisc, linuxDevice, err)
	}
	i.diag, err = netlink.NewHandle(unix.NETLINK_INET_DIAG)
	return err
}

// onThread runs fn on a fresh goroutine locked to its OS thread, which fn
// may move into another network namespace, and moves the thread back
// afterwards. If that fails, the thread stays locked and ends with the
// goroutine, so no other goroutine ever runs in the wrong namespace.
func onThread(fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		origin, err := vnetns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		err = fn()
		if rerr := netns.Restore(origin); rerr != nil {
			err = errors.Join(err, fmt.Errorf("returning to the original namespace: %w", rerr))
		} else {
			runtime.UnlockOSThread()
		}
		origin.Close()
		done <- err
	}()
	return <-done
}

// linuxInstance is one namespace with its kernel stack.
type linuxInstance struct {
	ns    vnetns.NsHandle // keeps the namespace alive; -1 once released
	dev   tun.Device      // cf0, the kernel's link to the harness
	start time.Time       // Now is measured from here

	packets chan linuxPacket // what the kernel sent, oldest first; closed by the reader
	dropped atomic.Uint64    // packets the reader left out (IPv6, not TCP or ICMP)
	readErr error            // why the reader stopped, if not Close; read once packets is closed

	mu      sync.Mutex                // guards the fields below
	diag    *netlink.Handle           // a sock_diag socket in the namespace
	sockets map[*linuxSocket]struct{} // the sockets still open
	closed  bool
}

// linuxPacket is one packet the kernel sent, and when it was read.
type linuxPacket struct {
	pkt []byte
	at  time.Duration
}

// read copies every packet from the device into packets until the device is
// closed, leaving out what no scenario is about.
func (i *linuxInstance) read() {
	defer close(i.packets)
	buf := make([]byte, 1<<16)
	for {
		n, err := i.dev.Read(buf)
		if err != nil {
			if !errors.Is(err, tun.ErrClosed) {
				i.readErr = err
			}
			return
		}
		at := time.Since(i.start)
		if !wanted(buf[:n]) {
			i.dropped.Add(1)
			continue
		}
		i.packets <- linuxPacket{bytes.Clone(buf[:n]), at}
	}
}

// wanted reports whether a packet from the kernel goes to the scenario: IPv4
// TCP and ICMP do, and so does anything that claims to be IPv4 and fails to
// parse, for the runner to report.
func wanted(pkt []byte) bool {
	if len(pkt) == 0 || pkt[0]>>4 != 4 {
		return false
	}
	h, err := ip.ParseIPv4(pkt)
	return err != nil || h.Protocol() == ip.ProtocolTCP || h.Protocol() == ip.ProtocolICMP
}

// Inject implements Instance.
func (i *linuxInstance) Inject(pkt []byte) error {
	if _, err := i.dev.Write(pkt); err != nil {
		return fmt.Errorf("linux: injecting: %w", err)
	}
	return nil
}

// Next implements Instance, waiting up to wait of real time.
func (i *linuxInstance) Next(wait time.Duration) ([]byte, time.Duration, bool) {
	select {
	case p, ok := <-i.packets:
		return p.pkt, p.at, ok
	default:
	}
	if wait <= 0 {
		return nil, 0, false
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case p, ok := <-i.packets:
		return p.pkt, p.at, ok
	case <-timer.C:
		return nil, 0, false
	}
}

// Advance implements Instance: it sleeps, as real time is the kernel's.
func (i *linuxInstance) Advance(d time.Duration) { time.Sleep(d) }

// Now implements Instance.
func (i *linuxInstance) Now() time.Duration { return time.Since(i.start) }

// Close implements Instance: it closes every socket still open, the device
// and the namespace handle, after which the kernel frees the namespace and
// whatever it still held (TIME-WAIT, orphaned connections).
func (i *linuxInstance) Close() error {
	i.mu.Lock()
	if i.closed {
		i.mu.Unlock()
		return nil
	}
	i.closed = true
	open := make([]*linuxSocket, 0, len(i.sockets))
	for s := range i.sockets {
		open = append(open, s)
	}
	i.mu.Unlock()
	var errs []error
	for _, s := range open {
		if err := s.Close(); !errors.Is(err, ErrClosed) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, i.dev.Close())
	for range i.packets { // unblocks the reader, which then sees the device closed
	}
	if n := i.dropped.Load(); n > 0 {
		slog.Debug("conformance: linux: packets left out", "count", n)
	}
	return errors.Join(append(errs, i.readErr, i.release())...)
}

// release closes the sock_diag socket and the namespace handle.
func (i *linuxInstance) release() error {
	i.mu.Lock()
	if i.diag != nil {
		i.diag.Close()
		i.diag = nil
	}
	i.mu.Unlock()
	if !i.ns.IsOpen() {
		return nil
	}
	return i.ns.Close() // which sets it to -1
}

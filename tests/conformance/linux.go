//go:build linux

package conformance

// The Linux kernel as a stack under test, the way packetdrill and gVisor's
// packetimpact drive it: the kernel owns StackAddr on a TUN device, cf0, in a
// network namespace of its own, and routes PeerAddr's /24 into that device.
// The harness is the remote host at the other end of the device: it reads
// every packet the kernel sends there and writes packets that appear to come
// from PeerAddr. Socket calls are real system calls on kernel sockets made
// inside the namespace.
//
// The namespace is made by unshare(2) on a locked OS thread, as
// tests/netns does (its New needs a testing.TB, and the harness also runs
// outside tests, so the thirty lines are repeated here rather than shared).
// Unlike tests/netns it is not bind-mounted under /run/netns: the instance
// keeps an open handle instead, so the namespace vanishes with the last
// file descriptor that refers to it (the handle, the TUN device, the
// sockets), even if the process is killed.
//
// Time is real: Advance sleeps, Next waits on a timer, and a retransmission
// timer of one second takes one second. Writing to a TUN device runs the
// kernel's receive path in the writing thread (tun_get_user calls
// netif_receive_skb; the namespace has no RPS), so when Inject returns, the
// kernel has processed the packet and queued its answer.
//
// Left out: IPv6 (switched off, and any IPv6 packet is dropped unseen), and
// the host-wide settings a namespace cannot change (net.core.default_qdisc,
// which is pinned per device instead; the tcp_mem memory-pressure limits).

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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
	"tinytcp/tun"
)

// linuxDevice is the name of the TUN device in each namespace.
const linuxDevice = "cf0"

// kernelSettings are the sysctls Start writes in each fresh namespace, in
// order. Everything else is what a new namespace starts with, which is the
// kernel's default for nearly every TCP knob: SACK, timestamps, window
// scaling, ECN only when asked (tcp_ecn=2), RACK and tail loss probes
// (tcp_recovery=1, tcp_early_retrans=3), SYN cookies on overflow, 6 SYN
// retries (1+2+...+32 s), an initial RTO of 1 s and a minimum of 200 ms.
var kernelSettings = []struct {
	key, value string
	optional   bool // absent from kernels built without it
}{
	// No IPv6 at all on the link, from the device's birth: tun.Open already
	// stops address generation, so the kernel has no address to chatter
	// from; this also keeps it from joining multicast groups.
	{"net.ipv6.conf.all.disable_ipv6", "1", true},
	{"net.ipv6.conf.default.disable_ipv6", "1", true},
	// A new namespace inherits the host's congestion control (bbr on some
	// hosts, which also paces segments on a timer): use CUBIC, the kernel's
	// default, so results do not depend on the host.
	{"net.ipv4.tcp_congestion_control", "cubic", false},
	// A new namespace copies the host's buffer limits; the maximum decides
	// the window scale the kernel offers. Use the documented defaults
	// (Documentation/networking/ip-sysctl.rst, on a machine with enough RAM).
	{"net.ipv4.tcp_rmem", "4096 131072 6291456", false},
	{"net.ipv4.tcp_wmem", "4096 16384 4194304", false},
	// Autocorking holds a small write back while an earlier segment is
	// still queued below TCP: a delay no RFC asks for, decided by timing.
	{"net.ipv4.tcp_autocorking", "0", false},
	// Do not carry RTT and ssthresh from one connection to PeerAddr over to
	// the next: every connection of a scenario starts from scratch.
	{"net.ipv4.tcp_no_metrics_save", "1", false},
	// Answer every out-of-window segment and send every challenge ACK
	// (RFC 5961 §7 allows a rate limit; the default, 500 ms of wall-clock
	// time, would make the answer depend on how fast the harness runs).
	{"net.ipv4.tcp_invalid_ratelimit", "0", false},
	// Send a duplicate ACK with SACK for each out-of-order segment at once
	// (RFC 5681 §4.2), instead of compressing them on a timer of up to 1 ms,
	// which makes the count of ACKs depend on timing.
	{"net.ipv4.tcp_comp_sack_nr", "0", false},
}

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
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		sockets: make(map[*linuxSocket]struct{}),
	}
	err := onThread(func() error {
		var err error
		i.ns, err = vnetns.New() // unshare(CLONE_NEWNET): this thread is now in it
		if err != nil {
			return err
		}
		return i.setUp()
	})
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, tun.ErrPermission) {
			err = fmt.Errorf("%w (the linux backend needs root: CAP_SYS_ADMIN and CAP_NET_ADMIN)", err)
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
// sysctls, the TUN device with a pinned qdisc, and a sock_diag socket.
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
		path := "/proc/sys/" + strings.ReplaceAll(s.key, ".", "/")
		err := os.WriteFile(path, []byte(s.value), 0)
		if err != nil && !(s.optional && errors.Is(err, fs.ErrNotExist)) {
			return fmt.Errorf("sysctl %s=%s: %w", s.key, s.value, err)
		}
	}
	i.dev, err = tun.Open(tun.Config{Name: linuxDevice, Peer: netip.PrefixFrom(StackAddr, 24), MTU: 1500})
	if err != nil {
		return err
	}
	// The device gets the host's net.core.default_qdisc, which a namespace
	// cannot change (fq would pace segments on a timer): pin pfifo_fast,
	// the kernel's built-in default, which only queues.
	link, err := h.LinkByName(linuxDevice)
	if err != nil {
		return err
	}
	qdisc := &netlink.PfifoFast{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Parent: netlink.HANDLE_ROOT}}
	if err := h.QdiscReplace(qdisc); err != nil {
		return fmt.Errorf("setting pfifo_fast on %s: %w", linuxDevice, err)
	}
	i.diag, err = netlink.NewHandle(unix.NETLINK_INET_DIAG)
	return err
}

// onThread runs fn on a fresh goroutine locked to its OS thread, which fn
// may move into another network namespace, and moves the thread back
// afterwards. If that fails, the thread stays locked and ends with the
// goroutine, so that no other goroutine ever runs in the wrong namespace.
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
		if rerr := vnetns.Set(origin); rerr != nil {
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
	diag  *netlink.Handle // a sock_diag socket in the namespace
	start time.Time       // Now is measured from here

	packets chan linuxPacket // what the kernel sent, oldest first
	dropped atomic.Uint64    // packets the reader left out (IPv6, not TCP or ICMP)
	readErr error            // why the reader stopped, if not Close; read after done
	closing chan struct{}    // closed by Close, to stop a reader blocked on packets
	done    chan struct{}    // closed when the reader has stopped

	mu      sync.Mutex // guards sockets, diag and closed
	sockets map[*linuxSocket]struct{}
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
	defer close(i.done)
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
		select {
		case i.packets <- linuxPacket{bytes.Clone(buf[:n]), at}:
		case <-i.closing:
			return
		}
	}
}

// wanted reports whether a packet from the kernel goes to the scenario: IPv4
// TCP and ICMP do. A packet that claims to be IPv4 and fails to parse goes
// too, for the runner to report.
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
// and the namespace handle, after which the kernel frees the namespace with
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
		if err := s.Close(); err != nil && !errors.Is(err, ErrClosed) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, i.dev.Close())
	close(i.closing)
	<-i.done
	if n := i.dropped.Load(); n > 0 {
		slog.Debug("conformance: linux: packets left out", "count", n)
	}
	errs = append(errs, i.readErr, i.release())
	return errors.Join(errs...)
}

// release closes the sock_diag socket and the namespace handle, whatever of
// them exists.
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

// newSocket creates a non-blocking TCP socket inside the namespace, where it
// stays for its whole life whichever thread uses it.
func (i *linuxInstance) newSocket(opts SocketOptions) (int, error) {
	fd := -1
	err := onThread(func() error {
		if err := vnetns.Set(i.ns); err != nil {
			return err
		}
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
		return err
	})
	if err == nil {
		err = applyOptions(fd, opts)
	}
	if err != nil && fd >= 0 {
		unix.Close(fd)
	}
	return fd, err
}

// applyOptions sets what opts asks for. Linux doubles SO_RCVBUF and
// SO_SNDBUF for its bookkeeping and caps them at net.core.rmem_max and
// wmem_max; the values are passed as an application would pass them.
func applyOptions(fd int, opts SocketOptions) error {
	if opts.NoDelay {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			return err
		}
	}
	if opts.RecvBuffer > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, opts.RecvBuffer); err != nil {
			return err
		}
	}
	if opts.SendBuffer > 0 {
		return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, opts.SendBuffer)
	}
	return nil
}

// Listen implements Instance. The options are set on the listening socket
// before listen(2), so the window scale it offers already reflects the
// buffer, and accepted connections inherit them, as Linux does.
func (i *linuxInstance) Listen(port uint16, backlog int, opts SocketOptions) (Socket, error) {
	fd, err := i.newSocket(opts)
	if err != nil {
		return nil, fmt.Errorf("linux: listen: %w", err)
	}
	err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err == nil {
		err = unix.Bind(fd, &unix.SockaddrInet4{Port: int(port), Addr: StackAddr.As4()})
	}
	if err == nil {
		err = unix.Listen(fd, backlog)
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("linux: listen on port %d: %w", port, err)
	}
	return i.adopt(fd, true)
}

// Connect implements Instance with a non-blocking connect(2), which sends
// the SYN and returns EINPROGRESS.
func (i *linuxInstance) Connect(port uint16, opts SocketOptions) (Socket, error) {
	fd, err := i.newSocket(opts)
	if err != nil {
		return nil, fmt.Errorf("linux: connect: %w", err)
	}
	err = unix.Connect(fd, &unix.SockaddrInet4{Port: int(port), Addr: PeerAddr.As4()})
	if err != nil && !errors.Is(err, unix.EINPROGRESS) {
		unix.Close(fd)
		return nil, normaliseErrno(err)
	}
	return i.adopt(fd, false)
}

// adopt wraps a socket the instance made, noting its port and cookie.
func (i *linuxInstance) adopt(fd int, listener bool) (Socket, error) {
	s := &linuxSocket{inst: i, fd: fd, listener: listener}
	sa, err := unix.Getsockname(fd)
	if err == nil {
		s.port = uint16(sa.(*unix.SockaddrInet4).Port)
		s.cookie, err = unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_COOKIE)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if err == nil && i.closed {
		err = ErrClosed
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("linux: %w", err)
	}
	i.sockets[s] = struct{}{}
	return s, nil
}

// diagState asks sock_diag for the kernel state of the socket with the
// given cookie: the kernel keeps a connection after close(2) (FIN-WAIT-1,
// LAST-ACK, TIME-WAIT, ...), and a TIME-WAIT entry keeps the cookie of the
// socket it replaced. found is false once the kernel has forgotten it.
func (i *linuxInstance) diagState(cookie uint64) (state uint8, found bool, err error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.diag == nil {
		return 0, false, nil // the namespace is gone, and everything in it
	}
	var socks []*netlink.Socket
	for range 5 { // a dump is interrupted when the table changes under it
		socks, err = i.diag.SocketDiagTCP(unix.AF_INET)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return 0, false, err
	}
	for _, s := range socks {
		if uint64(s.ID.Cookie[1])<<32|uint64(s.ID.Cookie[0]) == cookie {
			return s.State, true, nil
		}
	}
	return 0, false, nil
}

// forget removes a closed socket from the instance's list.
func (i *linuxInstance) forget(s *linuxSocket) {
	i.mu.Lock()
	delete(i.sockets, s)
	i.mu.Unlock()
}

// linuxSocket is a kernel socket in the instance's namespace.
type linuxSocket struct {
	inst     *linuxInstance
	listener bool   // made by Listen
	port     uint16 // local port, from getsockname
	cookie   uint64 // SO_COOKIE: the kernel's name for the socket, which outlives the fd

	mu      sync.Mutex // guards fd, err and pending
	fd      int        // -1 once closed
	err     error      // the error that ended the connection, once seen
	pending error      // an error Err took from SO_ERROR that the next call must report
}

// Accept implements Socket with accept4(2).
func (s *linuxSocket) Accept() (Socket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.fd < 0:
		return nil, ErrClosed
	case !s.listener:
		return nil, ErrNotSupported
	}
	fd, _, err := unix.Accept4(s.fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	if err != nil {
		return nil, normaliseErrno(err)
	}
	return s.inst.adopt(fd, false)
}

// Write implements Socket with send(2) and MSG_NOSIGNAL, so that writing to
// a connection the peer reset fails with EPIPE instead of raising SIGPIPE.
func (s *linuxSocket) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return 0, err
	}
	n, err := unix.SendmsgN(s.fd, p, nil, nil, unix.MSG_NOSIGNAL)
	if err != nil {
		return 0, s.fail(err)
	}
	return n, nil
}

// Read implements Socket with read(2): 0 bytes read means the peer's FIN.
func (s *linuxSocket) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil || len(p) == 0 {
		return 0, err
	}
	n, err := unix.Read(s.fd, p)
	switch {
	case err != nil:
		return 0, s.fail(err)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// usable returns the error a data call must report before trying: the
// socket is closed, is a listener, or has an error Err took from the kernel.
func (s *linuxSocket) usable() error {
	switch {
	case s.fd < 0:
		return ErrClosed
	case s.listener:
		return ErrNotSupported
	case s.pending != nil:
		err := s.pending
		s.pending = nil
		return err
	}
	return nil
}

// fail normalises an error of a system call and remembers it if it ended
// the connection.
func (s *linuxSocket) fail(errno error) error {
	err := normaliseErrno(errno)
	if s.err == nil && (errors.Is(err, ErrReset) || errors.Is(err, ErrRefused) || errors.Is(err, ErrTimedOut)) {
		s.err = err
	}
	return err
}

// ShutdownWrite implements Socket with shutdown(SHUT_WR).
func (s *linuxSocket) ShutdownWrite() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	if err := unix.Shutdown(s.fd, unix.SHUT_WR); err != nil {
		return s.fail(err)
	}
	return nil
}

// Close implements Socket with close(2).
func (s *linuxSocket) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd < 0 {
		return ErrClosed
	}
	err := unix.Close(s.fd)
	s.fd = -1
	s.inst.forget(s)
	return normaliseErrno(err)
}

// State implements Socket: tcpi_state from TCP_INFO while the socket is
// open, and after close(2) the state of the kernel's own entry for it
// (orphaned or TIME-WAIT), found by its cookie through sock_diag, until the
// kernel drops it.
func (s *linuxSocket) State() string {
	s.mu.Lock()
	fd := s.fd
	if fd >= 0 {
		defer s.mu.Unlock()
		info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			return fmt.Sprintf("unknown (TCP_INFO: %v)", err)
		}
		return stateName(info.State)
	}
	s.mu.Unlock()
	state, found, err := s.inst.diagState(s.cookie)
	switch {
	case err != nil:
		return fmt.Sprintf("unknown (sock_diag: %v)", err)
	case !found:
		return "CLOSED"
	}
	return stateName(state)
}

// kernelStates names the kernel's TCP states (include/net/tcp_states.h) the
// RFC 9293 way.
var kernelStates = [...]string{
	unix.BPF_TCP_ESTABLISHED:  "ESTABLISHED",
	unix.BPF_TCP_SYN_SENT:     "SYN-SENT",
	unix.BPF_TCP_SYN_RECV:     "SYN-RECEIVED",
	unix.BPF_TCP_FIN_WAIT1:    "FIN-WAIT-1",
	unix.BPF_TCP_FIN_WAIT2:    "FIN-WAIT-2",
	unix.BPF_TCP_TIME_WAIT:    "TIME-WAIT",
	unix.BPF_TCP_CLOSE:        "CLOSED",
	unix.BPF_TCP_CLOSE_WAIT:   "CLOSE-WAIT",
	unix.BPF_TCP_LAST_ACK:     "LAST-ACK",
	unix.BPF_TCP_LISTEN:       "LISTEN",
	unix.BPF_TCP_CLOSING:      "CLOSING",
	unix.BPF_TCP_NEW_SYN_RECV: "SYN-RECEIVED", // a request sock, before accept
}

// stateName is the RFC 9293 name of a kernel TCP state.
func stateName(state uint8) string {
	if int(state) < len(kernelStates) && kernelStates[state] != "" {
		return kernelStates[state]
	}
	return fmt.Sprintf("unknown (kernel state %d)", state)
}

// Err implements Socket. SO_ERROR clears the kernel's pending error, which
// the next read or write would otherwise have reported; it is kept for that
// call, so asking Err does not change what Read and Write see.
func (s *linuxSocket) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil || s.fd < 0 {
		return s.err
	}
	errno, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && errno != 0 {
		s.pending = s.fail(unix.Errno(errno))
	}
	return s.err
}

// LocalPort implements Socket.
func (s *linuxSocket) LocalPort() uint16 { return s.port }

// SetNoDelay implements Socket with TCP_NODELAY.
func (s *linuxSocket) SetNoDelay(on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd < 0 {
		return ErrClosed
	}
	v := 0
	if on {
		v = 1
	}
	return normaliseErrno(unix.SetsockoptInt(s.fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, v))
}

// normaliseErrno maps the errors of socket system calls onto the harness's.
func normaliseErrno(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EAGAIN):
		return ErrWouldBlock
	case errors.Is(err, unix.ECONNRESET), errors.Is(err, unix.ECONNABORTED):
		return ErrReset
	case errors.Is(err, unix.ECONNREFUSED):
		return ErrRefused
	case errors.Is(err, unix.ETIMEDOUT):
		return ErrTimedOut
	case errors.Is(err, unix.EPIPE):
		return ErrPipe
	case errors.Is(err, unix.EBADF):
		return ErrClosed
	}
	return fmt.Errorf("linux: %w", err)
}

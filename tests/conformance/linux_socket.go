//go:build linux

package conformance

// Sockets of the Linux backend: kernel sockets created inside the
// instance's namespace and driven with non-blocking system calls.

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// newSocket creates a non-blocking TCP socket inside the namespace, where it
// stays for its whole life whichever thread uses it, and sets it up. Linux
// doubles SO_RCVBUF and SO_SNDBUF for its bookkeeping and caps them at
// net.core.rmem_max and wmem_max; they are passed as an application would.
func (i *linuxInstance) newSocket(opts SocketOptions) (int, error) {
	fd := -1
	err := onThread(func() error {
		err := vnetns.Set(i.ns)
		if err == nil {
			fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		}
		return err
	})
	if err == nil {
		err = unix.SetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION, kernelCongestionControl)
	}
	if err == nil {
		// Urgent data stays in the stream, as tinytcp delivers it (RFC
		// 6093's advice); without SO_OOBINLINE the kernel would take the
		// last urgent byte out of it for recv(MSG_OOB). Accepted sockets
		// inherit it. Nothing else depends on it.
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_OOBINLINE, 1)
	}
	if err == nil && opts.NoDelay {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	if err == nil && opts.RecvBuffer > 0 {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, opts.RecvBuffer)
	}
	if err == nil && opts.SendBuffer > 0 {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, opts.SendBuffer)
	}
	if err == nil && opts.TTL > 0 {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, opts.TTL)
	}
	if err == nil && opts.DSCP > 0 {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TOS, opts.DSCP<<2)
	}
	if err == nil && opts.UserTimeout > 0 {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(opts.UserTimeout.Milliseconds()))
	}
	if err != nil && fd >= 0 {
		unix.Close(fd)
	}
	return fd, err
}

// Listen implements Instance. The options are set before listen(2), so the
// window scale offered already reflects the buffer, and accepted
// connections inherit them, as on Linux they do.
func (i *linuxInstance) Listen(port uint16, backlog int, opts SocketOptions) (Socket, error) {
	fd, err := i.newSocket(opts)
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		if err == nil {
			err = unix.Bind(fd, &unix.SockaddrInet4{Port: int(port), Addr: StackAddr.As4()})
		}
		if err == nil {
			err = unix.Listen(fd, backlog)
		}
		if err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
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

// adopt wraps a socket of the instance, noting its port and cookie.
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

// diagState asks sock_diag for the state of the kernel's entry with the
// given cookie. found is false once the kernel has forgotten it.
func (i *linuxInstance) diagState(cookie uint64) (state uint8, found bool, err error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.diag == nil {
		return 0, false, nil // the namespace is gone, and everything in it
	}
	var socks []*netlink.Socket
	for range 5 { // a dump is interrupted when the table changes under it
		if socks, err = i.diag.SocketDiagTCP(unix.AF_INET); !errors.Is(err, netlink.ErrDumpInterrupted) {
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

// linuxSocket is a kernel socket in the instance's namespace.
type linuxSocket struct {
	inst     *linuxInstance
	listener bool   // made by Listen
	port     uint16 // local port, from getsockname
	cookie   uint64 // SO_COOKIE: the kernel's name for the socket, which outlives the fd

	mu      sync.Mutex // guards the fields below
	fd      int        // -1 once closed
	err     error      // the error that ended the connection, once seen
	pending error      // an error Err took from SO_ERROR, for the next call to report
	soft    error      // an ICMP soft error Err took from SO_ERROR, for SoftError (icmp_linux.go)
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
	return s.call(func(fd int) (int, error) { return unix.SendmsgN(fd, p, nil, nil, unix.MSG_NOSIGNAL) })
}

// WriteUrgent implements Socket with send(2) and MSG_OOB, which moves the
// urgent pointer (snd_up) to the end of the data written.
func (s *linuxSocket) WriteUrgent(p []byte) (int, error) {
	return s.call(func(fd int) (int, error) { return unix.SendmsgN(fd, p, nil, nil, unix.MSG_NOSIGNAL|unix.MSG_OOB) })
}

// Urgent implements Socket. The kernel signals urgent data with POLLPRI
// once its last byte, "the mark", has arrived and until it has been read;
// SIOCATMARK tells whether the next byte to read is that byte, and
// otherwise a read, even a peek, stops just before it. So the urgent part
// of the stream is the peeked bytes and the mark.
func (s *linuxSocket) Urgent() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd < 0 || s.listener {
		return 0, ErrClosed
	}
	fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLPRI}}
	for {
		_, err := unix.Poll(fds, 0)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EINTR) {
			return 0, normaliseErrno(err)
		}
	}
	if fds[0].Revents&unix.POLLPRI == 0 {
		return 0, nil
	}
	atMark, err := unix.IoctlGetInt(s.fd, unix.SIOCATMARK)
	if err != nil {
		return 0, normaliseErrno(err)
	}
	if atMark != 0 {
		return 1, nil
	}
	n, _, err := unix.Recvfrom(s.fd, make([]byte, 1<<20), unix.MSG_PEEK|unix.MSG_DONTWAIT)
	if err != nil {
		return 0, normaliseErrno(err)
	}
	return n + 1, nil
}

// Read implements Socket with read(2), where 0 bytes means the peer's FIN.
func (s *linuxSocket) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := s.call(func(fd int) (int, error) { return unix.Read(fd, p) })
	if n == 0 && err == nil {
		return 0, io.EOF
	}
	return n, err
}

// ShutdownWrite implements Socket with shutdown(SHUT_WR).
func (s *linuxSocket) ShutdownWrite() error {
	_, err := s.call(func(fd int) (int, error) { return 0, unix.Shutdown(fd, unix.SHUT_WR) })
	return err
}

// call makes a system call on a connection, unless the socket is closed, a
// listener, or has an error Err took from the kernel to report first.
func (s *linuxSocket) call(syscall func(fd int) (int, error)) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.fd < 0:
		return 0, ErrClosed
	case s.listener:
		return 0, ErrNotSupported
	case s.pending != nil:
		err := s.pending
		s.pending = nil
		return 0, err
	}
	n, err := syscall(s.fd)
	if err != nil {
		return 0, s.fail(err)
	}
	return n, nil
}

// fail normalises the error of a system call, and remembers it if it ended
// the connection.
func (s *linuxSocket) fail(errno error) error {
	err := normaliseErrno(errno)
	if s.err == nil && (errors.Is(err, ErrReset) || errors.Is(err, ErrRefused) || errors.Is(err, ErrTimedOut) ||
		errors.Is(err, ErrHostUnreachable) || errors.Is(err, ErrNetUnreachable)) {
		s.err = err
	}
	return err
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
	s.inst.mu.Lock()
	delete(s.inst.sockets, s)
	s.inst.mu.Unlock()
	return normaliseErrno(err)
}

// State implements Socket: tcpi_state from TCP_INFO while the socket is
// open and not closed. Otherwise the kernel may still hold the connection,
// after close(2) (FIN-WAIT-1, LAST-ACK, ...) or in a TIME-WAIT entry that
// replaced the socket; such an entry keeps the socket's cookie, by which
// sock_diag finds it until the kernel drops it.
func (s *linuxSocket) State() string {
	s.mu.Lock()
	state := uint8(unix.BPF_TCP_CLOSE)
	if s.fd >= 0 {
		info, err := unix.GetsockoptTCPInfo(s.fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			s.mu.Unlock()
			return fmt.Sprintf("unknown (TCP_INFO: %v)", err)
		}
		state = info.State
	}
	s.mu.Unlock()
	if state == unix.BPF_TCP_CLOSE {
		kept, found, err := s.inst.diagState(s.cookie)
		if err != nil {
			return fmt.Sprintf("unknown (sock_diag: %v)", err)
		}
		if found {
			state = kept
		}
	}
	if int(state) < len(kernelStates) && kernelStates[state] != "" {
		return kernelStates[state]
	}
	return fmt.Sprintf("unknown (kernel state %d)", state)
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

// Err implements Socket. SO_ERROR clears the kernel's pending error, which
// the next read or write would otherwise have reported, so it is kept for
// that call: asking Err does not change what Read and Write see.
func (s *linuxSocket) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil || s.fd < 0 || s.pending != nil {
		return s.err
	}
	errno, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && errno != 0 {
		s.tookError(unix.Errno(errno))
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
	case errors.Is(err, unix.EHOSTUNREACH):
		return ErrHostUnreachable
	case errors.Is(err, unix.ENETUNREACH):
		return ErrNetUnreachable
	case errors.Is(err, unix.ETIMEDOUT):
		return ErrTimedOut
	case errors.Is(err, unix.EPIPE):
		return ErrPipe
	case errors.Is(err, unix.EBADF):
		return ErrClosed
	}
	return fmt.Errorf("linux: %w", err)
}

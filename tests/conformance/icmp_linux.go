//go:build linux

package conformance

import "golang.org/x/sys/unix"

// SoftError implements softErrorer with SO_ERROR, which hands out the soft
// error of an ICMP message (the kernel's sk_err_soft) while the connection
// lives on, and clears it.
func (s *linuxSocket) SoftError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.soft == nil && s.fd >= 0 && s.err == nil && s.pending == nil {
		errno, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err == nil && errno != 0 {
			s.tookError(unix.Errno(errno))
		}
	}
	soft := s.soft
	s.soft = nil
	return normaliseErrno(soft)
}

// tookError files an errno SO_ERROR returned: a soft error while the
// connection is alive (Read and Write never report those), otherwise the
// error that ended it, for the next call to report. Called with mu held.
func (s *linuxSocket) tookError(errno unix.Errno) {
	info, err := unix.GetsockoptTCPInfo(s.fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err == nil && info.State != unix.BPF_TCP_CLOSE {
		s.soft = errno
		return
	}
	s.pending = s.fail(errno)
}

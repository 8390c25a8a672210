package demo

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// The control socket: `tinytcp up` serves its instruments (metrics.go) as
// HTTP on a Unix socket, which `tinytcp ss` reads. Its path is derived from
// the device name, so several instances coexist, and the socket is made
// 0600: the device needs root, and so does looking at it.
//
// A device name is unique per network namespace, not per machine, so in a
// namespace other than the machine's (the end-to-end tests run one `up` per
// namespace, all on tinytcp0) the path carries the namespace's inode:
//
//	/run/tinytcp/tinytcp0.sock                  in the machine's namespace
//	/run/tinytcp/netns-4026532461/tinytcp0.sock in any other
//
// `tinytcp ss` run in the same namespace finds the same path.

// ControlDir is where the control sockets live.
const ControlDir = "/run/tinytcp"

// ControlPath returns the control socket of the device dev in the current
// network namespace.
func ControlPath(dev string) string {
	if dev == "" {
		dev = "tinytcp0"
	}
	dir := ControlDir
	if self, err := currentNetns(); err == nil && !machineNetns(self) {
		dir = filepath.Join(dir, fmt.Sprintf("netns-%d", self))
	}
	return filepath.Join(dir, dev+".sock")
}

// currentNetns returns the inode of the calling thread's network namespace
// (a thread of a process can be in another namespace than the rest, as
// tests/netns does).
func currentNetns() (uint64, error) {
	ino, err := netnsInode("/proc/thread-self/ns/net")
	if err != nil {
		ino, err = netnsInode("/proc/self/ns/net")
	}
	return ino, err
}

// initNetInode is the inode of the kernel's initial network namespace, a
// constant of Linux since 3.8 (PROC_NET_INIT_INO).
const initNetInode = 0xEFFFFFF9

// machineNetns reports whether the namespace with inode ino is the
// machine's: the kernel's first, or that of process 1 (a container's).
func machineNetns(ino uint64) bool {
	if ino == initNetInode {
		return true
	}
	init, err := netnsInode("/proc/1/ns/net")
	return err == nil && init == ino
}

// netnsInode identifies a network namespace by its inode (as `ip netns
// identify` and `lsns` do).
func netnsInode(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// Instruments serve a host's instruments on the control socket and, when
// asked, a TCP metrics address.
type Instruments struct {
	ControlPath string // the control socket, "" if none
	MetricsAddr string // the metrics server's address, "" if none
	servers     []*http.Server
	wg          sync.WaitGroup
}

// StartInstruments serves h's instruments on the Unix socket controlPath
// ("" for none) and on the TCP address metricsAddr ("" for none; see
// MetricsListenAddr). A socket file left by a process that died is
// replaced; one a live process serves is not.
func StartInstruments(h *Host, controlPath, metricsAddr string, log *slog.Logger) (*Instruments, error) {
	in := &Instruments{}
	handler := NewInstrumentsHandler(h)
	var listeners []net.Listener
	if controlPath != "" {
		l, err := listenControl(controlPath)
		if err != nil {
			return nil, err
		}
		in.ControlPath = controlPath
		listeners = append(listeners, l)
	}
	if metricsAddr != "" {
		addr, err := MetricsListenAddr(metricsAddr)
		if err == nil {
			var l net.Listener
			l, err = net.Listen("tcp", addr)
			if err == nil {
				in.MetricsAddr = l.Addr().String()
				listeners = append(listeners, l)
			}
		}
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			in.removeSocket()
			return nil, fmt.Errorf("metrics server: %w", err)
		}
		if !isLoopback(in.MetricsAddr) {
			log.Warn("the metrics server, pprof included, is open to the network", "addr", in.MetricsAddr)
		}
	}
	for _, l := range listeners {
		srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
		in.servers = append(in.servers, srv)
		in.wg.Add(1)
		go func() {
			defer in.wg.Done()
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("instruments server stopped", "addr", l.Addr(), "err", err)
			}
		}()
	}
	return in, nil
}

// listenControl makes the control socket, mode 0600. It is bound in a
// private directory, given its mode and only then moved into place, so
// there is no moment at which others could connect.
func listenControl(path string) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another tinytcp serves it; choose another --dev or --control", path)
		}
		os.Remove(path) // left behind by a process that was killed
	}
	tmp, err := os.MkdirTemp(dir, ".bind-") // mode 0700
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	defer os.Remove(tmp)
	bound := filepath.Join(tmp, "sock")
	l, err := net.Listen("unix", bound)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false) // it moves; Close removes it
	if err := errors.Join(os.Chmod(bound, 0o600), os.Rename(bound, path)); err != nil {
		l.Close()
		os.Remove(bound)
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return l, nil
}

// Close stops the servers and removes the control socket.
func (in *Instruments) Close() error {
	var errs []error
	for _, srv := range in.servers {
		errs = append(errs, srv.Close())
	}
	in.wg.Wait()
	in.removeSocket()
	return errors.Join(errs...)
}

// removeSocket removes the socket file and the namespace's directory if it
// is now empty.
func (in *Instruments) removeSocket() {
	if in.ControlPath == "" {
		return
	}
	os.Remove(in.ControlPath) // gone already if its listener was closed
	if dir := filepath.Dir(in.ControlPath); dir != ControlDir {
		os.Remove(dir) // only if empty
	}
}

// startUpInstruments starts the instruments Up serves, as h.Config asks.
func startUpInstruments(h *Host) (*Instruments, error) {
	path := h.Config.Control
	switch path {
	case "":
		path = ControlPath(h.Config.Dev)
	case "none":
		path = ""
	}
	return StartInstruments(h, path, h.Config.Metrics, h.Config.Logger)
}

// describe says, for Up's banner, where the instruments are.
func (in *Instruments) describe(cfg HostConfig) string {
	var s string
	if in.ControlPath != "" {
		cmd := "tinytcp ss"
		switch {
		case cfg.Control != "":
			cmd += " --control " + in.ControlPath
		case cfg.Dev != "tinytcp0":
			cmd += " --dev " + cfg.Dev
		}
		s += fmt.Sprintf("  connections: %s (control socket %s)\n", cmd, in.ControlPath)
	}
	if in.MetricsAddr != "" {
		s += fmt.Sprintf("  metrics: http://%s/metrics (also /connections, /debug/vars, /debug/pprof/)\n", in.MetricsAddr)
	}
	return s
}

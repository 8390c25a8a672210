//go:build linux

// The default backend: a Linux TUN interface driven by WireGuard's tun
// package (golang.zx2c4.com/wireguard/tun), one packet per read and write.
//
// The interface is created here, not by wireguard's CreateTUN, because
// CreateTUN always turns on IFF_VNET_HDR and the kernel's offloads (TSO,
// GRO): reads then come in batches of split segments and writes need ten
// bytes of headroom for the virtio-net header. tinytcp wants the plain link a
// textbook describes, so /dev/net/tun is opened with IFF_TUN|IFF_NO_PI and
// no IFF_VNET_HDR, and the file descriptor is handed to
// CreateUnmonitoredTUNFromFD, which then reports a batch size of 1.
//
// CreateUnmonitoredTUNFromFD is used rather than CreateTUNFromFile: it starts
// no goroutine, while CreateTUNFromFile starts two, a netlink listener for
// link events and a "hack listener" that writes an empty packet every second
// to probe whether the link is up. Both send on a 5-slot Events channel; if
// nobody drains it, the netlink listener blocks there after a few link
// changes and outlives Close (goleak catches it). CreateTUNFromFile also
// sets the MTU with an ioctl; here Open does that with netlink.
//
// Left out: the offload mode (batches, TSO/GRO) the design reserves for the
// benchmarks, and multi-queue TUN.

package tun

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
	wgtun "golang.zx2c4.com/wireguard/tun"
)

// tunCloneDevice is the character device every TUN interface is cloned from.
const tunCloneDevice = "/dev/net/tun"

// wireguardDevice adapts wireguard's batch API (slices of buffers) to Device
// (one packet per call), without allocating per packet: the one-element
// batch slices live in the struct and are reused under a mutex per direction.
type wireguardDevice struct {
	dev    wgtun.Device
	name   string
	mtu    int
	closed atomic.Bool

	readMu    sync.Mutex // guards readBufs and readSizes
	readBufs  [1][]byte
	readSizes [1]int

	writeMu   sync.Mutex // guards writeBufs
	writeBufs [1][]byte
}

// openWireguard creates the TUN interface name from the clone device at
// path (normally /dev/net/tun) in the calling thread's network namespace and
// wraps it. mtu is only reported by MTU; Open sets it on the link.
func openWireguard(path, name string, mtu int) (*wireguardDevice, error) {
	fd, err := createTUN(path, name)
	if err != nil {
		return nil, err
	}
	dev, gotName, err := wgtun.CreateUnmonitoredTUNFromFD(fd)
	if err != nil {
		// Only the name and flag ioctls on a fresh fd can fail here. The fd
		// now belongs to an *os.File inside wireguard whose finalizer
		// closes it; closing it here too could close a reused number.
		return nil, fmt.Errorf("tun: wrapping %s: %w", name, err)
	}
	if dev.BatchSize() != 1 {
		dev.Close()
		return nil, fmt.Errorf("tun: %s: batch size %d, want 1 (offloads on?)", gotName, dev.BatchSize())
	}
	return &wireguardDevice{dev: dev, name: gotName, mtu: mtu}, nil
}

// createTUN opens the clone device and attaches a new TUN interface to the
// returned file descriptor. IFF_TUN_EXCL makes the kernel refuse a name that
// exists already instead of attaching to it (a persistent TUN of that name
// would otherwise be taken over).
func createTUN(path, name string) (int, error) { return createTUNWith(path, name, 0) }

// createTUNWith is createTUN with extra interface flags (IFF_VNET_HDR for
// the offload backend).
func createTUNWith(path, name string, extra uint16) (int, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, classifyOpenError(path, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("tun: interface name %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI | unix.IFF_TUN_EXCL | extra)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return -1, classifyCreateError(name, err)
	}
	return fd, nil
}

// Read reads one packet into p. A packet longer than p is truncated.
func (d *wireguardDevice) Read(p []byte) (int, error) {
	if d.closed.Load() {
		return 0, ErrClosed
	}
	d.readMu.Lock()
	defer d.readMu.Unlock()
	d.readBufs[0] = p
	_, err := d.dev.Read(d.readBufs[:], d.readSizes[:], 0)
	d.readBufs[0] = nil
	if err != nil {
		return 0, d.fileError("read", err)
	}
	return d.readSizes[0], nil
}

// TryRead reads one packet if the kernel has one queued, without waiting
// (TryReader). The file descriptor is non-blocking (wireguard makes it so
// and leaves the waiting to Go's poller), so a raw read(2) that finds
// nothing returns EAGAIN at once; returning true from the RawConn callback
// stops the poller from waiting for more.
func (d *wireguardDevice) TryRead(p []byte) (int, bool, error) {
	if d.closed.Load() {
		return 0, false, ErrClosed
	}
	d.readMu.Lock()
	defer d.readMu.Unlock()
	rc, err := d.dev.File().SyscallConn()
	if err != nil {
		return 0, false, d.fileError("read", err)
	}
	var n int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, rerr = unix.Read(int(fd), p)
		return true
	})
	switch {
	case err != nil:
		return 0, false, d.fileError("read", err)
	case rerr == unix.EAGAIN || rerr == unix.EINTR:
		return 0, false, nil
	case rerr != nil:
		return 0, false, d.fileError("read", rerr)
	}
	return n, true, nil
}

// Write sends p as one packet.
func (d *wireguardDevice) Write(p []byte) (int, error) {
	if d.closed.Load() {
		return 0, ErrClosed
	}
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	d.writeBufs[0] = p
	n, err := d.dev.Write(d.writeBufs[:], 0)
	d.writeBufs[0] = nil
	if err != nil {
		return 0, d.fileError("write", err)
	}
	// wireguard's Write documents a count of packets but returns the sum
	// of bytes written.
	return n, nil
}

// fileError maps the errors of a closed file to ErrClosed.
func (d *wireguardDevice) fileError(op string, err error) error {
	if d.closed.Load() || errors.Is(err, os.ErrClosed) {
		return ErrClosed
	}
	return fmt.Errorf("tun: %s %s: %w", op, d.name, err)
}

// MTU is the MTU the device was opened with.
func (d *wireguardDevice) MTU() int { return d.mtu }

// Name is the interface name.
func (d *wireguardDevice) Name() string { return d.name }

// Close closes the file descriptor, which removes the interface and makes a
// Read blocked in another goroutine return ErrClosed. Closing twice returns
// ErrClosed.
func (d *wireguardDevice) Close() error {
	if d.closed.Swap(true) {
		return ErrClosed
	}
	return d.dev.Close()
}

//go:build linux

// The alternative backend: a Linux TUN interface created by
// github.com/songgao/water, for comparison with the wireguard backend.
//
// water opens /dev/net/tun non-blocking with IFF_TUN|IFF_NO_PI, wraps the fd
// in an *os.File (so reads park in Go's netpoller and Close wakes them) and
// clears IFF_TUN_PERSIST. Its Read and Write are the file's, one packet per
// call, with no allocation of their own.
//
// Left out, because water does not offer them: IFF_TUN_EXCL (water attaches
// to an existing persistent TUN of the same name; Open's preflight check
// that the name is free narrows that to a race) and closing the fd when
// TUNSETIFF fails (water leaks it; the fd holds no interface, so nothing
// else is left behind).

package tun

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/songgao/water"
)

// waterDevice adapts a water.Interface to Device.
type waterDevice struct {
	ifce   *water.Interface
	mtu    int
	closed atomic.Bool
}

// openWater creates the TUN interface name in the calling thread's network
// namespace. mtu is only reported by MTU; Open sets it on the link.
func openWater(name string, mtu int) (*waterDevice, error) {
	ifce, err := water.New(water.Config{
		DeviceType:             water.TUN,
		PlatformSpecificParams: water.PlatformSpecificParams{Name: name},
	})
	if err != nil {
		if isMissingDevice(err) {
			return nil, classifyOpenError(tunCloneDevice, err)
		}
		return nil, classifyCreateError(name, err)
	}
	return &waterDevice{ifce: ifce, mtu: mtu}, nil
}

// Read reads one packet into p. A packet longer than p is truncated.
func (d *waterDevice) Read(p []byte) (int, error) {
	if d.closed.Load() {
		return 0, ErrClosed
	}
	n, err := d.ifce.Read(p)
	if err != nil {
		return 0, d.fileError("read", err)
	}
	return n, nil
}

// Write sends p as one packet.
func (d *waterDevice) Write(p []byte) (int, error) {
	if d.closed.Load() {
		return 0, ErrClosed
	}
	n, err := d.ifce.Write(p)
	if err != nil {
		return 0, d.fileError("write", err)
	}
	return n, nil
}

// fileError maps the errors of a closed file to ErrClosed.
func (d *waterDevice) fileError(op string, err error) error {
	if d.closed.Load() || errors.Is(err, os.ErrClosed) {
		return ErrClosed
	}
	return fmt.Errorf("tun: %s %s: %w", op, d.ifce.Name(), err)
}

// MTU is the MTU the device was opened with.
func (d *waterDevice) MTU() int { return d.mtu }

// Name is the interface name.
func (d *waterDevice) Name() string { return d.ifce.Name() }

// Close closes the file descriptor, which removes the interface and makes a
// Read blocked in another goroutine return ErrClosed. Closing twice returns
// ErrClosed.
func (d *waterDevice) Close() error {
	if d.closed.Swap(true) {
		return ErrClosed
	}
	return d.ifce.Close()
}

// Package tun is tinytcp's link layer: a Device that carries whole IPv4
// packets between the stack and something else (a Linux TUN interface, an
// in-memory peer), plus byte-level middlewares that wrap any Device.
//
// The package knows no protocol. It never looks inside a packet, and imports
// neither tinytcp/ip nor tinytcp/tcp: a pcap writer records bytes, an
// impairment layer drops, corrupts, duplicates, reorders and delays bytes.
// Everything that understands IP and TCP lives above it.
package tun

import "errors"

// Device is a point-to-point link that carries one IP packet per call.
//
// Read blocks until a packet arrives, copies it into p and returns its
// length; a packet longer than p is truncated to len(p). Write sends p as one
// packet. After Close, both return ErrClosed (wrapped or bare, test with
// errors.Is). Read and Write may be called from different goroutines at the
// same time; two concurrent Writes (or two Reads) are allowed too.
type Device interface {
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	// MTU is the largest packet, in bytes, the device carries.
	MTU() int
	// Name is the interface name ("tinytcp0") or a label for in-memory devices.
	Name() string
	Close() error
}

// TryReader is a Device that can read a packet only if one is already
// waiting: TryRead never blocks, and returns ok false when none is. The
// stack uses it to take the packets queued behind the one it waited for as
// one batch.
type TryReader interface {
	TryRead(p []byte) (n int, ok bool, err error)
}

// ErrClosed is returned by Read and Write once the device is closed.
var ErrClosed = errors.New("tun: device closed")

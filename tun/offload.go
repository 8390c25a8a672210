//go:build linux

// The offload backend: a Linux TUN interface opened with IFF_VNET_HDR, so
// that every packet crossing it carries a virtio-net header (struct
// virtio_net_hdr, include/uapi/linux/virtio_net.h), and with the kernel's
// checksum and TCP segmentation offloads turned on (TUNSETOFFLOAD with
// TUN_F_CSUM|TUN_F_TSO4). It is what lets a userspace stack move a 64 KiB
// burst in one system call instead of forty-five:
//
//   - Writing, the stack hands the kernel one super-packet (an IPv4 header,
//     a TCP header, and up to 64 KiB of payload) with GSO set to the MSS;
//     the kernel cuts it into MSS-sized segments itself (TSO, in software
//     or on the way to the socket) and fills in their checksums.
//   - Reading, the kernel hands over what its TCP sent as one super-packet,
//     not split (the TUN device advertises TSO, so the kernel's TCP builds
//     64 KiB packets for it, as it would for a network card), with the TCP
//     checksum left for the device to compute (NeedsCsum): the bytes come
//     from the kernel's own memory, so there is nothing to check.
//
// wireguard/tun offers the same header, but splits every super-packet it
// reads into MSS-sized packets in user space, computing their checksums, and
// merges packets on write: the split costs most of what the offload saves.
// This backend passes super-packets through whole, and leaves the cutting to
// the kernel, which is what takes a userspace stack from one system call per
// packet to one per 64 KiB.
//
// The kernel side of the link keeps its MTU (1500 by default): MTU reports
// it, and TCP's MSS comes from it, as on the plain link. Only the packets
// that cross the file descriptor are larger.
//
// Left out: IPv6 (TUN_F_TSO6), UDP segmentation (TUN_F_USO4), ECN with TSO
// (TUN_F_TSO_ECN), and multi-queue TUN.

package tun

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// DriverOffload selects this backend in Config.Driver.
const DriverOffload = "offload"

// MaxOffloadPacket is the largest packet an offload device reads or
// writes: an IPv4 packet of the largest total length.
const MaxOffloadPacket = 65535

// GSOKind says whether a packet is a super-packet, and of which protocol.
type GSOKind uint8

// The kinds of packets the offload device carries.
const (
	GSONone  GSOKind = iota // an ordinary packet
	GSOTCPv4                // a TCP/IPv4 super-packet, cut into GSOSize-byte segments
)

// Offload is the virtio-net header of one packet, in the terms a stack
// needs. The zero value describes an ordinary packet with a complete
// checksum.
type Offload struct {
	GSO     GSOKind
	GSOSize uint16 // payload bytes per segment of a super-packet (the MSS)
	HdrLen  uint16 // bytes of headers in front of the payload (IP and TCP)
	// NeedsCsum says that the checksum at CsumStart+CsumOffset holds only
	// the sum of the pseudo-header: on write, the kernel completes it for
	// every segment it makes; on read, the kernel left it for the device,
	// having made the packet itself.
	NeedsCsum  bool
	CsumStart  uint16 // where the checksummed bytes begin (the TCP header)
	CsumOffset uint16 // where the checksum lies, from CsumStart
	// DataValid (read only) says the kernel already checked the checksum.
	DataValid bool
}

// OffloadDevice is a Device that carries super-packets and partial
// checksums. Read and Write still work on it, for packets that need
// neither; a stack that uses ReadOffload must honour NeedsCsum.
type OffloadDevice interface {
	Device
	// ReadOffload reads one packet, of up to MaxOffloadPacket bytes, and
	// its header. It blocks until one arrives.
	ReadOffload(p []byte) (int, Offload, error)
	// TryReadOffload is ReadOffload if a packet is already waiting; ok is
	// false if none is (TryReader).
	TryReadOffload(p []byte) (n int, o Offload, ok bool, err error)
	// WriteOffload writes one packet with its header.
	WriteOffload(p []byte, o Offload) (int, error)
}

// vnetHdrLen is the size of struct virtio_net_hdr, the header TUN puts in
// front of every packet when IFF_VNET_HDR is set (TUNSETVNETHDRSZ left at
// its default).
const vnetHdrLen = 10

// encode writes o as a virtio_net_hdr. Without TUNSETVNETLE the kernel
// reads the header in the host's byte order (legacy virtio).
func (o Offload) encode(h *[vnetHdrLen]byte) {
	var flags, gso uint8
	if o.NeedsCsum {
		flags |= unix.VIRTIO_NET_HDR_F_NEEDS_CSUM
	}
	if o.GSO == GSOTCPv4 {
		gso = 1 // VIRTIO_NET_HDR_GSO_TCPV4
	}
	h[0], h[1] = flags, gso
	binary.NativeEndian.PutUint16(h[2:], o.HdrLen)
	binary.NativeEndian.PutUint16(h[4:], o.GSOSize)
	binary.NativeEndian.PutUint16(h[6:], o.CsumStart)
	binary.NativeEndian.PutUint16(h[8:], o.CsumOffset)
}

// decodeOffload reads a virtio_net_hdr. A GSO type other than none and
// TCPv4 (the only ones TUNSETOFFLOAD allows the kernel to send here) is an
// error.
func decodeOffload(h *[vnetHdrLen]byte) (Offload, error) {
	o := Offload{
		NeedsCsum:  h[0]&unix.VIRTIO_NET_HDR_F_NEEDS_CSUM != 0,
		DataValid:  h[0]&unix.VIRTIO_NET_HDR_F_DATA_VALID != 0,
		HdrLen:     binary.NativeEndian.Uint16(h[2:]),
		GSOSize:    binary.NativeEndian.Uint16(h[4:]),
		CsumStart:  binary.NativeEndian.Uint16(h[6:]),
		CsumOffset: binary.NativeEndian.Uint16(h[8:]),
	}
	switch h[1] &^ 0x80 { // 0x80 is VIRTIO_NET_HDR_GSO_ECN
	case 0:
	case 1:
		o.GSO = GSOTCPv4
	default:
		return o, fmt.Errorf("tun: virtio-net header with GSO type %#x", h[1])
	}
	return o, nil
}

// offloadDevice is the offload backend. The file descriptor is
// non-blocking and registered with Go's poller, so a blocked ReadOffload
// parks its goroutine, and Close wakes it.
type offloadDevice struct {
	f      *os.File
	rc     syscall.RawConn
	name   string
	mtu    int
	closed atomic.Bool

	readMu  sync.Mutex // guards rhdr and riov
	rhdr    [vnetHdrLen]byte
	riov    [2][]byte
	writeMu sync.Mutex // guards whdr and wiov
	whdr    [vnetHdrLen]byte
	wiov    [2][]byte
}

var _ OffloadDevice = (*offloadDevice)(nil)

// openOffload creates the TUN interface name with the virtio-net header
// and turns on the checksum and TCPv4 segmentation offloads.
func openOffload(path, name string, mtu int) (*offloadDevice, error) {
	fd, err := createTUNWith(path, name, unix.IFF_VNET_HDR)
	if err != nil {
		return nil, err
	}
	fail := func(step string, err error) (*offloadDevice, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("tun: %s on %s: %w", step, name, err)
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, unix.TUN_F_CSUM|unix.TUN_F_TSO4); err != nil {
		return fail("turning on TSO (TUNSETOFFLOAD)", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return fail("setting O_NONBLOCK", err)
	}
	f := os.NewFile(uintptr(fd), "/dev/net/tun")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("tun: %s: %w", name, err)
	}
	return &offloadDevice{f: f, rc: rc, name: name, mtu: mtu}, nil
}

// ReadOffload reads one packet and its header, waiting for one.
func (d *offloadDevice) ReadOffload(p []byte) (int, Offload, error) {
	n, o, _, err := d.read(p, true)
	return n, o, err
}

// TryReadOffload reads one packet if one is waiting.
func (d *offloadDevice) TryReadOffload(p []byte) (int, Offload, bool, error) {
	return d.read(p, false)
}

// read is readv(2) of the header and the packet; with wait false it gives
// up on EAGAIN instead of parking in the poller.
func (d *offloadDevice) read(p []byte, wait bool) (int, Offload, bool, error) {
	if d.closed.Load() {
		return 0, Offload{}, false, ErrClosed
	}
	d.readMu.Lock()
	defer d.readMu.Unlock()
	d.riov = [2][]byte{d.rhdr[:], p}
	var n int
	var rerr error
	err := d.rc.Read(func(fd uintptr) bool {
		n, rerr = unix.Readv(int(fd), d.riov[:])
		return !wait || (rerr != unix.EAGAIN && rerr != unix.EINTR)
	})
	d.riov[1] = nil
	switch {
	case err != nil:
		return 0, Offload{}, false, d.fileError("read", err)
	case rerr == unix.EAGAIN || rerr == unix.EINTR:
		return 0, Offload{}, false, nil
	case rerr != nil:
		return 0, Offload{}, false, d.fileError("read", rerr)
	case n < vnetHdrLen:
		return 0, Offload{}, false, fmt.Errorf("tun: read %s: %d bytes, shorter than the virtio-net header", d.name, n)
	}
	o, err := decodeOffload(&d.rhdr)
	if err != nil {
		return 0, o, false, err
	}
	return n - vnetHdrLen, o, true, nil
}

// WriteOffload writes the header and the packet with one writev(2).
func (d *offloadDevice) WriteOffload(p []byte, o Offload) (int, error) {
	if d.closed.Load() {
		return 0, ErrClosed
	}
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	o.encode(&d.whdr)
	d.wiov = [2][]byte{d.whdr[:], p}
	var n int
	var werr error
	err := d.rc.Write(func(fd uintptr) bool {
		n, werr = unix.Writev(int(fd), d.wiov[:])
		return werr != unix.EAGAIN
	})
	d.wiov[1] = nil
	switch {
	case err != nil:
		return 0, d.fileError("write", err)
	case werr != nil:
		return 0, d.fileError("write", werr)
	}
	return n - vnetHdrLen, nil
}

// Read reads one packet as the kernel handed it: it may be a super-packet
// with a partial checksum (use ReadOffload to know).
func (d *offloadDevice) Read(p []byte) (int, error) {
	n, _, err := d.ReadOffload(p)
	return n, err
}

// TryRead is TryReadOffload without the header (TryReader).
func (d *offloadDevice) TryRead(p []byte) (int, bool, error) {
	n, _, ok, err := d.TryReadOffload(p)
	return n, ok, err
}

// Write sends p, a complete packet with its checksums, as one packet.
func (d *offloadDevice) Write(p []byte) (int, error) { return d.WriteOffload(p, Offload{}) }

// fileError maps the errors of a closed file to ErrClosed.
func (d *offloadDevice) fileError(op string, err error) error {
	if d.closed.Load() || errors.Is(err, os.ErrClosed) {
		return ErrClosed
	}
	return fmt.Errorf("tun: %s %s: %w", op, d.name, err)
}

// MTU is the link's MTU: the largest ordinary packet. Super-packets may be
// up to MaxOffloadPacket.
func (d *offloadDevice) MTU() int { return d.mtu }

// Name is the interface name.
func (d *offloadDevice) Name() string { return d.name }

// Close closes the file descriptor, which removes the interface and wakes a
// blocked read with ErrClosed. Closing twice returns ErrClosed.
func (d *offloadDevice) Close() error {
	if d.closed.Swap(true) {
		return ErrClosed
	}
	return d.f.Close()
}

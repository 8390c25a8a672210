// Pcap: a middleware that records every packet crossing a Device into a
// pcap file, for Wireshark, tshark and tcpdump -r.
//
// The file uses link type LINKTYPE_RAW (101, gopacket's layers.LinkTypeRaw):
// each record is a bare IP packet, which is what a TUN carries, so the tools
// decode it as IPv4 with no fake Ethernet header. Timestamps have microsecond
// resolution and the snapshot length is 65535, the largest IPv4 packet, so
// nothing is cut. The file is written with gopacket's pcapgo.
//
// Recording never disturbs the link: a failed write to the pcap file is
// counted (WriteErrors) and the packet goes on as if nothing happened. Since
// a record cut short leaves the rest of the file unreadable, recording stops
// at the first failure, and every packet not recorded after it is counted
// too. One mutex serialises the records of concurrent Reads and Writes.
//
// Left out: pcapng and its per-packet direction flag (a record does not say
// whether it was read or written; the addresses do), and buffering: pass a
// bufio.Writer and flush it after Close for speed.

package tun

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// PcapSnaplen is the snapshot length of the files Pcap writes.
const PcapSnaplen = 65535

// Pcap is a Device that records every packet read from and written to the
// Device it wraps.
type Pcap struct {
	dev Device

	mu     sync.Mutex // guards w and failed
	w      *pcapgo.Writer
	failed bool // a write to the file failed; record no more

	writeErrors atomic.Uint64
}

// NewPcap writes the pcap file header to w and returns dev wrapped so that
// every packet read or written is recorded in w. The caller keeps ownership
// of w: Close closes dev, not w. An error writing the file header is
// returned; later write errors are only counted.
func NewPcap(dev Device, w io.Writer) (*Pcap, error) {
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(PcapSnaplen, layers.LinkTypeRaw); err != nil {
		return nil, fmt.Errorf("tun: writing the pcap file header: %w", err)
	}
	return &Pcap{dev: dev, w: pw}, nil
}

// Read reads a packet from the wrapped device and records it.
func (c *Pcap) Read(p []byte) (int, error) {
	n, err := c.dev.Read(p)
	if n > 0 {
		c.record(p[:n])
	}
	return n, err
}

// TryRead reads a packet that is already waiting, if the wrapped device can
// tell (TryReader), and records it.
func (c *Pcap) TryRead(p []byte) (int, bool, error) {
	tr, ok := c.dev.(TryReader)
	if !ok {
		return 0, false, nil
	}
	n, ok, err := tr.TryRead(p)
	if ok && n > 0 {
		c.record(p[:n])
	}
	return n, ok, err
}

// Write records p and writes it to the wrapped device. A packet is recorded
// even if the device then refuses it: the file shows what was sent.
func (c *Pcap) Write(p []byte) (int, error) {
	c.record(p)
	return c.dev.Write(p)
}

// record appends one packet to the file.
func (c *Pcap) record(p []byte) {
	ci := gopacket.CaptureInfo{
		Timestamp:     time.Now(),
		CaptureLength: min(len(p), PcapSnaplen),
		Length:        len(p),
	}
	c.mu.Lock()
	if !c.failed {
		c.failed = c.w.WritePacket(ci, p[:ci.CaptureLength]) != nil
	}
	failed := c.failed
	c.mu.Unlock()
	if failed {
		c.writeErrors.Add(1)
	}
}

// WriteErrors is how many packets were not recorded because writing to the
// pcap file failed, at that packet or before.
func (c *Pcap) WriteErrors() uint64 { return c.writeErrors.Load() }

// MTU is the wrapped device's MTU.
func (c *Pcap) MTU() int { return c.dev.MTU() }

// Name is the wrapped device's name.
func (c *Pcap) Name() string { return c.dev.Name() }

// Close closes the wrapped device. It does not close the pcap writer.
func (c *Pcap) Close() error { return c.dev.Close() }

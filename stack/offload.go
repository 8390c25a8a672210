package stack

import (
	"tinytcp/ip"
	"tinytcp/tcp"
	"tinytcp/tun"
)

// Offload mode: on a device that does segmentation and checksum offload
// (tun.OffloadDevice, the "offload" TUN driver), the stack moves data in
// super-packets of up to 64 KiB, one system call each, instead of one
// packet per MTU:
//
//   - Out: the TCB may build segments of up to tcp.Config.SegmentOffload
//     bytes of payload, whole multiples of the MSS (tcp/output.go); the
//     stack writes each with GSO set to the MSS, and the kernel cuts it
//     into the segments the TCB would have sent one by one. The TCP
//     checksum field holds only the pseudo-header sum, which the kernel
//     completes for every segment it makes (NeedsCsum); ordinary segments
//     go out the same way, so the stack never sums a payload.
//   - In: the kernel hands over what its TCP sent as it built it, up to 64
//     KiB at a time, and leaves the TCP checksum uncomputed (NeedsCsum) or
//     says it checked it (DataValid). Either way the device vouches for the
//     bytes, and deliverTCP skips its check: the packet never crossed a
//     wire. Every other packet is checked as on the plain link (MUST-3).
//
// A middleware (pcap, impairment) hides the offload interface, so a wrapped
// device always runs the plain link: those layers see one packet per MTU.

// outPacket is a packet waiting for the device, and for a super-packet the
// payload per segment it is to be cut into.
type outPacket struct {
	b   []byte
	gso uint16 // 0 for an ordinary packet
}

// maxTCPHeader is the longest TCP header, options included.
const maxTCPHeader = 60

// useOffload switches the stack to offload mode when its device offers it.
// Called by New.
func (s *Stack) useOffload() {
	od, ok := s.dev.(tun.OffloadDevice)
	if !ok {
		return
	}
	s.od = od
	s.maxPkt = tun.MaxOffloadPacket
	s.cfg.TCP.SegmentOffload = s.maxPkt - ip.HeaderMinLen - maxTCPHeader
}

// gsoSize is what a TCP segment with a header of hl bytes and a payload
// of n bytes is cut into: zero when it fits one packet, else the payload of
// one full segment, which is the send MSS less the options each segment
// repeats (RFC 9293 §3.7.1: the MSS counts no TCP options).
func (s *Stack) gsoSize(mss, hl, n int) uint16 {
	per := mss - (hl - tcp.HeaderMinLen)
	if mss == 0 || per <= 0 || n <= per {
		return 0
	}
	return uint16(per)
}

// readPacket reads one packet, waiting for it, and says whether the device
// vouches for its TCP checksum.
func (s *Stack) readPacket(buf []byte) (n int, vouched bool, err error) {
	if s.od == nil {
		n, err = s.dev.Read(buf)
		return n, false, err
	}
	n, o, err := s.od.ReadOffload(buf)
	s.countOffload(o, "offload.SuperPacketsReceived")
	return n, o.NeedsCsum || o.DataValid, err
}

// countOffload counts a super-packet under name.
func (s *Stack) countOffload(o tun.Offload, name string) {
	if o.GSO != tun.GSONone {
		s.Counters.inc(name)
	}
}

// tryReadPacket is readPacket for a packet already waiting; ok is false
// when there is none, or the device cannot tell (tun.TryReader).
func (s *Stack) tryReadPacket(buf []byte) (n int, vouched, ok bool) {
	if s.od != nil {
		n, o, ok, err := s.od.TryReadOffload(buf)
		s.countOffload(o, "offload.SuperPacketsReceived")
		return n, o.NeedsCsum || o.DataValid, ok && err == nil
	}
	tr, isTry := s.dev.(tun.TryReader)
	if !isTry {
		return 0, false, false
	}
	n, ok, err := tr.TryRead(buf)
	return n, false, ok && err == nil
}

// writePacket hands one packet to the device. In offload mode every TCP
// packet carries a partial checksum for the device to complete, and a
// super-packet its segment size.
func (s *Stack) writePacket(p outPacket) error {
	if s.od == nil {
		_, err := s.dev.Write(p.b)
		return err
	}
	var o tun.Offload
	// The stack built this packet itself (finishIPWith: a 20-byte header,
	// no options), so it needs no checking, only reading.
	if h := ip.IPv4(p.b); h.Protocol() == ip.ProtocolTCP {
		o = tun.Offload{
			NeedsCsum:  true,
			CsumStart:  ip.HeaderMinLen,
			CsumOffset: tcp.ChecksumOffset,
		}
		if p.gso > 0 {
			o.GSO, o.GSOSize = tun.GSOTCPv4, p.gso
			o.HdrLen = uint16(ip.HeaderMinLen + tcp.Header(h.Payload()).DataOffset())
		}
	}
	s.countOffload(o, "offload.SuperPacketsSent")
	_, err := s.od.WriteOffload(p.b, o)
	return err
}

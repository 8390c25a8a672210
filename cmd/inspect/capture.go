// Package inspect reads what tinytcp sent and received and draws it: the
// connections of a pcap capture (this file), a handshake and a close as a
// ladder diagram in the style of RFC 9293's figures (ladder.go, tap.go for
// the live version), and the time-sequence graph of one direction of a
// connection, the graph Stevens and tcptrace made familiar (graph.go,
// svg.go). The tinytcp command's `plot` and `ladder` subcommands and
// `up --trace=ladder` are thin wrappers around it.
//
// The packets are decoded with tinytcp's own parsers, ip.ParseIPv4 and
// tcp.ParseSegment, not with gopacket's layers: the instruments then speak
// the vocabulary of the code they explain (tcp.Seq with its wrap-safe
// comparisons, tcp.Flags, tcp.SACKBlock), and the parsers are fuzzed and
// checked against gopacket in their own tests. The end-to-end tests of these
// commands count segments with gopacket, so a parser bug would still show.
// Only the file format is gopacket's (pcapgo), as for the capture writer.
//
// Left out: IPv6, IP fragments (tinytcp sends none and a TUN capture of it
// holds none), and link types other than raw IP, the one `--pcap` writes.
package inspect

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"tinytcp/ip"
	"tinytcp/tcp"
)

// Segment is one TCP segment of a connection, as the ladder and the graph
// need it. The payload is not kept, only its length.
type Segment struct {
	Time    time.Time
	FromA   bool      // sent by end A (the active opener), else by end B
	Seq     tcp.Seq   // SEG.SEQ
	Ack     tcp.Seq   // SEG.ACK, meaningful with FlagACK
	Flags   tcp.Flags // control bits
	Window  uint16    // SEG.WND as carried, before scaling
	Len     int       // payload bytes (SYN and FIN not counted)
	Options tcp.Options
}

// End is the sequence number just past the segment, SYN and FIN counted.
func (s *Segment) End() tcp.Seq {
	n := uint32(s.Len)
	if s.Flags.Has(tcp.FlagSYN) {
		n++
	}
	if s.Flags.Has(tcp.FlagFIN) {
		n++
	}
	return s.Seq.Add(n)
}

// Conn is one TCP connection of a capture: its two ends and its segments in
// capture order. End A is the one that sent the first SYN (the active
// opener, "TCP Peer A" of RFC 9293's figures); when the capture starts after
// the handshake, it is the sender of the first segment seen.
type Conn struct {
	A, B     netip.AddrPort
	Segments []*Segment
}

// String is the connection's 4-tuple, "10.77.0.1:40000 > 10.77.0.2:80".
func (c *Conn) String() string { return fmt.Sprintf("%v > %v", c.A, c.B) }

// Summary is one line about the connection for a listing: the 4-tuple,
// the segments and the payload bytes each way.
func (c *Conn) Summary() string {
	var segs [2]int
	var bytes [2]int64
	for _, s := range c.Segments {
		i := 1
		if s.FromA {
			i = 0
		}
		segs[i]++
		bytes[i] += int64(s.Len)
	}
	return fmt.Sprintf("%v: %d segments, %d bytes A>B, %d bytes B>A", c, segs[0]+segs[1], bytes[0], bytes[1])
}

// Capture is the TCP content of a pcap file.
type Capture struct {
	Conns   []*Conn
	Skipped int // packets that are not intact IPv4 TCP: bad checksum, fragment, other protocol
}

// ErrLinkType is returned for a capture that does not hold raw IP packets.
var ErrLinkType = errors.New("inspect: the capture is not of link type raw IP (tinytcp --pcap writes raw IP)")

// Read reads a pcap file of link type raw IP (what `tinytcp --pcap`
// writes) and sorts its TCP segments into connections. Packets that are not
// intact IPv4 TCP are counted in Skipped: the stack dropped a corrupted one
// as well.
func Read(r io.Reader) (*Capture, error) {
	pr, err := pcapgo.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("inspect: reading the capture: %w", err)
	}
	if lt := pr.LinkType(); lt != layers.LinkTypeRaw && lt != layers.LinkTypeIPv4 {
		return nil, fmt.Errorf("%w; this one is %v", ErrLinkType, lt)
	}
	var a Assembler
	c := &Capture{}
	for {
		data, ci, err := pr.ReadPacketData()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break // a capture cut short (a killed writer) is read up to the cut
		}
		if err != nil {
			return nil, fmt.Errorf("inspect: reading the capture: %w", err)
		}
		conn, seg, ok := a.Add(ci.Timestamp, data)
		if !ok {
			c.Skipped++
			continue
		}
		if len(conn.Segments) == 0 {
			c.Conns = append(c.Conns, conn)
		}
		conn.Segments = append(conn.Segments, seg)
	}
	return c, nil
}

// connKey names the two ends of a connection in a fixed order, so both
// directions find the same entry.
type connKey struct{ lo, hi netip.AddrPort }

func keyOf(src, dst netip.AddrPort) connKey {
	if src.Addr().Less(dst.Addr()) || src.Addr() == dst.Addr() && src.Port() < dst.Port() {
		return connKey{src, dst}
	}
	return connKey{dst, src}
}

// Assembler sorts decoded segments into connections. It keeps one Conn per
// 4-tuple and starts a new one when a SYN with a new ISN reuses a 4-tuple.
// It does not store the segments: the caller appends them (Read) or only
// looks at them (the live tap). The zero value is ready to use.
type Assembler struct {
	conns map[connKey]*Conn
	isn   map[*Conn]tcp.Seq // A's ISN, for conns that began with a SYN
}

// Add decodes one raw IP packet captured at time t. It returns the
// connection the segment belongs to and the segment, or ok false for a
// packet that is not intact IPv4 TCP.
func (a *Assembler) Add(t time.Time, pkt []byte) (conn *Conn, seg *Segment, ok bool) {
	v, err := ip.ParseIPv4(pkt)
	if err != nil || v.Protocol() != ip.ProtocolTCP || v.IsFragment() {
		return nil, nil, false
	}
	payload := v.Payload()
	if ip.Fold(ip.Sum(payload, ip.PseudoHeaderSum(v.Src(), v.Dst(), ip.ProtocolTCP, len(payload)))) != 0 {
		return nil, nil, false // corrupted on the way in: the stack dropped it too
	}
	var ts tcp.Segment
	if err := tcp.ParseSegment(payload, &ts); err != nil {
		return nil, nil, false
	}
	src := netip.AddrPortFrom(v.Src(), ts.SrcPort)
	dst := netip.AddrPortFrom(v.Dst(), ts.DstPort)
	if a.conns == nil {
		a.conns = map[connKey]*Conn{}
		a.isn = map[*Conn]tcp.Seq{}
	}
	key := keyOf(src, dst)
	conn = a.conns[key]
	isSYN := ts.Flags&(tcp.FlagSYN|tcp.FlagACK) == tcp.FlagSYN
	if conn != nil && isSYN {
		if isn, began := a.isn[conn]; !began || isn != ts.Seq || conn.A != src {
			delete(a.isn, conn)
			conn = nil // a new incarnation of the 4-tuple
		}
	}
	if conn == nil {
		conn = &Conn{A: src, B: dst}
		if isSYN {
			a.isn[conn] = ts.Seq
		}
		a.conns[key] = conn
	}
	seg = &Segment{
		Time: t, FromA: src == conn.A,
		Seq: ts.Seq, Ack: ts.Ack, Flags: ts.Flags, Window: ts.Window,
		Len: len(ts.Payload), Options: ts.Options,
	}
	return conn, seg, true
}

// Forget drops the assembler's entry for conn, so a long-running tap does
// not keep closed connections.
func (a *Assembler) Forget(conn *Conn) {
	key := keyOf(conn.A, conn.B)
	if a.conns[key] == conn {
		delete(a.conns, key)
	}
	delete(a.isn, conn)
}

// Len is the number of connections the assembler tracks.
func (a *Assembler) Len() int { return len(a.conns) }

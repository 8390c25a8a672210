package inspect

// The time-sequence graph: one direction of a connection, sequence number
// over time, the picture W. Richard Stevens drew in TCP/IP Illustrated and
// tcptrace and Wireshark draw from a capture. This file computes it in data
// units (time since the first segment, bytes since the ISN); svg.go draws it.
//
//	sequence
//	   ^                        window edge (ack + win<<wscale)
//	   |              ___________________
//	   |             |        |  data: a vertical tick from SEG.SEQ to
//	   |      _______|        |  SEG.SEQ+SEG.LEN at the time it was sent
//	   |     |    |  |   ____________ ACK line (the receiver's SEG.ACK)
//	   |     |  |   _____|
//	   |    _|______|
//	   +---------------------------------> time
//
// The gap between the ACK line and the ticks is the data in flight; the gap
// between the ticks and the window line is what flow control still allows.
// A tick below the highest sequence number sent so far is a retransmission
// (or a segment the network reordered); a SACK block is a range the
// receiver holds above its ACK (RFC 2018).
//
// Sequence numbers are relative to the sender's ISN, as in Wireshark: the
// SYN is 0, the first data byte 1. They are unwrapped, so a transfer longer
// than 4 GiB keeps climbing instead of wrapping to 0.

import (
	"net/netip"
	"time"

	"tinytcp/tcp"
)

// Tick is a range of sequence space at one moment: a data segment, or a
// SACK block.
type Tick struct {
	T          time.Duration // since the graph's first segment
	Lo, Hi     int64         // relative sequence numbers, Lo < Hi
	Retransmit bool          // a data segment covering bytes sent before
}

// Point is one value of a stepped line: from T on, the line is at Seq.
type Point struct {
	T   time.Duration
	Seq int64
}

// Graph is the time-sequence graph of the data one end sent.
type Graph struct {
	Sender, Receiver netip.AddrPort
	Start            time.Time     // time of the connection's first segment
	Duration         time.Duration // to its last segment

	Data   []Tick  // the sender's segments with data, SYN or FIN
	ACK    []Point // the receiver's acknowledgment number
	Window []Point // the right edge of the receiver's window, SEG.ACK + SEG.WND<<scale
	SACK   []Tick  // the receiver's SACK blocks

	WindowScale int   // the receiver's window scale; 0 when not both SYNs had the option
	Bytes       int64 // payload the sender sent, retransmissions included
	Retransmits int   // data ticks with Retransmit set
	MaxSeq      int64 // the highest relative sequence number on the graph
}

// unwrapper turns 32-bit sequence numbers into int64 offsets from a base,
// following the numbers across wrap-around.
type unwrapper struct {
	base tcp.Seq
	last tcp.Seq // the last number seen
	rel  int64   // its offset
}

func newUnwrapper(base tcp.Seq) *unwrapper { return &unwrapper{base: base, last: base} }

// at returns the offset of s from the base. Numbers are taken as within
// 2^31 of the last one, so they may go down (an old ACK) as well as up.
func (u *unwrapper) at(s tcp.Seq) int64 {
	u.rel += int64(int32(s - u.last))
	u.last = s
	return u.rel
}

// NewGraph computes the graph of the data conn's end A sent (fromA) or end
// B sent.
func NewGraph(conn *Conn, fromA bool) *Graph {
	g := &Graph{Sender: conn.A, Receiver: conn.B}
	if !fromA {
		g.Sender, g.Receiver = conn.B, conn.A
	}
	if len(conn.Segments) == 0 {
		return g
	}
	g.Start = conn.Segments[0].Time
	g.Duration = conn.Segments[len(conn.Segments)-1].Time.Sub(g.Start)

	// The sender's ISN and the receiver's window scale come from the SYNs;
	// without the sender's SYN, its first number stands for the ISN + 1.
	var seq *unwrapper
	scaleSender, scaleReceiver := -1, -1
	for _, s := range conn.Segments {
		if !s.Flags.Has(tcp.FlagSYN) {
			continue
		}
		scale := -1
		if s.Options.HasWindowScale {
			scale = int(min(s.Options.WindowScale, 14)) // RFC 7323 §2.3: at most 14
		}
		if s.FromA == fromA {
			if seq == nil {
				seq = newUnwrapper(s.Seq)
			}
			scaleSender = scale
		} else {
			scaleReceiver = scale
		}
	}
	if scaleSender >= 0 && scaleReceiver >= 0 {
		g.WindowScale = scaleReceiver
	}
	for _, s := range conn.Segments {
		if seq != nil {
			break
		}
		if s.FromA == fromA {
			seq = newUnwrapper(s.Seq.Add(^uint32(0)))
		} else if s.Flags.Has(tcp.FlagACK) {
			seq = newUnwrapper(s.Ack.Add(^uint32(0)))
		}
	}
	if seq == nil {
		return g
	}

	var sndMax int64 // highest end sent so far
	sent := false
	for _, s := range conn.Segments {
		t := s.Time.Sub(g.Start)
		if s.FromA == fromA {
			if s.Len == 0 && !s.Flags.Has(tcp.FlagSYN) && !s.Flags.Has(tcp.FlagFIN) {
				continue // a pure ACK of the other direction's data
			}
			lo := seq.at(s.Seq)
			hi := lo + int64(s.End().Sub(s.Seq))
			tick := Tick{T: t, Lo: lo, Hi: hi, Retransmit: sent && lo < sndMax}
			if tick.Retransmit {
				g.Retransmits++
			}
			g.Data = append(g.Data, tick)
			g.Bytes += int64(s.Len)
			if !sent || hi > sndMax {
				sndMax, sent = hi, true
			}
			g.MaxSeq = max(g.MaxSeq, hi)
			continue
		}
		if !s.Flags.Has(tcp.FlagACK) {
			continue
		}
		ack := seq.at(s.Ack)
		g.ACK = append(g.ACK, Point{T: t, Seq: ack})
		win := int64(s.Window)
		if !s.Flags.Has(tcp.FlagSYN) { // "The window field in a segment where the SYN bit is set MUST NOT be scaled" (RFC 7323 §2.2)
			win <<= g.WindowScale
		}
		g.Window = append(g.Window, Point{T: t, Seq: ack + win})
		for _, b := range s.Options.SACKBlocks() {
			lo := seq.at(b.Left)
			hi := seq.at(b.Right)
			if hi > lo {
				g.SACK = append(g.SACK, Tick{T: t, Lo: lo, Hi: hi})
			}
		}
		g.MaxSeq = max(g.MaxSeq, ack)
	}
	return g
}

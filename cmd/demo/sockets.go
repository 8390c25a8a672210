package demo

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"tinytcp/stack"
	"tinytcp/tcp"
)

// The connection table as `tinytcp ss` prints it and GET /connections
// serves it: one Socket per entry of stack.Stack.Connections, with the field
// names and units of Linux's `ss -ti` (milliseconds for rto and rtt, cwnd
// and ssthresh in segments, byte counts) next to the RFC 9293 §3.3.1
// variables, so that `ss -ti` on the kernel side and `tinytcp ss` show the
// two ends of one connection in the same words.
//
// Left out, because tinytcp does not track them: ato, pacing and delivery
// rates, lastsnd/lastrcv/lastack, bytes_retrans, lost and sacked counts.

// Table is the document GET /connections serves and `tinytcp ss --json`
// prints.
type Table struct {
	Dev         string   `json:"dev"`  // the TUN device
	Addr        string   `json:"addr"` // the stack's address
	Connections []Socket `json:"connections"`
}

// Socket is one entry of the table: a connection, or a listener (State
// LISTEN, no TCB).
type Socket struct {
	State   string `json:"state"`    // RFC 9293 §3.3.2 name, e.g. ESTABLISHED
	SSState string `json:"ss_state"` // ss's short form, e.g. ESTAB
	Local   string `json:"local"`    // address:port
	Remote  string `json:"remote"`   // address:port; 0.0.0.0:* for a listener
	// RecvQ and SendQ are ss's columns: bytes not yet read and bytes not
	// yet acknowledged; for a listener, connections waiting for Accept
	// and the backlog.
	RecvQ int `json:"recv_q"`
	SendQ int `json:"send_q"`
	// SynRecv counts a listener's half-open connections.
	SynRecv int  `json:"syn_recv,omitempty"`
	TCB     *TCB `json:"tcb,omitempty"` // nil for a listener
}

// TCB is a connection's state in ss -ti's names and units, then the RFC 9293
// variables (sequence numbers as on the wire, not relative).
type TCB struct {
	Congestion string `json:"congestion"` // cubic, newreno
	Timestamps bool   `json:"ts"`         // RFC 7323 timestamps negotiated
	SACK       bool   `json:"sack"`       // RFC 2018 SACK negotiated
	// WScale is snd_wscale,rcv_wscale: the shift applied to the peer's
	// windows and the one applied to ours; nil when window scaling was not
	// negotiated.
	WScale  *[2]uint8 `json:"wscale,omitempty"`
	RTO     float64   `json:"rto"`    // ms
	RTT     float64   `json:"rtt"`    // smoothed RTT (SRTT), ms; 0 before the first sample
	RTTVar  float64   `json:"rttvar"` // ms
	MSS     int       `json:"mss"`    // send MSS, bytes
	PMTU    int       `json:"pmtu,omitempty"`
	CWnd    uint32    `json:"cwnd"`               // segments
	SSThres uint32    `json:"ssthresh,omitempty"` // segments; absent while infinite
	// Byte counts: payload bytes sent (retransmissions included, as
	// Linux's bytes_sent), acknowledged by the peer, and received in
	// order.
	BytesSent     uint64 `json:"bytes_sent"`
	BytesAcked    uint64 `json:"bytes_acked"`
	BytesReceived uint64 `json:"bytes_received"`
	SegsOut       uint64 `json:"segs_out"`
	SegsIn        uint64 `json:"segs_in"`
	SendRate      uint64 `json:"send"` // cwnd*mss*8/srtt, bits per second, as ss's "send"
	Unacked       uint32 `json:"unacked"`
	// Retrans is ss's retrans:N/M: retransmission timeouts in a row
	// without progress, then segments retransmitted in all.
	Retrans      int    `json:"retrans"`
	TotalRetrans uint64 `json:"total_retrans"`
	// tinytcp's own counts (tcp.ConnStats).
	Timeouts        uint64 `json:"timeouts"`
	FastRetransmits uint64 `json:"fast_retrans"`
	DSACKs          uint64 `json:"dsacks"`
	TailLossProbes  uint64 `json:"tlp"`
	Error           string `json:"error,omitempty"` // a soft error from ICMP (SHLD-25)

	// RFC 9293 §3.3.1.
	SndUNA uint32 `json:"snd.una"`
	SndNXT uint32 `json:"snd.nxt"`
	SndWND uint32 `json:"snd.wnd"`
	RcvNXT uint32 `json:"rcv.nxt"`
	RcvWND uint32 `json:"rcv.wnd"`
	ISS    uint32 `json:"iss"`
	IRS    uint32 `json:"irs"`
}

// ssStates are ss's short state names (iproute2's sstate_name).
var ssStates = [...]string{
	tcp.StateClosed:      "UNCONN",
	tcp.StateListen:      "LISTEN",
	tcp.StateSynSent:     "SYN-SENT",
	tcp.StateSynReceived: "SYN-RECV",
	tcp.StateEstablished: "ESTAB",
	tcp.StateFinWait1:    "FIN-WAIT-1",
	tcp.StateFinWait2:    "FIN-WAIT-2",
	tcp.StateCloseWait:   "CLOSE-WAIT",
	tcp.StateClosing:     "CLOSING",
	tcp.StateLastAck:     "LAST-ACK",
	tcp.StateTimeWait:    "TIME-WAIT",
}

// SSState returns ss's short name of a state, e.g. ESTAB.
func SSState(s tcp.State) string {
	if int(s) < len(ssStates) {
		return ssStates[s]
	}
	return s.String()
}

// NewTable converts the stack's connection table.
func NewTable(dev string, s *stack.Stack) Table {
	entries := s.Connections()
	t := Table{Dev: dev, Addr: s.Addr().String(), Connections: make([]Socket, 0, len(entries))}
	for _, ci := range entries {
		t.Connections = append(t.Connections, NewSocket(ci))
	}
	return t
}

// NewSocket converts one entry of the connection table.
func NewSocket(ci stack.ConnInfo) Socket {
	in := ci.Info
	sk := Socket{
		State: in.State.String(), SSState: SSState(in.State),
		Local: ci.ID.Local.String(), Remote: ci.ID.Remote.String(),
	}
	if ci.Listening() {
		sk.Remote = ci.ID.Remote.Addr().String() + ":*"
		sk.RecvQ, sk.SendQ, sk.SynRecv = ci.Queued, ci.Backlog, ci.Pending
		return sk
	}
	sk.RecvQ, sk.SendQ = in.RecvQueued, in.SendQueued
	mss := uint32(max(in.SendMSS, 1))
	t := &TCB{
		Congestion: in.Congestion, Timestamps: in.Timestamps, SACK: in.SACK,
		RTO: ms(in.RTO), RTT: ms(in.SRTT), RTTVar: ms(in.RTTVAR),
		MSS: in.SendMSS, PMTU: in.PathMTU,
		CWnd:      in.CWND / mss,
		BytesSent: in.Stats.BytesSent, SegsOut: in.Stats.SegmentsSent, SegsIn: in.Stats.SegmentsReceived,
		Retrans: in.Retries, TotalRetrans: in.Stats.Retransmits,
		Timeouts: in.Stats.Timeouts, FastRetransmits: in.Stats.FastRetransmits,
		DSACKs: in.Stats.DSACKsReceived, TailLossProbes: in.Stats.TailLossProbes,
		SndUNA: uint32(in.SndUNA), SndNXT: uint32(in.SndNXT), SndWND: in.SndWND,
		RcvNXT: uint32(in.RcvNXT), RcvWND: in.RcvWND, ISS: uint32(in.ISS), IRS: uint32(in.IRS),
	}
	if in.WindowScale {
		t.WScale = &[2]uint8{in.SndShift, in.RcvShift}
	}
	if in.SSThresh != ^uint32(0) {
		t.SSThres = in.SSThresh / mss
	}
	if in.SoftErr != nil {
		t.Error = in.SoftErr.Error()
	}
	if in.SRTT > 0 {
		t.SendRate = uint64(float64(in.CWND) * 8 / in.SRTT.Seconds())
	}
	if in.State != tcp.StateSynSent && in.State != tcp.StateClosed {
		t.Unacked = (uint32(in.SndNXT-in.SndUNA) + mss - 1) / mss
		t.BytesAcked = sequenceBytes(in.SndUNA, in.ISS, finAcked(in.State))
	}
	if in.State.Synchronized() {
		t.BytesReceived = sequenceBytes(in.RcvNXT, in.IRS, finReceived(in.State))
	}
	sk.TCB = t
	return sk
}

// sequenceBytes counts the data octets from isn to next: the sequence
// space less the SYN, and less the FIN when fin says it is in there (RFC
// 9293 §3.4: both occupy one sequence number).
func sequenceBytes(next, isn tcp.Seq, fin bool) uint64 {
	n := uint64(uint32(next - isn))
	if n > 0 {
		n-- // the SYN
	}
	if fin && n > 0 {
		n--
	}
	return n
}

// finAcked reports whether, in state s, our FIN has been acknowledged.
func finAcked(s tcp.State) bool { return s == tcp.StateFinWait2 || s == tcp.StateTimeWait }

// finReceived reports whether, in state s, the peer's FIN has arrived.
func finReceived(s tcp.State) bool {
	return s == tcp.StateCloseWait || s == tcp.StateLastAck || s == tcp.StateClosing || s == tcp.StateTimeWait
}

// ms converts a duration to ss's milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Selection says which entries ss shows, as its -l and -a flags do.
type Selection int

const (
	SelectConnected Selection = iota // the default: no listeners, no SYN-RECV or TIME-WAIT
	SelectListening                  // -l: only listeners
	SelectAll                        // -a: everything
)

// Select keeps the entries ss would show under sel.
func Select(socks []Socket, sel Selection) []Socket {
	var out []Socket
	for _, sk := range socks {
		var keep bool
		switch sel {
		case SelectAll:
			keep = true
		case SelectListening:
			keep = sk.SSState == "LISTEN"
		default:
			switch sk.SSState {
			case "LISTEN", "SYN-RECV", "TIME-WAIT", "UNCONN":
			default:
				keep = true
			}
		}
		if keep {
			out = append(out, sk)
		}
	}
	return out
}

// WriteSS prints socks as `ss -ti` does: a header, then per entry a line
// of state, queues and addresses, an indented line in ss's words, and an
// indented line of RFC 9293 variables.
func WriteSS(w io.Writer, socks []Socket) error {
	head := [5]string{"State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port"}
	width := [5]int{}
	rows := make([][5]string, len(socks))
	for i, sk := range socks {
		rows[i] = [5]string{sk.SSState, strconv.Itoa(sk.RecvQ), strconv.Itoa(sk.SendQ), sk.Local, sk.Remote}
	}
	for _, r := range append([][5]string{head}, rows...) {
		for j, c := range r {
			width[j] = max(width[j], len(c))
		}
	}
	var b strings.Builder
	row := func(r [5]string) {
		for j, c := range r {
			if j == len(r)-1 {
				b.WriteString(c)
				break
			}
			fmt.Fprintf(&b, "%-*s ", width[j], c)
		}
		b.WriteByte('\n')
	}
	row(head)
	for i, sk := range socks {
		row(rows[i])
		if sk.TCB != nil {
			b.WriteString("\t " + SSLine(sk.TCB) + "\n")
			b.WriteString("\t " + RFCLine(sk.State, sk.TCB) + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// SSLine is the TCB in ss -ti's words, e.g.
// "ts sack cubic wscale:7,7 rto:204 rtt:0.1/0.05 mss:1448 cwnd:10 ...".
func SSLine(t *TCB) string {
	var f []string
	add := func(format string, a ...any) { f = append(f, fmt.Sprintf(format, a...)) }
	if t.Timestamps {
		add("ts")
	}
	if t.SACK {
		add("sack")
	}
	add("%s", t.Congestion)
	if t.WScale != nil {
		add("wscale:%d,%d", t.WScale[0], t.WScale[1])
	}
	add("rto:%g", t.RTO)
	if t.RTT > 0 {
		add("rtt:%g/%g", t.RTT, t.RTTVar)
	}
	add("mss:%d", t.MSS)
	if t.PMTU > 0 {
		add("pmtu:%d", t.PMTU)
	}
	add("cwnd:%d", t.CWnd)
	if t.SSThres > 0 {
		add("ssthresh:%d", t.SSThres)
	}
	add("bytes_sent:%d bytes_acked:%d bytes_received:%d", t.BytesSent, t.BytesAcked, t.BytesReceived)
	add("segs_out:%d segs_in:%d", t.SegsOut, t.SegsIn)
	if t.SendRate > 0 {
		add("send %s", bitRate(t.SendRate))
	}
	if t.Unacked > 0 {
		add("unacked:%d", t.Unacked)
	}
	if t.Retrans > 0 || t.TotalRetrans > 0 {
		add("retrans:%d/%d", t.Retrans, t.TotalRetrans)
	}
	for _, c := range []struct {
		name string
		n    uint64
	}{{"timeouts", t.Timeouts}, {"fast_retrans", t.FastRetransmits}, {"dsacks", t.DSACKs}, {"tlp", t.TailLossProbes}} {
		if c.n > 0 {
			add("%s:%d", c.name, c.n)
		}
	}
	if t.Error != "" {
		add("error:%q", t.Error)
	}
	return strings.Join(f, " ")
}

// RFCLine is the TCB in RFC 9293's words: the state and the §3.3.1
// variables.
func RFCLine(state string, t *TCB) string {
	return fmt.Sprintf("state %s snd.una %d snd.nxt %d snd.wnd %d rcv.nxt %d rcv.wnd %d iss %d irs %d",
		state, t.SndUNA, t.SndNXT, t.SndWND, t.RcvNXT, t.RcvWND, t.ISS, t.IRS)
}

// bitRate formats bits per second as ss does, to three significant
// digits: 1.23Gbps, 176Mbps, 12.4Mbps, 56Kbps.
func bitRate(bps uint64) string {
	v := float64(bps)
	switch {
	case v >= 1e9:
		return strconv.FormatFloat(v/1e9, 'g', 3, 64) + "Gbps"
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 3, 64) + "Mbps"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', 3, 64) + "Kbps"
	}
	return strconv.FormatUint(bps, 10) + "bps"
}

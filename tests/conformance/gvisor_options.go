package conformance

// What the gVisor backend translates between Linux and netstack, in one
// place. gvisorLinuxSettings is every setting the backend gives netstack,
// each with what Linux does (the defaults of a 6.x kernel, which the Linux
// backend runs) and what gVisor does; a difference no gVisor knob can
// remove is written down there as a "deviation:", so that a conformance
// difference can be traced to its cause. Then come the socket options,
// the building of the stack, and the mapping of netstack's states and
// errors onto the harness's. Nothing here is tinytcp's: gVisor is only a
// reference to compare against, never used by tinytcp's own TCP.

import (
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// gvisorSetting is one knob given to the stack.
type gvisorSetting struct {
	name string // the Linux sysctl or socket option it mirrors
	set  func(*stack.Stack) tcpip.Error
}

// tcpOption wraps a TCP protocol option as a setting.
func tcpOption(name string, opt tcpip.SettableTransportProtocolOption) gvisorSetting {
	return gvisorSetting{name, func(s *stack.Stack) tcpip.Error {
		return s.SetTransportProtocolOption(tcp.ProtocolNumber, opt)
	}}
}

// gvisorLinuxSettings lists the settings that make netstack behave as
// closely to Linux as it can. Options gVisor has no knob for follow the
// list, as comments.
func gvisorLinuxSettings() []gvisorSetting {
	var (
		// Linux: net.ipv4.tcp_sack = 1. gVisor: on by default, set anyway.
		sack = tcpip.TCPSACKEnabled(true)
		// Linux: net.ipv4.tcp_recovery = 1 (RACK-TLP loss detection).
		// gVisor: RACK by default, set anyway.
		recovery = tcpip.TCPRecovery(tcpip.TCPRACKLossDetection)
		// Linux: Nagle's algorithm is on until TCP_NODELAY. gVisor: off
		// by default ("delay" disabled); switched on here.
		nagle = tcpip.TCPDelayEnabled(true)
		// Linux: net.ipv4.tcp_congestion_control = cubic. gVisor: reno
		// unless asked; the protocol is also built with
		// tcp.NewProtocolCUBIC.
		cc = tcpip.CongestionControlOption("cubic")
		// Linux: net.ipv4.tcp_moderate_rcvbuf = 1. gVisor: on by default.
		moderate = tcpip.TCPModerateReceiveBufferOption(true)
		// Linux: net.ipv4.tcp_rmem = 4096 131072 6291456. gVisor: 4096,
		// 1 MiB, 4 MiB by default; Linux's values are taken. With a
		// 6 MiB maximum gVisor offers window scale 7, as Linux does.
		rmem = tcpip.TCPReceiveBufferSizeRangeOption{Min: 4096, Default: 131072, Max: 6291456}
		// Linux: net.ipv4.tcp_wmem = 4096 16384 4194304. gVisor: 4096,
		// 1 MiB, 4 MiB by default; Linux's values are taken. Both grow
		// the send buffer as the window opens.
		wmem = tcpip.TCPSendBufferSizeRangeOption{Min: 4096, Default: 16384, Max: 4194304}
		// Linux: TCP_RTO_MIN = 200 ms. gVisor: MinRTO = 200 ms.
		minRTO = tcpip.TCPMinRTOOption(200 * time.Millisecond)
		// Linux: TCP_RTO_MAX = 120 s. gVisor: MaxRTO = 120 s.
		maxRTO = tcpip.TCPMaxRTOOption(120 * time.Second)
		// Linux: net.ipv4.tcp_retries2 = 15, turned into a time limit
		// (924.6 s: 15 doublings from TCP_RTO_MIN, capped at TCP_RTO_MAX).
		// gVisor: gives up once one segment was retransmitted 15 times.
		// deviation: the two agree only when the RTO starts at 200 ms;
		// with a larger RTO gVisor holds on longer.
		retries = tcpip.TCPMaxRetriesOption(15)
		// Linux: net.ipv4.tcp_syn_retries = 6, so connect gives up after
		// 127 s (SYNs at 0, 1, 3, 7, 15, 31, 63 s). gVisor: stores the
		// value but never reads it; its handshake doubles the RTO from
		// 1 s until it would pass MaxRTO (120 s), which happens to give
		// the same schedule and the same 127 s.
		synRetries = tcpip.TCPSynRetriesOption(6)
		// Linux: TCP_TIMEWAIT_LEN = 60 s. gVisor: 60 s by default.
		timeWait = tcpip.TCPTimeWaitTimeoutOption(60 * time.Second)
		// Linux: net.ipv4.tcp_fin_timeout = 60 s for an orphaned
		// FIN-WAIT-2. gVisor: linger timeout 60 s by default.
		finTimeout = tcpip.TCPLingerTimeoutOption(60 * time.Second)
		// Linux: net.ipv4.tcp_tw_reuse = 2 (loopback only). gVisor: the
		// same by default.
		twReuse = tcpip.TCPTimeWaitReuseLoopbackOnly
		// Linux: net.ipv4.tcp_syncookies = 1 (only once the SYN queue
		// overflows). gVisor: the same unless "always" is set.
		cookies = tcpip.TCPAlwaysUseSynCookies(false)
		// Linux: net.ipv4.ip_default_ttl = 64. gVisor: 64 by default.
		ttl = tcpip.DefaultTTLOption(64)
	)
	// Same without a knob:
	//   - Window scaling and timestamps (tcp_window_scaling = 1,
	//     tcp_timestamps = 1): gVisor always offers both on a SYN and
	//     answers them on a SYN-ACK; timestamps tick in milliseconds.
	//   - Initial RTO 1 s (TCP_TIMEOUT_INIT), initial cwnd 10 segments,
	//     MSS 1460 on a 1500-byte link, DF set on every segment (PMTU
	//     discovery "want"), keep-alive 7200 s / 75 s / 9 probes (off
	//     until SO_KEEPALIVE).
	//
	// Deviations gVisor cannot avoid:
	//   - deviation: delayed ACKs. Linux acknowledges at once in quick-ACK
	//     mode at the start, then delays ACKs by 40-200 ms or until two
	//     full segments arrived. gVisor has no delayed-ACK timer: it
	//     acknowledges at the end of each batch of segments it processes,
	//     and the harness hands it one segment at a time, so every data
	//     segment is acknowledged at once.
	//   - deviation: the initial receive window. Linux offers 64240 on a
	//     SYN with the default tcp_rmem; gVisor offers
	//     min(buffer/2, 2 x 10 x MSS) = 29200, rounded down to a multiple
	//     of 2^7 for window scale 7: 29184.
	//   - deviation: the first RTO after a handshake that took no time.
	//     gVisor ignores an RTT sample of zero, so when the harness answers
	//     in the same virtual instant the RTO stays at its initial 1 s;
	//     Linux (which measures in microseconds of real time) starts near
	//     200 ms. A scenario that lets a few milliseconds pass before
	//     answering gets an RTT sample on both.
	//   - deviation: the IPv4 identification. gVisor sends 0 on packets
	//     with DF set; Linux counts per socket.
	//   - deviation: SYN-ACK retransmissions. Linux tcp_synack_retries = 5
	//     (gives up after 63 s); gVisor uses the SYN schedule for the
	//     SYN-ACK too and gives up after 127 s.
	//   - deviation: a duplicate SYN in SYN-RECEIVED. Linux retransmits
	//     the SYN-ACK (tcp_check_req); gVisor answers with a bare ACK.
	//   - deviation: zero-window probes. Linux probes a zero window with
	//     an empty segment at SND.UNA-1; gVisor sends one byte of new data.
	//   - deviation: RST in TIME-WAIT. Linux (tcp_rfc1337 = 0) closes the
	//     TIME-WAIT connection; gVisor ignores the RST (RFC 1337 fix 1).
	//   - deviation: ECN. Linux tcp_ecn = 2 answers an ECN-setup SYN with
	//     ECE; gVisor has no ECN.
	//   - deviation: TCP Fast Open (Linux tcp_fastopen = 1, client only)
	//     is not implemented in gVisor.
	//   - deviation: options of accepted connections. Linux clones the
	//     listener's options into the new socket; gVisor copies only the
	//     receive buffer size, so the backend applies the other socket
	//     options on Accept. A receive buffer set on the listener does
	//     not lock the child's buffer as it does on Linux, so its window
	//     scale still comes from tcp_rmem's maximum.
	//   - deviation: SO_RCVBUF / SO_SNDBUF. Linux doubles the value given
	//     to setsockopt (for bookkeeping overhead) and advertises half of
	//     the receive buffer; netstack takes the value as given. The
	//     backend doubles it, as Linux does (gvisorBufferSize).
	return []gvisorSetting{
		tcpOption("tcp_sack", &sack),
		tcpOption("tcp_recovery", &recovery),
		tcpOption("TCP_NODELAY off", &nagle),
		tcpOption("tcp_congestion_control", &cc),
		tcpOption("tcp_moderate_rcvbuf", &moderate),
		tcpOption("tcp_rmem", &rmem),
		tcpOption("tcp_wmem", &wmem),
		tcpOption("TCP_RTO_MIN", &minRTO),
		tcpOption("TCP_RTO_MAX", &maxRTO),
		tcpOption("tcp_retries2", &retries),
		tcpOption("tcp_syn_retries", &synRetries),
		tcpOption("TCP_TIMEWAIT_LEN", &timeWait),
		tcpOption("tcp_fin_timeout", &finTimeout),
		tcpOption("tcp_tw_reuse", &twReuse),
		tcpOption("tcp_syncookies", &cookies),
		{"ip_default_ttl", func(s *stack.Stack) tcpip.Error {
			return s.SetNetworkProtocolOption(ipv4.ProtocolNumber, &ttl)
		}},
		// Linux: net.ipv4.tcp_invalid_ratelimit = 500 ms between
		// challenge ACKs / dupACKs for out-of-window segments. gVisor:
		// 500 ms by default.
		{"tcp_invalid_ratelimit", func(s *stack.Stack) tcpip.Error {
			return s.SetOption(stack.TCPInvalidRateLimitOption(500 * time.Millisecond))
		}},
	}

}

// gvisorBufferSize is the netstack buffer size for a size given to
// setsockopt(SO_RCVBUF or SO_SNDBUF) on Linux: twice the value, at least
// netstack's minimum.
func gvisorBufferSize(n int) int64 {
	return max(2*int64(n), tcp.MinBufferSize)
}

// applyOptions sets opts on ep; a zero field leaves the default.
func applyOptions(ep tcpip.Endpoint, opts SocketOptions) {
	so := ep.SocketOptions()
	so.SetDelayOption(!opts.NoDelay)
	if opts.RecvBuffer > 0 {
		so.SetReceiveBufferSize(gvisorBufferSize(opts.RecvBuffer), true)
	}
	if opts.SendBuffer > 0 {
		so.SetSendBufferSize(gvisorBufferSize(opts.SendBuffer), true)
	}
	if opts.TTL > 0 {
		ep.SetSockOptInt(tcpip.IPv4TTLOption, opts.TTL) //nolint:errcheck // 1..255 is always accepted
	}
	if opts.DSCP > 0 {
		ep.SetSockOptInt(tcpip.IPv4TOSOption, opts.DSCP<<2) //nolint:errcheck
	}
	if opts.UserTimeout > 0 {
		v := tcpip.TCPUserTimeoutOption(opts.UserTimeout)
		ep.SetSockOpt(&v) //nolint:errcheck // a valid duration is always accepted
	}
}

// The NIC of the stack under test and what it carries.
const (
	gvisorNIC      tcpip.NICID = 1
	gvisorMTU                  = 1500
	gvisorQueueLen             = 1024 // packets the channel endpoint holds before dropping
)

// newGVisorStack builds the netstack the backend drives: IPv4 and TCP on
// clock, every setting of gvisorLinuxSettings applied, and link as NIC 1
// with StackAddr/24 and a route to that /24.
func newGVisorStack(clock tcpip.Clock, link stack.LinkEndpoint) (*stack.Stack, error) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{singleProcessorTCP},
		Clock:              clock,
	})
	for _, st := range gvisorLinuxSettings() {
		if err := st.set(s); err != nil {
			s.Destroy()
			return nil, fmt.Errorf("gvisor: setting %s: %s", st.name, err)
		}
	}
	if err := s.CreateNIC(gvisorNIC, link); err != nil {
		s.Destroy()
		return nil, fmt.Errorf("gvisor: creating the NIC: %s", err)
	}
	addr := tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4(StackAddr.As4()), PrefixLen: 24}
	pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: addr}
	if err := s.AddProtocolAddress(gvisorNIC, pa, stack.AddressProperties{}); err != nil {
		s.Destroy()
		return nil, fmt.Errorf("gvisor: adding %s: %s", addr, err)
	}
	s.SetRouteTable([]tcpip.Route{{Destination: addr.Subnet(), NIC: gvisorNIC}})
	return s, nil
}

// gomaxprocsMu serialises the brief change of GOMAXPROCS in
// singleProcessorTCP, so that two stacks built at once cannot restore
// each other's value.
var gomaxprocsMu sync.Mutex

// singleProcessorTCP builds gVisor's TCP (with CUBIC) with exactly one
// segment processor goroutine. netstack starts GOMAXPROCS processors and
// offers no option for their number; with one, "every processor is idle"
// (which Stack.Pause waits for) means "every queued segment has been
// processed", because a processor can then only queue work for itself.
// GOMAXPROCS is 1 only while the protocol is built.
func singleProcessorTCP(s *stack.Stack) stack.TransportProtocol {
	gomaxprocsMu.Lock()
	defer gomaxprocsMu.Unlock()
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	return tcp.NewProtocolCUBIC(s)
}

// gvisorState gives the RFC 9293 name of ep's state. netstack's states
// before the first SYN (initial, bound) and after the end (error, closed)
// are all CLOSED; "connecting" is the instant between connect and the SYN.
func gvisorState(ep tcpip.Endpoint) string {
	switch tcp.EndpointState(ep.State()) {
	case tcp.StateListen:
		return "LISTEN"
	case tcp.StateConnecting, tcp.StateSynSent:
		return "SYN-SENT"
	case tcp.StateSynRecv:
		return "SYN-RECEIVED"
	case tcp.StateEstablished:
		return "ESTABLISHED"
	case tcp.StateFinWait1:
		return "FIN-WAIT-1"
	case tcp.StateFinWait2:
		return "FIN-WAIT-2"
	case tcp.StateCloseWait:
		return "CLOSE-WAIT"
	case tcp.StateClosing:
		return "CLOSING"
	case tcp.StateLastAck:
		return "LAST-ACK"
	case tcp.StateTimeWait:
		return "TIME-WAIT"
	}
	return "CLOSED"
}

// gvisorError maps netstack's errors onto the harness's.
func gvisorError(err tcpip.Error) error {
	switch err.(type) {
	case nil:
		return nil
	case *tcpip.ErrWouldBlock:
		return ErrWouldBlock
	case *tcpip.ErrConnectionReset, *tcpip.ErrConnectionAborted:
		return ErrReset
	case *tcpip.ErrConnectionRefused:
		return ErrRefused
	case *tcpip.ErrHostUnreachable:
		return ErrHostUnreachable
	case *tcpip.ErrNetworkUnreachable:
		return ErrNetUnreachable
	case *tcpip.ErrTimeout:
		return ErrTimedOut
	case *tcpip.ErrClosedForSend:
		return ErrPipe
	case *tcpip.ErrClosedForReceive:
		return io.EOF
	}
	return fmt.Errorf("gvisor: %s", err)
}

package demo

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tinytcp/stack"
	"tinytcp/tcp"
)

// established is the table entry of a connection the kernel opened to port
// 80 and that has sent 1000 bytes and received 100.
func established() stack.ConnInfo {
	return stack.ConnInfo{
		ID: tcp.ID{
			Local:  netip.MustParseAddrPort("10.77.0.2:80"),
			Remote: netip.MustParseAddrPort("10.77.0.1:41234"),
		},
		Info: tcp.Info{
			State: tcp.StateEstablished, ISS: 1000, IRS: 5000,
			SndUNA: 2001, SndNXT: 4921, SndWND: 64240, RcvNXT: 5101, RcvWND: 262144,
			SendMSS: 1460, SndShift: 7, RcvShift: 10, WindowScale: true, Timestamps: true, SACK: true,
			SRTT: 1500 * time.Microsecond, RTTVAR: 750 * time.Microsecond, RTO: 201 * time.Millisecond,
			CWND: 14600, SSThresh: ^uint32(0), Congestion: "cubic", SendQueued: 2920, RecvQueued: 7,
			Stats: tcp.ConnStats{SegmentsSent: 5, SegmentsReceived: 4, BytesSent: 3920, BytesReceived: 100},
		},
	}
}

func TestSSLines(t *testing.T) {
	for _, tc := range []struct {
		name       string
		tune       func(*stack.ConnInfo)
		ss, rfc    string
		state      string
		recvQ, snd int
	}{
		{
			name:  "established",
			state: "ESTAB", recvQ: 7, snd: 2920,
			ss:  "ts sack cubic wscale:7,10 rto:201 rtt:1.5/0.75 mss:1460 cwnd:10 bytes_sent:3920 bytes_acked:1000 bytes_received:100 segs_out:5 segs_in:4 send 77.9Mbps unacked:2",
			rfc: "state ESTABLISHED snd.una 2001 snd.nxt 4921 snd.wnd 64240 rcv.nxt 5101 rcv.wnd 262144 iss 1000 irs 5000",
		},
		{
			name: "after losses, no options",
			tune: func(ci *stack.ConnInfo) {
				ci.Info.Timestamps, ci.Info.SACK, ci.Info.WindowScale = false, false, false
				ci.Info.SSThresh, ci.Info.CWND = 7300, 2920
				ci.Info.Retries, ci.Info.Stats.Retransmits, ci.Info.Stats.Timeouts = 1, 3, 1
				ci.Info.SoftErr = errors.New("host unreachable")
			},
			state: "ESTAB", recvQ: 7, snd: 2920,
			ss:  `cubic rto:201 rtt:1.5/0.75 mss:1460 cwnd:2 ssthresh:5 bytes_sent:3920 bytes_acked:1000 bytes_received:100 segs_out:5 segs_in:4 send 15.6Mbps unacked:2 retrans:1/3 timeouts:1 error:"host unreachable"`,
			rfc: "state ESTABLISHED snd.una 2001 snd.nxt 4921 snd.wnd 64240 rcv.nxt 5101 rcv.wnd 262144 iss 1000 irs 5000",
		},
		{
			name: "TIME-WAIT: both FINs are out of the byte counts",
			tune: func(ci *stack.ConnInfo) {
				ci.Info.State, ci.Info.SndNXT, ci.Info.SndUNA, ci.Info.RcvNXT = tcp.StateTimeWait, 2002, 2002, 5102
				ci.Info.SendQueued, ci.Info.RecvQueued = 0, 0
			},
			state: "TIME-WAIT",
			ss:    "ts sack cubic wscale:7,10 rto:201 rtt:1.5/0.75 mss:1460 cwnd:10 bytes_sent:3920 bytes_acked:1000 bytes_received:100 segs_out:5 segs_in:4 send 77.9Mbps",
			rfc:   "state TIME-WAIT snd.una 2002 snd.nxt 2002 snd.wnd 64240 rcv.nxt 5102 rcv.wnd 262144 iss 1000 irs 5000",
		},
		{
			name: "SYN-SENT: nothing acknowledged, no RTT sample",
			tune: func(ci *stack.ConnInfo) {
				ci.Info = tcp.Info{State: tcp.StateSynSent, ISS: 1000, SndUNA: 1000, SndNXT: 1001, SendMSS: 536, RTO: time.Second, CWND: 5360, SSThresh: ^uint32(0), Congestion: "newreno", Stats: tcp.ConnStats{SegmentsSent: 1}}
			},
			state: "SYN-SENT",
			ss:    "newreno rto:1000 mss:536 cwnd:10 bytes_sent:0 bytes_acked:0 bytes_received:0 segs_out:1 segs_in:0",
			rfc:   "state SYN-SENT snd.una 1000 snd.nxt 1001 snd.wnd 0 rcv.nxt 0 rcv.wnd 0 iss 1000 irs 0",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ci := established()
			if tc.tune != nil {
				tc.tune(&ci)
			}
			sk := NewSocket(ci)
			assert.Equal(t, tc.state, sk.SSState)
			assert.Equal(t, ci.Info.State.String(), sk.State)
			assert.Equal(t, tc.recvQ, sk.RecvQ)
			assert.Equal(t, tc.snd, sk.SendQ)
			require.NotNil(t, sk.TCB)
			assert.Equal(t, tc.ss, SSLine(sk.TCB))
			assert.Equal(t, tc.rfc, RFCLine(sk.State, sk.TCB))
		})
	}
}

func TestWriteSSAlignsColumnsAndShowsListeners(t *testing.T) {
	listener := stack.ConnInfo{
		ID: tcp.ID{
			Local:  netip.MustParseAddrPort("10.77.0.2:7"),
			Remote: netip.AddrPortFrom(netip.IPv4Unspecified(), 0),
		},
		Info:    tcp.Info{State: tcp.StateListen},
		Backlog: 128, Pending: 1, Queued: 2,
	}
	socks := []Socket{NewSocket(listener), NewSocket(established())}
	assert.Nil(t, socks[0].TCB)
	assert.Equal(t, 1, socks[0].SynRecv)

	var b bytes.Buffer
	require.NoError(t, WriteSS(&b, socks))
	assert.Equal(t, `State  Recv-Q Send-Q Local Address:Port Peer Address:Port
LISTEN 2      128    10.77.0.2:7        0.0.0.0:*
ESTAB  7      2920   10.77.0.2:80       10.77.0.1:41234
	 ts sack cubic wscale:7,10 rto:201 rtt:1.5/0.75 mss:1460 cwnd:10 bytes_sent:3920 bytes_acked:1000 bytes_received:100 segs_out:5 segs_in:4 send 77.9Mbps unacked:2
	 state ESTABLISHED snd.una 2001 snd.nxt 4921 snd.wnd 64240 rcv.nxt 5101 rcv.wnd 262144 iss 1000 irs 5000
`, b.String())
}

func TestSelectAsSS(t *testing.T) {
	socks := []Socket{{SSState: "LISTEN"}, {SSState: "ESTAB"}, {SSState: "SYN-RECV"}, {SSState: "TIME-WAIT"}, {SSState: "CLOSE-WAIT"}}
	states := func(ss []Socket) (out []string) {
		for _, s := range ss {
			out = append(out, s.SSState)
		}
		return out
	}
	assert.Equal(t, []string{"ESTAB", "CLOSE-WAIT"}, states(Select(socks, SelectConnected)))
	assert.Equal(t, []string{"LISTEN"}, states(Select(socks, SelectListening)))
	assert.Len(t, Select(socks, SelectAll), len(socks))
}

func TestBitRate(t *testing.T) {
	for _, tc := range []struct {
		bps  uint64
		want string
	}{{0, "0bps"}, {999, "999bps"}, {56_000, "56Kbps"}, {77_866_666, "77.9Mbps"}, {176_000_000, "176Mbps"}, {1_234_000_000, "1.23Gbps"}} {
		assert.Equal(t, tc.want, bitRate(tc.bps), "%d", tc.bps)
	}
}

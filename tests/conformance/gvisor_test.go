package conformance

// Tests of the gVisor backend on its own: the harness plays the peer with
// segments built by hand with tinytcp's wire packages, and every step
// checks what netstack sent back and when (virtual time). They also prove
// the backend's lockstep: no test sleeps or polls, so a segment processed
// late would fail them.

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"tinytcp/ip"
	"tinytcp/tcp"
)

// The peer's side of every connection in these tests.
const (
	gvPeerPort         = 40000
	gvPeerISN  tcp.Seq = 1000
)

// gvPeer is the harness's end of one connection: it builds the segments
// the peer sends and reads those the stack sends.
type gvPeer struct {
	t         *testing.T
	inst      Instance
	stackPort uint16
	peerPort  uint16  // gvPeerPort if zero
	sndNxt    tcp.Seq // the peer's next sequence number
	rcvNxt    tcp.Seq // the next sequence number expected from the stack
}

// send injects a segment from the peer at sndNxt, acknowledging rcvNxt
// when flags has ACK, and advances sndNxt past it.
func (p *gvPeer) send(flags tcp.Flags, payload string, opts tcp.Options) {
	p.t.Helper()
	port := p.peerPort
	if port == 0 {
		port = gvPeerPort
	}
	seg := tcp.Segment{SrcPort: port, DstPort: p.stackPort, Seq: p.sndNxt, Flags: flags,
		Window: 65535, Options: opts, Payload: []byte(payload)}
	if flags.Has(tcp.FlagACK) {
		seg.Ack = p.rcvNxt
	}
	require.NoError(p.t, p.inst.Inject(gvPacket(&seg)))
	p.sndNxt = seg.End()
}

// expect returns the next segment the stack sends within wait, and when;
// the test fails if none comes.
func (p *gvPeer) expect(wait time.Duration) (tcp.Segment, time.Duration) {
	p.t.Helper()
	pkt, at, ok := p.inst.Next(wait)
	require.True(p.t, ok, "no segment from the stack within %v (now %v)", wait, p.inst.Now())
	return gvParse(p.t, pkt), at
}

// expectNone checks that the stack sends nothing within wait.
func (p *gvPeer) expectNone(wait time.Duration) {
	p.t.Helper()
	pkt, at, ok := p.inst.Next(wait)
	if ok {
		seg := gvParse(p.t, pkt)
		p.t.Fatalf("got %s seq=%d ack=%d len=%d at %v, want nothing", seg.Flags, seg.Seq, seg.Ack, len(seg.Payload), at)
	}
}

// gvPacket builds the IPv4 packet carrying seg from PeerAddr to StackAddr.
func gvPacket(seg *tcp.Segment) []byte {
	n := seg.HeaderLen() + len(seg.Payload)
	pkt := make([]byte, ip.HeaderMinLen+n)
	b := pkt[ip.HeaderMinLen:]
	seg.MarshalHeader(b)
	copy(b[seg.HeaderLen():], seg.Payload)
	tcp.Header(b).SetChecksum(ip.Fold(ip.Sum(b, ip.PseudoHeaderSum(PeerAddr, StackAddr, ip.ProtocolTCP, n))))
	f := ip.IPv4Fields{TotalLen: uint16(len(pkt)), TTL: ip.DefaultTTL, Protocol: ip.ProtocolTCP,
		Src: PeerAddr, Dst: StackAddr, DontFragment: true}
	f.Encode(pkt)
	return pkt
}

// gvParse checks that pkt is a TCP segment from StackAddr to PeerAddr with
// a correct checksum, and decodes it.
func gvParse(t *testing.T, pkt []byte) tcp.Segment {
	t.Helper()
	v, err := ip.ParseIPv4(pkt)
	require.NoError(t, err)
	require.Equal(t, uint8(ip.ProtocolTCP), v.Protocol())
	require.Equal(t, StackAddr, v.Src())
	require.Equal(t, PeerAddr, v.Dst())
	b := v.Payload()
	require.Zero(t, ip.Fold(ip.Sum(b, ip.PseudoHeaderSum(v.Src(), v.Dst(), ip.ProtocolTCP, len(b)))), "TCP checksum")
	var seg tcp.Segment
	require.NoError(t, tcp.ParseSegment(b, &seg))
	return seg
}

// startGVisor starts a stack that the test closes, and checks that
// closing it leaves no goroutine behind.
func startGVisor(t *testing.T) Instance {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	inst, err := GVisor{}.Start()
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, inst.Close()) })
	return inst
}

// gvListening returns a stack listening on port 80.
func gvListening(t *testing.T) (Instance, Socket) {
	t.Helper()
	inst := startGVisor(t)
	l, err := inst.Listen(80, 8, SocketOptions{})
	require.NoError(t, err)
	require.Equal(t, "LISTEN", l.State())
	return inst, l
}

// gvSynReceived sends the SYN of TestGVisorPassiveOpen and checks the
// SYN-ACK.
func gvSynReceived(t *testing.T) (Instance, Socket, *gvPeer) {
	t.Helper()
	inst, l := gvListening(t)
	p := &gvPeer{t: t, inst: inst, stackPort: 80, sndNxt: gvPeerISN}
	p.send(tcp.FlagSYN, "", tcp.Options{MSS: 1460, HasWindowScale: true, WindowScale: 7})
	synAck, at := p.expect(0)
	assert.Equal(t, tcp.FlagSYN|tcp.FlagACK, synAck.Flags)
	assert.Equal(t, gvPeerISN+1, synAck.Ack)
	assert.Equal(t, uint16(1460), synAck.Options.MSS)
	assert.True(t, synAck.Options.HasWindowScale, "SYN-ACK answers the window scale option")
	assert.False(t, synAck.Options.SACKPermitted, "SYN-ACK offers SACK though the SYN did not")
	assert.False(t, synAck.Options.HasTimestamps, "SYN-ACK has timestamps though the SYN did not")
	assert.Equal(t, time.Duration(0), at)
	p.rcvNxt = synAck.Seq + 1
	return inst, l, p
}

// gvEstablished completes the handshake and accepts the connection.
func gvEstablished(t *testing.T) (Instance, Socket, *gvPeer) {
	t.Helper()
	inst, l, p := gvSynReceived(t)
	_, err := l.Accept()
	require.ErrorIs(t, err, ErrWouldBlock, "accept before the handshake completed")
	p.send(tcp.FlagACK, "", tcp.Options{})
	c, err := l.Accept()
	require.NoError(t, err)
	require.Equal(t, "ESTABLISHED", c.State())
	require.Equal(t, uint16(80), c.LocalPort())
	return inst, c, p
}

// TestGVisorPassiveOpen follows the passive side of RFC 9293 Figure 6
// (gvEstablished), then one segment of data each way: the peer's is
// acknowledged at once and read back, the stack's goes out on Write.
func TestGVisorPassiveOpen(t *testing.T) {
	_, c, p := gvEstablished(t)
	buf := make([]byte, 100)
	_, err := c.Read(buf)
	require.ErrorIs(t, err, ErrWouldBlock)

	p.send(tcp.FlagACK|tcp.FlagPSH, "hello", tcp.Options{})
	ack, _ := p.expect(time.Second)
	assert.Equal(t, tcp.FlagACK, ack.Flags)
	assert.Equal(t, p.sndNxt, ack.Ack, "the data is acknowledged")
	n, err := c.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(buf[:n]))

	n, err = c.Write([]byte("x"))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	data, _ := p.expect(0)
	assert.Equal(t, tcp.FlagACK|tcp.FlagPSH, data.Flags)
	assert.Equal(t, p.rcvNxt, data.Seq)
	assert.Equal(t, p.sndNxt, data.Ack)
	assert.Equal(t, "x", string(data.Payload))
}

// TestGVisorSYNACKOptions checks that the SYN-ACK answers the options of
// the SYN and no more, as Linux does.
func TestGVisorSYNACKOptions(t *testing.T) {
	for _, tc := range []struct {
		name      string
		syn       tcp.Options
		wantWS    bool
		wantSACK  bool
		wantTS    bool
		wantTSEcr uint32
	}{
		{"none", tcp.Options{}, false, false, false, 0},
		{"MSS only", tcp.Options{MSS: 536}, false, false, false, 0},
		{"window scale", tcp.Options{MSS: 1460, HasWindowScale: true, WindowScale: 7}, true, false, false, 0},
		{"all", tcp.Options{MSS: 1460, HasWindowScale: true, WindowScale: 7, SACKPermitted: true,
			HasTimestamps: true, TSVal: 4242}, true, true, true, 4242},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst, _ := gvListening(t)
			p := &gvPeer{t: t, inst: inst, stackPort: 80, sndNxt: gvPeerISN}
			p.send(tcp.FlagSYN, "", tc.syn)
			synAck, _ := p.expect(0)
			require.Equal(t, tcp.FlagSYN|tcp.FlagACK, synAck.Flags)
			o := synAck.Options
			assert.Equal(t, uint16(1460), o.MSS, "MSS of a 1500-byte link")
			assert.Equal(t, tc.wantWS, o.HasWindowScale, "window scale")
			if tc.wantWS {
				assert.Equal(t, uint8(7), o.WindowScale, "scale for tcp_rmem's 6 MiB maximum")
			}
			assert.Equal(t, tc.wantSACK, o.SACKPermitted, "SACK permitted")
			assert.Equal(t, tc.wantTS, o.HasTimestamps, "timestamps")
			assert.Equal(t, tc.wantTSEcr, o.TSEcr, "timestamp echo")
		})
	}
}

// TestGVisorClosedPort checks RFC 9293 §3.10.7.1: a segment to a port
// nobody listens on draws a reset, built from the segment's ACK field if
// it has one, else acknowledging it.
func TestGVisorClosedPort(t *testing.T) {
	for _, tc := range []struct {
		name    string
		flags   tcp.Flags
		payload string
		want    tcp.Flags
		wantSeq tcp.Seq
		wantAck tcp.Seq
	}{
		{"SYN", tcp.FlagSYN, "", tcp.FlagRST | tcp.FlagACK, 0, gvPeerISN + 1},
		{"data without ACK", tcp.FlagPSH, "abc", tcp.FlagRST | tcp.FlagACK, 0, gvPeerISN + 3},
		{"ACK", tcp.FlagACK, "", tcp.FlagRST, 5000, 0},
		{"FIN-ACK", tcp.FlagFIN | tcp.FlagACK, "", tcp.FlagRST, 5000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst := startGVisor(t)
			p := &gvPeer{t: t, inst: inst, stackPort: 81, sndNxt: gvPeerISN, rcvNxt: 5000}
			p.send(tc.flags, tc.payload, tcp.Options{})
			rst, at := p.expect(0)
			assert.Equal(t, tc.want, rst.Flags)
			assert.Equal(t, tc.wantSeq, rst.Seq, "seq")
			assert.Equal(t, tc.wantAck, rst.Ack, "ack")
			assert.Equal(t, uint16(81), rst.SrcPort)
			assert.Equal(t, uint16(gvPeerPort), rst.DstPort)
			assert.Equal(t, time.Duration(0), at)
			p.expectNone(time.Minute)
		})
	}

	t.Run("RST draws nothing", func(t *testing.T) {
		inst := startGVisor(t)
		p := &gvPeer{t: t, inst: inst, stackPort: 81, sndNxt: gvPeerISN}
		p.send(tcp.FlagRST, "", tcp.Options{})
		p.expectNone(time.Minute)
	})
}

// TestGVisorSYNRetransmission checks the active open against a silent
// peer: the SYN goes out at once, is retransmitted with the RTO doubling
// from 1 s (RFC 6298 §5.5, §2.1), and connect gives up at 127 s with a
// timeout, which is Linux's schedule for tcp_syn_retries = 6. A little
// over two minutes of virtual time must pass in well under a second.
func TestGVisorSYNRetransmission(t *testing.T) {
	start := time.Now()
	inst := startGVisor(t)
	c, err := inst.Connect(8080, SocketOptions{})
	require.NoError(t, err)
	assert.Equal(t, "SYN-SENT", c.State())
	syn, at := (&gvPeer{t: t, inst: inst}).expect(0)
	require.Equal(t, tcp.FlagSYN, syn.Flags)
	assert.Equal(t, time.Duration(0), at)
	assert.Equal(t, c.LocalPort(), syn.SrcPort)
	assert.Equal(t, uint16(8080), syn.DstPort)
	o := syn.Options
	assert.Equal(t, uint16(1460), o.MSS)
	assert.True(t, o.HasWindowScale && o.WindowScale == 7, "window scale 7, got %v", o)
	assert.True(t, o.SACKPermitted, "SACK permitted")
	assert.True(t, o.HasTimestamps, "timestamps")

	_, err = c.Write([]byte("early"))
	assert.ErrorIs(t, err, ErrWouldBlock, "write in SYN-SENT")
	for _, tc := range []struct {
		wait time.Duration // how long the harness waits for the segment
		want time.Duration // when it is sent
	}{
		{10 * time.Second, 1 * time.Second},
		{10 * time.Second, 3 * time.Second},
		{10 * time.Second, 7 * time.Second},
		{10 * time.Second, 15 * time.Second},
		{time.Minute, 31 * time.Second},
		{time.Minute, 63 * time.Second},
	} {
		pkt, at, ok := inst.Next(tc.wait)
		require.True(t, ok, "no retransmission by %v", inst.Now())
		rtx := gvParse(t, pkt)
		assert.Equal(t, tc.want, at, "retransmission time")
		assert.Equal(t, syn.Flags, rtx.Flags)
		assert.Equal(t, syn.Seq, rtx.Seq, "a retransmission repeats the ISN")
		assert.Equal(t, "SYN-SENT", c.State())
	}

	inst.Advance(127*time.Second - inst.Now() - time.Millisecond)
	assert.Equal(t, "SYN-SENT", c.State(), "at %v", inst.Now())
	assert.NoError(t, c.Err())
	inst.Advance(time.Millisecond)
	assert.Equal(t, "CLOSED", c.State(), "at %v", inst.Now())
	assert.ErrorIs(t, c.Err(), ErrTimedOut)
	_, err = c.Read(make([]byte, 10))
	assert.ErrorIs(t, err, ErrTimedOut)
	(&gvPeer{t: t, inst: inst}).expectNone(time.Minute)
	assert.Less(t, time.Since(start), time.Second, "real time taken")
}

// TestGVisorResetInEstablished checks RFC 9293 §3.10.7.4 with RFC 5961
// §3.2: a RST at exactly RCV.NXT resets the connection, one elsewhere in
// the window draws a challenge ACK, one outside it is dropped.
func TestGVisorResetInEstablished(t *testing.T) {
	for _, tc := range []struct {
		name          string
		offset        uint32 // from RCV.NXT
		wantReset     bool
		wantChallenge bool
	}{
		{"at RCV.NXT", 0, true, false},
		{"inside the window", 100, false, true},
		{"beyond the window", 1 << 30, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c, p := gvEstablished(t)
			p.sndNxt = p.sndNxt.Add(tc.offset)
			p.send(tcp.FlagRST, "", tcp.Options{})
			buf := make([]byte, 10)
			if !tc.wantReset {
				if tc.wantChallenge {
					ack, _ := p.expect(0)
					assert.Equal(t, tcp.FlagACK, ack.Flags, "challenge ACK")
					assert.Equal(t, gvPeerISN+1, ack.Ack, "challenge ACK acknowledges RCV.NXT")
				}
				p.expectNone(time.Second)
				assert.Equal(t, "ESTABLISHED", c.State())
				_, err := c.Read(buf)
				assert.ErrorIs(t, err, ErrWouldBlock)
				assert.NoError(t, c.Err())
				return
			}
			p.expectNone(time.Minute)
			assert.Equal(t, "CLOSED", c.State())
			_, err := c.Read(buf)
			assert.ErrorIs(t, err, ErrReset, "first read")
			assert.ErrorIs(t, c.Err(), ErrReset)
			_, err = c.Read(buf)
			assert.ErrorIs(t, err, io.EOF, "second read")
			_, err = c.Write([]byte("x"))
			assert.ErrorIs(t, err, ErrPipe, "write after the reset was reported")
		})
	}
}

// TestGVisorActiveClose follows the close handshakes of RFC 9293 §3.6
// (Figures 12 and 13) from close to TIME-WAIT, and TIME-WAIT's 60 s.
func TestGVisorActiveClose(t *testing.T) {
	type step struct {
		flags tcp.Flags // segment the peer sends
		acks  bool      // whether it acknowledges the stack's FIN
		want  string    // the stack's state after it
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"ACK then FIN (Figure 12)", []step{
			{tcp.FlagACK, true, "FIN-WAIT-2"},
			{tcp.FlagFIN | tcp.FlagACK, true, "TIME-WAIT"},
		}},
		{"FIN with the ACK", []step{
			{tcp.FlagFIN | tcp.FlagACK, true, "TIME-WAIT"},
		}},
		{"simultaneous close (Figure 13)", []step{
			{tcp.FlagFIN | tcp.FlagACK, false, "CLOSING"},
			{tcp.FlagACK, true, "TIME-WAIT"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst, c, p := gvEstablished(t)
			require.NoError(t, c.Close())
			fin, _ := p.expect(0)
			require.Equal(t, tcp.FlagFIN|tcp.FlagACK, fin.Flags)
			require.Equal(t, p.rcvNxt, fin.Seq)
			assert.Equal(t, "FIN-WAIT-1", c.State())
			for _, st := range tc.steps {
				p.rcvNxt = fin.Seq
				if st.acks {
					p.rcvNxt = fin.Seq + 1
				}
				p.send(st.flags, "", tcp.Options{})
				if st.flags.Has(tcp.FlagFIN) {
					ack, _ := p.expect(0)
					assert.Equal(t, p.sndNxt, ack.Ack, "the peer's FIN is acknowledged")
				}
				assert.Equal(t, st.want, c.State())
			}
			p.expectNone(60*time.Second - time.Millisecond)
			assert.Equal(t, "TIME-WAIT", c.State(), "at %v", inst.Now())
			inst.Advance(time.Millisecond)
			assert.Equal(t, "CLOSED", c.State(), "at %v", inst.Now())
			assert.NoError(t, c.Err())
		})
	}
}

// TestGVisorPassiveClose checks the other side of Figure 12: the peer's
// FIN is acknowledged at once and reads as end of file, and the stack's
// own FIN (after close or shutdown) ends in LAST-ACK, then CLOSED.
func TestGVisorPassiveClose(t *testing.T) {
	for _, tc := range []struct {
		name  string
		close func(Socket) error
	}{
		{"close", Socket.Close},
		{"shutdown", Socket.ShutdownWrite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c, p := gvEstablished(t)
			p.send(tcp.FlagFIN|tcp.FlagACK, "", tcp.Options{})
			ack, _ := p.expect(0)
			assert.Equal(t, tcp.FlagACK, ack.Flags)
			assert.Equal(t, p.sndNxt, ack.Ack, "the FIN is acknowledged")
			assert.Equal(t, "CLOSE-WAIT", c.State())
			_, err := c.Read(make([]byte, 10))
			assert.ErrorIs(t, err, io.EOF)

			require.NoError(t, tc.close(c))
			fin, _ := p.expect(0)
			assert.Equal(t, tcp.FlagFIN|tcp.FlagACK, fin.Flags)
			assert.Equal(t, "LAST-ACK", c.State())
			p.rcvNxt = fin.Seq + 1
			p.send(tcp.FlagACK, "", tcp.Options{})
			assert.Equal(t, "CLOSED", c.State())
			assert.NoError(t, c.Err())
			p.expectNone(time.Minute)
		})
	}
}

// TestGVisorActiveOpen checks the SYN-SENT arm of RFC 9293 §3.10.7.3: a
// SYN-ACK completes the handshake, a RST acknowledging the SYN refuses the
// connection, and a RST with an unacceptable ACK is ignored.
func TestGVisorActiveOpen(t *testing.T) {
	for _, tc := range []struct {
		name      string
		flags     tcp.Flags
		ackOffset uint32 // SEG.ACK - ISS
		wantState string
		wantErr   error // Err, and what Read returns
	}{
		{"SYN-ACK", tcp.FlagSYN | tcp.FlagACK, 1, "ESTABLISHED", nil},
		{"RST-ACK", tcp.FlagRST | tcp.FlagACK, 1, "CLOSED", ErrRefused},
		{"RST with a bad ACK", tcp.FlagRST | tcp.FlagACK, 2, "SYN-SENT", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst := startGVisor(t)
			c, err := inst.Connect(8080, SocketOptions{})
			require.NoError(t, err)
			p := &gvPeer{t: t, inst: inst, stackPort: c.LocalPort(), peerPort: 8080, sndNxt: gvPeerISN}
			syn, _ := p.expect(0)
			require.Equal(t, tcp.FlagSYN, syn.Flags)
			p.rcvNxt = syn.Seq.Add(tc.ackOffset)
			var opts tcp.Options
			if tc.flags.Has(tcp.FlagSYN) {
				opts = tcp.Options{MSS: 1460, HasWindowScale: true, WindowScale: 7}
			}
			p.send(tc.flags, "", opts)
			assert.Equal(t, tc.wantState, c.State())
			assert.ErrorIs(t, c.Err(), tc.wantErr)
			switch {
			case tc.wantErr != nil:
				_, err := c.Read(make([]byte, 10))
				assert.ErrorIs(t, err, tc.wantErr)
				p.expectNone(time.Minute)
			case tc.wantState == "ESTABLISHED":
				ack, at := p.expect(0)
				assert.Equal(t, tcp.FlagACK, ack.Flags)
				assert.Equal(t, syn.Seq+1, ack.Seq)
				assert.Equal(t, p.sndNxt, ack.Ack)
				assert.Equal(t, time.Duration(0), at)
				n, err := c.Write([]byte("GET /"))
				require.NoError(t, err)
				assert.Equal(t, 5, n)
				data, _ := p.expect(0)
				assert.Equal(t, "GET /", string(data.Payload))
			default:
				rtx, at := p.expect(2 * time.Second)
				assert.Equal(t, tcp.FlagSYN, rtx.Flags, "the SYN is retransmitted as if nothing came")
				assert.Equal(t, time.Second, at)
			}
		})
	}
}

//go:build linux

package conformance

// Tests of the Linux backend: the kernel answers segments the harness
// builds with tinytcp's own wire packages, and socket calls on the kernel
// side report what happened. They need root, like every test that makes a
// network namespace, and fail (never skip) without it.

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"tinytcp/ip"
	"tinytcp/tcp"
)

// Harness-side values of these tests.
const (
	kernelPeerPort = 40000 // the peer's port when the kernel listens
	kernelPeerISN  = 1000  // the peer's initial sequence number
	kernelWait     = time.Second
)

// kernelPeer is the remote host of one test: a fresh Linux instance and the
// packets the test exchanges with it.
type kernelPeer struct {
	t    *testing.T
	inst *linuxInstance
}

// startKernel starts a Linux instance for the test. At the end of the test
// it closes the instance and checks that nothing is left behind: no
// goroutine, no socket, and nothing that keeps the namespace alive.
func startKernel(t *testing.T) *kernelPeer {
	t.Helper()
	before := goleak.IgnoreCurrent()
	inst, err := Linux{}.Start()
	require.NoError(t, err)
	li := inst.(*linuxInstance)
	ino := namespaceInode(t, li)
	t.Cleanup(func() {
		require.NoError(t, inst.Close())
		assert.Empty(t, li.sockets, "sockets still open after Close")
		assert.Empty(t, namespaceReferences(t, ino), "references to the namespace after Close")
		goleak.VerifyNone(t, before)
	})
	return &kernelPeer{t: t, inst: li}
}

// namespaceInode is the inode that names the instance's namespace.
func namespaceInode(t *testing.T, li *linuxInstance) uint64 {
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(int(li.ns), &st))
	return st.Ino
}

// namespaceReferences lists what in this process, and under /run/netns,
// still refers to the namespace with inode ino: open file descriptors,
// threads inside it, and bind mounts.
func namespaceReferences(t *testing.T, ino uint64) []string {
	var refs []string
	name := "net:[" + strconv.FormatUint(ino, 10) + "]"
	fds, _ := filepath.Glob("/proc/self/fd/*")
	threads, _ := filepath.Glob("/proc/self/task/*/ns/net")
	for _, p := range append(fds, threads...) {
		if target, err := os.Readlink(p); err == nil && target == name {
			refs = append(refs, p)
		}
	}
	mounts, _ := filepath.Glob("/run/netns/*")
	for _, p := range mounts {
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil && st.Ino == ino {
			refs = append(refs, p)
		}
	}
	return refs
}

// congestionControl is the congestion control algorithm of a socket.
func congestionControl(t *testing.T, s Socket) string {
	name, err := unix.GetsockoptString(s.(*linuxSocket).fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION)
	require.NoError(t, err)
	return name
}

// inject sends seg from PeerAddr to the kernel.
func (p *kernelPeer) inject(seg tcp.Segment) {
	p.t.Helper()
	hl := seg.HeaderLen()
	n := hl + len(seg.Payload)
	pkt := make([]byte, ip.HeaderMinLen+n)
	b := pkt[ip.HeaderMinLen:]
	seg.MarshalHeader(b)
	copy(b[hl:], seg.Payload)
	tcp.Header(b).SetChecksum(ip.Fold(ip.Sum(b, ip.PseudoHeaderSum(PeerAddr, StackAddr, ip.ProtocolTCP, n))))
	f := ip.IPv4Fields{TotalLen: uint16(len(pkt)), TTL: ip.DefaultTTL, Protocol: ip.ProtocolTCP, Src: PeerAddr, Dst: StackAddr}
	f.Encode(pkt)
	require.NoError(p.t, p.inst.Inject(pkt))
}

// next waits up to wait for the kernel's next TCP segment and parses it.
func (p *kernelPeer) next(wait time.Duration) (tcp.Segment, time.Duration) {
	p.t.Helper()
	pkt, at, ok := p.inst.Next(wait)
	require.True(p.t, ok, "no packet from the kernel within %v", wait)
	h, err := ip.ParseIPv4(pkt)
	require.NoError(p.t, err)
	require.Equal(p.t, uint8(ip.ProtocolTCP), h.Protocol(), "got protocol %d, want TCP", h.Protocol())
	require.Equal(p.t, PeerAddr, h.Dst())
	b := h.Payload()
	require.Zero(p.t, ip.Fold(ip.Sum(b, ip.PseudoHeaderSum(h.Src(), h.Dst(), ip.ProtocolTCP, len(b)))), "bad TCP checksum")
	var seg tcp.Segment
	require.NoError(p.t, tcp.ParseSegment(b, &seg))
	return seg, at
}

// nextData returns the kernel's next segment that carries data or a FIN,
// skipping pure ACKs.
func (p *kernelPeer) nextData() tcp.Segment {
	p.t.Helper()
	for {
		seg, _ := p.next(kernelWait)
		if len(seg.Payload) > 0 || seg.Flags.Has(tcp.FlagFIN) {
			return seg
		}
		require.Equal(p.t, tcp.FlagACK, seg.Flags, "got %v while waiting for data", seg.Flags)
	}
}

// connection is an established connection between the peer and a kernel
// socket, with the sequence numbers the next segments use.
type connection struct {
	sock     Socket
	kernelNx tcp.Seq // the kernel's snd.nxt: what the peer acknowledges
	peerNx   tcp.Seq // the peer's snd.nxt: the kernel's rcv.nxt
}

// synReceived has the kernel listen on port 80 and answer the peer's SYN;
// it returns the listener and the SYN-ACK.
func (p *kernelPeer) synReceived() (Socket, tcp.Segment) {
	p.t.Helper()
	l, err := p.inst.Listen(80, 16, SocketOptions{})
	require.NoError(p.t, err)
	p.inject(tcp.Segment{
		SrcPort: kernelPeerPort, DstPort: 80, Seq: kernelPeerISN, Flags: tcp.FlagSYN, Window: 65535,
		Options: tcp.Options{MSS: 1460, HasWindowScale: true, WindowScale: 7},
	})
	synAck, _ := p.next(kernelWait)
	return l, synAck
}

// established completes the handshake of synReceived and accepts the
// connection.
func (p *kernelPeer) established() connection {
	p.t.Helper()
	l, synAck := p.synReceived()
	c := connection{kernelNx: synAck.Seq.Add(1), peerNx: kernelPeerISN + 1}
	p.inject(c.segment(tcp.FlagACK, nil))
	var err error
	c.sock, err = l.Accept()
	require.NoError(p.t, err)
	return c
}

// segment is the peer's next segment on c.
func (c connection) segment(flags tcp.Flags, payload []byte) tcp.Segment {
	return tcp.Segment{
		SrcPort: kernelPeerPort, DstPort: 80, Seq: c.peerNx, Ack: c.kernelNx,
		Flags: flags, Window: 502, Payload: payload,
	}
}

// TestLinuxPassiveOpen follows RFC 9293 Figure 6's passive side with the
// kernel as the listener: SYN, SYN-ACK, ACK, then data both ways.
func TestLinuxPassiveOpen(t *testing.T) {
	p := startKernel(t)
	l, synAck := p.synReceived()
	require.Equal(t, tcp.FlagSYN|tcp.FlagACK, synAck.Flags, "got %v, want SYN-ACK", synAck.Flags)
	assert.Equal(t, tcp.Seq(kernelPeerISN+1), synAck.Ack)
	assert.Equal(t, uint16(1460), synAck.Options.MSS, "MSS option of the SYN-ACK")
	assert.True(t, synAck.Options.HasWindowScale, "window scale option of the SYN-ACK")
	assert.Equal(t, uint8(7), synAck.Options.WindowScale, "the scale tcp_rmem's default maximum of 6 MiB gives")
	assert.Equal(t, "LISTEN", l.State())
	_, err := l.Accept()
	require.ErrorIs(t, err, ErrWouldBlock, "a connection before the handshake completed")

	c := connection{kernelNx: synAck.Seq.Add(1), peerNx: kernelPeerISN + 1}
	p.inject(c.segment(tcp.FlagACK, nil))
	s, err := l.Accept()
	require.NoError(t, err)
	assert.Equal(t, "ESTABLISHED", s.State())
	assert.Equal(t, uint16(80), s.LocalPort())
	assert.Equal(t, kernelCongestionControl, congestionControl(t, s), "inherited from the listener")

	p.inject(c.segment(tcp.FlagACK|tcp.FlagPSH, []byte("hello")))
	buf := make([]byte, 16)
	n, err := s.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(buf[:n]))
	_, err = s.Read(buf)
	require.ErrorIs(t, err, ErrWouldBlock)

	n, err = s.Write([]byte("x"))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	data := p.nextData()
	assert.Equal(t, "x", string(data.Payload))
	assert.Equal(t, c.kernelNx, data.Seq)
	assert.Equal(t, c.peerNx.Add(5), data.Ack)
}

// TestLinuxClosedPortResets checks RFC 9293 §3.10.7.1: a segment to a port
// nobody listens on draws a RST, <SEQ=SEG.ACK><CTL=RST> if it has an ACK,
// and <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> if not.
func TestLinuxClosedPortResets(t *testing.T) {
	tests := []struct {
		name    string
		seg     tcp.Segment
		want    tcp.Flags
		seq     tcp.Seq
		ack     tcp.Seq
		payload []byte
	}{
		{"SYN", tcp.Segment{Seq: 5000, Flags: tcp.FlagSYN}, tcp.FlagRST | tcp.FlagACK, 0, 5001, nil},
		{"SYN with data", tcp.Segment{Seq: 5000, Flags: tcp.FlagSYN}, tcp.FlagRST | tcp.FlagACK, 0, 5004, []byte("abc")},
		{"ACK", tcp.Segment{Seq: 5000, Ack: 7000, Flags: tcp.FlagACK}, tcp.FlagRST, 7000, 0, nil},
		{"FIN,ACK", tcp.Segment{Seq: 5000, Ack: 7000, Flags: tcp.FlagFIN | tcp.FlagACK}, tcp.FlagRST, 7000, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startKernel(t)
			seg := tt.seg
			seg.SrcPort, seg.DstPort, seg.Window, seg.Payload = kernelPeerPort, 81, 65535, tt.payload
			p.inject(seg)
			rst, _ := p.next(kernelWait)
			assert.Equal(t, tt.want, rst.Flags, "got %v, want %v", rst.Flags, tt.want)
			assert.Equal(t, tt.seq, rst.Seq)
			if tt.want.Has(tcp.FlagACK) {
				assert.Equal(t, tt.ack, rst.Ack)
			}
			assert.Equal(t, uint16(81), rst.SrcPort)
			assert.Equal(t, uint16(kernelPeerPort), rst.DstPort)
		})
	}
}

// TestLinuxSYNRetransmission checks the active open and the initial RTO of
// one second (RFC 6298 §2.1): unanswered, the SYN is sent again after it.
func TestLinuxSYNRetransmission(t *testing.T) {
	p := startKernel(t)
	s, err := p.inst.Connect(8080, SocketOptions{NoDelay: true})
	require.NoError(t, err)
	syn, first := p.next(kernelWait)
	require.Equal(t, tcp.FlagSYN, syn.Flags, "got %v, want SYN", syn.Flags)
	assert.Equal(t, uint16(8080), syn.DstPort)
	assert.Equal(t, s.LocalPort(), syn.SrcPort)
	assert.NotZero(t, syn.Options.MSS)
	assert.Equal(t, "SYN-SENT", s.State())
	assert.Equal(t, kernelCongestionControl, congestionControl(t, s))

	again, second := p.next(3 * time.Second)
	require.Equal(t, tcp.FlagSYN, again.Flags, "got %v, want the SYN again", again.Flags)
	assert.Equal(t, syn.Seq, again.Seq)
	assert.InDelta(t, time.Second, second-first, float64(300*time.Millisecond),
		"got the retransmission after %v, want 1s ± 300ms", second-first)
}

// TestLinuxResetInEstablished checks RFC 9293 §3.10.7.4 and RFC 5961 §3.2:
// a RST whose sequence number is exactly rcv.nxt resets the connection;
// Read and Err both report it, whichever is asked first, and a later Write
// fails with a broken pipe.
func TestLinuxResetInEstablished(t *testing.T) {
	tests := []struct {
		name     string
		errFirst bool // ask Err before Read
	}{
		{"read first", false},
		{"error first", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startKernel(t)
			c := p.established()
			assert.NoError(t, c.sock.Err())
			p.inject(c.segment(tcp.FlagRST, nil))
			if tt.errFirst {
				assert.ErrorIs(t, c.sock.Err(), ErrReset)
			}
			_, err := c.sock.Read(make([]byte, 16))
			assert.ErrorIs(t, err, ErrReset, "Read after the peer's RST")
			assert.ErrorIs(t, c.sock.Err(), ErrReset)
			assert.Equal(t, "CLOSED", c.sock.State())
			_, err = c.sock.Write([]byte("x"))
			assert.ErrorIs(t, err, ErrPipe, "Write once the reset was reported (EPIPE, no SIGPIPE)")
		})
	}
}

// TestLinuxActiveClose follows RFC 9293 Figure 12's active close from the
// kernel's side, through the states only sock_diag can see once the kernel
// has let go of the socket: after close(2), every state after ESTABLISHED;
// after shutdown(SHUT_WR), TIME-WAIT, which replaces the socket with an entry
// of its own.
func TestLinuxActiveClose(t *testing.T) {
	tests := []struct {
		name  string
		close func(Socket) error
	}{
		{"close", Socket.Close},
		{"shutdown-write", Socket.ShutdownWrite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startKernel(t)
			c := p.established()
			require.NoError(t, tt.close(c.sock))
			fin := p.nextData()
			require.Equal(t, tcp.FlagFIN|tcp.FlagACK, fin.Flags, "got %v, want FIN,ACK", fin.Flags)
			assert.Equal(t, c.kernelNx, fin.Seq)
			assert.Equal(t, c.peerNx, fin.Ack)
			assert.Equal(t, "FIN-WAIT-1", c.sock.State())

			c.kernelNx = c.kernelNx.Add(1)
			p.inject(c.segment(tcp.FlagACK, nil))
			assert.Equal(t, "FIN-WAIT-2", c.sock.State())

			p.inject(c.segment(tcp.FlagFIN|tcp.FlagACK, nil))
			ack, _ := p.next(kernelWait)
			assert.Equal(t, tcp.FlagACK, ack.Flags, "got %v, want the ACK of the FIN", ack.Flags)
			assert.Equal(t, c.peerNx.Add(1), ack.Ack)
			assert.Equal(t, "TIME-WAIT", c.sock.State())
		})
	}
}

// TestLinuxQuietLink checks that a fresh instance sends nothing on its own:
// no IPv6 router solicitation, no multicast report, nothing even the reader
// left out.
func TestLinuxQuietLink(t *testing.T) {
	p := startKernel(t)
	pkt, _, ok := p.inst.Next(500 * time.Millisecond)
	assert.False(t, ok, "got a packet from an idle kernel: % x", pkt)
	assert.Zero(t, p.inst.dropped.Load(), "packets the reader left out")
}

// TestLinuxSettings checks that every setting of kernelSettings took effect
// inside the namespace, and that cf0 has the pinned qdisc.
func TestLinuxSettings(t *testing.T) {
	p := startKernel(t)
	var qdiscs []netlink.Qdisc
	require.NoError(t, onThread(func() error {
		err := vnetns.Set(p.inst.ns)
		if err == nil {
			var link netlink.Link
			if link, err = netlink.LinkByName(linuxDevice); err == nil {
				qdiscs, err = netlink.QdiscList(link)
			}
		}
		return err
	}))
	require.Len(t, qdiscs, 1)
	assert.Equal(t, kernelQdisc, qdiscs[0].Type())
	for _, s := range kernelSettings {
		t.Run(s.key, func(t *testing.T) {
			var got []byte
			err := onThread(func() error {
				if err := vnetns.Set(p.inst.ns); err != nil {
					return err
				}
				var err error
				got, err = os.ReadFile("/proc/sys/" + strings.ReplaceAll(s.key, ".", "/"))
				return err
			})
			if s.optional && os.IsNotExist(err) {
				return
			}
			require.NoError(t, err)
			assert.Equal(t, settingFields(s.value), settingFields(string(got)))
		})
	}
}

// settingFields splits a sysctl value into its fields, written the way
// Start writes them: without the commas and leading zeros the kernel puts
// in a CPU mask on a machine with many CPUs ("00000000,00000000").
func settingFields(v string) []string {
	fields := strings.Fields(v)
	for i, f := range fields {
		if f = strings.TrimLeft(strings.ReplaceAll(f, ",", ""), "0"); f == "" {
			f = "0"
		}
		fields[i] = f
	}
	return fields
}

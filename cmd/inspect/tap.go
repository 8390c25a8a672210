package inspect

// The live ladder: `tinytcp up --trace=ladder` prints each connection's
// handshake and close as they happen, in the same lines `tinytcp ladder`
// prints from a capture. It is a device middleware, like the pcap writer:
// it sits between the stack and the link, decodes the packets the stack
// reads and writes, and feeds them to one Ladder per connection. The stack
// is not touched; what the ladder shows is what crossed the device.
//
// Every line starts with the connection's number ("#1"), since the lines of
// concurrent connections interleave. Only connections that begin with a SYN
// while the tap runs are drawn; a segment of anything else (a reset to a
// closed port, the peer's last ACK after TIME-WAIT began) is ignored. At
// most maxLiveConns connections are followed at once, so a SYN flood cannot
// grow the tap without bound; the ones over the limit are not drawn.

import (
	"fmt"
	"io"
	"sync"
	"time"

	"tinytcp/tcp"
	"tinytcp/tun"
)

// maxLiveConns bounds the connections a LadderTap follows at once.
const maxLiveConns = 4096

// liveTextWidth is the width of the segment column of live ladders: enough
// for "<SEQ=1234567><ACK=1234567><CTL=FIN,ACK><DATA>" in relative numbers.
const liveTextWidth = 42

// LadderTap is a tun.Device that writes live ladder diagrams of the TCP
// connections crossing the Device it wraps.
type LadderTap struct {
	dev tun.Device

	mu      sync.Mutex // guards everything below
	w       io.Writer
	asm     Assembler
	ladders map[*Conn]*liveLadder
	next    int // number of the next connection
}

// liveLadder is one connection being drawn.
type liveLadder struct {
	l  *Ladder
	lw LadderWriter
}

// NewLadderTap returns dev wrapped so that the handshakes and closes of the
// connections it carries are written to w as ladder lines.
func NewLadderTap(dev tun.Device, w io.Writer) *LadderTap {
	return &LadderTap{dev: dev, w: w, ladders: map[*Conn]*liveLadder{}, next: 1}
}

// Read reads a packet from the wrapped device and draws it.
func (t *LadderTap) Read(p []byte) (int, error) {
	n, err := t.dev.Read(p)
	if n > 0 {
		t.see(p[:n])
	}
	return n, err
}

// TryRead reads a packet that is already waiting, if the wrapped device can
// tell (tun.TryReader), and draws it.
func (t *LadderTap) TryRead(p []byte) (int, bool, error) {
	tr, ok := t.dev.(tun.TryReader)
	if !ok {
		return 0, false, nil
	}
	n, ok, err := tr.TryRead(p)
	if ok && n > 0 {
		t.see(p[:n])
	}
	return n, ok, err
}

// Write draws p and writes it to the wrapped device.
func (t *LadderTap) Write(p []byte) (int, error) {
	t.see(p)
	return t.dev.Write(p)
}

// MTU is the wrapped device's MTU.
func (t *LadderTap) MTU() int { return t.dev.MTU() }

// Name is the wrapped device's name.
func (t *LadderTap) Name() string { return t.dev.Name() }

// Close closes the wrapped device.
func (t *LadderTap) Close() error { return t.dev.Close() }

// see feeds one packet to its connection's ladder and writes the lines it
// yields. Write errors are ignored: a broken trace stream must not break
// the link.
func (t *LadderTap) see(pkt []byte) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	conn, seg, ok := t.asm.Add(now, pkt)
	if !ok {
		return
	}
	ll := t.ladders[conn]
	if ll == nil {
		if seg.Flags&(tcp.FlagSYN|tcp.FlagACK) != tcp.FlagSYN || len(t.ladders) >= maxLiveConns {
			t.asm.Forget(conn)
			return
		}
		ll = &liveLadder{l: NewLadder(), lw: LadderWriter{W: t.w, Prefix: fmt.Sprintf("#%-3d", t.next), TextWidth: liveTextWidth}}
		t.next++
		t.ladders[conn] = ll
		ll.lw.Header(conn) //nolint:errcheck
	}
	for _, r := range ll.l.Step(seg) {
		ll.lw.Write(r) //nolint:errcheck
	}
	if ll.l.Done() {
		delete(t.ladders, conn)
		t.asm.Forget(conn)
	}
}

package conformance

// The gVisor backend: netstack (gvisor.dev/gvisor/pkg/tcpip) with a
// link/channel NIC and faketime's manual clock, driven in lockstep like
// the tinytcp backend. gvisor_options.go holds every TCP setting and every
// deviation from Linux.
//
// Lockstep is the hard part. netstack processes inbound segments on
// processor goroutines, not on the caller's; timers run their callbacks
// on whichever goroutine advances the manual clock, except timers armed
// with no delay, which the manual clock runs on goroutines of their own.
// After every call into the stack, settle waits until all three are done:
//
//   - the TCP protocol is built with exactly one processor
//     (singleProcessorTCP), and Stack.Pause returns only once that
//     processor has drained its queue, including anything it queued for
//     itself meanwhile;
//   - ManualClock.Advance(0) waits for the zero-delay timer goroutines;
//   - virtualClock counts zero-delay timers, and settle repeats both steps
//     until a round arms none, since a processor may arm one and a timer
//     may queue work for the processor.
//
// Next and Advance move the clock from one timer deadline to the next
// (virtualClock keeps a ledger of armed timers, which faketime does not
// expose) and settle at each, so a segment sent at 3 s is stamped 3 s.

import (
	"bytes"
	"io"
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// GVisor runs gVisor's netstack, configured as close to Linux as it
// allows, on a manual clock: a reference stack to compare tinytcp with.
type GVisor struct{}

// Name implements Backend.
func (GVisor) Name() string { return "gvisor" }

// VirtualTime implements Backend.
func (GVisor) VirtualTime() bool { return true }

// Start implements Backend.
func (GVisor) Start() (Instance, error) {
	clock := newVirtualClock()
	i := &gvisorInstance{clock: clock, link: channel.New(gvisorQueueLen, gvisorMTU, "")}
	i.link.AddNotify(i)
	s, err := newGVisorStack(clock, i.link)
	if err != nil {
		return nil, err
	}
	i.s = s
	i.settle()
	return i, nil
}

// virtualClock is faketime's ManualClock plus a ledger of the deadlines of
// armed timers, so that the clock can jump from one to the next, and a
// count of zero-delay timers, which run on goroutines of their own.
type virtualClock struct {
	*faketime.ManualClock
	mu        sync.Mutex
	armed     map[*virtualTimer]time.Time // deadline of each armed timer
	immediate int                         // zero-delay timers armed so far
}

// virtualTimer is a timer of a virtualClock.
type virtualTimer struct {
	c     *virtualClock
	inner tcpip.Timer
}

func newVirtualClock() *virtualClock {
	return &virtualClock{ManualClock: faketime.NewManualClock(), armed: make(map[*virtualTimer]time.Time)}
}

// AfterFunc implements tcpip.Clock.
func (c *virtualClock) AfterFunc(d time.Duration, f func()) tcpip.Timer {
	t := &virtualTimer{c: c}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.noteLocked(t, d)
	t.inner = c.ManualClock.AfterFunc(d, func() { c.fired(t); f() })
	return t
}

// noteLocked records that t was armed to fire after d.
func (c *virtualClock) noteLocked(t *virtualTimer, d time.Duration) {
	if d <= 0 {
		delete(c.armed, t)
		c.immediate++
		return
	}
	c.armed[t] = c.Now().Add(d)
}

// fired forgets t's deadline unless t was armed again for later.
func (c *virtualClock) fired(t *virtualTimer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if dl, ok := c.armed[t]; ok && !dl.After(c.Now()) {
		delete(c.armed, t)
	}
}

// Reset implements tcpip.Timer.
func (t *virtualTimer) Reset(d time.Duration) {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.c.noteLocked(t, d)
	t.inner.Reset(d)
}

// Stop implements tcpip.Timer.
func (t *virtualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	delete(t.c.armed, t)
	return t.inner.Stop()
}

// nextDeadline returns the earliest deadline of an armed timer. A
// deadline not after now is stale (the manual clock fires every timer due
// when it advances) and is dropped, so the clock never moves backwards.
func (c *virtualClock) nextDeadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.Now()
	var next time.Time
	for t, dl := range c.armed {
		if !dl.After(now) {
			delete(c.armed, t)
			continue
		}
		if next.IsZero() || dl.Before(next) {
			next = dl
		}
	}
	return next, !next.IsZero()
}

func (c *virtualClock) immediateCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.immediate
}

// gvisorEpoch is where faketime's ManualClock starts.
var gvisorEpoch = time.Unix(0, 0)

type gvisorInstance struct {
	s      *stack.Stack
	clock  *virtualClock
	link   *channel.Endpoint
	closed bool // Close was called; netstack's processors are gone

	mu  sync.Mutex     // guards out
	out []gvisorPacket // packets the stack wrote, oldest first
}

// gvisorPacket is a packet the stack wrote and when.
type gvisorPacket struct {
	pkt []byte
	at  time.Duration
}

// WriteNotify implements channel.Notification: it moves what the stack
// wrote out of the channel at once, stamped with the time it was written.
// It runs on whichever goroutine wrote.
func (i *gvisorInstance) WriteNotify() {
	i.mu.Lock()
	defer i.mu.Unlock()
	for pkt := i.link.Read(); pkt != nil; pkt = i.link.Read() {
		v := pkt.ToView()
		i.out = append(i.out, gvisorPacket{bytes.Clone(v.AsSlice()), i.Now()})
		v.Release()
		pkt.DecRef()
	}
}

func (i *gvisorInstance) take() (gvisorPacket, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if len(i.out) == 0 {
		return gvisorPacket{}, false
	}
	s := i.out[0]
	i.out = i.out[1:]
	return s, true
}

// settle returns once everything the last call set off is done (see the
// top of the file).
func (i *gvisorInstance) settle() {
	if i.closed {
		return // Pause would wait for processors that have exited
	}
	for {
		n := i.clock.immediateCount()
		i.clock.Advance(0)
		i.s.Pause()
		i.s.Resume()
		if i.clock.immediateCount() == n {
			return
		}
	}
}

// advanceTo moves the clock to end one timer deadline at a time, settling
// at each; with stopOnPacket it stops as soon as a packet is waiting.
// After Close the clock stands still.
func (i *gvisorInstance) advanceTo(end time.Time, stopOnPacket bool) {
	for !i.closed {
		if stopOnPacket && i.pending() {
			return
		}
		now := i.clock.Now()
		next, ok := i.clock.nextDeadline()
		if !ok || next.After(end) {
			i.clock.Advance(end.Sub(now))
			i.settle()
			return
		}
		i.clock.Advance(next.Sub(now))
		i.settle()
	}
}

func (i *gvisorInstance) pending() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return len(i.out) > 0
}

// Inject implements Instance.
func (i *gvisorInstance) Inject(pkt []byte) error {
	if i.closed {
		return ErrClosed
	}
	pb := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(bytes.Clone(pkt))})
	i.link.InjectInbound(ipv4.ProtocolNumber, pb)
	pb.DecRef()
	i.settle()
	return nil
}

// Next implements Instance.
func (i *gvisorInstance) Next(wait time.Duration) ([]byte, time.Duration, bool) {
	i.advanceTo(i.clock.Now().Add(max(wait, 0)), true)
	if s, ok := i.take(); ok {
		return s.pkt, s.at, true
	}
	return nil, 0, false
}

// Advance implements Instance.
func (i *gvisorInstance) Advance(d time.Duration) { i.advanceTo(i.clock.Now().Add(max(d, 0)), false) }

// Now implements Instance.
func (i *gvisorInstance) Now() time.Duration { return i.clock.Now().Sub(gvisorEpoch) }

// Close implements Instance: it aborts every connection, stops netstack's
// goroutines and waits for them.
func (i *gvisorInstance) Close() error {
	if i.closed {
		return nil
	}
	i.closed = true
	i.s.Close()
	i.s.Wait()
	i.clock.Advance(0) // wait for zero-delay timers still running
	return nil
}

// newEndpoint makes a TCP endpoint with opts applied.
func (i *gvisorInstance) newEndpoint(opts SocketOptions) (tcpip.Endpoint, error) {
	ep, err := i.s.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, new(waiter.Queue))
	if err != nil {
		return nil, gvisorError(err)
	}
	applyOptions(ep, opts)
	return ep, nil
}

// Listen implements Instance.
func (i *gvisorInstance) Listen(port uint16, backlog int, opts SocketOptions) (Socket, error) {
	ep, err := i.newEndpoint(opts)
	if err != nil {
		return nil, err
	}
	defer i.settle()
	if err := ep.Bind(tcpip.FullAddress{NIC: gvisorNIC, Addr: tcpip.AddrFrom4(StackAddr.As4()), Port: port}); err != nil {
		ep.Close()
		return nil, gvisorError(err)
	}
	if err := ep.Listen(backlog); err != nil {
		ep.Close()
		return nil, gvisorError(err)
	}
	return &gvisorListener{i: i, ep: ep, opts: opts, port: port}, nil
}

// Connect implements Instance.
func (i *gvisorInstance) Connect(port uint16, opts SocketOptions) (Socket, error) {
	ep, err := i.newEndpoint(opts)
	if err != nil {
		return nil, err
	}
	defer i.settle()
	switch err := ep.Connect(tcpip.FullAddress{NIC: gvisorNIC, Addr: tcpip.AddrFrom4(PeerAddr.As4()), Port: port}); err.(type) {
	case nil, *tcpip.ErrConnectStarted:
		return &gvisorConn{i: i, ep: ep}, nil
	default:
		ep.Close()
		return nil, gvisorError(err)
	}
}

// gvisorListener is a listening Socket; the data calls do not apply.
type gvisorListener struct {
	i      *gvisorInstance
	ep     tcpip.Endpoint
	opts   SocketOptions // applied to every accepted connection
	port   uint16
	closed bool
}

func (l *gvisorListener) Accept() (Socket, error) {
	if l.closed {
		return nil, ErrClosed
	}
	defer l.i.settle()
	ep, _, err := l.ep.Accept(nil)
	if err != nil {
		return nil, gvisorError(err)
	}
	// netstack copies only the receive buffer from the listener; Linux
	// clones every option.
	applyOptions(ep, SocketOptions{NoDelay: l.opts.NoDelay, SendBuffer: l.opts.SendBuffer, UserTimeout: l.opts.UserTimeout, TTL: l.opts.TTL, DSCP: l.opts.DSCP})
	return &gvisorConn{i: l.i, ep: ep}, nil
}

func (l *gvisorListener) Write([]byte) (int, error) { return 0, ErrNotSupported }
func (l *gvisorListener) Read([]byte) (int, error)  { return 0, ErrNotSupported }
func (l *gvisorListener) ShutdownWrite() error      { return ErrNotSupported }
func (l *gvisorListener) Close() error {
	if !l.closed {
		l.closed = true
		l.ep.Close()
		l.i.settle()
	}
	return nil
}
func (l *gvisorListener) State() string         { return gvisorState(l.ep) }
func (l *gvisorListener) Err() error            { return nil }
func (l *gvisorListener) LocalPort() uint16     { return l.port }
func (l *gvisorListener) SetNoDelay(bool) error { return nil }

// No urgent data on a listener.
func (l *gvisorListener) WriteUrgent([]byte) (int, error) { return 0, ErrNotSupported }
func (l *gvisorListener) Urgent() (int, error)            { return 0, ErrNotSupported }

// gvisorConn is a connected (or connecting) Socket.
type gvisorConn struct {
	i      *gvisorInstance
	ep     tcpip.Endpoint
	closed bool
	err    error // the error that ended the connection, once known
	told   bool  // whether Read has returned err
}

// fail records the error that ended the connection. netstack hands it
// out once (as Linux's SO_ERROR does), so it is kept here.
func (c *gvisorConn) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

func (c *gvisorConn) Accept() (Socket, error) { return nil, ErrNotSupported }

func (c *gvisorConn) Write(p []byte) (int, error) {
	if c.closed {
		return 0, ErrClosed
	}
	defer c.i.settle()
	n, err := c.ep.Write(bytes.NewReader(p), tcpip.WriteOptions{})
	if err != nil {
		return int(n), c.failed(err)
	}
	return int(n), nil
}

func (c *gvisorConn) Read(p []byte) (int, error) {
	if c.closed {
		return 0, ErrClosed
	}
	defer c.i.settle()
	w := tcpip.SliceWriter(p)
	res, err := c.ep.Read(&w, tcpip.ReadOptions{})
	switch err.(type) {
	case nil:
		return res.Count, nil
	case *tcpip.ErrClosedForReceive:
		// After a failure netstack may already have handed out the
		// error (to Err); Read reports it once, then EOF, as Linux does.
		if c.Err() != nil && !c.told {
			c.told = true
			return 0, c.err
		}
		return 0, io.EOF
	}
	nerr := c.failed(err)
	if nerr == c.err {
		c.told = true
	}
	return 0, nerr
}

// failed normalises err, and records it if it ended the connection.
func (c *gvisorConn) failed(err tcpip.Error) error {
	nerr := gvisorError(err)
	switch nerr {
	case ErrReset, ErrRefused, ErrTimedOut, ErrHostUnreachable, ErrNetUnreachable:
		c.fail(nerr)
	}
	return nerr
}

func (c *gvisorConn) ShutdownWrite() error {
	if c.closed {
		return ErrClosed
	}
	defer c.i.settle()
	return gvisorError(c.ep.Shutdown(tcpip.ShutdownWrite))
}

func (c *gvisorConn) Close() error {
	if c.closed {
		return ErrClosed
	}
	c.closed = true
	c.ep.Close()
	c.i.settle()
	return nil
}

func (c *gvisorConn) State() string { return gvisorState(c.ep) }

// Err implements Socket. A connection in netstack's error state holds the
// error in its last-error slot until asked; Err takes it from there.
func (c *gvisorConn) Err() error {
	if c.err == nil && tcp.EndpointState(c.ep.State()) == tcp.StateError {
		if err := c.ep.LastError(); err != nil {
			c.fail(gvisorError(err))
		}
	}
	return c.err
}

func (c *gvisorConn) LocalPort() uint16 {
	addr, err := c.ep.GetLocalAddress()
	if err != nil {
		return 0
	}
	return addr.Port
}

func (c *gvisorConn) SetNoDelay(on bool) error {
	if c.closed {
		return ErrClosed
	}
	c.ep.SocketOptions().SetDelayOption(!on)
	c.i.settle()
	return nil
}

// WriteUrgent and Urgent are not supported: netstack has no urgent data.
// Its endpoint API has no way to send the urgent pointer, and its TCP never
// looks at the URG bit or the pointer of a segment it receives (the data is
// delivered, the pointer dropped), so no application hears of it. Scenarios
// about urgent data document this as a gVisor deviation from RFC 9293
// §3.8.5 (MUST-30..33).
func (c *gvisorConn) WriteUrgent([]byte) (int, error) { return 0, ErrNotSupported }

// Urgent: see WriteUrgent.
func (c *gvisorConn) Urgent() (int, error) { return 0, ErrNotSupported }

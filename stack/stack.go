package stack

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"tinytcp/ip"
	"tinytcp/tcp"
	"tinytcp/tun"
)

// Config describes a Stack.
type Config struct {
	Device tun.Device   // the link; required
	Addr   netip.Addr   // the stack's own IPv4 address; required
	TCP    tcp.Config   // per-connection defaults; MSS defaults to the device MTU - 40, ISN to a fresh generator
	Trace  io.Writer    // segment trace, one line per segment and state change; nil for none
	Logger *slog.Logger // diagnostics; nil for slog.Default()
	// Backlog bounds a listener's connections that are half-open or
	// waiting for Accept; default 128.
	Backlog int
	// MaxConnections bounds the connection table (every state, TIME-WAIT
	// included); default 65536. A SYN beyond it is dropped and counted,
	// and Dial fails.
	MaxConnections int
	// TTL is the time to live of the packets the stack sends, unless a
	// connection sets its own (RFC 9293 MUST-49); default 64.
	TTL uint8
	// Clock is the time source; nil for the wall clock. With a
	// *ManualClock the stack runs no timer goroutine.
	Clock Clock
}

// Defaults of Config.
const (
	DefaultBacklog        = 128
	DefaultMaxConnections = 65536
)

// ErrStackClosed is returned by calls on a stack that was closed.
var ErrStackClosed = errors.New("stack: closed")

// Stack is one IPv4 host with TCP on one device.
type Stack struct {
	cfg    Config
	dev    tun.Device
	od     tun.OffloadDevice // dev, when it does segmentation and checksum offload (offload.go); else nil
	addr   netip.Addr
	logger *slog.Logger
	clock  Clock
	mtu    int
	maxPkt int // the largest packet the stack reads or builds: the MTU, or a super-packet's 64 KiB

	// Counters count packets, segments and drops.
	Counters Counters

	mu        sync.Mutex
	conns     map[connKey]*Conn // the connection table, by 4-tuple (demux.go)
	listeners map[uint16]*Listener
	udp       map[uint16]*UDPConn // UDP sockets by local port (udp.go)
	timers    timerHeap
	timerAt   time.Time // when the timer goroutine next looks at timers; zero: not before a kick (timers.go)
	batch     []*Conn   // connections whose ACKs wait for the end of the batch (batch.go)
	batching  bool
	closed    bool
	devClosed bool // Close has finished with the device: queued packets are dropped
	ipID      uint16
	rng       *rand.Rand
	tracer    *tracer

	txMu    sync.Mutex
	txq     []outPacket // packets built under mu, waiting for the device
	txBatch []outPacket // the batch being written, owned by the holder of txMu
	bufMu   sync.Mutex  // guards free
	free    [][]byte    // packet buffers ready for reuse (getBuf, putBuf)

	timerKick chan struct{}
	done      chan struct{}
	wg        sync.WaitGroup
}

// New starts a stack on cfg.Device. The stack owns the device from now on:
// Close closes it.
func New(cfg Config) (*Stack, error) {
	if cfg.Device == nil {
		return nil, errors.New("stack: no device")
	}
	if !cfg.Addr.Is4() {
		return nil, fmt.Errorf("stack: address %v is not IPv4", cfg.Addr)
	}
	s := &Stack{
		cfg:       cfg,
		dev:       cfg.Device,
		addr:      cfg.Addr,
		logger:    cfg.Logger,
		clock:     cfg.Clock,
		mtu:       cfg.Device.MTU(),
		conns:     make(map[connKey]*Conn),
		listeners: make(map[uint16]*Listener),
		rng:       rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		timerKick: make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.clock == nil {
		s.clock = wallClock{}
	}
	if s.mtu < 576 {
		return nil, fmt.Errorf("stack: MTU %d is below the IPv4 minimum of 576", s.mtu)
	}
	s.maxPkt = s.mtu
	s.useOffload()
	if s.cfg.Backlog <= 0 {
		s.cfg.Backlog = DefaultBacklog
	}
	if s.cfg.TTL == 0 {
		s.cfg.TTL = ip.DefaultTTL
	}
	if s.cfg.MaxConnections <= 0 {
		s.cfg.MaxConnections = DefaultMaxConnections
	}
	if s.cfg.TCP.MSS <= 0 {
		s.cfg.TCP.MSS = s.mtu - ip.HeaderMinLen - tcp.HeaderMinLen
	}
	if err := s.cfg.TCP.Check(); err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	if s.cfg.TCP.ISN == nil {
		s.cfg.TCP.ISN = tcp.NewISNGenerator()
	}
	if cfg.Trace != nil {
		s.tracer = &tracer{w: cfg.Trace}
	}
	s.wg.Add(1)
	go s.readLoop()
	if mc, ok := s.clock.(*ManualClock); ok {
		mc.attach(s)
	} else {
		s.wg.Add(1)
		go s.timerLoop()
	}
	return s, nil
}

// Addr returns the stack's IPv4 address.
func (s *Stack) Addr() netip.Addr { return s.addr }

// Close aborts every connection (sending RSTs), closes every listener and
// the device, and waits for the stack's goroutines to end.
func (s *Stack) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	now := s.now()
	for _, l := range s.listeners {
		l.closeLocked(now)
	}
	for _, c := range s.conns {
		c.tcb.Abort(now)
		s.settle(c)
	}
	s.unlock()
	// From now on nothing reaches the device: a Conn closed late by
	// another goroutine (an HTTP transport's read loop, say) must not
	// write to a device, or a capture file behind it, that its owner is
	// closing.
	s.mu.Lock()
	s.devClosed = true
	s.mu.Unlock()
	s.txMu.Lock() // wait for a flush already under way to finish
	s.txMu.Unlock()
	close(s.done)
	err := s.dev.Close()
	s.wg.Wait()
	return err
}

// readLoop feeds every packet from the device to the protocol.
func (s *Stack) readLoop() {
	defer s.wg.Done()
	buf := make([]byte, max(s.maxPkt, 65535))
	for {
		n, vouched, err := s.readPacket(buf)
		if err != nil {
			if !errors.Is(err, tun.ErrClosed) {
				select {
				case <-s.done:
				default:
					s.logger.Error("device read failed; stack stops receiving", "err", err)
				}
			}
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		now := s.now()
		s.beginBatch()
		s.deliver(buf[:n], vouched, now)
		s.drainQueued(buf, n, now)
		s.endBatch(now)
		s.unlock()
	}
}

// unlock releases mu after handing queued packets to the device, keeping
// their order (see the package comment).
func (s *Stack) unlock() {
	if len(s.txq) == 0 {
		s.mu.Unlock()
		return
	}
	if s.devClosed {
		for i, p := range s.txq {
			s.putBuf(p.b)
			s.txq[i] = outPacket{}
		}
		s.txq = s.txq[:0]
		s.mu.Unlock()
		return
	}
	s.txMu.Lock()
	s.txBatch = append(s.txBatch[:0], s.txq...)
	clear(s.txq)
	s.txq = s.txq[:0]
	s.mu.Unlock()
	for i, p := range s.txBatch {
		if err := s.writePacket(p); err != nil && !errors.Is(err, tun.ErrClosed) {
			s.Counters.inc("ip.OutgoingPacketErrors")
		}
		s.putBuf(p.b)
		s.txBatch[i] = outPacket{}
	}
	s.txMu.Unlock()
}

// Packet buffers are reused through a bounded free list: one buffer per
// packet built, handed back once the device has taken the packet. (A
// sync.Pool of *[]byte would allocate a fresh pointer at every Put.) The
// list keeps at most maxFreeBytes of buffers, enough for the largest flush
// of either mode; beyond it they go to the garbage collector.
const maxFreeBytes = 4 << 20

// getBuf returns a buffer of maxPkt bytes for one packet.
func (s *Stack) getBuf() []byte {
	s.bufMu.Lock()
	if n := len(s.free); n > 0 {
		b := s.free[n-1]
		s.free[n-1] = nil
		s.free = s.free[:n-1]
		s.bufMu.Unlock()
		return b
	}
	s.bufMu.Unlock()
	return make([]byte, s.maxPkt)
}

// putBuf hands back a buffer from getBuf.
func (s *Stack) putBuf(b []byte) {
	b = b[:cap(b)]
	if len(b) != s.maxPkt {
		return
	}
	s.bufMu.Lock()
	if (len(s.free)+1)*s.maxPkt <= maxFreeBytes {
		s.free = append(s.free, b)
	}
	s.bufMu.Unlock()
}

// now reads the stack's clock.
func (s *Stack) now() time.Time { return s.clock.Now() }

// Inject hands the stack a packet as if it had been read from the device,
// and returns once the stack has processed it (and written any reply to
// the device). The conformance harness uses it to drive a stack in
// lockstep; everything else lets the device deliver.
func (s *Stack) Inject(pkt []byte) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.deliver(pkt, false, s.now())
	s.unlock()
}

// InjectBatch is Inject for several packets that arrive together, as if
// queued in the device: they are all processed before any ACK is sent
// (RFC 9293 MUST-59; batch.go).
func (s *Stack) InjectBatch(pkts [][]byte) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	now := s.now()
	s.beginBatch()
	for _, p := range pkts {
		s.deliver(p, false, now)
	}
	s.endBatch(now)
	s.unlock()
}

// queue hands a finished packet to the flush in unlock; gso is the payload
// per segment of a super-packet (offload.go), 0 for an ordinary packet.
// Called with mu held.
func (s *Stack) queue(pkt []byte, gso uint16) {
	s.txq = append(s.txq, outPacket{b: pkt, gso: gso})
	s.Counters.incHot(hotPacketsSent)
}

// ConnCount returns how many connections the table holds, in any state
// (TIME-WAIT included).
func (s *Stack) ConnCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

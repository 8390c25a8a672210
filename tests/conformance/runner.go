package conformance

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"tinytcp/ip"
	"tinytcp/tcp"
)

// The runner plays a scenario against one backend, step by step, and
// stops at the first step whose outcome differs from the script.

// Result is what happened when a scenario ran on a backend.
type Result struct {
	Backend string
	Passed  bool
	Line    int      // the failing step's line
	Step    string   // the failing step as written
	Message string   // why it failed
	Trace   []string // every segment in and out, normalised
}

// Harness-side constants.
const (
	peerISN  tcp.Seq = 1_000_000 // the peer's initial sequence number
	peerPort         = 40000     // the peer's port when the stack listens
	// defaultWithin bounds how long an expect waits for its segment.
	defaultWithin = 3 * time.Second
)

type runner struct {
	inst    Instance
	virtual bool

	stackISS   tcp.Seq
	issKnown   bool
	stackPort  uint16
	peerPort   uint16
	listener   Socket
	cur        Socket
	readOffset int           // bytes read so far on cur, for the content check
	written    int           // bytes the stack's application wrote, for the pattern
	last       time.Duration // time of the previous event, for after=
	trace      []string
}

// Run plays sc on a fresh instance of b.
func Run(b Backend, sc *Scenario) (res Result) {
	res.Backend = b.Name()
	inst, err := b.Start()
	if err != nil {
		res.Message = "starting the backend: " + err.Error()
		return res
	}
	defer inst.Close()
	r := &runner{inst: inst, virtual: b.VirtualTime(), peerPort: peerPort}
	defer func() { res.Trace = r.trace }()
	for _, st := range sc.Steps {
		if err := r.step(&st); err != nil {
			res.Line, res.Step, res.Message = st.Line, st.Text, err.Error()
			return res
		}
	}
	res.Passed = true
	return res
}

func (r *runner) step(st *Step) error {
	switch st.Cmd {
	case "listen":
		return r.listen(st)
	case "connect":
		return r.connect(st)
	case "accept", "accept-none":
		return r.accept(st)
	case "write":
		return r.write(st)
	case "read", "read-none", "read-eof", "read-error":
		return r.read(st)
	case "shutdown-write":
		return r.need().ShutdownWrite()
	case "close":
		s := r.socket(st)
		if s == nil {
			return errors.New("no socket to close")
		}
		return s.Close()
	case "state":
		return r.state(st)
	case "error":
		return r.errorIs(st)
	case "wait":
		d, err := time.ParseDuration(arg(st, 0))
		if err != nil {
			return err
		}
		r.inst.Advance(d)
		return nil
	case "inject":
		return r.inject(st)
	case "expect":
		return r.expect(st)
	case "expect-none":
		return r.expectNone(st)
	}
	return fmt.Errorf("unknown step %q", st.Cmd)
}

func arg(st *Step, i int) string {
	if i < len(st.Args) {
		return st.Args[i]
	}
	return ""
}

func options(st *Step) (SocketOptions, error) {
	var o SocketOptions
	var err error
	_, o.NoDelay = st.KV["nodelay"]
	if o.RecvBuffer, err = st.integer("rcvbuf", 0); err != nil {
		return o, err
	}
	o.SendBuffer, err = st.integer("sndbuf", 0)
	return o, err
}

func (r *runner) listen(st *Step) error {
	port, _, err := number(arg(st, 0))
	if err != nil {
		return fmt.Errorf("listen wants a port: %w", err)
	}
	backlog, err := st.integer("backlog", 16)
	if err != nil {
		return err
	}
	o, err := options(st)
	if err != nil {
		return err
	}
	l, err := r.inst.Listen(uint16(port), backlog, o)
	if err != nil {
		return err
	}
	r.listener, r.stackPort = l, uint16(port)
	return nil
}

func (r *runner) connect(st *Step) error {
	port, _, err := number(arg(st, 0))
	if err != nil {
		return fmt.Errorf("connect wants a port: %w", err)
	}
	o, err := options(st)
	if err != nil {
		return err
	}
	s, err := r.inst.Connect(uint16(port), o)
	if err != nil {
		return err
	}
	r.cur, r.peerPort, r.stackPort = s, uint16(port), s.LocalPort()
	r.readOffset, r.written = 0, 0
	r.last = r.inst.Now()
	return nil
}

func (r *runner) accept(st *Step) error {
	if r.listener == nil {
		return errors.New("accept without listen")
	}
	s, err := r.listener.Accept()
	if st.Cmd == "accept-none" {
		if !errors.Is(err, ErrWouldBlock) {
			return fmt.Errorf("got a connection (err %v), want none", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	r.cur, r.readOffset, r.written = s, 0, 0
	return nil
}

// need returns the current socket.
func (r *runner) need() Socket {
	if r.cur == nil {
		return errSocket{}
	}
	return r.cur
}

func (r *runner) socket(st *Step) Socket {
	if st.KV["on"] == "listener" {
		return r.listener
	}
	return r.cur
}

func (r *runner) write(st *Step) error {
	var data []byte
	a := arg(st, 0)
	if strings.HasPrefix(a, `"`) {
		data = []byte(strings.Trim(a, `"`))
	} else {
		n, _, err := number(a)
		if err != nil {
			return fmt.Errorf("write wants a count or \"text\": %w", err)
		}
		data = make([]byte, n)
		for i := range data {
			data[i] = byte((r.written + i) % 251)
		}
	}
	n, err := r.need().Write(data)
	r.written += n
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if n != len(data) {
		return fmt.Errorf("wrote %d of %d bytes", n, len(data))
	}
	return nil
}

func (r *runner) read(st *Step) error {
	s := r.need()
	buf := make([]byte, 1<<20)
	switch st.Cmd {
	case "read-none":
		if n, err := s.Read(buf); !errors.Is(err, ErrWouldBlock) {
			return fmt.Errorf("read %d bytes (err %v), want nothing yet", n, err)
		}
		return nil
	case "read-eof":
		if n, err := s.Read(buf); err != io.EOF {
			return fmt.Errorf("read %d bytes (err %v), want EOF", n, err)
		}
		return nil
	case "read-error":
		_, err := s.Read(buf)
		want := namedError(arg(st, 0))
		if !errors.Is(err, want) {
			return fmt.Errorf("read error %v, want %v", err, want)
		}
		return nil
	}
	want, _, err := number(arg(st, 0))
	if err != nil {
		return fmt.Errorf("read wants a count: %w", err)
	}
	got := 0
	for got < int(want) {
		n, err := s.Read(buf[:int(want)-got])
		for i := 0; i < n; i++ {
			if exp := byte((1 + r.readOffset + i) % 251); buf[i] != exp {
				return fmt.Errorf("byte %d read is %d, want %d", r.readOffset+i, buf[i], exp)
			}
		}
		got += n
		r.readOffset += n
		if err != nil {
			return fmt.Errorf("read %d of %d bytes: %w", got, want, err)
		}
	}
	return nil
}

func namedError(name string) error {
	switch name {
	case "reset":
		return ErrReset
	case "refused":
		return ErrRefused
	case "timeout":
		return ErrTimedOut
	}
	return fmt.Errorf("unknown error name %q", name)
}

func (r *runner) state(st *Step) error {
	s := r.socket(st)
	if s == nil {
		return errors.New("no socket")
	}
	if got := s.State(); got != arg(st, 0) {
		return fmt.Errorf("state %s, want %s", got, arg(st, 0))
	}
	return nil
}

func (r *runner) errorIs(st *Step) error {
	got := r.need().Err()
	if arg(st, 0) == "none" {
		if got != nil {
			return fmt.Errorf("connection failed with %v, want no error", got)
		}
		return nil
	}
	if want := namedError(arg(st, 0)); !errors.Is(got, want) {
		return fmt.Errorf("connection error %v, want %v", got, want)
	}
	return nil
}

// errSocket stands in when a step needs a socket and there is none.
type errSocket struct{}

var errNoSocket = errors.New("no current socket: connect or accept first")

func (errSocket) Accept() (Socket, error)   { return nil, errNoSocket }
func (errSocket) Write([]byte) (int, error) { return 0, errNoSocket }
func (errSocket) Read([]byte) (int, error)  { return 0, errNoSocket }
func (errSocket) ShutdownWrite() error      { return errNoSocket }
func (errSocket) Close() error              { return errNoSocket }
func (errSocket) State() string             { return "no socket" }
func (errSocket) Err() error                { return errNoSocket }
func (errSocket) LocalPort() uint16         { return 0 }
func (errSocket) SetNoDelay(bool) error     { return errNoSocket }

// seqField resolves seq=N (relative to base) or seq=abs:N.
func seqField(st *Step, key string, base tcp.Seq, known bool) (tcp.Seq, bool, error) {
	v, ok := st.KV[key]
	if !ok {
		return 0, false, nil
	}
	n, abs, err := number(v)
	if err != nil {
		return 0, false, fmt.Errorf("%s=%q: %w", key, v, err)
	}
	if abs {
		return tcp.Seq(n), true, nil
	}
	if !known {
		return 0, false, fmt.Errorf("%s=%s is relative to a sequence number not seen yet", key, v)
	}
	return base.Add(n), true, nil
}

func (r *runner) inject(st *Step) error {
	seg := tcp.Segment{SrcPort: r.peerPort, DstPort: r.stackPort, Flags: st.Flags, Window: 65535}
	var err error
	if p, ok := st.KV["dport"]; ok {
		n, _, err := number(p)
		if err != nil {
			return err
		}
		seg.DstPort = uint16(n)
	}
	if p, ok := st.KV["sport"]; ok {
		n, _, err := number(p)
		if err != nil {
			return err
		}
		seg.SrcPort = uint16(n)
	}
	if s, ok, err := seqField(st, "seq", peerISN, true); err != nil {
		return err
	} else if ok {
		seg.Seq = s
	} else {
		seg.Seq = peerISN
	}
	if a, ok, err := seqField(st, "ack", r.stackISS, r.issKnown); err != nil {
		return err
	} else if ok {
		seg.Ack = a
	}
	w, err := st.integer("win", 65535)
	if err != nil {
		return err
	}
	seg.Window = uint16(w)
	if u, err := st.integer("urg", 0); err != nil {
		return err
	} else {
		seg.Urgent = uint16(u)
	}
	if err := injectOptions(st, &seg.Options); err != nil {
		return err
	}
	n, err := st.integer("len", 0)
	if err != nil {
		return err
	}
	seg.Payload = make([]byte, n)
	first := seg.Seq.Sub(peerISN)
	for i := range seg.Payload {
		seg.Payload[i] = byte((first + uint32(i)) % 251)
	}
	_, bad := st.KV["badsum"]
	var raw []byte
	if v, ok := st.KV["rawopts"]; ok {
		if raw, err = hex.DecodeString(v); err != nil || len(raw)%4 != 0 {
			return fmt.Errorf("rawopts=%q: want hex, a multiple of 4 bytes", v)
		}
		seg.Options = tcp.Options{}
	}
	pkt := buildPacket(&seg, raw, bad)
	r.trace = append(r.trace, fmt.Sprintf("%s < %s", fmtTime(r.inst.Now()), r.describe(&seg)))
	if err := r.inst.Inject(pkt); err != nil {
		return err
	}
	r.last = r.inst.Now()
	return nil
}

func injectOptions(st *Step, o *tcp.Options) error {
	if v, ok := st.KV["mss"]; ok {
		n, _, err := number(v)
		if err != nil {
			return err
		}
		o.MSS = uint16(n)
	}
	if v, ok := st.KV["wscale"]; ok {
		n, _, err := number(v)
		if err != nil {
			return err
		}
		o.HasWindowScale, o.WindowScale = true, uint8(n)
	}
	_, o.SACKPermitted = st.KV["sackok"]
	if v, ok := st.KV["ts"]; ok {
		val, ecr, _ := strings.Cut(v, ",")
		a, _, err := number(val)
		if err != nil {
			return err
		}
		b, _, err := number(ecr)
		if err != nil {
			return err
		}
		o.HasTimestamps, o.TSVal, o.TSEcr = true, a, b
	}
	if v, ok := st.KV["sack"]; ok {
		for _, blk := range strings.Split(v, ",") {
			l, rgt, _ := strings.Cut(blk, "-")
			a, _, err := number(l)
			if err != nil {
				return err
			}
			b, _, err := number(rgt)
			if err != nil {
				return err
			}
			if int(o.NumSACK) < len(o.SACK) {
				o.SACK[o.NumSACK] = tcp.SACKBlock{Left: peerISN.Add(a), Right: peerISN.Add(b)}
				o.NumSACK++
			}
		}
	}
	return nil
}

// buildPacket makes the IPv4 packet for a segment from the peer. rawOpts,
// if any, replace the options with bytes as given (for malformed ones).
func buildPacket(seg *tcp.Segment, rawOpts []byte, badSum bool) []byte {
	hl := seg.HeaderLen() + len(rawOpts)
	n := hl + len(seg.Payload)
	pkt := make([]byte, ip.HeaderMinLen+n)
	b := pkt[ip.HeaderMinLen:]
	seg.MarshalHeader(b)
	copy(b[tcp.HeaderMinLen:], rawOpts)
	b[12] = byte(hl/4) << 4
	copy(b[hl:], seg.Payload)
	sum := ip.Fold(ip.Sum(b, ip.PseudoHeaderSum(PeerAddr, StackAddr, ip.ProtocolTCP, n)))
	if badSum {
		sum ^= 0xbeef
	}
	tcp.Header(b).SetChecksum(sum)
	f := ip.IPv4Fields{TotalLen: uint16(len(pkt)), TTL: 64, Protocol: ip.ProtocolTCP, Src: PeerAddr, Dst: StackAddr, DontFragment: true}
	f.Encode(pkt)
	return pkt
}

// nextSegment waits for the stack's next TCP segment to the peer,
// skipping anything else it sends (ICMP, other addresses).
func (r *runner) nextSegment(wait time.Duration) (*tcp.Segment, time.Duration, bool, error) {
	deadline := r.inst.Now() + wait
	for {
		left := deadline - r.inst.Now()
		if left < 0 {
			left = 0
		}
		pkt, at, ok := r.inst.Next(left)
		if !ok {
			return nil, 0, false, nil
		}
		h, err := ip.ParseIPv4(pkt)
		if err != nil {
			return nil, at, true, fmt.Errorf("the stack sent a bad IPv4 packet: %w", err)
		}
		if h.Protocol() != ip.ProtocolTCP || h.Dst() != PeerAddr {
			continue
		}
		b := h.Payload()
		if ip.Fold(ip.Sum(b, ip.PseudoHeaderSum(h.Src(), h.Dst(), ip.ProtocolTCP, len(b)))) != 0 {
			return nil, at, true, errors.New("the stack sent a segment with a bad checksum")
		}
		seg := new(tcp.Segment)
		if err := tcp.ParseSegment(b, seg); err != nil {
			return nil, at, true, fmt.Errorf("the stack sent a bad segment: %w", err)
		}
		seg.Payload = append([]byte(nil), seg.Payload...)
		return seg, at, true, nil
	}
}

func (r *runner) expect(st *Step) error {
	within, err := st.duration("within", defaultWithin)
	if err != nil {
		return err
	}
	after, err := st.duration("after", -1)
	if err != nil {
		return err
	}
	if after >= 0 && within < after*2 {
		within = after * 2
	}
	seg, at, ok, err := r.nextSegment(within)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no segment within %v, want %s", within, flagString(st.Flags))
	}
	if seg.Flags.Has(tcp.FlagSYN) && !r.issKnown {
		r.stackISS, r.issKnown = seg.Seq, true
	}
	r.trace = append(r.trace, fmt.Sprintf("%s > %s", fmtTime(at), r.describe(seg)))
	gap := at - r.last
	r.last = at
	var problems []string
	if seg.Flags&^st.Maybe != st.Flags {
		want := flagString(st.Flags)
		if st.Maybe != 0 {
			want += " (and maybe " + flagString(st.Maybe) + ")"
		}
		problems = append(problems, fmt.Sprintf("flags %s, want %s", flagString(seg.Flags), want))
	}
	if want, ok, err := seqField(st, "seq", r.stackISS, r.issKnown); err != nil {
		return err
	} else if ok && seg.Seq != want {
		problems = append(problems, fmt.Sprintf("seq %d, want %d", seg.Seq.Sub(r.stackISS), want.Sub(r.stackISS)))
	}
	if want, ok, err := seqField(st, "ack", peerISN, true); err != nil {
		return err
	} else if ok && (!seg.Flags.Has(tcp.FlagACK) || seg.Ack != want) {
		problems = append(problems, fmt.Sprintf("ack %d, want %d", seg.Ack.Sub(peerISN), want.Sub(peerISN)))
	}
	if w, ok := st.KV["win"]; ok {
		if want, err := st.integer("win", 0); err != nil {
			return err
		} else if int(seg.Window) != want {
			problems = append(problems, fmt.Sprintf("win %d, want %s", seg.Window, w))
		}
	}
	if _, ok := st.KV["len"]; ok {
		if want, err := st.integer("len", 0); err != nil {
			return err
		} else if len(seg.Payload) != want {
			problems = append(problems, fmt.Sprintf("len %d, want %d", len(seg.Payload), want))
		}
	}
	if want, ok := st.KV["opts"]; ok {
		if got := optionList(&seg.Options); got != normaliseList(want) {
			problems = append(problems, fmt.Sprintf("options %s, want %s", got, normaliseList(want)))
		}
	}
	if after >= 0 {
		tol, err := st.duration("tol", after/4)
		if err != nil {
			return err
		}
		if gap < after-tol || gap > after+tol {
			problems = append(problems, fmt.Sprintf("sent %v after the previous event, want %v ± %v", gap, after, tol))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("got %s: %s", r.describe(seg), strings.Join(problems, "; "))
	}
	return nil
}

func (r *runner) expectNone(st *Step) error {
	d, err := st.duration("for", time.Second)
	if err != nil {
		return err
	}
	seg, at, ok, err := r.nextSegment(d)
	if err != nil {
		return err
	}
	if ok {
		r.trace = append(r.trace, fmt.Sprintf("%s > %s", fmtTime(at), r.describe(seg)))
		return fmt.Errorf("got %s, want nothing for %v", r.describe(seg), d)
	}
	return nil
}

// optionList names the options present, sorted: "mss,sackok,ts,wscale".
func optionList(o *tcp.Options) string {
	var l []string
	if o.MSS != 0 {
		l = append(l, "mss")
	}
	if o.HasWindowScale {
		l = append(l, "wscale")
	}
	if o.SACKPermitted {
		l = append(l, "sackok")
	}
	if o.HasTimestamps {
		l = append(l, "ts")
	}
	if o.NumSACK > 0 {
		l = append(l, "sack")
	}
	if len(l) == 0 {
		return "-"
	}
	slices.Sort(l)
	return strings.Join(l, ",")
}

func normaliseList(s string) string {
	if s == "-" || s == "" {
		return "-"
	}
	l := strings.Split(s, ",")
	slices.Sort(l)
	return strings.Join(l, ",")
}

// describe prints a segment in the scenario's own terms: relative numbers.
func (r *runner) describe(seg *tcp.Segment) string {
	var b strings.Builder
	fromPeer := seg.SrcPort == r.peerPort && seg.DstPort == r.stackPort
	seqBase, ackBase := r.stackISS, peerISN
	if fromPeer {
		seqBase, ackBase = peerISN, r.stackISS
	}
	fmt.Fprintf(&b, "%s seq=%d", flagString(seg.Flags), seg.Seq.Sub(seqBase))
	if seg.Flags.Has(tcp.FlagACK) {
		fmt.Fprintf(&b, " ack=%d", seg.Ack.Sub(ackBase))
	}
	fmt.Fprintf(&b, " win=%d len=%d opts=%s", seg.Window, len(seg.Payload), optionList(&seg.Options))
	return b.String()
}

func fmtTime(d time.Duration) string {
	return fmt.Sprintf("%8.3fs", d.Seconds())
}

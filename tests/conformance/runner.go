package conformance

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

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

	lastSent []byte // the stack's latest TCP packet, which inject-icmp quotes (icmp.go)

	// Flow-control bookkeeping for seq=next and fill-window.
	peerNext   tcp.Seq // the peer's next new sequence number
	peerWS     bool    // the peer's SYN offered window scaling
	stackShift uint8   // the stack's window scale, once both offered it
	stackWnd   uint32  // the window the stack last advertised, in bytes
	stackAck   tcp.Seq // the acknowledgment number the stack last sent
	stackTSVal uint32  // the stack's latest timestamp, for ts=VAL,echo

	lastTTL, lastTOS uint8 // IPv4 header fields of the segment nextSegment returned
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
	case "read", "read-none", "read-eof", "read-error", "read-all":
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
	case "inject-icmp":
		return r.injectICMP(st)
	case "soft-error":
		return r.softError(st)
	case "inject":
		return r.inject(st)
	case "expect":
		return r.expect(st)
	case "expect-none":
		return r.expectNone(st)
	case "fill-window":
		return r.fillWindow(st)
	case "urgent":
		return r.urgent(st)
	case "settle":
		d, err := st.duration("for", 300*time.Millisecond)
		if err != nil {
			return err
		}
		return r.settle(d)
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
	if o.SendBuffer, err = st.integer("sndbuf", 0); err != nil {
		return o, err
	}
	if o.TTL, err = st.integer("ttl", 0); err != nil {
		return o, err
	}
	if o.DSCP, err = st.integer("dscp", 0); err != nil {
		return o, err
	}
	o.UserTimeout, err = st.duration("usertimeout", 0)
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
	write := r.need().Write
	if _, urgent := st.KV["urgent"]; urgent {
		write = r.need().WriteUrgent
	}
	n, err := write(data)
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
	case "read-all":
		total := 0
		for {
			n, err := r.readChecked(s, buf)
			total += n
			if errors.Is(err, ErrWouldBlock) {
				break
			}
			if err != nil {
				return fmt.Errorf("read-all after %d bytes: %w", total, err)
			}
		}
		if total == 0 {
			return errors.New("read-all found nothing to read")
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
		n, err := r.readChecked(s, buf[:int(want)-got])
		got += n
		if err != nil {
			return fmt.Errorf("read %d of %d bytes: %w", got, want, err)
		}
	}
	return nil
}

// readChecked reads once and checks the bytes against the peer's pattern.
func (r *runner) readChecked(s Socket, buf []byte) (int, error) {
	n, err := s.Read(buf)
	for i := 0; i < n; i++ {
		if exp := byte((1 + r.readOffset + i) % 251); buf[i] != exp {
			return i, fmt.Errorf("byte %d read is %d, want %d", r.readOffset+i, buf[i], exp)
		}
	}
	r.readOffset += n
	return n, err
}

// urgent checks what the application has been told of urgent data: how
// much of the stream, from its read position, is urgent (MUST-33).
func (r *runner) urgent(st *Step) error {
	want := 0
	if a := arg(st, 0); a != "none" {
		n, _, err := number(a)
		if err != nil {
			return fmt.Errorf("urgent wants a count or none: %w", err)
		}
		want = int(n)
	}
	got, err := r.need().Urgent()
	switch {
	case err != nil:
		return fmt.Errorf("urgent: %w", err)
	case got != want && want == 0:
		return fmt.Errorf("urgent data pending (%d bytes), want none", got)
	case got != want:
		return fmt.Errorf("urgent data: %d bytes pending, want %d", got, want)
	}
	return nil
}

func namedError(name string) error {
	switch name {
	case "reset":
		return ErrReset
	case "refused":
		return ErrRefused
	case "host-unreachable":
		return ErrHostUnreachable
	case "net-unreachable":
		return ErrNetUnreachable
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

// The calls of the "write ... urgent" and "urgent" steps.
func (errSocket) WriteUrgent([]byte) (int, error) { return 0, errNoSocket }
func (errSocket) Urgent() (int, error)            { return 0, errNoSocket }

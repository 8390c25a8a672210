package demo

// TCP beside UDP on the same link: the kernel side sends the same numbered
// records to tinytcp's echo service twice, once as UDP datagrams and once
// over a TCP connection, and counts what comes back. UDP hands over what
// the link delivered: some records lost, some twice, some out of order.
// TCP hands over the stream whole and in order, and the cost shows up as
// retransmissions and time instead. This is the client of `tinytcp
// udp-vs-tcp` and `tinytcp udp-send`; it uses the kernel's sockets, so it
// runs beside `tinytcp up`, not inside it.
//
// A record is Size bytes: its number (32 bits, big-endian), then padding.
// The numbers are counted at the client after the round trip, so loss and
// duplication are those of both directions together.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"
)

// CompareConfig says what to send and where.
type CompareConfig struct {
	UDP, TCP string        // host:port of the UDP and TCP echo; "" skips that half
	Count    int           // records to send
	Size     int           // bytes per record, at least 4
	Interval time.Duration // gap between records; over TCP each is its own write (Go sets TCP_NODELAY), so its own segment
	Wait     time.Duration // how long to wait for late datagrams after the last one came back
	// Dial opens the sockets; nil for a net.Dialer. Tests use it to open
	// them inside a network namespace.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// UDPResult is what came back of the datagrams sent to a UDP echo.
type UDPResult struct {
	Sent       int           `json:"sent"`       // datagrams sent
	Received   int           `json:"received"`   // distinct records that came back
	Lost       int           `json:"lost"`       // records that never came back: Sent - Received
	Duplicated int           `json:"duplicated"` // extra copies of records already received
	Reordered  int           `json:"reordered"`  // records that arrived after a higher-numbered one
	Elapsed    time.Duration `json:"elapsed_ns"` // first send to last arrival
}

// TCPResult is what came back of the records sent over a TCP echo.
type TCPResult struct {
	Sent         int           `json:"sent"`                    // records written
	Received     int           `json:"received"`                // records read back
	InOrder      bool          `json:"in_order"`                // every record came back once, in order
	Retransmits  uint32        `json:"kernel_retransmits"`      // segments the kernel's TCP sent again (TCP_INFO tcpi_total_retrans)
	Elapsed      time.Duration `json:"elapsed_ns"`              // connect to the last byte back
	FirstProblem string        `json:"first_problem,omitempty"` // what went wrong first, if anything did
}

// CompareResult holds both halves.
type CompareResult struct {
	Count int        `json:"count"`
	Size  int        `json:"size"`
	UDP   *UDPResult `json:"udp,omitempty"`
	TCP   *TCPResult `json:"tcp,omitempty"`
}

// Compare runs the UDP half, then the TCP half, of cfg.
func Compare(ctx context.Context, cfg CompareConfig) (CompareResult, error) {
	if cfg.Count <= 0 || cfg.Size < 4 {
		return CompareResult{}, fmt.Errorf("want a positive count and records of at least 4 bytes, not %d of %d", cfg.Count, cfg.Size)
	}
	if cfg.Dial == nil {
		cfg.Dial = (&net.Dialer{}).DialContext
	}
	res := CompareResult{Count: cfg.Count, Size: cfg.Size}
	if cfg.UDP != "" {
		u, err := sendUDP(ctx, cfg)
		if err != nil {
			return res, fmt.Errorf("udp: %w", err)
		}
		res.UDP = &u
	}
	if cfg.TCP != "" {
		t, err := sendTCP(ctx, cfg)
		if err != nil {
			return res, fmt.Errorf("tcp: %w", err)
		}
		res.TCP = &t
	}
	return res, nil
}

// sendUDP sends cfg.Count numbered datagrams, cfg.Interval apart, and
// counts the echoes until none has come for cfg.Wait after the last send.
func sendUDP(ctx context.Context, cfg CompareConfig) (UDPResult, error) {
	c, err := cfg.Dial(ctx, "udp4", cfg.UDP)
	if err != nil {
		return UDPResult{}, err
	}
	defer c.Close()
	res := UDPResult{Sent: cfg.Count}
	start := time.Now()

	sendErr := make(chan error, 1)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		rec := make([]byte, cfg.Size)
		tick := time.NewTicker(max(cfg.Interval, time.Microsecond))
		defer tick.Stop()
		for i := range cfg.Count {
			binary.BigEndian.PutUint32(rec, uint32(i))
			if _, err := c.Write(rec); err != nil && !errors.Is(err, net.ErrClosed) {
				// ECONNREFUSED: an ICMP port unreachable for an earlier
				// datagram; nothing listens there.
				sendErr <- err
				return
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	}()

	seen := make([]int32, cfg.Count) // copies of each record received
	highest := -1
	buf := make([]byte, cfg.Size+1)
	last := start
	for {
		select {
		case <-sent:
			// Sending is over: wait at most cfg.Wait for each further
			// datagram.
			c.SetReadDeadline(time.Now().Add(cfg.Wait)) //nolint:errcheck
		default:
			// Still sending: wake up now and then to look.
			c.SetReadDeadline(time.Now().Add(min(cfg.Wait, 100*time.Millisecond))) //nolint:errcheck
		}
		n, err := c.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				select {
				case <-sent:
					res.Lost = res.Sent - res.Received
					res.Elapsed = last.Sub(start)
					return res, ctxOr(ctx, sendErrOr(sendErr))
				default:
					continue
				}
			}
			return res, err
		}
		if n < 4 {
			continue // not one of ours
		}
		i := int(binary.BigEndian.Uint32(buf))
		if i >= cfg.Count {
			continue
		}
		last = time.Now()
		seen[i]++
		switch {
		case seen[i] > 1:
			res.Duplicated++
		case i < highest:
			res.Received++
			res.Reordered++
		default:
			res.Received++
		}
		highest = max(highest, i)
	}
}

func sendErrOr(ch chan error) error {
	select {
	case err := <-ch:
		return err
	default:
		return nil
	}
}

func ctxOr(ctx context.Context, err error) error {
	if err != nil {
		return err
	}
	return ctx.Err()
}

// sendTCP writes cfg.Count numbered records over one connection to the
// echo service, reads them back and checks that each comes once, in order.
func sendTCP(ctx context.Context, cfg CompareConfig) (TCPResult, error) {
	start := time.Now()
	nc, err := cfg.Dial(ctx, "tcp4", cfg.TCP)
	if err != nil {
		return TCPResult{}, err
	}
	defer nc.Close()
	c, ok := nc.(*net.TCPConn)
	if !ok {
		return TCPResult{}, fmt.Errorf("dial returned a %T, not a *net.TCPConn", nc)
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	res := TCPResult{Sent: cfg.Count, InOrder: true}

	var wg sync.WaitGroup
	var werr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		rec := make([]byte, cfg.Size)
		var tick <-chan time.Time
		if cfg.Interval > 0 {
			t := time.NewTicker(cfg.Interval)
			defer t.Stop()
			tick = t.C
		}
		for i := range cfg.Count {
			binary.BigEndian.PutUint32(rec, uint32(i))
			if _, err := c.Write(rec); err != nil {
				werr = err
				return
			}
			if tick != nil {
				<-tick
			}
		}
		werr = c.CloseWrite()
	}()

	r := newRecordReader(c, cfg.Size)
	for {
		rec, err := r.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			c.Close()
			wg.Wait()
			return res, err
		}
		if i := int(binary.BigEndian.Uint32(rec)); i != res.Received && res.InOrder {
			res.InOrder = false
			res.FirstProblem = fmt.Sprintf("record %d arrived where %d was due", i, res.Received)
		}
		res.Received++
	}
	res.Elapsed = time.Since(start)
	wg.Wait()
	if werr != nil {
		return res, werr
	}
	if res.Received != res.Sent {
		res.InOrder = false
		if res.FirstProblem == "" {
			res.FirstProblem = fmt.Sprintf("%d records came back of %d", res.Received, res.Sent)
		}
	}
	res.Retransmits, err = retransmits(c)
	return res, err
}

// recordReader reads fixed-size records from a stream, with a bufio-sized
// buffer so that small records do not cost a system call each.
type recordReader struct {
	r    io.Reader
	buf  []byte
	size int
	off  int // start of unread bytes in buf
	end  int // end of unread bytes in buf
}

func newRecordReader(r io.Reader, size int) *recordReader {
	return &recordReader{r: r, buf: make([]byte, max(64<<10, 2*size)), size: size}
}

// next returns the next record, io.EOF at a clean end of the stream, and
// io.ErrUnexpectedEOF if it ends inside a record.
func (rr *recordReader) next() ([]byte, error) {
	for rr.end-rr.off < rr.size {
		if rr.off > 0 {
			rr.end = copy(rr.buf, rr.buf[rr.off:rr.end])
			rr.off = 0
		}
		n, err := rr.r.Read(rr.buf[rr.end:])
		rr.end += n
		if err == io.EOF {
			if rr.end-rr.off == 0 {
				return nil, io.EOF
			}
			if rr.end-rr.off < rr.size {
				return nil, io.ErrUnexpectedEOF
			}
			break
		}
		if err != nil {
			return nil, err
		}
	}
	rec := rr.buf[rr.off : rr.off+rr.size]
	rr.off += rr.size
	return rec, nil
}

// retransmits reads how many segments the kernel's TCP sent again on c.
func retransmits(c *net.TCPConn) (uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var info *unix.TCPInfo
	var serr error
	if err := raw.Control(func(fd uintptr) {
		info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, os.NewSyscallError("getsockopt TCP_INFO", serr)
	}
	return info.Total_retrans, nil
}

// WriteTable writes the result as the small table the book shows.
func (r CompareResult) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "%d records of %d bytes each way, echoed back (so both directions of the link count)\n\n", r.Count, r.Size)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tsent\tback\tlost\tduplicated\treordered\tin order\ttime\t")
	if u := r.UDP; u != nil {
		fmt.Fprintf(tw, "udp\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t\n", u.Sent, u.Received, u.Lost, u.Duplicated, u.Reordered,
			yesNo(u.Lost == 0 && u.Duplicated == 0 && u.Reordered == 0), u.Elapsed.Round(time.Millisecond))
	}
	if t := r.TCP; t != nil {
		fmt.Fprintf(tw, "tcp\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t\n", t.Sent, t.Received, t.Sent-t.Received, 0, 0,
			yesNo(t.InOrder), t.Elapsed.Round(time.Millisecond))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if t := r.TCP; t != nil {
		fmt.Fprintf(w, "\ntcp: the kernel's TCP sent %d segments again (TCP_INFO); tinytcp resent its own lost echoes, unseen from here\n", t.Retransmits)
		if t.FirstProblem != "" {
			fmt.Fprintf(w, "tcp: %s\n", t.FirstProblem)
		}
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

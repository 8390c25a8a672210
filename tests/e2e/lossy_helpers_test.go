package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"tinytcp/cmd/demo"
	"tinytcp/stack"
	"tinytcp/tcp"
	"tinytcp/tests/netns"
	"tinytcp/tun"
)

// The machinery of lossy_test.go: a tinytcp stack on a TUN device with the
// impairment layer between the two, bulk transfers to and from the kernel
// with their figures, a blackout driven by a timer, and the kernel's own
// TCP counters read from /proc/net/snmp inside the namespace.

// lossyHost is a tinytcp stack whose link to the kernel is impaired.
type lossyHost struct {
	ns    *netns.NS
	stack *stack.Stack
	link  *tun.Impair // between the stack and the TUN device, both ways
}

// openLossyHost creates a namespace and a TUN device in it, puts the
// impairment layer on the device and starts a stack on top.
func openLossyHost(t *testing.T, cfg tun.ImpairConfig) *lossyHost {
	t.Helper()
	ns := netns.New(t)
	var dev tun.Device
	require.NoError(t, ns.Do(func() error {
		var err error
		dev, err = tun.Open(tun.Config{Peer: demo.DefaultPeer})
		return err
	}))
	link := tun.NewImpair(dev, cfg)
	s, err := stack.New(stack.Config{Device: link, Addr: demo.DefaultAddr})
	if err != nil {
		link.Close()
		require.NoError(t, err)
	}
	t.Cleanup(func() { require.NoError(t, s.Close()) }) // closes link and dev
	return &lossyHost{ns: ns, stack: s, link: link}
}

// lossyTransfer is the outcome of one bulk transfer.
type lossyTransfer struct {
	elapsed time.Duration
	info    tcp.Info        // tinytcp's end of the connection, at the end
	kernel  kernelSNMP      // the kernel's TCP counters gained during it
	black   *blackoutResult // what happened while the link was cut, if it was
}

// connect opens a connection from the kernel to a tinytcp listener and
// returns both ends. Both are closed in Cleanup.
func (h *lossyHost) connect(t *testing.T, deadline time.Time) (kernel *net.TCPConn, tiny *stack.Conn) {
	t.Helper()
	l, err := h.stack.Listen(5001)
	require.NoError(t, err)
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	var c net.Conn
	require.NoError(t, h.ns.Do(func() error {
		var err error
		c, err = (&net.Dialer{Deadline: deadline}).Dial("tcp4", "10.77.0.2:5001")
		return err
	}))
	t.Cleanup(func() { c.Close() })
	sc, ok := <-accepted
	require.True(t, ok, "tinytcp accepted nothing")
	t.Cleanup(func() { sc.Close() })
	require.NoError(t, c.SetDeadline(deadline))
	require.NoError(t, sc.SetDeadline(deadline))
	return c.(*net.TCPConn), sc.(*stack.Conn)
}

// download sends n bytes of the i mod 251 pattern from tinytcp to the
// kernel and checks every byte the kernel reads. If cut is not nil it is
// called once tinytcp's application has handed over half of the bytes.
func (h *lossyHost) download(t *testing.T, n int, deadline time.Time, cut func(*stack.Conn)) lossyTransfer {
	t.Helper()
	kernelBefore := h.kernelTCP(t)
	start := time.Now()
	kc, sc := h.connect(t, deadline)

	written := make(chan error, 1)
	go func() {
		block := patternBytes(251 * 256) // whole periods, so blocks line up
		for off := 0; off < n; {
			k, err := sc.Write(block[:min(len(block), n-off)])
			off += k
			if err != nil {
				written <- fmt.Errorf("tinytcp wrote %d of %d bytes: %w", off, n, err)
				return
			}
			if cut != nil && off >= n/2 {
				cut(sc)
				cut = nil
			}
		}
		written <- sc.CloseWrite()
	}()

	got, err := readPattern(kc)
	if err != nil {
		t.Fatalf("the kernel read %d of %d bytes in %v: %v; tinytcp: %s", got, n, time.Since(start).Round(time.Millisecond), err, describeConn(sc.Info()))
	}
	require.Equal(t, int64(n), got, "bytes the kernel read before tinytcp's FIN")
	require.NoError(t, <-written)
	elapsed := time.Since(start)
	return lossyTransfer{elapsed: elapsed, info: sc.Info(), kernel: h.kernelTCP(t).minus(kernelBefore)}
}

// readPattern reads r to EOF and checks that byte i is i mod 251; it
// returns how many bytes were right.
func readPattern(r io.Reader) (int64, error) {
	buf := make([]byte, 64<<10)
	var off int64
	for {
		k, err := r.Read(buf)
		for i, b := range buf[:k] {
			if want := byte((off + int64(i)) % 251); b != want {
				return off + int64(i), fmt.Errorf("byte %d is %d, want %d", off+int64(i), b, want)
			}
		}
		off += int64(k)
		if errors.Is(err, io.EOF) {
			return off, nil
		}
		if err != nil {
			return off, err
		}
	}
}

// upload sends n seeded pseudo-random bytes from the kernel to tinytcp and
// compares the SHA-256 of what tinytcp's application read. If cut is not
// nil it is called once tinytcp has read half of the bytes.
func (h *lossyHost) upload(t *testing.T, n int, seed uint64, deadline time.Time, cut func(*stack.Conn)) lossyTransfer {
	t.Helper()
	data := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(data) // never fails
	want := sha256.Sum256(data)
	kernelBefore := h.kernelTCP(t)
	start := time.Now()
	kc, sc := h.connect(t, deadline)

	written := make(chan error, 1)
	go func() {
		_, err := kc.Write(data)
		if err == nil {
			err = kc.CloseWrite()
		}
		written <- err
	}()

	sum := sha256.New()
	var got int64
	var err error
	if cut != nil {
		got, err = io.CopyN(sum, sc, int64(n/2))
		if err == nil {
			cut(sc)
		}
	}
	if err == nil {
		var rest int64
		rest, err = io.Copy(sum, sc)
		got += rest
	}
	if err != nil {
		t.Fatalf("tinytcp read %d of %d bytes in %v: %v; tinytcp: %s", got, n, time.Since(start).Round(time.Millisecond), err, describeConn(sc.Info()))
	}
	require.Equal(t, int64(n), got, "bytes tinytcp read before the kernel's FIN")
	require.Equal(t, want[:], sum.Sum(nil), "SHA-256 of the %d bytes tinytcp read", n)
	require.NoError(t, <-written)
	elapsed := time.Since(start)
	return lossyTransfer{elapsed: elapsed, info: sc.Info(), kernel: h.kernelTCP(t).minus(kernelBefore)}
}

// describeConn sums up a connection's state for a failure message.
func describeConn(i tcp.Info) string {
	return fmt.Sprintf("%s snd.una=%d snd.nxt=%d rto=%v retries=%d cwnd=%d %+v",
		i.State, i.SndUNA, i.SndNXT, i.RTO, i.Retries, i.CWND, i.Stats)
}

// blackoutResult is what tinytcp and the kernel did while the link was cut.
type blackoutResult struct {
	rto                   time.Duration // tinytcp's RTO when the link went dark
	tiny                  tcp.ConnStats // tinytcp's counters gained in the dark
	kernel                kernelSNMP    // the kernel's, likewise
	droppedOut, droppedIn uint64        // packets the blackout swallowed
}

// blackout returns a cut function for download or upload that cuts the
// link for d, both ways, and mends it from a timer; the result arrives on
// the channel when the link is back. Counters are read just before the cut
// and just before the mend.
func (h *lossyHost) blackout(t *testing.T, d time.Duration) (func(*stack.Conn), <-chan blackoutResult) {
	t.Helper()
	done := make(chan blackoutResult, 1)
	var mu sync.Mutex
	var timer *time.Timer
	t.Cleanup(func() { // a failed test must not leave the link dark
		mu.Lock()
		defer mu.Unlock()
		if timer != nil && timer.Stop() {
			h.link.SetBlackout(false)
		}
	})
	cut := func(sc *stack.Conn) {
		before, kernelBefore, linkBefore := sc.Info(), h.readKernelTCP(), h.link.Stats()
		h.link.SetBlackout(true)
		mu.Lock()
		defer mu.Unlock()
		timer = time.AfterFunc(d, func() {
			after, kernelAfter := sc.Info(), h.readKernelTCP()
			link := h.link.Stats()
			h.link.SetBlackout(false)
			done <- blackoutResult{
				rto:        before.RTO,
				tiny:       statsMinus(after.Stats, before.Stats),
				kernel:     kernelAfter.minus(kernelBefore),
				droppedOut: link.Out.BlackedOut - linkBefore.Out.BlackedOut,
				droppedIn:  link.In.BlackedOut - linkBefore.In.BlackedOut,
			}
		})
	}
	return cut, done
}

// statsMinus subtracts counter by counter; every field of tcp.ConnStats
// is a count.
func statsMinus(a, b tcp.ConnStats) tcp.ConnStats {
	var d tcp.ConnStats
	va, vb, vd := reflect.ValueOf(a), reflect.ValueOf(b), reflect.ValueOf(&d).Elem()
	for i := range vd.NumField() {
		vd.Field(i).SetUint(va.Field(i).Uint() - vb.Field(i).Uint())
	}
	return d
}

// backoffBound is the most retransmission timeouts that can fire in a
// silence of length d when the RTO is at least minRTO and doubles at every
// expiry (RFC 6298 §5.5): the first may fire at once, the k-th no sooner
// than (2 + 4 + ... + 2^(k-1)) * minRTO = (2^k - 2) * minRTO later.
func backoffBound(d, minRTO time.Duration) int {
	k := 1
	for time.Duration(1<<(k+1)-2)*minRTO <= d {
		k++
	}
	return k
}

// kernelSNMP holds counters of the kernel's "Tcp:" lines in /proc/net/snmp.
type kernelSNMP map[string]uint64

func (a kernelSNMP) minus(b kernelSNMP) kernelSNMP {
	d := kernelSNMP{}
	for k, v := range a {
		d[k] = v - b[k]
	}
	return d
}

// kernelTCP reads the kernel's TCP counters in the host's namespace.
func (h *lossyHost) kernelTCP(t *testing.T) kernelSNMP {
	t.Helper()
	s := h.readKernelTCP()
	require.NotNil(t, s, "reading /proc/net/snmp in the namespace")
	return s
}

// readKernelTCP is kernelTCP for goroutines other than the test's: nil if
// the counters cannot be read. /proc/thread-self/net is the namespace of
// the reading thread, which ns.Do has locked and moved.
func (h *lossyHost) readKernelTCP() kernelSNMP {
	var raw []byte
	if err := h.ns.Do(func() error {
		var err error
		raw, err = os.ReadFile("/proc/thread-self/net/snmp")
		return err
	}); err != nil {
		return nil
	}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = fields[1:]
			continue
		}
		s := kernelSNMP{}
		for i, v := range fields[1:] {
			if i < len(names) {
				s[names[i]], _ = strconv.ParseUint(v, 10, 64) // MaxConn is -1
			}
		}
		return s
	}
	return nil
}

// linkLine sums up the impairment counters for the log.
func linkLine(s tun.ImpairStats) string {
	one := func(c tun.ImpairCounters) string {
		var parts []string
		for _, f := range []struct {
			name string
			n    uint64
		}{
			{"passed", c.Passed}, {"dropped", c.Dropped}, {"corrupted", c.Corrupted},
			{"duplicated", c.Duplicated}, {"reordered", c.Reordered}, {"queued", c.RateQueued},
			{"tail-dropped", c.RateDropped}, {"blacked-out", c.BlackedOut},
		} {
			if f.n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", f.name, f.n))
			}
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprintf("out [%s] in [%s]", one(s.Out), one(s.In))
}

package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tinytcp/stack"
	"tinytcp/tcp"
	"tinytcp/tun"
)

// Error control against the kernel: bulk transfers between tinytcp and the
// Linux kernel through a link that drops, corrupts, duplicates, reorders,
// delays or rate-limits packets, or goes dark for two seconds. The
// impairment layer (tun.Impair) sits between tinytcp's stack and the TUN
// device and acts on both directions, with a fixed seed per case. A
// download is tinytcp sending the i mod 251 pattern to a kernel socket that
// checks every byte; an upload is a kernel socket sending seeded random
// bytes that tinytcp reads and hashes (SHA-256). Every transfer must end
// with identical bytes, and every case asserts that its impairment really
// happened and had the effect it must have (checksum drops, retransmissions,
// a measured RTT, a bounded rate, a bounded number of timeouts in the dark).
//
// One suite, two sizes:
//
//   - `make test` and `make lossy` (TINYTCP_LOSSY=full go test -race -run
//     TestLossy) run the whole matrix, on its own after the other tests:
//     20 MB each way at 1%, 5% and 15% drop, 2% corruption, 5%
//     duplication, 5% reordering, 50 ms added delay, a 20 Mbit/s rate limit
//     with its queue, and a 2-second blackout in the middle of each
//     transfer.
//   - A plain `go test ./tests/e2e` runs the representative subset marked
//     below: 2 MB each way at 5% drop, 2% corruption, 5% duplication and 5%
//     reordering, and a 2 MB download with a 2-second blackout in the
//     middle.
//
// With -race on two cores the subset takes about 6 s alone; the full matrix
// takes 3 to 4 minutes, half of it the download at 15% drop (about 2
// minutes with SACK-based recovery; with go-back-N after a timeout it had
// moved 13 of its 20 MB when its 20-minute budget ran out).
//
// Every transfer has a deadline, so a stuck one fails with how far it got
// instead of hanging. Each logs one line: its time, tinytcp's
// retransmitted segments, fast retransmits and timeouts, the kernel's
// retransmitted segments (RetransSegs) and what the link did.

// lossyEnv names the environment variable that selects the full matrix.
const lossyEnv = "TINYTCP_LOSSY"

// blackoutFor is how long the link stays dark in the blackout case.
const blackoutFor = 2 * time.Second

// The size of one transfer in each mode, and the longest it may take before
// it fails. The budgets are guards against a stuck transfer, not paces.
const (
	subsetSize   = 2_000_000
	subsetBudget = 2 * time.Minute
	fullSize     = 20_000_000
	fullBudget   = 20 * time.Minute
)

// lossyCase is one link and the checks that prove it did what it says.
type lossyCase struct {
	name     string
	link     tun.ImpairConfig
	subset   []string // transfers `make test` runs: "download", "upload"
	blackout bool     // cut the link for blackoutFor in the middle of each transfer
	// check runs after the transfers, with their results by name.
	check func(t *testing.T, h *lossyHost, runs map[string]lossyTransfer)
}

var lossyCases = []lossyCase{
	{name: "drop 1%", link: tun.ImpairConfig{DropChance: 1, Seed: 101}, check: checkDrops},
	{name: "drop 5%", link: tun.ImpairConfig{DropChance: 5, Seed: 105}, check: checkDrops, subset: bothWays},
	{name: "drop 15%", link: tun.ImpairConfig{DropChance: 15, Seed: 115}, check: checkDrops},
	{name: "corrupt 2%", link: tun.ImpairConfig{CorruptChance: 2, Seed: 202}, check: checkCorruption, subset: bothWays},
	{
		name: "duplicate 5%", link: tun.ImpairConfig{DupChance: 5, Seed: 305}, subset: bothWays,
		check: func(t *testing.T, h *lossyHost, _ map[string]lossyTransfer) {
			s := h.link.Stats()
			assert.Positive(t, s.Out.Duplicated, "packets duplicated on the way to the kernel")
			assert.Positive(t, s.In.Duplicated, "packets duplicated on the way to tinytcp")
		},
	},
	{
		name: "reorder 5%", link: tun.ImpairConfig{ReorderChance: 5, Seed: 405}, subset: bothWays,
		check: func(t *testing.T, h *lossyHost, _ map[string]lossyTransfer) {
			s := h.link.Stats()
			assert.Positive(t, s.Out.Reordered, "packets reordered on the way to the kernel")
			assert.Positive(t, s.In.Reordered, "packets reordered on the way to tinytcp")
		},
	},
	{
		name: "delay 50ms", link: tun.ImpairConfig{Delay: 50 * time.Millisecond, Seed: 505},
		check: func(t *testing.T, h *lossyHost, runs map[string]lossyTransfer) {
			// 50 ms each way: no round trip is shorter than 100 ms.
			assert.GreaterOrEqual(t, runs["download"].info.SRTT, 100*time.Millisecond, "tinytcp's SRTT")
		},
	},
	{
		name: "rate 20 Mbit/s", link: tun.ImpairConfig{Rate: 20_000_000 / 8, Seed: 606},
		check: func(t *testing.T, h *lossyHost, runs map[string]lossyTransfer) {
			for name, r := range runs {
				// Headers cross the link too, so the payload alone sets a
				// lower bound on the time.
				floor := time.Duration(lossySize()) * time.Second / (20_000_000 / 8)
				assert.GreaterOrEqual(t, r.elapsed, floor, "%s faster than the link", name)
			}
			s := h.link.Stats()
			assert.Positive(t, s.Out.RateQueued, "tinytcp's data queued for the link")
			assert.Positive(t, s.In.RateQueued, "the kernel's data queued for the link")
		},
	},
	{
		name: "blackout 2s", link: tun.ImpairConfig{Seed: 707}, blackout: true, subset: []string{"download"},
		check: checkBlackout,
	},
}

var bothWays = []string{"download", "upload"}

// lossyFull reports whether the full matrix was asked for.
func lossyFull() bool { return os.Getenv(lossyEnv) == "full" }

func lossySize() int {
	if lossyFull() {
		return fullSize
	}
	return subsetSize
}

func TestLossy(t *testing.T) {
	t.Parallel()
	budget := subsetBudget
	if lossyFull() {
		budget = fullBudget
	}
	for i, tc := range lossyCases {
		transfers := tc.subset
		if lossyFull() {
			transfers = bothWays
		}
		if len(transfers) == 0 {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := openLossyHost(t, tc.link)
			runs := map[string]lossyTransfer{}
			for _, name := range transfers {
				deadline := time.Now().Add(budget)
				if d, ok := t.Deadline(); ok && d.Before(deadline) {
					deadline = d.Add(-5 * time.Second) // fail with figures, not a panic
				}
				var cut func(*stack.Conn)
				var black <-chan blackoutResult
				if tc.blackout {
					cut, black = h.blackout(t, blackoutFor)
				}
				var r lossyTransfer
				if name == "download" {
					r = h.download(t, lossySize(), deadline, cut)
				} else {
					r = h.upload(t, lossySize(), uint64(i), deadline, cut)
				}
				if black != nil {
					select {
					case b := <-black:
						r.black = &b
					case <-time.After(10 * time.Second):
						t.Fatal("the transfer ended but the link never came back")
					}
				}
				runs[name] = r
				logTransfer(t, tc.name, name, r)
			}
			t.Logf("%s: link %s", tc.name, linkLine(h.link.Stats()))
			tc.check(t, h, runs)
		})
	}
}

// logTransfer writes the line the report table is made of.
func logTransfer(t *testing.T, lossCase, name string, r lossyTransfer) {
	t.Helper()
	s := r.info.Stats
	line := fmt.Sprintf("LOSSY %-15s %-8s %8.2fs  tinytcp: retrans %d (fast %d, TLP %d, spurious %d), timeouts %d  kernel: retrans %d",
		lossCase, name, r.elapsed.Seconds(), s.Retransmits, s.FastRetransmits, s.TailLossProbes, s.SpuriousRetransmits, s.Timeouts, r.kernel["RetransSegs"])
	if b := r.black; b != nil {
		line += fmt.Sprintf("  in the dark: tinytcp retrans %d (TLP %d), timeouts %d (RTO %v before); kernel retrans %d",
			b.tiny.Retransmits, b.tiny.TailLossProbes, b.tiny.Timeouts, b.rto, b.kernel["RetransSegs"])
	}
	t.Log(line)
}

// checkDrops: packets were lost both ways, and the side that sent the data
// retransmitted.
func checkDrops(t *testing.T, h *lossyHost, runs map[string]lossyTransfer) {
	s := h.link.Stats()
	assert.Positive(t, s.Out.Dropped, "packets dropped on the way to the kernel")
	assert.Positive(t, s.In.Dropped, "packets dropped on the way to tinytcp")
	if r, ok := runs["download"]; ok {
		assert.Positive(t, r.info.Stats.Retransmits, "tinytcp retransmitted what was lost")
	}
	if r, ok := runs["upload"]; ok {
		assert.Positive(t, r.kernel["RetransSegs"], "the kernel retransmitted what was lost")
	}
}

// checkCorruption: corrupted packets reached both ends, both ends' TCP
// checksums caught them (MUST-2, MUST-3), and every corrupted packet that
// reached tinytcp was dropped and counted, none taken for a segment.
func checkCorruption(t *testing.T, h *lossyHost, runs map[string]lossyTransfer) {
	s := h.link.Stats()
	require.Positive(t, s.Out.Corrupted, "packets corrupted on the way to the kernel")
	require.Positive(t, s.In.Corrupted, "packets corrupted on the way to tinytcp")
	assert.Positive(t, h.stack.Counters.Get("drop.tcp_bad_checksum"), "tinytcp's checksum caught a corrupted segment")
	// A corrupted byte in the IP header is caught by the IP header checksum
	// or its sanity checks; one in the TCP part by the TCP checksum. Either
	// way it is counted as a drop with its reason.
	drops := func() uint64 {
		var n uint64
		for name, v := range h.stack.Counters.Snapshot() {
			if strings.HasPrefix(name, "drop.") {
				n += v
			}
		}
		return n
	}
	assert.Eventually(t, func() bool { return drops() == h.link.Stats().In.Corrupted }, 10*time.Second, 10*time.Millisecond,
		"tinytcp dropped %d packets, the link corrupted %d on their way to it (%v)", drops(), h.link.Stats().In.Corrupted, h.stack.Counters.Snapshot())
	var kernelCsum uint64
	for _, r := range runs {
		kernelCsum += r.kernel["InCsumErrors"]
	}
	assert.Positive(t, kernelCsum, "the kernel's TCP checksum caught a corrupted segment (TcpInCsumErrors)")
}

// checkBlackout: the connection survived two seconds of silence (the
// transfer completed), and in the dark tinytcp backed its timer off instead
// of storming. It may send no more than one tail loss probe (RFC 8985 §7:
// one probe, then the RTO), no more timeouts than an RTO of at least
// tcp.MinRTO doubling at every expiry allows (RFC 6298 §5.5), and no more
// retransmitted segments than those two together: one per timeout, the loss
// window of RFC 5681 §3.1, and the probe.
func checkBlackout(t *testing.T, h *lossyHost, runs map[string]lossyTransfer) {
	// Half a second of slack: the counters are read when the timer that
	// mends the link fires, which a loaded machine may run late.
	bound := uint64(backoffBound(blackoutFor+500*time.Millisecond, tcp.MinRTO))
	for name, r := range runs {
		require.NotNil(t, r.black, "%s: the link never went dark", name)
		b := r.black
		assert.Positive(t, b.droppedOut+b.droppedIn, "%s: the blackout swallowed packets", name)
		assert.LessOrEqual(t, b.tiny.TailLossProbes, uint64(1), "%s: tinytcp's tail loss probes in %v of silence", name, blackoutFor)
		assert.LessOrEqual(t, b.tiny.Timeouts, bound, "%s: tinytcp's timeouts in %v of silence", name, blackoutFor)
		assert.LessOrEqual(t, b.tiny.Retransmits, bound+1, "%s: tinytcp's retransmitted segments in %v of silence", name, blackoutFor)
		if name == "download" {
			assert.Positive(t, b.tiny.Timeouts, "tinytcp had data in flight and heard nothing: its timer must fire")
		}
	}
}

// Package bench measures tinytcp's goodput beside gVisor's netstack on the
// same impaired link, with the Linux kernel as the client. It is a
// benchmark, never a test: speed is reported, never asserted, and
// `make test` only compiles it (TestLossBench skips without -loss).
// `make bench-loss` runs it; docs/benchmarks.md shows a table it printed.
//
// One run is one bulk download: in a fresh network namespace (tests/netns)
// a TUN device is created (tun.Open), the impairment layer (tun.Impair,
// seeded, both directions) wraps it, and the stack under test serves N
// bytes of the i mod 251 pattern from it to a kernel socket in the
// namespace, which checks every byte. The impairment is the same layer for
// both stacks: tinytcp's stack reads and writes the tun.Impair directly;
// gVisor's stack sits on a link/channel endpoint, and two goroutines pump
// packets between that endpoint and the same kind of tun.Impair. Profiles
// run in turn; within a profile the two stacks alternate (tinytcp, gVisor,
// then gVisor, tinytcp, ...) for R repetitions, each repetition with its
// own seed shared by both stacks, and the table shows medians.
//
// This file lists the impairment profiles; servers.go and gvisor.go start
// the stacks, download.go runs one download, report.go makes the table.
//
// `make bench` (TestPerfBench, -perf) is the second benchmark here: the
// same workloads (bulk transfers, request/response, connection rate, idle
// connections, HTTP through curl) against tinytcp, gVisor on its own
// fdbased link, and the kernel over loopback, plus the raw TUN packet
// rate; perf_stacks.go starts the servers, workloads.go, workloads_conn.go
// and idle.go run the workloads, tunrate.go measures the device,
// perf_report.go makes the table.
package bench

import (
	"time"

	"tinytcp/tun"
)

// Profile is one impaired link: a name for the table and the settings of
// tun.Impair (Seed is set per repetition).
type Profile struct {
	Name string
	Link tun.ImpairConfig
}

// RateLimit is the rate of the rate-limited profile, in bytes per second:
// 50 Mbit/s. Its queue is tun.Impair's in-flight FIFO (ImpairQueueLimit
// packets, drop-tail).
const RateLimit = 50_000_000 / 8

// Profiles are the links of the "Error control" issue, the clean link
// first. Chances apply to each direction independently.
func Profiles() []Profile {
	return []Profile{
		{"clean", tun.ImpairConfig{}},
		{"drop 1%", tun.ImpairConfig{DropChance: 1}},
		{"drop 5%", tun.ImpairConfig{DropChance: 5}},
		{"drop 15%", tun.ImpairConfig{DropChance: 15}},
		{"corrupt 2%", tun.ImpairConfig{CorruptChance: 2}},
		{"duplicate 5%", tun.ImpairConfig{DupChance: 5}},
		{"reorder 5%", tun.ImpairConfig{ReorderChance: 5}},
		{"delay 50ms", tun.ImpairConfig{Delay: 50 * time.Millisecond}},
		{"drop 1% + delay 20ms", tun.ImpairConfig{DropChance: 1, Delay: 20 * time.Millisecond}},
		{"rate 50 Mbit/s", tun.ImpairConfig{Rate: RateLimit}},
	}
}

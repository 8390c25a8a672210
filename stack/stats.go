package stack

import (
	"maps"
	"sync"
)

// Counters are named event counts. TCP and IP counters carry the names of
// gVisor's tcpip.Stats fields ("tcp.SegmentsSent", "ip.PacketsReceived") so
// the two stacks can be compared number for number; packets dropped are
// counted under "drop.<reason>" with the reason named by the layer that
// dropped them (ip.DropReason and the stack's own reasons below).
type Counters struct {
	mu sync.Mutex
	m  map[string]uint64
}

// Drop reasons the stack itself detects.
const (
	dropNotForUs        = "drop.ip_not_for_us"
	dropInvalidSource   = "drop.ip_invalid_source"
	dropFragment        = "drop.ip_fragment"
	dropUnknownProtocol = "drop.ip_unknown_protocol"
	dropTCPMalformed    = "drop.tcp_malformed"
	dropTCPChecksum     = "drop.tcp_bad_checksum"
	dropTCPBadOption    = "tcp.bad_option_ignored"
	dropICMPUnhandled   = "drop.icmp_unhandled_type"
	dropListenOverflow  = "tcp.ListenOverflowSynDrop"
	dropOversized       = "drop.packet_oversized"
	dropTableFull       = "drop.tcp_connection_table_full"
)

func (c *Counters) add(name string, n uint64) {
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string]uint64)
	}
	c.m[name] += n
	c.mu.Unlock()
}

func (c *Counters) inc(name string) { c.add(name, 1) }

// Get returns one counter.
func (c *Counters) Get(name string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[name]
}

// Snapshot returns a copy of every counter.
func (c *Counters) Snapshot() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.m)
}

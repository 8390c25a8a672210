package stack

import (
	"maps"
	"sync"
	"sync/atomic"
)

// Counters are named event counts. TCP and IP counters carry the names of
// gVisor's tcpip.Stats fields ("tcp.SegmentsSent", "ip.PacketsReceived") so
// the two stacks can be compared number for number; packets dropped are
// counted under "drop.<reason>" with the reason named by the layer that
// dropped them (ip.DropReason and the stack's own reasons below).
type Counters struct {
	mu  sync.Mutex
	m   map[string]uint64
	hot [len(hotNames)]atomic.Uint64 // the per-packet counters, lock-free
}

// The counters bumped for every packet live in fixed atomic fields, not in
// the map, so counting a packet takes no lock and no map lookup. They read
// like all the others through Get and Snapshot.
type hotCounter int

const (
	hotPacketsReceived hotCounter = iota
	hotPacketsSent
	hotSegmentsSent
	hotValidSegmentsReceived
)

var hotNames = [...]string{
	hotPacketsReceived:       "ip.PacketsReceived",
	hotPacketsSent:           "ip.PacketsSent",
	hotSegmentsSent:          "tcp.SegmentsSent",
	hotValidSegmentsReceived: "tcp.ValidSegmentsReceived",
}

// incHot counts one event of a per-packet counter.
func (c *Counters) incHot(h hotCounter) { c.hot[h].Add(1) }

// hotIndex finds name among the per-packet counters.
func hotIndex(name string) (hotCounter, bool) {
	for i, n := range hotNames {
		if n == name {
			return hotCounter(i), true
		}
	}
	return 0, false
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
	if h, ok := hotIndex(name); ok {
		c.hot[h].Add(n)
		return
	}
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
	if h, ok := hotIndex(name); ok {
		return c.hot[h].Load()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[name]
}

// Snapshot returns a copy of every counter.
func (c *Counters) Snapshot() map[string]uint64 {
	c.mu.Lock()
	m := maps.Clone(c.m)
	c.mu.Unlock()
	if m == nil {
		m = make(map[string]uint64)
	}
	for i := range c.hot {
		if v := c.hot[i].Load(); v > 0 {
			m[hotNames[i]] = v
		}
	}
	return m
}

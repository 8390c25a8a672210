package stack

import (
	"cmp"
	"net/netip"
	"slices"

	"tinytcp/tcp"
)

// The connection table as a list, for the instruments (`tinytcp ss`, the
// metrics server): every connection in the table with its 4-tuple and a
// snapshot of its TCB, and every listener with its backlog, as `ss -tan`
// shows a kernel's sockets. The snapshot is taken under the stack's lock in
// one pass, so it is consistent: no connection is seen twice or half
// updated.

// ConnInfo describes one entry of the connection table: a connection, or a
// listener (State LISTEN).
type ConnInfo struct {
	// ID is the 4-tuple; a listener's Remote is the unspecified address
	// and port 0 (ss prints 0.0.0.0:*).
	ID tcp.ID
	// Info is the TCB (tcp.Info); a listener's has only State, LISTEN.
	Info tcp.Info
	// A listener's queue, as ss -l shows it (Recv-Q: Queued, Send-Q:
	// Backlog): Backlog bounds Pending (connections in SYN-RECEIVED)
	// plus Queued (established, waiting for Accept). Zero for a
	// connection.
	Backlog, Pending, Queued int
}

// Listening reports whether the entry is a listener.
func (ci ConnInfo) Listening() bool { return ci.Info.State == tcp.StateListen }

// Connections returns the listeners and the connections of the table (every
// state, TIME-WAIT included), listeners first, each group sorted by local
// then remote address and port.
func (s *Stack) Connections() []ConnInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ConnInfo, 0, len(s.listeners)+len(s.conns))
	for port, l := range s.listeners {
		out = append(out, ConnInfo{
			ID: tcp.ID{
				Local:  netip.AddrPortFrom(s.addr, port),
				Remote: netip.AddrPortFrom(netip.IPv4Unspecified(), 0),
			},
			Info:    tcp.Info{State: tcp.StateListen},
			Backlog: l.backlog,
			Pending: l.pending,
			Queued:  len(l.queue),
		})
	}
	for _, c := range s.conns {
		out = append(out, ConnInfo{ID: c.id(), Info: c.tcb.Info()})
	}
	slices.SortFunc(out, func(a, b ConnInfo) int {
		if a.Listening() != b.Listening() {
			if a.Listening() {
				return -1
			}
			return 1
		}
		return cmp.Or(
			a.ID.Local.Compare(b.ID.Local),
			a.ID.Remote.Compare(b.ID.Remote),
		)
	})
	return out
}

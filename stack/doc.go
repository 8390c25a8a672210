// Package stack joins the pieces: it reads IPv4 packets from a tun.Device,
// answers ICMP echo, demultiplexes TCP segments to connections by their
// 4-tuple, runs the timers, and offers the standard Go API on top:
// Listen returns a net.Listener, Dial a net.Conn, so net/http serves on a
// tinytcp listener unchanged.
//
// # Concurrency model
//
// One mutex, Stack.mu, guards everything protocol-related: the connection
// table, the listeners, every TCB (tcp.Conn) and the timer heap. The TCBs
// themselves are plain sans-I/O state machines (package tcp); the stack is
// the only place that calls them, always with mu held.
//
// Three kinds of goroutine take mu:
//
//   - the reader: one goroutine loops on Device.Read and feeds each packet
//     to the protocol;
//   - the timer: one goroutine sleeps on a single time.Timer set to the
//     earliest deadline in the heap of connection deadlines, and runs the
//     connections' timers when it fires (no timer per connection);
//   - application goroutines calling Read, Write, Close, Dial, Accept.
//
// While mu is held, segments a TCB sends are built into packets and queued.
// Whoever holds mu flushes the queue on the way out, handing the lock over
// to txMu first (lock txMu, take the queue, unlock mu, write, unlock txMu),
// so packets reach the device in the order they were produced and no device
// write happens under mu. Blocked application calls wait on per-connection
// notification channels (capacity one, signalled without blocking) and on
// deadline channels, never on timers or polling. The channels are made when
// a call first has to wait, so an idle connection that nobody waits on
// holds no channel, no timer and no goroutine (conn.go).
//
// Nothing here sleeps to synchronise. Stack.Close stops both goroutines and
// waits for them.
package stack

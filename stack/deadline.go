package stack

import (
	"sync"
	"time"
)

// deadline is one direction's deadline of a net.Conn, done the way Go's
// net.Pipe does it: a timer that closes a channel when the deadline passes,
// so a blocked call can select on it. Setting a new deadline replaces the
// channel if the old one had fired. The zero value is a deadline not set;
// its channel is made only when a deadline is set or a call waits (wait),
// so a connection nobody waits on costs no channel and no timer.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{} // closed when the deadline passes; nil until needed
}

// set arms the deadline for t; the zero time means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the old timer fired (or is firing): wait until it closed cancel
	}
	d.timer = nil
	if d.cancel != nil && isClosed(d.cancel) {
		d.cancel = nil // passed: a new deadline starts with a fresh channel
	}
	if t.IsZero() {
		return
	}
	if d.cancel == nil {
		d.cancel = make(chan struct{})
	}
	if dur := time.Until(t); dur > 0 {
		cancel := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(cancel) })
		return
	}
	close(d.cancel)
}

// passed reports whether the deadline has passed.
func (d *deadline) passed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel != nil && isClosed(d.cancel)
}

// wait returns a channel that is closed when the deadline has passed, for
// a call about to block.
func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancel == nil {
		d.cancel = make(chan struct{})
	}
	return d.cancel
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

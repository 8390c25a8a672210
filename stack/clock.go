package stack

import (
	"sync"
	"time"
)

// Clock is where a stack reads the time. The zero Config uses the wall
// clock; tests and the conformance harness use a ManualClock, on which a
// retransmission backoff of a minute passes in microseconds.
type Clock interface {
	Now() time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// ManualClock is a Clock that moves only when told to. A stack created with
// one starts no timer goroutine; Advance fires its timers instead, one
// deadline at a time and in order, so what a stack does under a
// ManualClock is fully determined by its inputs.
type ManualClock struct {
	mu     sync.Mutex
	now    time.Time
	stacks []*Stack
}

// NewManualClock returns a clock standing at start.
func NewManualClock(start time.Time) *ManualClock { return &ManualClock{now: start} }

// Now returns the clock's time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *ManualClock) attach(s *Stack) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stacks = append(c.stacks, s)
}

// NextDeadline returns the earliest timer deadline of the stacks on this
// clock, or the zero time if none is pending.
func (c *ManualClock) NextDeadline() time.Time {
	c.mu.Lock()
	stacks := append([]*Stack(nil), c.stacks...)
	c.mu.Unlock()
	var next time.Time
	for _, s := range stacks {
		if d := s.nextDeadline(); !d.IsZero() && (next.IsZero() || d.Before(next)) {
			next = d
		}
	}
	return next
}

// Advance moves the clock forward by d, stopping at every timer deadline
// on the way to fire it.
func (c *ManualClock) Advance(d time.Duration) {
	target := c.Now().Add(d)
	for {
		next := c.NextDeadline()
		if next.IsZero() || next.After(target) {
			break
		}
		c.set(next)
		c.mu.Lock()
		stacks := append([]*Stack(nil), c.stacks...)
		c.mu.Unlock()
		for _, s := range stacks {
			s.fireTimers(next)
		}
	}
	c.set(target)
}

func (c *ManualClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}

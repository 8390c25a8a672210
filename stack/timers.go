package stack

import (
	"container/heap"
	"time"
)

// One heap of connection deadlines for the whole stack and one goroutine
// with one time.Timer that sleeps until the earliest of them.
//
// The timer goroutine is woken (timerKick) only when a deadline comes
// before the time it already sleeps until (Stack.timerAt). A deadline that
// moves later, or goes away, wakes nobody: the goroutine wakes at the old
// time, finds nothing due and sleeps again until the new earliest one.
// Most changes are of that kind: a connection exchanging small segments
// arms the delayed-ACK timer for every segment it receives and trades it
// for the retransmission timer when it answers, and waking the timer
// goroutine for each would cost a goroutine switch and a turn of the lock
// per segment, for nothing.

// timerHeap orders connections by their next deadline.
type timerHeap []*Conn

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIndex = int32(i)
	h[j].heapIndex = int32(j)
}
func (h *timerHeap) Push(x any) {
	c := x.(*Conn)
	c.heapIndex = int32(len(*h))
	*h = append(*h, c)
}
func (h *timerHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	c.heapIndex = -1
	return c
}

// schedule puts c in the heap at its TCB's next deadline, or takes it out
// if it has none. Called with mu held.
func (s *Stack) schedule(c *Conn) {
	d := c.tcb.NextDeadline()
	switch {
	case d.IsZero() && c.heapIndex >= 0:
		s.timersRemove(c)
	case d.IsZero():
	case c.heapIndex >= 0:
		if d.Equal(c.deadline) {
			return
		}
		c.deadline = d
		heap.Fix(&s.timers, int(c.heapIndex))
	default:
		c.deadline = d
		heap.Push(&s.timers, c)
	}
	if c.heapIndex == 0 && (s.timerAt.IsZero() || c.deadline.Before(s.timerAt)) {
		s.timerAt = c.deadline
		select {
		case s.timerKick <- struct{}{}:
		default:
		}
	}
}

// timerLoop fires connection timers as they fall due, on the wall clock.
// (A stack on a ManualClock has no timer goroutine: the clock's Advance
// calls fireTimers.)
func (s *Stack) timerLoop() {
	defer s.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		case <-s.timerKick:
		}
		next := s.fireTimers(s.now())
		wait := time.Hour
		if !next.IsZero() {
			wait = next.Sub(s.now())
		}
		t.Reset(wait)
	}
}

// fireTimers runs every connection timer due at now and returns when the
// timer goroutine should look again, or the zero time if no timer is
// pending.
func (s *Stack) fireTimers(now time.Time) time.Time {
	s.mu.Lock()
	for len(s.timers) > 0 && !s.timers[0].deadline.After(now) {
		c := heap.Pop(&s.timers).(*Conn)
		c.tcb.OnTimer(now)
		s.settle(c)
	}
	var next time.Time
	if len(s.timers) > 0 {
		next = s.timers[0].deadline
	}
	// The caller sleeps until timerAt. It moves later only once reached: a
	// kick for a deadline that has moved later since (a delayed ACK that
	// went out with data) keeps its wake-up, or deadlines that take turns
	// (delayed ACK, retransmission) would kick at every other segment. An
	// earlier deadline scheduled between here and the caller's Reset leaves
	// a kick in the channel, so it is not missed.
	if !s.timerAt.After(now) || (!next.IsZero() && next.Before(s.timerAt)) {
		s.timerAt = next
	}
	wake := s.timerAt
	s.unlock()
	return wake
}

// nextDeadline returns the earliest pending timer deadline, or the zero
// time.
func (s *Stack) nextDeadline() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.timers) == 0 {
		return time.Time{}
	}
	return s.timers[0].deadline
}

func (s *Stack) timersRemove(c *Conn) { heap.Remove(&s.timers, int(c.heapIndex)) }

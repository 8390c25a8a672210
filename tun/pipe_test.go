package tun

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPipeNamesAndMTU(t *testing.T) {
	tests := []struct {
		mtu, want int
	}{
		{1400, 1400},
		{0, DefaultMTU},
		{-1, DefaultMTU},
	}
	for _, tt := range tests {
		a, b := Pipe(tt.mtu)
		assert.Equal(t, "pipe-a", a.Name())
		assert.Equal(t, "pipe-b", b.Name())
		assert.Equal(t, tt.want, a.MTU())
		assert.Equal(t, tt.want, b.MTU())
	}
}

func TestPipeCarriesCopiesBothWays(t *testing.T) {
	a, b := Pipe(1500)
	defer a.Close()
	tests := []struct {
		name     string
		from, to Device
	}{
		{"a to b", a, b},
		{"b to a", b, a},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := numbered(1, 100)
			want := append([]byte(nil), p...)
			n, err := tt.from.Write(p)
			require.NoError(t, err)
			assert.Equal(t, len(p), n)
			p[10] ^= 0xff // the pipe must have copied p

			buf := make([]byte, 1500)
			n, err = tt.to.Read(buf)
			require.NoError(t, err)
			assert.Equal(t, want, buf[:n])
		})
	}
}

func TestPipeKeepsOrderAndDropsWhenFull(t *testing.T) {
	a, b := Pipe(1500)
	defer a.Close()
	for i := range PipeQueueLen + 10 {
		n, err := a.Write(numbered(i, 64))
		require.NoError(t, err, "a full pipe drops, it does not fail")
		require.Equal(t, 64, n)
	}
	_, err := a.Write(numbered(-1, 64)) // dropped too: the queue is still full
	require.NoError(t, err)

	buf := make([]byte, 1500)
	for i := range PipeQueueLen {
		n, err := b.Read(buf)
		require.NoError(t, err)
		require.Equal(t, i, number(buf[:n]), "packet %d out of order", i)
	}
	// The queue is empty now: the next packet read is the next one written,
	// so the 11 written while it was full are gone.
	_, err = a.Write(numbered(99999, 64))
	require.NoError(t, err)
	n, err := b.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, 99999, number(buf[:n]))
}

func TestPipeReadTruncates(t *testing.T) {
	a, b := Pipe(1500)
	defer a.Close()
	_, err := a.Write(numbered(5, 300))
	require.NoError(t, err)
	buf := make([]byte, 10)
	n, err := b.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, 10, n)
	assert.Equal(t, numbered(5, 300)[:10], buf)
}

func TestPipeCloseEndsBothEnds(t *testing.T) {
	tests := []struct {
		name  string
		close func(a, b Device) error
	}{
		{"close a", func(a, b Device) error { return a.Close() }},
		{"close b", func(a, b Device) error { return b.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := Pipe(1500)
			_, err := a.Write(numbered(1, 20)) // queued packets are discarded
			require.NoError(t, err)

			errs := make(chan error, 2)
			var blocked sync.WaitGroup
			for _, d := range []Device{a, b} {
				blocked.Add(1)
				go func() {
					defer blocked.Done()
					for { // drain until Close
						if _, err := d.Read(make([]byte, 100)); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			require.NoError(t, tt.close(a, b))
			blocked.Wait()
			close(errs)
			for err := range errs {
				assert.ErrorIs(t, err, ErrClosed)
			}
			for _, d := range []Device{a, b} {
				_, err := d.Read(make([]byte, 100))
				assert.ErrorIs(t, err, ErrClosed, "Read on %s", d.Name())
				_, err = d.Write(numbered(2, 20))
				assert.ErrorIs(t, err, ErrClosed, "Write on %s", d.Name())
			}
		})
	}
}

func TestPipeCloseTwice(t *testing.T) {
	a, b := Pipe(1500)
	require.NoError(t, a.Close())
	assert.ErrorIs(t, a.Close(), ErrClosed, "the same end twice")
	assert.NoError(t, b.Close(), "the other end, once")
}

func TestPipeDoesNotAllocateInSteadyState(t *testing.T) {
	a, b := Pipe(1500)
	defer a.Close()
	p := numbered(1, 1500)
	buf := make([]byte, 1500)
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = a.Write(p)
		_, _ = b.Read(buf)
	})
	assert.Zero(t, allocs)
}

func TestPipeConcurrentWritersAndReaders(t *testing.T) {
	const writers, perWriter = 4, 200 // 800 < PipeQueueLen: nothing drops
	a, b := Pipe(1500)
	defer a.Close()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				_, _ = a.Write(numbered(w*perWriter+i, 32))
			}
		}()
	}
	seen := make(chan int, writers*perWriter)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64)
			for {
				n, err := b.Read(buf)
				if err != nil {
					return
				}
				seen <- number(buf[:n])
			}
		}()
	}
	got := make(map[int]bool)
	for range writers * perWriter {
		got[<-seen] = true
	}
	require.NoError(t, a.Close())
	wg.Wait()
	assert.Len(t, got, writers*perWriter, "every packet exactly once")
}

func TestPipeTryReadNeverWaits(t *testing.T) {
	a, b := Pipe(1500)
	defer a.Close()
	buf := make([]byte, 1500)
	n, ok, err := b.(TryReader).TryRead(buf)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Zero(t, n)
	_, err = a.Write([]byte("one"))
	require.NoError(t, err)
	n, ok, err = b.(TryReader).TryRead(buf)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "one", string(buf[:n]))
	a.Close()
	_, _, err = b.(TryReader).TryRead(buf)
	assert.ErrorIs(t, err, ErrClosed)
}

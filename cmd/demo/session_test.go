package demo

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSessionStoreCountsAndEvicts(t *testing.T) {
	s := NewSessionStore(2)
	n, a, err := s.Visit("")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Len(t, a, 32)
	n, got, err := s.Visit(a)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, a, got)

	_, b, _ := s.Visit("unknown")
	assert.NotEqual(t, a, b)
	_, _, _ = s.Visit("")
	assert.Equal(t, 2, s.Len(), "bounded")
	n, got, _ = s.Visit(a)
	assert.Equal(t, 1, n, "the oldest session was evicted")
	assert.NotEqual(t, a, got)
}

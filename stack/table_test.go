package stack_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tinytcp/tcp"
)

func TestConnectionsListsListenersAndBothEnds(t *testing.T) {
	a, b := stackPair(t)
	l, err := b.ListenWith(8000, 7, nil)
	require.NoError(t, err)
	defer l.Close()
	dialed, accepted := connPair(t, a, b, 9000)
	defer dialed.Close()
	defer accepted.Close()

	table := b.Connections()
	require.Len(t, table, 2, "the listener on 8000 and the accepted connection (connPair's listener is closed)")
	lst := table[0]
	assert.True(t, lst.Listening())
	assert.Equal(t, "10.0.0.2:8000", lst.ID.Local.String())
	assert.Equal(t, 7, lst.Backlog)
	assert.Zero(t, lst.Pending+lst.Queued)

	conn := table[1]
	assert.Equal(t, tcp.StateEstablished, conn.Info.State)
	assert.Equal(t, accepted.LocalAddr().String(), conn.ID.Local.String())
	assert.Equal(t, accepted.RemoteAddr().String(), conn.ID.Remote.String())

	// The other end sees the same 4-tuple the other way round.
	other := a.Connections()
	require.Len(t, other, 1)
	assert.Equal(t, conn.ID.Local, other[0].ID.Remote)
	assert.Equal(t, conn.ID.Remote, other[0].ID.Local)
	assert.Equal(t, conn.Info.IRS, other[0].Info.ISS)
}

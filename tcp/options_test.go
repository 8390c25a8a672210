package tcp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Option bytes as Linux 6.x sends them.
var (
	// SYN: mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7.
	linuxSYNOptions = []byte{
		2, 4, 0x05, 0xb4,
		4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0,
		1, 3, 3, 7,
	}
	// SYN with net.ipv4.tcp_timestamps=0: mss 1460,nop,nop,sackOK,nop,wscale 7.
	linuxSYNNoTSOptions = []byte{2, 4, 0x05, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7}
	// ACK: nop,nop,TS val 5 ecr 4,nop,nop,sack 1 {100:200}.
	linuxACKSACKOptions = []byte{
		1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 4,
		1, 1, 5, 10, 0, 0, 0, 100, 0, 0, 0, 200,
	}
)

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want Options
	}{
		{"none", nil, Options{}},
		{"linux SYN", linuxSYNOptions, Options{MSS: 1460, SACKPermitted: true, HasTimestamps: true, TSVal: 1, HasWindowScale: true, WindowScale: 7}},
		{"linux SYN without timestamps", linuxSYNNoTSOptions, Options{MSS: 1460, SACKPermitted: true, HasWindowScale: true, WindowScale: 7}},
		{"linux ACK with SACK", linuxACKSACKOptions, Options{HasTimestamps: true, TSVal: 5, TSEcr: 4, NumSACK: 1, SACK: [4]SACKBlock{{100, 200}}}},
		{"MSS", []byte{2, 4, 0xff, 0xff}, Options{MSS: 65535}},
		{"MSS at an odd offset (MUST-64)", []byte{1, 2, 4, 0x02, 0x18, 0}, Options{MSS: 536}},
		{"window scale 0", []byte{3, 3, 0}, Options{HasWindowScale: true}},
		{"window scale 14", []byte{3, 3, 14}, Options{HasWindowScale: true, WindowScale: 14}},
		{"window scale 15 clamped to 14", []byte{3, 3, 15}, Options{HasWindowScale: true, WindowScale: 14}},
		{"window scale 255 clamped to 14", []byte{3, 3, 255}, Options{HasWindowScale: true, WindowScale: 14}},
		{"SACK-permitted", []byte{4, 2}, Options{SACKPermitted: true}},
		{"timestamps", []byte{8, 10, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 9}, Options{HasTimestamps: true, TSVal: 0xdeadbeef, TSEcr: 9}},
		{"SACK with 4 blocks", []byte{5, 34, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6, 0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 0x10},
			Options{NumSACK: 4, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {0xfffffff0, 0x10}}}},
		{"EOL stops parsing", []byte{2, 4, 1, 0, 0, 3, 3, 9, 0xff}, Options{MSS: 256}},
		{"EOL first", []byte{0, 2, 4, 1, 0}, Options{}},
		{"NOPs only", []byte{1, 1, 1, 1}, Options{}},
		{"unknown kind skipped (MUST-6)", []byte{30, 6, 1, 2, 3, 4, 2, 4, 1, 0}, Options{MSS: 256}},
		{"unknown kind of length 2 skipped", []byte{253, 2, 4, 2}, Options{SACKPermitted: true}},
		{"unknown kind filling the rest", []byte{4, 2, 99, 4, 0, 0}, Options{SACKPermitted: true}},
		{"last MSS wins", []byte{2, 4, 0, 1, 2, 4, 0, 2}, Options{MSS: 2}},
		{"second SACK replaces the first", []byte{5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 5, 10, 0, 0, 0, 7, 0, 0, 0, 8},
			Options{NumSACK: 1, SACK: [4]SACKBlock{{7, 8}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Options{MSS: 9999, NumSACK: 2} // must be reset
			require.NoError(t, ParseOptions(tt.in, &got))
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseOptionsRejects(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error   // ErrOptionTruncated or ErrOptionLength
		kept Options // what was parsed before the bad option
	}{
		{"length 0 (MUST-7)", []byte{2, 4, 1, 0, 30, 0, 1, 1}, ErrOptionLength, Options{MSS: 256}},
		{"length 1", []byte{30, 1, 1, 1}, ErrOptionLength, Options{}},
		{"known kind with length 0", []byte{8, 0}, ErrOptionLength, Options{}},
		{"missing length byte", []byte{1, 1, 1, 2}, ErrOptionTruncated, Options{}},
		{"runs past the end", []byte{4, 2, 8, 10, 0, 0, 0, 1}, ErrOptionTruncated, Options{SACKPermitted: true}},
		{"unknown kind runs past the end", []byte{99, 40, 0, 0}, ErrOptionTruncated, Options{}},
		{"MSS length 3", []byte{2, 3, 0, 0}, ErrOptionLength, Options{}},
		{"MSS length 5", []byte{2, 5, 0, 0, 0}, ErrOptionLength, Options{}},
		{"window scale length 2", []byte{3, 2}, ErrOptionLength, Options{}},
		{"window scale length 4", []byte{3, 4, 7, 0}, ErrOptionLength, Options{}},
		{"SACK-permitted length 3", []byte{2, 4, 5, 0xb4, 4, 3, 0}, ErrOptionLength, Options{MSS: 1460}},
		{"timestamps length 9", []byte{3, 3, 2, 8, 9, 0, 0, 0, 0, 0, 0, 0}, ErrOptionLength, Options{HasWindowScale: true, WindowScale: 2}},
		{"timestamps length 11", []byte{8, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0}, ErrOptionLength, Options{}},
		{"SACK with no blocks", []byte{5, 2}, ErrOptionLength, Options{}},
		{"SACK length 9", []byte{5, 9, 0, 0, 0, 0, 0, 0, 0}, ErrOptionLength, Options{}},
		{"SACK length 11", []byte{5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0}, ErrOptionLength, Options{}},
		{"SACK with 5 blocks", append([]byte{5, 42}, make([]byte, 40)...), ErrOptionLength, Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Options
			err := ParseOptions(tt.in, &got)
			require.ErrorIs(t, err, tt.want, "got %v, want %v", err, tt.want)
			require.ErrorIs(t, err, ErrBadOption)
			assert.Equal(t, "tcp_bad_option", DropReason(err))
			assert.Equal(t, tt.kept, got)
		})
	}
}

func TestOptionsMarshalLayout(t *testing.T) {
	blocks := [4]SACKBlock{{100, 200}, {300, 400}, {500, 600}, {700, 800}}
	tests := []struct {
		name string
		in   Options
		want []byte
	}{
		{"none", Options{}, []byte{}},
		{"linux SYN", Options{MSS: 1460, SACKPermitted: true, HasTimestamps: true, TSVal: 1, HasWindowScale: true, WindowScale: 7}, linuxSYNOptions},
		{"linux SYN without timestamps", Options{MSS: 1460, SACKPermitted: true, HasWindowScale: true, WindowScale: 7}, linuxSYNNoTSOptions},
		{"SYN without SACK", Options{MSS: 1460, HasTimestamps: true, TSVal: 1, HasWindowScale: true, WindowScale: 7},
			[]byte{2, 4, 0x05, 0xb4, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7}},
		{"MSS only", Options{MSS: 536}, []byte{2, 4, 0x02, 0x18}},
		{"window scale over 14 written as 14", Options{HasWindowScale: true, WindowScale: 20}, []byte{1, 3, 3, 14}},
		{"linux ACK with SACK", Options{HasTimestamps: true, TSVal: 5, TSEcr: 4, NumSACK: 1, SACK: blocks}, linuxACKSACKOptions},
		{"SACK without timestamps keeps 4 blocks", Options{NumSACK: 4, SACK: blocks}, []byte{
			1, 1, 5, 34, 0, 0, 0, 100, 0, 0, 0, 200, 0, 0, 1, 44, 0, 0, 1, 144, 0, 0, 1, 244, 0, 0, 2, 88, 0, 0, 2, 188, 0, 0, 3, 32}},
		{"SACK with timestamps keeps 3 blocks", Options{HasTimestamps: true, TSVal: 5, TSEcr: 4, NumSACK: 4, SACK: blocks}, []byte{
			1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 4,
			1, 1, 5, 26, 0, 0, 0, 100, 0, 0, 0, 200, 0, 0, 1, 44, 0, 0, 1, 144, 0, 0, 1, 244, 0, 0, 2, 88}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.in.Len()
			assert.Equal(t, len(tt.want), n)
			assert.Zero(t, n%4, "length %d is not a multiple of 4", n)
			assert.LessOrEqual(t, n, MaxOptionsLen)
			b := make([]byte, MaxOptionsLen+8)
			for i := range b {
				b[i] = 0xee
			}
			require.Equal(t, n, tt.in.Marshal(b))
			assert.Equal(t, tt.want, b[:n])
			assert.Equal(t, byte(0xee), b[n], "Marshal wrote past its length")
		})
	}
}

func TestOptionsRoundTrip(t *testing.T) {
	blocks := [4]SACKBlock{{1, 2}, {0xfffffff0, 0x10}, {5, 6}, {7, 8}}
	tests := []struct {
		name string
		in   Options
		want Options // zero means in
	}{
		{"empty", Options{}, Options{}},
		{"everything on a SYN", Options{MSS: 9000, SACKPermitted: true, HasTimestamps: true, TSVal: 0xffffffff, TSEcr: 1, HasWindowScale: true, WindowScale: 14}, Options{}},
		{"window scale 0", Options{HasWindowScale: true}, Options{}},
		{"SACK-permitted alone", Options{SACKPermitted: true}, Options{}},
		{"one SACK block", Options{NumSACK: 1, SACK: [4]SACKBlock{{10, 20}}}, Options{}},
		{"four SACK blocks", Options{NumSACK: 4, SACK: blocks}, Options{}},
		{"three blocks fit next to timestamps", Options{HasTimestamps: true, NumSACK: 4, SACK: blocks},
			Options{HasTimestamps: true, NumSACK: 3, SACK: [4]SACKBlock{blocks[0], blocks[1], blocks[2]}}},
		{"two blocks fit next to MSS, timestamps, window scale",
			Options{MSS: 1, HasTimestamps: true, HasWindowScale: true, WindowScale: 1, NumSACK: 3, SACK: blocks},
			Options{MSS: 1, HasTimestamps: true, HasWindowScale: true, WindowScale: 1, NumSACK: 2, SACK: [4]SACKBlock{blocks[0], blocks[1]}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if want == (Options{}) {
				want = tt.in
			}
			b := make([]byte, tt.in.Len())
			tt.in.Marshal(b)
			var got Options
			require.NoError(t, ParseOptions(b, &got))
			assert.Equal(t, want, got)
		})
	}
}

func TestOptionsString(t *testing.T) {
	tests := []struct {
		in   Options
		want string
	}{
		{Options{}, ""},
		{Options{MSS: 1460, SACKPermitted: true, HasTimestamps: true, TSVal: 1, HasWindowScale: true, WindowScale: 7}, "mss 1460,sackOK,TS val 1 ecr 0,wscale 7"},
		{Options{NumSACK: 1, SACK: [4]SACKBlock{{100, 200}}}, "sack 1 {100:200}"},
		{Options{HasTimestamps: true, TSVal: 5, TSEcr: 4, NumSACK: 2, SACK: [4]SACKBlock{{1, 2}, {3, 4}}}, "TS val 5 ecr 4,sack 2 {1:2}{3:4}"},
		{Options{HasWindowScale: true}, "wscale 0"},
		{Options{NumSACK: 200}, "sack 4 {0:0}{0:0}{0:0}{0:0}"}, // a corrupt count does not panic
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.in.String())
	}
}

func TestOptionsDoNotAllocate(t *testing.T) {
	var o Options
	b := make([]byte, MaxOptionsLen)
	allocs := testing.AllocsPerRun(100, func() {
		_ = ParseOptions(linuxSYNOptions, &o)
		_ = o.Marshal(b)
		_ = ParseOptions([]byte{30, 0}, &o) // the error path too
	})
	assert.Zero(t, allocs)
}

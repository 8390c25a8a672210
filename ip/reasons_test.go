package ip

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDropReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{ErrTooShort, "ip_too_short"},
		{ErrVersion, "ip_bad_version"},
		{ErrHeaderLength, "ip_bad_header_length"},
		{ErrTotalLength, "ip_bad_total_length"},
		{ErrChecksum, "ip_bad_checksum"},
		{ErrICMPTooShort, "icmp_too_short"},
		{ErrICMPChecksum, "icmp_bad_checksum"},
		{ErrICMPOriginal, "icmp_bad_original"},
		{ErrICMPQuoteShort, "icmp_quote_too_short"},
		{ErrICMPQuoteFragment, "icmp_quote_fragment"},
		{ErrUDPTooShort, "udp_too_short"},
		{ErrUDPLength, "udp_bad_length"},
		{ErrUDPChecksum, "udp_bad_checksum"},
		{fmt.Errorf("reading packet: %w", ErrChecksum), "ip_bad_checksum"},
		{assert.AnError, "ip_other"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, DropReason(tt.err), "DropReason(%v)", tt.err)
	}
}

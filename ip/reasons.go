package ip

// Drop reasons. tinytcp never hands a malformed packet up the stack as an
// error: it counts it under a named counter and drops it (DESIGN.md,
// "Bad input never panics"). Every sentinel error of this package is such a
// reason, and DropReason names its counter:
//
//	ErrTooShort           ip_too_short           fewer than 20 bytes
//	ErrVersion            ip_bad_version         version field is not 4
//	ErrHeaderLength       ip_bad_header_length   IHL < 5 or past the packet
//	ErrTotalLength        ip_bad_total_length    total length < IHL*4 or past the packet
//	ErrChecksum           ip_bad_checksum        header checksum wrong
//	ErrICMPTooShort       icmp_too_short         ICMP message under 8 bytes
//	ErrICMPChecksum       icmp_bad_checksum      ICMP checksum wrong
//	ErrICMPOriginal       icmp_bad_original      ICMP error quoting no valid IPv4 header
//	ErrICMPQuoteShort     icmp_quote_too_short   ICMP error quoting under 8 bytes of payload
//	ErrICMPQuoteFragment  icmp_quote_fragment    ICMP error quoting a non-first fragment
//	ErrUDPTooShort        udp_too_short          UDP datagram under 8 bytes
//	ErrUDPLength          udp_bad_length         UDP length < 8 or past the packet
//	ErrUDPChecksum        udp_bad_checksum       UDP checksum sent and wrong
//
// The names are stable: dashboards and the conformance tables key on them.

import "errors"

// dropReasons maps each sentinel error to its counter name.
var dropReasons = [...]struct {
	err  error
	name string
}{
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
}

// DropReason returns the counter name for an error of this package (matched
// with errors.Is, so wrapped errors count too), "" for nil and "ip_other"
// for any other error.
func DropReason(err error) string {
	if err == nil {
		return ""
	}
	for _, r := range dropReasons {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "ip_other"
}

package conformance

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"tinytcp/tcp"
)

// Random differential mode: a seeded generator writes an established
// connection followed by random but plausible segments from the peer
// (flags, sequence and acknowledgment numbers near and far from the
// window, payloads), plays the same script on two backends, and compares
// what each answered after every segment (flags, relative seq and ack,
// payload length; windows differ by configuration and are left out) and
// the state the connection ended in. A divergence comes out as a script a
// developer can turn into a scenario file.

// RandomScript returns the scenario text for seed: a passive handshake
// then n random segments.
func RandomScript(seed uint64, n int) string {
	rng := rand.New(rand.NewPCG(seed, 0x7cb))
	var b strings.Builder
	fmt.Fprintf(&b, "# title: random differential script, seed %d\n", seed)
	b.WriteString("listen 80\ninject SYN seq=0 win=65535 mss=1460 wscale=7\nexpect SYN,ACK seq=0 ack=1\ninject ACK seq=1 ack=1\naccept\n")
	// No URG yet: tinytcp ignores the urgent pointer until issue 4 (urgent
	// data), and Linux and gVisor treat urgent bytes differently anyway.
	flags := []string{"ACK", "PSH,ACK", "FIN,ACK", "RST", "RST,ACK", "SYN", "SYN,ACK", "FIN", "none"}
	next := uint32(1) // the peer's next in-order sequence number
	for i := 0; i < n; i++ {
		f := flags[rng.IntN(len(flags))]
		var seq uint32
		switch rng.IntN(6) {
		case 0, 1, 2:
			seq = next
		case 3:
			seq = next + uint32(rng.IntN(3000))
		case 4:
			seq = next - uint32(rng.IntN(200)) // may cover old data
		default:
			seq = next + 1<<31 // far outside any window
		}
		var ack string
		switch rng.IntN(5) {
		case 0, 1, 2:
			ack = "ack=1"
		case 3:
			ack = fmt.Sprintf("ack=%d", 1+rng.IntN(5000))
		default:
			ack = "ack=0"
		}
		length := []int{0, 0, 1, 100, 1000}[rng.IntN(5)]
		if strings.Contains(f, "SYN") || strings.Contains(f, "RST") {
			length = 0
		}
		fmt.Fprintf(&b, "inject %s seq=%d %s len=%d\n", f, seq, ack, length)
		if seq == next && !strings.Contains(f, "RST") && !strings.Contains(f, "SYN") {
			next += uint32(length)
			if strings.Contains(f, "FIN") {
				next++
			}
		}
	}
	return b.String()
}

// Observation is what a backend did during a random script.
type Observation struct {
	Answers []string // per injected segment: the segments sent in reply
	State   string   // the connection's state at the end
	Err     string   // a failure to run the script at all
}

// Observe plays a random script on b, recording after each injection what
// the stack sent within settle.
func Observe(b Backend, sc *Scenario, settle time.Duration) Observation {
	var obs Observation
	inst, err := b.Start()
	if err != nil {
		obs.Err = err.Error()
		return obs
	}
	defer inst.Close()
	r := &runner{inst: inst, virtual: b.VirtualTime(), peerPort: peerPort}
	for i := range sc.Steps {
		st := &sc.Steps[i]
		if err := r.step(st); err != nil {
			obs.Err = fmt.Sprintf("line %d %q: %v", st.Line, st.Text, err)
			return obs
		}
		if st.Cmd != "inject" || r.cur == nil {
			continue // the handshake's own steps check themselves
		}
		var segs []*tcp.Segment
		var got []string
		for {
			seg, _, ok, err := r.nextSegment(settle)
			if err != nil {
				got = append(got, "error: "+err.Error())
				break
			}
			if !ok {
				break
			}
			segs = append(segs, seg)
		}
		// A SYN among the answers opens a new connection with an ISS of
		// its own: number that answer's segments from it.
		base := r.stackISS
		for _, seg := range segs {
			if seg.Flags.Has(tcp.FlagSYN) {
				base = seg.Seq
			}
		}
		for _, seg := range segs {
			b := base
			switch {
			case seg.Flags.Has(tcp.FlagRST) && !seg.Flags.Has(tcp.FlagACK):
				b = r.stackISS // <SEQ=SEG.ACK>: numbered as the segment it answers
			case seg.Flags.Has(tcp.FlagRST):
				b = 0 // <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>: absolute
			}
			got = append(got, describeAnswer(seg, b))
		}
		// From now on the new connection, if one was opened, is the one
		// the peer talks to.
		r.stackISS = base
		obs.Answers = append(obs.Answers, strings.Join(got, " | "))
	}
	if r.cur != nil {
		obs.State = r.cur.State()
	}
	return obs
}

// describeAnswer prints a reply in relative numbers, leaving out the
// window, which differs by configuration.
func describeAnswer(seg *tcp.Segment, iss tcp.Seq) string {
	d := fmt.Sprintf("%s seq=%d", flagString(seg.Flags), seg.Seq.Sub(iss))
	if seg.Flags.Has(tcp.FlagACK) {
		d += fmt.Sprintf(" ack=%d", seg.Ack.Sub(peerISN))
	}
	return d + fmt.Sprintf(" len=%d opts=%s", len(seg.Payload), optionList(&seg.Options))
}

// Diverge compares two observations and describes the first difference,
// or returns "". at is the injected step after which they differ (nil when
// only the final state differs).
func Diverge(sc *Scenario, a, b Observation, an, bn string) (d string, at *Step) {
	if a.Err != "" || b.Err != "" {
		return fmt.Sprintf("%s: %s; %s: %s", an, a.Err, bn, b.Err), nil
	}
	injects, accepted := 0, false
	for _, st := range sc.Steps {
		accepted = accepted || st.Cmd == "accept"
		if st.Cmd != "inject" || !accepted {
			continue
		}
		if a.Answers[injects] != b.Answers[injects] {
			return fmt.Sprintf("after line %d %q:\n  %s sent [%s]\n  %s sent [%s]", st.Line, st.Text, an, a.Answers[injects], bn, b.Answers[injects]), &st
		}
		injects++
	}
	if a.State != b.State {
		return fmt.Sprintf("final state: %s %s, %s %s", an, a.State, bn, b.State), nil
	}
	return "", nil
}

// KnownDivergence explains a divergence between tinytcp and gVisor that a
// scenario already pins down, or returns "". line is the injected step
// after which the answers first differ.
func KnownDivergence(line *Step) string {
	if ack, ok := line.KV["ack"]; ok && ack != "0" && ack != "1" && line.Flags.Has(tcp.FlagACK) {
		// The stack never sends data in these scripts, so any other ACK
		// acknowledges data never sent.
		return "gVisor ignores or accepts a segment acknowledging unsent data (scenario ack-unsent-data)"
	}
	return ""
}

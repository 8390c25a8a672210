package conformance

import (
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var randomSeeds = flag.Int("random-seeds", 100, "how many random differential scripts to run")

// TestRandomDifferential plays seeded random scripts on tinytcp and gVisor
// and compares what they answered after every segment. A divergence that a
// scenario already explains is counted; any other is played on the Linux
// kernel too: if tinytcp answers as Linux does, gVisor alone differs and
// it is listed (-v); if tinytcp differs from both, the test fails with the
// script, to be made into a scenario and fixed or documented. It fails too
// when a script cannot run at all (a crash, a malformed segment).
func TestRandomDifferential(t *testing.T) {
	settle := 600 * time.Millisecond // longer than any delayed ACK, shorter than an RTO
	var known, gvisorAlone []string
	for seed := uint64(0); seed < uint64(*randomSeeds); seed++ {
		sc, err := ParseScenario(fmt.Sprint("random-", seed), strings.NewReader(RandomScript(seed, 6)))
		require.NoError(t, err)
		a := Observe(Tinytcp{}, sc, settle)
		b := Observe(GVisor{}, sc, settle)
		require.Empty(t, a.Err, "seed %d on tinytcp", seed)
		require.Empty(t, b.Err, "seed %d on gvisor", seed)
		d, at := Diverge(sc, a, b, "tinytcp", "gvisor")
		switch {
		case d == "":
			continue
		case at != nil && KnownDivergence(at) != "":
			known = append(known, fmt.Sprintf("seed %d: %s", seed, KnownDivergence(at)))
			continue
		}
		// The kernel breaks the tie: where tinytcp does what Linux does,
		// gVisor alone differs.
		l := Observe(Linux{}, sc, settle)
		require.Empty(t, l.Err, "seed %d on linux", seed)
		if ld, _ := Diverge(sc, a, l, "tinytcp", "linux"); ld != "" {
			t.Errorf("seed %d: tinytcp differs from both gVisor and Linux; make it a scenario:\n%s\n%s\n%s",
				seed, RandomScript(seed, 6), d, ld)
			continue
		}
		gvisorAlone = append(gvisorAlone, fmt.Sprintf("seed %d %s", seed, d))
	}
	t.Logf("%d random scripts: %d agree, %d diverge as a scenario explains, %d where gVisor alone differs from tinytcp and Linux",
		*randomSeeds, *randomSeeds-len(known)-len(gvisorAlone), len(known), len(gvisorAlone))
	if *report || testing.Verbose() {
		for _, o := range gvisorAlone {
			t.Log(o)
		}
	}
}

package conformance

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite DEVIATIONS.md from the scenario headers")

// deviationsDoc renders every documented difference and expected failure
// of the scenarios, one section per backend.
func deviationsDoc(scs []*Scenario) string {
	var b strings.Builder
	b.WriteString("# Documented differences\n\n")
	b.WriteString("Generated from the `# deviation` and `# xfail` headers of the scenarios in\n")
	b.WriteString("`scenarios/` (`go test ./tests/conformance -run TestDeviationsDoc -update`\n")
	b.WriteString("rewrites it; `make test` fails when it is stale). A deviation is a\n")
	b.WriteString("difference with the RFC text that allows or forbids it; an expected failure\n")
	b.WriteString("is tinytcp waiting for the issue named. Differences of configuration, not\n")
	b.WriteString("of behaviour, are written down where they are set: `gvisorLinuxSettings` in\n")
	b.WriteString("gvisor_options.go (every gVisor knob next to Linux's value, and what gVisor\n")
	b.WriteString("cannot match) and `kernelSettings` in linux.go (the sysctls set in the Linux\n")
	b.WriteString("backend's namespace, and why).\n")
	for _, backend := range []string{"tinytcp", "gvisor", "linux"} {
		var lines []string
		for _, sc := range scs {
			if why, ok := sc.XFail[backend]; ok {
				lines = append(lines, fmt.Sprintf("- **%s** (expected to fail): %s", sc.Name, why))
			}
			if why, ok := sc.Deviation[backend]; ok {
				lines = append(lines, fmt.Sprintf("- **%s** (deviation): %s", sc.Name, why))
			}
		}
		sort.Strings(lines)
		fmt.Fprintf(&b, "\n## %s\n\n", backend)
		if len(lines) == 0 {
			b.WriteString("None: every scenario passes as written.\n")
			continue
		}
		b.WriteString(strings.Join(lines, "\n") + "\n")
	}
	return b.String()
}

func TestDeviationsDoc(t *testing.T) {
	scs, err := LoadScenarios("scenarios")
	require.NoError(t, err)
	want := deviationsDoc(scs)
	if *update {
		require.NoError(t, os.WriteFile("DEVIATIONS.md", []byte(want), 0o644))
	}
	got, err := os.ReadFile("DEVIATIONS.md")
	require.NoError(t, err)
	require.Equal(t, want, string(got), "DEVIATIONS.md is stale: go test ./tests/conformance -run TestDeviationsDoc -update")
}

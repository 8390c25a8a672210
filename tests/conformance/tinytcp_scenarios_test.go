package conformance

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestScenariosOnTinytcp(t *testing.T) {
	scs, err := LoadScenarios("scenarios")
	require.NoError(t, err)
	for _, sc := range scs {
		t.Run(sc.Name, func(t *testing.T) {
			res := Run(Tinytcp{}, sc)
			if !res.Passed {
				t.Errorf("line %d %q: %s\n%s", res.Line, res.Step, res.Message, strings.Join(res.Trace, "\n"))
			}
		})
	}
}

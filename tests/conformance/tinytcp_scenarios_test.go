package conformance

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestScenariosOnTinytcp(t *testing.T) {
	scs, err := LoadScenarios("scenarios")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(scs), 40)
	for _, sc := range scs {
		t.Run(sc.Name, func(t *testing.T) {
			res := Run(Tinytcp{}, sc)
			switch o := Classify(sc, res); o {
			case Unexplained, XPass:
				t.Errorf("%s: line %d %q: %s\n%s", o, res.Line, res.Step, res.Message, strings.Join(res.Trace, "\n"))
			}
		})
	}
}

package conformance

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConformance runs every scenario on every backend and fails on any
// difference that is neither marked expected-to-fail nor documented as a
// deviation. With -report (make conformance) it prints the full report.
// Each scenario is a subtest, so -run 'TestConformance/urgent' runs the
// scenarios whose names start with "urgent" (and reports only those).

var report = flag.Bool("report", false, "print the scenario table, the RFC 9293 requirement table and the summary")

// backends are the three stacks, tinytcp first.
func backends() []Backend { return []Backend{Tinytcp{}, GVisor{}, Linux{}} }

func TestConformance(t *testing.T) {
	scs, err := LoadScenarios("scenarios")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(scs), 40, "the issue asks for at least 40 scenarios")
	bs := backends()
	var rows []Row
	for _, sc := range scs {
		t.Run(sc.Name, func(t *testing.T) {
			r := RunAll(bs, []*Scenario{sc})[0]
			rows = append(rows, r)
			for _, res := range r.Results {
				switch o := Classify(r.Scenario, res); o {
				case Unexplained:
					t.Errorf("%s on %s: line %d %q: %s\n    %s", r.Scenario.Name, res.Backend, res.Line, res.Step, res.Message, strings.Join(res.Trace, "\n    "))
				case XPass:
					t.Errorf("%s on %s passes although marked; remove the mark", r.Scenario.Name, res.Backend)
				}
			}
		})
	}
	if *report {
		reqs, err := LoadRequirements("rfc9293.tsv", scs)
		require.NoError(t, err)
		fmt.Println()
		PrintTable(os.Stdout, bs, rows)
		fmt.Println()
		PrintRequirements(os.Stdout, reqs)
		fmt.Println()
		fmt.Println(Summary(bs, rows))
	}
}

func TestScenariosParseAndHaveTitles(t *testing.T) {
	scs, err := LoadScenarios("scenarios")
	require.NoError(t, err)
	for _, sc := range scs {
		assert.NotEmpty(t, sc.Title, sc.Name)
		assert.NotEmpty(t, sc.Steps, sc.Name)
		for b, why := range sc.XFail {
			assert.Contains(t, []string{"tinytcp", "gvisor", "linux"}, b, "%s: xfail for unknown backend", sc.Name)
			assert.Regexp(t, `issue \d+`, why, "%s: an expected failure names the issue it waits for", sc.Name)
		}
		for b, why := range sc.Deviation {
			assert.Contains(t, []string{"tinytcp", "gvisor", "linux"}, b, "%s: deviation for unknown backend", sc.Name)
			assert.Regexp(t, `RFC \d+`, why, "%s: a deviation cites the RFC text that allows it", sc.Name)
		}
	}
}

// TestRequirementTableIsCompleteAndTrue checks the RFC 9293 table: all
// 119 labels, a known status each, and evidence that exists: every
// scenario and every test function it names.
func TestRequirementTableIsCompleteAndTrue(t *testing.T) {
	scs, err := LoadScenarios("scenarios")
	require.NoError(t, err)
	reqs, err := LoadRequirements("rfc9293.tsv", scs)
	require.NoError(t, err)
	require.Len(t, reqs, 119)
	scenario := regexp.MustCompile(`scenarios? ([a-z0-9-]+(?:, [a-z0-9-]+)*)`)
	testName := regexp.MustCompile(`\b(tcp|stack|ip|tun|e2e)\.(Test\w+|Fuzz\w+)`)
	for _, r := range reqs {
		assert.Contains(t, []string{"shown", "partial", "not yet", "n/a"}, r.Status, r.Label)
		assert.NotEmpty(t, r.Evidence, r.Label)
		if r.Status == "not yet" {
			assert.Regexp(t, `issue \d`, r.Evidence, "%s: 'not yet' names the issue", r.Label)
		}
		for _, m := range scenario.FindAllStringSubmatch(r.Evidence, -1) {
			for _, name := range strings.Split(m[1], ", ") {
				_, err := os.Stat(filepath.Join("scenarios", name+".tcp"))
				assert.NoError(t, err, "%s names scenario %s", r.Label, name)
			}
		}
		for _, m := range testName.FindAllStringSubmatch(r.Evidence, -1) {
			dir := map[string]string{"tcp": "../../tcp", "stack": "../../stack", "ip": "../../ip", "tun": "../../tun", "e2e": "../e2e"}[m[1]]
			assert.True(t, definesFunc(t, dir, m[2]), "%s names %s.%s, which does not exist", r.Label, m[1], m[2])
		}
	}
}

func definesFunc(t *testing.T, dir, name string) bool {
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	require.NoError(t, err)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		if strings.Contains(string(b), "func "+name+"(") {
			return true
		}
	}
	return false
}

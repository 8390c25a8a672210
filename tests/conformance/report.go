package conformance

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
)

// The report `make conformance` prints: a table of scenario × stack, the
// RFC 9293 requirement table, and one summary line.

// Outcome classifies one scenario on one backend.
type Outcome string

// The outcomes. Only Unexplained ones fail the build.
const (
	Pass        Outcome = "pass"
	XFail       Outcome = "xfail"     // failed, marked expected-to-fail with a reason
	Deviation   Outcome = "deviation" // failed, a documented deviation with the RFC text
	Unexplained Outcome = "FAIL"      // failed, no explanation: a bug to fix or a difference to document
	XPass       Outcome = "XPASS"     // passed although marked to fail: remove the mark
)

// Classify names the outcome of res for scenario sc.
func Classify(sc *Scenario, res Result) Outcome {
	_, xfail := sc.XFail[res.Backend]
	_, dev := sc.Deviation[res.Backend]
	switch {
	case res.Passed && (xfail || dev):
		return XPass
	case res.Passed:
		return Pass
	case xfail:
		return XFail
	case dev:
		return Deviation
	}
	return Unexplained
}

// Row is one scenario's results on every backend.
type Row struct {
	Scenario *Scenario
	Results  []Result
}

// RunAll plays every scenario on every backend.
func RunAll(backends []Backend, scs []*Scenario) []Row {
	rows := make([]Row, 0, len(scs))
	for _, sc := range scs {
		row := Row{Scenario: sc}
		for _, b := range backends {
			row.Results = append(row.Results, Run(b, sc))
		}
		rows = append(rows, row)
	}
	return rows
}

// PrintTable writes the scenario × stack table, then the failures and
// documented differences with their explanations.
func PrintTable(w io.Writer, backends []Backend, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "scenario")
	for _, b := range backends {
		fmt.Fprintf(tw, "\t%s", b.Name())
	}
	fmt.Fprintln(tw)
	for _, r := range rows {
		fmt.Fprint(tw, r.Scenario.Name)
		for _, res := range r.Results {
			fmt.Fprintf(tw, "\t%s", Classify(r.Scenario, res))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, r := range rows {
		for _, res := range r.Results {
			o := Classify(r.Scenario, res)
			switch o {
			case Pass:
				continue
			case XFail:
				fmt.Fprintf(w, "%s on %s: expected to fail: %s\n", r.Scenario.Name, res.Backend, r.Scenario.XFail[res.Backend])
			case Deviation:
				fmt.Fprintf(w, "%s on %s: deviation: %s\n", r.Scenario.Name, res.Backend, r.Scenario.Deviation[res.Backend])
			case XPass:
				fmt.Fprintf(w, "%s on %s: PASSED although marked; remove the mark\n", r.Scenario.Name, res.Backend)
				continue
			}
			fmt.Fprintf(w, "    line %d %q: %s\n", res.Line, res.Step, res.Message)
			if o == Unexplained {
				fmt.Fprintf(w, "%s on %s: FAILED at line %d %q: %s\n", r.Scenario.Name, res.Backend, res.Line, res.Step, res.Message)
				for _, l := range res.Trace {
					fmt.Fprintf(w, "      %s\n", l)
				}
			}
		}
	}
}

// Requirement is one row of rfc9293.tsv.
type Requirement struct {
	Label, Kind, Text, Group, Status, Evidence string
	Scenarios                                  []string // scenarios whose header names the label
}

// LoadRequirements reads the requirement table and adds the scenarios that
// name each label.
func LoadRequirements(path string, scs []*Scenario) ([]Requirement, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var reqs []Requirement
	index := map[string]int{}
	in := bufio.NewScanner(f)
	header := true
	for in.Scan() {
		line := in.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		if header {
			header = false
			continue
		}
		c := strings.Split(line, "\t")
		if len(c) != 6 {
			return nil, fmt.Errorf("%s: %d columns in %q, want 6", path, len(c), line)
		}
		index[c[0]] = len(reqs)
		reqs = append(reqs, Requirement{Label: c[0], Kind: c[1], Text: c[2], Group: c[3], Status: c[4], Evidence: c[5]})
	}
	for _, sc := range scs {
		for _, l := range sc.Requirements {
			i, ok := index[l]
			if !ok {
				return nil, fmt.Errorf("scenario %s names unknown requirement %q", sc.Name, l)
			}
			reqs[i].Scenarios = append(reqs[i].Scenarios, sc.Name)
		}
	}
	return reqs, in.Err()
}

// PrintRequirements writes the RFC 9293 requirement table.
func PrintRequirements(w io.Writer, reqs []Requirement) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "label\tstatus\trequirement\tevidence")
	counts := map[string]int{}
	for _, r := range reqs {
		ev := r.Evidence
		var extra []string
		for _, sc := range r.Scenarios {
			if !strings.Contains(ev, sc) {
				extra = append(extra, sc)
			}
		}
		if len(extra) > 0 {
			ev = "scenarios " + strings.Join(extra, ", ") + "; " + ev
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Label, r.Status, r.Text, ev)
		counts[r.Status]++
	}
	tw.Flush()
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
	}
	fmt.Fprintf(w, "rfc9293: %d requirements; %s\n", len(reqs), strings.Join(parts, ", "))
}

// Summary is the last line of the report.
func Summary(backends []Backend, rows []Row) string {
	var passed, failed, xfailed, unexplained int
	agree := map[string]int{}
	for _, r := range rows {
		for _, res := range r.Results {
			o := Classify(r.Scenario, res)
			if o == Unexplained || o == XPass {
				unexplained++
			}
			if o == Pass || o == Deviation {
				agree[res.Backend]++
			}
			if res.Backend != "tinytcp" {
				continue
			}
			switch o {
			case Pass:
				passed++
			case XFail:
				xfailed++
			default:
				failed++
			}
		}
	}
	s := fmt.Sprintf("conformance: %d scenarios; tinytcp %d passed, %d failed, %d expected-to-fail", len(rows), passed, failed, xfailed)
	for _, b := range backends {
		if b.Name() != "tinytcp" {
			s += fmt.Sprintf("; %s agree %d", b.Name(), agree[b.Name()])
		}
	}
	return s + fmt.Sprintf("; unexplained %d", unexplained)
}

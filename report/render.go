package report

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
)

// WriteTable writes a console table of one report: a row per scenario with
// its status and duration, then the totals, where the time went, and a
// footnote per failure naming its fix page.
func WriteTable(w io.Writer, r Report) {
	w = ControlEscaper{w} // the table's own newlines only
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tSEVERITY\tRESULT\tTIME\tDETAIL")
	var notes []string
	groups, folded := foldNotApplicable([]Report{r})
	for _, res := range r.Results {
		if folded[res.ID] {
			continue
		}
		detail := OneLine(res.Reason, 100)
		if res.Status == Fail {
			notes = append(notes, fmt.Sprintf("[%d] %s: fix: %s", len(notes)+1, res.ID, FixPage(res.ID)))
			detail = fmt.Sprintf("[%d] %s", len(notes), detail)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", res.ID, res.Severity, strings.ToUpper(string(res.Status)), fmtMS(res.DurationMS), detail)
	}
	tw.Flush()
	writeFolded(w, groups)
	if len(notes) > 0 {
		fmt.Fprintf(w, "\n%s\n", strings.Join(notes, "\n"))
	}
	s := r.Summary
	fmt.Fprintf(w, "\n%s in %s on %s/%s leg %s, target %s%s\n",
		Headline(s), fmtMS(r.DurationMS), r.OS, r.Arch, r.Leg, r.Target.Describe(), interruptedNote(r))
	if slow := slowest(r.Results, 3); len(slow) > 0 {
		fmt.Fprintf(w, "slowest: %s\n", strings.Join(slow, ", "))
	}
}

// notApplicableGroup is the scenarios that cannot apply to the target
// for one cause (Result.NotApplicable).
type notApplicableGroup struct {
	cause string
	ids   []string
}

// foldNotApplicable finds the rows the console and Markdown renderers fold
// into a line per cause: the scenarios skipped as not applicable, for the
// same cause, in every report that has them (one that applies on another
// leg keeps its row). It returns the groups, in row order, and the folded
// IDs.
func foldNotApplicable(reports []Report) ([]notApplicableGroup, map[string]bool) {
	var groups []notApplicableGroup
	folded := map[string]bool{}
	for _, id := range rowIDs(reports) {
		cause := ""
		for _, r := range reports {
			res, ok := r.Find(id)
			if !ok {
				continue
			}
			if res.Status != Skip || res.NotApplicable == "" || cause != "" && res.NotApplicable != cause {
				cause = ""
				break
			}
			cause = res.NotApplicable
		}
		if cause == "" {
			continue
		}
		folded[id] = true
		i := slices.IndexFunc(groups, func(g notApplicableGroup) bool { return g.cause == cause })
		if i < 0 {
			groups = append(groups, notApplicableGroup{cause: cause})
			i = len(groups) - 1
		}
		groups[i].ids = append(groups[i].ids, id)
	}
	return groups, folded
}

// writeFolded writes a console line per group of folded rows.
func writeFolded(w io.Writer, groups []notApplicableGroup) {
	for _, g := range groups {
		fmt.Fprintf(w, "not applicable, skipped (%s): %s\n", g.cause, strings.Join(g.ids, ", "))
	}
}

func fmtMS(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.1fs", v/1000)
	}
	return fmt.Sprintf("%.0fms", v)
}

func slowest(rs []Result, n int) []string {
	c := append([]Result(nil), rs...)
	sort.SliceStable(c, func(i, j int) bool { return c[i].DurationMS > c[j].DurationMS })
	var out []string
	for i := 0; i < n && i < len(c); i++ {
		out = append(out, fmt.Sprintf("%s %s", c[i].ID, fmtMS(c[i].DurationMS)))
	}
	return out
}

// columnNames names each report's column: its leg, with the host added
// when two reports share a leg name.
func columnNames(reports []Report) []string {
	count := map[string]int{}
	for _, r := range reports {
		count[r.Leg]++
	}
	names := make([]string, len(reports))
	seen := map[string]int{}
	for i, r := range reports {
		names[i] = r.Leg
		if count[r.Leg] > 1 {
			names[i] = r.Leg + "@" + r.Host
		}
		// Still the same (two runs of one leg on one host): number them,
		// so columns and SARIF categories stay distinct.
		if seen[names[i]]++; seen[names[i]] > 1 {
			names[i] += fmt.Sprintf("#%d", seen[names[i]])
		}
	}
	return names
}

// rowIDs is the union of scenario IDs in the reports' own order (each is
// in catalogue order): an ID first seen in a later report goes right after
// the ID it follows there, so legs that ran different subsets still give
// catalogue order, and IDs from newer versions keep their place.
func rowIDs(reports []Report) []string {
	var ids []string
	seen := map[string]bool{}
	for _, r := range reports {
		at := 0 // insertion point: after the last ID of r already placed
		for _, res := range r.Results {
			if seen[res.ID] {
				at = slices.Index(ids, res.ID) + 1
				continue
			}
			seen[res.ID] = true
			ids = slices.Insert(ids, at, res.ID)
			at++
		}
	}
	return ids
}

// Find returns the result for scenario id, if r has one.
func (r Report) Find(id string) (Result, bool) {
	for _, res := range r.Results {
		if res.ID == id {
			return res, true
		}
	}
	return Result{}, false
}

var marks = map[Status]string{Pass: "✅ pass", Fail: "❌ **fail**", Skip: "⏭️ skip", Error: "⚠️ **error**"}

var markdownHeadings = map[string]string{
	"FAIL": "required scenarios failed", "PASS": "all required scenarios passed",
	"INCOMPLETE": "incomplete: required scenarios reached no verdict", "NOTHING TESTED": "nothing was tested",
}

// markdownHeading is the Markdown summary's heading for s: the verdict
// in words, and the hardening failures.
func markdownHeading(s Summary) string {
	heading := markdownHeadings[Verdict(s)]
	if Verdict(s) == "PASS" && noRequired(s) {
		heading = "no required scenario selected"
	}
	if s.HardeningFailed > 0 {
		heading += fmt.Sprintf("; %d hardening failure(s)", s.HardeningFailed)
	}
	return heading
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Markdown renders the matrix: rows are scenarios, columns are legs, each
// cell a mark with the failure or skip reason as a footnote. Fit for
// $GITHUB_STEP_SUMMARY.
func Markdown(m Matrix) string {
	var b strings.Builder
	cols := columnNames(m.Reports)
	s := m.Summary
	fmt.Fprintf(&b, "## bh-ipc-check: %s\n\n", markdownHeading(s))
	b.WriteString(markdownCounts(s, len(m.Reports)))
	for i, r := range m.Reports {
		for _, w := range r.Warnings {
			fmt.Fprintf(&b, "**Warning** (%s): %s\n\n", mdEscape(cols[i]), mdEscape(w))
		}
		if r.Interrupted {
			fmt.Fprintf(&b, "**Interrupted**: %s was stopped before its end; its column is partial.\n\n", mdEscape(cols[i]))
		}
		if r.SetupError != "" {
			fmt.Fprintf(&b, "**%s: no scenario ran**:\n\n```\n%s\n```\n\n", mdEscape(cols[i]), strings.ReplaceAll(r.SetupError, "```", "'''"))
		}
	}
	b.WriteString("| scenario | severity |")
	for _, c := range cols {
		b.WriteString(" " + mdEscape(c) + " |")
	}
	b.WriteString("\n|---|---|")
	for range cols {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	var notes []string
	groups, folded := foldNotApplicable(m.Reports)
	for _, id := range rowIDs(m.Reports) {
		if folded[id] {
			continue
		}
		sev := ""
		for _, r := range m.Reports {
			if res, ok := r.Find(id); ok {
				sev = string(res.Severity)
				break
			}
		}
		fmt.Fprintf(&b, "| `%s` | %s |", id, sev)
		for i, r := range m.Reports {
			res, ok := r.Find(id)
			if !ok {
				b.WriteString(" — |")
				continue
			}
			cell := marks[res.Status]
			if res.Status == Fail || res.Status != Pass && res.Reason != "" {
				note := fmt.Sprintf("[^%d]: `%s` on %s: %s", len(notes)+1, id, mdEscape(cols[i]), mdEscape(res.Reason))
				if res.Status == Fail {
					note += fmt.Sprintf("; fix: [%s](%s)", FixPage(id), m.FixLink(id))
				}
				notes = append(notes, note)
				cell += fmt.Sprintf(" [^%d]", len(notes))
			}
			b.WriteString(" " + cell + " |")
		}
		b.WriteString("\n")
	}
	for _, g := range groups {
		fmt.Fprintf(&b, "\n**Not applicable**, skipped (%s): `%s`\n", mdEscape(g.cause), strings.Join(g.ids, "`, `"))
	}
	b.WriteString("\n| leg | host | os | target | uid | daemon uid | attacker uid | umask | time |\n|---|---|---|---|---|---|---|---|---|\n")
	for i, r := range m.Reports {
		took := fmtMS(r.DurationMS)
		if r.Interrupted {
			took += " (interrupted: partial)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s/%s | %s | %d | %d | %d | %s | %s |\n", mdEscape(cols[i]), mdEscape(r.Host), r.OS, r.Arch,
			mdEscape(r.Target.Describe()), r.UID, r.DaemonUID, r.AttackerUID, r.Umask, took)
	}
	if len(notes) > 0 {
		b.WriteString("\n" + strings.Join(notes, "\n") + "\n")
	}
	return EscapeControl(b.String(), "\n")
}

// markdownCounts is the Markdown summary's counts: required and hardening
// apart, the failed hardening scenarios named (they do not fail the run,
// so the heading alone would not show them).
func markdownCounts(s Summary, legs int) string {
	hardening := fmt.Sprintf("%d passed, %d failed", s.HardeningPassed, s.HardeningFailed)
	if s.HardeningFailed > 0 {
		ids := make([]string, len(s.HardeningFailures))
		for i, id := range s.HardeningFailures {
			ids[i] = "`" + id + "`"
		}
		hardening = fmt.Sprintf("%d passed, **%d failed** (%s)", s.HardeningPassed, s.HardeningFailed, strings.Join(ids, ", "))
	}
	required := fmt.Sprintf("%d passed, %d failed", s.RequiredPassed, s.RequiredFailed)
	if s.RequiredFailed > 0 {
		required = fmt.Sprintf("%d passed, **%d failed**", s.RequiredPassed, s.RequiredFailed)
	}
	if s.RequiredIncomplete > 0 {
		required += fmt.Sprintf(", %d without a verdict", s.RequiredIncomplete)
	}
	if noRequired(s) {
		required = "none selected"
	}
	return fmt.Sprintf("**Required**: %s. **Hardening**: %s. %s across %d leg(s).\n\n", required, hardening, skipCounts(s), legs)
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Errors   int         `xml:"errors,attr,omitempty"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string `xml:"name,attr"`
	Classname string `xml:"classname,attr"`
	Time      string `xml:"time,attr"`
	// Properties carry the scenario's severity, so that a hardening
	// failure can be told from a required one (the failure's type says
	// it too).
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Failure    *junitMessage   `xml:"failure,omitempty"`
	Skipped    *junitMessage   `xml:"skipped,omitempty"`
	Error      *junitMessage   `xml:"error,omitempty"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	// Type of a failure: the scenario's severity (required, hardening),
	// so that a hardening failure, which does not fail the run, is told
	// apart.
	Type string `xml:"type,attr,omitempty"`
	Body string `xml:",chardata"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// JUnit renders one testcase per scenario and leg. Every failure is a
// <failure>, whatever its severity; its type attribute is the severity.
func JUnit(m Matrix) ([]byte, error) {
	cols := columnNames(m.Reports)
	out := junitSuites{Name: "bh-ipc-check"}
	for i, r := range m.Reports {
		s := junitSuite{Name: cols[i], Time: secs(r.DurationMS)}
		for _, res := range r.Results {
			c := junitCase{Name: res.ID, Classname: "bh-ipc-check." + cols[i], Time: secs(res.DurationMS),
				Properties: []junitProperty{{"severity", string(res.Severity)}}}
			ev := strings.Join(res.Evidence, "\n")
			switch res.Status {
			case Fail:
				c.Failure = &junitMessage{Message: res.Reason + " (fix: " + m.FixLink(res.ID) + ")", Type: string(res.Severity), Body: ev}
				s.Failures++
			case Skip:
				c.Skipped = &junitMessage{Message: res.Reason}
				s.Skipped++
			case Error:
				c.Error = &junitMessage{Message: res.Reason, Body: ev}
				s.Errors++
			default:
				c.SystemOut = strings.TrimSpace(res.Reason + "\n" + ev)
			}
			s.Tests++
			s.Cases = append(s.Cases, c)
		}
		out.Tests += s.Tests
		out.Failures += s.Failures
		out.Skipped += s.Skipped
		out.Suites = append(out.Suites, s)
	}
	b, err := xml.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

// OneLine puts s on one line and cuts it to n bytes, ending in "...".
func OneLine(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		return s[:n-3] + "..."
	}
	return s
}

func secs(ms float64) string { return fmt.Sprintf("%.3f", ms/1000) }

// WriteDir writes base.json (the report, or the matrix when several),
// base.md, junit.xml and base.sarif into dir, creating it. It returns the
// paths written. On Unix dir is walked without following a link another
// uid could have made and refused when a directory on the way belongs to
// another uid or others can write it (openReportDir): the suite often
// runs as root.
func WriteDir(dir, base string, m Matrix, o SARIFOptions) ([]string, error) {
	var js any = m
	if len(m.Reports) == 1 && base == "report" {
		js = m.Reports[0]
	}
	b, err := json.MarshalIndent(js, "", "  ")
	if err != nil {
		return nil, err
	}
	junit, err := JUnit(m)
	if err != nil {
		return nil, err
	}
	sarif, err := SARIF(m, o)
	if err != nil {
		return nil, err
	}
	names := []string{base + ".json", base + ".md", "junit.xml", base + ".sarif"}
	files := map[string][]byte{
		names[0]: append(b, '\n'),
		names[1]: []byte(Markdown(m)),
		names[2]: junit,
		names[3]: sarif,
	}
	return writeReportFiles(dir, names, files)
}

// WriteMatrixTable writes a compact console matrix: a row per scenario, a
// column per leg (numbered, with a legend), then the failures with their
// reasons.
func WriteMatrixTable(w io.Writer, m Matrix) {
	w = ControlEscaper{w} // the table's own newlines only
	cols := columnNames(m.Reports)
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	fmt.Fprint(tw, "SCENARIO\t")
	for i := range cols {
		fmt.Fprintf(tw, "%d\t", i+1)
	}
	fmt.Fprintln(tw)
	short := map[Status]string{Pass: "ok", Fail: "FAIL", Skip: "skip", Error: "ERROR"}
	groups, folded := foldNotApplicable(m.Reports)
	for _, id := range rowIDs(m.Reports) {
		if folded[id] {
			continue
		}
		fmt.Fprintf(tw, "%s\t", id)
		for _, r := range m.Reports {
			if res, ok := r.Find(id); ok {
				fmt.Fprintf(tw, "%s\t", short[res.Status])
			} else {
				fmt.Fprint(tw, "-\t")
			}
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	writeFolded(w, groups)
	fmt.Fprintln(w)
	for i, c := range cols {
		r := m.Reports[i]
		fmt.Fprintf(w, "%d = %s: %d passed, %d failed, %d skipped in %s\n", i+1, c, r.Summary.Passed, r.Summary.Failed, r.Summary.Skipped, fmtMS(r.DurationMS))
	}
	for i, r := range m.Reports {
		for _, res := range r.Results {
			switch res.Status {
			case Fail:
				fmt.Fprintf(w, "FAIL %s on %s: %s\n     fix: %s\n", res.ID, cols[i], OneLine(res.Reason, 160), m.FixLink(res.ID))
			case Error:
				fmt.Fprintf(w, "ERROR %s on %s: %s\n", res.ID, cols[i], OneLine(res.Reason, 160))
			}
		}
	}
	s := m.Summary
	fmt.Fprintf(w, "\n%s across %d legs\n", Headline(s), len(m.Reports))
}

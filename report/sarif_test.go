package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/org/bh-ipc-check/internal/testenv"
)

// testScenarios is a catalogue for the golden reports (future.scenario is
// deliberately absent: a result from a newer version).
var testScenarios = []Scenario{
	{ID: "sock.mode-umask0", Title: "socket private under umask 0", Severity: Required, Checks: "under umask 0 no other uid can connect"},
	{ID: "dir.symlink", Title: "endpoint dir planted as a symlink", Severity: Required, Checks: "nothing is created through a planted symlink"},
	{ID: "inst.live-not-hijacked", Title: "a second start does not steal a live socket", Severity: Required, Checks: "a second start does not take over a live daemon"},
	{ID: "inst.busy-not-stale", Title: "a busy daemon is not stale", Severity: Hardening, Checks: "a stopped daemon is not taken for stale", Platforms: []string{"linux", "darwin"}},
	{ID: "load.concurrent", Title: "concurrent load", Severity: Required, Checks: "64 connections, zero errors"},
}

// validateSARIF checks b against the SARIF 2.1.0 schema in testdata, with
// format assertions (helpUri must be an absolute URI, uri a reference).
func validateSARIF(t testing.TB, b []byte) {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	sch, err := c.Compile(filepath.Join("testdata", "sarif", "sarif-schema-2.1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("SARIF is not JSON: %v", err)
	}
	if err := sch.Validate(doc); err != nil {
		t.Fatalf("SARIF does not validate against the 2.1.0 schema: %v\n%s", err, b)
	}
}

// sarifDoc is the part of a SARIF log the tests read back.
type sarifDoc struct {
	Schema  string `json:"$schema"`
	Version string
	Runs    []struct {
		Tool struct {
			Driver struct {
				Name  string
				Rules []struct {
					ID, Name, HelpURI    string
					ShortDescription     struct{ Text string }
					FullDescription      struct{ Text string }
					Help                 struct{ Text, Markdown string }
					DefaultConfiguration struct{ Level string }
					Properties           map[string]any
				}
			}
		}
		AutomationDetails struct{ ID string }
		Properties        map[string]string
		Results           []struct {
			RuleID    string
			RuleIndex int
			Level     string
			Message   struct{ Text string }
			Locations []struct {
				PhysicalLocation struct {
					ArtifactLocation struct{ URI string }
					Region           struct{ StartLine, StartColumn, EndLine, EndColumn int }
				}
			}
			PartialFingerprints map[string]string
		}
	}
}

func readSARIF(t testing.TB, b []byte) sarifDoc {
	t.Helper()
	var d sarifDoc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func goldenMatrix(t testing.TB) Matrix {
	t.Helper()
	reps, err := LoadReports("testdata/golden/native.json", "testdata/golden/container.json")
	if err != nil {
		t.Fatal(err)
	}
	return NewMatrix(reps...)
}

// A merged matrix: one run per leg with a category of its own, a rule per
// catalogue scenario (and one for a result the catalogue lacks), a result
// per failure with its evidence, what GitHub requires, and the schema.
func TestSARIFValidatesAgainstTheSchema(t *testing.T) {
	m := goldenMatrix(t)
	m.DocsURL = "https://github.com/org/bh-ipc-check/blob/v1/"
	b, err := SARIF(m, SARIFOptions{Scenarios: testScenarios})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "matrix.sarif", b)
	validateSARIF(t, b)
	d := readSARIF(t, b)
	if d.Version != "2.1.0" || d.Schema == "" || len(d.Runs) != 2 {
		t.Fatalf("version %q schema %q, %d runs, want 2.1.0 and 2 runs", d.Version, d.Schema, len(d.Runs))
	}
	if a, b := d.Runs[0].AutomationDetails.ID, d.Runs[1].AutomationDetails.ID; a == b || !strings.HasSuffix(a, "/") || !strings.Contains(b, "container/1000/022") {
		t.Errorf("categories %q and %q: want distinct bh-ipc-check/<leg>/", a, b)
	}
	for i, run := range d.Runs {
		// The container leg has a result the catalogue lacks: a rule more.
		if want := len(testScenarios) + i; run.Tool.Driver.Name != "bh-ipc-check" || len(run.Tool.Driver.Rules) != want {
			t.Errorf("run %d: driver %q with %d rules, want %d", i, run.Tool.Driver.Name, len(run.Tool.Driver.Rules), want)
		}
		for _, k := range []string{"host", "os", "leg", "target", "protocol"} {
			if run.Properties[k] == "" {
				t.Errorf("run %d lacks the property %s: %v", i, k, run.Properties)
			}
		}
		for _, r := range run.Tool.Driver.Rules {
			if r.ID == "" || r.Name == "" || r.ShortDescription.Text == "" || r.FullDescription.Text == "" || r.Help.Text == "" {
				t.Errorf("rule %q lacks a required text: %+v", r.ID, r)
			}
			if len(r.Name) > 255 || len(r.ShortDescription.Text) > 1024 || len(r.FullDescription.Text) > 1024 {
				t.Errorf("rule %q: a text over GitHub's limit", r.ID)
			}
			if !strings.Contains(r.Help.Markdown, FixPage(r.ID)) || r.HelpURI != "https://github.com/org/bh-ipc-check/blob/v1/"+FixPage(r.ID) {
				t.Errorf("rule %q help does not link its fix page: %q %q", r.ID, r.Help.Markdown, r.HelpURI)
			}
			if s, _ := r.Properties["security-severity"].(string); s == "" {
				t.Errorf("rule %q has no security-severity", r.ID)
			}
		}
	}
	rules := d.Runs[0].Tool.Driver.Rules
	if rules[2].ID != "inst.live-not-hijacked" || rules[2].DefaultConfiguration.Level != "error" || rules[3].DefaultConfiguration.Level != "warning" {
		t.Errorf("levels: %s %s, %s %s; want required error, hardening warning", rules[2].ID, rules[2].DefaultConfiguration.Level, rules[3].ID, rules[3].DefaultConfiguration.Level)
	}
	if len(d.Runs[1].Results) != 0 {
		t.Errorf("the container leg has no failure, yet %d results", len(d.Runs[1].Results))
	}
	if len(d.Runs[0].Results) != 1 {
		t.Fatalf("native: %d results, want 1 (one failure)", len(d.Runs[0].Results))
	}
	res := d.Runs[0].Results[0]
	if res.RuleID != "inst.live-not-hijacked" || rules[res.RuleIndex].ID != res.RuleID || res.Level != "error" {
		t.Errorf("result %+v", res)
	}
	if !strings.Contains(res.Message.Text, "hijacked: the second instance") || !strings.Contains(res.Message.Text, "a <tag> & a | pipe") {
		t.Errorf("the message lacks the reason or the evidence: %q", res.Message.Text)
	}
	if len(res.Locations) != 1 || res.Locations[0].PhysicalLocation.ArtifactLocation.URI == "" || res.Locations[0].PhysicalLocation.Region.StartLine < 1 {
		t.Errorf("locations %+v: want exactly one with a uri and a start line", res.Locations)
	}
	if res.PartialFingerprints["primaryLocationLineHash"] == "" {
		t.Errorf("no primaryLocationLineHash: %v", res.PartialFingerprints)
	}
}

// Without a docs URL the help still names the page, and the output still
// validates (no relative helpUri, which the schema's "uri" format refuses).
func TestSARIFWithoutDocsURL(t *testing.T) {
	b, err := SARIF(goldenMatrix(t), SARIFOptions{Scenarios: testScenarios, Location: "src/daemon.py:42"})
	if err != nil {
		t.Fatal(err)
	}
	validateSARIF(t, b)
	d := readSARIF(t, b)
	r := d.Runs[0].Tool.Driver.Rules[0]
	if r.HelpURI != "" || !strings.Contains(r.Help.Text, "docs/scenarios/sock.mode-umask0.md") {
		t.Errorf("help %q uri %q", r.Help.Text, r.HelpURI)
	}
	loc := d.Runs[0].Results[0].Locations[0].PhysicalLocation
	if loc.ArtifactLocation.URI != "src/daemon.py" || loc.Region.StartLine != 42 {
		t.Errorf("--sarif-location src/daemon.py:42 gave %+v", loc)
	}
}

func TestSARIFRefusesMoreRunsThanGitHubTakes(t *testing.T) {
	rep := goldenMatrix(t).Reports[0]
	reps := make([]Report, MaxSARIFRuns+1)
	for i := range reps {
		reps[i] = rep
	}
	if _, err := SARIF(NewMatrix(reps[:MaxSARIFRuns]...), SARIFOptions{}); err != nil {
		t.Errorf("%d runs: %v", MaxSARIFRuns, err)
	}
	if _, err := SARIF(NewMatrix(reps...), SARIFOptions{}); err == nil || !strings.Contains(err.Error(), "at most 20") {
		t.Errorf("%d runs: %v, want an error naming the limit", len(reps), err)
	}
}

func TestSARIFLocation(t *testing.T) {
	ext := func(cmd ...string) Target { return Target{Cmd: cmd, Protocol: "bh-json"} }
	// The checkout: the current directory, holding the files named.
	wd := testenv.TempDir(t)
	for _, f := range []string{"src/mydaemon.py", "bin/daemon"} {
		if err := os.MkdirAll(filepath.Join(wd, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(wd, f), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	outside := filepath.Join(testenv.TempDir(t), "d.py")
	if err := os.WriteFile(outside, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(wd)
	t.Setenv("GITHUB_WORKFLOW_REF", "")
	for _, c := range []struct {
		name, loc string
		target    Target
		uri       string
		line      int
	}{
		{"explicit path", "src/ipc.py", ext("python3"), "src/ipc.py", 1},
		{"explicit path and line", "src/ipc.py:17", ext("python3"), "src/ipc.py", 17},
		{"explicit absolute path", "/w/repo/d.py", ext("python3"), "file:///w/repo/d.py", 1},
		{"windows path and line", `C:\w\d.py:3`, ext("python3"), "file:///C:/w/d.py", 3},
		{"space escaped", "my dir/d.py", ext("python3"), "my%20dir/d.py", 1},
		{"builtin", "", Target{Builtin: true}, "ipc/endpoint.go", 1},
		{"script in the command", "", ext("python3", "-u", "src/mydaemon.py", "--root", "{root}"), "src/mydaemon.py", 1},
		{"absolute path inside the checkout", "", ext("python3", filepath.Join(wd, "src/mydaemon.py")), "src/mydaemon.py", 1},
		{"module: a program on PATH is no file of the repository", "", ext("python3", "-m", "mydaemon", "--root", "{root}"), "", 0},
		{"relative program", "", ext("./bin/daemon", "{root}"), "bin/daemon", 1},
		{"a version in the name is no extension", "", ext("php-fpm8.2", "-F", "-y", "{root}/fpm.conf"), "", 0},
		{"an inline script is no file", "", ext("sh", "-c", "mkdir -m 700 {root}/d; exec d", "sh"), "", 0},
		{"a file outside the checkout", "", ext("python3", outside), "", 0},
		{"a directory", "", ext("src"), "", 0},
	} {
		uri, line, err := SARIFLocation(c.loc, c.target)
		if err != nil || uri != c.uri || line != c.line {
			t.Errorf("%s: SARIFLocation(%q, %v) = %q %d %v, want %q %d", c.name, c.loc, c.target.Cmd, uri, line, err, c.uri, c.line)
		}
	}
	// In GitHub Actions, the workflow file stands in for a daemon that is
	// no file of the repository.
	if err := os.MkdirAll(".github/workflows", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(".github/workflows/ipc.yml", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GITHUB_WORKFLOW_REF", "o/r/.github/workflows/ipc.yml@refs/heads/main")
	if uri, line, err := SARIFLocation("", ext("php-fpm8.2")); uri != ".github/workflows/ipc.yml" || line != 1 || err != nil {
		t.Errorf("in Actions: %q %d %v, want the workflow file", uri, line, err)
	}
	for _, bad := range []string{":3", "x.py:0"} {
		if _, _, err := SARIFLocation(bad, Target{Builtin: true}); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("SARIFLocation(%q): %v, want an error naming it", bad, err)
		}
	}
}

// WriteDir puts report.sarif beside the others, valid.
func TestWriteDirWritesSARIF(t *testing.T) {
	m := goldenMatrix(t)
	m = NewMatrix(m.Reports[0])
	dir := testenv.TempDir(t)
	files, err := WriteDir(dir, "report", m, SARIFOptions{Scenarios: testScenarios})
	if err != nil {
		t.Fatal(err)
	}
	// Readable by all (CI uploads them), whatever the umask: the mode is set
	// on the temporary file's handle.
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Error(err)
		} else if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, want 0644", f, fi.Mode())
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.sarif"))
	if err != nil {
		t.Fatal(err)
	}
	validateSARIF(t, b)
}

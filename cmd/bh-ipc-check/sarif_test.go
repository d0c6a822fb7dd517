package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/org/bh-ipc-check/internal/testenv"
	"github.com/org/bh-ipc-check/matrix"
)

// sarifRun is the part of a SARIF run the tests read back.
type sarifRun struct {
	Tool struct {
		Driver struct{ Rules []struct{ ID string } }
	}
	AutomationDetails struct{ ID string }
	Results           []struct {
		RuleID    string
		Locations []struct {
			PhysicalLocation struct {
				ArtifactLocation struct{ URI string }
				Region           struct{ StartLine int }
			}
		}
	}
}

// validSARIF validates b against the SARIF 2.1.0 schema kept in
// report/testdata and returns its runs.
func validSARIF(t *testing.T, b []byte) []sarifRun {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	sch, err := c.Compile("../../report/testdata/sarif/sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	if err := sch.Validate(doc); err != nil {
		t.Fatalf("not SARIF 2.1.0: %v", err)
	}
	var log struct{ Runs []sarifRun }
	if err := json.Unmarshal(b, &log); err != nil {
		t.Fatal(err)
	}
	return log.Runs
}

// report merge writes matrix.sarif: a run per leg, each with its own
// category, a rule per catalogue scenario, results where --sarif-location
// says.
func TestReportMergeWritesSARIF(t *testing.T) {
	out := filepath.Join(testenv.TempDir(t), "m")
	g := "../../report/testdata/golden/"
	code, _, errb := runCLI("report", "merge", g+"native.json", g+"container.json", "--out", out,
		"--sarif-location", "src/mydaemon.py:12", "--docs-url", "https://github.com/org/bh-ipc-check/blob/v1/")
	if code != 1 {
		t.Fatalf("exit %d (want 1: a required failure): %s", code, errb)
	}
	b, err := os.ReadFile(filepath.Join(out, "matrix.sarif"))
	if err != nil {
		t.Fatal(err)
	}
	runs := validSARIF(t, b)
	if len(runs) != 2 || runs[0].AutomationDetails.ID == runs[1].AutomationDetails.ID {
		t.Fatalf("%d runs, categories %q: want 2, distinct", len(runs), []string{runs[0].AutomationDetails.ID, runs[len(runs)-1].AutomationDetails.ID})
	}
	if n, want := len(runs[0].Tool.Driver.Rules), len(matrix.Catalogue()); n != want {
		t.Errorf("%d rules, want one per catalogue scenario (%d)", n, want)
	}
	if len(runs[0].Results) != 1 || runs[0].Results[0].RuleID != "inst.live-not-hijacked" {
		t.Fatalf("native results %+v", runs[0].Results)
	}
	if loc := runs[0].Results[0].Locations[0].PhysicalLocation; loc.ArtifactLocation.URI != "src/mydaemon.py" || loc.Region.StartLine != 12 {
		t.Errorf("location %+v, want src/mydaemon.py line 12", loc)
	}
	const link = "https://github.com/org/bh-ipc-check/blob/v1/docs/scenarios/inst.live-not-hijacked.md"
	for _, f := range []string{"matrix.sarif", "matrix.md", "junit.xml"} {
		if b, err := os.ReadFile(filepath.Join(out, f)); err != nil || !strings.Contains(string(b), link) {
			t.Errorf("%s does not link %s (--docs-url): %v", f, link, err)
		}
	}
}

func TestReportGitHubOutputsAndLinks(t *testing.T) {
	outFile := filepath.Join(testenv.TempDir(t), "out")
	t.Setenv("GITHUB_OUTPUT", outFile)
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	g := "../../report/testdata/golden/"
	_, stdout, _ := runCLI("report", "github", g+"native.json", "--docs-url", "https://github.com/org/bh-ipc-check/blob/v1/")
	out, _ := os.ReadFile(outFile)
	if !strings.Contains(string(out), "report-sarif="+g+"native.sarif\n") {
		t.Errorf("$GITHUB_OUTPUT lacks report-sarif:\n%s", out)
	}
	// --docs-url makes the annotation's link work from another repository.
	if !strings.Contains(stdout, "(fix: https://github.com/org/bh-ipc-check/blob/v1/docs/scenarios/inst.live-not-hijacked.md)") {
		t.Errorf("the annotation does not link the fix page under --docs-url:\n%s", stdout)
	}
}

func TestSARIFFlagsRefuseBadValues(t *testing.T) {
	out := testenv.TempDir(t)
	g := "../../report/testdata/golden/"
	for _, args := range [][]string{
		{"run", "--sarif-location", "src/d.py:0"},
		{"run", "--docs-url", "docs/"},
		{"report", "merge", g + "native.json", "--out", out, "--sarif-location", ":7"},
		{"run", "--format", "yaml"},
		{"report", "github", g + "native.json", "--docs-url", "docs/"},
	} {
		code, _, errb := runCLI(args...)
		if code != 2 || !strings.Contains(errb, args[len(args)-1]) {
			t.Errorf("%v: exit %d, %q: want 2 and the value named", args, code, errb)
		}
	}
}

func TestRunFormatSARIF(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("sock.mode-umask0 does not run on windows; the format is tested by report merge")
	}
	bin := buildCLI(t)
	cmd := exec.Command(bin, "run", "--scenarios", "sock.mode-umask0", "--format", "sarif")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	runs := validSARIF(t, stdout.Bytes())
	if len(runs) != 1 || runs[0].AutomationDetails.ID != "bh-ipc-check/native/" || len(runs[0].Results) != 0 {
		t.Errorf("runs %+v", runs)
	}
}

// Package report turns the suite's results into formats: the JSON report
// and matrix (bh-ipc-check/report/v1, bh-ipc-check/matrix/v1), their merge,
// and the renderers (console table, Markdown, JUnit, GitHub outputs and
// annotations, SARIF). It runs no process and opens no connection: package
// matrix produces Results, report renders them, and the CLI and the Mage
// tasks wire the two. Its only file-system use is reading report files by
// name and writing the output files.
package report

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// ReportSchema and MatrixSchema version the JSON files. A reader accepts
// the versions it knows and refuses others by name.
const (
	ReportSchema = "bh-ipc-check/report/v1"
	MatrixSchema = "bh-ipc-check/matrix/v1"
)

// Severity says what a failure means.
type Severity string

const (
	// Required: a failure is a security or data-loss bug.
	Required Severity = "required"
	// Hardening: a failure is a weakness worth fixing.
	Hardening Severity = "hardening"
)

// Scenario describes a catalogue scenario for reports: what a SARIF rule
// says about it (matrix.ReportScenarios lists the catalogue).
type Scenario struct {
	ID       string
	Title    string
	Severity Severity
	// Checks says what passes, in a sentence.
	Checks string
	// Platforms the scenario runs on (GOOS values); empty: all.
	Platforms []string
}

// FixPage is the path, relative to the bh-ipc-check repository, of the
// page that says how scenario id attacks and how to fix a failure:
// docs/scenarios/<id>.md. Every report links it from a failure.
func FixPage(id string) string { return "docs/scenarios/" + id + ".md" }

// FixLink is the fix page of id under m.DocsURL, or FixPage without one.
func (m Matrix) FixLink(id string) string {
	if m.DocsURL == "" {
		return FixPage(id)
	}
	return strings.TrimSuffix(m.DocsURL, "/") + "/" + FixPage(id)
}

// Target describes the daemon under test as reports record it (the
// runner's target, matrix.Target, converts to it; the JSON is the same).
type Target struct {
	// Builtin: the reference daemon (bh-ipc-check daemon).
	Builtin bool `json:"builtin"`
	// Cmd is the external program and its arguments, as templates.
	Cmd []string `json:"cmd,omitempty"`
	// Env holds KEY=TEMPLATE entries added to the daemon's environment.
	Env []string `json:"env,omitempty"`
	// Socket and PortFile are path templates; empty when the target has no
	// such transport.
	Socket   string `json:"socket,omitempty"`
	PortFile string `json:"port_file,omitempty"`
	// Protocol: ipc, bh-json, connect, line or exec.
	Protocol string `json:"protocol"`
	// Send, Expect and Probe: the line and exec protocols' probes.
	Send   string `json:"send,omitempty"`
	Expect string `json:"expect,omitempty"`
	Probe  string `json:"probe,omitempty"`
	// DirCreatedBy "suite": the suite, not the daemon, made the socket's
	// directory (0700) before each start, so what that directory protects
	// was not the daemon's doing; reports say so.
	DirCreatedBy string `json:"dir_created_by,omitempty"`
	// Forks and PidFile: the daemon may detach (found by peer credentials
	// or the pid file template).
	Forks   bool   `json:"forks,omitempty"`
	PidFile string `json:"pid_file,omitempty"`
	// LockFile: the lock file template (path.pidfile-link plants there).
	LockFile string `json:"lock_file,omitempty"`
	// PerUserBase: the daemon chooses its own base ($XDG_RUNTIME_DIR when
	// private, else $TMPDIR, which the suite set to each scenario's root);
	// dir.squat-dos looked for it in a per-user base.
	PerUserBase bool `json:"per_user_base,omitempty"`
	// Keep: glob templates naming the daemon's own data, which
	// inst.clean-shutdown did not count as left behind.
	Keep []string `json:"keep,omitempty"`
}

// Describe is a one-line description for reports, with the conditions a
// reader must know to weigh the verdicts (a socket directory the suite
// made, a daemon that forks).
func (t Target) Describe() string {
	if t.Builtin {
		return "builtin"
	}
	s := strings.Join(t.Cmd, " ")
	var notes []string
	if t.DirCreatedBy == "suite" {
		notes = append(notes, "socket directory made by the suite")
	}
	if t.Forks {
		notes = append(notes, "forks")
	}
	if t.PerUserBase {
		notes = append(notes, "chooses its own base ($TMPDIR = root)")
	}
	if len(notes) > 0 {
		s += " [" + strings.Join(notes, "; ") + "]"
	}
	return s
}

// Status of one scenario on one leg.
type Status string

const (
	Pass Status = "pass"
	Fail Status = "fail"
	Skip Status = "skip"
	// Error: no verdict could be reached (setup failure, an impostor
	// answering, a timeout, an interrupted run).
	Error Status = "error"
)

// Result is one scenario's outcome on one leg.
type Result struct {
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Severity Severity `json:"severity"`
	// Transport the daemon ran with, unix or tcp (a field added within v1:
	// absent in older reports).
	Transport string `json:"transport,omitempty"`
	Status    Status `json:"status"`
	// Reason says why it failed or was skipped (and for a skip, how to run
	// it); for a pass, what was seen.
	Reason string `json:"reason"`
	// Evidence: modes, owners, paths, errno, daemon output.
	Evidence   []string           `json:"evidence,omitempty"`
	Metrics    map[string]float64 `json:"metrics,omitempty"`
	DurationMS float64            `json:"duration_ms"`
	// Incomplete: the scenario applies to this platform and target but
	// reached no verdict (an error, or a skip for lack of privilege).
	Incomplete bool `json:"incomplete,omitempty"`
	// NotApplicable, on a skip: the scenario cannot apply to the target
	// as given, for this cause, which every scenario skipped for it shares
	// (a transport the target lacks: "the target has no tcp transport;
	// give --port-file TEMPLATE to run it"). The console table and the
	// Markdown fold these skips into a line per cause; JSON and JUnit keep
	// each result with its own Reason. A field added within v1.
	NotApplicable string `json:"not_applicable,omitempty"`
}

// Report is one run of the suite on one leg.
type Report struct {
	Schema      string    `json:"schema"`
	Tool        string    `json:"tool"`
	Host        string    `json:"host"`
	OS          string    `json:"os"`
	Arch        string    `json:"arch"`
	Leg         string    `json:"leg"`
	Target      Target    `json:"target"`
	UID         int       `json:"uid"`
	DaemonUID   int       `json:"daemon_uid"`
	AttackerUID int       `json:"attacker_uid"`
	Umask       string    `json:"umask"`
	Started     time.Time `json:"started"`
	DurationMS  float64   `json:"duration_ms"`
	Results     []Result  `json:"results"`
	Summary     Summary   `json:"summary"`
	// Interrupted: the run was stopped (SIGINT, SIGTERM) before its end;
	// Results holds what finished.
	Interrupted bool `json:"interrupted,omitempty"`
	// SetupError: the run stopped before any scenario (a failed
	// preflight); Results is empty. The run exits 2.
	SetupError string `json:"setup_error,omitempty"`
	// Warnings: what the run noticed that may weaken it without being a
	// result: the attacker uid has live processes, the run directory
	// could not be removed.
	Warnings []string `json:"warnings,omitempty"`
}

// Summary counts results.
type Summary struct {
	Passed         int `json:"passed"`
	Failed         int `json:"failed"`
	Skipped        int `json:"skipped"`
	RequiredFailed int `json:"required_failed"`
	Errors         int `json:"errors"`
	// RequiredIncomplete counts required scenarios that apply here but
	// reached no verdict (Result.Incomplete).
	RequiredIncomplete int `json:"required_incomplete"`
	// RequiredPassed and HardeningPassed split Passed by severity;
	// HardeningFailed counts the failed hardening scenarios (Failed is
	// RequiredFailed + HardeningFailed), and HardeningFailures names them,
	// each once, in order. A hardening failure changes neither the verdict
	// nor the exit code; the headline (Headline) says it. Fields added
	// within v1: a report written before them has zeros here, and
	// NewMatrix counts them again from the results.
	RequiredPassed    int      `json:"required_passed"`
	HardeningPassed   int      `json:"hardening_passed"`
	HardeningFailed   int      `json:"hardening_failed"`
	HardeningFailures []string `json:"hardening_failures,omitempty"`
	// NotApplicable counts the skips of scenarios that cannot apply to
	// the target (Result.NotApplicable), of Skipped. A field added within
	// v1, counted again from the results by NewMatrix.
	NotApplicable int `json:"not_applicable"`
	// RequiredSelected counts the required results, whatever their
	// status: 0 when the run selected no required scenario (--scenarios
	// naming hardening ones only), which the headline says instead of
	// "0 passed, 0 failed". A field added within v1, counted again from
	// the results by NewMatrix.
	RequiredSelected int `json:"required_selected"`
}

// Summarize counts rs.
func Summarize(rs []Result) Summary {
	var s Summary
	for _, r := range rs {
		switch r.Status {
		case Pass:
			s.Passed++
			if r.Severity == Required {
				s.RequiredPassed++
			} else {
				s.HardeningPassed++
			}
		case Fail:
			s.Failed++
			if r.Severity == Required {
				s.RequiredFailed++
			} else {
				s.HardeningFailed++
				if !slices.Contains(s.HardeningFailures, r.ID) {
					s.HardeningFailures = append(s.HardeningFailures, r.ID)
				}
			}
		case Skip:
			s.Skipped++
			if r.NotApplicable != "" {
				s.NotApplicable++
			}
		case Error:
			s.Errors++
		}
		if r.Incomplete && r.Severity == Required {
			s.RequiredIncomplete++
		}
		if r.Severity == Required {
			s.RequiredSelected++
		}
	}
	return s
}

// Matrix is several reports (legs, hosts) joined.
type Matrix struct {
	Schema  string   `json:"schema"`
	Reports []Report `json:"reports"`
	Summary Summary  `json:"summary"`
	// DocsURL, when set, is an absolute URL under which docs/scenarios/ is
	// served (for example https://github.com/org/bh-ipc-check/blob/v1/):
	// the renderers then link fix pages there, which works from another
	// repository's step summary or code scanning alert. Empty: links are
	// relative to the bh-ipc-check repository. Not part of the JSON.
	DocsURL string `json:"-"`
}

// NewMatrix joins reports in the order given.
func NewMatrix(reports ...Report) Matrix {
	m := Matrix{Schema: MatrixSchema, Reports: reports}
	for _, r := range reports {
		s := r.Summary
		m.Summary.Passed += s.Passed
		m.Summary.Failed += s.Failed
		m.Summary.Skipped += s.Skipped
		m.Summary.RequiredFailed += s.RequiredFailed
		m.Summary.Errors += s.Errors
		m.Summary.RequiredIncomplete += s.RequiredIncomplete
		// The split by severity is counted from the results, so that a
		// report written before the split (zeros there) counts too.
		split := Summarize(r.Results)
		m.Summary.RequiredPassed += split.RequiredPassed
		m.Summary.HardeningPassed += split.HardeningPassed
		m.Summary.HardeningFailed += split.HardeningFailed
		m.Summary.NotApplicable += split.NotApplicable
		m.Summary.RequiredSelected += split.RequiredSelected
		for _, id := range split.HardeningFailures {
			if !slices.Contains(m.Summary.HardeningFailures, id) {
				m.Summary.HardeningFailures = append(m.Summary.HardeningFailures, id)
			}
		}
	}
	return m
}

// LoadReports reads report or matrix JSON files and returns their reports
// in order (a matrix contributes all of its reports).
func LoadReports(paths ...string) ([]Report, error) {
	var out []Report
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var head struct {
			Schema string `json:"schema"`
		}
		if err := json.Unmarshal(b, &head); err != nil {
			return nil, fmt.Errorf("%s: not JSON: %w", p, err)
		}
		switch head.Schema {
		case ReportSchema:
			var r Report
			if err := json.Unmarshal(b, &r); err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			out = append(out, r)
		case MatrixSchema:
			var m Matrix
			if err := json.Unmarshal(b, &m); err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			out = append(out, m.Reports...)
		default:
			return nil, fmt.Errorf("%s: schema %q: want %s or %s", p, head.Schema, ReportSchema, MatrixSchema)
		}
	}
	return out, nil
}

// CheckDistinct refuses reports that are the same run given twice (the
// same host, leg and start time): merged, they would count every result
// twice.
func CheckDistinct(reps []Report) error {
	type key struct {
		host, leg string
		started   time.Time
	}
	seen := map[key]int{}
	for i, r := range reps {
		if r.Started.IsZero() {
			continue
		}
		k := key{r.Host, r.Leg, r.Started.UTC()}
		if j, ok := seen[k]; ok {
			return fmt.Errorf("reports %d and %d are the same run (host %s, leg %s, started %s): give each once", j+1, i+1, r.Host, r.Leg, r.Started.UTC().Format(time.RFC3339Nano))
		}
		seen[k] = i
	}
	return nil
}

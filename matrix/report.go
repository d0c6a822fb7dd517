package matrix

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/org/bh-ipc-check/ipc"
)

// ReportSchema and MatrixSchema version the JSON files. A reader accepts
// the versions it knows and refuses others by name.
const (
	ReportSchema = "bh-ipc-check/report/v1"
	MatrixSchema = "bh-ipc-check/matrix/v1"
)

// Status of one scenario on one leg.
type Status string

const (
	Pass Status = "pass"
	Fail Status = "fail"
	Skip Status = "skip"
	// Error: no verdict could be reached (an impostor answered for the
	// daemon). Counted with the failures until the outcome model counts
	// it on its own.
	Error Status = "error"
)

// Result is one scenario's outcome on one leg.
type Result struct {
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Severity Severity `json:"severity"`
	// Transport the daemon ran with (a field added within v1: absent in
	// older reports).
	Transport ipc.Transport `json:"transport,omitempty"`
	Status    Status        `json:"status"`
	// Reason says why it failed or was skipped (and for a skip, how to run
	// it); for a pass, what was seen.
	Reason string `json:"reason"`
	// Evidence: modes, owners, paths, errno, daemon output.
	Evidence   []string           `json:"evidence,omitempty"`
	Metrics    map[string]float64 `json:"metrics,omitempty"`
	DurationMS float64            `json:"duration_ms"`
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
}

// Summary counts results.
type Summary struct {
	Passed         int `json:"passed"`
	Failed         int `json:"failed"`
	Skipped        int `json:"skipped"`
	RequiredFailed int `json:"required_failed"`
}

// Summarize counts rs.
func Summarize(rs []Result) Summary {
	var s Summary
	for _, r := range rs {
		switch r.Status {
		case Pass:
			s.Passed++
		case Fail, Error:
			s.Failed++
			if r.Severity == Required {
				s.RequiredFailed++
			}
		case Skip:
			s.Skipped++
		}
	}
	return s
}

// Matrix is several reports (legs, hosts) joined.
type Matrix struct {
	Schema  string   `json:"schema"`
	Reports []Report `json:"reports"`
	Summary Summary  `json:"summary"`
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

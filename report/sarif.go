package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// SARIF 2.1.0 for GitHub code scanning. The few objects written here are
// plain structs: github.com/owenrumney/go-sarif/v3 (v3.3.1) was weighed and
// not used, because its v210 package links a JSON-schema validator
// (gojsonschema) and an embedded schema into every binary that writes a
// file, and its Run always serialises about fifteen empty arrays.
// GitHub's requirements (docs "SARIF support for code scanning") met here:
// $schema and version; tool.driver.name and rules with id, name (at most
// 255 characters), shortDescription and fullDescription (at most 1024),
// help.text and help.markdown, defaultConfiguration.level, properties.tags
// (at most 20), precision, problem.severity and security-severity; per
// result ruleId, message.text, one location (artifactLocation.uri, a file
// of the repository, and a region from startLine to endColumn; none when
// no such file can be named: see SARIFLocation) and partialFingerprints
// (primaryLocationLineHash), and a distinct automationDetails.id category
// per run; at most 20 runs per file.

// SARIFSchemaURI is the $schema a SARIF file names (GitHub's example uses
// this copy of the OASIS schema).
const SARIFSchemaURI = "https://json.schemastore.org/sarif-2.1.0.json"

// MaxSARIFRuns is GitHub code scanning's limit of runs in one file.
const MaxSARIFRuns = 20

// Security-severity scores (GitHub: 7.0-8.9 high, 4.0-6.9 medium).
const (
	requiredSecuritySeverity  = "8.0"
	hardeningSecuritySeverity = "5.0"
)

// SARIFOptions says what a SARIF file describes beyond the results.
type SARIFOptions struct {
	// Scenarios is the catalogue: one rule each (results for scenarios
	// not in it get a rule from the result's title and severity).
	Scenarios []Scenario
	// Location is where code scanning shows every result: PATH or
	// PATH:LINE, relative to the repository root (the source that creates
	// the socket). Empty: the daemon's command (see SARIFLocation).
	Location string
}

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool              sarifTool         `json:"tool"`
	AutomationDetails sarifAutomation   `json:"automationDetails"`
	Results           []sarifResult     `json:"results"`
	Properties        map[string]string `json:"properties"`
}

type sarifAutomation struct {
	ID string `json:"id"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifHelp struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown"`
}

type sarifRule struct {
	ID                   string             `json:"id"`
	Name                 string             `json:"name"`
	ShortDescription     sarifText          `json:"shortDescription"`
	FullDescription      sarifText          `json:"fullDescription"`
	Help                 sarifHelp          `json:"help"`
	HelpURI              string             `json:"helpUri,omitempty"`
	DefaultConfiguration sarifConfiguration `json:"defaultConfiguration"`
	Properties           sarifRuleProps     `json:"properties"`
}

type sarifConfiguration struct {
	Level string `json:"level"`
}

type sarifRuleProps struct {
	Tags             []string `json:"tags"`
	Precision        string   `json:"precision"`
	ProblemSeverity  string   `json:"problem.severity"`
	SecuritySeverity string   `json:"security-severity"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          map[string]string `json:"properties"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
	Message          sarifText     `json:"message"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           sarifRegion   `json:"region"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn"`
	EndLine     int `json:"endLine"`
	EndColumn   int `json:"endColumn"`
}

// SARIF renders m as a SARIF 2.1.0 log: one run per report (leg), each
// with a rule per catalogue scenario and a result per failed scenario, the
// evidence in its message. Each run's automationDetails.id is
// "bh-ipc-check/<column>/", a category of its own, so a merged matrix
// uploads as distinct analyses. More than MaxSARIFRuns reports is an error.
func SARIF(m Matrix, o SARIFOptions) ([]byte, error) {
	if len(m.Reports) > MaxSARIFRuns {
		return nil, fmt.Errorf("SARIF: %d legs, GitHub code scanning accepts at most %d runs in a file; merge fewer reports", len(m.Reports), MaxSARIFRuns)
	}
	cols := columnNames(m.Reports)
	log := sarifLog{Schema: SARIFSchemaURI, Version: "2.1.0", Runs: []sarifRun{}}
	for i, r := range m.Reports {
		uri, line, err := SARIFLocation(o.Location, r.Target)
		if err != nil {
			return nil, err
		}
		rules, index := sarifRules(m, o, r.Results)
		category := "bh-ipc-check/" + cols[i]
		run := sarifRun{
			Tool:              sarifTool{Driver: sarifDriver{Name: "bh-ipc-check", InformationURI: "https://github.com/org/bh-ipc-check", Rules: rules}},
			AutomationDetails: sarifAutomation{ID: category + "/"},
			Results:           []sarifResult{},
			Properties: map[string]string{
				"host": r.Host, "os": r.OS, "arch": r.Arch, "leg": r.Leg, "target": r.Target.Describe(), "protocol": r.Target.Protocol,
				"uid": strconv.Itoa(r.UID), "daemon_uid": strconv.Itoa(r.DaemonUID), "attacker_uid": strconv.Itoa(r.AttackerUID), "umask": r.Umask,
			},
		}
		for _, res := range r.Results {
			if res.Status != Fail {
				continue
			}
			msg := res.Reason
			if msg == "" {
				msg = res.Title + ": failed"
			}
			if len(res.Evidence) > 0 {
				msg += "\n\nEvidence:\n- " + strings.Join(res.Evidence, "\n- ")
			}
			msg += "\n\nFix: " + m.FixLink(res.ID)
			fp := sha256.Sum256([]byte(res.ID + "\x00" + category + "\x00" + uri))
			locs := []sarifLocation{}
			if uri != "" {
				locs = append(locs, sarifLocation{
					PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{uri}, Region: sarifRegion{line, 1, line, 1}},
					Message:          sarifText{"the daemon under test: " + r.Target.Describe()},
				})
			}
			run.Results = append(run.Results, sarifResult{
				RuleID: res.ID, RuleIndex: index[res.ID], Level: level(res.Severity),
				Message:             sarifText{msg},
				Locations:           locs,
				PartialFingerprints: map[string]string{"primaryLocationLineHash": hex.EncodeToString(fp[:8]) + ":1"},
				Properties:          map[string]string{"leg": cols[i], "transport": res.Transport},
			})
		}
		log.Runs = append(log.Runs, run)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // evidence holds <, > and & often
	enc.SetIndent("", "  ")
	if err := enc.Encode(log); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func level(s Severity) string {
	if s == Required {
		return "error"
	}
	return "warning"
}

// sarifRules is a rule per catalogue scenario, then one per result whose
// scenario the catalogue lacks, and each rule's index.
func sarifRules(m Matrix, o SARIFOptions, results []Result) ([]sarifRule, map[string]int) {
	scens := append([]Scenario(nil), o.Scenarios...)
	known := map[string]bool{}
	for _, s := range scens {
		known[s.ID] = true
	}
	for _, res := range results {
		if !known[res.ID] {
			known[res.ID] = true
			scens = append(scens, Scenario{ID: res.ID, Title: res.Title, Severity: res.Severity})
		}
	}
	rules := make([]sarifRule, len(scens))
	index := map[string]int{}
	for i, s := range scens {
		index[s.ID] = i
		rules[i] = sarifRuleFor(s, m)
	}
	return rules, index
}

// sarifRuleFor is s's rule; with m.DocsURL its help links are absolute
// and it has a helpUri (the schema wants an absolute URI there).
func sarifRuleFor(s Scenario, m Matrix) sarifRule {
	title := s.Title
	if title == "" {
		title = s.ID
	}
	full := title + "."
	if s.Checks != "" {
		full = "Passes when " + s.Checks + "."
	}
	switch s.Severity {
	case Required:
		full += " Required: a failure is a security or data-loss bug."
	case Hardening:
		full += " Hardening: a failure is a weakness worth fixing."
	}
	if len(s.Platforms) > 0 {
		full += " Runs on " + strings.Join(s.Platforms, ", ") + "."
	}
	page, link := FixPage(s.ID), m.FixLink(s.ID)
	r := sarifRule{
		ID:               s.ID,
		Name:             pascal(s.ID),
		ShortDescription: sarifText{cut(title, 1024)},
		FullDescription:  sarifText{cut(full, 1024)},
		Help: sarifHelp{
			Text:     full + "\n\nThe attack, how the suite checks it, and the fix: " + link + " (bh-ipc-check repository).",
			Markdown: "**" + title + "**\n\n" + full + "\n\nThe attack, how the suite checks it, and the fix: [" + page + "](" + link + ").",
		},
		DefaultConfiguration: sarifConfiguration{level(s.Severity)},
		Properties: sarifRuleProps{
			Tags:      []string{"security", "bh-ipc-check", string(s.Severity)},
			Precision: "high", ProblemSeverity: "error", SecuritySeverity: requiredSecuritySeverity,
		},
	}
	if s.Severity != Required {
		r.Properties.ProblemSeverity, r.Properties.SecuritySeverity = "warning", hardeningSecuritySeverity
	}
	if family, _, ok := strings.Cut(s.ID, "."); ok {
		r.Properties.Tags = append(r.Properties.Tags, family)
	}
	if m.DocsURL != "" {
		r.HelpURI = link
	}
	return r
}

// pascal makes a rule name from an ID: "sock.mode-umask0" → "SockModeUmask0".
func pascal(id string) string {
	var b strings.Builder
	up := true
	for _, r := range id {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			up = true
			continue
		}
		if up {
			r = unicode.ToUpper(r)
		}
		b.WriteRune(r)
		up = false
	}
	return cut(b.String(), 255)
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 3 && !utf8.RuneStart(s[n-3]) {
		n--
	}
	return s[:n-3] + "..."
}

// SARIFLocation is the artifact URI and line code scanning shows results
// at. An explicit location, PATH or PATH:LINE relative to the repository
// root, wins: it should name the source that creates the socket, where the
// fix goes. Without one: the builtin daemon's is ipc/endpoint.go (Listen);
// an external daemon's is the first word of its command (no option, no
// placeholder) that is a regular file inside the current directory (the
// repository's checkout, where the action runs), as a path relative to
// it; else there is none (uri ""): a program on PATH, an inline script or
// a name such as "php-fpm8.2" is no file of the repository, and code
// scanning would show a location that does not exist. In GitHub Actions
// the workflow file ($GITHUB_WORKFLOW_REF) stands in for it; give
// --sarif-location to name the daemon's source.
func SARIFLocation(loc string, t Target) (uri string, line int, err error) {
	line = 1
	if loc != "" {
		p := loc
		if i := strings.LastIndex(loc, ":"); i >= 0 {
			if n, err := strconv.Atoi(loc[i+1:]); err == nil {
				if n < 1 {
					return "", 0, fmt.Errorf("SARIF location %q: line %d, want 1 or more", loc, n)
				}
				p, line = loc[:i], n
			}
		}
		if p == "" {
			return "", 0, fmt.Errorf("SARIF location %q: no path", loc)
		}
		return pathURI(p), line, nil
	}
	if t.Builtin || len(t.Cmd) == 0 {
		return "ipc/endpoint.go", line, nil
	}
	for _, w := range t.Cmd {
		if strings.HasPrefix(w, "-") || strings.Contains(w, "{") {
			continue
		}
		if rel, ok := repoFile(w); ok {
			return pathURI(rel), line, nil
		}
	}
	// In GitHub Actions: the workflow file that ran the suite, which code
	// scanning can show (it displays no result without a location).
	if ref := os.Getenv("GITHUB_WORKFLOW_REF"); ref != "" {
		ref, _, _ = strings.Cut(ref, "@")
		if parts := strings.SplitN(ref, "/", 3); len(parts) == 3 {
			if rel, ok := repoFile(parts[2]); ok {
				return pathURI(rel), line, nil
			}
		}
	}
	return "", 0, nil
}

// repoFile reports whether p names a regular file inside the current
// directory, and its path relative to it.
func repoFile(p string) (string, bool) {
	wd, err := os.Getwd()
	if err != nil {
		return "", false
	}
	abs := p
	if !filepath.IsAbs(p) {
		abs = filepath.Join(wd, p)
	}
	rel, err := filepath.Rel(wd, abs)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	fi, err := os.Stat(abs)
	if err != nil || !fi.Mode().IsRegular() {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// pathURI is a file path as a URI reference: relative paths stay relative
// (slashes, escaped), absolute ones become file:// URIs.
func pathURI(p string) string {
	p = strings.ReplaceAll(p, `\`, "/")
	if len(p) >= 2 && p[1] == ':' { // C:/...
		p = "/" + p
	}
	if strings.HasPrefix(p, "/") {
		return (&url.URL{Scheme: "file", Path: p}).String()
	}
	return (&url.URL{Path: strings.TrimPrefix(p, "./")}).String()
}

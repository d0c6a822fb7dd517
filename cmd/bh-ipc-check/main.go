// Command bh-ipc-check runs the reference IPC daemon and the regression
// suite that checks any daemon's local endpoint against other local users.
//
// Exit codes: 0 every required scenario passed (or the command succeeded),
// 1 a required scenario failed (or the command failed), 2 usage or setup
// error (the preflight included, and a run in which nothing was tested),
// 3 incomplete (required scenarios that apply here reached no verdict),
// 130 interrupted.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/org/bh-ipc-check/ipc"
	"github.com/org/bh-ipc-check/matrix"
	"github.com/org/bh-ipc-check/report"
)

const usage = `bh-ipc-check: check a daemon's local IPC endpoint against other local users

Usage:
  bh-ipc-check daemon    --name N [--root DIR] [--transport unix|tcp]   run the reference daemon
  bh-ipc-check ping      --name N [--root DIR] [--transport unix|tcp]   ping an endpoint
  bh-ipc-check list      [--root DIR] [--live]                          list endpoints under a root
  bh-ipc-check scenarios [--format table|json]                          the scenario catalogue
  bh-ipc-check run       [flags]                                        run the suite against a target
  bh-ipc-check report merge A.json B.json ... --out DIR                 join reports into one matrix
  bh-ipc-check report github REPORT.json ...                            publish to a GitHub Actions step

Run "bh-ipc-check COMMAND --help" for a command's flags.
Exit codes: 0 success (every required scenario passed), 1 failure (a required
scenario failed), 2 usage or setup error (preflight included; nothing tested),
3 incomplete (required scenarios reached no verdict: no privilege, an error),
130 interrupted.
`

// errUsage marks errors that exit 2.
type errUsage struct{ error }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case matrix.HelperCommand:
		return matrix.HelperMain(rest)
	case "daemon":
		err = cmdDaemon(rest, stderr)
	case "ping":
		err = cmdPing(rest, stdout, stderr)
	case "list":
		err = cmdList(rest, stdout, stderr)
	case "scenarios":
		err = cmdScenarios(rest, stdout, stderr)
	case "run":
		return cmdRun(rest, stdout, stderr)
	case "report":
		err = cmdReport(rest, stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "bh-ipc-check: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	return exitFor(err, stderr)
}

func exitFor(err error, stderr io.Writer) int {
	var ue errUsage
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "bh-ipc-check:", err)
		if os.Getenv(matrix.FromActionEnv) == "1" {
			// Under the action: the refusal itself as the step's
			// annotation, naming the action's inputs, not the CLI's flags.
			fmt.Fprintln(annotations, "::error title=bh-ipc-check: an input was refused::"+annotationEscape(matrix.ActionWords(err.Error())))
		}
		return 2
	default:
		fmt.Fprintln(stderr, "bh-ipc-check:", err)
		return 1
	}
}

// newFlags makes a flag set whose errors are returned, not fatal, with a
// usage line and the flags' help.
// uidFlag is a uid flag whose default (-1: chosen at run time) its usage
// describes: an unset one prints as "", so --help shows no "(default -1)"
// beside that description.
type uidFlag struct {
	n   *int
	set bool
}

func (u *uidFlag) String() string {
	if u == nil || u.n == nil || !u.set {
		return ""
	}
	return strconv.Itoa(*u.n)
}

func (u *uidFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("want a uid (a number), got %q", s)
	}
	*u.n, u.set = n, true
	return nil
}

// gidsFlag is a comma-separated list of gids ("" is none), each 0 up to
// matrix.MaxID; set says whether it was given.
type gidsFlag struct {
	ids []int
	set bool
}

func (g *gidsFlag) String() string {
	if g == nil {
		return ""
	}
	var s []string
	for _, id := range g.ids {
		s = append(s, strconv.Itoa(id))
	}
	return strings.Join(s, ",")
}

func (g *gidsFlag) Set(v string) error {
	g.ids, g.set = nil, true
	if strings.TrimSpace(v) == "" {
		return nil // '' for none
	}
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			return fmt.Errorf("want gids from 0 to %d separated by commas, got an empty one in %q", matrix.MaxID, v)
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 || n > matrix.MaxID {
			return fmt.Errorf("want gids from 0 to %d separated by commas, got %q", matrix.MaxID, f)
		}
		g.ids = append(g.ids, n)
	}
	return nil
}

// uidVar defines a uid flag (see uidFlag), -1 when not given.
func uidVar(fs *flag.FlagSet, name, usage string) *int {
	n := -1
	fs.Var(&uidFlag{n: &n}, name, usage)
	return &n
}

func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: bh-ipc-check %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, letting flags and positional arguments mix; a flag
// error is a usage error.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage{err}
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func noArgs(pos []string) error {
	if len(pos) > 0 {
		return errUsage{fmt.Errorf("unexpected argument %q", pos[0])}
	}
	return nil
}

// endpointFlags are --name, --root and --transport.
type endpointFlags struct {
	name, root, transport string
}

func (e *endpointFlags) register(fs *flag.FlagSet, needName bool) {
	if needName {
		fs.StringVar(&e.name, "name", "", "endpoint name, [A-Za-z0-9_-]{1,64} (required)")
	}
	fs.StringVar(&e.root, "root", "", "runtime directory (default $BH_RUNTIME_DIR, else a private $XDG_RUNTIME_DIR, else the temp dir)")
	fs.StringVar(&e.transport, "transport", string(ipc.DefaultTransport()), "unix or tcp")
}

func (e *endpointFlags) options() ([]ipc.Option, error) {
	tr, err := ipc.ParseTransport(e.transport)
	if err != nil {
		return nil, errUsage{err}
	}
	opts := []ipc.Option{ipc.WithTransport(tr)}
	if e.root != "" {
		opts = append(opts, ipc.WithRoot(e.root))
	}
	return opts, nil
}

func (e *endpointFlags) needName() error {
	if e.name == "" {
		return errUsage{errors.New("--name is required")}
	}
	if err := ipc.ValidateName(e.name); err != nil {
		return errUsage{err}
	}
	return nil
}

func cmdDaemon(args []string, stderr io.Writer) error {
	fs := newFlags("daemon", "daemon --name N [--root DIR] [--transport unix|tcp]\n\nThe reference daemon on the ipc package: JSON lines, {\"meta\":\"ping\"} answered with\n{\"pong\":true,\"pid\":N}, other requests echoed. Logs to stderr; SIGINT or SIGTERM\nremoves the endpoint and exits 0.", stderr)
	var ef endpointFlags
	ef.register(fs, true)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	// The name is validated by Listen (before any filesystem call) so that
	// a refused name is reported like any other refusal: exit 1.
	if ef.name == "" {
		return errUsage{errors.New("--name is required")}
	}
	opts, err := ef.options()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "%s bh-ipc-check daemon[%d]: %s\n", time.Now().Format(time.RFC3339), os.Getpid(), fmt.Sprintf(format, a...))
	}
	rejects := newRejectLog(logf)
	defer rejects.flush()
	opts = append(opts, ipc.WithOnReject(rejects.reject))
	ln, err := ipc.Listen(ctx, ef.name, opts...)
	if err != nil {
		return err
	}
	logf("listening on %s (transport %s)", ln.Addr(), ef.transport)
	srv := &ipc.Server{
		Handler: ipc.HandlerFunc(func(ctx context.Context, req json.RawMessage) (any, error) {
			return map[string]any{"echo": req}, nil
		}),
		Logf: logf,
	}
	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	rejects.flush()
	logf("stopped; endpoint removed")
	return nil
}

func cmdPing(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("ping", "ping --name N [--root DIR] [--transport unix|tcp] [--timeout D]", stderr)
	var ef endpointFlags
	ef.register(fs, true)
	timeout := durationFlag(fs, "timeout", 5*time.Second, "give up after this long")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	if err := ef.needName(); err != nil {
		return err
	}
	opts, err := ef.options()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c, err := ipc.Dial(ctx, ef.name, opts...)
	if err != nil {
		return err
	}
	defer c.Close()
	t0 := time.Now()
	pid, err := c.Identify(ctx)
	if err != nil {
		return err
	}
	lay := c.Layout()
	where := lay.Sock
	if lay.Transport == ipc.TransportTCP {
		where = lay.Port
	}
	fmt.Fprintf(stdout, "pong from pid %d at %s in %s\n", pid, where, time.Since(t0).Round(time.Microsecond))
	return nil
}

func cmdList(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("list", "list [--root DIR] [--live]", stderr)
	var ef endpointFlags
	fs.StringVar(&ef.root, "root", "", "runtime directory (default as for daemon)")
	live := fs.Bool("live", false, "ping each endpoint and list only those that answer")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	// A fallback directory that cannot be read (another uid holds it) is
	// skipped with a warning, not a failed list.
	opts := []ipc.Option{ipc.WithOnWarning(func(err error) { fmt.Fprintln(stderr, "warning:", err) })}
	if ef.root != "" {
		opts = append(opts, ipc.WithRoot(ef.root))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list := ipc.List
	if *live {
		list = ipc.ListLive
	}
	eps, err := list(ctx, opts...)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTRANSPORT\tPID\tPATH")
	for _, e := range eps {
		pid := "-"
		if e.Live {
			pid = strconv.Itoa(e.PID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Name, e.Transport, pid, e.Path)
	}
	return tw.Flush()
}

func cmdScenarios(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("scenarios", "scenarios [--format table|json]", stderr)
	format := fs.String("format", "table", "table or json")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	cat := matrix.Catalogue()
	switch *format {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(cat)
	case "table":
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSEVERITY\tTRANSPORT\tPLATFORMS\tNEEDS\tCHECKS")
		for _, s := range cat {
			plat, needs := "all", "-"
			if len(s.Platforms) > 0 {
				plat = strings.Join(s.Platforms, ",")
			}
			var ns []string
			for _, n := range s.Needs {
				ns = append(ns, string(n))
			}
			if s.BuiltinOnly {
				ns = append(ns, "builtin-target")
			}
			if s.Abstract == matrix.AbstractOnly {
				ns = append(ns, "abstract-socket")
			}
			if len(ns) > 0 {
				needs = strings.Join(ns, ",")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Severity, s.Transport, plat, needs, s.Checks)
		}
		return tw.Flush()
	}
	return errUsage{fmt.Errorf("--format %q: want table or json", *format)}
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// emitReports writes m's reports to reportDir (when set) and prints it on
// stdout in format (nothing for ""); it returns a non-zero exit code when
// that failed.
func emitReports(m report.Matrix, reportDir, format, docsURL string, o report.SARIFOptions, stdout, stderr io.Writer) int {
	m.DocsURL = docsURL
	if reportDir != "" {
		files, err := report.WriteDir(reportDir, "report", m, o)
		if err != nil {
			return exitFor(errUsage{fmt.Errorf("writing reports: %w", err)}, stderr)
		}
		fmt.Fprintf(stderr, "reports: %s\n", strings.Join(files, ", "))
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	switch {
	case format == "":
	case format == "sarif":
		b, err := report.SARIF(m, o)
		if err != nil {
			return exitFor(err, stderr)
		}
		stdout.Write(b)
	case format == "json" && len(m.Reports) == 1:
		enc.Encode(m.Reports[0])
	case format == "json":
		enc.Encode(m)
	case len(m.Reports) == 1:
		fmt.Fprintln(stdout)
		report.WriteTable(stdout, m.Reports[0])
	default:
		fmt.Fprintln(stdout)
		report.WriteMatrixTable(stdout, m)
	}
	return 0
}

// externalOnlyFlags are the flags given that only an external target uses.
func externalOnlyFlags(fs *flag.FlagSet) []string {
	var set []string
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "socket", "port-file", "env", "send", "send-file", "expect", "probe", "dir-created-by", "forks", "pidfile", "keep", "lockfile", "per-user-base":
			set = append(set, "--"+f.Name)
		}
	})
	return set
}

// maxSendFile is the most --send-file sends: a probe's request, not a
// payload.
const maxSendFile = 64 << 10

// readSendFile reads --send-file: a regular file of at most maxSendFile
// bytes.
func readSendFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--send-file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("--send-file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("--send-file %s: not a regular file (%s)", path, fi.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSendFile+1))
	if err != nil {
		return nil, fmt.Errorf("--send-file: %w", err)
	}
	if len(b) > maxSendFile {
		return nil, fmt.Errorf("--send-file %s: more than %d bytes (the limit %d): the probe sends a request, not a payload", path, len(b)-1, maxSendFile)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("--send-file %s: empty (for a daemon that speaks first give --expect alone)", path)
	}
	return b, nil
}

// runExit prints what an incomplete or interrupted run needs said and
// returns the run's exit code (report.ExitCode, or 130 when interrupted).
func runExit(ctx context.Context, m report.Matrix, argv []string, allowIncomplete, table bool, stdout, stderr io.Writer) int {
	note := report.IncompleteNote(argv, m.Reports...)
	var out io.Writer = report.ControlEscaper{W: stderr}
	if table {
		out = report.ControlEscaper{W: stdout}
	}
	if note != "" {
		fmt.Fprint(out, note)
		if allowIncomplete && report.Verdict(m.Summary) == "INCOMPLETE" {
			fmt.Fprintln(out, "--allow-incomplete: exit 0 although the run is INCOMPLETE")
		}
	}
	interrupted := ctx.Err() != nil
	for _, r := range m.Reports {
		interrupted = interrupted || r.Interrupted
	}
	if interrupted {
		fmt.Fprintln(stderr, "bh-ipc-check: interrupted: the report is partial")
		return report.ExitInterrupted
	}
	code := report.ExitCode(m.Summary, allowIncomplete)
	if report.Verdict(m.Summary) == "NOTHING TESTED" {
		// Name only the kinds of reason there are.
		kinds := map[report.Status]bool{}
		for _, r := range m.Reports {
			for _, res := range r.Results {
				kinds[res.Status] = true
			}
		}
		why := "see the skip and error reasons"
		switch {
		case !kinds[report.Skip]:
			why = "see the errors' reasons"
		case !kinds[report.Error]:
			why = "see the skip reasons"
		}
		fmt.Fprintf(stderr, "bh-ipc-check: nothing was tested: no scenario reached a verdict (%s)\n", why)
	}
	return code
}

func cmdReport(args []string, stdout, stderr io.Writer) error {
	sub := ""
	if len(args) > 0 {
		sub = args[0]
	}
	switch sub {
	case "merge":
		return cmdReportMerge(args[1:], stdout, stderr)
	case "github":
		return cmdReportGitHub(args[1:], stdout, stderr)
	case "--help", "-h":
		fmt.Fprintln(stdout, "Usage: bh-ipc-check report merge A.json B.json ... --out DIR\n       bh-ipc-check report github REPORT.json ...")
		return nil
	}
	return errUsage{errors.New("usage: bh-ipc-check report merge REPORT.json [more] --out DIR, or report github REPORT.json [more]")}
}

func cmdReportMerge(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("report merge", "report merge A.json B.json ... --out DIR\n\nJoins reports (or matrices) from several hosts or legs into one matrix:\nDIR/matrix.json, DIR/matrix.md, DIR/junit.xml and DIR/matrix.sarif (a run per leg).\nExit 1 if any required scenario failed.", stderr)
	out := fs.String("out", "", "directory to write the matrix into (required)")
	sarif := sarifFlags(fs)
	pos, err := parse(fs, args)
	if err == nil {
		err = sarif.check()
	}
	if err != nil {
		return err
	}
	if *out == "" && len(pos) > 0 {
		return errUsage{errors.New("--out is required")}
	}
	m, err := loadMatrix(pos)
	if err != nil {
		return err
	}
	m.DocsURL = *sarif.docsURL
	files, err := report.WriteDir(*out, "matrix", m, sarif.options())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d report(s): %s\nwrote %s\n", len(m.Reports), report.Headline(m.Summary), strings.Join(files, ", "))
	return requiredFailures(m)
}

// loadMatrix reads the report files named on the command line.
func loadMatrix(paths []string) (report.Matrix, error) {
	if len(paths) == 0 {
		return report.Matrix{}, errUsage{errors.New("no report files given")}
	}
	reps, err := report.LoadReports(paths...)
	if err == nil {
		err = report.CheckDistinct(reps)
	}
	if err != nil {
		return report.Matrix{}, errUsage{err}
	}
	return report.NewMatrix(reps...), nil
}

// requiredFailures is the command's error (exit 1) when a required
// scenario failed.
func requiredFailures(m report.Matrix) error {
	if m.Summary.RequiredFailed > 0 {
		return fmt.Errorf("%d required scenario(s) failed", m.Summary.RequiredFailed)
	}
	return nil
}

// cmdReportGitHub publishes reports to a GitHub Actions step: outputs to
// $GITHUB_OUTPUT, the Markdown matrix to $GITHUB_STEP_SUMMARY, and an
// ::error annotation per failed required scenario on stdout.
func cmdReportGitHub(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("report github", "report github REPORT.json ... [--markdown FILE]\n\nFor GitHub Actions: writes outputs (result, report-json, report-markdown, report-sarif,\npassed, failed, skipped, required-failed) to $GITHUB_OUTPUT, appends the Markdown matrix to\n$GITHUB_STEP_SUMMARY and prints an ::error annotation per failed required scenario.\nExit 1 if any required scenario failed.", stderr)
	md := fs.String("markdown", "", "the Markdown report to name in the report-markdown output (default: next to the first JSON, .md)")
	sarifPath := fs.String("sarif", "", "the SARIF report to name in the report-sarif output (default: next to the first JSON, .sarif)")
	docsURL := fs.String("docs-url", "", docsURLUsage)
	pos, err := parse(fs, args)
	if err == nil {
		err = checkDocsURL(*docsURL)
	}
	if err != nil {
		return err
	}
	m, err := loadMatrix(pos)
	if err != nil {
		return err
	}
	m.DocsURL = *docsURL
	if *md == "" {
		*md = strings.TrimSuffix(pos[0], ".json") + ".md"
	}
	if *sarifPath == "" {
		*sarifPath = strings.TrimSuffix(pos[0], ".json") + ".sarif"
	}
	if p := os.Getenv("GITHUB_OUTPUT"); p != "" {
		if err := report.WriteGitHubOutputs(p, report.GitHubOutputs(m, pos[0], *md, *sarifPath)); err != nil {
			return fmt.Errorf("writing $GITHUB_OUTPUT: %w", err)
		}
	} else {
		fmt.Fprintln(stderr, "bh-ipc-check: GITHUB_OUTPUT is not set; outputs not written")
	}
	summary := report.Markdown(m)
	if p := os.Getenv("GITHUB_STEP_SUMMARY"); p != "" {
		if err := report.AppendFile(p, summary); err != nil {
			return fmt.Errorf("writing $GITHUB_STEP_SUMMARY: %w", err)
		}
		// The same text in the log, folded: readable where summaries are
		// not shown (local runners), and checkable by the action's tests.
		fmt.Fprintf(stdout, "::group::step summary (%d bytes appended to $GITHUB_STEP_SUMMARY)\n%s::endgroup::\n", len(summary), summary)
	}
	report.WriteAnnotations(stdout, m)
	fmt.Fprintf(stdout, "bh-ipc-check: %s\n", report.Headline(m.Summary))
	return requiredFailures(m)
}

// sarifFlagSet is the flags that shape a SARIF file (--docs-url shapes
// every report's links).
type sarifFlagSet struct{ location, docsURL *string }

func sarifFlags(fs *flag.FlagSet) sarifFlagSet {
	return sarifFlagSet{
		location: fs.String("sarif-location", "", "SARIF: PATH or PATH:LINE, relative to the repository root, where code scanning shows the results: the source that creates the socket (default: the daemon's command)"),
		docsURL:  fs.String("docs-url", "", docsURLUsage),
	}
}

const docsURLUsage = "absolute URL under which docs/scenarios/ is served, for the fix-page links of every report, e.g. https://github.com/org/bh-ipc-check/blob/v1/ (default: paths relative to the bh-ipc-check repository)"

// checkDocsURL refuses a --docs-url that is not an absolute http(s) URL.
func checkDocsURL(u string) error {
	if u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		return errUsage{fmt.Errorf("--docs-url %q: want an absolute http(s) URL", u)}
	}
	return nil
}

// check refuses values a SARIF file could not carry, before anything runs.
func (f sarifFlagSet) check() error {
	if *f.location != "" {
		if _, _, err := report.SARIFLocation(*f.location, report.Target{}); err != nil {
			return errUsage{fmt.Errorf("--sarif-location: %w", err)}
		}
	}
	return checkDocsURL(*f.docsURL)
}

func (f sarifFlagSet) options() report.SARIFOptions {
	return report.SARIFOptions{Scenarios: matrix.ReportScenarios(), Location: *f.location}
}

// durationValue is a duration flag whose parse error says what is wanted
// (the flag package's own says only "parse error").
type durationValue struct{ d *time.Duration }

func (v durationValue) String() string {
	if v.d == nil {
		return ""
	}
	return v.d.String()
}

func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("want a duration with its unit, such as 90s, 2m or 1m30s")
	}
	*v.d = d
	return nil
}

// durationFlag defines a duration flag on fs, as fs.Duration does.
func durationFlag(fs *flag.FlagSet, name string, def time.Duration, usage string) *time.Duration {
	d := new(time.Duration)
	*d = def
	fs.Var(durationValue{d}, name, usage)
	return d
}

// annotations is where workflow commands go: the runner reads them on
// standard output.
var annotations io.Writer = os.Stdout

// annotationEscape escapes a workflow command's message (%, CR, LF).
func annotationEscape(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

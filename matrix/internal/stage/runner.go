package stage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/org/bh-ipc-check/internal/fsx"
	"github.com/org/bh-ipc-check/ipc"

	"github.com/org/bh-ipc-check/matrix/internal/proc"
	"github.com/org/bh-ipc-check/matrix/internal/target"
	"github.com/org/bh-ipc-check/matrix/internal/world"
)

// DefaultAttackerUID is the uid the suite acts as when it is root and no
// --attacker-uid is given.
const DefaultAttackerUID = 1001

// DefaultName is the endpoint name the suite starts daemons with.
const DefaultName = "bhcheck"

// RunDirPrefix names the run directory (os.MkdirTemp adds up to 10
// digits). It is short so that on macOS, whose $TMPDIR is 49 bytes, every
// scenario's socket fits the 103-byte sun_path (TestDarwinSocketPaths);
// not "bh-", which the sun_path fallback /tmp/bh-<uid> uses.
const RunDirPrefix = "bhc-"

// DefaultScenarioTimeout bounds one scenario.
const DefaultScenarioTimeout = 90 * time.Second

// MinScenarioTimeout and MinReadyTimeout are the least --timeout and
// --ready-timeout the CLI accepts: below them no daemon can start, and
// every scenario would end as an error.
const (
	MinScenarioTimeout = time.Second
	MinReadyTimeout    = 100 * time.Millisecond
)

// DefaultReadyTimeout bounds how long a daemon may take to answer its first
// ping, in the preflight and in every scenario.
const DefaultReadyTimeout = 10 * time.Second

// Config is one run of the suite.
type Config struct {
	// Exe is this program (bh-ipc-check): the builtin daemon and the helper
	// processes are started from it.
	Exe       string
	Target    target.Target
	Scenarios []Scenario // nil: the whole catalogue
	// Umask the daemons start with (the suite's own umask is untouched).
	Umask int
	// DaemonUID and AttackerUID; -1 means the defaults: the suite's own uid
	// for the daemon, DefaultAttackerUID for the attacker (as root).
	DaemonUID, AttackerUID int
	// AttackerGID is the attacker's primary gid (nil: its /etc/passwd
	// entry's, or its uid when it has none); AttackerGroups its
	// supplementary gids (nil: the groups /etc/group lists its name in;
	// empty: none). Root only, like AttackerUID.
	AttackerGID    *int
	AttackerGroups []int
	Leg            string
	// Name is the endpoint name daemons are started with (DefaultName).
	Name string
	// Progress receives one line per scenario as it finishes (may be nil).
	Progress io.Writer
	Timeout  time.Duration // per scenario; 0: DefaultScenarioTimeout
	// ReadyTimeout bounds a daemon's start (0: DefaultReadyTimeout).
	ReadyTimeout time.Duration
	// Command is this run's command line (program, then arguments), for
	// the hints that say how to run what was skipped; may be nil.
	Command []string
	// EnvClear starts daemons from a minimal environment (PATH, LANG,
	// HOME=/nonexistent) instead of this process's, before Target.Env.
	EnvClear bool

	// Hooks: interference the tests inject (nil outside tests).
	Hooks *TestHooks
}

// TestHooks stand in, in the tests, for what another process of the
// attacker's uid can do at points of a run: they show that it can turn a
// scenario into an error and never into a pass.
type TestHooks struct {
	// AfterPlant runs after uid planted at path (uid not the daemon's).
	AfterPlant func(e *Env, uid int, path string)
	// HelperOutput may change a helper's output before the suite reads it
	// (bytes another writer added to the helper's stdout); scenario is
	// the ID of the scenario that ran the helper.
	HelperOutput func(scenario, name string, uid int, out []byte) []byte
	// BeforeAttack runs just before the attacker's helper acts, and before
	// tcp.cross-protocol's requests: where another uid's processes would
	// have to be ready for an attack on the daemon the scenario started.
	BeforeAttack func(e *Env)
	// ScenarioTimeout, when set, replaces Config.Timeout once the config
	// is validated: a timeout below MinScenarioTimeout, for a test that
	// needs a scenario to time out.
	ScenarioTimeout time.Duration
}

// hookScenario carries a scenario's ID to TestHooks.HelperOutput.
type hookScenario struct{}

// Runner runs scenarios for one Config.
type Runner struct {
	Config                 Config
	exe                    string
	RunDir                 string
	FS                     *world.RunFS // the run directory, through a handle
	DaemonUID, AttackerUID int
	// attackerGID and attackerGroups are the attacker's groups, which its
	// helpers hold; reach judges who besides the owner can use a file.
	attackerGID    int
	attackerGroups []int
	Reach          ReachJudge
	// ConnectorExe is the executable auth.pid-handoff's connector runs
	// (as the attacker): a copy that other uids may execute but not read
	// (0711), so the kernel makes every process exec'd from it
	// non-dumpable from its first instruction (fs/exec.c would_dump); ""
	// unless that scenario runs as another uid.
	ConnectorExe string
}

func (r *Runner) canSwitchUID() bool { return CanSwitchUID() }

// RunConfig is Run once cfg names its scenarios.
func RunConfig(ctx context.Context, cfg Config) (out target.Report, err error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return target.Report{}, err
	}
	if h := cfg.Hooks; h != nil && h.ScenarioTimeout > 0 {
		cfg.Timeout = h.ScenarioTimeout
	}
	r := newRunner(cfg)
	var warnings []string
	if w := r.warnAttackerBusy(); w != "" {
		warnings = append(warnings, w)
	}
	if err := r.makeRunDir(); err != nil {
		return target.Report{}, err
	}
	// r.RunDir and r.fs are removed and closed here, whatever happens
	// next; what could not be removed is said, in the report too: out is
	// the report returned.
	defer r.removeRunDir(&out)
	if err := r.openRunDir(); err != nil {
		return target.Report{}, err
	}
	// Detached descendants of the daemons stay ours to find and stop
	// (Linux; elsewhere they are found through their pids only).
	proc.BecomeSubreaper()
	rep := r.newReport(warnings)
	if err := r.preflight(ctx); err != nil {
		if pe := (*PreflightError)(nil); errors.As(err, &pe) {
			// A report CI can read, with no results and the reason.
			rep.SetupError, rep.DurationMS = pe.Error(), target.Millis(time.Since(rep.Started))
			rep.Summary = target.Summarize(nil)
			return rep, err
		}
		return target.Report{}, err
	}
	r.runScenarios(ctx, &rep)
	rep.DurationMS = target.Millis(time.Since(rep.Started))
	rep.Summary = target.Summarize(rep.Results)
	return rep, nil
}

// newRunner is the runner of a validated cfg: its uids, with the defaults
// for -1, and the attacker's groups, as /etc/passwd and /etc/group give
// them unless cfg does.
func newRunner(cfg Config) *Runner {
	r := &Runner{Config: cfg}
	r.DaemonUID, r.AttackerUID = cfg.uids()
	r.setAttackerGroups(readGroupDB("/etc/passwd", "/etc/group"))
	return r
}

// makeRunDir makes the run directory, r.RunDir (0700, in the temp
// directory or where every uid the suite acts as can reach).
func (r *Runner) makeRunDir() error {
	base, err := r.runDirBase()
	if err != nil {
		return err
	}
	r.RunDir, err = os.MkdirTemp(base, RunDirPrefix)
	return err
}

// openRunDir opens r.fs, the handle on the run directory, opens the
// directory to other uids and copies the executable into it for them when
// the suite acts as other uids. r.fs is closed by removeRunDir.
func (r *Runner) openRunDir() error {
	// Race point: until the handle is open the run directory is a 0700
	// entry of ours in the (sticky) temp directory: no other uid can
	// replace it. From then on everything under it goes through the handle.
	var err error
	if r.FS, err = world.OpenRunFS(r.RunDir); err != nil {
		return err
	}
	// Other uids must reach the scenario directories and run the helper.
	if err := r.FS.ChmodTop(0o755); err != nil {
		return err
	}
	r.exe = r.Config.Exe
	if r.canSwitchUID() {
		if r.exe, err = fsx.CopyExecutable(r.Config.Exe, filepath.Join(r.RunDir, "bin"), 0o755); err != nil {
			return fmt.Errorf("copy %s for other uids: %w", r.Config.Exe, err)
		}
		if slices.ContainsFunc(r.Config.Scenarios, func(s Scenario) bool { return s.Connector }) {
			if r.ConnectorExe, err = fsx.CopyExecutable(r.Config.Exe, filepath.Join(r.RunDir, "connector"), 0o711); err != nil {
				return fmt.Errorf("copy %s for the connector: %w", r.Config.Exe, err)
			}
		}
	}
	return nil
}

// removeRunDir closes r.fs and removes the run directory: fd-relative,
// never following links, on Unix; the Wine walk on Windows. What it could
// not remove (another uid's entries it could not take away, a process
// still writing there) is warned of, and added to out's warnings when out
// is a report.
func (r *Runner) removeRunDir(out *target.Report) {
	if r.FS != nil {
		// Closed to other uids first (0700 through the handle), so no
		// one can keep dropping entries in the scenario directories
		// (by path) while the tree is removed.
		r.FS.ChmodTop(0o700)
		r.FS.Close()
	}
	if rerr := fsx.RemoveTree(r.RunDir); rerr != nil {
		w := fmt.Sprintf("the run directory %s was not removed: %v", r.RunDir, rerr)
		r.warn(w)
		if out.Schema != "" {
			out.Warnings = append(out.Warnings, w)
		}
	}
}

// newReport is the report of this run before any scenario ran.
func (r *Runner) newReport(warnings []string) target.Report {
	cfg := r.Config
	host, _ := os.Hostname()
	return target.Report{
		Schema: target.ReportSchema, Tool: "bh-ipc-check", Host: host, OS: runtime.GOOS, Arch: runtime.GOARCH,
		Leg: cfg.Leg, Target: cfg.Target.ReportTarget(), UID: os.Geteuid(), DaemonUID: r.DaemonUID, AttackerUID: r.AttackerUID,
		Umask: fmt.Sprintf("%03o", cfg.Umask), Started: time.Now().UTC(), Warnings: warnings,
	}
}

// runScenarios runs the configured scenarios in order into rep, saying
// each result on the progress stream; an interruption (ctx done) stops
// it and marks rep interrupted.
func (r *Runner) runScenarios(ctx context.Context, rep *target.Report) {
	cfg := r.Config
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "bh-ipc-check: %s against %s, leg %s, umask %03o\n", CountOf(len(cfg.Scenarios), "scenario"), cfg.Target.Describe(), cfg.Leg, cfg.Umask)
	}
	for i, s := range cfg.Scenarios {
		if ctx.Err() != nil {
			rep.Interrupted = true
			break
		}
		res := r.RunOne(ctx, s, i+1)
		rep.Results = append(rep.Results, res)
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "[%2d/%d] %-28s %-5s %6.0fms  %s\n", i+1, len(cfg.Scenarios), s.ID, res.Status, res.DurationMS, target.OneLine(res.Reason, 90))
		}
	}
	if ctx.Err() != nil {
		rep.Interrupted = true
	}
}

// setAttackerGroups settles the attacker's gids (Config.AttackerGID and
// AttackerGroups, or as its login would have them) and the judge of group
// access built on them. Config.Validate has checked the gids.
func (r *Runner) setAttackerGroups(db *groupDB) {
	if r.AttackerUID < 0 {
		r.Reach = ReachJudge{db: db, daemonUID: r.DaemonUID, attackerUID: -1}
		return
	}
	a, known := db.account(r.AttackerUID)
	r.attackerGID = r.AttackerUID
	if known {
		r.attackerGID = a.gid
	}
	if r.Config.AttackerGID != nil {
		r.attackerGID = *r.Config.AttackerGID
	}
	switch {
	case r.Config.AttackerGroups != nil:
		r.attackerGroups = slices.Clone(r.Config.AttackerGroups)
	case known:
		r.attackerGroups = db.groupsOf(a)
	}
	in := append([]int{r.attackerGID}, r.attackerGroups...)
	r.Reach = ReachJudge{db: db, daemonUID: r.DaemonUID, attackerUID: r.AttackerUID, attackerIn: in}
}

// MaxID is the largest gid the suite accepts for the attacker.
const MaxID = 1<<31 - 2

func derefOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

// runDirBase is where the run directory goes: os.TempDir(), unless other
// uids the suite acts as cannot search it or one of its ancestors (as root
// on macOS, $TMPDIR is the invoking user's 0700 /var/folders/.../T/), or
// a uid other than root and ours controls it (fsx.HeldByUs: root runs its
// helpers by path there), then /tmp; if that fails too, the run cannot be
// set up.
func (r *Runner) runDirBase() (string, error) {
	if !r.canSwitchUID() {
		return os.TempDir(), nil
	}
	uids := []int{r.DaemonUID}
	if r.AttackerUID >= 0 {
		uids = append(uids, r.AttackerUID)
	}
	base, err := fsx.TempDirFor(uids...)
	if err != nil {
		return "", fmt.Errorf("run directory: other uids must reach it: %w", err)
	}
	if why := fsx.WhyNotTempDir(uids...); why != nil && r.Config.Progress != nil {
		fmt.Fprintf(r.Config.Progress, "run directory under %s: %v\n", base, why)
	}
	return base, nil
}

// rootOrigin says where the scenarios' roots lie, for an error about
// their length: in the run directory, made under the temp directory
// ($TMPDIR) or, when other uids cannot reach that, under runDirBase's
// other choice.
func (r *Runner) rootOrigin() string {
	base := filepath.Dir(r.RunDir)
	tmp := os.Getenv("TMPDIR")
	var where string
	switch {
	case base == filepath.Clean(os.TempDir()) && tmp != "":
		where = fmt.Sprintf("$TMPDIR=%s", tmp)
	case base == filepath.Clean(os.TempDir()):
		where = base + " (TMPDIR is unset)"
	default:
		where = fmt.Sprintf("%s, since the uids the suite acts as cannot reach $TMPDIR=%s", base, tmp)
	}
	return fmt.Sprintf("the scenario's root in the run directory %s, made under %s", r.RunDir, where)
}

// transport is the transport s runs over with this target.
func (r *Runner) transport(s Scenario) ipc.Transport {
	if s.Transport != "" {
		return s.Transport
	}
	return r.Config.Target.DefaultTransport()
}

// scenarioReturnWait bounds how long a scenario that timed out may take
// to return once its context is cancelled, before its env is closed.
const scenarioReturnWait = 5 * time.Second

// CountOf is n nouns, the noun plural unless n is 1 ("1 scenario", "30
// scenarios").
func CountOf(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

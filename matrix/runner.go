package matrix

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
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

// runDirPrefix names the run directory (os.MkdirTemp adds up to 10
// digits). It is short so that on macOS, whose $TMPDIR is 49 bytes, every
// scenario's socket fits the 103-byte sun_path (TestDarwinSocketPaths);
// not "bh-", which the sun_path fallback /tmp/bh-<uid> uses.
const runDirPrefix = "bhc-"

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
	Target    Target
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

	// hooks: interference the tests inject (nil outside tests).
	hooks *testHooks
}

// testHooks stand in, in the tests, for what another process of the
// attacker's uid can do at points of a run: they show that it can turn a
// scenario into an error and never into a pass.
type testHooks struct {
	// afterPlant runs after uid planted at path (uid not the daemon's).
	afterPlant func(e *Env, uid int, path string)
	// helperOutput may change a helper's output before the suite reads it
	// (bytes another writer added to the helper's stdout); scenario is
	// the ID of the scenario that ran the helper.
	helperOutput func(scenario, name string, uid int, out []byte) []byte
	// beforeAttack runs just before the attacker's helper acts, and before
	// tcp.cross-protocol's requests: where another uid's processes would
	// have to be ready for an attack on the daemon the scenario started.
	beforeAttack func(e *Env)
	// scenarioTimeout, when set, replaces Config.Timeout once the config
	// is validated: a timeout below MinScenarioTimeout, for a test that
	// needs a scenario to time out.
	scenarioTimeout time.Duration
}

// hookScenario carries a scenario's ID to testHooks.helperOutput.
type hookScenario struct{}

// Runner runs scenarios for one Config.
type Runner struct {
	cfg                    Config
	exe                    string
	runDir                 string
	fs                     *world.RunFS // the run directory, through a handle
	daemonUID, attackerUID int
	// attackerGID and attackerGroups are the attacker's groups, which its
	// helpers hold; reach judges who besides the owner can use a file.
	attackerGID    int
	attackerGroups []int
	reach          reachJudge
	// connectorExe is the executable auth.pid-handoff's connector runs
	// (as the attacker): a copy that other uids may execute but not read
	// (0711), so the kernel makes every process exec'd from it
	// non-dumpable from its first instruction (fs/exec.c would_dump); ""
	// unless that scenario runs as another uid.
	connectorExe string
}

func (r *Runner) canSwitchUID() bool { return canSwitchUID() }

// runConfig is Run once cfg names its scenarios.
func runConfig(ctx context.Context, cfg Config) (out Report, err error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	if h := cfg.hooks; h != nil && h.scenarioTimeout > 0 {
		cfg.Timeout = h.scenarioTimeout
	}
	r := newRunner(cfg)
	var warnings []string
	if w := r.warnAttackerBusy(); w != "" {
		warnings = append(warnings, w)
	}
	if err := r.makeRunDir(); err != nil {
		return Report{}, err
	}
	// r.runDir and r.fs are removed and closed here, whatever happens
	// next; what could not be removed is said, in the report too: out is
	// the report returned.
	defer r.removeRunDir(&out)
	if err := r.openRunDir(); err != nil {
		return Report{}, err
	}
	// Detached descendants of the daemons stay ours to find and stop
	// (Linux; elsewhere they are found through their pids only).
	proc.BecomeSubreaper()
	rep := r.newReport(warnings)
	if err := r.preflight(ctx); err != nil {
		if pe := (*PreflightError)(nil); errors.As(err, &pe) {
			// A report CI can read, with no results and the reason.
			rep.SetupError, rep.DurationMS = pe.Error(), target.Millis(time.Since(rep.Started))
			rep.Summary = Summarize(nil)
			return rep, err
		}
		return Report{}, err
	}
	r.runScenarios(ctx, &rep)
	rep.DurationMS = target.Millis(time.Since(rep.Started))
	rep.Summary = Summarize(rep.Results)
	return rep, nil
}

// newRunner is the runner of a validated cfg: its uids, with the defaults
// for -1, and the attacker's groups, as /etc/passwd and /etc/group give
// them unless cfg does.
func newRunner(cfg Config) *Runner {
	r := &Runner{cfg: cfg}
	r.daemonUID, r.attackerUID = cfg.uids()
	r.setAttackerGroups(readGroupDB("/etc/passwd", "/etc/group"))
	return r
}

// makeRunDir makes the run directory, r.runDir (0700, in the temp
// directory or where every uid the suite acts as can reach).
func (r *Runner) makeRunDir() error {
	base, err := r.runDirBase()
	if err != nil {
		return err
	}
	r.runDir, err = os.MkdirTemp(base, runDirPrefix)
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
	if r.fs, err = world.OpenRunFS(r.runDir); err != nil {
		return err
	}
	// Other uids must reach the scenario directories and run the helper.
	if err := r.fs.ChmodTop(0o755); err != nil {
		return err
	}
	r.exe = r.cfg.Exe
	if r.canSwitchUID() {
		if r.exe, err = fsx.CopyExecutable(r.cfg.Exe, filepath.Join(r.runDir, "bin"), 0o755); err != nil {
			return fmt.Errorf("copy %s for other uids: %w", r.cfg.Exe, err)
		}
		if slices.ContainsFunc(r.cfg.Scenarios, func(s Scenario) bool { return s.connector }) {
			if r.connectorExe, err = fsx.CopyExecutable(r.cfg.Exe, filepath.Join(r.runDir, "connector"), 0o711); err != nil {
				return fmt.Errorf("copy %s for the connector: %w", r.cfg.Exe, err)
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
func (r *Runner) removeRunDir(out *Report) {
	if r.fs != nil {
		// Closed to other uids first (0700 through the handle), so no
		// one can keep dropping entries in the scenario directories
		// (by path) while the tree is removed.
		r.fs.ChmodTop(0o700)
		r.fs.Close()
	}
	if rerr := fsx.RemoveTree(r.runDir); rerr != nil {
		w := fmt.Sprintf("the run directory %s was not removed: %v", r.runDir, rerr)
		r.warn(w)
		if out.Schema != "" {
			out.Warnings = append(out.Warnings, w)
		}
	}
}

// newReport is the report of this run before any scenario ran.
func (r *Runner) newReport(warnings []string) Report {
	cfg := r.cfg
	host, _ := os.Hostname()
	return Report{
		Schema: ReportSchema, Tool: "bh-ipc-check", Host: host, OS: runtime.GOOS, Arch: runtime.GOARCH,
		Leg: cfg.Leg, Target: cfg.Target.ReportTarget(), UID: os.Geteuid(), DaemonUID: r.daemonUID, AttackerUID: r.attackerUID,
		Umask: fmt.Sprintf("%03o", cfg.Umask), Started: time.Now().UTC(), Warnings: warnings,
	}
}

// runScenarios runs the configured scenarios in order into rep, saying
// each result on the progress stream; an interruption (ctx done) stops
// it and marks rep interrupted.
func (r *Runner) runScenarios(ctx context.Context, rep *Report) {
	cfg := r.cfg
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "bh-ipc-check: %s against %s, leg %s, umask %03o\n", countOf(len(cfg.Scenarios), "scenario"), cfg.Target.Describe(), cfg.Leg, cfg.Umask)
	}
	for i, s := range cfg.Scenarios {
		if ctx.Err() != nil {
			rep.Interrupted = true
			break
		}
		res := r.runOne(ctx, s, i+1)
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
	if r.attackerUID < 0 {
		r.reach = reachJudge{db: db, daemonUID: r.daemonUID, attackerUID: -1}
		return
	}
	a, known := db.account(r.attackerUID)
	r.attackerGID = r.attackerUID
	if known {
		r.attackerGID = a.gid
	}
	if r.cfg.AttackerGID != nil {
		r.attackerGID = *r.cfg.AttackerGID
	}
	switch {
	case r.cfg.AttackerGroups != nil:
		r.attackerGroups = slices.Clone(r.cfg.AttackerGroups)
	case known:
		r.attackerGroups = db.groupsOf(a)
	}
	in := append([]int{r.attackerGID}, r.attackerGroups...)
	r.reach = reachJudge{db: db, daemonUID: r.daemonUID, attackerUID: r.attackerUID, attackerIn: in}
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
	uids := []int{r.daemonUID}
	if r.attackerUID >= 0 {
		uids = append(uids, r.attackerUID)
	}
	base, err := fsx.TempDirFor(uids...)
	if err != nil {
		return "", fmt.Errorf("run directory: other uids must reach it: %w", err)
	}
	if why := fsx.WhyNotTempDir(uids...); why != nil && r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, "run directory under %s: %v\n", base, why)
	}
	return base, nil
}

// rootOrigin says where the scenarios' roots lie, for an error about
// their length: in the run directory, made under the temp directory
// ($TMPDIR) or, when other uids cannot reach that, under runDirBase's
// other choice.
func (r *Runner) rootOrigin() string {
	base := filepath.Dir(r.runDir)
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
	return fmt.Sprintf("the scenario's root in the run directory %s, made under %s", r.runDir, where)
}

// transport is the transport s runs over with this target.
func (r *Runner) transport(s Scenario) ipc.Transport {
	if s.Transport != "" {
		return s.Transport
	}
	return r.cfg.Target.DefaultTransport()
}

// skipReason says why s cannot run here, with how to run it; "" if it can.
func (r *Runner) skipReason(s Scenario) string {
	t := r.cfg.Target
	if len(s.Platforms) > 0 && !slices.Contains(s.Platforms, runtime.GOOS) {
		return fmt.Sprintf("runs on %s, this is %s; run it on such a host or leg", strings.Join(s.Platforms, ", "), runtime.GOOS)
	}
	if s.BuiltinOnly && !t.Builtin {
		return "applies to the builtin daemon only (it relies on the ipc handshake's internals)"
	}
	if why := r.lacksTransport(s); why != "" {
		return why
	}
	if why := r.socketKindMismatch(s); why != "" {
		return why
	}
	return r.targetSkip(s)
}

// privilegeSkip says why s cannot run without privilege here, with the
// command that runs it; "" if it can. Such a scenario applies here: its
// skip leaves the run incomplete.
func (r *Runner) privilegeSkip(s Scenario) string {
	if slices.Contains(s.Needs, NeedOtherUID) && r.attackerUID < 0 {
		return fmt.Sprintf("needs root to act as another uid (attacker uid %d); run as root: %s", DefaultAttackerUID, RerunCommand(r.cfg.Command, []string{s.ID}, r.daemonUID))
	}
	if slices.Contains(s.Needs, NeedMountNS) && !r.canSwitchUID() {
		return fmt.Sprintf("needs root to connect from another mount namespace (unshare(CLONE_NEWNS) needs CAP_SYS_ADMIN); run as root: %s", RerunCommand(r.cfg.Command, []string{s.ID}, r.daemonUID))
	}
	return ""
}

// scenarioReturnWait bounds how long a scenario that timed out may take
// to return once its context is cancelled, before its env is closed.
const scenarioReturnWait = 5 * time.Second

// countOf is n nouns, the noun plural unless n is 1 ("1 scenario", "30
// scenarios").
func countOf(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

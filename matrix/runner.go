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
	"syscall"
	"time"

	"github.com/org/bh-ipc-check/internal/fsx"
	"github.com/org/bh-ipc-check/ipc"
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
}

// hookScenario carries a scenario's ID to testHooks.helperOutput.
type hookScenario struct{}

// Runner runs scenarios for one Config.
type Runner struct {
	cfg                    Config
	exe                    string
	runDir                 string
	fs                     *runFS // the run directory, through a handle
	daemonUID, attackerUID int
	// attackerGID and attackerGroups are the attacker's groups, which its
	// helpers hold; reach judges who besides the owner can use a file.
	attackerGID    int
	attackerGroups []int
	reach          reachJudge
}

func (r *Runner) canSwitchUID() bool { return runtime.GOOS != "windows" && os.Geteuid() == 0 }

// Run runs the suite and returns its report. An error means the run could
// not be set up (bad configuration); scenario failures are in the report.
// After a failed preflight (*PreflightError) the report is returned too,
// with no results and SetupError set.
func Run(ctx context.Context, cfg Config) (out Report, err error) {
	if err := cfg.Target.Validate(); err != nil {
		return Report{}, err
	}
	if cfg.Scenarios == nil {
		cfg.Scenarios = Catalogue()
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultScenarioTimeout
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if cfg.Leg == "" {
		cfg.Leg = "native"
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if err := ipc.ValidateName(cfg.Name); err != nil {
		return Report{}, fmt.Errorf("--name: %v", err)
	}
	if cfg.Umask < 0 || cfg.Umask > 0o777 {
		return Report{}, fmt.Errorf("umask %o: want 000 to 777", cfg.Umask)
	}
	if runtime.GOOS == "windows" && (cfg.DaemonUID >= 0 || cfg.AttackerUID >= 0) {
		// os.Geteuid is -1 here: a uid given would otherwise be compared
		// with -1, the "defaults" value, and never refused.
		return Report{}, fmt.Errorf("--daemon-uid %d, --attacker-uid %d: Windows has no uids (leave both unset, -1)", cfg.DaemonUID, cfg.AttackerUID)
	}
	r := &Runner{cfg: cfg, daemonUID: cfg.DaemonUID, attackerUID: cfg.AttackerUID}
	self := os.Geteuid()
	if r.daemonUID < 0 {
		r.daemonUID = self
	}
	if r.attackerUID < 0 {
		r.attackerUID = DefaultAttackerUID
		if !r.canSwitchUID() {
			r.attackerUID = -1
		}
	}
	if r.daemonUID != self && !r.canSwitchUID() {
		return Report{}, fmt.Errorf("--daemon-uid %d: running the daemon as another uid needs root (this is uid %d)", r.daemonUID, self)
	}
	if r.attackerUID >= 0 && r.attackerUID == r.daemonUID {
		return Report{}, fmt.Errorf("--attacker-uid %d is the daemon's uid: an attacker must be another uid", r.attackerUID)
	}
	if err := r.setAttackerGroups(readGroupDB("/etc/passwd", "/etc/group")); err != nil {
		return Report{}, err
	}
	var warnings []string
	if w := r.warnAttackerBusy(); w != "" {
		warnings = append(warnings, w)
	}
	if cfg.Exe == "" {
		return Report{}, errors.New("no executable for the daemon and helpers (Config.Exe)")
	}
	base, err := r.runDirBase()
	if err != nil {
		return Report{}, err
	}
	dir, err := os.MkdirTemp(base, runDirPrefix)
	if err != nil {
		return Report{}, err
	}
	r.runDir = dir
	// fd-relative, never following links, on Unix; the Wine walk on
	// Windows. What it could not remove (another uid's entries it could
	// not take away, a process still writing there) is said, in the
	// report too: out is the report returned.
	defer func() {
		if r.fs != nil {
			// Closed to other uids first (0700 through the handle), so no
			// one can keep dropping entries in the scenario directories
			// (by path) while the tree is removed.
			r.fs.chmodTop(0o700)
			r.fs.close()
		}
		if rerr := fsx.RemoveTree(dir); rerr != nil {
			w := fmt.Sprintf("the run directory %s was not removed: %v", dir, rerr)
			r.warn(w)
			if out.Schema != "" {
				out.Warnings = append(out.Warnings, w)
			}
		}
	}()
	// Race point: until the handle is open the run directory is a 0700
	// entry of ours in the (sticky) temp directory: no other uid can
	// replace it. From then on everything under it goes through the handle.
	if r.fs, err = openRunFS(dir); err != nil {
		return Report{}, err
	}
	// r.fs is closed by the clean-up above.
	// Other uids must reach the scenario directories and run the helper.
	if err := r.fs.chmodTop(0o755); err != nil {
		return Report{}, err
	}
	r.exe = cfg.Exe
	if r.canSwitchUID() {
		if r.exe, err = copyExecutable(cfg.Exe, filepath.Join(dir, "bin")); err != nil {
			return Report{}, fmt.Errorf("copy %s for other uids: %w", cfg.Exe, err)
		}
	}

	// Detached descendants of the daemons stay ours to find and stop
	// (Linux; elsewhere they are found through their pids only).
	becomeSubreaper()
	host, _ := os.Hostname()
	rep := Report{
		Schema: ReportSchema, Tool: "bh-ipc-check", Host: host, OS: runtime.GOOS, Arch: runtime.GOARCH,
		Leg: cfg.Leg, Target: cfg.Target.ReportTarget(), UID: self, DaemonUID: r.daemonUID, AttackerUID: r.attackerUID,
		Umask: fmt.Sprintf("%03o", cfg.Umask), Started: time.Now().UTC(), Warnings: warnings,
	}
	if err := r.preflight(ctx); err != nil {
		if pe := (*PreflightError)(nil); errors.As(err, &pe) {
			// A report CI can read, with no results and the reason.
			rep.SetupError, rep.DurationMS = pe.Error(), ms(time.Since(rep.Started))
			rep.Summary = Summarize(nil)
			return rep, err
		}
		return Report{}, err
	}
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "bh-ipc-check: %d scenarios against %s, leg %s, umask %03o\n", len(cfg.Scenarios), cfg.Target.Describe(), cfg.Leg, cfg.Umask)
	}

	for i, s := range cfg.Scenarios {
		if ctx.Err() != nil {
			rep.Interrupted = true
			break
		}
		res := r.runOne(ctx, s, i+1)
		rep.Results = append(rep.Results, res)
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "[%2d/%d] %-28s %-5s %6.0fms  %s\n", i+1, len(cfg.Scenarios), s.ID, res.Status, res.DurationMS, oneLine(res.Reason, 90))
		}
	}
	if ctx.Err() != nil {
		rep.Interrupted = true
	}
	rep.DurationMS = ms(time.Since(rep.Started))
	rep.Summary = Summarize(rep.Results)
	return rep, nil
}

// setAttackerGroups settles the attacker's gids (Config.AttackerGID and
// AttackerGroups, or as its login would have them) and the judge of group
// access built on them.
func (r *Runner) setAttackerGroups(db *groupDB) error {
	if r.attackerUID < 0 {
		if r.cfg.AttackerGID != nil || r.cfg.AttackerGroups != nil {
			return fmt.Errorf("--attacker-gid and --attacker-groups: the attacker acts only as root (this is uid %d)", os.Geteuid())
		}
		r.reach = reachJudge{db: db, daemonUID: r.daemonUID, attackerUID: -1}
		return nil
	}
	for _, g := range append([]int{derefOr(r.cfg.AttackerGID, 0)}, r.cfg.AttackerGroups...) {
		if g < 0 || g > MaxID {
			return fmt.Errorf("attacker gid %d: want 0 to %d", g, MaxID)
		}
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
	return nil
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
// on macOS, $TMPDIR is the invoking user's 0700 /var/folders/.../T/), then
// /tmp; if they cannot reach that either, the run cannot be set up.
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
	if base != os.TempDir() && r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, "run directory under %s: %v\n", base, fsx.ReachableBy(os.TempDir(), uids...))
	}
	return base, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// copyExecutable copies exe into dir (created 0755) as a 0755 file, so
// that other uids can run it: the original may sit in a private directory.
func copyExecutable(exe, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		return "", err
	}
	dst := filepath.Join(dir, filepath.Base(exe))
	// Race point: a process forked (by another goroutine, another run in
	// the same program) while dst is open for writing holds it open until
	// it execs, and an exec of dst in that window fails with ETXTBSY
	// (golang/go#22315). Holding ForkLock keeps every fork out of it.
	syscall.ForkLock.Lock()
	err = os.WriteFile(dst, b, 0o755)
	syscall.ForkLock.Unlock()
	if err != nil {
		return "", err
	}
	return dst, os.Chmod(dst, 0o755)
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
	if tr := r.transport(s); !t.Supports(tr) {
		flag := Hint("socket", "TEMPLATE")
		if tr == ipc.TransportTCP {
			flag = Hint("port-file", "TEMPLATE")
		}
		return fmt.Sprintf("the target has no %s transport; give %s to run it", tr, flag)
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
	return ""
}

// scenarioReturnWait bounds how long a scenario that timed out may take
// to return once its context is cancelled, before its env is closed.
const scenarioReturnWait = 5 * time.Second

func (r *Runner) runOne(ctx context.Context, s Scenario, seq int) (res Result) {
	start := time.Now()
	res = Result{ID: s.ID, Title: s.Title, Severity: s.Severity, Transport: string(r.transport(s))}
	defer func() { res.DurationMS = ms(time.Since(start)) }()
	if why := r.skipReason(s); why != "" {
		res.Status, res.Reason, res.NotApplicable = Skip, why, r.notApplicable(s)
		return res
	}
	if why := r.privilegeSkip(s); why != "" {
		res.Status, res.Reason, res.Incomplete = Skip, why, true
		return res
	}
	defer func() { res.Incomplete = res.Status == Error }()
	e, err := r.newEnv(s, seq)
	if err != nil {
		res.Status, res.Reason = Error, "setting up the scenario: "+err.Error()
		return res
	}
	sctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	type done struct{ o outcome }
	ch := make(chan done, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- done{errored("scenario panicked: %v", p)}
			}
		}()
		ch <- done{s.run(sctx, e)}
	}()
	var o outcome
	returned := false
	select {
	case d := <-ch:
		returned = true
		o = e.judgePlants(d.o)
		if ctx.Err() != nil && o.status != Pass {
			// What a scenario concluded while being cancelled (a helper
			// killed, a wait cut short) is no verdict.
			o = errored("interrupted (%v): %s", ctx.Err(), o.reason)
		}
	case <-sctx.Done():
		if ctx.Err() != nil {
			o = errored("interrupted after %s (%v); killed its processes", time.Since(start).Round(time.Millisecond), ctx.Err())
		} else {
			o = errored("timed out after %s; killed its processes", r.cfg.Timeout)
		}
	}
	if !returned {
		// Timed out or interrupted: the scenario runs on with a cancelled
		// context. Give it scenarioReturnWait to return before its
		// processes are stopped; one that does not is still refused any
		// new daemon once the env is closed (startDaemon).
		select {
		case <-ch:
		case <-time.After(scenarioReturnWait):
			e.note("the scenario had not returned %s after its context was cancelled", scenarioReturnWait)
		}
	}
	e.close() // kill and reap everything the scenario started
	o = e.judgeImpostors(o)
	if o.status != Pass {
		e.mu.Lock()
		for _, d := range e.daemons {
			if out := d.out.excerpt(outputHeadLines, outputTailLines); out != "" {
				e.evidence = append(e.evidence, fmt.Sprintf("daemon pid %d output:\n%s", d.Pid, out))
			}
		}
		e.mu.Unlock()
	}
	res.Status, res.Reason = o.status, o.reason
	e.mu.Lock()
	res.Evidence, res.Metrics = e.evidence, e.metrics
	e.mu.Unlock()
	return res
}

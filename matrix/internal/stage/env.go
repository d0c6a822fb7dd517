package stage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/org/bh-ipc-check/ipc"

	"github.com/org/bh-ipc-check/matrix/internal/probe"
	"github.com/org/bh-ipc-check/matrix/internal/proc"
	"github.com/org/bh-ipc-check/matrix/internal/target"
	"github.com/org/bh-ipc-check/matrix/internal/world"
)

// Env is one scenario's world: a fresh parent directory (mode 1777, like
// /tmp) holding the root, the daemons started in it, and the evidence
// gathered. Everything it starts is killed and reaped by close.
type Env struct {
	Runner   *Runner
	Scenario Scenario
	// Parent is the fresh 1777 directory; Root lives inside it, and so
	// does WorkDir, the daemons' working directory (see DaemonWorkDir).
	Parent  string
	Root    string
	WorkDir string
	Name    string
	// Transport the daemon runs with in this scenario.
	Transport ipc.Transport
	// Sock and Port are the endpoint's paths for the scenario's transport;
	// EndpointDir is the directory holding them (Root itself when the
	// target puts its socket directly in the root).
	Sock, Port  string
	EndpointDir string
	// RootIsDir: the endpoint directory is the root (created by the daemon
	// or the scenario, not by the suite).
	RootIsDir bool

	// suiteDir is the socket directory the suite made (--dir-created-by
	// suite), "" if none.
	suiteDir string

	mu       sync.Mutex
	Evidence []string
	metrics  map[string]float64
	daemons  []*Daemon
	// outside are entries a scenario made outside its directory (in the
	// sun_path fallback under /tmp), removed at close, last first.
	outside []string
	// Impostors: evidence of processes other than the daemon that answered
	// the suite's clients (see JudgeImpostors).
	Impostors []string
	// gate: the listen gate for the next daemon start (SetListenGate).
	gate *ListenGate
	// rootPrivate: the root is still 0700 (OpenRoot).
	rootPrivate bool
	// plants: what uids other than the daemon's planted, as made;
	// interference: what checkPlants (and recordPlant) saw done to them.
	plants       []plantRecord
	interference []string
	// modeChanges: plants found with their mode changed (checkPlants).
	modeChanges []string
	// takeover: plants whose taking by the daemon is judged (JudgedTakeover).
	takeover map[string]bool
	// closed: close has run; StartDaemon refuses from then on, so a
	// scenario still running after its timeout cannot leave a daemon.
	closed bool
	// PrivateBase: a per-user base a scenario gives the daemon (as
	// dir.squat-dos does), as $XDG_RUNTIME_DIR (PerUserEnv); the builtin then starts with no
	// --root (daemonArgv).
	PrivateBase string
}

// SetListenGate makes g the listen gate of the next daemon start: its
// listen() calls wait for the suite (sock.first-seen-mode).
func (e *Env) SetListenGate(g *ListenGate) {
	e.mu.Lock()
	e.gate = g
	e.mu.Unlock()
}

func (e *Env) Note(format string, a ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.Evidence = append(e.Evidence, fmt.Sprintf(format, a...))
}

func (e *Env) Metric(k string, v float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.metrics == nil {
		e.metrics = map[string]float64{}
	}
	e.metrics[k] = v
}

// NewEnv lays out the scenario's directories under the runner's run dir.
func (r *Runner) NewEnv(s Scenario, seq int) (*Env, error) {
	parent, root := ScenarioDirs(r.RunDir, seq)
	// Race point: the parent is made private (0700, ours) and opened to
	// others (01777) only once the root and the working directory are in
	// it, so no other uid can take their names first (issue 24: a local
	// user who pre-created a scenario's entries made it an error). The
	// root itself stays private until the daemon needs it (OpenRoot).
	if err := r.FS.MkdirMode(parent, 0o700); err != nil {
		return nil, err
	}
	e := &Env{Runner: r, Scenario: s, Parent: parent, WorkDir: filepath.Join(parent, DaemonWorkDir), Name: r.Config.Name, Transport: r.transport(s)}
	if err := e.SetRoot(root); err != nil {
		return nil, err
	}
	if err := r.FS.MkdirMode(e.WorkDir, stickyDirMode); err != nil {
		return nil, err
	}
	rootMode := stickyDirMode
	if r.FS.Root != nil && !e.RootIsDir {
		rootMode, e.rootPrivate = 0o700, true
	}
	if !e.RootIsDir {
		if err := r.FS.MkdirMode(e.Root, rootMode); err != nil {
			return nil, err
		}
	}
	if seq == 0 && e.rootPrivate && r.DaemonUID != os.Geteuid() {
		// The preflight plants nothing and no attacker acts in it: its
		// root is handed to the daemon's uid, still 0700, and never
		// opened, so no other uid can take the daemon's names there.
		rel, err := r.FS.Rel(e.Root)
		if err == nil {
			err = r.FS.Root.Lchown(rel, r.DaemonUID, r.DaemonUID)
		}
		if err != nil {
			return nil, err
		}
		e.rootPrivate = false
	}
	if err := r.FS.Chmod(parent, stickyDirMode); err != nil {
		return nil, err
	}
	return e, nil
}

// IsUnder: p is inside dir (not dir itself).
func IsUnder(p, dir string) bool {
	r, err := filepath.Rel(dir, p)
	return err == nil && r != "." && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator)) && !filepath.IsAbs(r)
}

// OpenRoot makes the scenario's root 01777, like /tmp, if it is still
// private. Until then it is a 0700 directory of the suite's where no
// other uid can pre-create the daemon's endpoint directory (issue 24: a
// local user's bu-<name>.d failed the preflight, or turned scenarios into
// errors); plants made there meanwhile are made by the suite and handed
// to their uid (FsOp). It is opened when a daemon of another uid than the
// suite's is started (it must create its directory there), else once the
// daemon is ready (WaitReadyWithin): from then on other uids may create
// entries in it, as in /tmp.
func (e *Env) OpenRoot() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.rootPrivate {
		return nil
	}
	if err := e.Runner.FS.Chmod(e.Root, stickyDirMode); err != nil {
		return fmt.Errorf("opening the scenario root %s to other uids: %w", e.Root, err)
	}
	e.rootPrivate = false
	return nil
}

func (e *Env) isRootPrivate() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rootPrivate
}

// DaemonWorkDir is the daemons' working directory in the scenario's
// directory, beside the root. What a daemon writes there (a data file it
// saves in its working directory) is neither "left behind" nor "created
// outside the root": see ExceptWorkDir.
const DaemonWorkDir = "wd"

// ExceptWorkDir drops from a tree of the scenario's directory (Env.Tree
// of Parent) the working directory and what it holds.
func ExceptWorkDir(entries []string) []string {
	return Without(Without(entries, DaemonWorkDir+" ("), DaemonWorkDir+string(filepath.Separator))
}

// ScenarioDirs names scenario seq's directory under the run directory and
// the root in it: short ("07/root"), so that with the short run directory
// a socket under macOS's 49-byte $TMPDIR fits sun_path
// (TestDarwinSocketPaths). The report names the scenario; its number is
// its place in the run.
func ScenarioDirs(runDir string, seq int) (parent, root string) {
	parent = filepath.Join(runDir, fmt.Sprintf("%02d", seq))
	return parent, filepath.Join(parent, "root")
}

// FallbackParents are the directories of the sun_path fallback that hold
// the env's endpoint directory (/tmp/bh-<uid> and /tmp/bh-<uid>/<tag>),
// or nil when the endpoint is not in the fallback. Only the builtin has a
// fallback: an external target's socket path is its template.
func (e *Env) FallbackParents() []string {
	if !e.Runner.Config.Target.Builtin || e.Transport != ipc.TransportUnix {
		return nil
	}
	lay, err := ipc.ResolveAs(e.Runner.DaemonUID, e.Name, ipc.WithRoot(e.Root), ipc.WithTransport(e.Transport))
	if err != nil || !lay.Fallback {
		return nil
	}
	return lay.Parents
}

// MakeFallbackParents creates, as the daemon's uid and mode 0700 as
// ipc.Listen would, the fallback parents of the endpoint directory that do
// not exist yet, so a scenario can plant in the endpoint directory's place
// when it lives in the fallback. Those parents, and what is planted in the
// endpoint directory's place, are removed at close (directories only when
// empty). A parent that exists is left as it is once it is seen to be a
// directory of the daemon's uid that no other uid can write (checkTmpDir);
// anything else ends the scenario as an error naming what holds it.
func (e *Env) MakeFallbackParents(ctx context.Context) error {
	parents := e.FallbackParents()
	for _, p := range parents {
		// Each parent that exists must be the daemon uid's, with no group
		// or other write, reached without following a link: another uid
		// may have planted /tmp/bh-<uid> before the scenario.
		if exists, err := world.CheckTmpDir(p, e.Runner.DaemonUID); err != nil {
			return fmt.Errorf("sun_path fallback: %v", err)
		} else if exists {
			continue
		}
		if err := e.Plant(ctx, e.Runner.DaemonUID, PlantOp{Op: "mkdir", Path: p, Mode: 0o700}); err != nil {
			return err
		}
		e.addOutside(p)
	}
	if len(parents) > 0 {
		// What the scenario plants in the endpoint directory's place.
		e.addOutside(e.EndpointDir)
	}
	return nil
}

// AttackDir is where an attacker plants a directory attack on the
// endpoint: the endpoint directory or, when it lives in the sun_path
// fallback (whose directories are the daemon's, 0700), the fallback's
// outermost parent /tmp/bh-<uid>, the one in a directory other uids can
// write. What is planted there is removed at close.
func (e *Env) AttackDir() string {
	if ps := e.FallbackParents(); len(ps) > 0 {
		if _, err := os.Lstat(ps[0]); err != nil {
			e.addOutside(ps[0]) // not there yet: what the attacker plants is ours to remove
		}
		return ps[0]
	}
	return e.EndpointDir
}

func (e *Env) addOutside(p string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.outside = append(e.outside, p)
}

// removeOutside removes what the scenario made outside its directory and
// the fallback's parent directories when empty (a daemon killed with
// SIGKILL leaves them, and a successor removes only those it created),
// deepest first. An entry that is gone, or a directory that is not empty,
// is left.
func (e *Env) removeOutside() {
	e.mu.Lock()
	out := append(e.outside, e.FallbackParents()...)
	e.outside = nil
	e.mu.Unlock()
	slices.SortFunc(out, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	for _, p := range slices.Compact(out) {
		if err := world.RemoveUnderTmp(p); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, world.ErrNotEmpty) {
			e.Note("clean-up: %v", err)
		}
	}
}

// SetRoot points the env at root (not created) and computes the paths.
func (e *Env) SetRoot(root string) error {
	sock, port, err := e.Runner.Config.Target.Paths(root, e.Name, e.Transport, e.Runner.DaemonUID)
	if tl := (*target.AbstractTooLong)(nil); errors.As(err, &tl) {
		tl.RootFrom = e.Runner.rootOrigin()
	}
	if err != nil {
		return err
	}
	e.Root, e.Sock, e.Port = root, sock, port
	switch {
	case e.Transport == ipc.TransportUnix && target.IsAbstract(sock):
		e.EndpointDir = "" // an abstract name is in no directory
	case e.Transport == ipc.TransportUnix:
		e.EndpointDir = filepath.Dir(sock)
	default:
		e.EndpointDir = filepath.Dir(port)
	}
	// On Windows the port file sits in an ordinary, existing root (its
	// DACL, not a private directory, protects it): the root is always made
	// by the suite there.
	e.RootIsDir = runtime.GOOS != "windows" && filepath.Clean(e.EndpointDir) == filepath.Clean(root)
	return nil
}

// stickyDirMode is the mode of scenario parents and roots: 01777, like
// /tmp. os.ModeSticky, not the number 0o1000, which os.Chmod drops.
const stickyDirMode = os.ModeSticky | 0o777

// MkdirChain creates p and every missing directory between the scenario's
// parent and it with stickyDirMode, through the run directory's handle.
func (e *Env) MkdirChain(p string) error {
	rel, err := filepath.Rel(e.Parent, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("%s is not under the scenario directory %s", p, e.Parent)
	}
	cur := e.Parent
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		cur = filepath.Join(cur, part)
		if fi, err := e.Runner.FS.Lstat(cur); err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s exists and is not a directory (%v)", cur, fi.Mode())
			}
			continue
		}
		if err := e.Runner.FS.MkdirMode(cur, stickyDirMode); err != nil {
			return err
		}
	}
	return nil
}

// Spec is how the suite's clients reach the daemon: only a process of the
// daemon's uid, one of the daemons started so far or a descendant, may
// answer for it.
func (e *Env) Spec() probe.Spec {
	e.mu.Lock()
	id := &probe.DaemonIdentity{UID: e.Runner.DaemonUID, Marker: proc.StartMarkerEnv + "=" + e.Parent}
	if e.Runner.Config.Target.Forks && proc.MarkerScanWorks {
		id.Reaper = os.Getpid()
	}
	for _, d := range e.daemons {
		id.PIDs = append(id.PIDs, d.Pid)
	}
	e.mu.Unlock()
	sp := probe.Spec{Transport: e.Transport, Protocol: e.Runner.Config.Target.Protocol, Sock: e.Sock, Port: e.Port, Name: e.Name, Auth: id}
	return probe.WithTarget(e.Runner.Config.Target, sp, e.Root)
}

// Daemon is one started daemon process.
type Daemon struct {
	Cmd  *exec.Cmd
	out  *OutputBuffer
	done chan struct{}
	err  error
	Pid  int
	// root, name and marker of this start (startMarkerEnv); serving is
	// the pid that serves when the daemon forked (--forks), 0 otherwise.
	Root, Name, Marker string
	serving            int
	// started and ended: when the process started and when its end was
	// seen (ended is set before done is closed).
	started, ended time.Time
	// servingStart is the serving process's start time (procRef), taken
	// when it was found; servingEnded is set once it ended or was reaped:
	// its pid is then never signalled again.
	servingStart uint64
	servingEnded bool
	// env is the scenario's env that started it (SignalDaemon reaches
	// the start's other processes through it).
	env *Env
}

// Exited reports whether the process has ended, and its exit code.
func (d *Daemon) Exited() (bool, int) {
	select {
	case <-d.done:
		return true, exitCode(d.err)
	default:
		return false, 0
	}
}

// Wait waits up to timeout for the process to end.
func (d *Daemon) Wait(timeout time.Duration) (bool, int) {
	select {
	case <-d.done:
		return true, exitCode(d.err)
	case <-time.After(timeout):
		return false, 0
	}
}

// HowEnded says how the serving process ended, given its exit code as
// WaitServing reported it: "killed by SIGTERM (signal 15)" for a process
// the suite started that a signal ended (whose exit code reads -1),
// "exit code N" otherwise.
func (d *Daemon) HowEnded(code int) string {
	var ee *exec.ExitError
	if d.PID() == d.Pid && errors.As(d.err, &ee) {
		if ws, ok := ee.Sys().(interface {
			Signaled() bool
			Signal() syscall.Signal
		}); ok && ws.Signaled() {
			return fmt.Sprintf("killed by %s (signal %d)", signalName(ws.Signal()), int(ws.Signal()))
		}
	}
	return fmt.Sprintf("exit code %d", code)
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// Output is the daemon's last output, for evidence.
func (d *Daemon) Output() string { return strings.TrimSpace(d.out.String()) }

// StartDaemon starts the target for root and name with the run's umask,
// as the daemon uid. It does not wait for readiness.
func (e *Env) StartDaemon(root, name string) (*Daemon, error) {
	cfg := e.Runner.Config
	if e.Runner.DaemonUID != os.Geteuid() {
		if err := e.OpenRoot(); err != nil {
			return nil, err
		}
	}
	if err := e.MakeSocketDir(root, name); err != nil {
		return nil, err
	}
	argv := e.daemonArgv(root, name)
	// Race point: a scenario that timed out runs on while close stops what
	// it started. The check, the start and the record are one step under
	// e.mu, which close takes to mark the env closed and list the daemons:
	// a daemon is either listed (and stopped) or never started.
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errEnvClosed
	}
	marker := e.MarkerFor(len(e.daemons))
	env := append(e.PerUserEnv(DaemonEnv(cfg, root, name, e.Transport), root), marker)
	a := ExecArg{Umask: cfg.Umask, Argv: argv, Env: env}
	gate := e.gate
	e.gate = nil // one start only
	a.ListenGate = gate != nil
	cmd, err := DaemonCommand(e.Runner.exe, a, e.Runner.DaemonUID, e.Runner.canSwitchUID())
	if err != nil {
		return nil, err
	}
	if gate != nil {
		cmd.ExtraFiles = []*os.File{gate.child} // the helper's fd 3
		defer gate.started()
	}
	d := &Daemon{Cmd: cmd, out: &OutputBuffer{}, done: make(chan struct{}), Root: root, Name: name, Marker: marker, env: e}
	cmd.Stdout, cmd.Stderr = d.out, d.out
	// The daemon runs in the scenario's own working directory beside
	// {root}, not the suite's: what it writes there (redis's dump.rdb) is
	// removed with the run. Race point: the directory and the scenario
	// directory holding it are made by the suite (sticky, owned by it) in
	// the run directory (0755, ours), so no other uid can swap them; the
	// chdir is made after the switch to the daemon's uid.
	cmd.Dir = e.WorkDir
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", strings.Join(argv, " "), err)
	}
	d.Pid, d.started = cmd.Process.Pid, time.Now()
	go func() { d.err = cmd.Wait(); d.ended = time.Now(); close(d.done) }()
	e.daemons = append(e.daemons, d)
	return d, nil
}

// errEnvClosed: the scenario's env was closed (its time ran out) before
// it started a daemon.
var errEnvClosed = errors.New("the scenario has ended (timed out or interrupted): no daemon started")

// DaemonEnv is a daemon's environment: the caller's (or the minimal one
// with EnvClear), then the target's --env entries.
func DaemonEnv(cfg Config, root, name string, tr ipc.Transport) []string {
	env := os.Environ()
	if cfg.EnvClear {
		env = probe.MinimalEnv()
	}
	return append(env, cfg.Target.DaemonEnv(root, name, tr)...)
}

// WaitReady waits until the daemon answers a ping at the env's paths
// (within Config.ReadyTimeout), and returns the pid it reports. It fails
// early when the daemon exits.
func (e *Env) WaitReady(ctx context.Context, d *Daemon, sp probe.Spec) (int, error) {
	return e.WaitReadyWithin(ctx, d, sp, e.Runner.Config.ReadyTimeout)
}

func (e *Env) WaitReadyWithin(ctx context.Context, d *Daemon, sp probe.Spec, limit time.Duration) (int, error) {
	// The scenario's plants are checked again once the daemon is ready (or
	// has given up): one withdrawn before its start and put back later
	// is seen (checkPlants).
	defer e.checkPlants("when the daemon had started")
	defer func() {
		if err := e.OpenRoot(); err != nil {
			e.Note("%v", err)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	// badReply: an answer that was no ping reply (the daemon speaks
	// another protocol); kept, as the last error may be the deadline's.
	var last, badReply error
	forks := e.Runner.Config.Target.Forks
	var goneSince time.Time
	for {
		// With --forks an exit 0 before ready is the parent of a daemon
		// that went to the background.
		done, code := d.Exited()
		if done && !(forks && code == 0) {
			return 0, fmt.Errorf("daemon exited with code %d before answering (output: %s)", code, CauseLine(d.Output()))
		}
		// ... unless every process of its start has ended too (memcached
		// -d's child exits 71 with its stderr on /dev/null): nothing is
		// left to answer, so the wait ends here. Only where the start's
		// processes can be found (/proc), and once that has held for
		// forksGoneFor: a child is visible before its parent exits, and a
		// daemon that forks twice makes the grandchild before the child
		// exits.
		if done && forks && proc.MarkerScanWorks && len(e.StartProcs(d)) == 0 {
			if goneSince.IsZero() {
				goneSince = time.Now()
			} else if time.Since(goneSince) >= forksGoneFor {
				return 0, fmt.Errorf("the daemon's first process exited 0 and every process of its start has ended without answering (--forks; output: %s)", CauseLine(d.Output()))
			}
		} else {
			goneSince = time.Time{}
		}
		path := sp.Sock
		if sp.Transport == ipc.TransportTCP {
			path = sp.Port
		}
		if err := endpointExists(path); err == nil {
			pid, err := e.PingAsDaemon(ctx, sp)
			if err == nil && forks {
				return e.settleServing(ctx, d, pid)
			}
			if err == nil {
				return pid, nil
			}
			// A port file that more bytes cannot make readable (not one
			// still being written: probe.ParsePortFile) will not change.
			if ie := (*probe.ImpostorError)(nil); errors.As(err, &ie) || probe.NotProbed(err) || probe.BadPortFile(err) {
				return 0, err
			}
			// A reply no JSON-lines daemon sends will not turn into a
			// pong: the daemon speaks another protocol.
			if notJSONReply(err) != "" {
				return 0, fmt.Errorf("%w: a %s daemon never sends it, so the suite stopped waiting at this first reply", err, sp.Protocol)
			}
			last = err
			if errors.Is(err, ipc.ErrBadReply) {
				badReply = err
			}
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			if badReply != nil && !errors.Is(last, ipc.ErrBadReply) {
				last = fmt.Errorf("%w (earlier: %w)", last, badReply)
			}
			return 0, fmt.Errorf("daemon did not answer within %s: %w (last output: %s)", limit, last, LastLine(d.Output()))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// forksGoneFor is how long a forking daemon's start must have had no live
// process before the wait for it to answer ends (WaitReadyWithin).
const forksGoneFor = 300 * time.Millisecond

// Start starts a daemon for the env's root and name and waits for it.
func (e *Env) Start(ctx context.Context) (*Daemon, int, error) {
	d, err := e.StartDaemon(e.Root, e.Name)
	if err != nil {
		return nil, 0, err
	}
	pid, err := e.WaitReady(ctx, d, e.Spec())
	return d, pid, err
}

// PingAsDaemon pings as the daemon's uid (our daemon serves only its own
// uid, and so may others).
func (e *Env) PingAsDaemon(ctx context.Context, sp probe.Spec) (int, error) {
	var res pingResult
	err := e.RunAs(ctx, e.Runner.DaemonUID, "ping", sp, &res)
	// From a helper process the error is text: the result says whether the
	// reply was no JSON object.
	if ie := (*probe.ImpostorError)(nil); res.NotJSON != "" && notJSONReply(err) == "" && !errors.As(err, &ie) {
		err = &probe.NotJSONError{Reply: res.NotJSON}
	}
	return res.PID, err
}

// AsAttacker runs a helper action as the attacker uid.
func (e *Env) AsAttacker(ctx context.Context, name string, arg, out any) error {
	if h := e.Runner.Config.Hooks; h != nil && h.BeforeAttack != nil {
		h.BeforeAttack(e)
	}
	return e.RunAs(ctx, e.Runner.AttackerUID, name, arg, out)
}

// AsDaemonUID runs a helper action as the daemon's uid.
func (e *Env) AsDaemonUID(ctx context.Context, name string, arg, out any) error {
	return e.RunAs(ctx, e.Runner.DaemonUID, name, arg, out)
}

// StopGrace is how long a daemon gets to exit after SIGTERM at the end of a
// scenario before it is killed.
const StopGrace = 2 * time.Second

// close stops and reaps every daemon the env started: SIGTERM first, so a
// daemon removes its endpoint (which may live outside the scenario's
// directory, in a sun_path fallback), then SIGKILL to the whole process
// group for one that does not exit within StopGrace.
func (e *Env) close() {
	e.mu.Lock()
	e.closed = true
	ds := e.daemons
	e.mu.Unlock()
	// Every process of the daemons' starts, before stopping them: children
	// that die with their parent are then the suite's to reap (subreaper).
	seen := e.startedProcs()
	for _, d := range ds {
		if done, _ := d.Exited(); done {
			continue
		}
		if terminate(d.Cmd) == nil {
			if done, _ := d.Wait(StopGrace); done {
				continue
			}
		}
		KillTree(d.Cmd)
		d.Wait(5 * time.Second)
	}
	e.stopStragglers(seen)
	e.removeOutside()
}

// Tree lists every entry under dir (relative path, facts), for "nothing
// left behind" and "nothing created outside" checks; skip (a path under
// dir, or "") is left out with what it holds. It reads through the run
// directory's handle (RunFS.Tree): a directory swapped for a link while it
// is listed cannot make the suite list a place outside the run.
func (e *Env) Tree(dir string, skip string) []string {
	return e.Runner.FS.Tree(dir, skip)
}

// causeWords are what the refusals the scenarios expect say, in the
// errno strings (strerror) and Go's errors, lower case, and in the words
// daemons use for them ("does not exist"): a daemon's last line is often
// "For help, use ... -h" or "initialization failed", and the line that
// says why comes before it.
var causeWords = []string{
	"too long", "not a directory", "address already in use", "permission denied", "file exists",
	"no such file or directory", "too many levels of symbolic links", "operation not permitted",
	"is a directory", "not private", "insecure", "unsafe", "already running",
	"already in use", "refus", "not owned", "owned by", "bad permissions", "wrong permissions",
	"not exist", "doesn't exist",
}

// causeErrnos matches the symbolic names of the errnos of those refusals
// (Python's "errno.ENOTDIR", as supervisord reports a socket error), case
// and all.
var causeErrnos = regexp.MustCompile(`\bE(NAMETOOLONG|NOTDIR|ADDRINUSE|ACCES|EXIST|NOENT|LOOP|PERM|ISDIR)\b`)

// genericCause is an errno that names no particular cause (EINVAL): a
// line holding it counts only when no line names a cause (memcached says
// "bind(): Not a directory", then "failed to listen on UNIX socket: ...:
// Invalid argument" with a stale errno).
var genericCause = regexp.MustCompile(`(?i)invalid argument|\bEINVAL\b`)

// errorWords mark a line that reports an error, lower case: when no line
// names a cause the suite knows, the last such line is the likeliest
// cause (not the pointer to the help that often follows it).
var errorWords = []string{"error", "fatal", "emerg", "alert", "cannot", "can't", "unable", "failed"}

// CauseLine is the line of a daemon's output s that names the cause of a
// refusal: the last line holding one of causeWords or causeErrnos, else
// the last holding genericCause, else the last line holding one of
// errorWords, followed by the last line when
// that is another ("… (last line: …)"); else the last line (LastLine).
func CauseLine(s string) string {
	last := LastLine(s)
	lines := strings.Split(strings.TrimSpace(s), "\n")
	names := func(l string) bool {
		return slices.ContainsFunc(causeWords, func(w string) bool { return strings.Contains(strings.ToLower(l), w) }) || causeErrnos.MatchString(l)
	}
	reports := func(l string) bool {
		return slices.ContainsFunc(errorWords, func(w string) bool { return strings.Contains(strings.ToLower(l), w) })
	}
	for _, match := range []func(string) bool{names, genericCause.MatchString, reports} {
		for i := len(lines) - 1; i >= 0; i-- {
			if !match(lines[i]) {
				continue
			}
			cause := strings.TrimSpace(lines[i])
			if cause == last {
				return last
			}
			return cause + " (last line: " + last + ")"
		}
	}
	return last
}

// LastLine is the last non-empty line of s, "(no output)" if none.
func LastLine(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return "(no output)"
	}
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// Output kept in evidence: the first OutputHeadLines lines and the last
// OutputTailLines, with "… N lines …" between.
const (
	OutputHeadLines = 10
	OutputTailLines = 40
	outputHeadMax   = 8 << 10
	outputTailMax   = 64 << 10
)

// OutputBuffer keeps the head (first outputHeadMax bytes) and the tail
// (last outputTailMax bytes) of a daemon's output and counts the lines in
// between; safe for concurrent use.
type OutputBuffer struct {
	mu         sync.Mutex
	head, tail []byte
	dropped    int // lines dropped from the front of tail
	cutMidLine bool
}

func (o *OutputBuffer) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := len(p)
	if k := min(outputHeadMax-len(o.head), len(p)); k > 0 {
		o.head = append(o.head, p[:k]...)
		p = p[k:]
	}
	o.tail = append(o.tail, p...)
	if cut := len(o.tail) - outputTailMax; cut > 0 {
		o.dropped += strings.Count(string(o.tail[:cut]), "\n")
		o.cutMidLine = o.tail[cut-1] != '\n'
		o.tail = append([]byte(nil), o.tail[cut:]...)
	}
	return n, nil
}

// String is the output kept (head and tail, with a gap marker when bytes
// were dropped).
func (o *OutputBuffer) String() string { return o.Excerpt(1<<30, 1<<30) }

// Excerpt is the first head lines and the last tail lines of the output,
// "… N lines …" between them when lines are left out; "" for no output.
func (o *OutputBuffer) Excerpt(head, tail int) string {
	o.mu.Lock()
	hb, tb, dropped, cut := string(o.head), string(o.tail), o.dropped, o.cutMidLine
	o.mu.Unlock()
	var front, back []string
	if dropped == 0 && !cut {
		front = splitLines(hb + tb)
	} else {
		front = splitLines(hb)
		back = splitLines(tb)
		if cut && len(back) > 0 {
			back = back[1:] // a partial line
			dropped++
		}
		if hb != "" && !strings.HasSuffix(hb, "\n") {
			dropped-- // the head's last line goes on in what was dropped: counted there
		}
	}
	if back == nil {
		// Everything is in front: split it into head and tail.
		if len(front) <= head+tail {
			return strings.Join(front, "\n")
		}
		back = front[len(front)-tail:]
		dropped = len(front) - head - tail
		front = front[:head]
	} else {
		if len(front) > head {
			dropped += len(front) - head
			front = front[:head]
		}
		if len(back) > tail {
			dropped += len(back) - tail
			back = back[len(back)-tail:]
		}
	}
	if len(front) == 0 && len(back) == 0 {
		return ""
	}
	return strings.Join(front, "\n") + fmt.Sprintf("\n… %d lines …\n", dropped) + strings.Join(back, "\n")
}

func splitLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if strings.TrimSpace(s) == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// PlantOp is a filesystem action done by a uid (usually the attacker).
type PlantOp struct {
	Op     string `json:"op"` // mkdir, symlink, write, chmod, mkfifo
	Path   string `json:"path"`
	Mode   uint32 `json:"mode,omitempty"`
	Target string `json:"target,omitempty"`
	Data   string `json:"data,omitempty"`
	// Outside: the path is outside the run directory, in the sun_path
	// fallback under /tmp; every directory between /tmp and the final name
	// must be this uid's (the daemon's) with no group or other write, and
	// is walked without following links (doOutside).
	Outside *int `json:"outside,omitempty"`
}

// Do performs the op through a handle on the path's directory (os.Root):
// the final name is created exclusively or changed without following a
// link out of that directory. The helper runs it as the uid that owns the
// place (daemon or attacker).
func (p PlantOp) Do() error {
	if p.Outside != nil {
		return p.doOutside(*p.Outside)
	}
	dir, base := filepath.Split(p.Path)
	if p.Op == "mkfifo" {
		// No mkfifoat in os.Root; a FIFO is made only by the attacker in a
		// directory it may write, as itself.
		return world.Mkfifo(p.Path, p.Mode)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer r.Close()
	return p.DoIn(r, base)
}

// DoIn performs the op on name inside r.
func (p PlantOp) DoIn(r *os.Root, name string) error {
	mode := os.FileMode(p.Mode)&os.ModePerm | modeExtra(p.Mode)
	switch p.Op {
	case "mkdir":
		if err := r.Mkdir(name, 0o700); err != nil {
			return err
		}
		return world.ChmodNoFollowIn(r, name, mode)
	case "symlink":
		return r.Symlink(p.Target, name)
	case "write":
		f, err := r.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		_, werr := f.WriteString(p.Data)
		return errors.Join(werr, f.Chmod(mode), f.Close())
	case "chmod":
		// Race point: the name may be swapped for a symlink up to the
		// call. os.Root's Chmod FOLLOWS a final link that stays inside the
		// root (the run directory's root holds the suite's own binary), so
		// it is not used: chmodNoFollowIn walks without following links and
		// changes only a socket or directory of this uid, through an
		// O_PATH|O_NOFOLLOW handle.
		return world.ChmodNoFollowIn(r, name, mode)
	}
	return fmt.Errorf("unknown plant op %q", p.Op)
}

// modeExtra maps the sticky bit of a numeric mode to os.FileMode.
func modeExtra(m uint32) os.FileMode {
	if m&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}

// Plant runs op as uid, noting it as evidence ("uid N planted: ...";
// "uid N chmod-ed: ..." for a chmod, which plants nothing).
func (e *Env) Plant(ctx context.Context, uid int, op PlantOp) error {
	if op.Op == "chmod" {
		return e.FsOp(ctx, uid, op, "chmod-ed")
	}
	return e.FsOp(ctx, uid, op, "planted")
}

// FsOp runs op as uid, noting it as evidence with verb: "planted" for a
// scenario's plants, or what the suite did for the daemon.
func (e *Env) FsOp(ctx context.Context, uid int, op PlantOp, verb string) error {
	var err error
	if rel, rerr := e.Runner.FS.Rel(op.Path); uid == os.Geteuid() && e.Runner.FS.Root != nil && op.Op != "mkfifo" && rerr == nil {
		// As ourselves (root, when the daemon's uid is root): inside the
		// run directory's handle, so no directory on the way is followed
		// out of the run.
		err = op.DoIn(e.Runner.FS.Root, rel)
	} else if rerr == nil && e.Runner.FS.Root != nil && op.Op != "mkfifo" && IsUnder(op.Path, e.Root) && e.isRootPrivate() {
		// In the root while it is private (OpenRoot): uid cannot reach
		// it, so the suite makes the entry through the run directory's
		// handle and hands it to uid (lchown, no link followed). No other
		// uid can reach the root meanwhile: what is in it is the suite's
		// and the daemon uid's plants.
		if err = op.DoIn(e.Runner.FS.Root, rel); err == nil {
			err = e.Runner.FS.Root.Lchown(rel, uid, uid)
		}
	} else {
		if rerr != nil {
			// Outside the run directory: the sun_path fallback, walked from
			// /tmp without following links (PlantOp.doOutside), in this
			// process or in the helper.
			op.Outside = &e.Runner.DaemonUID
		}
		err = e.RunAs(ctx, uid, "plant", op, nil)
	}
	what := op.Op + " " + op.Path
	if op.Op == "chmod" {
		what = fmt.Sprintf("%s to %04o", op.Path, op.Mode)
	}
	if op.Target != "" {
		what += " -> " + op.Target
	}
	if err != nil {
		return fmt.Errorf("as uid %d: %s: %w", uid, what, err)
	}
	e.Note("uid %d %s: %s (%s)", uid, verb, what, world.Describe(op.Path))
	if uid != e.Runner.DaemonUID {
		// Another uid's plant: it may withdraw or replace it (a sticky
		// root lets the owner of an entry remove it). The daemon's own
		// plants sit where only its uid and root can change them, and
		// the daemon may replace them (sock.dangling-symlink).
		e.recordPlant(uid, op)
		if h := e.Runner.Config.Hooks; h != nil && h.AfterPlant != nil {
			h.AfterPlant(e, uid, op.Path)
		}
	}
	return nil
}

// SignalErr adds the --forks hint to a signal's error when the process the
// suite started has already finished and the target was not declared to
// fork: the serving child was never followed.
func (e *Env) SignalErr(err error) error {
	t := e.Runner.Config.Target
	if errors.Is(err, os.ErrProcessDone) && !t.Forks && !t.Builtin {
		return fmt.Errorf("%w (%s; add %s)", err, target.ForksHintText, target.Hint("forks", "true"))
	}
	return err
}

// endpointExists reports, as an error, whether nothing is at the
// daemon's endpoint yet: no file at path, or for an abstract name no
// socket bound to it (/proc/net/unix, which lists this network
// namespace's).
func endpointExists(path string) error {
	if !target.IsAbstract(path) {
		_, err := os.Lstat(path)
		return err
	}
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		return err
	}
	// Num RefCount Protocol Flags Type St Inode Path, the path '@' first
	// for an abstract name.
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 8 && strings.Join(f[7:], " ") == path {
			return nil
		}
	}
	return fmt.Errorf("no socket is bound to the abstract name %s (/proc/net/unix)", path)
}

func Without(list []string, prefix string) []string {
	var out []string
	for _, s := range list {
		if !strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	return out
}

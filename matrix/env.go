package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/org/bh-ipc-check/ipc"
)

// Env is one scenario's world: a fresh parent directory (mode 1777, like
// /tmp) holding the root, the daemons started in it, and the evidence
// gathered. Everything it starts is killed and reaped by close.
type Env struct {
	r *Runner
	s Scenario
	// Parent is the fresh 1777 directory; Root lives inside it.
	Parent string
	Root   string
	Name   string
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
	evidence []string
	metrics  map[string]float64
	daemons  []*daemon
}

func (e *Env) note(format string, a ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evidence = append(e.evidence, fmt.Sprintf(format, a...))
}

func (e *Env) metric(k string, v float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.metrics == nil {
		e.metrics = map[string]float64{}
	}
	e.metrics[k] = v
}

// newEnv lays out the scenario's directories under the runner's run dir.
func (r *Runner) newEnv(s Scenario, seq int) (*Env, error) {
	parent := filepath.Join(r.runDir, fmt.Sprintf("%02d-%s", seq, strings.ReplaceAll(s.ID, ".", "-")))
	if err := mkdirMode(parent, 0o1777); err != nil {
		return nil, err
	}
	e := &Env{r: r, s: s, Parent: parent, Name: r.cfg.Name, Transport: r.transport(s)}
	if err := e.setRoot(filepath.Join(parent, "root")); err != nil {
		return nil, err
	}
	if !e.RootIsDir {
		if err := mkdirMode(e.Root, 0o1777); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// setRoot points the env at root (not created) and computes the paths.
func (e *Env) setRoot(root string) error {
	sock, port, err := e.r.cfg.Target.Paths(root, e.Name, e.Transport, e.r.daemonUID)
	if err != nil {
		return err
	}
	e.Root, e.Sock, e.Port = root, sock, port
	if e.Transport == ipc.TransportUnix {
		e.EndpointDir = filepath.Dir(sock)
	} else {
		e.EndpointDir = filepath.Dir(port)
	}
	// On Windows the port file sits in an ordinary, existing root (its
	// DACL, not a private directory, protects it): the root is always made
	// by the suite there.
	e.RootIsDir = runtime.GOOS != "windows" && filepath.Clean(e.EndpointDir) == filepath.Clean(root)
	return nil
}

func mkdirMode(p string, mode os.FileMode) error {
	if err := os.Mkdir(p, 0o700); err != nil {
		return err
	}
	// Chmod after mkdir: the suite's umask must not decide the mode, and
	// the suite never changes its umask.
	return os.Chmod(p, mode)
}

func (e *Env) spec() probeSpec {
	sp := probeSpec{Transport: e.Transport, Protocol: e.r.cfg.Target.Protocol, Sock: e.Sock, Port: e.Port, Name: e.Name}
	return e.r.cfg.Target.withProbe(sp, e.Root)
}

// daemon is one started daemon process.
type daemon struct {
	cmd  *exec.Cmd
	out  *outputBuffer
	done chan struct{}
	err  error
	Pid  int
	// root, name and marker of this start (startMarkerEnv); serving is
	// the pid that serves when the daemon forked (--forks), 0 otherwise.
	root, name, marker string
	serving            int
}

// exited reports whether the process has ended, and its exit code.
func (d *daemon) exited() (bool, int) {
	select {
	case <-d.done:
		return true, exitCode(d.err)
	default:
		return false, 0
	}
}

// wait waits up to timeout for the process to end.
func (d *daemon) wait(timeout time.Duration) (bool, int) {
	select {
	case <-d.done:
		return true, exitCode(d.err)
	case <-time.After(timeout):
		return false, 0
	}
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

// output is the daemon's last output, for evidence.
func (d *daemon) output() string { return strings.TrimSpace(d.out.String()) }

// startDaemon starts the target for root and name with the run's umask,
// as the daemon uid. It does not wait for readiness.
func (e *Env) startDaemon(root, name string) (*daemon, error) {
	cfg := e.r.cfg
	if err := e.makeSocketDir(root, name); err != nil {
		return nil, err
	}
	argv := cfg.Target.Argv(e.r.exe, root, name, e.Transport)
	e.mu.Lock()
	marker := e.markerFor(len(e.daemons))
	e.mu.Unlock()
	env := append(os.Environ(), cfg.Target.DaemonEnv(root, name, e.Transport)...)
	env = append(env, marker)
	cmd, err := daemonCommand(e.r.exe, execArg{Umask: cfg.Umask, Argv: argv, Env: env}, e.r.daemonUID, e.r.canSwitchUID())
	if err != nil {
		return nil, err
	}
	d := &daemon{cmd: cmd, out: &outputBuffer{}, done: make(chan struct{}), root: root, name: name, marker: marker}
	cmd.Stdout, cmd.Stderr = d.out, d.out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", strings.Join(argv, " "), err)
	}
	d.Pid = cmd.Process.Pid
	go func() { d.err = cmd.Wait(); close(d.done) }()
	e.mu.Lock()
	e.daemons = append(e.daemons, d)
	e.mu.Unlock()
	return d, nil
}

// waitReady waits until the daemon answers a ping at the env's paths
// (within Config.ReadyTimeout), and returns the pid it reports. It fails
// early when the daemon exits.
func (e *Env) waitReady(ctx context.Context, d *daemon, sp probeSpec) (int, error) {
	return e.waitReadyWithin(ctx, d, sp, e.r.cfg.ReadyTimeout)
}

func (e *Env) waitReadyWithin(ctx context.Context, d *daemon, sp probeSpec, limit time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var last error
	forks := e.r.cfg.Target.Forks
	for {
		// With --forks an exit 0 before ready is the parent of a daemon
		// that went to the background.
		if done, code := d.exited(); done && !(forks && code == 0) {
			return 0, fmt.Errorf("daemon exited with code %d before answering (last output: %s)", code, lastLine(d.output()))
		}
		path := sp.Sock
		if sp.Transport == ipc.TransportTCP {
			path = sp.Port
		}
		if _, err := os.Lstat(path); err == nil {
			pid, err := e.pingAsDaemon(ctx, sp)
			if err == nil && forks {
				return e.settleServing(ctx, d, pid)
			}
			if err == nil {
				return pid, nil
			}
			last = err
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("daemon did not answer within %s: %v (last output: %s)", limit, last, lastLine(d.output()))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// start starts a daemon for the env's root and name and waits for it.
func (e *Env) start(ctx context.Context) (*daemon, int, error) {
	d, err := e.startDaemon(e.Root, e.Name)
	if err != nil {
		return nil, 0, err
	}
	pid, err := e.waitReady(ctx, d, e.spec())
	return d, pid, err
}

// pingAsDaemon pings as the daemon's uid (our daemon serves only its own
// uid, and so may others).
func (e *Env) pingAsDaemon(ctx context.Context, sp probeSpec) (int, error) {
	var res struct {
		PID int `json:"pid"`
	}
	err := e.r.runAs(ctx, e.r.daemonUID, "ping", sp, &res)
	return res.PID, err
}

// asAttacker runs a helper action as the attacker uid.
func (e *Env) asAttacker(ctx context.Context, name string, arg, out any) error {
	return e.r.runAs(ctx, e.r.attackerUID, name, arg, out)
}

// asDaemonUID runs a helper action as the daemon's uid.
func (e *Env) asDaemonUID(ctx context.Context, name string, arg, out any) error {
	return e.r.runAs(ctx, e.r.daemonUID, name, arg, out)
}

// stopGrace is how long a daemon gets to exit after SIGTERM at the end of a
// scenario before it is killed.
const stopGrace = 2 * time.Second

// close stops and reaps every daemon the env started: SIGTERM first, so a
// daemon removes its endpoint (which may live outside the scenario's
// directory, in a sun_path fallback), then SIGKILL to the whole process
// group for one that does not exit within stopGrace.
func (e *Env) close() {
	e.mu.Lock()
	ds := e.daemons
	e.mu.Unlock()
	// Every process of the daemons' starts, before stopping them: children
	// that die with their parent are then the suite's to reap (subreaper).
	seen := e.startedProcs()
	for _, d := range ds {
		if done, _ := d.exited(); done {
			continue
		}
		if terminate(d.cmd) == nil {
			if done, _ := d.wait(stopGrace); done {
				continue
			}
		}
		killTree(d.cmd)
		d.wait(5 * time.Second)
	}
	e.stopStragglers(seen)
}

// tree lists every entry under dir (relative path, facts), for "nothing
// left behind" and "nothing created outside" checks.
func tree(dir string, skip string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return nil
		}
		if skip != "" && p == skip {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel+" ("+describe(p)+")")
		return nil
	})
	sort.Strings(out)
	return out
}

// lastLine is the last non-empty line of s, "(no output)" if none.
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return "(no output)"
	}
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// Output kept in evidence: the first outputHeadLines lines and the last
// outputTailLines, with "… N lines …" between.
const (
	outputHeadLines = 10
	outputTailLines = 40
	outputHeadMax   = 8 << 10
	outputTailMax   = 64 << 10
)

// outputBuffer keeps the head (first outputHeadMax bytes) and the tail
// (last outputTailMax bytes) of a daemon's output and counts the lines in
// between; safe for concurrent use.
type outputBuffer struct {
	mu         sync.Mutex
	head, tail []byte
	dropped    int // lines dropped from the front of tail
	cutMidLine bool
}

func (o *outputBuffer) Write(p []byte) (int, error) {
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
func (o *outputBuffer) String() string { return o.excerpt(1<<30, 1<<30) }

// excerpt is the first head lines and the last tail lines of the output,
// "… N lines …" between them when lines are left out; "" for no output.
func (o *outputBuffer) excerpt(head, tail int) string {
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

// plantOp is a filesystem action done by a uid (usually the attacker).
type plantOp struct {
	Op     string `json:"op"` // mkdir, symlink, write, chmod, mkfifo
	Path   string `json:"path"`
	Mode   uint32 `json:"mode,omitempty"`
	Target string `json:"target,omitempty"`
	Data   string `json:"data,omitempty"`
}

func (p plantOp) do() error {
	switch p.Op {
	case "mkdir":
		if err := os.Mkdir(p.Path, 0o700); err != nil {
			return err
		}
		return os.Chmod(p.Path, os.FileMode(p.Mode)&os.ModePerm|modeExtra(p.Mode))
	case "symlink":
		return os.Symlink(p.Target, p.Path)
	case "write":
		if err := os.WriteFile(p.Path, []byte(p.Data), 0o600); err != nil {
			return err
		}
		return os.Chmod(p.Path, os.FileMode(p.Mode)&os.ModePerm)
	case "chmod":
		return os.Chmod(p.Path, os.FileMode(p.Mode)&os.ModePerm|modeExtra(p.Mode))
	case "mkfifo":
		return mkfifo(p.Path, p.Mode)
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

// plant runs op as uid, noting it as evidence.
func (e *Env) plant(ctx context.Context, uid int, op plantOp) error {
	err := e.r.runAs(ctx, uid, "plant", op, nil)
	what := op.Op + " " + op.Path
	if op.Target != "" {
		what += " -> " + op.Target
	}
	if err != nil {
		return fmt.Errorf("as uid %d: %s: %w", uid, what, err)
	}
	e.note("uid %d planted: %s (%s)", uid, what, describe(op.Path))
	return nil
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

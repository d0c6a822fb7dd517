package scenario

// Scenarios for bug classes that published IPC vulnerabilities came from
// (issue 22): each replays the root cause of one class, judged from
// outside the daemon like every other scenario.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/org/bh-ipc-check/ipc"

	"github.com/org/bh-ipc-check/matrix/internal/probe"
	"github.com/org/bh-ipc-check/matrix/internal/proc"
	"github.com/org/bh-ipc-check/matrix/internal/stage"
	"github.com/org/bh-ipc-check/matrix/internal/target"
	"github.com/org/bh-ipc-check/matrix/internal/world"
)

// cveScenarios follow the rest of the catalogue in report order.
var cveScenarios = []stage.Scenario{
	{ID: "path.pidfile-link", Title: "pid and lock files not written through a planted link", Severity: target.Required, Platforms: posix,
		Checks: "a symlink planted before the start at the pid file (--pidfile, to an existing canary of the daemon's uid) and the lock file (--lockfile, or the builtin's lock, to an absent name): the canary is unchanged and nothing appears at a link's target", Run: pidfileLink},
	{ID: "inst.cleanup-no-follow", Title: "cleanup does not follow a planted link", Severity: target.Required, Platforms: posix, Needs: []stage.Need{stage.NeedOtherUID}, Transport: ipc.TransportUnix,
		Checks: "with the endpoint dir loose (01777) before the start, another uid plants <dir>/x -> a canary directory of the daemon's uid once it serves; after SIGTERM the canary has lost nothing", Run: cleanupNoFollow},
	{ID: "auth.bound-address", Title: "peer identity not taken from the client's address", Severity: target.Hardening, Platforms: posix, Needs: []stage.Need{stage.NeedOtherUID}, Transport: ipc.TransportUnix, Abstract: stage.AbstractToo,
		Checks: "with the socket chmod 0666 and its directory 0755 after start, another uid connecting from a socket bound to <dir>/x;uid=<daemon uid>;pid=1; and (Linux) from an abstract autobind address gets no reply", Run: authBoundAddress},
}

func init() {
	catalogue = append(catalogue, cveScenarios...)
	stage.RegisterAction("connect-bound", func(ctx context.Context, arg json.RawMessage) (any, error) {
		var a boundConnect
		if err := json.Unmarshal(arg, &a); err != nil {
			return nil, err
		}
		return a.talk(ctx), nil
	})
}

// canarySentinel is what a canary file holds; a write through a link
// changes it.
const canarySentinel = "canary: left by the suite; a daemon must not write here\n"

// startFile is a file a daemon writes or creates at its start, named by
// the target: a pid file or a lock file.
type startFile struct {
	what, path string
	// toFile: the planted link points at an existing canary file (a pid
	// file is written: a write through the link changes it); else at an
	// absent name in the canary directory (a lock file is opened or
	// created: a create through the link makes that name appear).
	toFile bool
}

// startFiles are the pid and lock files the target names for this env:
// --pidfile and --lockfile, or the builtin's lock file (ipc's "lock").
func startFiles(e *stage.Env) []startFile {
	t := e.Runner.Config.Target
	if t.Builtin {
		lay, err := ipc.ResolveAs(e.Runner.DaemonUID, e.Name, ipc.WithRoot(e.Root), ipc.WithTransport(e.Transport))
		if err != nil || lay.Lock == "" {
			return nil
		}
		return []startFile{{what: "the builtin's lock file", path: lay.Lock}}
	}
	var out []startFile
	if t.PidFile != "" {
		out = append(out, startFile{what: "--pidfile", path: filepath.Clean(target.Expand(t.PidFile, e.Root, e.Name)), toFile: true})
	}
	if t.LockFile != "" {
		out = append(out, startFile{what: "--lockfile", path: filepath.Clean(target.Expand(t.LockFile, e.Root, e.Name))})
	}
	return out
}

// readInRun reads the regular file p under the run directory without
// following a link at p, through the run directory's handle.
func readInRun(e *stage.Env, p string) (string, error) {
	fi, err := e.Runner.FS.Lstat(p)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is %s, not a regular file", p, world.Describe(p))
	}
	if e.Runner.FS.Root == nil {
		b, err := world.ReadNoFollow(p, -1, 64)
		return string(b), err
	}
	rel, err := e.Runner.FS.Rel(p)
	if err != nil {
		return "", err
	}
	// Race point: the canary's directory is the daemon uid's (0700); only
	// that uid could swap the file for a link between the lstat and the
	// read, and os.Root keeps the read inside the run directory.
	b, err := e.Runner.FS.Root.ReadFile(rel)
	return string(b), err
}

// canaryDir makes a directory of the daemon's uid (0700) in the scenario's
// directory, holding the canary files named in files (each canarySentinel,
// mode 0644).
func canaryDir(ctx context.Context, e *stage.Env, files ...string) (string, error) {
	dir := filepath.Join(e.Parent, "canary-"+randHex(4))
	if err := e.Plant(ctx, e.Runner.DaemonUID, stage.PlantOp{Op: "mkdir", Path: dir, Mode: 0o700}); err != nil {
		return "", err
	}
	for _, f := range files {
		if err := e.Plant(ctx, e.Runner.DaemonUID, stage.PlantOp{Op: "write", Path: filepath.Join(dir, f), Data: canarySentinel, Mode: 0o644}); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// judgeCanary compares the canary directory with what was planted in it
// (files, each holding canarySentinel): "" when untouched, else what
// changed.
func judgeCanary(e *stage.Env, dir string, files []string) string {
	var got []string
	for _, entry := range e.Tree(dir, "") {
		name, _, _ := strings.Cut(entry, " (")
		got = append(got, name)
	}
	var changed []string
	for _, f := range files {
		if !slices.Contains(got, f) {
			changed = append(changed, fmt.Sprintf("%s was removed", filepath.Join(dir, f)))
			continue
		}
		if b, err := readInRun(e, filepath.Join(dir, f)); err != nil {
			changed = append(changed, fmt.Sprintf("%s: %v", filepath.Join(dir, f), err))
		} else if b != canarySentinel {
			changed = append(changed, fmt.Sprintf("%s now holds %s", filepath.Join(dir, f), target.QuoteClip([]byte(b), 80)))
		}
	}
	for _, g := range got {
		if !slices.Contains(files, g) {
			changed = append(changed, fmt.Sprintf("%s appeared (%s)", filepath.Join(dir, g), world.Describe(filepath.Join(dir, g))))
		}
	}
	return strings.Join(changed, "; ")
}

// pidfileLink replays chrony's CVE-2020-14367: a pid file written through
// a symlink found at its path overwrites whatever the link names with the
// daemon's privileges.
func pidfileLink(ctx context.Context, e *stage.Env) stage.Outcome {
	files := startFiles(e)
	if len(files) == 0 {
		return stage.Skip("the target names no pid or lock file; give %s (with %s) or %s, templates of where the daemon writes them, to run it", target.Hint("pidfile", "TEMPLATE"), target.Hint("forks", "true"), target.Hint("lockfile", "TEMPLATE"))
	}
	var canaries []string
	for i, f := range files {
		if f.toFile {
			canaries = append(canaries, fmt.Sprintf("file-%d", i))
		}
	}
	cdir, err := canaryDir(ctx, e, canaries...)
	if err != nil {
		return stage.Errored("setup: %v", err)
	}
	for i, f := range files {
		dir := filepath.Dir(f.path)
		if filepath.Clean(dir) == filepath.Clean(e.EndpointDir) && !world.Stat(dir).Exists {
			// The endpoint directory as the daemon itself would make it.
			if err := ownEndpointDir(ctx, e, 0o700); err != nil {
				return stage.Errored("setup: %v", err)
			}
		}
		if d := world.Stat(dir); d.Kind != "dir" {
			return stage.Skip("%s %s: its directory %s is %s before the start (the daemon makes it), so no link can be planted ahead of the daemon; run it with a template in a directory that exists, such as {root}/", f.what, f.path, dir, world.Describe(dir))
		}
		target := filepath.Join(cdir, fmt.Sprintf("absent-%d", i))
		if f.toFile {
			target = filepath.Join(cdir, fmt.Sprintf("file-%d", i))
		}
		// As the daemon's uid: a link of another uid in a sticky directory
		// is not followed by Linux (fs.protected_symlinks), which would
		// hide the daemon's mistake. The link stands for one left by a
		// process of that uid, or made in a directory that uid shares.
		if err := e.Plant(ctx, e.Runner.DaemonUID, stage.PlantOp{Op: "symlink", Path: f.path, Target: target}); err != nil {
			return stage.Errored("setup: %v", err)
		}
	}
	d, served, refusal, err := servedOrRefused(ctx, e)
	if served {
		// Some daemons rewrite or remove their pid file as they exit.
		if serr := stage.SignalDaemon(d, "TERM"); serr == nil {
			d.WaitServing(stage.StopGrace)
		}
	}
	for _, f := range files {
		e.Note("%s %s after the start (and SIGTERM when it served): %s", f.what, f.path, world.Describe(f.path))
	}
	e.Note("canary directory %s holds: %v", cdir, e.Tree(cdir, ""))
	if changed := judgeCanary(e, cdir, canaries); changed != "" {
		return stage.Fail("written through the planted link: %s", changed)
	}
	var kept []string
	for _, f := range files {
		if world.Stat(f.path).Kind == "symlink" {
			kept = append(kept, f.path)
		}
	}
	note := ""
	if len(kept) > 0 {
		// Nothing went through it; the daemon may write its file
		// elsewhere than the template says.
		note = fmt.Sprintf(" (the link at %s was left as planted: check the template names where the daemon writes)", strings.Join(kept, ", "))
	}
	switch {
	case served && len(kept) == len(files):
		// Nothing was written there at all: a template that names no file
		// of the daemon's (a typo) tested nothing.
		return stage.Skip("served, and the link at %s was left as planted: the daemon did not write there; check that --pidfile/--lockfile name where it writes", strings.Join(kept, ", "))
	case served:
		return stage.Pass("served; nothing written through the planted link%s", note)
	case refusal != "":
		return stage.Pass("refused: %s; nothing written through the planted link", refusal)
	}
	return stage.Errored("neither served nor refused clearly: %v", err)
}

// cleanupNoFollow replays the remove_dir_all class (Rust CVE-2022-21658):
// a daemon that empties its directory at exit, following a link another
// uid planted there, deletes what the link names with its privileges.
// Only a deterministic plant is made: a swap racing the daemon's own
// check of each entry is not covered.
func cleanupNoFollow(ctx context.Context, e *stage.Env) stage.Outcome {
	const keep = "keep"
	cdir, err := canaryDir(ctx, e, keep)
	if err != nil {
		return stage.Errored("setup: %v", err)
	}
	// Loose like a shared directory: another uid may add entries, and
	// (sticky) may not remove the daemon's.
	if err := ownEndpointDir(ctx, e, 0o1777); err != nil {
		return stage.Errored("setup: %v", err)
	}
	d, served, refusal, err := servedOrRefused(ctx, e)
	switch {
	case refusal != "":
		return stage.Pass("refused to serve in the loose directory: %s", refusal)
	case !served:
		return stage.Errored("neither served nor refused clearly: %v", err)
	}
	e.Note("endpoint dir once serving: %s", world.Describe(e.EndpointDir))
	link := filepath.Join(e.EndpointDir, "x")
	if err := e.Plant(ctx, e.Runner.AttackerUID, stage.PlantOp{Op: "symlink", Path: link, Target: cdir}); err != nil {
		if errors.Is(err, fs.ErrPermission) || strings.Contains(err.Error(), "permission denied") {
			return stage.Pass("uid %d could not plant %s (%s): the directory was made private before serving", e.Runner.AttackerUID, link, world.Describe(e.EndpointDir))
		}
		return stage.Errored("plant: %v", err)
	}
	// The attacker's link shows that another uid can add entries; the
	// verdict does not rest on it. The attacker may withdraw its own link
	// at any moment (and a link the daemon's cleanup removes is gone at
	// judgement either way), so the link the cleanup is judged on is a
	// second one, made as the daemon's uid: in the sticky directory no
	// other uid can remove it. Who owns a link changes nothing for a
	// cleanup that follows links (fs.protected_symlinks lets a process
	// follow a link owned by the directory's owner).
	e.ForgetPlant(link)
	held := filepath.Join(e.EndpointDir, "y")
	if err := e.Plant(ctx, e.Runner.DaemonUID, stage.PlantOp{Op: "symlink", Path: held, Target: cdir}); err != nil {
		return stage.Errored("plant: %v", err)
	}
	if err := stage.SignalDaemon(d, "TERM"); err != nil {
		return stage.Errored("SIGTERM: %v", err)
	}
	exited, code := d.WaitServing(stage.StopGrace)
	e.Note("after SIGTERM: exited=%v (%s); %s: %s; %s: %s; canary directory %s holds: %v", exited, d.HowEnded(code), link, world.Describe(link), held, world.Describe(held), cdir, e.Tree(cdir, ""))
	if changed := judgeCanary(e, cdir, []string{keep}); changed != "" {
		return stage.Fail("the cleanup followed %s -> %s: %s", held, cdir, changed)
	}
	if !exited {
		// A cleanup still running (or made slow: another uid can fill the
		// loose directory) has not shown whether it follows the link: no
		// verdict, never a pass.
		return stage.Errored("the daemon was still running %s after SIGTERM: its cleanup did not finish, so whether it follows %s was not seen (inst.clean-shutdown judges the slow exit)", stage.StopGrace, held)
	}
	return stage.Pass("the canary is intact after SIGTERM; %s is %s", held, world.Describe(held))
}

// boundConnect is the helper action "connect-bound": connect to Spec's
// socket from a client socket bound to Local first ("" binds an abstract
// autobind address, Linux), send a ping, read what comes back.
type boundConnect struct {
	Spec  probe.Spec `json:"spec"`
	Local string     `json:"local"`
}

func (a boundConnect) talk(ctx context.Context) probe.ConnectResult {
	return probe.Watched(func() probe.ConnectResult { return a.talkOnce(ctx) })
}

func (a boundConnect) talkOnce(ctx context.Context) probe.ConnectResult {
	path, done, err := proc.ReachableSockPath(a.Spec.Sock)
	if err != nil {
		return probe.ConnectResult{Error: err.Error()}
	}
	defer done()
	c, err := dialFrom(a.Local, path)
	if err != nil {
		return probe.ConnectResult{Error: err.Error(), Refused: probe.RefusalOf(err, false)}
	}
	defer c.Close()
	return talkOn(ctx, c, a.Spec, "bound to "+c.LocalAddr().String())
}

// talkOn is an attacker's request on c, a connection it made itself: a
// ping (bh-json, ipc) read for one line, or the probe's own judgement
// (connect and line: a connection held open probe.HeldOpen, a reply matching
// --expect). how says which connection it was, first in r.Error.
func talkOn(ctx context.Context, c net.Conn, sp probe.Spec, how string) probe.ConnectResult {
	r := probe.ConnectResult{Connected: true}
	if !sp.Protocol.SpeaksJSON() {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second+probe.HeldOpen)
		defer cancel()
		p := probe.OnConn(ctx, c, sp, probe.HeldOpen)
		r.Talked, r.Refused, r.Sent = p.Answered, p.Refused, p.Got
		if p.Answered {
			r.Reply = p.Detail
		}
		r.Error = how + "; " + p.Detail
		return r
	}
	r.Error = how
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte(`{"meta":"ping"}` + "\n")); err != nil {
		r.Error, r.Refused = how+"; write: "+err.Error(), probe.WriteRefusal(err)
		return r
	}
	// One line is an answer: no need to wait for the daemon to close.
	b, err := bufio.NewReader(io.LimitReader(c, 4096)).ReadString('\n')
	r.Reply = b
	if err == nil && strings.TrimSpace(b) == "" {
		err = io.EOF
	}
	var note string
	r.Refused, note = probe.HandSilence(ctx, c, probe.RefusalOf(err, true))
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		r.Error += "; no reply within 3s (connection held open)" + note
	} else if err != nil && err != io.EOF {
		r.Error += "; " + err.Error()
	}
	return r
}

// loosenedForAttacker starts the daemon and loosens its socket and
// directory as auth.peercred does, so only the daemon's own peer check is
// left, and returns the spec an attacker connects with. what finishes the
// skip for --protocol exec: what the suite cannot do to the probe
// program's own connection. done: o is the scenario's outcome.
func loosenedForAttacker(ctx context.Context, e *stage.Env, what string) (sp probe.Spec, o stage.Outcome, done bool) {
	if e.Runner.Config.Target.Protocol == target.ProtocolExec {
		return sp, stage.Skip("%s: the probe program makes its own connection, which the suite cannot %s; run with %s or %s to judge it", target.Hint("protocol", "exec"), what, target.Hint("protocol", "connect"), target.Hint("protocol", "line")), true
	}
	if _, _, err := e.Start(ctx); err != nil {
		return sp, stage.Errored("the daemon passed the preflight but did not start here: %v", err), true
	}
	if err := loosen(ctx, e); err != nil {
		return sp, stage.Errored("%v", err), true
	}
	sp = e.Spec()
	sp.Auth = nil // the attacker takes the endpoint as it finds it
	return sp, stage.Outcome{}, false
}

// authBoundAddress replays snapd's "dirty_sock" (CVE-2019-7304): the
// peer's uid was parsed from a string that ended with the client's own
// address, so a client bound to a path holding ";uid=0;" was root. With
// the filesystem guards loosened (as auth.peercred does), another uid
// connects from such an address and from an abstract autobind one.
func authBoundAddress(ctx context.Context, e *stage.Env) stage.Outcome {
	sp, o, done := loosenedForAttacker(ctx, e, "bind")
	if done {
		return o
	}
	// In the scenario's directory (sticky, 1777): the attacker may bind
	// there, and the run removes what it leaves.
	var locals []string
	bound := filepath.Join(e.Parent, fmt.Sprintf("x;uid=%d;pid=1;", e.Runner.DaemonUID))
	if len(bound) <= ipc.SunPathLimit(runtime.GOOS) {
		locals = append(locals, bound)
	} else {
		// A root too deep for sun_path (the fallback's long roots): no
		// path can be bound here; the abstract address still is.
		e.Note("not bound to %s: %d bytes, over sun_path's %d", bound, len(bound), ipc.SunPathLimit(runtime.GOOS))
	}
	if runtime.GOOS == "linux" {
		locals = append(locals, "")
	}
	if len(locals) == 0 {
		return stage.Skip("no address to bind: %s is %d bytes, over sun_path's %d, and abstract addresses are Linux's; run with a shorter --root", bound, len(bound), ipc.SunPathLimit(runtime.GOOS))
	}
	var tried []string
	for _, local := range locals {
		var r probe.ConnectResult
		if err := e.AsAttacker(ctx, "connect-bound", boundConnect{Spec: sp, Local: local}, &r); err != nil {
			return stage.Errored("attacker helper: %v", err)
		}
		from := local
		if from == "" {
			from = "an abstract autobind address"
		}
		e.Note("uid %d from %s: connected=%v %s (%s)", e.Runner.AttackerUID, from, r.Connected, r.ReplyNote(), r.Error)
		if o, done := judgeAttackerTalk(e, "a connection from "+from, r); done {
			return o
		}
		tried = append(tried, from)
	}
	return stage.Pass("uid %d got no reply from %s", e.Runner.AttackerUID, strings.Join(tried, " or "))
}

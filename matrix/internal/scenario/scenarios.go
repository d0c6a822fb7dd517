package scenario

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"os"
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

var posix = []string{"linux", "darwin"}

// catalogue is every scenario, in report order: these, then what the init
// of each scenarios_cve*.go file appends.
var catalogue = []stage.Scenario{
	{ID: "sock.mode-umask0", Title: "socket private under umask 0", Severity: target.Required, Platforms: posix, Transport: ipc.TransportUnix,
		Checks: "started under umask 0, the socket and its directory give no other uid a way to connect (socket 0600 or a 0700 directory; group bits count only for a group the attacker or every user is in)", Run: sockModeUmask0},
	{ID: "sock.first-seen-mode", Title: "socket never reachable while listening", Severity: target.Required, Platforms: posix, Transport: ipc.TransportUnix,
		Checks: "the socket is never reachable by other uids while it listens: its mode, group and directory at each listen() (a seccomp gate on Linux) and once serving; the mode before listen() is not judged", Run: sockFirstSeen},
	{ID: "sock.dangling-symlink", Title: "dangling symlink at the socket path", Severity: target.Required, Platforms: posix, Transport: ipc.TransportUnix,
		Checks: "a dangling symlink pre-planted at the socket path: its target is never created; the daemon serves on a real socket or refuses clearly", Run: sockDanglingSymlink},
	{ID: "dir.symlink", Title: "endpoint dir planted as a symlink", Severity: target.Required, Platforms: posix, Needs: []stage.Need{stage.NeedOtherUID}, Transport: ipc.TransportUnix,
		Checks: "another uid plants the endpoint directory as a symlink to its own directory: nothing is created or changed through it (the target's owner, mode and listing are compared), refusal or not", Run: dirSymlink},
	{ID: "dir.foreign-owner", Title: "endpoint dir pre-created by another uid", Severity: target.Required, Platforms: posix, Needs: []stage.Need{stage.NeedOtherUID}, Transport: ipc.TransportUnix,
		Checks: "another uid pre-creates the endpoint directory with mode 0777: the daemon refuses it rather than serve inside it", Run: dirForeignOwner},
	{ID: "dir.loose-perms", Title: "own endpoint dir with mode 0777", Severity: target.Required, Platforms: posix, Transport: ipc.TransportUnix,
		Checks: "the daemon's own endpoint directory left at 0777: it is tightened (no other write; group bits count only for a group the attacker or every user is in) or the daemon refuses", Run: dirLoosePerms},
	{ID: "dir.not-a-dir", Title: "a file at the endpoint dir path", Severity: target.Required, Platforms: posix, Transport: ipc.TransportUnix,
		Checks: "a regular file at the endpoint directory path: the daemon refuses with a message and leaves the file as it was", Run: dirNotADir},
	{ID: "auth.foreign-uid-connect", Title: "another uid cannot talk to the daemon", Severity: target.Required, Platforms: posix, Needs: []stage.Need{stage.NeedOtherUID}, Transport: ipc.TransportUnix, Abstract: stage.AbstractToo,
		Checks: "another uid connecting to the socket gets no reply", Run: authForeignConnect},
	{ID: "auth.peercred", Title: "peer uid checked even when the socket is loosened", Severity: target.Hardening, Platforms: posix, Needs: []stage.Need{stage.NeedOtherUID}, Transport: ipc.TransportUnix, Abstract: stage.AbstractToo,
		Checks: "with the socket chmod 0666 and its directory 0755 after start, another uid still gets no reply (peer credentials)", Run: authPeerCred},
	{ID: "inst.live-not-hijacked", Title: "a second start does not steal a live socket", Severity: target.Required,
		Checks: "a second instance started on a live name does not take over: the first keeps answering", Run: instLiveNotHijacked},
	{ID: "inst.busy-not-stale", Title: "a busy daemon is not taken for a stale one", Severity: target.Hardening, Platforms: []string{"linux"}, Transport: ipc.TransportUnix, Abstract: stage.AbstractToo,
		Checks: "the first daemon SIGSTOPped with a full backlog: a second start does not take over; after SIGCONT the first answers", Run: instBusyNotStale},
	{ID: "inst.stale-recovered", Title: "a SIGKILLed daemon's endpoint is recovered", Severity: target.Required,
		Checks: "after SIGKILL a new start serves", Run: instStaleRecovered},
	{ID: "inst.clean-shutdown", Title: "SIGTERM cleans up", Severity: target.Required, Platforms: posix,
		Checks: "SIGTERM: exit 0 within 2 s and nothing left behind", Run: instCleanShutdown},
	{ID: "path.name-validation", Title: "traversal names refused", Severity: target.Required,
		Checks: "names like ../x and a/b are refused and nothing is created outside the root (for an abstract socket name, which is no path: nothing is created outside the root)", Run: pathNameValidation, TargetSkip: needsName},
	{ID: "path.budget", Title: "sun_path budget", Severity: target.Required, Platforms: posix, Transport: ipc.TransportUnix,
		Checks: "a root long enough to overflow sun_path: a working fallback or a clear error, never a truncated path", Run: pathBudget},
	{ID: "tcp.loopback-only", Title: "TCP listens on loopback only", Severity: target.Required, Platforms: []string{"linux"}, Transport: ipc.TransportTCP,
		Checks: "every listening socket on the port-file port is bound to 127.0.0.1 or ::1 (/proc/net/tcp)", Run: tcpLoopbackOnly},
	{ID: "tcp.auth-required", Title: "TCP requests need the secret", Severity: target.Required, Transport: ipc.TransportTCP,
		Checks: "requests without the token, or with a wrong one, get an error or a close, never an answer", Run: tcpAuthRequired,
		TargetSkip: needsRequest("sends bh-json requests without a token and with a wrong one")},
	{ID: "tcp.portfile-private", Title: "port file private", Severity: target.Required, Platforms: posix, Transport: ipc.TransportTCP,
		Checks: "the port file is a regular file of the daemon's uid with no group/other access, in a directory others cannot write; another uid cannot read it", Run: tcpPortFilePrivate},
	{ID: "tcp.portfile-dacl", Title: "port file DACL private", Severity: target.Required, Platforms: []string{"windows"}, Transport: ipc.TransportTCP,
		Checks: "the port file's DACL, read back, grants only the user, SYSTEM and Administrators, and is protected, and the file is owned by the user or, when the user's token has it as default owner, by BUILTIN\\Administrators (Wine derives the entries from the Unix mode and keeps no flag or owner)", Run: tcpPortFileDACL},
	{ID: "tcp.squatter-learns-nothing", Title: "a squatter on a stale port learns nothing", Severity: target.Required, BuiltinOnly: true, Transport: ipc.TransportTCP,
		Checks: "after SIGKILL a squatter binds the stale port: the client refuses it and sends nothing derived from the secret", Run: tcpSquatter},
	{ID: "proto.malformed", Title: "malformed input", Severity: target.Required,
		Checks: "non-JSON, non-object JSON, a 2 MiB line, half a line, binary garbage: an error or a close, and the daemon keeps serving", Run: protoMalformed},
	{ID: "proto.idle-connections", Title: "idle connections do not block service", Severity: target.Required,
		Checks: "with 500 idle connections open, a new client is served", Run: protoIdle,
		TargetSkip: needsAnswer("judges whether a new client is served while 500 connections idle")},
	{ID: "load.concurrent", Title: "concurrent load", Severity: target.Required,
		Checks: "64 connections x 500 pings: zero errors (p50/p99 reported)", Run: loadConcurrent},
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func sockModeUmask0(ctx context.Context, e *stage.Env) stage.Outcome {
	_, _, err := e.Start(ctx)
	if err != nil {
		return stage.Errored("the daemon passed the preflight but did not start here: %v", err)
	}
	s, d := world.Stat(e.Sock), world.Stat(e.EndpointDir)
	e.Note("umask %03o; socket %s: %s gid %d; dir %s: %s gid %d", e.Runner.Config.Umask, e.Sock, world.Describe(e.Sock), s.GID, e.EndpointDir, world.Describe(e.EndpointDir), d.GID)
	e.NoteGroups(s, d)
	j := e.Runner.Reach
	if s.Kind != "socket" {
		return stage.Fail("no socket at %s (%s)", e.Sock, world.Describe(e.Sock))
	}
	if s.UID != e.Runner.DaemonUID || d.UID != e.Runner.DaemonUID {
		return stage.Fail("socket owned by uid %d and dir by uid %d, want the daemon's uid %d", s.UID, d.UID, e.Runner.DaemonUID)
	}
	if ok, why := j.CanConnect(s, d); ok {
		return stage.Fail("socket mode %04o in dir mode %04o: other uids can connect (%s)", s.Mode, d.Mode, why)
	}
	if ok, why := j.CanReplace(d); ok {
		return stage.Fail("dir mode %04o: other uids can replace the socket (%s)", d.Mode, why)
	}
	return stage.Pass("socket %04o gid %d, dir %04o gid %d, both uid %d: no other uid can connect%s", s.Mode, s.GID, d.Mode, d.GID, s.UID, stage.GroupOnly(s, d))
}

// sockFirstSeen judges reachability over the socket's whole start: other
// uids can connect only once it listens, so the socket's mode, group and
// directory count at each listen() (the listen gate, Linux) and once it
// serves, not its mode between bind and listen: bind, chmod, listen
// passes; bind, listen, chmod fails.
func sockFirstSeen(ctx context.Context, e *stage.Env) stage.Outcome {
	w := stage.WatchFirstSeen(e.EndpointDir, e.Sock)
	defer w.Stop()
	gate, gateErr := stage.NewListenGate(e.Sock, e.EndpointDir)
	if gateErr == nil {
		e.SetListenGate(gate)
		defer gate.Stop()
	}
	_, _, err := e.Start(ctx)
	if err != nil {
		return stage.Errored("the daemon passed the preflight but did not start here: %v", err)
	}
	nowS, nowD := world.Stat(e.Sock), world.Stat(e.EndpointDir)
	first, seen := w.Result()
	if seen {
		e.Note("first seen via %s: socket %04o uid %d gid %d, dir %04o uid %d gid %d", first.Via, first.Sock.Mode, first.Sock.UID, first.Sock.GID, first.Dir.Mode, first.Dir.UID, first.Dir.GID)
	}
	var sights []stage.ListenSight
	if gateErr == nil {
		sights, gateErr = gate.Result()
	}
	if gateErr != nil {
		e.Note("listen calls not gated: %v", gateErr)
	}
	e.NoteGroups(nowS, nowD)
	j := e.Runner.Reach
	at, o, decided := firstSeenListens(e, sights)
	if decided {
		return o
	}
	if ok, why := j.CanConnect(nowS, nowD); ok {
		return stage.Fail("serving with socket %04o in dir %04o: other uids can connect (%s)", nowS.Mode, nowD.Mode, why)
	}
	if o, decided := firstSeenOthers(e, w, gateErr); decided {
		return o
	}
	if at != nil {
		made := ""
		if seen {
			made = fmt.Sprintf("; first seen as %04o (before listen() no one can connect)", first.Sock.Mode)
		}
		return stage.Pass("socket %04o in dir %04o when it started to listen, and %04o serving: never reachable by other uids%s", at.Sock.Mode, at.Dir.Mode, nowS.Mode, made)
	}
	// No listen() seen: no gate here, or the listener was inherited. Only
	// what was polled is left.
	if !seen {
		return stage.Fail("the socket was never observed at %s (%s)", e.Sock, world.Describe(e.Sock))
	}
	if ok, why := j.CanConnect(first.Sock, first.Dir); ok {
		return stage.Skip("first seen as %04o in a %04o dir (%s), reachable once it listens; whether it listened before it was tightened was not observed (%v): run on Linux 5.5 or later, as root or where seccomp is allowed", first.Sock.Mode, first.Dir.Mode, why, gateErr)
	}
	return stage.Pass("first seen (%s) as socket %04o in dir %04o, and %04o serving: not reachable by others (listen() not observed)", first.Via, first.Sock.Mode, first.Dir.Mode, nowS.Mode)
}

// firstSeenListens judges the listen() calls the gate saw (sockFirstSeen):
// decided with the outcome when one on the socket (or a temporary name in
// its directory) was made while other uids could connect or could not be
// read; else the first such call, if any.
func firstSeenListens(e *stage.Env, sights []stage.ListenSight) (at *stage.ListenSight, o stage.Outcome, decided bool) {
	j := e.Runner.Reach
	for i, l := range sights {
		// A listen() on another socket (TCP, another path) is not this
		// one's; one whose fd could not be read is taken to be.
		// A listen() on a temporary name in the socket's directory, later
		// renamed over it (haproxy, supervisord), is judged alike.
		mine := l.Path == e.Sock || l.Path != "" && filepath.Dir(l.Path) == filepath.Dir(e.Sock) ||
			l.Path == "" && l.Unknown != "" && l.Sock.Kind == "socket"
		seen := e.Sock
		if l.Path != "" && filepath.Dir(l.Path) == filepath.Dir(e.Sock) {
			seen = l.Path
		}
		e.Note("listen call %d: fd bound to %q%s; %s then: %s %04o uid %d gid %d; dir %04o gid %d", i+1, l.Path, orUnknown(l.Unknown), seen, l.Sock.Kind, l.Sock.Mode, l.Sock.UID, l.Sock.GID, l.Dir.Mode, l.Dir.GID)
		if !mine {
			continue
		}
		if l.Sock.Kind != "socket" {
			// Its state at listen() could not be read: no mode to judge
			// (a zero mode is not "unreachable").
			return nil, stage.Errored("listen() call %d: the socket's state then could not be read (%s is %s)", i+1, seen, describeOr(l.Sock.Kind)), true
		}
		if ok, why := j.CanConnect(l.Sock, l.Dir); ok {
			return nil, stage.Fail("listen() was called on %s while it was %04o in a %04o dir: from then on other uids could connect (%s)", orSock(l.Path, e.Sock), l.Sock.Mode, l.Dir.Mode, why), true
		}
		if at == nil {
			at = &sights[i]
		}
	}
	return at, stage.Outcome{}, false
}

// firstSeenOthers judges, without the listen gate (gateErr says why), every
// other socket the daemon made in the socket's directory (sockFirstSeen):
// decided, with a skip, when one was first seen reachable.
func firstSeenOthers(e *stage.Env, w *stage.FirstSeen, gateErr error) (stage.Outcome, bool) {
	j := e.Runner.Reach
	// Every other socket the daemon made in the directory on the way (a
	// temporary name renamed over the final one): without the gate its
	// mode when first seen is all there is, and a loose one may not have
	// listened yet, so it is no verdict either way.
	if gateErr == nil {
		return stage.Outcome{}, false
	}
	others := w.OtherSights()
	for _, n := range slices.Sorted(maps.Keys(others)) {
		o := others[n]
		e.Note("another socket, %s, first seen via %s: socket %04o uid %d, dir %04o uid %d", n, o.Via, o.Sock.Mode, o.Sock.UID, o.Dir.Mode, o.Dir.UID)
		if ok, why := j.CanConnect(o.Sock, o.Dir); ok {
			return stage.Skip("the socket %s (made in the socket's directory before %s appeared) was first seen as %04o in a %04o dir (%s); whether it listened then was not observed (%v): run on Linux 5.5 or later, as root or where seccomp is allowed", n, filepath.Base(e.Sock), o.Sock.Mode, o.Dir.Mode, why, gateErr), true
		}
	}
	return stage.Outcome{}, false
}

// describeOr names a kind of file, or says there was none.
func describeOr(kind string) string {
	if kind == "" {
		return "missing"
	}
	return "a " + kind
}

// orSock names the socket a listen() was for: the endpoint's, or the
// temporary name it was made under.
func orSock(path, sock string) string {
	if path == "" || path == sock {
		return "the socket"
	}
	return path
}

func orUnknown(why string) string {
	if why == "" {
		return ""
	}
	return " (unknown: " + why + ")"
}

// ownEndpointDir creates the endpoint directory as the daemon's uid with
// mode (for a target whose endpoint dir is the root, the root).
func ownEndpointDir(ctx context.Context, e *stage.Env, mode uint32) error {
	if err := e.MakeFallbackParents(ctx); err != nil {
		return err
	}
	return e.Plant(ctx, e.Runner.DaemonUID, stage.PlantOp{Op: "mkdir", Path: e.EndpointDir, Mode: mode})
}

func sockDanglingSymlink(ctx context.Context, e *stage.Env) stage.Outcome {
	target := filepath.Join(e.Parent, "planted-target-"+randHex(4))
	if err := ownEndpointDir(ctx, e, 0o700); err != nil {
		return stage.Errored("setup: %v", err)
	}
	if err := e.Plant(ctx, e.Runner.DaemonUID, stage.PlantOp{Op: "symlink", Path: e.Sock, Target: target}); err != nil {
		return stage.Errored("setup: %v", err)
	}
	d, err := e.StartDaemon(e.Root, e.Name)
	if err != nil {
		return stage.Errored("start: %v", err)
	}
	_, readyErr := e.WaitReady(ctx, d, e.Spec())
	e.Note("after start: socket path %s: %s; symlink target %s: %s", e.Sock, world.Describe(e.Sock), target, world.Describe(target))
	if world.Stat(target).Exists {
		return stage.Fail("the symlink's target %s was created (%s): bind followed the symlink", target, world.Describe(target))
	}
	if readyErr != nil {
		if done, code := d.Exited(); done && code != 0 && d.Output() != "" {
			return stage.Pass("refused with exit %d: %s", code, stage.CauseLine(d.Output()))
		}
		return stage.Errored("neither served nor refused clearly: %v", readyErr)
	}
	if s := world.Stat(e.Sock); s.Kind != "socket" {
		return stage.Fail("serving, but %s is %s, not a socket", e.Sock, world.Describe(e.Sock))
	}
	return stage.Pass("symlink replaced by a real socket; target never created")
}

// attackerDir makes a directory the attacker owns (0777) in the parent.
func attackerDir(ctx context.Context, e *stage.Env) (string, error) {
	dir := filepath.Join(e.Parent, "attacker-"+randHex(4))
	return dir, e.Plant(ctx, e.Runner.AttackerUID, stage.PlantOp{Op: "mkdir", Path: dir, Mode: 0o777})
}

// servedOrRefused starts the daemon and reports whether it served (ready)
// or exited non-zero (refused), waiting at most readyTimeout.
func servedOrRefused(ctx context.Context, e *stage.Env) (d *stage.Daemon, served bool, refusal string, err error) {
	d, err = e.StartDaemon(e.Root, e.Name)
	if err != nil {
		return nil, false, "", err
	}
	if _, rerr := e.WaitReady(ctx, d, e.Spec()); rerr == nil {
		return d, true, "", nil
	} else if done, code := d.Exited(); done && code != 0 {
		return d, false, fmt.Sprintf("exit %d: %s", code, stage.CauseLine(d.Output())), nil
	} else {
		return d, false, "", rerr
	}
}

func dirSymlink(ctx context.Context, e *stage.Env) stage.Outcome {
	adir, err := attackerDir(ctx, e)
	if err != nil {
		return stage.Errored("setup: %v", err)
	}
	at := e.AttackDir() // the endpoint dir, or the fallback's /tmp/bh-<uid>
	if err := e.Plant(ctx, e.Runner.AttackerUID, stage.PlantOp{Op: "symlink", Path: at, Target: adir}); err != nil {
		return stage.Errored("setup: %v", err)
	}
	// The link's target may be given to the daemon's uid through the link
	// (a chown, the CVE-2007-3103 harm) and is judged here, not taken for
	// the attacker's interference. Only a link target: nothing can make a
	// new directory there through the link (mkdir over a dangling link
	// fails), so a new owner at the same inode is a chown, not a directory
	// withdrawn and made again with its inode number reused.
	e.JudgedTakeover(adir)
	// What the link points at, before the start: a daemon that chowns or
	// chmods (or writes) through the link and only then refuses has done
	// the harm already (CVE-2007-3103), so any change fails, refusal or
	// not.
	before, beforeF := linkTarget(e, adir), world.Stat(adir)
	e.Note("link target before the start: %s", before)
	_, served, refusal, err := servedOrRefused(ctx, e)
	after := linkTarget(e, adir)
	inside := e.DaemonsOnly(e.Tree(adir, ""))
	e.Note("attacker dir %s holds: %v", adir, inside)
	e.Note("endpoint dir %s: %s", e.EndpointDir, world.Describe(e.EndpointDir))
	if len(inside) > 0 {
		return stage.Fail("created inside the attacker's directory through the symlink: %s", strings.Join(inside, ", "))
	}
	if after != before {
		if bf, af := beforeF, world.Stat(adir); af.Kind == bf.Kind && af.UID == bf.UID && af.GID == bf.GID &&
			strings.Replace(after, fmt.Sprintf("%04o", af.Mode), fmt.Sprintf("%04o", bf.Mode), 1) == before {
			// Only the mode: uid %d may chmod its own directory, so who
			// did cannot be told (a forged failure otherwise).
			return stage.Errored("no verdict: the symlink's target %s, uid %d's, changed only its mode (%04o, was %04o), which its own uid may do", adir, e.Runner.AttackerUID, af.Mode, bf.Mode)
		}
		return stage.Fail("the symlink's target %s changed through the link: was %s, now %s", adir, before, after)
	}
	switch {
	case served && world.Stat(at).Kind == "symlink":
		return stage.Fail("serving through the attacker's symlink %s", at)
	case served:
		return stage.Pass("symlink replaced by a real directory (%s); nothing created in the attacker's", world.Describe(e.EndpointDir))
	case refusal != "":
		return stage.Pass("refused: %s", refusal)
	}
	return stage.Errored("neither served nor refused clearly: %v", err)
}

// linkTarget is what dir.symlink's planted link points at, for comparing
// before and after the start: its owner, group and mode (read without
// following it) and its listing, each entry with its facts, or for a file
// its content.
func linkTarget(e *stage.Env, path string) string {
	fi, err := e.Runner.FS.Lstat(path)
	if err != nil {
		return "lstat: " + err.Error()
	}
	f := world.FactsOf(fi)
	s := fmt.Sprintf("%s %04o uid %d gid %d", f.Kind, f.Mode, f.UID, f.GID)
	switch f.Kind {
	case "dir":
		s += fmt.Sprintf(", holding %v", e.Tree(path, ""))
	case "file":
		b, err := world.ReadNoFollow(path, -1, 64<<10)
		s += fmt.Sprintf(", content %s (%v)", target.QuoteClip(b, 200), err)
	}
	return s
}

func dirForeignOwner(ctx context.Context, e *stage.Env) stage.Outcome {
	at := e.AttackDir() // the endpoint dir, or the fallback's /tmp/bh-<uid>
	if err := e.Plant(ctx, e.Runner.AttackerUID, stage.PlantOp{Op: "mkdir", Path: at, Mode: 0o777}); err != nil {
		return stage.Errored("setup: %v", err)
	}
	_, served, refusal, err := servedOrRefused(ctx, e)
	d, a := world.Stat(e.EndpointDir), world.Stat(at)
	e.Note("endpoint dir after start: %s; socket: %s", world.Describe(e.EndpointDir), world.Describe(e.Sock))
	// Evidence first: what the daemon made inside the attacker's directory
	// is judged whether or not it then answered.
	if d.Kind == "dir" && d.UID == e.Runner.AttackerUID {
		if inside := e.DaemonsOnly(e.Tree(e.EndpointDir, "")); len(inside) > 0 {
			return stage.Fail("created inside a directory owned by uid %d (mode %04o), which can replace or remove it: %s", d.UID, d.Mode, strings.Join(inside, ", "))
		}
	}
	switch {
	case served && d.UID == e.Runner.AttackerUID:
		return stage.Fail("serving inside a directory owned by uid %d (mode %04o): it can replace or remove the socket", d.UID, d.Mode)
	case served && a.Kind == "dir" && a.UID == e.Runner.AttackerUID:
		return stage.Fail("serving under %s, a directory owned by uid %d (mode %04o): it can replace or remove the socket", at, a.UID, a.Mode)
	case served:
		return stage.Pass("serving in a directory of its own (%s)", world.Describe(e.EndpointDir))
	case refusal != "":
		return stage.Pass("refused: %s", refusal)
	}
	return stage.Errored("neither served nor refused clearly: %v", err)
}

func dirLoosePerms(ctx context.Context, e *stage.Env) stage.Outcome {
	if err := ownEndpointDir(ctx, e, 0o777); err != nil {
		return stage.Errored("setup: %v", err)
	}
	_, served, refusal, err := servedOrRefused(ctx, e)
	d, s := world.Stat(e.EndpointDir), world.Stat(e.Sock)
	e.Note("endpoint dir after start: %s; socket: %s", world.Describe(e.EndpointDir), world.Describe(e.Sock))
	// Evidence first: a socket made in the still-loose directory is judged
	// whether or not the daemon then answered.
	e.NoteGroups(s, d)
	j := e.Runner.Reach
	replace, whyReplace := j.CanReplace(d)
	connect, whyConnect := j.CanConnect(s, d)
	switch {
	case s.Exists && replace:
		return stage.Fail("created %s (%s) in a dir with mode %04o: other uids can replace it (%s)", e.Sock, world.Describe(e.Sock), d.Mode, whyReplace)
	case served && replace:
		return stage.Fail("serving in a dir with mode %04o: other uids can replace the socket (%s)", d.Mode, whyReplace)
	case served && connect:
		return stage.Fail("serving with socket %04o in dir %04o: other uids can connect (%s)", s.Mode, d.Mode, whyConnect)
	case served:
		return stage.Pass("dir tightened to %04o gid %d%s", d.Mode, d.GID, stage.GroupOnly(s, d))
	case refusal != "":
		return stage.Pass("refused: %s", refusal)
	}
	return stage.Errored("neither served nor refused clearly: %v", err)
}

func dirNotADir(ctx context.Context, e *stage.Env) stage.Outcome {
	const sentinel = "not a directory: left by the suite\n"
	if err := e.MakeFallbackParents(ctx); err != nil {
		return stage.Errored("setup: %v", err)
	}
	if err := e.Plant(ctx, e.Runner.DaemonUID, stage.PlantOp{Op: "write", Path: e.EndpointDir, Data: sentinel, Mode: 0o644}); err != nil {
		return stage.Errored("setup: %v", err)
	}
	_, served, refusal, err := servedOrRefused(ctx, e)
	b, rerr := world.ReadNoFollow(e.EndpointDir, -1, 64<<10)
	e.Note("endpoint dir path after start: %s", world.Describe(e.EndpointDir))
	if rerr != nil || string(b) != sentinel {
		return stage.Fail("the file at %s was changed or removed (%s)", e.EndpointDir, world.Describe(e.EndpointDir))
	}
	switch {
	case served:
		return stage.Pass("served elsewhere; the file is untouched")
	case refusal != "":
		return stage.Pass("refused: %s", refusal)
	}
	return stage.Errored("neither served nor refused clearly: %v", err)
}

// ForeignTalk has the attacker connect and ping; it passes when no pong
// comes back.
func ForeignTalk(ctx context.Context, e *stage.Env) stage.Outcome {
	var r probe.ConnectResult
	if err := e.AsAttacker(ctx, "connect", e.Spec(), &r); err != nil {
		return stage.Errored("attacker helper: %v", err)
	}
	return judgeTalk(e, fmt.Sprintf("uid %d", e.Runner.AttackerUID), r)
}

func authForeignConnect(ctx context.Context, e *stage.Env) stage.Outcome {
	if _, _, err := e.Start(ctx); err != nil {
		return stage.Errored("the daemon passed the preflight but did not start here: %v", err)
	}
	e.Note("%s", describeEndpoint(e))
	return ForeignTalk(ctx, e)
}

// loosen opens what the filesystem guards, as the daemon's owner would by
// mistake (socket 0666, its directory 0755): only the peer check is left.
// As the daemon's uid, without following a link (stage.PlantOp.do): another uid
// may have swapped the socket for a symlink to a file of root's.
func loosen(ctx context.Context, e *stage.Env) error {
	if target.IsAbstract(e.Sock) {
		e.Note("%s is an abstract name: no mode or directory to loosen, it is as open as it can be", e.Sock)
		return nil
	}
	if err := e.Plant(ctx, e.Runner.DaemonUID, stage.PlantOp{Op: "chmod", Path: e.Sock, Mode: 0o666}); err != nil {
		return fmt.Errorf("chmod socket: %w", err)
	}
	if err := e.Plant(ctx, e.Runner.DaemonUID, stage.PlantOp{Op: "chmod", Path: e.EndpointDir, Mode: 0o755}); err != nil {
		return fmt.Errorf("chmod dir: %w", err)
	}
	return nil
}

func authPeerCred(ctx context.Context, e *stage.Env) stage.Outcome {
	if _, _, err := e.Start(ctx); err != nil {
		return stage.Errored("the daemon passed the preflight but did not start here: %v", err)
	}
	if err := loosen(ctx, e); err != nil {
		return stage.Errored("%v", err)
	}
	e.Note("loosened: %s", describeEndpoint(e))
	return ForeignTalk(ctx, e)
}

func instLiveNotHijacked(ctx context.Context, e *stage.Env) stage.Outcome {
	first, pid1, err := e.Start(ctx)
	if err != nil {
		return stage.Errored("the first daemon passed the preflight but did not start here: %v", err)
	}
	if pid1 == 0 {
		return stage.Skip("%s", noPIDReason(e))
	}
	sock0 := e.SockIdentity()
	second, err := e.StartDaemon(e.Root, e.Name)
	if err != nil {
		return stage.Errored("start second: %v", err)
	}
	limit := e.SecondLimit()
	st := e.AwaitSecond(ctx, second, sock0, false, limit)
	exited, code := second.Exited()
	e.Note("second instance pid %d: %s (exited=%v code=%d)", second.Pid, st, exited, code)
	pid, err := e.PingAsDaemon(ctx, e.Spec())
	ofFirst := e.OfFirstStart(first, second, pid)
	switch {
	case err != nil:
		return stage.Fail("after the second start the endpoint no longer answers: %v", err)
	case !ofFirst && stage.OfSecondStart(second, pid):
		return stage.Fail("hijacked: the second instance (pid %d) now answers in place of the first (pid %d)", pid, pid1)
	case !ofFirst:
		return stage.Fail("ping answered by pid %d, neither the first (%d) nor the second (%d)", pid, pid1, second.Pid)
	case st == stage.SecondTookOver:
		return stage.Fail("the second start (pid %d) replaced the socket at %s or listens on it, though the first (pid %d) still answered this ping", second.Pid, e.Sock, pid1)
	}
	if !first.Running() && !e.FirstStillServes(first, second) {
		return stage.Fail("the first daemon exited")
	}
	if st != stage.SecondEnded {
		// A start slowed by load may not have reached its bind yet: that
		// the first still answers says nothing about what it will do.
		return stage.Errored("the second start (pid %d) neither ended nor took the endpoint within %s (%s): whether it takes over a live daemon is unknown", second.Pid, limit, st)
	}
	return stage.Pass("second refused (exit %d); first (pid %d) still answers", code, pid1)
}

func instBusyNotStale(ctx context.Context, e *stage.Env) stage.Outcome {
	first, pid1, err := e.Start(ctx)
	if err != nil {
		return stage.Errored("the first daemon passed the preflight but did not start here: %v", err)
	}
	if err := stage.SignalDaemon(first, "STOP"); err != nil {
		return stage.Errored("SIGSTOP: %v", e.SignalErr(err))
	}
	n, full, closeAll, err := probe.FillBacklog(e.Sock, 70000)
	defer closeAll()
	e.Note("backlog: %d connects, full=%v err=%v", n, full, err)
	if !full {
		stage.SignalDaemon(first, "CONT")
		return stage.Errored("could not fill the backlog (%d connects): %v", n, err)
	}
	sock0 := e.SockIdentity()
	second, err := e.StartDaemon(e.Root, e.Name)
	if err != nil {
		stage.SignalDaemon(first, "CONT")
		return stage.Errored("start second: %v", err)
	}
	// The first stays stopped, its backlog full, until the second start
	// has settled: a start slowed by load that asks only after SIGCONT
	// finds a daemon that answers, and its refusal would say nothing.
	limit := e.SecondLimit()
	stopped := e.AwaitSecond(ctx, second, sock0, true, limit)
	exited, code := second.Exited()
	e.Note("second instance pid %d while the first was stopped: %s (exited=%v code=%d)", second.Pid, stopped, exited, code)
	closeAll()
	if err := stage.SignalDaemon(first, "CONT"); err != nil {
		return stage.Errored("SIGCONT: %v", err)
	}
	after := stopped
	if after != stage.SecondEnded && after != stage.SecondTookOver {
		after = e.AwaitSecond(ctx, second, sock0, false, limit)
		exited, code = second.Exited()
		e.Note("second instance pid %d after SIGCONT: %s (exited=%v code=%d)", second.Pid, after, exited, code)
	}
	// The first drains its backlog; give it a few seconds.
	var pid int
	deadline := time.Now().Add(5 * time.Second)
	for {
		pid, err = e.PingAsDaemon(ctx, e.Spec())
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	switch {
	case err != nil:
		return stage.Fail("after SIGCONT the endpoint does not answer: %v", err)
	case !first.IsPid(pid) && stage.OfSecondStart(second, pid):
		return stage.Fail("the second instance took over a busy daemon's endpoint (pid %d answers, not %d)", pid, pid1)
	case !first.IsPid(pid):
		return stage.Fail("ping answered by pid %d, not the first (%d)", pid, pid1)
	case after == stage.SecondTookOver:
		return stage.Fail("the second start (pid %d) replaced the socket at %s or listens on it, though the first (pid %d) answered this ping", second.Pid, e.Sock, pid1)
	case stopped != stage.SecondEnded && stopped != stage.SecondBlocked:
		// It may have asked only after SIGCONT, when the first answered.
		return stage.Errored("the second start (pid %d) had neither ended, taken the endpoint nor blocked connecting to the first within %s while the first was stopped (%s): whether it takes a busy daemon for a stale one is unknown", second.Pid, limit, stopped)
	case after != stage.SecondEnded:
		return stage.Errored("the second start (pid %d) neither ended nor took the endpoint within %s after SIGCONT (%s): whether it takes over is unknown", second.Pid, limit, after)
	}
	return stage.Pass("second did not take over (%s while the first was stopped; exit %d); first (pid %d) answers after SIGCONT", stopped, code, pid1)
}

func instStaleRecovered(ctx context.Context, e *stage.Env) stage.Outcome {
	first, _, err := e.Start(ctx)
	if err != nil {
		return stage.Errored("the first daemon passed the preflight but did not start here: %v", err)
	}
	forks := e.Runner.Config.Target.Forks
	if forks {
		// Every process of the start, not only the one serving: workers
		// that inherited the socket would keep the endpoint alive, and
		// their answer be taken for the new start's.
		if left := e.KillStart(first, 5*time.Second); len(left) > 0 {
			return stage.Errored("processes of the first start still run after SIGKILL: %s", stage.RefsString(left))
		}
	} else {
		if err := stage.SignalDaemon(first, "KILL"); err != nil {
			return stage.Errored("SIGKILL: %v", e.SignalErr(err))
		}
		first.WaitServing(5 * time.Second)
	}
	e.Note("after SIGKILL: socket %s; port file %s", describeSock(e), world.Describe(e.Port))
	second, pid, err := e.Start(ctx)
	if err != nil {
		if who := e.OthersHoldName(); who != "" {
			return stage.Errored("a new start after SIGKILL does not serve (%v), but the freed name %s is bound by %s: another uid took it, which says nothing of the daemon", err, e.Sock, who)
		}
		return stage.Fail("a new start after SIGKILL does not serve: %v", err)
	}
	if forks && proc.MarkerScanWorks {
		// Judged only by a process of the new start: one of them must
		// hold the endpoint, and an answer naming a pid must come from
		// one of them.
		holders := e.EndpointHolders(second)
		if len(holders) == 0 {
			return stage.Fail("the endpoint answers after SIGKILL, but no process of the new start (pid %d) holds it", second.Pid)
		}
		if pid > 0 && !e.OfStart(second, pid) {
			return stage.Fail("ping answered by pid %d, not a process of the new start (%s)", pid, stage.RefsString(holders))
		}
		return stage.Pass("the new start (%s, holding the endpoint) serves after SIGKILL of every process of the first", stage.RefsString(holders))
	}
	if pid == 0 {
		return stage.Pass("a new start serves after SIGKILL of %d (%s)", first.PID(), noPIDReason(e))
	}
	if pid != second.PID() {
		return stage.Fail("ping answered by pid %d, not the new daemon %d", pid, second.PID())
	}
	return stage.Pass("new daemon pid %d serves after SIGKILL of %d", second.PID(), first.PID())
}

func instCleanShutdown(ctx context.Context, e *stage.Env) stage.Outcome {
	before := e.Tree(e.Parent, "")
	d, _, err := e.Start(ctx)
	if err != nil {
		return stage.Errored("the daemon passed the preflight but did not start here: %v", err)
	}
	// The grace is timed from the signal: the start settles first
	// (SettleBeforeSignal), which takes longer on a loaded machine and
	// must not eat into the daemon's 2 s.
	e.SettleBeforeSignal(d)
	t0 := time.Now()
	if err := stage.SignalNow(d, "TERM"); err != nil {
		return stage.Errored("SIGTERM: %v", e.SignalErr(err))
	}
	exited, code := d.WaitServing(2 * time.Second)
	took := time.Since(t0)
	if !exited {
		e.Note("2 s after SIGTERM: %s", procStates(append([]int{d.PID()}, refPids(e.StartProcs(d))...)))
		return stage.Fail("still running 2 s after SIGTERM")
	}
	if e.Runner.Config.Target.Forks {
		// The serving process is one of the start's: the others (a master
		// that removes the socket once its workers have ended) get the
		// rest of the grace before what is left behind is judged.
		for end := t0.Add(2 * time.Second); time.Now().Before(end) && len(e.StartProcs(d)) > 0; {
			time.Sleep(20 * time.Millisecond)
		}
	}
	after := e.Tree(e.Parent, "")
	left := diff(after, before)
	// The root is the daemon's runtime directory (it may stay, empty), or
	// the suite's, which opens it once the daemon is ready (OpenRoot):
	// its own entry is not the daemon's leftover, what it holds is.
	left = stage.Without(left, filepath.Base(e.Root)+" (")
	// Another uid's entries first: one matching a --keep glob must not
	// exempt the daemon's directories that hold it (it is interference).
	left = e.LeftBehindExempt(e.DaemonsOnly(left))
	ended := d.HowEnded(code)
	e.Note("%s after %s; left behind: %v", ended, took.Round(time.Millisecond), left)
	switch {
	case code == -1 && d.PID() != d.Pid:
		e.Note("the forked pid %d was not the suite's to reap: its exit code is unknown", d.PID())
		if len(left) > 0 {
			return stage.Fail("left behind: %s", strings.Join(left, ", "))
		}
		return stage.Pass("pid %d ended within %s of SIGTERM (exit code unknown), nothing left behind", d.PID(), took.Round(time.Millisecond))
	case code != 0:
		what := "nothing left behind"
		if len(left) > 0 {
			what = "left behind: " + strings.Join(left, ", ")
		}
		if code == -1 {
			return stage.Fail("%s, want exit 0 after SIGTERM; %s", ended, what) // killed by the signal
		}
		return stage.Fail("%s after SIGTERM, want 0; %s", ended, what)
	case len(left) > 0:
		return stage.Fail("left behind: %s", strings.Join(left, ", "))
	}
	return stage.Pass("exit 0 after %s, nothing left behind", took.Round(time.Millisecond))
}

func diff(after, before []string) []string {
	had := map[string]bool{}
	for _, b := range before {
		had[b] = true
	}
	var out []string
	for _, a := range after {
		if !had[a] {
			out = append(out, a)
		}
	}
	return out
}

// traversalNames each escape one level above the root with the default
// template ({root}/bu-{name}.d/sock) or a plain one ({root}/{name}.sock).
var traversalNames = []string{"../bh-escape-1", "x/../../bh-escape-2", "..", "a/b"}

func pathNameValidation(ctx context.Context, e *stage.Env) stage.Outcome {
	before := e.Tree(e.Parent, e.Root)
	var accepted []string
	for _, name := range traversalNames {
		d, err := e.StartDaemon(e.Root, name)
		if err != nil {
			return stage.Errored("start with name %q: %v", name, err)
		}
		exited, code := d.Wait(3 * time.Second)
		e.Note("name %q: pid %d exited=%v code=%d", name, d.Pid, exited, code)
		running := !exited
		if e.Runner.Config.Target.Forks {
			// An exit 0 says nothing of a daemon that forks: what runs on does.
			running = running || e.DetachedAliveAfter(d, 3*time.Second)
			code = max(code, 1)
		}
		if running || code == 0 {
			accepted = append(accepted, fmt.Sprintf("%q", name))
			stage.KillTree(d.Cmd)
			d.Wait(5 * time.Second)
			e.StopMarked(d.Marker, false, nil)
		}
	}
	outside := e.DaemonsOnly(stage.ExceptWorkDir(diff(e.Tree(e.Parent, e.Root), before)))
	if len(outside) > 0 {
		also := ""
		if len(accepted) > 0 {
			also = "; accepted traversal names " + strings.Join(accepted, ", ")
		}
		return stage.Fail("created outside the root %s: %s%s", e.Root, strings.Join(outside, ", "), also)
	}
	if len(accepted) > 0 && e.Transport == ipc.TransportUnix && target.IsAbstract(e.Sock) {
		// The name reaches no path through the socket: an abstract name
		// is no file, so "@{root}/bu-../x.sock" is just a name. What the
		// daemon makes on the filesystem from it (a pid or lock file) is
		// judged above.
		return stage.Pass("accepted traversal names %s, but its socket is an abstract name, which no name leads out of the root (it is no path); nothing was created on the filesystem outside the root", strings.Join(accepted, ", "))
	}
	if len(accepted) > 0 {
		return stage.Fail("accepted traversal names %s (kept running or exited 0)", strings.Join(accepted, ", "))
	}
	return stage.Pass("all %d traversal names refused; nothing created outside the root", len(traversalNames))
}

// BudgetRoot grows root until the socket path the template gives for it
// overflows a sun_path of limit bytes (by more than 8 bytes).
func BudgetRoot(root, tpl, name string, limit int) string {
	for len(target.Expand(tpl, root, name)) <= limit+8 {
		root = filepath.Join(root, "long-"+strings.Repeat("r", 20))
	}
	return root
}

func pathBudget(ctx context.Context, e *stage.Env) stage.Outcome {
	limit := ipc.SunPathLimit(runtime.GOOS)
	root := BudgetRoot(e.Root, templateOr(e.Runner.Config.Target), e.Name, limit)
	// Through the run directory's handle, sticky like the root (MkdirChain).
	if err := e.MkdirChain(root); err != nil {
		return stage.Errored("setup: %v", err)
	}
	if err := e.SetRoot(root); err != nil && !strings.Contains(err.Error(), "too long") {
		return stage.Errored("setup: %v", err)
	}
	if e.RootIsDir {
		// The daemon creates its root itself in this layout.
		if err := e.Runner.FS.Remove(root); err != nil {
			return stage.Errored("setup: %v", err)
		}
	}
	nominal := target.Expand(templateOr(e.Runner.Config.Target), root, e.Name)
	e.Note("root is %d bytes; nominal socket path %d bytes, limit %d; socket path used: %s (%d bytes)", len(root), len(nominal), limit, e.Sock, len(e.Sock))
	truncated := nominal[:limit]
	d, err := e.StartDaemon(root, e.Name)
	if err != nil {
		return stage.Errored("start: %v", err)
	}
	// A daemon that serves at the templated path (or, for the builtin, at
	// ipc's fallback) answers quickly; one that moved elsewhere is looked
	// for below.
	_, readyErr := e.WaitReadyWithin(ctx, d, e.Spec(), 3*time.Second)
	if AncestorOf(truncated, nominal) {
		// The cut lands on "/", "/." or ".." of the nominal path (a socket
		// name that starts with a dot, a TMPDIR of the wrong length): it
		// names a directory on the way to the socket, which is meant to
		// exist, not a new entry the daemon could have made.
		e.Note("the truncated path %s is a directory on the nominal path: not judged", truncated)
	} else if st := world.Stat(truncated); st.Exists {
		return stage.Fail("something exists at the truncated path %s (%s)", truncated, world.Describe(truncated))
	}
	if readyErr == nil {
		if e.Sock != nominal {
			return stage.Pass("serves at the fallback %s (%d bytes)", e.Sock, len(e.Sock))
		}
		return stage.Pass("serves at %s (%d bytes; reached through its directory)", e.Sock, len(e.Sock))
	}
	forked := e.Runner.Config.Target.Forks && e.DetachedAliveAfter(d, 0)
	if done, code := d.Exited(); done && !forked {
		if code != 0 && d.Output() != "" {
			return stage.Pass("refused clearly (exit %d): %s", code, stage.CauseLine(d.Output()))
		}
		return stage.Fail("exited with code %d without a message: %v", code, readyErr)
	}
	// Still running but not at the templated path: it may have moved to a
	// fallback of its own. Find where it listens (Linux: /proc) and ping it
	// there.
	var paths []string
	for _, pid := range e.StartPIDs(d) {
		var ps []string
		err := e.AsDaemonUID(ctx, "listening", pid, &ps)
		e.Note("daemon pid %d listens on: %v (%v)", pid, ps, err)
		paths = append(paths, ps...)
	}
	for _, p := range paths {
		if len(p) < len(nominal) && strings.HasPrefix(nominal, p) {
			return stage.Fail("listening at %s, the nominal path truncated to %d bytes", p, len(p))
		}
	}
	for _, p := range paths {
		sp := e.Spec()
		sp.Sock = p
		if pid, err := e.PingAsDaemon(ctx, sp); err == nil {
			return stage.Pass("serves at a fallback of its own, %s (%d bytes; pid %d answered)", p, len(p), pid)
		}
	}
	return stage.Errored("neither served nor refused clearly: %v", readyErr)
}

// AncestorOf: the path truncated, once cleaned, is a directory the path
// nominal passes through (or the root of it all), not an entry of its own.
func AncestorOf(truncated, nominal string) bool {
	c := filepath.Clean(truncated)
	return c == string(filepath.Separator) || strings.HasPrefix(filepath.Clean(nominal), c+string(filepath.Separator))
}

func templateOr(t target.Target) string {
	if t.Builtin || t.Socket == "" {
		return target.DefaultSocketTemplate
	}
	return t.Socket
}

func tcpLoopbackOnly(ctx context.Context, e *stage.Env) stage.Outcome {
	if _, _, err := e.Start(ctx); err != nil {
		return stage.Errored("the daemon passed the preflight but did not start here: %v", err)
	}
	pf, err := e.ReadPortFile()
	if err != nil {
		return stage.Errored("port file: %v", err)
	}
	// Only the daemon uid's sockets are judged: another uid may listen on
	// the same port at another address ([::1]).
	socks, others, err := proc.ListeningOn(pf.Port, e.Runner.DaemonUID)
	if err != nil {
		return stage.Errored("reading /proc/net/tcp: %v", err)
	}
	e.Note("listening sockets of uid %d on port %d: %v", e.Runner.DaemonUID, pf.Port, socks)
	if len(others) > 0 {
		e.Note("not the daemon's, not judged: %v", others)
	}
	if len(socks) == 0 {
		return stage.Fail("nothing listens on port %d named by the port file", pf.Port)
	}
	for _, s := range socks {
		if s != "127.0.0.1" && s != "::1" {
			return stage.Fail("port %d is bound to %s, not loopback only", pf.Port, s)
		}
	}
	return stage.Pass("port %d bound to %s only", pf.Port, strings.Join(socks, ", "))
}

func tcpAuthRequired(ctx context.Context, e *stage.Env) stage.Outcome {
	if _, _, err := e.Start(ctx); err != nil {
		return stage.Errored("the daemon passed the preflight but did not start here: %v", err)
	}
	pf, err := e.ReadPortFile()
	if err != nil {
		return stage.Errored("port file: %v", err)
	}
	wrong := strings.Repeat("0", max(len(pf.Token), 64))
	tries := []struct{ name, line string }{
		{"ping without a token", `{"meta":"ping"}`},
		{"request without a token", `{"cmd":"status"}`},
		{"ping with a wrong token", `{"meta":"ping","token":"` + wrong + `"}`},
		{"request with a wrong token", `{"cmd":"status","token":"` + wrong + `"}`},
	}
	for _, tr := range tries {
		reply, closed, err := probe.TCPExchange(ctx, pf.Port, e.Spec().Auth, tr.line, func(c net.Conn) (string, bool) {
			why, ok := e.AnsweringWhileHeld(ctx, "the suite's", c)
			e.Note("%s: held open with no reply; %s", tr.name, why)
			return why, ok
		})
		e.KeepImpostor(err, tr.name)
		e.Note("%s: reply=%s closed=%v err=%v", tr.name, target.QuoteClip([]byte(reply), 120), closed, err)
		if reply != "" && !strings.Contains(reply, `"error"`) {
			return stage.Fail("%s was answered: %s", tr.name, target.QuoteClip([]byte(reply), 120))
		}
		if strings.Contains(reply, "pong") {
			return stage.Fail("%s got a pong: %s", tr.name, target.QuoteClip([]byte(reply), 120))
		}
		if err != nil && !closed {
			// Not sent, or held open while the daemon answered no one:
			// the request met no refusal of the daemon's.
			return stage.Errored("%s: %v", tr.name, err)
		}
	}
	return stage.Pass("all %d unauthenticated requests got an error or a close", len(tries))
}

func tcpPortFilePrivate(ctx context.Context, e *stage.Env) stage.Outcome {
	_, _, startErr := e.Start(ctx)
	f, d := world.Stat(e.Port), world.Stat(filepath.Dir(e.Port))
	e.Note("port file %s: %s; its dir: %s", e.Port, world.Describe(e.Port), world.Describe(filepath.Dir(e.Port)))
	if startErr != nil {
		// What the daemon wrote is judged even when the suite could not
		// talk to it: the ipc protocol's client refuses a port file that
		// is not private, so a loose one is the failure, not "no verdict".
		if loose := portFileLoose(f, d); f.Kind == "file" && f.UID == e.Runner.DaemonUID && loose != "" {
			return stage.Fail("%s (and the suite's client got no answer: %v)", loose, startErr)
		}
		return stage.Errored("the daemon passed the preflight but did not start here: %v", startErr)
	}
	switch {
	case f.Kind != "file":
		return stage.Fail("port file %s is %s", e.Port, world.Describe(e.Port))
	case f.UID != e.Runner.DaemonUID:
		return stage.Fail("port file owned by uid %d, not the daemon's %d", f.UID, e.Runner.DaemonUID)
	case portFileLoose(f, d) != "":
		return stage.Fail("%s", portFileLoose(f, d))
	}
	if e.Runner.AttackerUID >= 0 {
		var r struct {
			Read  bool   `json:"read"`
			Error string `json:"error"`
		}
		if err := e.AsAttacker(ctx, "read", e.Port, &r); err != nil {
			return stage.Errored("attacker helper: %v", err)
		}
		e.Note("uid %d reading it: read=%v %s", e.Runner.AttackerUID, r.Read, r.Error)
		if r.Read {
			return stage.Fail("uid %d read the port file", e.Runner.AttackerUID)
		}
		return stage.Pass("port file %04o uid %d; uid %d cannot read it", f.Mode, f.UID, e.Runner.AttackerUID)
	}
	return stage.Pass("port file %04o uid %d in dir %04o (not root: no other uid tried to read it)", f.Mode, f.UID, d.Mode)
}

// portFileLoose says what lets another uid read the port file f or
// replace it in its directory d; "" when nothing does.
func portFileLoose(f, d world.Facts) string {
	switch {
	case f.Mode&0o077 != 0:
		return fmt.Sprintf("port file mode %04o gives group/other access", f.Mode)
	case d.Mode&0o022 != 0 && d.Mode&0o1000 == 0:
		return fmt.Sprintf("its directory mode %04o lets others replace it", d.Mode)
	}
	return ""
}

// allowedSIDs may appear in a private port file's DACL besides the user:
// SYSTEM and the Administrators group.
var allowedSIDs = []string{"S-1-5-18", "S-1-5-32-544"}

func tcpPortFileDACL(ctx context.Context, e *stage.Env) stage.Outcome {
	if _, _, err := e.Start(ctx); err != nil {
		return stage.Errored("the daemon passed the preflight but did not start here: %v", err)
	}
	f, err := stage.ReadDACL(e.Port)
	e.Note("port file %s: owner=%s protected=%v grants=%v user=%s token owner=%s wine=%v err=%v", e.Port, f.Owner, f.Protected, f.Grants, f.User, f.TokenOwner, f.Wine, err)
	if err != nil {
		return stage.Fail("%v", err)
	}
	var beyond []string
	for _, g := range f.Grants {
		sid, _, _ := strings.Cut(g, " ")
		if sid != f.User && !slices.Contains(allowedSIDs, sid) {
			beyond = append(beyond, g)
		}
	}
	if len(beyond) > 0 {
		return stage.Fail("the DACL grants %v, beyond the user %s, SYSTEM and Administrators", beyond, f.User)
	}
	if f.Wine {
		// Wine stores the ACEs a file is created with but drops the
		// "protected" flag and enforces nothing. A control file made
		// without a DACL shows the read-back is real: its default DACL
		// differs (Wine adds Everyone).
		control := filepath.Join(filepath.Dir(e.Port), "dacl-control-"+randHex(4))
		if err := os.WriteFile(control, []byte("control"), 0o644); err != nil {
			return stage.Errored("control file: %v", err)
		}
		defer os.Remove(control)
		c, err := stage.ReadDACL(control)
		e.Note("control file without a DACL: grants=%v err=%v", c.Grants, err)
		if err != nil || slices.Equal(c.Grants, f.Grants) {
			return stage.Skip("under Wine the DACL read back (%v) cannot be told from a default one (control %v, %v); run on a real Windows host", f.Grants, c.Grants, err)
		}
		return stage.Pass("Wine: the calls succeeded and the DACL read back grants only %v (a file made without one gets %v); Wine keeps no protected flag and enforces nothing, so those are checked on real Windows only", f.Grants, c.Grants)
	}
	if !f.Protected {
		return stage.Fail("the DACL is not protected: inherited entries may grant others access (%v)", f.Grants)
	}
	owned, err := stage.PortFileOwnerOK(f.Owner, f.User, f.TokenOwner)
	if err != nil {
		return stage.Fail("%v", err)
	}
	return stage.Pass("%s; protected DACL granting only %v", owned, f.Grants)
}

// SquatterClient is the client tcp.squatter-learns-nothing points at the
// squatter: the suite's ipc client, as the daemon's uid. The scenario
// judges that client (the ipc package), not an external daemon; the
// suite's tests swap in deliberately broken clients to see it fail.
var SquatterClient = func(ctx context.Context, e *stage.Env, sp probe.Spec) (int, error) { return e.PingAsDaemon(ctx, sp) }

func tcpSquatter(ctx context.Context, e *stage.Env) stage.Outcome {
	d, _, err := e.Start(ctx)
	if err != nil {
		return stage.Errored("the daemon passed the preflight but did not start here: %v", err)
	}
	pf, err := e.ReadPortFile()
	if err != nil {
		return stage.Errored("port file: %v", err)
	}
	if err := stage.SignalDaemon(d, "KILL"); err != nil {
		return stage.Errored("SIGKILL: %v", e.SignalErr(err))
	}
	d.WaitServing(5 * time.Second)
	sq, err := probe.Squat(pf.Port)
	if err != nil {
		return stage.Errored("could not bind the stale port %d to act as the squatter: %v", pf.Port, err)
	}
	defer sq.Close()
	_, perr := SquatterClient(ctx, e, e.Spec())
	got := sq.Bytes()
	e.Note("client against the squatter: %v", perr)
	e.Note("squatter received %d bytes: %s", len(got), target.QuoteClip(got, 200))
	switch {
	case perr == nil:
		return stage.Fail("the client accepted the squatter on port %d", pf.Port)
	case len(got) == 0:
		return stage.Errored("the client never reached the squatter (%v): the scenario observed nothing", perr)
	case strings.Contains(string(got), pf.Token):
		return stage.Fail("the client sent the secret to the squatter")
	case strings.Contains(string(got), `"proof"`):
		return stage.Fail("the client sent a proof to a server that had not proved itself")
	}
	return stage.Pass("client refused the squatter (%s); it received only %d bytes with a random nonce", target.OneLine(perr.Error(), 80), len(got))
}

func protoMalformed(ctx context.Context, e *stage.Env) stage.Outcome {
	d, pid, err := e.Start(ctx)
	if err != nil {
		return stage.Errored("the daemon passed the preflight but did not start here: %v", err)
	}
	var rs []probe.MalformedResult
	if err := e.AsDaemonUID(ctx, "malformed", e.Spec(), &rs); err != nil {
		return stage.Errored("client helper: %v", err)
	}
	judgeReplies := e.Runner.Config.Target.Protocol.SpeaksJSON()
	for _, r := range rs {
		e.Note("%s: reply=%s closed=%v; ping after: %s", r.Payload, target.QuoteClip([]byte(r.Reply), 80), r.Closed, r.PingAfter)
		if !judgeReplies {
			// Only bh-json says what an error is: judged is that the
			// daemon keeps answering its probe.
			if !strings.HasPrefix(r.PingAfter, "ok") {
				return stage.Fail("after %s the daemon no longer answers its probe: %s", r.Payload, r.PingAfter)
			}
			continue
		}
		if strings.Contains(r.Reply, "pong") {
			return stage.Fail("%s was answered as a ping: %q", r.Payload, r.Reply)
		}
		if r.Reply != "" && !strings.Contains(r.Reply, `"error"`) && !strings.HasPrefix(r.Reply, "connect:") {
			return stage.Fail("%s got a reply that is not an error: %s", r.Payload, target.QuoteClip([]byte(r.Reply), 80))
		}
		if !strings.HasPrefix(r.PingAfter, "ok") {
			return stage.Fail("after %s the daemon no longer serves: %s", r.Payload, r.PingAfter)
		}
	}
	if !d.Running() {
		_, code := d.WaitServing(0)
		return stage.Fail("the daemon exited (code %d)", code)
	}
	if !judgeReplies {
		return stage.Pass("after each of %d malformed inputs the daemon still answered its probe (--protocol %s: replies not judged)", len(rs), e.Runner.Config.Target.Protocol)
	}
	return stage.Pass("%d malformed inputs answered with an error or a close; pid %d kept serving", len(rs), pid)
}

func protoIdle(ctx context.Context, e *stage.Env) stage.Outcome {
	if _, _, err := e.Start(ctx); err != nil {
		return stage.Errored("the daemon passed the preflight but did not start here: %v", err)
	}
	var r probe.IdleResult
	if err := e.AsDaemonUID(ctx, "idle", map[string]any{"spec": e.Spec(), "n": 500}, &r); err != nil {
		return stage.Errored("client helper: %v", err)
	}
	opened := fmt.Sprintf("opened %d idle connections", r.Opened)
	if r.OpenError != "" {
		opened += " (then: " + r.OpenError + ")"
	}
	e.Note("%s; new client: %s in %d ms; connects retried on a full backlog: %d", opened, r.PingAfter, r.PingMS, r.BusyRetries)
	e.Metric("ping_after_idle_ms", float64(r.PingMS))
	e.Metric("busy_retries", float64(r.BusyRetries))
	if !strings.HasPrefix(r.PingAfter, "ok") {
		if r.Opened < 500 && r.OpenError != "" {
			// A capped daemon: the count it refused is the finding.
			return stage.Fail("the daemon accepted %d of 500 idle connections (%d refused: %s) and then a new client is not served: %s", r.Opened, 500-r.Opened, r.OpenError, r.PingAfter)
		}
		return stage.Fail("with %d idle connections a new client is not served: %s", r.Opened, r.PingAfter)
	}
	return stage.Pass("%d idle connections open; a new client was served in %d ms", r.Opened, r.PingMS)
}

func loadConcurrent(ctx context.Context, e *stage.Env) stage.Outcome {
	if _, _, err := e.Start(ctx); err != nil {
		return stage.Errored("the daemon passed the preflight but did not start here: %v", err)
	}
	var r probe.LoadResult
	workers, n := 64, 500
	if p := e.Runner.Config.Target.Protocol; !p.SpeaksJSON() {
		workers, n = probe.LoadSize(p)
	}
	// The clients have until the scenario's deadline (a helper's own is
	// another): on a loaded machine a slow daemon is busy, not broken.
	dl, _ := ctx.Deadline()
	arg := map[string]any{"spec": e.Spec(), "Conns": workers, "Pings": n, "deadline": dl}
	if err := e.AsDaemonUID(ctx, "load", arg, &r); err != nil {
		return stage.Errored("client helper: %v", err)
	}
	e.Metric("p50_us", r.P50us)
	e.Metric("p99_us", r.P99us)
	e.Metric("max_us", r.Maxus)
	e.Metric("wall_ms", r.Wallms)
	e.Metric("errors", float64(r.Errors))
	e.Metric("busy_retries", float64(r.BusyRetries))
	conns, pings := "connections", "pings"
	retried := fmt.Sprintf("connects retried on a full backlog: %d", r.BusyRetries)
	switch p := e.Runner.Config.Target.Protocol; {
	case p == target.ProtocolExec:
		conns, pings = "workers", "probe runs"
		retried = "the probe program makes its own connections (their retries are not seen)"
	case !p.SpeaksJSON():
		conns, pings = "workers", "probes (a connection each)"
	}
	e.Note("%d %s x %d %s: %d errors; p50 %.0f us, p99 %.0f us, max %.0f us, wall %.0f ms; %s", r.Conns, conns, r.Pings/max(r.Conns, 1), pings, r.Errors, r.P50us, r.P99us, r.Maxus, r.Wallms, retried)
	if r.TimedOut || ctx.Err() != nil {
		// Errors from the deadline itself say nothing of the daemon.
		return stage.Errored("timed out after %s during the load (%d of %d %s failed or unfinished; first: %s); give a longer %s", e.Runner.Config.Timeout, r.Errors, r.Pings, pings, r.First, target.Hint("timeout", "DURATION"))
	}
	if r.Errors > 0 {
		return stage.Fail("%d of %d %s failed; first: %s", r.Errors, r.Pings, pings, r.First)
	}
	return stage.Pass("%d %s, 0 errors; p50 %.0f us, p99 %.0f us", r.Pings, pings, r.P50us, r.P99us)
}

// procStates describes each of pids as /proc has it (state, parent, what
// it waits in), for evidence: a process that outlives its grace may be a
// zombie its parent has not reaped, stopped, or busy. Empty where there is
// no /proc.
func procStates(pids []int) string {
	var out []string
	seen := map[int]bool{}
	for _, pid := range pids {
		if pid <= 0 || seen[pid] {
			continue
		}
		seen[pid] = true
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			out = append(out, fmt.Sprintf("pid %d gone", pid))
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		if i < 0 || len(f) < 2 {
			continue
		}
		wchan, _ := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", pid))
		out = append(out, fmt.Sprintf("pid %d state %s parent %s wchan %q%s", pid, f[0], f[1], wchan, sigMasks(pid)))
	}
	return strings.Join(out, "; ")
}

// refPids are the pids of refs.
func refPids(refs []proc.Ref) []int {
	pids := make([]int, len(refs))
	for i, r := range refs {
		pids[i] = r.Pid
	}
	return pids
}

// sigMasks are pid's pending, blocked, ignored and caught signal masks
// from /proc/<pid>/status, where nonzero: a SIGTERM that did not end a
// process is pending behind a mask, ignored, or caught and not acted on.
func sigMasks(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		if ok && (k == "SigPnd" || k == "ShdPnd" || k == "SigBlk" || k == "SigIgn" || k == "SigCgt") && strings.Trim(v, "0") != "" {
			out = append(out, k+" "+v)
		}
	}
	if len(out) == 0 {
		return ""
	}
	return " (" + strings.Join(out, ", ") + ")"
}

// noPIDReason says why the daemon that answers cannot be named here.
func noPIDReason(e *stage.Env) string {
	return fmt.Sprintf("%s names no pid and the kernel gives none on %s (SO_PEERCRED: Linux Unix sockets): which process answers cannot be told", target.Hint("protocol", string(e.Runner.Config.Target.Protocol)), e.Transport)
}

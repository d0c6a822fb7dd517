package matrix

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
	"github.com/org/bh-ipc-check/matrix/internal/target"
	"github.com/org/bh-ipc-check/matrix/internal/world"
)

var posix = []string{"linux", "darwin"}

// catalogue is every scenario, in report order.
var catalogue = []Scenario{
	{ID: "sock.mode-umask0", Title: "socket private under umask 0", Severity: Required, Platforms: posix, Transport: ipc.TransportUnix,
		Checks: "started under umask 0, the socket and its directory give no other uid a way to connect (socket 0600 or a 0700 directory; group bits count only for a group the attacker or every user is in)", run: sockModeUmask0},
	{ID: "sock.first-seen-mode", Title: "socket never reachable while listening", Severity: Required, Platforms: posix, Transport: ipc.TransportUnix,
		Checks: "the socket is never reachable by other uids while it listens: its mode, group and directory at each listen() (a seccomp gate on Linux) and once serving; the mode before listen() is not judged", run: sockFirstSeen},
	{ID: "sock.dangling-symlink", Title: "dangling symlink at the socket path", Severity: Required, Platforms: posix, Transport: ipc.TransportUnix,
		Checks: "a dangling symlink pre-planted at the socket path: its target is never created; the daemon serves on a real socket or refuses clearly", run: sockDanglingSymlink},
	{ID: "dir.symlink", Title: "endpoint dir planted as a symlink", Severity: Required, Platforms: posix, Needs: []Need{NeedOtherUID}, Transport: ipc.TransportUnix,
		Checks: "another uid plants the endpoint directory as a symlink to its own directory: nothing is created or changed through it (the target's owner, mode and listing are compared), refusal or not", run: dirSymlink},
	{ID: "dir.foreign-owner", Title: "endpoint dir pre-created by another uid", Severity: Required, Platforms: posix, Needs: []Need{NeedOtherUID}, Transport: ipc.TransportUnix,
		Checks: "another uid pre-creates the endpoint directory with mode 0777: the daemon refuses it rather than serve inside it", run: dirForeignOwner},
	{ID: "dir.loose-perms", Title: "own endpoint dir with mode 0777", Severity: Required, Platforms: posix, Transport: ipc.TransportUnix,
		Checks: "the daemon's own endpoint directory left at 0777: it is tightened (no other write; group bits count only for a group the attacker or every user is in) or the daemon refuses", run: dirLoosePerms},
	{ID: "dir.not-a-dir", Title: "a file at the endpoint dir path", Severity: Required, Platforms: posix, Transport: ipc.TransportUnix,
		Checks: "a regular file at the endpoint directory path: the daemon refuses with a message and leaves the file as it was", run: dirNotADir},
	{ID: "auth.foreign-uid-connect", Title: "another uid cannot talk to the daemon", Severity: Required, Platforms: posix, Needs: []Need{NeedOtherUID}, Transport: ipc.TransportUnix, Abstract: AbstractToo,
		Checks: "another uid connecting to the socket gets no reply", run: authForeignConnect},
	{ID: "auth.peercred", Title: "peer uid checked even when the socket is loosened", Severity: Hardening, Platforms: posix, Needs: []Need{NeedOtherUID}, Transport: ipc.TransportUnix, Abstract: AbstractToo,
		Checks: "with the socket chmod 0666 and its directory 0755 after start, another uid still gets no reply (peer credentials)", run: authPeerCred},
	{ID: "inst.live-not-hijacked", Title: "a second start does not steal a live socket", Severity: Required,
		Checks: "a second instance started on a live name does not take over: the first keeps answering", run: instLiveNotHijacked},
	{ID: "inst.busy-not-stale", Title: "a busy daemon is not taken for a stale one", Severity: Hardening, Platforms: []string{"linux"}, Transport: ipc.TransportUnix, Abstract: AbstractToo,
		Checks: "the first daemon SIGSTOPped with a full backlog: a second start does not take over; after SIGCONT the first answers", run: instBusyNotStale},
	{ID: "inst.stale-recovered", Title: "a SIGKILLed daemon's endpoint is recovered", Severity: Required,
		Checks: "after SIGKILL a new start serves", run: instStaleRecovered},
	{ID: "inst.clean-shutdown", Title: "SIGTERM cleans up", Severity: Required, Platforms: posix,
		Checks: "SIGTERM: exit 0 within 2 s and nothing left behind", run: instCleanShutdown},
	{ID: "path.name-validation", Title: "traversal names refused", Severity: Required,
		Checks: "names like ../x and a/b are refused and nothing is created outside the root (for an abstract socket name, which is no path: nothing is created outside the root)", run: pathNameValidation},
	{ID: "path.budget", Title: "sun_path budget", Severity: Required, Platforms: posix, Transport: ipc.TransportUnix,
		Checks: "a root long enough to overflow sun_path: a working fallback or a clear error, never a truncated path", run: pathBudget},
	{ID: "tcp.loopback-only", Title: "TCP listens on loopback only", Severity: Required, Platforms: []string{"linux"}, Transport: ipc.TransportTCP,
		Checks: "every listening socket on the port-file port is bound to 127.0.0.1 or ::1 (/proc/net/tcp)", run: tcpLoopbackOnly},
	{ID: "tcp.auth-required", Title: "TCP requests need the secret", Severity: Required, Transport: ipc.TransportTCP,
		Checks: "requests without the token, or with a wrong one, get an error or a close, never an answer", run: tcpAuthRequired},
	{ID: "tcp.portfile-private", Title: "port file private", Severity: Required, Platforms: posix, Transport: ipc.TransportTCP,
		Checks: "the port file is a regular file of the daemon's uid with no group/other access, in a directory others cannot write; another uid cannot read it", run: tcpPortFilePrivate},
	{ID: "tcp.portfile-dacl", Title: "port file DACL private", Severity: Required, Platforms: []string{"windows"}, Transport: ipc.TransportTCP,
		Checks: "the port file's DACL, read back, grants only the user, SYSTEM and Administrators, and is protected, and the file is owned by the user or, when the user's token has it as default owner, by BUILTIN\\Administrators (Wine derives the entries from the Unix mode and keeps no flag or owner)", run: tcpPortFileDACL},
	{ID: "tcp.squatter-learns-nothing", Title: "a squatter on a stale port learns nothing", Severity: Required, BuiltinOnly: true, Transport: ipc.TransportTCP,
		Checks: "after SIGKILL a squatter binds the stale port: the client refuses it and sends nothing derived from the secret", run: tcpSquatter},
	{ID: "proto.malformed", Title: "malformed input", Severity: Required,
		Checks: "non-JSON, non-object JSON, a 2 MiB line, half a line, binary garbage: an error or a close, and the daemon keeps serving", run: protoMalformed},
	{ID: "proto.idle-connections", Title: "idle connections do not block service", Severity: Required,
		Checks: "with 500 idle connections open, a new client is served", run: protoIdle},
	{ID: "load.concurrent", Title: "concurrent load", Severity: Required,
		Checks: "64 connections x 500 pings: zero errors (p50/p99 reported)", run: loadConcurrent},
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func sockModeUmask0(ctx context.Context, e *Env) outcome {
	_, _, err := e.start(ctx)
	if err != nil {
		return errored("the daemon passed the preflight but did not start here: %v", err)
	}
	s, d := world.Stat(e.Sock), world.Stat(e.EndpointDir)
	e.note("umask %03o; socket %s: %s gid %d; dir %s: %s gid %d", e.r.cfg.Umask, e.Sock, world.Describe(e.Sock), s.GID, e.EndpointDir, world.Describe(e.EndpointDir), d.GID)
	e.noteGroups(s, d)
	j := e.r.reach
	if s.Kind != "socket" {
		return fail("no socket at %s (%s)", e.Sock, world.Describe(e.Sock))
	}
	if s.UID != e.r.daemonUID || d.UID != e.r.daemonUID {
		return fail("socket owned by uid %d and dir by uid %d, want the daemon's uid %d", s.UID, d.UID, e.r.daemonUID)
	}
	if ok, why := j.canConnect(s, d); ok {
		return fail("socket mode %04o in dir mode %04o: other uids can connect (%s)", s.Mode, d.Mode, why)
	}
	if ok, why := j.canReplace(d); ok {
		return fail("dir mode %04o: other uids can replace the socket (%s)", d.Mode, why)
	}
	return pass("socket %04o gid %d, dir %04o gid %d, both uid %d: no other uid can connect%s", s.Mode, s.GID, d.Mode, d.GID, s.UID, groupOnly(s, d))
}

// sockFirstSeen judges reachability over the socket's whole start: other
// uids can connect only once it listens, so the socket's mode, group and
// directory count at each listen() (the listen gate, Linux) and once it
// serves, not its mode between bind and listen: bind, chmod, listen
// passes; bind, listen, chmod fails.
func sockFirstSeen(ctx context.Context, e *Env) outcome {
	w := watchFirstSeen(e.EndpointDir, e.Sock)
	defer w.stop()
	gate, gateErr := newListenGate(e.Sock, e.EndpointDir)
	if gateErr == nil {
		e.mu.Lock()
		e.gate = gate
		e.mu.Unlock()
		defer gate.stop()
	}
	_, _, err := e.start(ctx)
	if err != nil {
		return errored("the daemon passed the preflight but did not start here: %v", err)
	}
	nowS, nowD := world.Stat(e.Sock), world.Stat(e.EndpointDir)
	first, seen := w.result()
	if seen {
		e.note("first seen via %s: socket %04o uid %d gid %d, dir %04o uid %d gid %d", first.via, first.sock.Mode, first.sock.UID, first.sock.GID, first.dir.Mode, first.dir.UID, first.dir.GID)
	}
	var sights []listenSight
	if gateErr == nil {
		sights, gateErr = gate.result()
	}
	if gateErr != nil {
		e.note("listen calls not gated: %v", gateErr)
	}
	e.noteGroups(nowS, nowD)
	j := e.r.reach
	at, o, decided := firstSeenListens(e, sights)
	if decided {
		return o
	}
	if ok, why := j.canConnect(nowS, nowD); ok {
		return fail("serving with socket %04o in dir %04o: other uids can connect (%s)", nowS.Mode, nowD.Mode, why)
	}
	if o, decided := firstSeenOthers(e, w, gateErr); decided {
		return o
	}
	if at != nil {
		made := ""
		if seen {
			made = fmt.Sprintf("; first seen as %04o (before listen() no one can connect)", first.sock.Mode)
		}
		return pass("socket %04o in dir %04o when it started to listen, and %04o serving: never reachable by other uids%s", at.sock.Mode, at.dir.Mode, nowS.Mode, made)
	}
	// No listen() seen: no gate here, or the listener was inherited. Only
	// what was polled is left.
	if !seen {
		return fail("the socket was never observed at %s (%s)", e.Sock, world.Describe(e.Sock))
	}
	if ok, why := j.canConnect(first.sock, first.dir); ok {
		return skip("first seen as %04o in a %04o dir (%s), reachable once it listens; whether it listened before it was tightened was not observed (%v): run on Linux 5.5 or later, as root or where seccomp is allowed", first.sock.Mode, first.dir.Mode, why, gateErr)
	}
	return pass("first seen (%s) as socket %04o in dir %04o, and %04o serving: not reachable by others (listen() not observed)", first.via, first.sock.Mode, first.dir.Mode, nowS.Mode)
}

// firstSeenListens judges the listen() calls the gate saw (sockFirstSeen):
// decided with the outcome when one on the socket (or a temporary name in
// its directory) was made while other uids could connect or could not be
// read; else the first such call, if any.
func firstSeenListens(e *Env, sights []listenSight) (at *listenSight, o outcome, decided bool) {
	j := e.r.reach
	for i, l := range sights {
		// A listen() on another socket (TCP, another path) is not this
		// one's; one whose fd could not be read is taken to be.
		// A listen() on a temporary name in the socket's directory, later
		// renamed over it (haproxy, supervisord), is judged alike.
		mine := l.Path == e.Sock || l.Path != "" && filepath.Dir(l.Path) == filepath.Dir(e.Sock) ||
			l.Path == "" && l.Unknown != "" && l.sock.Kind == "socket"
		seen := e.Sock
		if l.Path != "" && filepath.Dir(l.Path) == filepath.Dir(e.Sock) {
			seen = l.Path
		}
		e.note("listen call %d: fd bound to %q%s; %s then: %s %04o uid %d gid %d; dir %04o gid %d", i+1, l.Path, orUnknown(l.Unknown), seen, l.sock.Kind, l.sock.Mode, l.sock.UID, l.sock.GID, l.dir.Mode, l.dir.GID)
		if !mine {
			continue
		}
		if l.sock.Kind != "socket" {
			// Its state at listen() could not be read: no mode to judge
			// (a zero mode is not "unreachable").
			return nil, errored("listen() call %d: the socket's state then could not be read (%s is %s)", i+1, seen, describeOr(l.sock.Kind)), true
		}
		if ok, why := j.canConnect(l.sock, l.dir); ok {
			return nil, fail("listen() was called on %s while it was %04o in a %04o dir: from then on other uids could connect (%s)", orSock(l.Path, e.Sock), l.sock.Mode, l.dir.Mode, why), true
		}
		if at == nil {
			at = &sights[i]
		}
	}
	return at, outcome{}, false
}

// firstSeenOthers judges, without the listen gate (gateErr says why), every
// other socket the daemon made in the socket's directory (sockFirstSeen):
// decided, with a skip, when one was first seen reachable.
func firstSeenOthers(e *Env, w *firstSeen, gateErr error) (outcome, bool) {
	j := e.r.reach
	// Every other socket the daemon made in the directory on the way (a
	// temporary name renamed over the final one): without the gate its
	// mode when first seen is all there is, and a loose one may not have
	// listened yet, so it is no verdict either way.
	if gateErr == nil {
		return outcome{}, false
	}
	others := w.otherSights()
	for _, n := range slices.Sorted(maps.Keys(others)) {
		o := others[n]
		e.note("another socket, %s, first seen via %s: socket %04o uid %d, dir %04o uid %d", n, o.via, o.sock.Mode, o.sock.UID, o.dir.Mode, o.dir.UID)
		if ok, why := j.canConnect(o.sock, o.dir); ok {
			return skip("the socket %s (made in the socket's directory before %s appeared) was first seen as %04o in a %04o dir (%s); whether it listened then was not observed (%v): run on Linux 5.5 or later, as root or where seccomp is allowed", n, filepath.Base(e.Sock), o.sock.Mode, o.dir.Mode, why, gateErr), true
		}
	}
	return outcome{}, false
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
func ownEndpointDir(ctx context.Context, e *Env, mode uint32) error {
	if err := e.makeFallbackParents(ctx); err != nil {
		return err
	}
	return e.plant(ctx, e.r.daemonUID, plantOp{Op: "mkdir", Path: e.EndpointDir, Mode: mode})
}

func sockDanglingSymlink(ctx context.Context, e *Env) outcome {
	target := filepath.Join(e.Parent, "planted-target-"+randHex(4))
	if err := ownEndpointDir(ctx, e, 0o700); err != nil {
		return errored("setup: %v", err)
	}
	if err := e.plant(ctx, e.r.daemonUID, plantOp{Op: "symlink", Path: e.Sock, Target: target}); err != nil {
		return errored("setup: %v", err)
	}
	d, err := e.startDaemon(e.Root, e.Name)
	if err != nil {
		return errored("start: %v", err)
	}
	_, readyErr := e.waitReady(ctx, d, e.spec())
	e.note("after start: socket path %s: %s; symlink target %s: %s", e.Sock, world.Describe(e.Sock), target, world.Describe(target))
	if world.Stat(target).Exists {
		return fail("the symlink's target %s was created (%s): bind followed the symlink", target, world.Describe(target))
	}
	if readyErr != nil {
		if done, code := d.exited(); done && code != 0 && d.output() != "" {
			return pass("refused with exit %d: %s", code, causeLine(d.output()))
		}
		return errored("neither served nor refused clearly: %v", readyErr)
	}
	if s := world.Stat(e.Sock); s.Kind != "socket" {
		return fail("serving, but %s is %s, not a socket", e.Sock, world.Describe(e.Sock))
	}
	return pass("symlink replaced by a real socket; target never created")
}

// attackerDir makes a directory the attacker owns (0777) in the parent.
func attackerDir(ctx context.Context, e *Env) (string, error) {
	dir := filepath.Join(e.Parent, "attacker-"+randHex(4))
	return dir, e.plant(ctx, e.r.attackerUID, plantOp{Op: "mkdir", Path: dir, Mode: 0o777})
}

// servedOrRefused starts the daemon and reports whether it served (ready)
// or exited non-zero (refused), waiting at most readyTimeout.
func servedOrRefused(ctx context.Context, e *Env) (d *daemon, served bool, refusal string, err error) {
	d, err = e.startDaemon(e.Root, e.Name)
	if err != nil {
		return nil, false, "", err
	}
	if _, rerr := e.waitReady(ctx, d, e.spec()); rerr == nil {
		return d, true, "", nil
	} else if done, code := d.exited(); done && code != 0 {
		return d, false, fmt.Sprintf("exit %d: %s", code, causeLine(d.output())), nil
	} else {
		return d, false, "", rerr
	}
}

func dirSymlink(ctx context.Context, e *Env) outcome {
	adir, err := attackerDir(ctx, e)
	if err != nil {
		return errored("setup: %v", err)
	}
	at := e.attackDir() // the endpoint dir, or the fallback's /tmp/bh-<uid>
	if err := e.plant(ctx, e.r.attackerUID, plantOp{Op: "symlink", Path: at, Target: adir}); err != nil {
		return errored("setup: %v", err)
	}
	// The link's target may be given to the daemon's uid through the link
	// (a chown, the CVE-2007-3103 harm) and is judged here, not taken for
	// the attacker's interference. Only a link target: nothing can make a
	// new directory there through the link (mkdir over a dangling link
	// fails), so a new owner at the same inode is a chown, not a directory
	// withdrawn and made again with its inode number reused.
	e.judgedTakeover(adir)
	// What the link points at, before the start: a daemon that chowns or
	// chmods (or writes) through the link and only then refuses has done
	// the harm already (CVE-2007-3103), so any change fails, refusal or
	// not.
	before, beforeF := linkTarget(e, adir), world.Stat(adir)
	e.note("link target before the start: %s", before)
	_, served, refusal, err := servedOrRefused(ctx, e)
	after := linkTarget(e, adir)
	inside := e.daemonsOnly(e.tree(adir, ""))
	e.note("attacker dir %s holds: %v", adir, inside)
	e.note("endpoint dir %s: %s", e.EndpointDir, world.Describe(e.EndpointDir))
	if len(inside) > 0 {
		return fail("created inside the attacker's directory through the symlink: %s", strings.Join(inside, ", "))
	}
	if after != before {
		if bf, af := beforeF, world.Stat(adir); af.Kind == bf.Kind && af.UID == bf.UID && af.GID == bf.GID &&
			strings.Replace(after, fmt.Sprintf("%04o", af.Mode), fmt.Sprintf("%04o", bf.Mode), 1) == before {
			// Only the mode: uid %d may chmod its own directory, so who
			// did cannot be told (a forged failure otherwise).
			return errored("no verdict: the symlink's target %s, uid %d's, changed only its mode (%04o, was %04o), which its own uid may do", adir, e.r.attackerUID, af.Mode, bf.Mode)
		}
		return fail("the symlink's target %s changed through the link: was %s, now %s", adir, before, after)
	}
	switch {
	case served && world.Stat(at).Kind == "symlink":
		return fail("serving through the attacker's symlink %s", at)
	case served:
		return pass("symlink replaced by a real directory (%s); nothing created in the attacker's", world.Describe(e.EndpointDir))
	case refusal != "":
		return pass("refused: %s", refusal)
	}
	return errored("neither served nor refused clearly: %v", err)
}

// linkTarget is what dir.symlink's planted link points at, for comparing
// before and after the start: its owner, group and mode (read without
// following it) and its listing, each entry with its facts, or for a file
// its content.
func linkTarget(e *Env, path string) string {
	fi, err := e.r.fs.Lstat(path)
	if err != nil {
		return "lstat: " + err.Error()
	}
	f := world.FactsOf(fi)
	s := fmt.Sprintf("%s %04o uid %d gid %d", f.Kind, f.Mode, f.UID, f.GID)
	switch f.Kind {
	case "dir":
		s += fmt.Sprintf(", holding %v", e.tree(path, ""))
	case "file":
		b, err := world.ReadNoFollow(path, -1, 64<<10)
		s += fmt.Sprintf(", content %s (%v)", target.QuoteClip(b, 200), err)
	}
	return s
}

func dirForeignOwner(ctx context.Context, e *Env) outcome {
	at := e.attackDir() // the endpoint dir, or the fallback's /tmp/bh-<uid>
	if err := e.plant(ctx, e.r.attackerUID, plantOp{Op: "mkdir", Path: at, Mode: 0o777}); err != nil {
		return errored("setup: %v", err)
	}
	_, served, refusal, err := servedOrRefused(ctx, e)
	d, a := world.Stat(e.EndpointDir), world.Stat(at)
	e.note("endpoint dir after start: %s; socket: %s", world.Describe(e.EndpointDir), world.Describe(e.Sock))
	// Evidence first: what the daemon made inside the attacker's directory
	// is judged whether or not it then answered.
	if d.Kind == "dir" && d.UID == e.r.attackerUID {
		if inside := e.daemonsOnly(e.tree(e.EndpointDir, "")); len(inside) > 0 {
			return fail("created inside a directory owned by uid %d (mode %04o), which can replace or remove it: %s", d.UID, d.Mode, strings.Join(inside, ", "))
		}
	}
	switch {
	case served && d.UID == e.r.attackerUID:
		return fail("serving inside a directory owned by uid %d (mode %04o): it can replace or remove the socket", d.UID, d.Mode)
	case served && a.Kind == "dir" && a.UID == e.r.attackerUID:
		return fail("serving under %s, a directory owned by uid %d (mode %04o): it can replace or remove the socket", at, a.UID, a.Mode)
	case served:
		return pass("serving in a directory of its own (%s)", world.Describe(e.EndpointDir))
	case refusal != "":
		return pass("refused: %s", refusal)
	}
	return errored("neither served nor refused clearly: %v", err)
}

func dirLoosePerms(ctx context.Context, e *Env) outcome {
	if err := ownEndpointDir(ctx, e, 0o777); err != nil {
		return errored("setup: %v", err)
	}
	_, served, refusal, err := servedOrRefused(ctx, e)
	d, s := world.Stat(e.EndpointDir), world.Stat(e.Sock)
	e.note("endpoint dir after start: %s; socket: %s", world.Describe(e.EndpointDir), world.Describe(e.Sock))
	// Evidence first: a socket made in the still-loose directory is judged
	// whether or not the daemon then answered.
	e.noteGroups(s, d)
	j := e.r.reach
	replace, whyReplace := j.canReplace(d)
	connect, whyConnect := j.canConnect(s, d)
	switch {
	case s.Exists && replace:
		return fail("created %s (%s) in a dir with mode %04o: other uids can replace it (%s)", e.Sock, world.Describe(e.Sock), d.Mode, whyReplace)
	case served && replace:
		return fail("serving in a dir with mode %04o: other uids can replace the socket (%s)", d.Mode, whyReplace)
	case served && connect:
		return fail("serving with socket %04o in dir %04o: other uids can connect (%s)", s.Mode, d.Mode, whyConnect)
	case served:
		return pass("dir tightened to %04o gid %d%s", d.Mode, d.GID, groupOnly(s, d))
	case refusal != "":
		return pass("refused: %s", refusal)
	}
	return errored("neither served nor refused clearly: %v", err)
}

func dirNotADir(ctx context.Context, e *Env) outcome {
	const sentinel = "not a directory: left by the suite\n"
	if err := e.makeFallbackParents(ctx); err != nil {
		return errored("setup: %v", err)
	}
	if err := e.plant(ctx, e.r.daemonUID, plantOp{Op: "write", Path: e.EndpointDir, Data: sentinel, Mode: 0o644}); err != nil {
		return errored("setup: %v", err)
	}
	_, served, refusal, err := servedOrRefused(ctx, e)
	b, rerr := world.ReadNoFollow(e.EndpointDir, -1, 64<<10)
	e.note("endpoint dir path after start: %s", world.Describe(e.EndpointDir))
	if rerr != nil || string(b) != sentinel {
		return fail("the file at %s was changed or removed (%s)", e.EndpointDir, world.Describe(e.EndpointDir))
	}
	switch {
	case served:
		return pass("served elsewhere; the file is untouched")
	case refusal != "":
		return pass("refused: %s", refusal)
	}
	return errored("neither served nor refused clearly: %v", err)
}

// foreignTalk has the attacker connect and ping; it passes when no pong
// comes back.
func foreignTalk(ctx context.Context, e *Env) outcome {
	var r probe.ConnectResult
	if err := e.asAttacker(ctx, "connect", e.spec(), &r); err != nil {
		return errored("attacker helper: %v", err)
	}
	return judgeTalk(e, fmt.Sprintf("uid %d", e.r.attackerUID), r)
}

func authForeignConnect(ctx context.Context, e *Env) outcome {
	if _, _, err := e.start(ctx); err != nil {
		return errored("the daemon passed the preflight but did not start here: %v", err)
	}
	e.note("%s", describeEndpoint(e))
	return foreignTalk(ctx, e)
}

// loosen opens what the filesystem guards, as the daemon's owner would by
// mistake (socket 0666, its directory 0755): only the peer check is left.
// As the daemon's uid, without following a link (plantOp.do): another uid
// may have swapped the socket for a symlink to a file of root's.
func loosen(ctx context.Context, e *Env) error {
	if target.IsAbstract(e.Sock) {
		e.note("%s is an abstract name: no mode or directory to loosen, it is as open as it can be", e.Sock)
		return nil
	}
	if err := e.plant(ctx, e.r.daemonUID, plantOp{Op: "chmod", Path: e.Sock, Mode: 0o666}); err != nil {
		return fmt.Errorf("chmod socket: %w", err)
	}
	if err := e.plant(ctx, e.r.daemonUID, plantOp{Op: "chmod", Path: e.EndpointDir, Mode: 0o755}); err != nil {
		return fmt.Errorf("chmod dir: %w", err)
	}
	return nil
}

func authPeerCred(ctx context.Context, e *Env) outcome {
	if _, _, err := e.start(ctx); err != nil {
		return errored("the daemon passed the preflight but did not start here: %v", err)
	}
	if err := loosen(ctx, e); err != nil {
		return errored("%v", err)
	}
	e.note("loosened: %s", describeEndpoint(e))
	return foreignTalk(ctx, e)
}

func instLiveNotHijacked(ctx context.Context, e *Env) outcome {
	first, pid1, err := e.start(ctx)
	if err != nil {
		return errored("the first daemon passed the preflight but did not start here: %v", err)
	}
	if pid1 == 0 {
		return skip("%s", noPIDReason(e))
	}
	sock0 := e.sockIdentity()
	second, err := e.startDaemon(e.Root, e.Name)
	if err != nil {
		return errored("start second: %v", err)
	}
	limit := e.secondLimit()
	st := e.awaitSecond(ctx, second, sock0, false, limit)
	exited, code := second.exited()
	e.note("second instance pid %d: %s (exited=%v code=%d)", second.Pid, st, exited, code)
	pid, err := e.pingAsDaemon(ctx, e.spec())
	ofFirst := e.ofFirstStart(first, second, pid)
	switch {
	case err != nil:
		return fail("after the second start the endpoint no longer answers: %v", err)
	case !ofFirst && ofSecondStart(second, pid):
		return fail("hijacked: the second instance (pid %d) now answers in place of the first (pid %d)", pid, pid1)
	case !ofFirst:
		return fail("ping answered by pid %d, neither the first (%d) nor the second (%d)", pid, pid1, second.Pid)
	case st == secondTookOver:
		return fail("the second start (pid %d) replaced the socket at %s or listens on it, though the first (pid %d) still answered this ping", second.Pid, e.Sock, pid1)
	}
	if !first.running() && !e.firstStillServes(first, second) {
		return fail("the first daemon exited")
	}
	if st != secondEnded {
		// A start slowed by load may not have reached its bind yet: that
		// the first still answers says nothing about what it will do.
		return errored("the second start (pid %d) neither ended nor took the endpoint within %s (%s): whether it takes over a live daemon is unknown", second.Pid, limit, st)
	}
	return pass("second refused (exit %d); first (pid %d) still answers", code, pid1)
}

func instBusyNotStale(ctx context.Context, e *Env) outcome {
	first, pid1, err := e.start(ctx)
	if err != nil {
		return errored("the first daemon passed the preflight but did not start here: %v", err)
	}
	if err := signalDaemon(first, "STOP"); err != nil {
		return errored("SIGSTOP: %v", e.signalErr(err))
	}
	n, full, closeAll, err := probe.FillBacklog(e.Sock, 70000)
	defer closeAll()
	e.note("backlog: %d connects, full=%v err=%v", n, full, err)
	if !full {
		signalDaemon(first, "CONT")
		return errored("could not fill the backlog (%d connects): %v", n, err)
	}
	sock0 := e.sockIdentity()
	second, err := e.startDaemon(e.Root, e.Name)
	if err != nil {
		signalDaemon(first, "CONT")
		return errored("start second: %v", err)
	}
	// The first stays stopped, its backlog full, until the second start
	// has settled: a start slowed by load that asks only after SIGCONT
	// finds a daemon that answers, and its refusal would say nothing.
	limit := e.secondLimit()
	stopped := e.awaitSecond(ctx, second, sock0, true, limit)
	exited, code := second.exited()
	e.note("second instance pid %d while the first was stopped: %s (exited=%v code=%d)", second.Pid, stopped, exited, code)
	closeAll()
	if err := signalDaemon(first, "CONT"); err != nil {
		return errored("SIGCONT: %v", err)
	}
	after := stopped
	if after != secondEnded && after != secondTookOver {
		after = e.awaitSecond(ctx, second, sock0, false, limit)
		exited, code = second.exited()
		e.note("second instance pid %d after SIGCONT: %s (exited=%v code=%d)", second.Pid, after, exited, code)
	}
	// The first drains its backlog; give it a few seconds.
	var pid int
	deadline := time.Now().Add(5 * time.Second)
	for {
		pid, err = e.pingAsDaemon(ctx, e.spec())
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	switch {
	case err != nil:
		return fail("after SIGCONT the endpoint does not answer: %v", err)
	case !first.is(pid) && ofSecondStart(second, pid):
		return fail("the second instance took over a busy daemon's endpoint (pid %d answers, not %d)", pid, pid1)
	case !first.is(pid):
		return fail("ping answered by pid %d, not the first (%d)", pid, pid1)
	case after == secondTookOver:
		return fail("the second start (pid %d) replaced the socket at %s or listens on it, though the first (pid %d) answered this ping", second.Pid, e.Sock, pid1)
	case stopped != secondEnded && stopped != secondBlocked:
		// It may have asked only after SIGCONT, when the first answered.
		return errored("the second start (pid %d) had neither ended, taken the endpoint nor blocked connecting to the first within %s while the first was stopped (%s): whether it takes a busy daemon for a stale one is unknown", second.Pid, limit, stopped)
	case after != secondEnded:
		return errored("the second start (pid %d) neither ended nor took the endpoint within %s after SIGCONT (%s): whether it takes over is unknown", second.Pid, limit, after)
	}
	return pass("second did not take over (%s while the first was stopped; exit %d); first (pid %d) answers after SIGCONT", stopped, code, pid1)
}

func instStaleRecovered(ctx context.Context, e *Env) outcome {
	first, _, err := e.start(ctx)
	if err != nil {
		return errored("the first daemon passed the preflight but did not start here: %v", err)
	}
	forks := e.r.cfg.Target.Forks
	if forks {
		// Every process of the start, not only the one serving: workers
		// that inherited the socket would keep the endpoint alive, and
		// their answer be taken for the new start's.
		if left := e.killStart(first, 5*time.Second); len(left) > 0 {
			return errored("processes of the first start still run after SIGKILL: %s", refsString(left))
		}
	} else {
		if err := signalDaemon(first, "KILL"); err != nil {
			return errored("SIGKILL: %v", e.signalErr(err))
		}
		first.waitServing(5 * time.Second)
	}
	e.note("after SIGKILL: socket %s; port file %s", describeSock(e), world.Describe(e.Port))
	second, pid, err := e.start(ctx)
	if err != nil {
		if who := e.othersHoldName(); who != "" {
			return errored("a new start after SIGKILL does not serve (%v), but the freed name %s is bound by %s: another uid took it, which says nothing of the daemon", err, e.Sock, who)
		}
		return fail("a new start after SIGKILL does not serve: %v", err)
	}
	if forks && proc.MarkerScanWorks {
		// Judged only by a process of the new start: one of them must
		// hold the endpoint, and an answer naming a pid must come from
		// one of them.
		holders := e.endpointHolders(second)
		if len(holders) == 0 {
			return fail("the endpoint answers after SIGKILL, but no process of the new start (pid %d) holds it", second.Pid)
		}
		if pid > 0 && !e.ofStart(second, pid) {
			return fail("ping answered by pid %d, not a process of the new start (%s)", pid, refsString(holders))
		}
		return pass("the new start (%s, holding the endpoint) serves after SIGKILL of every process of the first", refsString(holders))
	}
	if pid == 0 {
		return pass("a new start serves after SIGKILL of %d (%s)", first.pid(), noPIDReason(e))
	}
	if pid != second.pid() {
		return fail("ping answered by pid %d, not the new daemon %d", pid, second.pid())
	}
	return pass("new daemon pid %d serves after SIGKILL of %d", second.pid(), first.pid())
}

func instCleanShutdown(ctx context.Context, e *Env) outcome {
	before := e.tree(e.Parent, "")
	d, _, err := e.start(ctx)
	if err != nil {
		return errored("the daemon passed the preflight but did not start here: %v", err)
	}
	// The grace is timed from the signal: the start settles first
	// (settleBeforeSignal), which takes longer on a loaded machine and
	// must not eat into the daemon's 2 s.
	e.settleBeforeSignal(d)
	t0 := time.Now()
	if err := signalNow(d, "TERM"); err != nil {
		return errored("SIGTERM: %v", e.signalErr(err))
	}
	exited, code := d.waitServing(2 * time.Second)
	took := time.Since(t0)
	if !exited {
		e.note("2 s after SIGTERM: %s", procStates(append([]int{d.pid()}, refPids(e.startProcs(d))...)))
		return fail("still running 2 s after SIGTERM")
	}
	if e.r.cfg.Target.Forks {
		// The serving process is one of the start's: the others (a master
		// that removes the socket once its workers have ended) get the
		// rest of the grace before what is left behind is judged.
		for end := t0.Add(2 * time.Second); time.Now().Before(end) && len(e.startProcs(d)) > 0; {
			time.Sleep(20 * time.Millisecond)
		}
	}
	after := e.tree(e.Parent, "")
	left := diff(after, before)
	// The root is the daemon's runtime directory (it may stay, empty), or
	// the suite's, which opens it once the daemon is ready (openRoot):
	// its own entry is not the daemon's leftover, what it holds is.
	left = without(left, filepath.Base(e.Root)+" (")
	// Another uid's entries first: one matching a --keep glob must not
	// exempt the daemon's directories that hold it (it is interference).
	left = e.leftBehindExempt(e.daemonsOnly(left))
	ended := d.howEnded(code)
	e.note("%s after %s; left behind: %v", ended, took.Round(time.Millisecond), left)
	switch {
	case code == -1 && d.pid() != d.Pid:
		e.note("the forked pid %d was not the suite's to reap: its exit code is unknown", d.pid())
		if len(left) > 0 {
			return fail("left behind: %s", strings.Join(left, ", "))
		}
		return pass("pid %d ended within %s of SIGTERM (exit code unknown), nothing left behind", d.pid(), took.Round(time.Millisecond))
	case code != 0:
		what := "nothing left behind"
		if len(left) > 0 {
			what = "left behind: " + strings.Join(left, ", ")
		}
		if code == -1 {
			return fail("%s, want exit 0 after SIGTERM; %s", ended, what) // killed by the signal
		}
		return fail("%s after SIGTERM, want 0; %s", ended, what)
	case len(left) > 0:
		return fail("left behind: %s", strings.Join(left, ", "))
	}
	return pass("exit 0 after %s, nothing left behind", took.Round(time.Millisecond))
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

func pathNameValidation(ctx context.Context, e *Env) outcome {
	before := e.tree(e.Parent, e.Root)
	var accepted []string
	for _, name := range traversalNames {
		d, err := e.startDaemon(e.Root, name)
		if err != nil {
			return errored("start with name %q: %v", name, err)
		}
		exited, code := d.wait(3 * time.Second)
		e.note("name %q: pid %d exited=%v code=%d", name, d.Pid, exited, code)
		running := !exited
		if e.r.cfg.Target.Forks {
			// An exit 0 says nothing of a daemon that forks: what runs on does.
			running = running || e.detachedAliveAfter(d, 3*time.Second)
			code = max(code, 1)
		}
		if running || code == 0 {
			accepted = append(accepted, fmt.Sprintf("%q", name))
			killTree(d.cmd)
			d.wait(5 * time.Second)
			e.stopMarked(d.marker, false, nil)
		}
	}
	outside := e.daemonsOnly(exceptWorkDir(diff(e.tree(e.Parent, e.Root), before)))
	if len(outside) > 0 {
		also := ""
		if len(accepted) > 0 {
			also = "; accepted traversal names " + strings.Join(accepted, ", ")
		}
		return fail("created outside the root %s: %s%s", e.Root, strings.Join(outside, ", "), also)
	}
	if len(accepted) > 0 && e.Transport == ipc.TransportUnix && target.IsAbstract(e.Sock) {
		// The name reaches no path through the socket: an abstract name
		// is no file, so "@{root}/bu-../x.sock" is just a name. What the
		// daemon makes on the filesystem from it (a pid or lock file) is
		// judged above.
		return pass("accepted traversal names %s, but its socket is an abstract name, which no name leads out of the root (it is no path); nothing was created on the filesystem outside the root", strings.Join(accepted, ", "))
	}
	if len(accepted) > 0 {
		return fail("accepted traversal names %s (kept running or exited 0)", strings.Join(accepted, ", "))
	}
	return pass("all %d traversal names refused; nothing created outside the root", len(traversalNames))
}

// budgetRoot grows root until the socket path the template gives for it
// overflows a sun_path of limit bytes (by more than 8 bytes).
func budgetRoot(root, tpl, name string, limit int) string {
	for len(target.Expand(tpl, root, name)) <= limit+8 {
		root = filepath.Join(root, "long-"+strings.Repeat("r", 20))
	}
	return root
}

func pathBudget(ctx context.Context, e *Env) outcome {
	limit := ipc.SunPathLimit(runtime.GOOS)
	root := budgetRoot(e.Root, templateOr(e.r.cfg.Target), e.Name, limit)
	// Through the run directory's handle, sticky like the root (mkdirChain).
	if err := e.mkdirChain(root); err != nil {
		return errored("setup: %v", err)
	}
	if err := e.setRoot(root); err != nil && !strings.Contains(err.Error(), "too long") {
		return errored("setup: %v", err)
	}
	if e.RootIsDir {
		// The daemon creates its root itself in this layout.
		if err := e.r.fs.Remove(root); err != nil {
			return errored("setup: %v", err)
		}
	}
	nominal := target.Expand(templateOr(e.r.cfg.Target), root, e.Name)
	e.note("root is %d bytes; nominal socket path %d bytes, limit %d; socket path used: %s (%d bytes)", len(root), len(nominal), limit, e.Sock, len(e.Sock))
	truncated := nominal[:limit]
	d, err := e.startDaemon(root, e.Name)
	if err != nil {
		return errored("start: %v", err)
	}
	// A daemon that serves at the templated path (or, for the builtin, at
	// ipc's fallback) answers quickly; one that moved elsewhere is looked
	// for below.
	_, readyErr := e.waitReadyWithin(ctx, d, e.spec(), 3*time.Second)
	if ancestorOf(truncated, nominal) {
		// The cut lands on "/", "/." or ".." of the nominal path (a socket
		// name that starts with a dot, a TMPDIR of the wrong length): it
		// names a directory on the way to the socket, which is meant to
		// exist, not a new entry the daemon could have made.
		e.note("the truncated path %s is a directory on the nominal path: not judged", truncated)
	} else if st := world.Stat(truncated); st.Exists {
		return fail("something exists at the truncated path %s (%s)", truncated, world.Describe(truncated))
	}
	if readyErr == nil {
		if e.Sock != nominal {
			return pass("serves at the fallback %s (%d bytes)", e.Sock, len(e.Sock))
		}
		return pass("serves at %s (%d bytes; reached through its directory)", e.Sock, len(e.Sock))
	}
	forked := e.r.cfg.Target.Forks && e.detachedAliveAfter(d, 0)
	if done, code := d.exited(); done && !forked {
		if code != 0 && d.output() != "" {
			return pass("refused clearly (exit %d): %s", code, causeLine(d.output()))
		}
		return fail("exited with code %d without a message: %v", code, readyErr)
	}
	// Still running but not at the templated path: it may have moved to a
	// fallback of its own. Find where it listens (Linux: /proc) and ping it
	// there.
	var paths []string
	for _, pid := range e.startPIDs(d) {
		var ps []string
		err := e.asDaemonUID(ctx, "listening", pid, &ps)
		e.note("daemon pid %d listens on: %v (%v)", pid, ps, err)
		paths = append(paths, ps...)
	}
	for _, p := range paths {
		if len(p) < len(nominal) && strings.HasPrefix(nominal, p) {
			return fail("listening at %s, the nominal path truncated to %d bytes", p, len(p))
		}
	}
	for _, p := range paths {
		sp := e.spec()
		sp.Sock = p
		if pid, err := e.pingAsDaemon(ctx, sp); err == nil {
			return pass("serves at a fallback of its own, %s (%d bytes; pid %d answered)", p, len(p), pid)
		}
	}
	return errored("neither served nor refused clearly: %v", readyErr)
}

// ancestorOf: the path truncated, once cleaned, is a directory the path
// nominal passes through (or the root of it all), not an entry of its own.
func ancestorOf(truncated, nominal string) bool {
	c := filepath.Clean(truncated)
	return c == string(filepath.Separator) || strings.HasPrefix(filepath.Clean(nominal), c+string(filepath.Separator))
}

func templateOr(t Target) string {
	if t.Builtin || t.Socket == "" {
		return DefaultSocketTemplate
	}
	return t.Socket
}

func tcpLoopbackOnly(ctx context.Context, e *Env) outcome {
	if _, _, err := e.start(ctx); err != nil {
		return errored("the daemon passed the preflight but did not start here: %v", err)
	}
	pf, err := e.readPortFile()
	if err != nil {
		return errored("port file: %v", err)
	}
	// Only the daemon uid's sockets are judged: another uid may listen on
	// the same port at another address ([::1]).
	socks, others, err := proc.ListeningOn(pf.Port, e.r.daemonUID)
	if err != nil {
		return errored("reading /proc/net/tcp: %v", err)
	}
	e.note("listening sockets of uid %d on port %d: %v", e.r.daemonUID, pf.Port, socks)
	if len(others) > 0 {
		e.note("not the daemon's, not judged: %v", others)
	}
	if len(socks) == 0 {
		return fail("nothing listens on port %d named by the port file", pf.Port)
	}
	for _, s := range socks {
		if s != "127.0.0.1" && s != "::1" {
			return fail("port %d is bound to %s, not loopback only", pf.Port, s)
		}
	}
	return pass("port %d bound to %s only", pf.Port, strings.Join(socks, ", "))
}

func tcpAuthRequired(ctx context.Context, e *Env) outcome {
	if _, _, err := e.start(ctx); err != nil {
		return errored("the daemon passed the preflight but did not start here: %v", err)
	}
	pf, err := e.readPortFile()
	if err != nil {
		return errored("port file: %v", err)
	}
	wrong := strings.Repeat("0", max(len(pf.Token), 64))
	tries := []struct{ name, line string }{
		{"ping without a token", `{"meta":"ping"}`},
		{"request without a token", `{"cmd":"status"}`},
		{"ping with a wrong token", `{"meta":"ping","token":"` + wrong + `"}`},
		{"request with a wrong token", `{"cmd":"status","token":"` + wrong + `"}`},
	}
	for _, tr := range tries {
		reply, closed, err := probe.TCPExchange(ctx, pf.Port, e.spec().Auth, tr.line, func(c net.Conn) (string, bool) {
			why, ok := e.answeringWhileHeld(ctx, "the suite's", c)
			e.note("%s: held open with no reply; %s", tr.name, why)
			return why, ok
		})
		e.keepImpostor(err, tr.name)
		e.note("%s: reply=%s closed=%v err=%v", tr.name, target.QuoteClip([]byte(reply), 120), closed, err)
		if reply != "" && !strings.Contains(reply, `"error"`) {
			return fail("%s was answered: %s", tr.name, target.QuoteClip([]byte(reply), 120))
		}
		if strings.Contains(reply, "pong") {
			return fail("%s got a pong: %s", tr.name, target.QuoteClip([]byte(reply), 120))
		}
		if err != nil && !closed {
			// Not sent, or held open while the daemon answered no one:
			// the request met no refusal of the daemon's.
			return errored("%s: %v", tr.name, err)
		}
	}
	return pass("all %d unauthenticated requests got an error or a close", len(tries))
}

func tcpPortFilePrivate(ctx context.Context, e *Env) outcome {
	_, _, startErr := e.start(ctx)
	f, d := world.Stat(e.Port), world.Stat(filepath.Dir(e.Port))
	e.note("port file %s: %s; its dir: %s", e.Port, world.Describe(e.Port), world.Describe(filepath.Dir(e.Port)))
	if startErr != nil {
		// What the daemon wrote is judged even when the suite could not
		// talk to it: the ipc protocol's client refuses a port file that
		// is not private, so a loose one is the failure, not "no verdict".
		if loose := portFileLoose(f, d); f.Kind == "file" && f.UID == e.r.daemonUID && loose != "" {
			return fail("%s (and the suite's client got no answer: %v)", loose, startErr)
		}
		return errored("the daemon passed the preflight but did not start here: %v", startErr)
	}
	switch {
	case f.Kind != "file":
		return fail("port file %s is %s", e.Port, world.Describe(e.Port))
	case f.UID != e.r.daemonUID:
		return fail("port file owned by uid %d, not the daemon's %d", f.UID, e.r.daemonUID)
	case portFileLoose(f, d) != "":
		return fail("%s", portFileLoose(f, d))
	}
	if e.r.attackerUID >= 0 {
		var r struct {
			Read  bool   `json:"read"`
			Error string `json:"error"`
		}
		if err := e.asAttacker(ctx, "read", e.Port, &r); err != nil {
			return errored("attacker helper: %v", err)
		}
		e.note("uid %d reading it: read=%v %s", e.r.attackerUID, r.Read, r.Error)
		if r.Read {
			return fail("uid %d read the port file", e.r.attackerUID)
		}
		return pass("port file %04o uid %d; uid %d cannot read it", f.Mode, f.UID, e.r.attackerUID)
	}
	return pass("port file %04o uid %d in dir %04o (not root: no other uid tried to read it)", f.Mode, f.UID, d.Mode)
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

func tcpPortFileDACL(ctx context.Context, e *Env) outcome {
	if _, _, err := e.start(ctx); err != nil {
		return errored("the daemon passed the preflight but did not start here: %v", err)
	}
	f, err := readDACL(e.Port)
	e.note("port file %s: owner=%s protected=%v grants=%v user=%s token owner=%s wine=%v err=%v", e.Port, f.Owner, f.Protected, f.Grants, f.User, f.TokenOwner, f.Wine, err)
	if err != nil {
		return fail("%v", err)
	}
	var beyond []string
	for _, g := range f.Grants {
		sid, _, _ := strings.Cut(g, " ")
		if sid != f.User && !slices.Contains(allowedSIDs, sid) {
			beyond = append(beyond, g)
		}
	}
	if len(beyond) > 0 {
		return fail("the DACL grants %v, beyond the user %s, SYSTEM and Administrators", beyond, f.User)
	}
	if f.Wine {
		// Wine stores the ACEs a file is created with but drops the
		// "protected" flag and enforces nothing. A control file made
		// without a DACL shows the read-back is real: its default DACL
		// differs (Wine adds Everyone).
		control := filepath.Join(filepath.Dir(e.Port), "dacl-control-"+randHex(4))
		if err := os.WriteFile(control, []byte("control"), 0o644); err != nil {
			return errored("control file: %v", err)
		}
		defer os.Remove(control)
		c, err := readDACL(control)
		e.note("control file without a DACL: grants=%v err=%v", c.Grants, err)
		if err != nil || slices.Equal(c.Grants, f.Grants) {
			return skip("under Wine the DACL read back (%v) cannot be told from a default one (control %v, %v); run on a real Windows host", f.Grants, c.Grants, err)
		}
		return pass("Wine: the calls succeeded and the DACL read back grants only %v (a file made without one gets %v); Wine keeps no protected flag and enforces nothing, so those are checked on real Windows only", f.Grants, c.Grants)
	}
	if !f.Protected {
		return fail("the DACL is not protected: inherited entries may grant others access (%v)", f.Grants)
	}
	owned, err := portFileOwnerOK(f.Owner, f.User, f.TokenOwner)
	if err != nil {
		return fail("%v", err)
	}
	return pass("%s; protected DACL granting only %v", owned, f.Grants)
}

// squatterClient is the client tcp.squatter-learns-nothing points at the
// squatter: the suite's ipc client, as the daemon's uid. The scenario
// judges that client (the ipc package), not an external daemon; the
// suite's tests swap in deliberately broken clients to see it fail.
var squatterClient = func(ctx context.Context, e *Env, sp probe.Spec) (int, error) { return e.pingAsDaemon(ctx, sp) }

func tcpSquatter(ctx context.Context, e *Env) outcome {
	d, _, err := e.start(ctx)
	if err != nil {
		return errored("the daemon passed the preflight but did not start here: %v", err)
	}
	pf, err := e.readPortFile()
	if err != nil {
		return errored("port file: %v", err)
	}
	if err := signalDaemon(d, "KILL"); err != nil {
		return errored("SIGKILL: %v", e.signalErr(err))
	}
	d.waitServing(5 * time.Second)
	sq, err := probe.Squat(pf.Port)
	if err != nil {
		return errored("could not bind the stale port %d to act as the squatter: %v", pf.Port, err)
	}
	defer sq.Close()
	_, perr := squatterClient(ctx, e, e.spec())
	got := sq.Bytes()
	e.note("client against the squatter: %v", perr)
	e.note("squatter received %d bytes: %s", len(got), target.QuoteClip(got, 200))
	switch {
	case perr == nil:
		return fail("the client accepted the squatter on port %d", pf.Port)
	case len(got) == 0:
		return errored("the client never reached the squatter (%v): the scenario observed nothing", perr)
	case strings.Contains(string(got), pf.Token):
		return fail("the client sent the secret to the squatter")
	case strings.Contains(string(got), `"proof"`):
		return fail("the client sent a proof to a server that had not proved itself")
	}
	return pass("client refused the squatter (%s); it received only %d bytes with a random nonce", target.OneLine(perr.Error(), 80), len(got))
}

func protoMalformed(ctx context.Context, e *Env) outcome {
	d, pid, err := e.start(ctx)
	if err != nil {
		return errored("the daemon passed the preflight but did not start here: %v", err)
	}
	var rs []probe.MalformedResult
	if err := e.asDaemonUID(ctx, "malformed", e.spec(), &rs); err != nil {
		return errored("client helper: %v", err)
	}
	judgeReplies := e.r.cfg.Target.Protocol.SpeaksJSON()
	for _, r := range rs {
		e.note("%s: reply=%s closed=%v; ping after: %s", r.Payload, target.QuoteClip([]byte(r.Reply), 80), r.Closed, r.PingAfter)
		if !judgeReplies {
			// Only bh-json says what an error is: judged is that the
			// daemon keeps answering its probe.
			if !strings.HasPrefix(r.PingAfter, "ok") {
				return fail("after %s the daemon no longer answers its probe: %s", r.Payload, r.PingAfter)
			}
			continue
		}
		if strings.Contains(r.Reply, "pong") {
			return fail("%s was answered as a ping: %q", r.Payload, r.Reply)
		}
		if r.Reply != "" && !strings.Contains(r.Reply, `"error"`) && !strings.HasPrefix(r.Reply, "connect:") {
			return fail("%s got a reply that is not an error: %s", r.Payload, target.QuoteClip([]byte(r.Reply), 80))
		}
		if !strings.HasPrefix(r.PingAfter, "ok") {
			return fail("after %s the daemon no longer serves: %s", r.Payload, r.PingAfter)
		}
	}
	if !d.running() {
		_, code := d.waitServing(0)
		return fail("the daemon exited (code %d)", code)
	}
	if !judgeReplies {
		return pass("after each of %d malformed inputs the daemon still answered its probe (--protocol %s: replies not judged)", len(rs), e.r.cfg.Target.Protocol)
	}
	return pass("%d malformed inputs answered with an error or a close; pid %d kept serving", len(rs), pid)
}

func protoIdle(ctx context.Context, e *Env) outcome {
	if _, _, err := e.start(ctx); err != nil {
		return errored("the daemon passed the preflight but did not start here: %v", err)
	}
	var r probe.IdleResult
	if err := e.asDaemonUID(ctx, "idle", map[string]any{"spec": e.spec(), "n": 500}, &r); err != nil {
		return errored("client helper: %v", err)
	}
	opened := fmt.Sprintf("opened %d idle connections", r.Opened)
	if r.OpenError != "" {
		opened += " (then: " + r.OpenError + ")"
	}
	e.note("%s; new client: %s in %d ms; connects retried on a full backlog: %d", opened, r.PingAfter, r.PingMS, r.BusyRetries)
	e.metric("ping_after_idle_ms", float64(r.PingMS))
	e.metric("busy_retries", float64(r.BusyRetries))
	if !strings.HasPrefix(r.PingAfter, "ok") {
		if r.Opened < 500 && r.OpenError != "" {
			// A capped daemon: the count it refused is the finding.
			return fail("the daemon accepted %d of 500 idle connections (%d refused: %s) and then a new client is not served: %s", r.Opened, 500-r.Opened, r.OpenError, r.PingAfter)
		}
		return fail("with %d idle connections a new client is not served: %s", r.Opened, r.PingAfter)
	}
	return pass("%d idle connections open; a new client was served in %d ms", r.Opened, r.PingMS)
}

func loadConcurrent(ctx context.Context, e *Env) outcome {
	if _, _, err := e.start(ctx); err != nil {
		return errored("the daemon passed the preflight but did not start here: %v", err)
	}
	var r probe.LoadResult
	workers, n := 64, 500
	if p := e.r.cfg.Target.Protocol; !p.SpeaksJSON() {
		workers, n = probe.LoadSize(p)
	}
	// The clients have until the scenario's deadline (a helper's own is
	// another): on a loaded machine a slow daemon is busy, not broken.
	dl, _ := ctx.Deadline()
	arg := map[string]any{"spec": e.spec(), "Conns": workers, "Pings": n, "deadline": dl}
	if err := e.asDaemonUID(ctx, "load", arg, &r); err != nil {
		return errored("client helper: %v", err)
	}
	e.metric("p50_us", r.P50us)
	e.metric("p99_us", r.P99us)
	e.metric("max_us", r.Maxus)
	e.metric("wall_ms", r.Wallms)
	e.metric("errors", float64(r.Errors))
	e.metric("busy_retries", float64(r.BusyRetries))
	conns, pings := "connections", "pings"
	retried := fmt.Sprintf("connects retried on a full backlog: %d", r.BusyRetries)
	switch p := e.r.cfg.Target.Protocol; {
	case p == ProtocolExec:
		conns, pings = "workers", "probe runs"
		retried = "the probe program makes its own connections (their retries are not seen)"
	case !p.SpeaksJSON():
		conns, pings = "workers", "probes (a connection each)"
	}
	e.note("%d %s x %d %s: %d errors; p50 %.0f us, p99 %.0f us, max %.0f us, wall %.0f ms; %s", r.Conns, conns, r.Pings/max(r.Conns, 1), pings, r.Errors, r.P50us, r.P99us, r.Maxus, r.Wallms, retried)
	if r.TimedOut || ctx.Err() != nil {
		// Errors from the deadline itself say nothing of the daemon.
		return errored("timed out after %s during the load (%d of %d %s failed or unfinished; first: %s); give a longer %s", e.r.cfg.Timeout, r.Errors, r.Pings, pings, r.First, Hint("timeout", "DURATION"))
	}
	if r.Errors > 0 {
		return fail("%d of %d %s failed; first: %s", r.Errors, r.Pings, pings, r.First)
	}
	return pass("%d %s, 0 errors; p50 %.0f us, p99 %.0f us", r.Pings, pings, r.P50us, r.P99us)
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

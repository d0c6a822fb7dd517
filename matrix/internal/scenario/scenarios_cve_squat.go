package scenario

// Squatting as denial of service (issue 22, class 5; Zim, CVE-2020-10870):
// a daemon that makes its endpoint under a predictable name in a directory
// every uid can create in is kept from starting by any uid that makes the
// name first. Refusing the squatter's entry is right (dir.foreign-owner
// judges that half); this scenario judges the other half: whether the
// daemon still serves where its clients look.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/org/bh-ipc-check/ipc"

	"github.com/org/bh-ipc-check/matrix/internal/stage"
	"github.com/org/bh-ipc-check/matrix/internal/target"
	"github.com/org/bh-ipc-check/matrix/internal/world"
)

// SquatDoSScenario is dir.squat-dos.
var SquatDoSScenario = stage.Scenario{ID: "dir.squat-dos", Title: "a squatted endpoint is still served where its clients look", Severity: target.Hardening,
	Platforms: posix, Needs: []stage.Need{stage.NeedOtherUID}, Transport: ipc.TransportUnix, Abstract: stage.AbstractToo,
	Checks: "before the start another uid makes what the daemon would make first (its endpoint directory, or the socket when its directory exists): " +
		"the daemon serves where its clients look because that is a per-user base no other uid can create in (the squat there is refused by the kernel; " +
		"the builtin and --per-user-base targets get one as $XDG_RUNTIME_DIR, with {root} as $TMPDIR); a daemon that refuses the squat with nowhere else to go fails; " +
		"an abstract name (--socket @NAME) is bound and held by the other uid first, and fails unless the kernel refused that bind",
	Run: squatDoS}

func init() {
	catalogue = append(catalogue, SquatDoSScenario)
}

// firstMade is what a daemon makes first on its way to sock: the
// outermost directory between the scenario's directory and sock that does
// not exist yet, else sock itself.
func firstMade(e *stage.Env, sock string) string {
	p := sock
	for d := filepath.Dir(sock); stage.IsUnder(d, e.Parent) && !world.Stat(d).Exists; d = filepath.Dir(d) {
		p = d
	}
	return p
}

// squatAttempt is one attempt by the attacker to make the name a daemon
// makes first: made, or refused by the kernel (denied: the error).
type squatAttempt struct {
	path   string
	made   bool
	denied error
}

// describe says what became of the attempt, with the facts of the name
// and of the directory holding it, for reasons.
func (s squatAttempt) describe(uid int) string {
	dir := filepath.Dir(s.path)
	if s.made {
		return fmt.Sprintf("uid %d made %s first (%s) in %s (%s)", uid, s.path, world.Describe(s.path), dir, world.Describe(dir))
	}
	return fmt.Sprintf("uid %d could not make %s (permission denied: %s is %s)", uid, s.path, dir, world.Describe(dir))
}

// trySquat has the attacker make a directory (0777) at path, as itself
// through its helper, so that a refusal is the kernel's. An error other
// than a permission refusal ends the scenario (no verdict).
func trySquat(ctx context.Context, e *stage.Env, path string) (squatAttempt, error) {
	// Race point: the scenario's root is opened to other uids (01777, as
	// /tmp) before the start instead of once the daemon serves (OpenRoot),
	// so that the attempt is made as the attacker, not by the suite on its
	// behalf: a refusal is then the kernel's answer about the directory
	// that holds the name. Another local uid that takes the name first
	// makes the attempt fail with EEXIST: no verdict.
	if stage.IsUnder(path, e.Root) {
		if err := e.OpenRoot(); err != nil {
			return squatAttempt{}, err
		}
	}
	err := e.Plant(ctx, e.Runner.AttackerUID, stage.PlantOp{Op: "mkdir", Path: path, Mode: 0o777})
	// What the attacker's helper says is checked against the name itself:
	// its uid could make the helper report either outcome.
	f := world.Stat(path)
	made := f.Exists && f.UID == e.Runner.AttackerUID
	switch {
	case err == nil && made:
		return squatAttempt{path: path, made: true}, nil
	case err == nil:
		return squatAttempt{}, fmt.Errorf("uid %d's helper made %s, but it is %s", e.Runner.AttackerUID, path, world.Describe(path))
	case f.Exists:
		return squatAttempt{}, fmt.Errorf("uid %d's attempt to make %s failed (%v), but it is %s", e.Runner.AttackerUID, path, err, world.Describe(path))
	case errors.Is(err, fs.ErrPermission) || strings.Contains(err.Error(), "permission denied"):
		e.Note("uid %d's attempt to make %s was refused: %v", e.Runner.AttackerUID, path, err)
		return squatAttempt{path: path, denied: err}, nil
	}
	return squatAttempt{}, err
}

// squatDoS replays Zim's CVE-2020-10870: another uid pre-creates the
// endpoint before the start. A daemon that chooses its own base (the
// builtin, or a --per-user-base target) is given a per-user one and must
// serve there; any other target is judged at its socket template, an
// abstract name by binding it first (squatAbstract).
func squatDoS(ctx context.Context, e *stage.Env) stage.Outcome {
	t := e.Runner.Config.Target
	if target.IsAbstract(e.Sock) {
		return squatAbstract(ctx, e)
	}
	if parents := e.FallbackParents(); len(parents) > 0 {
		// The run's root is too long for sun_path, so the builtin serves
		// in the fallback /tmp/bh-<uid>, shared by every scenario of the
		// run: a squat there would take the others' endpoints too, and
		// a per-user base under this root would overflow sun_path as well.
		return stage.Skip("the endpoint is in the sun_path fallback under %s (the run's root %s is too long for the %d-byte sun_path): squatting it would squat every scenario's; run with a shorter TMPDIR or --root to judge it", parents[0], e.Root, ipc.SunPathLimit(runtime.GOOS))
	}
	if t.Builtin || t.PerUserBase {
		return squatPerUser(ctx, e)
	}
	return squatExplicit(ctx, e)
}

// squatExplicit judges a target whose clients look at its socket template:
// where its directory is one no other uid can create in, the squat is
// refused by the kernel and the daemon must serve; where it is shared, the
// squatter makes the name first and the daemon, refusing it, has nowhere
// else to go.
func squatExplicit(ctx context.Context, e *stage.Env) stage.Outcome {
	// --dir-created-by suite: the directory is there before the start, as
	// the operator makes it (0700, the daemon's uid).
	if err := e.MakeSocketDir(e.Root, e.Name); err != nil {
		return stage.Errored("setup: %v", err)
	}
	sq, err := trySquat(ctx, e, firstMade(e, e.Sock))
	if err != nil {
		return stage.Errored("setup: %v", err)
	}
	_, served, refusal, err := servedOrRefused(ctx, e)
	e.Note("after the start: %s is %s; socket %s: %s", sq.path, world.Describe(sq.path), e.Sock, world.Describe(e.Sock))
	if sq.made {
		return judgeSquatted(e, sq, e.Sock, served, refusal, err)
	}
	switch {
	case served:
		return stage.Pass("%s, a directory no other uid can create in; served at %s", sq.describe(e.Runner.AttackerUID), e.Sock)
	case refusal != "":
		return stage.Errored("the squat was refused by the kernel, yet the daemon did not start: %s", refusal)
	}
	return stage.Errored("neither served nor refused clearly: %v", err)
}

// PerUserBasePrefix starts the name of dir.squat-dos's per-user base in
// the scenario's directory (with four hex digits: as short as the root's
// name plus two, so its sockets fit macOS's sun_path as the root's do;
// TestDarwinSocketPaths).
const PerUserBasePrefix = "u-"

// squatPerUser judges a daemon that chooses its own base: with a per-user
// base as $XDG_RUNTIME_DIR (a 0700 directory of the daemon's uid, as
// /run/user/<uid> is) and the scenario's shared root as $TMPDIR, the
// attacker squats where a daemon using the shared base would go and tries
// the same in the per-user base; the daemon must serve where its clients
// look (ipc's order: the per-user base).
func squatPerUser(ctx context.Context, e *stage.Env) stage.Outcome {
	// Race point: the scenario's directory is open to other uids (01777)
	// by now; the base is made there exclusively (mkdir, as the daemon's
	// uid, no link followed), so another uid that takes the name first
	// makes it fail (EEXIST: no verdict), never hands the daemon a
	// directory of its own.
	base := filepath.Join(e.Parent, PerUserBasePrefix+randHex(2))
	if err := e.FsOp(ctx, e.Runner.DaemonUID, stage.PlantOp{Op: "mkdir", Path: base, Mode: 0o700}, "made the per-user base (as /run/user/<uid>)"); err != nil {
		return stage.Errored("setup: %v", err)
	}
	e.PrivateBase = base
	want, err := perUserSock(e)
	if err != nil {
		return stage.Errored("setup: where the daemon's clients look: %v", err)
	}
	shared := firstMade(e, e.Sock)
	// The shared root first: where a daemon that ignores the per-user base
	// goes.
	sqShared, err := trySquat(ctx, e, shared)
	if err != nil {
		return stage.Errored("setup: %v", err)
	}
	e.Note("the daemon gets TMPDIR=%s (%s) and XDG_RUNTIME_DIR=%s; its clients look at %s", e.Root, world.Describe(e.Root), base, want)
	e.Sock, e.EndpointDir = want, filepath.Dir(want)
	if err := e.MakeSocketDir(e.Root, e.Name); err != nil {
		return stage.Errored("setup: %v", err)
	}
	sq, err := trySquat(ctx, e, firstMade(e, want))
	if err != nil {
		return stage.Errored("setup: %v", err)
	}
	d, served, refusal, err := servedOrRefused(ctx, e)
	e.Note("after the start: %s is %s; %s is %s; socket %s: %s", shared, world.Describe(shared), sq.path, world.Describe(sq.path), want, world.Describe(want))
	inBase, socks := perUserListing(e, base)
	e.Note("the per-user base %s holds: %s", base, inBase)
	if !served && len(socks) > 0 && !slices.Contains(socks, want) {
		// emacs: $XDG_RUNTIME_DIR/emacs/server, but $TMPDIR/emacs<uid>/server.
		return stage.Errored("did not answer at %s, where %s puts it under the per-user base, but made a socket there at %s: its path under $XDG_RUNTIME_DIR is not its path under $TMPDIR, which %s assumes; "+
			"judge it at the path it uses under $XDG_RUNTIME_DIR instead (see docs/cli.md, --per-user-base): %v",
			want, target.Hint("socket", fmt.Sprintf("%q", e.Runner.Config.Target.Socket)), strings.Join(socks, ", "), target.Hint("per-user-base", "true"), err)
	}
	if sq.made {
		return judgeSquatted(e, sq, want, served, refusal, err)
	}
	switch {
	case served:
		return stage.Pass("served at %s, in the per-user base: %s; %s, which did not stand in its way",
			want, sq.describe(e.Runner.AttackerUID), sqShared.describe(e.Runner.AttackerUID))
	case refusal != "" && sqShared.made:
		return stage.Fail("did not serve at %s, where its clients look (XDG_RUNTIME_DIR=%s, a 0700 directory of uid %d, which no other uid can create in): "+
			"it refused — correctly — %s, but it looks only in the shared base and has nowhere else to go (%s)",
			want, base, e.Runner.DaemonUID, sqShared.describe(e.Runner.AttackerUID), refusal)
	case refusal != "":
		return stage.Errored("the squats had no effect (%s; %s), yet the daemon did not start: %s", sq.describe(e.Runner.AttackerUID), sqShared.describe(e.Runner.AttackerUID), refusal)
	}
	// Only the daemon's own socket there counts: in its own directory the
	// squatter can bind one of its own while the daemon hangs.
	if sqShared.made && e.StartListensAt(d, filepath.Join(shared, filepath.Base(want))) {
		return stage.Fail("serves inside %s, made by uid %d, not at %s where its clients look: it ignores the per-user base", shared, e.Runner.AttackerUID, want)
	}
	return stage.Errored("neither served nor refused clearly: %v; the per-user base %s holds: %s", err, base, inBase)
}

// perUserListing is what the daemon made in dir.squat-dos's per-user
// base, to the depth it made it (each entry with its facts; "nothing"
// for none), and the sockets among it (their paths), so that a daemon
// that put its socket elsewhere there shows where.
func perUserListing(e *stage.Env, base string) (listing string, socks []string) {
	entries := e.Tree(base, "")
	for _, ent := range entries {
		rel, _, _ := strings.Cut(ent, " (")
		if p := filepath.Join(base, rel); world.Stat(p).Kind == "socket" {
			socks = append(socks, p)
		}
	}
	if len(entries) == 0 {
		return "nothing", nil
	}
	const most = 20
	if len(entries) > most {
		entries = append(entries[:most:most], fmt.Sprintf("… %d more", len(entries)-most))
	}
	return strings.Join(entries, ", "), socks
}

// perUserSock is where the clients of a daemon that chooses its own base
// look in dir.squat-dos: for the builtin, ipc's layout for the daemon's
// uid and environment (ipc.ResolveFor); for a --per-user-base target, its
// socket template with {root} the base ipc's order picks in that
// environment (ipc.DefaultRootFor).
func perUserSock(e *stage.Env) (string, error) {
	env := e.PerUserEnv(stage.DaemonEnv(e.Runner.Config, e.Root, e.Name, e.Transport), e.Root)
	if e.Runner.Config.Target.Builtin {
		lay, err := ipc.ResolveFor(e.Runner.DaemonUID, env, e.Name, ipc.WithTransport(e.Transport))
		return lay.Sock, err
	}
	base := ipc.DefaultRootFor(e.Runner.DaemonUID, env)
	if base != e.PrivateBase {
		return "", fmt.Errorf("ipc's order picks %s, not the per-user base %s", base, e.PrivateBase)
	}
	return filepath.Clean(target.Expand(e.Runner.Config.Target.Socket, base, e.Name)), nil
}

// judgeSquatted judges a start after the attacker made sq.path first where
// the daemon's clients look (sock): serving inside the squatter's
// directory is no service (it can remove the socket at will); refusing it
// is right, with nowhere else to go.
func judgeSquatted(e *stage.Env, sq squatAttempt, sock string, served bool, refusal string, err error) stage.Outcome {
	a := e.Runner.AttackerUID
	owned := func(p string) bool { f := world.Stat(p); return f.Exists && f.UID == a }
	in := stage.IsUnder(sock, sq.path)
	switch {
	case served && in && owned(sq.path):
		return stage.Fail("%s; the daemon serves inside it at %s, so uid %d can remove its socket at will (dir.foreign-owner judges the security half)", sq.describe(a), sock, a)
	case served && owned(sq.path):
		return stage.Fail("%s; the daemon serves at %s, but uid %d's entry stands in its way (%s)", sq.describe(a), sock, a, world.Describe(sq.path))
	case served:
		return stage.Pass("%s; the daemon replaced it and serves at %s (%s)", sq.describe(a), sock, world.Describe(sq.path))
	case refusal != "":
		return stage.Fail("%s, a directory every uid can create in; the daemon refused it — correctly — but has nowhere else to go: its clients look only at %s (%s). "+
			"Put the endpoint in a per-user base: a daemon that chooses its own uses $XDG_RUNTIME_DIR when private (judge it with %s); "+
			"one told where, a directory no other uid can create in (%s)",
			sq.describe(a), sock, refusal, target.Hint("per-user-base", "true"), target.Hint("dir-created-by", "suite"))
	}
	return stage.Errored("neither served nor refused clearly: %v", err)
}

package stage

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/org/bh-ipc-check/ipc"

	"github.com/org/bh-ipc-check/matrix/internal/probe"
	"github.com/org/bh-ipc-check/matrix/internal/target"
	"github.com/org/bh-ipc-check/matrix/internal/world"
)

// MakeSocketDir makes the socket's directory for --dir-created-by suite:
// mode 0700, as the daemon's uid, before each start for the env's own
// root and name, unless something is there already: a scenario's plant
// (a symlink, another uid's directory, a file) is what the daemon must
// find. No directory is made for other names (path.name-validation's
// traversal names must not get one from the suite).
func (e *Env) MakeSocketDir(root, name string) error {
	t := e.Runner.Config.Target
	if t.DirCreatedBy != "suite" || e.Transport != ipc.TransportUnix || root != e.Root || name != e.Name {
		return nil
	}
	dir := e.EndpointDir
	// Race point: the parent is a 1777 directory other uids could write in
	// a real run; the mkdir below is done by the daemon's uid in a helper,
	// and it fails (EEXIST) rather than follows whatever was put there
	// after this check, which only spares a useless helper.
	if world.Stat(dir).Exists {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.FsOp(ctx, e.Runner.DaemonUID, PlantOp{Op: "mkdir", Path: dir, Mode: 0o700}, "made the socket's directory for the daemon (--dir-created-by suite)"); err != nil {
		return fmt.Errorf("--dir-created-by suite: %w", err)
	}
	e.suiteDir = dir
	return nil
}

// LeftBehindExempt is what inst.clean-shutdown does not count as left
// behind: the suite's own socket directory, what the daemon wrote in its
// working directory (ExceptWorkDir), and the daemon's data (Target.Keep).
func (e *Env) LeftBehindExempt(left []string) []string {
	left = ExceptWorkDir(e.exceptKept(left))
	if e.suiteDir == "" {
		return left
	}
	rel, err := filepath.Rel(e.Parent, e.suiteDir)
	if err != nil {
		return left
	}
	return Without(left, rel+" (")
}

// preflightHint says what to try after a failed preflight, from how the
// daemon ended and its output: a program not found (exit 127, the
// helper's or a shell's); a daemon that forked; a daemon that did not make
// its socket's directory and may expect it to exist (it is still running,
// or its output names the socket, its directory, or a failed bind).
//
// A daemon that answered, but not in JSON, under a JSON protocol
// (waitErr wraps ipc.ErrBadReply) speaks something else: the hint names
// --protocol.
func (e *Env) preflightHint(exited bool, code int, output string, waitErr error) string {
	t := e.Runner.Config.Target
	switch {
	case t.Builtin:
		return ""
	case exited && code == 127:
		return "exit 127: the program, or a command its script runs, was not found; check the command's first word and the daemon's PATH"
	case !t.Forks && exited && code == 0:
		return fmt.Sprintf("the daemon exited 0 before it was ready; if it forks into the background, add %s (and %s if it writes one)", target.Hint("forks", "true"), target.Hint("pidfile", "TEMPLATE"))
	case probe.BadPortFile(waitErr):
		return `the port file must be a JSON object with "port", such as {"port":16379} (bh-json and ipc daemons add their "token"); a daemon that writes none, or writes another format, can be started by a sh -c wrapper that writes one and execs it (see docs/cli.md, "A TCP daemon without a port file")`
	case t.Protocol.SpeaksJSON() && errors.Is(waitErr, ipc.ErrBadReply):
		return fmt.Sprintf("the daemon answered, but not with a %s pong (a JSON line {\"pong\":true,...}): if it speaks another protocol, give %s (a connect is enough), %s with %s and %s, or %s with %s",
			t.Protocol, target.Hint("protocol", "connect"), target.Hint("protocol", "line"), target.Hint("send", "REQUEST"), target.Hint("expect", "REGEX"), target.Hint("protocol", "exec"), target.Hint("probe", "COMMAND"))
	case e.Transport == ipc.TransportUnix && e.EndpointDir != "" && t.DirCreatedBy != "suite" && !world.Stat(e.EndpointDir).Exists &&
		(!exited || strings.Contains(output, e.EndpointDir) || strings.Contains(output, "bind")):
		return fmt.Sprintf("the socket's directory %s was never made; if the daemon expects it to exist, add %s (the suite then makes it 0700 as the daemon's uid before each start)", e.EndpointDir, target.Hint("dir-created-by", "suite"))
	}
	return ""
}

// exceptKept drops from left (tree entries relative to e.Parent) the
// daemon's data named by Target.Keep: an entry a glob matches, what lies
// under such an entry, and the directories that hold one (they must stay
// for it to stay). The kept entries are noted in the evidence.
func (e *Env) exceptKept(left []string) []string {
	keep := e.Runner.Config.Target.Keep
	if len(keep) == 0 {
		return left
	}
	rel := func(entry string) string {
		p, _, _ := strings.Cut(entry, " (")
		return filepath.ToSlash(p)
	}
	// Matched with forward slashes on every OS (path.Match): entries are
	// written with them, and a Windows path's backslashes would be escapes.
	root := filepath.ToSlash(e.Root)
	var kept []string
	for _, entry := range left {
		abs := filepath.ToSlash(filepath.Join(e.Parent, rel(entry)))
		for _, k := range keep {
			pat := filepath.ToSlash(target.Expand(k, e.Root, e.Name))
			for p := abs; len(p) >= len(root); p = path.Dir(p) {
				if ok, _ := path.Match(pat, p); ok {
					kept = append(kept, rel(entry))
					break
				}
				if p == path.Dir(p) {
					break
				}
			}
		}
	}
	if len(kept) == 0 {
		return left
	}
	var out []string
	for _, entry := range left {
		r := rel(entry)
		holds := slices.ContainsFunc(kept, func(k string) bool { return k == r || strings.HasPrefix(k, r+"/") })
		if !holds {
			out = append(out, entry)
		}
	}
	e.Note("the daemon's data (--keep %s), not counted as left behind: %s", strings.Join(keep, " "), strings.Join(slices.Compact(kept), ", "))
	return out
}

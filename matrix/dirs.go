package matrix

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/org/bh-ipc-check/ipc"
)

// makeSocketDir makes the socket's directory for --dir-created-by suite:
// mode 0700, as the daemon's uid, before each start for the env's own
// root and name, unless something is there already: a scenario's plant
// (a symlink, another uid's directory, a file) is what the daemon must
// find. No directory is made for other names (path.name-validation's
// traversal names must not get one from the suite).
func (e *Env) makeSocketDir(root, name string) error {
	t := e.r.cfg.Target
	if t.DirCreatedBy != "suite" || e.Transport != ipc.TransportUnix || root != e.Root || name != e.Name {
		return nil
	}
	dir := e.EndpointDir
	// Race point: the parent is a 1777 directory other uids could write in
	// a real run; the mkdir below is done by the daemon's uid in a helper,
	// and it fails (EEXIST) rather than follows whatever was put there
	// after this check, which only spares a useless helper.
	if stat(dir).Exists {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.fsOp(ctx, e.r.daemonUID, plantOp{Op: "mkdir", Path: dir, Mode: 0o700}, "made the socket's directory for the daemon (--dir-created-by suite)"); err != nil {
		return fmt.Errorf("--dir-created-by suite: %w", err)
	}
	e.suiteDir = dir
	return nil
}

// leftBehindExempt is what inst.clean-shutdown does not count as left
// behind: the suite's own socket directory, and what the daemon wrote in
// its working directory (exceptWorkDir).
func (e *Env) leftBehindExempt(left []string) []string {
	left = exceptWorkDir(left)
	if e.suiteDir == "" {
		return left
	}
	rel, err := filepath.Rel(e.Parent, e.suiteDir)
	if err != nil {
		return left
	}
	return without(left, rel+" (")
}

// preflightHint says what to try after a failed preflight, from how the
// daemon ended and its output: a program not found (exit 127, the
// helper's or a shell's); a daemon that forked; a daemon that did not make
// its socket's directory and may expect it to exist (it is still running,
// or its output names the socket, its directory, or a failed bind).
func (e *Env) preflightHint(exited bool, code int, output string) string {
	t := e.r.cfg.Target
	switch {
	case t.Builtin:
		return ""
	case exited && code == 127:
		return "exit 127: the program, or a command its script runs, was not found; check the command's first word and the daemon's PATH"
	case !t.Forks && exited && code == 0:
		return "the daemon exited 0 before it was ready; if it forks into the background, add --forks (and --pidfile if it writes one)"
	case e.Transport == ipc.TransportUnix && t.DirCreatedBy != "suite" && !stat(e.EndpointDir).Exists &&
		(!exited || strings.Contains(output, e.EndpointDir) || strings.Contains(output, "bind")):
		return fmt.Sprintf("the socket's directory %s was never made; if the daemon expects it to exist, add --dir-created-by suite (the suite then makes it 0700 as the daemon's uid before each start)", e.EndpointDir)
	}
	return ""
}

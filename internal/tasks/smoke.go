package tasks

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/org/bh-ipc-check/ipc"
	"github.com/org/bh-ipc-check/matrix"
)

// Smoke builds the CLI, starts the reference daemon under umask 0 on the
// unix and the tcp transports, pings both, lists them, checks the modes,
// stops them with SIGTERM, checks nothing is left behind, and prints a
// short summary.
func Smoke(ctx context.Context, w io.Writer) error {
	if runtime.GOOS == "windows" {
		return errors.New("smoke: SIGTERM and modes are POSIX; on Windows run: bh-ipc-check run --scenarios 'tcp.*'")
	}
	t0 := time.Now()
	bin, err := Build(ctx, io.Discard)
	if err != nil {
		return err
	}
	built := time.Since(t0)
	root, err := os.MkdirTemp("", "bh-smoke-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	var lines []string
	var daemons []*smokeDaemon
	defer func() {
		for _, d := range daemons {
			d.cmd.Process.Kill()
			d.cmd.Wait()
		}
	}()
	for _, tr := range []ipc.Transport{ipc.TransportUnix, ipc.TransportTCP} {
		d, line, err := smokeEndpoint(ctx, bin, root, tr)
		if d != nil {
			daemons = append(daemons, d)
		}
		if err != nil {
			return err
		}
		lines = append(lines, line)
	}
	out, err := command(ctx, bin, "list", "--root", root, "--live").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "smoke-unix") || !strings.Contains(string(out), "smoke-tcp") {
		return fmt.Errorf("smoke: list --live: %v: %s", err, out)
	}
	lines = append(lines, "list: both endpoints live")
	for _, d := range daemons {
		t := time.Now()
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-d.done:
			if err != nil {
				return fmt.Errorf("smoke: %s after SIGTERM: %v", d.name, err)
			}
		case <-time.After(2 * time.Second):
			return fmt.Errorf("smoke: %s still running 2 s after SIGTERM", d.name)
		}
		lines = append(lines, fmt.Sprintf("%s: SIGTERM, exit 0 in %s", d.name, time.Since(t).Round(time.Millisecond)))
	}
	daemons = nil
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return fmt.Errorf("smoke: left behind in %s: %v", root, names)
	}
	fmt.Fprintf(w, "smoke: built %s in %s\n", bin, built.Round(time.Millisecond))
	for _, l := range lines {
		fmt.Fprintln(w, "smoke: "+l)
	}
	fmt.Fprintf(w, "smoke: nothing left behind; all good in %s\n", time.Since(t0).Round(time.Millisecond))
	return nil
}

// smokeEndpoint starts the daemon on transport tr in root, pings it and
// checks the modes of its directory and socket or port file; it returns
// the daemon (for the caller to stop, also with an error) and the line
// that says what was seen.
func smokeEndpoint(ctx context.Context, bin, root string, tr ipc.Transport) (*smokeDaemon, string, error) {
	name := "smoke-" + string(tr)
	d, err := startSmokeDaemon(ctx, bin, root, name, tr)
	if err != nil {
		return nil, "", err
	}
	out, err := command(ctx, bin, "ping", "--name", name, "--root", root, "--transport", string(tr)).CombinedOutput()
	if err != nil {
		return d, "", fmt.Errorf("smoke: ping %s: %v: %s", name, err, out)
	}
	lay, _ := ipc.Resolve(name, ipc.WithRoot(root), ipc.WithTransport(tr))
	checks := map[string]os.FileMode{lay.Dir: 0o700}
	if tr == ipc.TransportUnix {
		checks[lay.Sock] = 0o600
	} else {
		checks[lay.Port] = 0o600
	}
	var modes []string
	for p, want := range checks {
		fi, err := os.Lstat(p)
		if err != nil {
			return d, "", fmt.Errorf("smoke: %s: %w", p, err)
		}
		if got := fi.Mode().Perm(); got != want {
			return d, "", fmt.Errorf("smoke: %s has mode %04o, want %04o (daemon started under umask 000)", p, got, want)
		}
		modes = append(modes, fmt.Sprintf("%s %04o", filepath.Base(p), want))
	}
	return d, fmt.Sprintf("%-4s %s; %s", tr, strings.TrimSpace(string(out)), strings.Join(sortedStrings(modes), ", ")), nil
}

type smokeDaemon struct {
	name string
	cmd  *exec.Cmd
	done chan error
}

// startSmokeDaemon starts the daemon under umask 0 through the CLI's helper
// (which sets the umask of the daemon's process, not ours) and waits for
// its "listening" line.
func startSmokeDaemon(ctx context.Context, bin, root, name string, tr ipc.Transport) (*smokeDaemon, error) {
	arg, _ := json.Marshal(map[string]any{
		"umask": 0,
		"argv":  []string{bin, "daemon", "--name", name, "--root", root, "--transport", string(tr)},
		"env":   os.Environ(),
	})
	cmd := command(ctx, bin, matrix.HelperCommand, "exec")
	cmd.Stdin = bytes.NewReader(arg) // the exec spec travels on stdin, never in argv
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &smokeDaemon{name: name, cmd: cmd, done: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		first := true
		for sc.Scan() {
			if first {
				ready <- sc.Text()
				first = false
			}
		}
		if first {
			ready <- ""
		}
		d.done <- cmd.Wait()
	}()
	select {
	case l := <-ready:
		if !strings.Contains(l, "listening on") {
			cmd.Process.Kill()
			return nil, fmt.Errorf("smoke: %s did not start: %q", name, l)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		return nil, fmt.Errorf("smoke: %s did not start within 10 s", name)
	}
	return d, nil
}

func sortedStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

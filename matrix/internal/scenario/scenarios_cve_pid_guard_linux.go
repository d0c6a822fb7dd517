package scenario

// auth.pid-handoff's guards against the attacker uid ending its own
// programs early: the suite's probe of which setuid programs prompt, the
// connector's limits, and how an early end is judged.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/org/bh-ipc-check/matrix/internal/probe"
	"github.com/org/bh-ipc-check/matrix/internal/proc"
	"github.com/org/bh-ipc-check/matrix/internal/stage"
	"github.com/org/bh-ipc-check/matrix/internal/target"
)

func init() {
	stage.RegisterAction("setuid-probe", func(ctx context.Context, _ json.RawMessage) (any, error) {
		return runSetuidProbe(ctx), nil
	})
}

// setuidProbe is what the helper action "setuid-probe" saw of each
// setuid program found (FindSetuidBlockers), run by its uid with a pipe as
// stdin: a prompt (Prompted), an end without one, not by a signal, and
// what it said (NoPrompt), or neither (Other, and why).
type setuidProbe struct {
	Prompted []string          `json:"prompted,omitempty"`
	NoPrompt map[string]string `json:"no_prompt,omitempty"`
	Other    []string          `json:"other,omitempty"`
}

func runSetuidProbe(ctx context.Context) setuidProbe {
	p := setuidProbe{NoPrompt: map[string]string{}}
	found, _ := FindSetuidBlockers()
	for _, argv := range found {
		k, err := startPiped(exec.Command(argv[0], argv[1:]...))
		if err != nil {
			p.Other = append(p.Other, fmt.Sprintf("%s: %v", argv[0], err))
			continue
		}
		prompted, out, err := k.awaitPrompt(ctx)
		var sig syscall.Signal
		if !prompted && err == nil {
			sig = k.killedBy(2 * time.Second)
		}
		k.end() // killed before its stdin closes: no failed authentication
		switch {
		case prompted:
			p.Prompted = append(p.Prompted, argv[0])
		case err != nil:
			p.Other = append(p.Other, fmt.Sprintf("%s: %v", argv[0], err))
		case sig != 0:
			p.Other = append(p.Other, fmt.Sprintf("%s: killed by %s", argv[0], unix.SignalName(sig)))
		default:
			p.NoPrompt[argv[0]] = out
		}
	}
	return p
}

// setuidProbeBase is the first uid the suite may probe the setuid programs
// as: just under 2^31 (some programs take uid_t as signed), above login
// uids and the usual subordinate ranges.
const setuidProbeBase = 1<<31 - 64

// probeSetuid tells a which setuid programs prompt: the suite runs each
// (setuidProbe) as a uid with no live process and no passwd entry, the
// daemon's and the attacker's excepted, so no other process can end them
// early, and before the attack. The attacker uid can end its own programs
// (a signal: their real uid is its; a limit on the connector before the
// exec), and a host where none prompts is a skip: the probe keeps that
// uid from turning a fail into that skip. su prompts for a uid with no
// passwd entry; passwd, chfn, chsh and newgrp end at once ("Cannot
// determine your user name"), for the attacker uid too unless it has an
// entry.
func probeSetuid(ctx context.Context, e *stage.Env, a *pidHandoff) error {
	uid := -1
	for u := setuidProbeBase; u < setuidProbeBase+16 && uid < 0; u++ {
		if _, err := user.LookupId(strconv.Itoa(u)); err == nil || u == e.Runner.DaemonUID || u == e.Runner.AttackerUID || len(proc.ProcessesOf(u)) > 0 {
			continue
		}
		uid = u
	}
	if uid < 0 {
		return fmt.Errorf("no uid from %d to %d is free of processes and passwd entries", setuidProbeBase, setuidProbeBase+15)
	}
	var p setuidProbe
	if err := e.RunAs(ctx, uid, "setuid-probe", nil, &p); err != nil {
		return err
	}
	a.NoPrompt, a.Prompted = p.NoPrompt, p.Prompted
	a.Probe = fmt.Sprintf("as uid %d, which no other process had", uid)
	e.Note("the suite's probe as uid %d: prompted: %v; ended without a prompt: %v; neither: %v", uid, p.Prompted, slices.Sorted(maps.Keys(p.NoPrompt)), p.Other)
	return nil
}

// endedEarly judges the program of r, which ended before it served (why
// says how), started by k. Its uid can end it: kill it (its real uid is
// the attacker's), or limit the connector before its exec. So it is
// passed over (why is returned) only when the suite's own probe, as a uid
// no other process has, saw it end without a prompt too, and not by a
// signal; otherwise the attack was kept from being made: no verdict,
// never the skip of a host without such a program.
func (a pidHandoff) endedEarly(k *connector, r pidHandoffResult, why string) (pidHandoffResult, string) {
	if sig := k.killedBy(2 * time.Second); sig != 0 {
		r.Unsure = fmt.Sprintf("%s (pid %d) was killed by %s before it served: its real uid is uid %d's, which may signal it", r.Program, r.ConnPID, unix.SignalName(sig), os.Getuid())
		return r, ""
	}
	said, probed := a.NoPrompt[r.Program]
	if !probed {
		saw := "did not see it end without a prompt"
		if slices.Contains(a.Prompted, r.Program) {
			saw = "saw it prompt"
		}
		r.Unsure = fmt.Sprintf("%s %s, though the suite's probe (%s) %s: something of uid %d's (a limit on the connector, a signal) kept it from its prompt", r.Program, why, a.Probe, saw, os.Getuid())
		return r, ""
	}
	return r, fmt.Sprintf("%s; for the suite's probe (%s) it ended without a prompt too (%q)", why, a.Probe, target.OneLine(said, 120))
}

// rlimitResources are the resource limits the connector compares with the
// suite's before its exec: every one the program it becomes inherits.
var rlimitResources = map[int]string{unix.RLIMIT_AS: "RLIMIT_AS", unix.RLIMIT_CORE: "RLIMIT_CORE", unix.RLIMIT_CPU: "RLIMIT_CPU",
	unix.RLIMIT_DATA: "RLIMIT_DATA", unix.RLIMIT_FSIZE: "RLIMIT_FSIZE", unix.RLIMIT_LOCKS: "RLIMIT_LOCKS", unix.RLIMIT_MEMLOCK: "RLIMIT_MEMLOCK",
	unix.RLIMIT_MSGQUEUE: "RLIMIT_MSGQUEUE", unix.RLIMIT_NICE: "RLIMIT_NICE", unix.RLIMIT_NOFILE: "RLIMIT_NOFILE", unix.RLIMIT_NPROC: "RLIMIT_NPROC",
	unix.RLIMIT_RSS: "RLIMIT_RSS", unix.RLIMIT_RTPRIO: "RLIMIT_RTPRIO", unix.RLIMIT_RTTIME: "RLIMIT_RTTIME", unix.RLIMIT_SIGPENDING: "RLIMIT_SIGPENDING",
	unix.RLIMIT_STACK: "RLIMIT_STACK"}

// RlimitsNow are this process's resource limits (rlimitResources).
func RlimitsNow() []rlimitOf {
	var out []rlimitOf
	for _, res := range slices.Sorted(maps.Keys(rlimitResources)) {
		var rl unix.Rlimit
		if unix.Getrlimit(res, &rl) == nil {
			out = append(out, rlimitOf{Res: res, Cur: rl.Cur, Max: rl.Max})
		}
	}
	return out
}

// LoweredLimits says which of this process's limits are under ref's (the
// suite's), "" when none: another process of its uid lowered them
// (prlimit(2) needs no more than the same uid).
func LoweredLimits(ref []rlimitOf) string {
	var low []string
	for _, r := range ref {
		var rl unix.Rlimit
		if err := unix.Getrlimit(r.Res, &rl); err != nil {
			low = append(low, fmt.Sprintf("%s: %v", rlimitResources[r.Res], err))
		} else if rl.Cur < r.Cur || rl.Max < r.Max {
			low = append(low, fmt.Sprintf("%s is %d (hard %d), the suite's %d (hard %d)", rlimitResources[r.Res], rl.Cur, rl.Max, r.Cur, r.Max))
		}
	}
	return strings.Join(low, ", ")
}

// startPiped starts cmd with a pipe as its stdin (held open by k) and one
// for its output, and closes its ends of them and of cmd.ExtraFiles here
// at once: the end of file on its output (its exit), and on an extra
// control socket (its exec), come only once no one else holds them.
func startPiped(cmd *exec.Cmd) (*connector, error) {
	defer func() {
		for _, f := range cmd.ExtraFiles {
			f.Close()
		}
	}()
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, outW
	cmd.Env = probe.MinimalEnv()
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, err
	}
	k := &connector{cmd: cmd, stdin: inW, outR: outR, out: make(chan []byte, 16), waited: make(chan struct{})}
	go k.readOutput()
	return k, nil
}

// wait reaps the connector (once; later calls wait for the first).
func (k *connector) wait() {
	k.waitOnce.Do(func() {
		k.cmd.Wait()
		close(k.waited)
	})
}

// killedBy is the signal that ended the connector (the program it
// became), 0 when it exited on its own or had not ended within d. It
// reaps the connector: its pid is read no more after this.
func (k *connector) killedBy(d time.Duration) syscall.Signal {
	go k.wait()
	select {
	case <-k.waited:
	case <-time.After(d):
		return 0
	}
	if ws, ok := k.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal()
	}
	return 0
}

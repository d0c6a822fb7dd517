package stage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/org/bh-ipc-check/ipc"
	"github.com/org/bh-ipc-check/matrix/internal/probe"
	"github.com/org/bh-ipc-check/matrix/internal/target"
)

// PreflightError is a target that did not become ready in the preflight:
// started once in a clean root with the run's uid and umask, it did not
// answer a ping within Config.ReadyTimeout. No scenario runs after it.
type PreflightError struct {
	Argv      []string // the daemon's command line, placeholders expanded
	WaitedFor string   // what the suite waited for
	Limit     time.Duration
	Exited    bool // the daemon ended on its own
	ExitCode  int
	After     time.Duration   // how long after its start it ended (Exited)
	Output    string          // head and tail of its output
	Err       error           // the last thing that went wrong while waiting
	Hint      string          // what to try, when the suite can tell
	Protocol  target.Protocol // the target's protocol
}

func (e *PreflightError) Error() string {
	var b strings.Builder
	if e.Exited {
		fmt.Fprintf(&b, "preflight: the daemon exited with code %d%s, before it was ready; no scenario was run\n", e.ExitCode, e.after())
	} else if probe.BadPortFile(e.Err) {
		b.WriteString("preflight: the daemon's port file is not one the suite can read; no scenario was run\n")
	} else if nj := (*probe.NotJSONError)(nil); errors.As(e.Err, &nj) {
		fmt.Fprintf(&b, "preflight: the daemon's reply cannot be %s; no scenario was run\n", e.Protocol)
	} else {
		fmt.Fprintf(&b, "preflight: the target did not become ready within %s (--ready-timeout); no scenario was run\n", e.Limit)
	}
	fmt.Fprintf(&b, "  command:    %s\n", strings.Join(target.QuoteAll(e.Argv), " "))
	fmt.Fprintf(&b, "  waited for: %s\n", e.WaitedFor)
	if e.Exited {
		fmt.Fprintf(&b, "  daemon:     exited with code %d%s\n", e.ExitCode, e.after())
	} else {
		b.WriteString("  daemon:     still running when the suite gave up (killed)\n")
	}
	if e.Err != nil {
		// An error of several lines (errors.Join) stays under its label.
		fmt.Fprintf(&b, "  last error: %s\n", strings.ReplaceAll(strings.TrimRight(e.Err.Error(), "\n"), "\n", "\n              "))
	}
	out := e.Output
	if out == "" {
		out = "(no output)"
	}
	fmt.Fprintf(&b, "  output:\n%s", indent(out, "    "))
	if e.Hint != "" {
		fmt.Fprintf(&b, "  hint:       %s\n", e.Hint)
	}
	return strings.TrimRight(b.String(), "\n")
}

// after is " after 70ms" for a daemon whose run time is known.
func (e *PreflightError) after() string {
	if e.After <= 0 {
		return ""
	}
	return " after " + e.After.Round(time.Millisecond).String()
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// preflight starts the target once in a clean root (laid out like a
// scenario's) with the run's uid and umask, on its default transport, and
// waits for it to answer a ping within Config.ReadyTimeout. A target that
// never comes up costs this one start, not a start per scenario, and earns
// no verdicts: a "refused" in a scenario counts only for a daemon that
// passed this.
func (r *Runner) preflight(ctx context.Context) error {
	e, err := r.NewEnv(Scenario{ID: "preflight"}, 0)
	if err != nil {
		return fmt.Errorf("preflight: setting up: %w", err)
	}
	defer e.close()
	argv := r.Config.Target.Argv(r.exe, e.Root, e.Name, e.Transport)
	d, err := e.StartDaemon(e.Root, e.Name)
	if err != nil {
		return &PreflightError{Argv: argv, WaitedFor: e.waitedFor(), Limit: r.Config.ReadyTimeout, Exited: true, ExitCode: -1, Err: err}
	}
	t0 := time.Now()
	pid, err := e.WaitReadyWithin(ctx, d, e.Spec(), r.Config.ReadyTimeout)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		// Let the output of a daemon that just exited drain.
		d.Wait(100 * time.Millisecond)
		exited, code := d.Exited()
		var after time.Duration
		if exited {
			after = d.ended.Sub(d.started)
		}
		out := d.out.Excerpt(OutputHeadLines, OutputTailLines)
		if f := e.foreignEndpointDir(); f != "" {
			err = fmt.Errorf("%w; %s", err, f)
		}
		return &PreflightError{Argv: argv, WaitedFor: e.waitedFor(), Limit: r.Config.ReadyTimeout, Exited: exited, ExitCode: code, After: after,
			Output: out, Err: err, Hint: e.preflightHint(exited, code, out, err), Protocol: r.Config.Target.Protocol}
	}
	if r.Config.Progress != nil {
		fmt.Fprintf(r.Config.Progress, "bh-ipc-check: preflight: ready in %s (%s; waited for %s)\n", time.Since(t0).Round(time.Millisecond), e.WhoAnswered(pid), e.waitedFor())
	}
	return nil
}

// WhoAnswered says what made the daemon ready: pid when it is known, else
// the endpoint (no pid: --protocol connect or line over TCP, or off Linux).
func (e *Env) WhoAnswered(pid int) string {
	if pid > 0 {
		return fmt.Sprintf("pid %d answered", pid)
	}
	if e.Transport == ipc.TransportTCP {
		return "the port in the port file answered, its pid unknown"
	}
	return "the socket answered, its pid unknown"
}

// waitedFor says what WaitReady waits for in this env.
func (e *Env) waitedFor() string {
	where := "on the socket " + e.Sock
	if e.Transport == ipc.TransportTCP {
		where = "through the port file " + e.Port
	}
	return e.Runner.Config.Target.ProbeWhat() + " " + where
}

package scenario

// dir.squat-dos on an abstract socket name (issue 22, classes 5 and 6):
// an abstract name has no directory, owner or mode, so any uid of the
// network namespace that binds it first keeps the daemon from serving
// there, and nothing the daemon does can take it back.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/org/bh-ipc-check/matrix/internal/stage"
	"github.com/org/bh-ipc-check/matrix/internal/target"
)

func init() {
	stage.RegisterAction("hold-abstract", func(ctx context.Context, arg json.RawMessage) (any, error) {
		var a abstractHold
		if err := json.Unmarshal(arg, &a); err != nil {
			return nil, err
		}
		return a.hold(ctx), nil
	})
}

// abstractHold is the helper action "hold-abstract", run as the attacker:
// bind and listen on the abstract name Sock, then hold it (never
// accepting) until the helper is killed or its own deadline passes.
type abstractHold struct {
	Sock string `json:"sock"`
}

// abstractHoldResult is what became of the attempt; the helper returns it
// only when the bind failed (or its deadline passed): a hold in place is
// seen by the suite itself (stage.AbstractHolder).
type abstractHoldResult struct {
	Error string `json:"error,omitempty"`
	// Denied: the bind was refused (EACCES, EPERM: a security module's
	// rule), the squat turned away.
	Denied bool `json:"denied,omitempty"`
}

func (a abstractHold) hold(ctx context.Context) abstractHoldResult {
	if !target.IsAbstract(a.Sock) {
		return abstractHoldResult{Error: fmt.Sprintf("%s is not an abstract name", a.Sock)}
	}
	ln, err := net.Listen("unix", a.Sock)
	if err != nil {
		return abstractHoldResult{Error: err.Error(), Denied: errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)}
	}
	defer ln.Close()
	<-ctx.Done()
	return abstractHoldResult{Error: "held until the helper's deadline: " + ctx.Err().Error()}
}

// abstractHoldWait bounds the wait for the attacker's hold to be in
// place; past it the scenario ends with no verdict, never with one.
const abstractHoldWait = 10 * time.Second

// abstractSquat is the attacker's hold on the daemon's abstract name, in
// a helper process of its own that runs until release.
type abstractSquat struct {
	// HolderPID is the pid the kernel names as the listener on the name
	// (its uid checked to be the attacker's); 0 when the bind was denied.
	HolderPID int
	// Denied: the bind was refused (the error in Refusal).
	Denied  bool
	Refusal string
	stop    context.CancelFunc
	ended   chan abstractHoldEnd
}

type abstractHoldEnd struct {
	res abstractHoldResult
	err error
}

// squatAbstractName has the attacker bind and listen on sock as itself,
// and waits until the kernel names a process of the attacker's uid as its
// listener (a bind that was denied ends the wait too). The caller calls
// release when it is set; err is no verdict.
func squatAbstractName(ctx context.Context, e *stage.Env, sock string) (*abstractSquat, error) {
	hctx, stop := context.WithCancel(ctx)
	sq := &abstractSquat{stop: stop, ended: make(chan abstractHoldEnd, 1)}
	go func() {
		var r abstractHoldResult
		err := e.AsAttacker(hctx, "hold-abstract", abstractHold{Sock: sock}, &r)
		sq.ended <- abstractHoldEnd{r, err}
	}()
	deadline := time.Now().Add(abstractHoldWait)
	for {
		select {
		case end := <-sq.ended:
			sq.ended <- end // release reads it again
			switch {
			case end.err != nil:
				return sq, fmt.Errorf("uid %d's helper: %w", e.Runner.AttackerUID, end.err)
			case end.res.Denied:
				sq.Denied, sq.Refusal = true, end.res.Error
				return sq, nil
			}
			return sq, fmt.Errorf("uid %d could not bind %s: %s", e.Runner.AttackerUID, sock, end.res.Error)
		case <-time.After(20 * time.Millisecond):
		}
		// Race point: the name is checked by the kernel's word, the
		// listener's credentials (fixed at its listen()), never by what the
		// attacker's helper says.
		uid, pid, err := stage.AbstractHolder(sock)
		switch {
		case err == nil && uid == e.Runner.AttackerUID:
			sq.HolderPID = pid
			return sq, nil
		case err == nil:
			return sq, fmt.Errorf("%s is held by uid %d (pid %d), not by the attacker uid %d: another process took the name", sock, uid, pid, e.Runner.AttackerUID)
		case time.Now().After(deadline) || ctx.Err() != nil:
			return sq, fmt.Errorf("uid %d's hold on %s was not in place within %s: %v", e.Runner.AttackerUID, sock, abstractHoldWait, err)
		}
	}
}

// stillHeld reports, as an error, whether the attacker's helper no longer
// holds sock: it ended, or the kernel names another listener.
func (sq *abstractSquat) stillHeld(sock string, attackerUID int) error {
	select {
	case end := <-sq.ended:
		sq.ended <- end
		return fmt.Errorf("the attacker's helper ended (%v %s)", end.err, end.res.Error)
	default:
	}
	uid, pid, err := stage.AbstractHolder(sock)
	if err != nil {
		return err
	}
	if uid != attackerUID || pid != sq.HolderPID {
		return fmt.Errorf("%s is now held by uid %d pid %d, not the attacker's helper (uid %d pid %d)", sock, uid, pid, attackerUID, sq.HolderPID)
	}
	return nil
}

// release kills the attacker's helper and waits for it.
func (sq *abstractSquat) release() {
	sq.stop()
	<-sq.ended
}

// squatAbstract judges a daemon on an abstract name: the attacker binds
// and listens on it before the start and holds it. No daemon can serve at
// a name another process listens on, and the suite knows no other place
// its clients look, so a daemon that did not serve there fails; only a
// squat the kernel turned away (a security module denying the attacker's
// bind) leaves the daemon to be judged as serving. The attacker's socket
// is never taken for the daemon: nothing is asked of it, and the suite's
// clients believe only the daemon's peer credentials.
func squatAbstract(ctx context.Context, e *stage.Env) stage.Outcome {
	sq, err := squatAbstractName(ctx, e, e.Sock)
	defer sq.release()
	if err != nil {
		return stage.Errored("setup: %v", err)
	}
	if sq.Denied {
		e.Note("uid %d's bind of %s was refused: %s", e.Runner.AttackerUID, e.Sock, sq.Refusal)
		_, served, refusal, err := servedOrRefused(ctx, e)
		switch {
		case served:
			return stage.Pass("uid %d could not bind the abstract name %s first (%s); the daemon serves there", e.Runner.AttackerUID, e.Sock, sq.Refusal)
		case refusal != "":
			return stage.Errored("the squat was refused (%s), yet the daemon did not start: %s", sq.Refusal, refusal)
		}
		return stage.Errored("neither served nor refused clearly: %v", err)
	}
	held := fmt.Sprintf("uid %d bound and listens on the abstract name %s (pid %d) before the start", e.Runner.AttackerUID, e.Sock, sq.HolderPID)
	e.Note("%s", held)
	d, err := e.StartDaemon(e.Root, e.Name)
	if err != nil {
		return stage.Errored("start: %v", err)
	}
	did := abstractSquatEnd(ctx, e, d)
	if err := sq.stillHeld(e.Sock, e.Runner.AttackerUID); err != nil {
		// The daemon may have had the name for a while: nothing can be
		// said of what it met.
		return stage.Errored("the attacker's hold on %s did not last until the daemon's start was judged (%v): no verdict", e.Sock, err)
	}
	return stage.Fail("%s: an abstract name has no directory, owner or mode, so any uid in the network namespace can take it first; "+
		"the daemon could not serve where its clients look (%s). "+
		"A socket file in a per-user private directory is the fix ($XDG_RUNTIME_DIR, or a 0700 directory of the daemon's uid: no other uid can create the name there first)",
		held, did)
}

// abstractSquatEnd waits for the daemon d started on a squatted abstract
// name to end, up to the ready timeout, and says what it did: its exit
// and output, or that it still runs (and where it listens). It never
// pings: the name's listener is the attacker's.
func abstractSquatEnd(ctx context.Context, e *stage.Env, d *stage.Daemon) string {
	limit := e.Runner.Config.ReadyTimeout
	t0 := time.Now()
	exited, code := d.Wait(limit)
	// --forks: a first process that exited 0 may have left one that
	// tries on; it is waited for within the same limit.
	if exited && (code != 0 || !e.Runner.Config.Target.Forks || !e.DetachedAliveAfter(d, limit-time.Since(t0))) {
		return fmt.Sprintf("exit %d: %s", code, stage.CauseLine(d.Output()))
	}
	var paths []string
	for _, pid := range e.StartPIDs(d) {
		var ps []string
		if err := e.AsDaemonUID(ctx, "listening", pid, &ps); err == nil {
			paths = append(paths, ps...)
		}
	}
	where := "no socket"
	if len(paths) > 0 {
		where = strings.Join(paths, ", ")
	}
	e.Note("the daemon's processes listen on: %s", where)
	return fmt.Sprintf("still running after %s without the name, listening on %s; last output: %s", limit, where, stage.LastLine(d.Output()))
}

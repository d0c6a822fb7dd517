package stage

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/org/bh-ipc-check/ipc"
	"github.com/org/bh-ipc-check/matrix/internal/probe"
	"github.com/org/bh-ipc-check/matrix/internal/proc"
	"github.com/org/bh-ipc-check/matrix/internal/target"
)

// A daemon that neither answers nor closes a connection may be refusing
// it, or may never have taken it: one that serves N connections at once
// (socat's max-children, a small pool of workers) leaves the N+1st in its
// backlog, unanswered and refused by no one, and another local uid can
// hold the N slots to make the suite's request, or its own helper's, meet
// that silence. So a silence counts as a refusal only while the daemon is
// seen answering others: with the silent connection still open, the suite
// asks the daemon on a fresh connection as a client it serves.

// talker is a helper result holding what a request on a connection met:
// probe.ConnectResult and the results that embed it.
type talker interface{ TalkResult() *probe.ConnectResult }

// settleSilence judges a silence that r, what uid's helper met, reports
// (probe.HeldSilent): the helper handed that connection to the suite (side),
// which still holds it. It stays a refusal only when the daemon answers
// the suite meanwhile (AnsweringWhileHeld); otherwise r says why there is
// no verdict.
func (e *Env) settleSilence(ctx context.Context, uid int, r *probe.ConnectResult, side *helperSide) {
	if r.Refused != probe.HeldSilent {
		return
	}
	held := side.lastHeld()
	if held == nil {
		r.Refused = ""
		r.Error += "; the connection held silent was not handed to the suite, so whether the daemon was answering anyone then is unknown"
		return
	}
	why, ok := e.AnsweringWhileHeld(ctx, fmt.Sprintf("uid %d's", uid), held)
	if !ok {
		r.Refused = ""
		r.Error += "; " + why
		return
	}
	r.Refused = probe.HeldSilent + " (" + why + ")"
}

// AnsweringWhileHeld says whether the daemon answers while held, whose
// connection (who: "uid 1001's") got no reply, stays open: the suite
// pings as the daemon's uid on a fresh connection, in the target's
// protocol (bh-json with the token, --send judged by --expect), and the
// held connection must have got nothing before, nor by as long again as
// that ping took after it was answered. A backlog is served in order, so
// a daemon that answers the fresh connection had taken the held one
// first; one that then answers it too had queued it, not refused it.
// why says what was seen, for the verdict or for the error.
func (e *Env) AnsweringWhileHeld(ctx context.Context, who string, held net.Conn) (why string, ok bool) {
	if got, st := peekConn(held, 0); got != "" {
		return fmt.Sprintf("a reply came on %s connection after its deadline (%q): the daemon was slow, or the helper was kept from reading it", who, target.OneLine(got, 120)), false
	} else if st != "" {
		e.Note("%s connection, held silent: %s before the suite's own request", who, st)
	}
	t0 := time.Now()
	_, err := e.PingAsDaemon(ctx, e.Spec())
	took := time.Since(t0)
	if err != nil {
		return fmt.Sprintf("the daemon answered no one while %s connection was held: the suite's own request as uid %d (the daemon's) on a fresh connection got no answer either (%v); it was busy, or its connection slots were held by other processes%s",
			who, e.Runner.DaemonUID, err, e.slotHolders()), false
	}
	got, st := peekConn(held, max(took, 200*time.Millisecond))
	if got != "" {
		return fmt.Sprintf("once the daemon answered the suite's own request it answered %s connection too (%q): that connection had waited unaccepted, not been refused", who, target.OneLine(got, 120)), false
	}
	return fmt.Sprintf("meanwhile the daemon answered uid %d's request on a fresh connection, after %s; the held one %s", e.Runner.DaemonUID, took.Round(time.Millisecond), orStill(st)), true
}

func orStill(st string) string {
	if st == "" {
		return "stayed silent"
	}
	return "was then " + st
}

// slotHolders names the processes, other than the daemon uid's and the
// suite's, that hold connections to the daemon's endpoint now (Linux:
// /proc/net/tcp, sock_diag), for an error that says who may have kept
// the daemon busy; "" when none is seen.
func (e *Env) slotHolders() string {
	var hs []proc.Holder
	var err error
	if e.Transport == ipc.TransportTCP {
		var pf probe.BHPortFile
		if pf, err = e.ReadPortFile(); err == nil {
			hs, err = proc.ClientsOfTCP(pf.Port)
		}
	} else {
		hs, err = proc.ClientsOfUnix(e.Sock)
	}
	if err != nil {
		e.Note("who holds connections to the daemon: %v", err)
		return ""
	}
	byUID, conns := map[int][]string{}, map[int]int{}
	for _, h := range hs {
		if h.UID != e.Runner.DaemonUID && h.Pid != os.Getpid() {
			byUID[h.UID] = append(byUID[h.UID], h.String())
			conns[h.UID] += h.Conns
		}
	}
	if len(byUID) == 0 {
		return ""
	}
	var parts []string
	for _, uid := range slices.Sorted(maps.Keys(byUID)) {
		ps := byUID[uid]
		parts = append(parts, fmt.Sprintf("uid %d: %d connections (%s)", uid, conns[uid], strings.Join(ps[:min(len(ps), 8)], ", ")))
	}
	return "; connected to it now from other uids: " + strings.Join(parts, "; ")
}

// peekConn looks at what c, a connection held by the suite, got: the
// bytes waiting on it (left there), or how it ended (st: closed or reset
// by the daemon); both "" while it is silent. It looks until wait has
// passed or something came, and always once after.
func peekConn(c net.Conn, wait time.Duration) (got, st string) {
	c.SetReadDeadline(time.Time{}) // the deadline the exchange ended on
	end := time.Now().Add(wait)
	for {
		got, st = peekOnce(c)
		if got != "" || st != "" || !time.Now().Before(end) {
			return got, st
		}
		time.Sleep(10 * time.Millisecond)
	}
}

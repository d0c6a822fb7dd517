package scenario

import (
	"strings"

	"github.com/org/bh-ipc-check/matrix/internal/probe"
	"github.com/org/bh-ipc-check/matrix/internal/stage"
	"github.com/org/bh-ipc-check/matrix/internal/target"
)

// judgeTalk judges what a client that must get no reply (who: "uid
// 1001") met when it connected and pinged: an answer fails; a refusal
// passes; anything else is no verdict.
func judgeTalk(e *stage.Env, who string, r probe.ConnectResult) stage.Outcome {
	e.Note("%s: connected=%v %s error=%q", who, r.Connected, r.ReplyNote(), r.Error)
	if r.Talked {
		return stage.Fail("%s talked to the daemon (--protocol %s): %s", who, e.Runner.Config.Target.Protocol, r.Reply)
	}
	if strings.Contains(r.Reply, "pong") {
		return stage.Fail("%s got an answer: %s", who, target.QuoteClip([]byte(r.Reply), 120))
	}
	if e.Runner.Config.Target.Protocol == target.ProtocolExec {
		return judgeFailedProbe(e, who, r)
	}
	if r.Refused == "" {
		// Too many open files, no memory, a backlog full until the
		// deadline, a helper stopped while it waited: not the daemon's
		// doing (another uid can limit or stop its own helper).
		return stage.Errored("%s could not talk to the daemon, but not because it was refused: %s", who, orClosed(r))
	}
	if !r.Connected {
		return stage.Pass("%s could not connect: %s", who, r.Error)
	}
	if r.Sent != "" {
		return stage.Pass("%s connected and got %s", who, probe.SentRefusal(r.Sent, e.Runner.Config.Target.Expect, r.Refused))
	}
	return stage.Pass("%s connected but got no reply (%s)", who, orClosed(r))
}

// judgeFailedProbe judges the failed exec probe of who (the attacker) by
// what its plain connect met: a failed probe alone does not show that the
// daemon refused the uid, since a probe can fail before it reaches the
// daemon (psql: "local user with ID 1001 does not exist"). A connect
// refused, or closed by the daemon within probe.HeldOpen (as --protocol connect
// judges), is a refusal; a connection the daemon kept open leaves no
// verdict.
func judgeFailedProbe(e *stage.Env, who string, r probe.ConnectResult) stage.Outcome {
	e.Note("%s's plain connect (no bytes sent): %s", who, r.ConnectCheck)
	switch {
	case r.Held:
		return stage.Errored("the probe failed as %s (%s), but the daemon accepted that connection and kept it open %s: "+
			"the probe may have failed for reasons of its own (no passwd entry for the uid?), so whether the daemon refuses it is unknown; "+
			"give %s of a real user the probe works for, or make the probe work for any uid",
			who, target.OneLine(r.Error, 200), probe.HeldOpen, target.Hint("attacker-uid", "UID"))
	case !r.Connected:
		return stage.Pass("%s could not connect (%s); its probe failed: %s", who, r.ConnectCheck, target.OneLine(r.Error, 200))
	}
	return stage.Pass("%s's probe failed and the daemon did not keep its connection (%s): %s", who, r.ConnectCheck, target.OneLine(r.Error, 200))
}

func orClosed(r probe.ConnectResult) string {
	if r.Error == "" {
		return "closed"
	}
	return r.Error
}

// judgeAttackerTalk judges what the attacker's request over a connection made
// from (or as) from met: done with a fail when the daemon answered, or an
// error when something other than a refusal stopped it; not done when the
// daemon refused.
func judgeAttackerTalk(e *stage.Env, from string, r probe.ConnectResult) (o stage.Outcome, done bool) {
	if r.Talked {
		return stage.Fail("uid %d over %s talked to the daemon (--protocol %s): %s", e.Runner.AttackerUID, from, e.Runner.Config.Target.Protocol, r.Reply), true
	}
	if strings.Contains(r.Reply, "pong") || (r.Reply != "" && !strings.Contains(r.Reply, `"error"`)) {
		return stage.Fail("uid %d over %s got an answer: %s", e.Runner.AttackerUID, from, target.QuoteClip([]byte(r.Reply), 120)), true
	}
	if r.Reply == "" && r.Refused == "" {
		return stage.Errored("uid %d over %s could not talk to the daemon, but not because it was refused: %s", e.Runner.AttackerUID, from, orClosed(r)), true
	}
	return stage.Outcome{}, false
}

package scenario

// auth.pid-handoff (issue 22, class 2): authorization by pid, polkit's
// CVE-2013-4288. The attack itself is Linux's (scenarios_cve_pid_linux.go).

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/org/bh-ipc-check/ipc"
	"github.com/org/bh-ipc-check/matrix/internal/probe"
	"github.com/org/bh-ipc-check/matrix/internal/stage"
	"github.com/org/bh-ipc-check/matrix/internal/target"
)

// PIDHandoffID is the scenario's ID.
const PIDHandoffID = "auth.pid-handoff"

func init() {
	catalogue = append(catalogue, stage.Scenario{
		ID: PIDHandoffID, Title: "peer identity fixed at connect, not looked up by pid", Severity: target.Hardening,
		Platforms: []string{"linux"}, Needs: []stage.Need{stage.NeedOtherUID}, Transport: ipc.TransportUnix, Abstract: stage.AbstractToo,
		Checks: "with the socket chmod 0666 and its directory 0755 after start (an abstract name as it is), another uid connects, hands the connection to another process and execs a setuid-root program that blocks (so /proc/<pid> of the connecting process is root's); the other process's request on it gets no reply",
		Run:    authPidHandoff, Connector: true,
	})
	stage.RegisterChildMain(pidHandoffChild, pidHandoffChildMain)
	stage.RegisterAction("pid-handoff", func(ctx context.Context, arg json.RawMessage) (any, error) {
		var a pidHandoff
		if err := json.Unmarshal(arg, &a); err != nil {
			return nil, err
		}
		return a.run(ctx), nil
	})
}

// pidHandoffChild is the helper mode of the connector (HelperCommand
// pidHandoffChild), started by the attacker's own "pid-handoff" helper as
// the attacker's uid; HelperMain hands it to pidHandoffChildMain before
// it reads anything.
const pidHandoffChild = "pid-handoff-connect"

// pidHandoff is the helper action "pid-handoff", run as the attacker: a
// process of its own (the connector) connects to Spec's socket, hands the
// connection over and execs a setuid-root program that blocks; this
// helper then talks on the connection (pidHandoff.run, per platform).
type pidHandoff struct {
	Spec probe.Spec `json:"spec"`
	// Connector is the executable the connector runs (Runner.ConnectorExe).
	Connector string `json:"connector"`
	// NoPrompt are the programs the suite's own probe (setuidProbe) saw
	// end without a prompt, with what they said; Prompted those it saw
	// prompt; Probe says who probed. Only a program in NoPrompt may be
	// passed over when it ends early in the attack (endedEarly).
	NoPrompt map[string]string `json:"no_prompt,omitempty"`
	Prompted []string          `json:"prompted,omitempty"`
	Probe    string            `json:"probe,omitempty"`
	// Limits are the suite's resource limits, which the connector's must
	// not be under at its exec.
	Limits []rlimitOf `json:"limits,omitempty"`
}

// rlimitOf is one resource limit (getrlimit(2)).
type rlimitOf struct {
	Res int    `json:"res"`
	Cur uint64 `json:"cur"`
	Max uint64 `json:"max"`
}

// pidHandoffResult is what the attacker saw. The probe.ConnectResult is the
// request on the handed-over connection.
type pidHandoffResult struct {
	probe.ConnectResult
	// Program is the setuid-root program the connector became; ConnPID
	// the connector's pid (the one the daemon's SO_PEERCRED names) and
	// TalkPID the process that talked.
	Program string `json:"program,omitempty"`
	ConnPID int    `json:"conn_pid,omitempty"`
	TalkPID int    `json:"talk_pid,omitempty"`
	// Output is what the program printed (its password prompt).
	Output string `json:"output,omitempty"`
	// Tried: the programs not used, and why.
	Tried []string `json:"tried,omitempty"`
	// Skip: why the attack cannot be made here ("" when it was made).
	Skip string `json:"skip,omitempty"`
	// Unsure: the attack was made but the connector did not stay root's
	// and alive throughout the request, so the reply proves nothing.
	Unsure string `json:"unsure,omitempty"`
}

// authPidHandoff replays polkit's CVE-2013-4288: the peer's pid was taken
// at connect time and its uid read from /proc/<pid> later. A process that
// connects and then execs a setuid-root program keeps its pid, and
// /proc/<pid> becomes root's; the connection, handed to another process
// of the attacker's, then talks as "root". With the filesystem guards
// loosened (as auth.peercred does), only the daemon's peer check is left.
func authPidHandoff(ctx context.Context, e *stage.Env) stage.Outcome {
	sp, o, done := loosenedForAttacker(ctx, e, "hand to another process")
	if done {
		return o
	}
	// Which programs prompt is decided before the attack, out of the
	// attacker uid's reach: that uid can end its own programs early.
	a := pidHandoff{Spec: sp, Connector: e.Runner.ConnectorExe, Limits: RlimitsNow()}
	if err := probeSetuid(ctx, e, &a); err != nil {
		return stage.Errored("the suite's probe of the setuid programs: %v", err)
	}
	var r pidHandoffResult
	if err := e.AsAttacker(ctx, "pid-handoff", a, &r); err != nil {
		return stage.Errored("attacker helper: %v", err)
	}
	for _, t := range r.Tried {
		e.Note("not used: %s", t)
	}
	if r.Skip != "" {
		return stage.Skip("%s", r.Skip)
	}
	if r.Unsure == "" && !r.Connected && r.Refused != "" {
		// Refused at connect (as auth.peercred counts it): there was no
		// connection to hand over.
		e.Note("uid %d's connector (pid %d): %s", e.Runner.AttackerUID, r.ConnPID, r.Error)
		return stage.Pass("uid %d could not connect (%s), so had no connection to hand over", e.Runner.AttackerUID, r.Refused)
	}
	from := fmt.Sprintf("a connection made by pid %d, then running %s as root (/proc/%d owned by uid 0), handed to pid %d", r.ConnPID, r.Program, r.ConnPID, r.TalkPID)
	e.Note("%s; %s printed %q and waits for a password; reply=%q (%s)", from, r.Program, target.OneLine(r.Output, 120), target.OneLine(r.Reply, 120), r.Error)
	if r.Unsure != "" {
		return stage.Errored("no verdict: %s", r.Unsure)
	}
	if o, done := judgeAttackerTalk(e, from, r.ConnectResult); done {
		if o.Status == target.Fail {
			return pidHandoffAnswered(ctx, e, sp, from)
		}
		return o
	}
	var got string
	switch {
	case r.Sent != "":
		// A protocol's own refusal (D-Bus: "REJECTED EXTERNAL"): a reply,
		// but not the answer --expect describes.
		got = probe.SentRefusal(r.Sent, e.Runner.Config.Target.Expect, r.Refused)
	case r.Reply != "":
		got = "an error reply: " + strings.TrimSpace(target.OneLine(r.Reply, 80))
	default:
		got = "no reply (" + r.Refused + ")"
	}
	return stage.Pass("uid %d got %s over a connection whose connecting pid %d was running %s as root: the daemon judged the uid that connected", e.Runner.AttackerUID, got, r.ConnPID, r.Program)
}

// pidHandoffAnswered is the failure when the attacker's request over the
// handed-over connection (made from, as the evidence says) was answered.
// Whether the daemon authorizes by pid or has no peer check at all is
// told by a connection of the attacker's own, with no hand-over (as
// auth.peercred makes it): answered too, the daemon serves that uid over
// any connection; refused, it judged the connecting pid.
func pidHandoffAnswered(ctx context.Context, e *stage.Env, sp probe.Spec, from string) stage.Outcome {
	a := e.Runner.AttackerUID
	var plain probe.ConnectResult
	err := e.AsAttacker(ctx, "connect", sp, &plain)
	e.Note("uid %d's own connection, no hand-over: connected=%v reply=%q (%s; %v)", a, plain.Connected, target.OneLine(plain.Reply, 120), plain.Error, err)
	o, done := judgeAttackerTalk(e, "its own connection", plain)
	switch {
	case err == nil && done && o.Status == target.Fail:
		return stage.Fail("uid %d's request over %s was answered, as its own connection is (%s): the daemon has no peer check at all (auth.peercred's failure), so it serves uid %d over any connection, handed over or not",
			a, from, target.OneLine(cmp.Or(plain.Reply, "talked"), 80), a)
	case err == nil && !done:
		return stage.Fail("uid %d's request over %s was answered, while its own connection is refused (%s): the daemon authorizes by the connecting pid, read from /proc after the connect, not by the credentials fixed at connect (SO_PEERCRED's uid)",
			a, from, cmp.Or(plain.Refused, "an error reply"))
	}
	met := o.Reason
	if err != nil {
		met = err.Error()
	}
	return stage.Fail("uid %d's request over %s was answered: the daemon serves uid %d over any connection (no peer check, as auth.peercred shows) or authorizes by the connecting pid (its own connection, which would tell, met: %s)",
		a, from, a, met)
}

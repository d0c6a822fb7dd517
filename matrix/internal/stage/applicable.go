package stage

import (
	"fmt"

	"github.com/org/bh-ipc-check/ipc"
	"github.com/org/bh-ipc-check/matrix/internal/target"
)

// needsRequest are the scenarios that need the daemon to answer requests
// in bh-json, and why; they skip for the other protocols.
var needsRequest = map[string]string{
	"tcp.auth-required": "sends bh-json requests without a token and with a wrong one",
}

// needsAnswer are the scenarios --protocol connect cannot judge: a connect
// completes in the kernel's backlog whether or not the daemon serves.
var needsAnswer = map[string]string{
	"proto.idle-connections": "judges whether a new client is served while 500 connections idle",
}

// TargetSkip says why s cannot judge this external target (its protocol,
// its templates), with how to run it; "" if it can.
func (r *Runner) TargetSkip(s Scenario) string {
	t := r.Config.Target
	if t.Builtin {
		return ""
	}
	if why, ok := needsRequest[s.ID]; ok && !t.Protocol.SpeaksJSON() {
		return fmt.Sprintf("it %s; %s has no requests (run it against a bh-json or ipc daemon)", why, target.Hint("protocol", string(t.Protocol)))
	}
	if why, ok := needsAnswer[s.ID]; ok && t.Protocol == target.ProtocolConnect {
		return fmt.Sprintf("it %s, and a connect completes in the kernel's backlog whether or not the daemon serves; give %s or %s to run it", why, target.Hint("protocol", "line"), target.Hint("protocol", "exec"))
	}
	if s.ID == "path.name-validation" && !t.TakesName() {
		return fmt.Sprintf("no template (%s) contains {name}: the target takes no name, so there is none to validate", target.Hints("cmd", "env", "socket", "port-file", "probe", "pidfile"))
	}
	return ""
}

// notApplicable is the cause, shared by every scenario it holds for, why s
// cannot apply to this target whatever else its skip says
// (Result.NotApplicable): the target lacks s's transport, or its socket is
// not of the kind s judges (SocketKindMismatch). "" when s could apply.
func (r *Runner) notApplicable(s Scenario) string {
	if why := r.lacksTransport(s); why != "" {
		return why
	}
	return r.SocketKindMismatch(s)
}

// NoPIDReason says why the daemon that answers cannot be named here.
func NoPIDReason(e *Env) string {
	return fmt.Sprintf("%s names no pid and the kernel gives none on %s (SO_PEERCRED: Linux Unix sockets): which process answers cannot be told", target.Hint("protocol", string(e.Runner.Config.Target.Protocol)), e.Transport)
}

// SocketKindMismatch says why s cannot apply to this target because of
// the kind of socket it has (an abstract name, a file; Scenario.Abstract),
// the cause shared by every scenario it holds for (Result.NotApplicable);
// "" when it can.
func (r *Runner) SocketKindMismatch(s Scenario) string {
	t := r.Config.Target
	switch {
	case s.Abstract == AbstractOnly && t.Builtin:
		return "the builtin (ipc) serves a socket file in a private directory, never an abstract name, which no mode or directory can make private (see docs/scenarios/auth.abstract-mount-ns.md)"
	case s.Abstract == AbstractOnly && !target.IsAbstract(t.Socket):
		return fmt.Sprintf("applies to an abstract socket (%s) only: a socket file is reached from another mount namespace only where its directory is mounted", target.Hint("socket", "@NAME"))
	case s.Abstract == AbstractDefault && s.Transport == ipc.TransportUnix && t.AbstractTarget():
		return "the target's socket is an abstract name, which has no file, owner, mode or directory to judge"
	}
	return ""
}

// lacksTransport says that the target lacks s's transport, and how to
// give it one; "" when it has it. The same words are the skip's reason
// (SkipReason) and its cause in the summary (notApplicable).
func (r *Runner) lacksTransport(s Scenario) string {
	tr := r.transport(s)
	if r.Config.Target.Supports(tr) {
		return ""
	}
	flag := target.Hint("socket", "TEMPLATE")
	if tr == ipc.TransportTCP {
		flag = target.Hint("port-file", "TEMPLATE")
	}
	return fmt.Sprintf("the target has no %s transport; give %s to run it", tr, flag)
}

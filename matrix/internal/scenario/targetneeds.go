package scenario

import (
	"fmt"

	"github.com/org/bh-ipc-check/matrix/internal/target"
)

// What a scenario needs of an external target beyond its transport
// (Scenario.TargetSkip): each says why the scenario cannot judge the
// target, with how to run it, or "" when it can.

// needsRequest: the scenario sends bh-json requests (why says which); the
// other protocols have none.
func needsRequest(why string) func(target.Target) string {
	return func(t target.Target) string {
		if t.Protocol.SpeaksJSON() {
			return ""
		}
		return fmt.Sprintf("it %s; %s has no requests (run it against a bh-json or ipc daemon)", why, target.Hint("protocol", string(t.Protocol)))
	}
}

// needsAnswer: the scenario judges whether the daemon answers (why says
// what), which --protocol connect cannot tell: a connect completes in the
// kernel's backlog whether or not the daemon serves.
func needsAnswer(why string) func(target.Target) string {
	return func(t target.Target) string {
		if t.Protocol != target.ProtocolConnect {
			return ""
		}
		return fmt.Sprintf("it %s, and a connect completes in the kernel's backlog whether or not the daemon serves; give %s or %s to run it", why, target.Hint("protocol", "line"), target.Hint("protocol", "exec"))
	}
}

// needsName: the scenario gives the daemon names to validate, through a
// template's {name}.
func needsName(t target.Target) string {
	if t.TakesName() {
		return ""
	}
	return fmt.Sprintf("no template (%s) contains {name}: the target takes no name, so there is none to validate", target.Hints("cmd", "env", "socket", "port-file", "probe", "pidfile"))
}

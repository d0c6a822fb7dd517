package stage

import (
	"context"

	"github.com/org/bh-ipc-check/ipc"
	"github.com/org/bh-ipc-check/matrix/internal/target"
)

// Need is a precondition of a scenario.
type Need string

const (
	// NeedOtherUID: the suite acts as another uid (it must be root).
	NeedOtherUID Need = "other-uid"
	// NeedMountNS: the suite connects from another mount namespace
	// (unshare(CLONE_NEWNS) needs CAP_SYS_ADMIN: it must be root).
	NeedMountNS Need = "mount-ns"
)

// Scenario is one attack or failure case, judged from outside the daemon.
type Scenario struct {
	ID       string          `json:"id"`
	Title    string          `json:"title"`
	Severity target.Severity `json:"severity"`
	// Platforms the scenario runs on (GOOS values); empty: all.
	Platforms []string `json:"platforms,omitempty"`
	Needs     []Need   `json:"needs,omitempty"`
	// Transport the daemon is started with; empty: the target's own
	// (Target.DefaultTransport), for scenarios that hold on either.
	Transport ipc.Transport `json:"transport,omitempty"`
	// BuiltinOnly: not applicable to external targets.
	BuiltinOnly bool `json:"builtin_only,omitempty"`
	// Abstract says whether the scenario applies to a target whose socket
	// is a Linux abstract name (--socket @NAME): see AbstractUse.
	Abstract AbstractUse `json:"abstract,omitempty"`
	// Checks says what passes, in a sentence.
	Checks string `json:"checks"`

	Run func(ctx context.Context, e *Env) Outcome `json:"-"`
	// TargetSkip, when set, says why the scenario cannot judge an
	// external target (its protocol, its templates: what it needs beyond
	// its transport), with how to run it; "" when it can.
	TargetSkip func(t target.Target) string `json:"-"`
	// Connector: the attacker runs a connector of its own from a copy of
	// the executable it may run but not read (auth.pid-handoff; see
	// Runner.ConnectorExe).
	Connector bool `json:"-"`
}

// AbstractUse is how a scenario meets a target whose socket is a Linux
// abstract name ('@' first: --socket @NAME). Such a socket has no file,
// owner, mode or directory: the kernel looks the name up in the network
// namespace, so every process sharing the daemon's network namespace
// reaches it, whatever its uid and whatever its mount namespace.
type AbstractUse string

const (
	// AbstractDefault: a scenario on the unix transport judges the
	// socket's file, its directory or its mode, and does not apply (a
	// not-applicable skip); a transport-neutral one runs, since it judges
	// only what the daemon answers and does.
	AbstractDefault AbstractUse = ""
	// AbstractToo: a scenario on the unix transport that judges only who
	// may talk, or what a second start does: it runs.
	AbstractToo AbstractUse = "too"
	// AbstractOnly: the scenario applies to abstract sockets alone.
	AbstractOnly AbstractUse = "only"
)

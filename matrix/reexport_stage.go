package matrix

import (
	"github.com/org/bh-ipc-check/matrix/internal/stage"
)

// What moved to package stage (matrix/internal/stage) keeps its name here:
// the public face of package matrix does not change with the cut.

type (
	// Env is one scenario's world: a fresh parent directory (mode 1777, like
	// /tmp) holding the root, the daemons started in it, and the evidence
	// gathered.
	Env = stage.Env
	// PreflightError is a target that did not become ready in the preflight:
	// started once in a clean root with the run's uid and umask, it did not
	// answer a ping within Config.ReadyTimeout.
	PreflightError = stage.PreflightError
	// Config is one run of the suite.
	Config = stage.Config
	// Runner runs scenarios for one Config.
	Runner = stage.Runner
	// Need is a precondition of a scenario.
	Need = stage.Need
	// Scenario is one attack or failure case, judged from outside the daemon.
	Scenario = stage.Scenario
	// AbstractUse is how a scenario meets a target whose socket is a Linux
	// abstract name ('@' first: --socket @NAME).
	AbstractUse = stage.AbstractUse
)

const (
	// HelperCommand is the hidden CLI command that runs one helper action in a
	// separate process: bh-ipc-check __helper ACTION, with the JSON argument
	// on stdin (never in argv, which every uid can read).
	HelperCommand = stage.HelperCommand
	// DefaultAttackerUID is the uid the suite acts as when it is root and no
	// --attacker-uid is given.
	DefaultAttackerUID = stage.DefaultAttackerUID
	// DefaultName is the endpoint name the suite starts daemons with.
	DefaultName = stage.DefaultName
	// DefaultScenarioTimeout bounds one scenario.
	DefaultScenarioTimeout = stage.DefaultScenarioTimeout
	// DefaultReadyTimeout bounds how long a daemon may take to answer its
	// first ping, in the preflight and in every scenario.
	DefaultReadyTimeout = stage.DefaultReadyTimeout
	// MaxID is the largest gid the suite accepts for the attacker.
	MaxID = stage.MaxID
	// NeedOtherUID: the suite acts as another uid (it must be root).
	NeedOtherUID = stage.NeedOtherUID
	// NeedMountNS: the suite connects from another mount namespace
	// (unshare(CLONE_NEWNS) needs CAP_SYS_ADMIN: it must be root).
	NeedMountNS = stage.NeedMountNS
	// AbstractDefault: a scenario on the unix transport judges the socket's
	// file, its directory or its mode, and does not apply (a not-applicable
	// skip); a transport-neutral one runs, since it judges only what the
	// daemon answers and does.
	AbstractDefault = stage.AbstractDefault
	// AbstractToo: a scenario on the unix transport that judges only who may
	// talk, or what a second start does: it runs.
	AbstractToo = stage.AbstractToo
	// AbstractOnly: the scenario applies to abstract sockets alone.
	AbstractOnly = stage.AbstractOnly
)

// MinScenarioTimeout and MinReadyTimeout are the least --timeout and
// --ready-timeout the CLI accepts: below them no daemon can start, and
// every scenario would end as an error.
const (
	MinScenarioTimeout = stage.MinScenarioTimeout
	MinReadyTimeout    = stage.MinReadyTimeout
)

// HelperMain runs a helper action and returns the exit code.
func HelperMain(args []string) int { return stage.HelperMain(args) }

// Package stage is where a scenario plays: the run (Runner: its
// configuration, its run directory, the uids it acts as), the scenario's
// world (Env: its directories and roots, what is planted in them, the
// daemon it starts and every process of that start, the signals it sends,
// the watches it keeps), the helper processes that act as other uids (the
// mechanism, helper*.go, and the actions they run: plant, start, ping),
// and how one scenario becomes its Result (verdict.go: whether it applies,
// its body's outcome, then the plants checked again, an interruption or a
// timeout, an impostor met on the way).
//
// It sits below the catalogue (matrix/internal/scenario), which is a list
// of bodies written against Env, and above the probe and target packages,
// which it drives. It names no scenario: a scenario brings what it needs
// (its helper actions and helper modes, registered from its file's init;
// what it needs of an external target, Scenario.TargetSkip; a connector's
// copy of the executable, Scenario.Connector). A scenario acts as another
// uid through Env.RunAs alone.
package stage

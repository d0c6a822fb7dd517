// Package stage is where a scenario plays: the run (Runner: its
// configuration, its run directory, the uids it acts as), the scenario's
// world (Env: its directories and roots, what is planted in them, the
// daemon it starts and every process of that start, the signals it sends,
// the watches it keeps), the helper actions other uids' processes run,
// and how one scenario's outcome becomes its Result (verdict.go: the
// scenario's own outcome, then the run's overrides: a timeout, an
// interruption, a panic, an impostor met on the way).
//
// It sits below the catalogue (matrix/internal/scenario), which is a list
// of bodies written against Env, and above the helper, probe and target
// layers, which it drives. It names no scenario: a scenario brings what
// it needs (its helper actions, registered from its file's init; a
// connector's copy of the executable, Scenario.Connector).
package stage

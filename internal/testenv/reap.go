package testenv

import (
	"fmt"
	"os"
	"testing"
)

// reapEnv carries the test binary's reap token: every process the test
// binary starts inherits it (builds, act and its jobs, Wine programs and
// the wineserver one of them spawns, daemons), unless it clears its
// environment. A process whose reapEnv holds another value is not this
// binary's: another test binary's (with a reaper of its own), or one
// started on purpose to outlive the test (BH_TEST_REAP=detached).
const reapEnv = "BH_TEST_REAP"

// reaperEnv, set only in the reaper's environment, names the test binary
// it watches and its token: "<pid>:<token>".
const reaperEnv = "BH_TEST_REAPER"

// Reap makes sure no process this test binary started outlives it, however
// it ends: its tests returning, go test's -timeout panic, a SIGKILL, a
// crash. Call it first in TestMain, before anything starts a process.
//
// On Linux it starts a watcher, the reaper: this test binary run again,
// in a session of its own, holding the read end of a pipe whose write end
// only this process holds (close-on-exec, so no child inherits it). When
// this process ends for any reason the pipe reads EOF, and the reaper
// stops (SIGTERM, then SIGKILL after a grace) every process that carries
// this binary's token in its environment (reapEnv), and every process it
// saw below this one (it looks once a second, so a descendant that cleared
// its environment is found too, once it has lived through a look), with
// whatever is below those; then it says on stderr what it stopped, and
// exits.
//
// In a process that already carries a token (a helper the tests start by
// running the test binary again, or a test binary run by a test), Reap
// does nothing: the first binary's reaper covers it. On other systems it
// does nothing (the tests there end what they start in their cleanups).
// When the reaper cannot start, Reap says so on stderr and the tests run
// without it.
func Reap() {
	if v := os.Getenv(reaperEnv); v != "" {
		os.Exit(runReaper(v))
	}
	if os.Getenv(reapEnv) != "" {
		return
	}
	if err := startReaper(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: no reaper for this test binary (processes a killed test started may outlive it): %v\n", err)
	}
}

// Main is TestMain for a package whose tests start processes and need
// nothing else there: Reap, then the tests.
func Main(m *testing.M) {
	Reap()
	os.Exit(m.Run())
}

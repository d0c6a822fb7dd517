package matrix

import (
	"testing"

	"github.com/org/bh-ipc-check/internal/testenv"
)

// The suite's TMPDIR-dependent tests pass again under the macOS job's
// conditions (testenv.MacTMPDIR): as root with sudo's environment and a
// 49-byte TMPDIR of another uid, 0755, reached through a symlink; the run
// directory goes to /tmp (that TMPDIR is another uid's: fsx.HeldByUs),
// and the daemons and attackers run as other uids from there.
func TestMacOSRunnerConditions(t *testing.T) {
	testenv.RerunUnderMacConditions(t, "^(TestBuiltinPassesEverything|TestRunDirOutsideUnreachableTMPDIR|TestScenarioDirectoriesAreSticky|TestFallbackPlantNotThroughLink|TestRunRefusesBadConfig|TestDarwinSocketPaths)$")
}

package proc

import (
	"os"
	"testing"

	"github.com/org/bh-ipc-check/internal/testenv"
)

// TestMain: no process a test starts outlives this test binary, however
// it ends (testenv.Reap).
func TestMain(m *testing.M) {
	testenv.Reap()
	os.Exit(m.Run())
}

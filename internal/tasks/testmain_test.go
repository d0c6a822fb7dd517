package tasks

import (
	"testing"

	"github.com/org/bh-ipc-check/internal/testenv"
)

// TestMain: no process a test starts outlives this test binary, however
// it ends.
func TestMain(m *testing.M) { testenv.Main(m) }

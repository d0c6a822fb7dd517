package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/org/bh-ipc-check/internal/testenv"
)

// TestMain: no process a test starts outlives this test binary, however
// it ends (testenv.Reap).
func TestMain(m *testing.M) {
	testenv.Reap()
	code := m.Run()
	if cli.bin != "" {
		os.RemoveAll(filepath.Dir(cli.bin))
	}
	os.Exit(code)
}

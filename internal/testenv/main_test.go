package testenv

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	Reap()
	os.Exit(m.Run())
}

package ipc

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Point 12: the code vets clean for the other platforms it supports.
func TestCrossVet(t *testing.T) {
	if testing.Short() {
		t.Skip("cross vet compiles the module twice; run without -short (go tool mage test:cross)")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go toolchain on PATH to vet with (%v); run: GOOS=darwin go vet ./... && GOOS=windows go vet ./...", err)
	}
	out, err := exec.Command(goBin, "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Skipf("not inside the module (%v)", err)
	}
	modRoot := filepath.Dir(strings.TrimSpace(string(out)))
	for _, goos := range []string{"darwin", "windows", "linux"} {
		t.Run(goos, func(t *testing.T) {
			cmd := exec.Command(goBin, "vet", "./...")
			cmd.Dir = modRoot
			cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64", "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("GOOS=%s go vet ./...: %v\n%s", goos, err, out)
			}
		})
	}
}

//go:build unix

package fsx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSearchableByAndTempDirFor(t *testing.T) {
	base, err := os.MkdirTemp("/tmp", "fsx")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	priv := filepath.Join(base, "priv")
	if err := os.Mkdir(priv, 0o700); err != nil {
		t.Fatal(err)
	}
	inner := filepath.Join(priv, "inner")
	if err := os.Mkdir(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	const other = 1001
	if err := SearchableBy(inner, other, other); err == nil || !strings.Contains(err.Error(), priv+" (mode 0700") {
		t.Errorf("SearchableBy(%s) for uid %d under a 0700 dir: %v, want an error naming %s", inner, other, err, priv)
	}
	if err := SearchableBy(inner, os.Geteuid(), os.Getegid()); err != nil {
		t.Errorf("the owner cannot search its own 0700 dir: %v", err)
	}
	t.Setenv("TMPDIR", inner)
	if got, err := TempDirFor(other); got != "/tmp" || err != nil {
		t.Errorf("TempDirFor(%d) with TMPDIR under a 0700 dir: %q %v, want /tmp", other, got, err)
	}
	if err := os.Chmod(priv, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := SearchableBy(inner, other, other); err != nil {
		t.Errorf("SearchableBy through a 0711 dir: %v", err)
	}
	if got, err := TempDirFor(other); got != inner || err != nil {
		t.Errorf("TempDirFor(%d) with a reachable TMPDIR: %q %v, want %s", other, got, err, inner)
	}
}

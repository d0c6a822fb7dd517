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

// A $TMPDIR another uid owns, or one under a directory other uids may
// write, is not used: its owner could swap a directory of the run's path
// for its own (renameat2 RENAME_EXCHANGE) while root runs helpers by path
// there. The run goes to /tmp instead, resolved.
func TestTempDirForRefusesAPathAnotherUIDControls(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chowns a directory to another uid; run as root: sudo go test ./internal/fsx (CI runs as root)")
	}
	base, err := os.MkdirTemp("/tmp", "fsx")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	const other = 3001
	owned := filepath.Join(base, "owned")
	loose := filepath.Join(base, "loose", "inner")
	for _, d := range []string{owned, loose} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(owned, other, other); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(loose), 0o777); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink("owned", link); err != nil {
		t.Fatal(err)
	}
	tmp, err := filepath.EvalSymlinks("/tmp")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ dir, why string }{
		{owned, "is owned by uid 3001"},
		{loose, "is writable by other uids"},
		{link, "is owned by uid 3001"},
	} {
		if _, err := HeldByUs(c.dir); err == nil || !strings.Contains(err.Error(), c.why) {
			t.Errorf("HeldByUs(%s): %v, want an error saying it %s", c.dir, err, c.why)
		}
		t.Setenv("TMPDIR", c.dir)
		if got, err := TempDirFor(other); got != tmp || err != nil {
			t.Errorf("TempDirFor with TMPDIR=%s: %q %v, want %s", c.dir, got, err, tmp)
		}
	}
	if got, err := HeldByUs(base); got != base || err != nil {
		t.Errorf("HeldByUs(%s), a 0755 directory of root's under /tmp: %q %v", base, got, err)
	}
}

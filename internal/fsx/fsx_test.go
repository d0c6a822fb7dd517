package fsx

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRemoveTree(t *testing.T) {
	d, err := os.MkdirTemp("", "fsx")
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(d, "a", "b", "c"), 0o755)
	os.WriteFile(filepath.Join(d, "a", "f"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(d, "a", "b", "g"), []byte("y"), 0o600)
	os.Symlink(filepath.Join(d, "a"), filepath.Join(d, "link")) // not followed
	if err := RemoveTree(d); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(d); !os.IsNotExist(err) {
		t.Errorf("%s still exists: %v", d, err)
	}
	if err := RemoveTree(d); err != nil {
		t.Errorf("removing a missing tree: %v", err)
	}
}

//go:build !windows

package fsx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// An attacker who can write inside the tree swaps a directory for a
// symlink to a directory outside it while the tree is being removed. The
// removal must unlink the link, never what it points to.
//
// The swap is timed for a remover that walks first and removes by path
// later: it happens as soon as the first file of the large directory "b"
// is gone, after any walk and before "a" is emptied (entries are removed
// deepest and last-listed first).
func TestRemoveTreeDoesNotFollowASwappedDirectory(t *testing.T) {
	const victims, filler = 8, 400
	for try := 0; try < 5; try++ {
		base, err := os.MkdirTemp("", "fsx-race")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(base) })
		tree, outside := filepath.Join(base, "tree"), filepath.Join(base, "outside")
		for _, d := range []string{filepath.Join(tree, "a"), filepath.Join(tree, "b"), outside} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for i := range victims {
			name := fmt.Sprintf("victim-%d", i)
			for _, d := range []string{filepath.Join(tree, "a"), outside} {
				if err := os.WriteFile(filepath.Join(d, name), []byte("keep"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i := range filler {
			if err := os.WriteFile(filepath.Join(tree, "b", fmt.Sprintf("f-%04d", i)), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		trigger := filepath.Join(tree, "b", fmt.Sprintf("f-%04d", filler-1))
		swapped := make(chan error, 1)
		go func() {
			deadline := time.Now().Add(10 * time.Second)
			for {
				if _, err := os.Lstat(trigger); errors.Is(err, os.ErrNotExist) {
					break
				}
				if time.Now().After(deadline) {
					swapped <- fmt.Errorf("%s never went away", trigger)
					return
				}
			}
			a := filepath.Join(tree, "a")
			if err := os.Rename(a, filepath.Join(base, "a-moved")); err != nil {
				swapped <- fmt.Errorf("swap: %w", err) // removed already: nothing to race
				return
			}
			swapped <- os.Symlink(outside, a)
		}()
		rmErr := RemoveTree(tree)
		serr := <-swapped
		t.Logf("try %d: swap: %v; RemoveTree: %v", try, serr, rmErr)
		for i := range victims {
			p := filepath.Join(outside, fmt.Sprintf("victim-%d", i))
			if _, err := os.Lstat(p); err != nil {
				t.Fatalf("try %d: %s outside the tree was removed through the swapped-in symlink: %v", try, p, err)
			}
		}
	}
}

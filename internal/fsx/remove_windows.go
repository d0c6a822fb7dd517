package fsx

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// removeTree walks dir, then removes the entries deepest first with
// os.Remove: under Wine os.RemoveAll fails ("Invalid function") while these
// calls work. It resolves paths, so it is only for trees no other user can
// write (on Windows the suite acts as a single user).
func removeTree(dir string) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		return err
	}
	var errs []error
	for i := len(paths) - 1; i >= 0; i-- {
		if err := os.Remove(paths[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Package fsx holds small filesystem helpers shared by the suite and the
// tests.
package fsx

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// RemoveTree removes dir and everything in it, deepest entries first, with
// os.Remove. It does what os.RemoveAll does, but through ordinary listing
// and removal calls: under Wine, os.RemoveAll fails ("Invalid function")
// while these work. A missing dir is not an error.
func RemoveTree(dir string) error {
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

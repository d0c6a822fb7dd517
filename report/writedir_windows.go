package report

import (
	"os"
	"path/filepath"
)

// writeReportFiles makes dir and writes each file into it (Windows: one
// user's directories; the paths are used as they are).
func writeReportFiles(dir string, names []string, files map[string][]byte) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var written []string
	for _, name := range names {
		p := filepath.Join(dir, name)
		if err := writeFileAtomic(p, files[name]); err != nil {
			return written, err
		}
		written = append(written, p)
	}
	return written, nil
}

// writeFileAtomic writes through a temporary file and a rename, so a
// reader (or an interrupted run) never leaves half a report.
func writeFileAtomic(p string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), p)
}

//go:build unix

package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Root writes reports only through directories no other uid can change
// (issue 24, attack 3: a symlink at --report-dir, or in a parent another
// user owns, made root write its reports at the link's target). Each case
// lays out what uid 31337 could have made beforehand.
func TestWriteDirRefusesAnotherUIDsPath(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the layouts hold entries of another uid; run: sudo go test ./report -run TestWriteDir")
	}
	const other = 31337
	t.Setenv("SUDO_UID", "") // no user trusted beside root
	m := NewMatrix(Report{})
	for _, c := range []struct {
		name string
		// lay makes the layout under base (0755, root's) and returns the
		// --report-dir to use and the directory the attacker wants written.
		lay  func(t *testing.T, base string) (dir, victim string)
		want string // "" = written; else the error must say this
	}{
		{"the report dir is another uid's symlink in a sticky dir", func(t *testing.T, base string) (string, string) {
			tmp := mkdir(t, filepath.Join(base, "tmp"), 0o777|os.ModeSticky, 0)
			victim := mkdir(t, filepath.Join(base, "victim"), 0o755, 0)
			symlink(t, victim, filepath.Join(tmp, "reports"), other)
			return filepath.Join(tmp, "reports"), victim
		}, "symlink of uid 31337"},
		{"a parent is another uid's symlink", func(t *testing.T, base string) (string, string) {
			home := mkdir(t, filepath.Join(base, "home"), 0o755, other)
			victim := mkdir(t, filepath.Join(base, "victim"), 0o755, 0)
			symlink(t, victim, filepath.Join(home, "ci"), other)
			return filepath.Join(home, "ci", "reports"), victim
		}, "belongs to uid 31337"},
		{"a parent belongs to another uid", func(t *testing.T, base string) (string, string) {
			home := mkdir(t, filepath.Join(base, "home"), 0o755, other)
			return filepath.Join(home, "reports"), ""
		}, "belongs to uid 31337"},
		{"a parent others can write, not sticky", func(t *testing.T, base string) (string, string) {
			open := mkdir(t, filepath.Join(base, "open"), 0o777, 0)
			return filepath.Join(open, "reports"), ""
		}, "not sticky"},
		{"another uid's directory in a sticky dir", func(t *testing.T, base string) (string, string) {
			tmp := mkdir(t, filepath.Join(base, "tmp"), 0o777|os.ModeSticky, 0)
			mkdir(t, filepath.Join(tmp, "reports"), 0o777, other)
			return filepath.Join(tmp, "reports"), ""
		}, "belongs to uid 31337"},
		{"the -rerun hint's path, another uid's symlink", func(t *testing.T, base string) (string, string) {
			tmp := mkdir(t, filepath.Join(base, "tmp"), 0o777|os.ModeSticky, 0)
			mkdir(t, filepath.Join(tmp, "reports"), 0o755, 0)
			victim := mkdir(t, filepath.Join(base, "victim"), 0o755, 0)
			symlink(t, victim, filepath.Join(tmp, "reports-rerun"), other)
			return filepath.Join(tmp, "reports-rerun"), victim
		}, "symlink of uid 31337"},
		{"a parent of the user who ran sudo", func(t *testing.T, base string) (string, string) {
			t.Setenv("SUDO_UID", "4242")
			home := mkdir(t, filepath.Join(base, "home"), 0o755, 4242)
			return filepath.Join(home, "reports"), ""
		}, ""},
		{"a new dir in a sticky dir", func(t *testing.T, base string) (string, string) {
			tmp := mkdir(t, filepath.Join(base, "tmp"), 0o777|os.ModeSticky, 0)
			return filepath.Join(tmp, "a", "b"), ""
		}, ""},
		{"root's symlink to a dir of root's", func(t *testing.T, base string) (string, string) {
			real := mkdir(t, filepath.Join(base, "real"), 0o755, 0)
			symlink(t, "real", filepath.Join(base, "link"), 0)
			return filepath.Join(base, "link", "out"), filepath.Join(real, "out")
		}, ""},
		{"another uid's symlinks at the file names in a sticky report dir", func(t *testing.T, base string) (string, string) {
			dir := mkdir(t, filepath.Join(base, "shared"), 0o777|os.ModeSticky, 0)
			victim := mkdir(t, filepath.Join(base, "victim"), 0o755, 0)
			for _, n := range []string{"report.json", "report.md", "junit.xml", "report.sarif"} {
				symlink(t, filepath.Join(victim, n), filepath.Join(dir, n), other)
			}
			return dir, victim
		}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := mkdir(t, filepath.Join(t.TempDir(), "base"), 0o755, 0)
			dir, victim := c.lay(t, base)
			files, err := WriteDir(dir, "report", m, SARIFOptions{})
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("WriteDir(%s) = %v, %v; want an error saying %q", dir, files, err, c.want)
				}
			} else if err != nil || len(files) != 4 {
				t.Errorf("WriteDir(%s) = %v, %v; want 4 files", dir, files, err)
			}
			if c.want != "" || strings.Contains(c.name, "another uid") {
				if victim != "" {
					if left, _ := os.ReadDir(victim); len(left) > 0 {
						t.Errorf("written through the link into %s: %v", victim, left)
					}
				}
			} else if victim != "" {
				if left, _ := os.ReadDir(victim); len(left) != 4 {
					t.Errorf("%s holds %v; want the 4 reports", victim, left)
				}
			}
			for _, f := range files {
				if fi, err := os.Lstat(f); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o644 {
					t.Errorf("%s: %v %v; want a 0644 file", f, fi.Mode(), err)
				}
			}
		})
	}
}

func mkdir(t *testing.T, p string, mode os.FileMode, uid int) string {
	t.Helper()
	if err := os.Mkdir(p, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(p, uid, uid); err != nil {
		t.Fatal(err)
	}
	return p
}

func symlink(t *testing.T, target, p string, uid int) {
	t.Helper()
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(p, uid, uid); err != nil {
		t.Fatal(err)
	}
}

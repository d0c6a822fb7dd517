package target

import (
	"runtime"
	"slices"
	"testing"
)

// windowsTemplate is docs/cli.md's Windows --cmd (An external daemon):
// two paths whose backslashes are separators, not escapes.
const windowsTemplate = `C:\tools\python.exe D:\a\repo\daemon.py serve --root {root}`

var windowsSplits = []struct {
	in   string
	want []string
}{
	{windowsTemplate, []string{`C:\tools\python.exe`, `D:\a\repo\daemon.py`, "serve", "--root", "{root}"}},
	{`"C:\Program Files\Python\python.exe" -m d --root "{root}"`, []string{`C:\Program Files\Python\python.exe`, "-m", "d", "--root", "{root}"}},
	{`d --dir "C:\a b\\" x`, []string{"d", "--dir", `C:\a b\`, "x"}},
	{`d \\server\share\x.py`, []string{"d", `\\server\share\x.py`}},
	{`d a\"b a\\\"b a\\\\"b c"`, []string{"d", `a"b`, `a\"b`, `a\\b c`}},
	{`d "say ""hi""" 'x y'`, []string{"d", `say "hi"`, "'x", "y'"}},
	{"d\targ \"\"", []string{"d", "arg", ""}},
	{`d a"b c"d`, []string{"d", "ab cd"}},
	{`  x  `, []string{"x"}},
}

// Windows templates split by the C runtime's rules (SplitWindowsCommand),
// on every OS: the Windows splitter is plain code, tested here natively.
func TestSplitWindowsCommand(t *testing.T) {
	for _, c := range windowsSplits {
		got, err := SplitWindowsCommand(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("SplitWindowsCommand(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{``, "  \t", `a "b`, `"C:\x.exe`} {
		if _, err := SplitWindowsCommand(bad); err == nil {
			t.Errorf("SplitWindowsCommand(%q) accepted", bad)
		}
	}
}

// SplitCommand (--cmd, --probe) follows the OS it runs on: on Windows the
// template's paths stay intact; elsewhere a backslash escapes, as in a
// POSIX shell.
func TestSplitCommandFollowsTheOS(t *testing.T) {
	got, err := SplitCommand(windowsTemplate)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`C:\tools\python.exe`, `D:\a\repo\daemon.py`, "serve", "--root", "{root}"}
	if runtime.GOOS != "windows" {
		want = []string{`C:toolspython.exe`, `D:arepodaemon.py`, "serve", "--root", "{root}"}
	}
	if !slices.Equal(got, want) {
		t.Errorf("on %s SplitCommand(%q) = %q, want %q", runtime.GOOS, windowsTemplate, got, want)
	}
}

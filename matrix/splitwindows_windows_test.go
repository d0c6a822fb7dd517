package matrix

import (
	"slices"
	"testing"

	"golang.org/x/sys/windows"
)

// SplitWindowsCommand agrees with Windows' own CommandLineToArgvW
// (windows.DecomposeCommandLine) on the templates above, under Wine and on
// a real Windows.
func TestSplitWindowsCommandMatchesWindows(t *testing.T) {
	for _, c := range windowsSplits {
		got, err := SplitWindowsCommand(c.in)
		if err != nil {
			t.Fatalf("SplitWindowsCommand(%q): %v", c.in, err)
		}
		// CommandLineToArgvW splits its first word by simpler rules (no
		// escapes in the program name) and keeps a leading space as an
		// empty program: give it a plain program word first.
		sys, err := windows.DecomposeCommandLine("prog " + c.in)
		if err != nil {
			t.Fatalf("DecomposeCommandLine(%q): %v", c.in, err)
		}
		if !slices.Equal(got, sys[1:]) {
			t.Errorf("%q: SplitWindowsCommand %q, CommandLineToArgvW %q", c.in, got, sys[1:])
		}
	}
}

package target

import (
	"slices"
	"testing"

	"golang.org/x/sys/windows"

	"github.com/org/bh-ipc-check/ipc"
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

// --socket and --port-file are single path templates, never split: a
// Windows path keeps its backslashes (docs/action.md's windows-latest
// example's port-file).
func TestWindowsPathTemplates(t *testing.T) {
	tg := Target{Cmd: []string{"d"}, Socket: `{root}\s\{name}.sock`, PortFile: `{root}\bu-{name}.port`}
	sock, port, err := tg.Paths(`D:\a\_temp\bhc-1\01\root`, "n", ipc.TransportTCP, -1)
	if err != nil {
		t.Fatal(err)
	}
	if want := `D:\a\_temp\bhc-1\01\root\s\n.sock`; sock != want {
		t.Errorf("socket %q, want %q", sock, want)
	}
	if want := `D:\a\_temp\bhc-1\01\root\bu-n.port`; port != want {
		t.Errorf("port file %q, want %q", port, want)
	}
}

package testenv

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestReadTextMakesCRLFLF(t *testing.T) {
	p := filepath.Join(TempDir(t), "x.md")
	if err := os.WriteFile(p, []byte("# a\r\n| `x` | y |\r\nlast\r\nbare\rcr\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, want := ReadText(t, p), "# a\n| `x` | y |\nlast\nbare\rcr\n"; got != want {
		t.Errorf("ReadText = %q, want %q", got, want)
	}
}

// Wine is false off Windows; on Windows it is what the test command says
// (scripts/wine/test.sh sets BH_EXPECT_WINE=1 for its run).
func TestWine(t *testing.T) {
	want := runtime.GOOS == "windows" && os.Getenv("BH_EXPECT_WINE") == "1"
	if Wine() != want {
		t.Errorf("Wine() = %v on %s with BH_EXPECT_WINE=%q", Wine(), runtime.GOOS, os.Getenv("BH_EXPECT_WINE"))
	}
}

package ipc

import (
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

var invalidNames = []struct{ name, value string }{
	{"traversal", "../x"},
	{"slash", "a/b"},
	{"empty", ""},
	{"65 chars", strings.Repeat("a", 65)},
	{"dotdot", ".."},
	{"dot", "."},
	{"non-ASCII", "caf\u00e9"},
	{"NUL", "a\x00b"},
	{"space", "a b"},
	{"backslash", `a\b`},
}

// Point 8: invalid names are refused before any filesystem call: the root
// given does not exist and must still not exist afterwards.
func TestInvalidNamesTouchNothing(t *testing.T) {
	parent := shortRoot(t, 0o700)
	root := filepath.Join(parent, "never-created")
	for _, c := range invalidNames {
		t.Run(c.name, func(t *testing.T) {
			for _, tr := range []Transport{TransportUnix, TransportTCP} {
				ln, err := Listen(context.Background(), c.value, WithRoot(root), WithTransport(tr))
				if !errors.Is(err, ErrInvalidName) {
					if ln != nil {
						ln.Close()
					}
					t.Errorf("Listen(%q, %s): %v, want ErrInvalidName", c.value, tr, err)
				}
				if _, err := Dial(context.Background(), c.value, WithRoot(root), WithTransport(tr)); !errors.Is(err, ErrInvalidName) {
					t.Errorf("Dial(%q, %s): %v, want ErrInvalidName", c.value, tr, err)
				}
			}
			ents, err := os.ReadDir(parent)
			if err != nil || len(ents) != 0 {
				t.Errorf("something was created: %v %v", ents, err)
			}
		})
	}
}

func TestValidNames(t *testing.T) {
	for _, n := range []string{"a", "default", "A-b_9", strings.Repeat("z", 64)} {
		if err := ValidateName(n); err != nil {
			t.Errorf("ValidateName(%q): %v", n, err)
		}
	}
}

func FuzzValidateName(f *testing.F) {
	for _, c := range invalidNames {
		f.Add(c.value)
	}
	f.Add("default")
	f.Add(strings.Repeat("x", 64))
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidateName(name)
		if err != nil {
			if !errors.Is(err, ErrInvalidName) {
				t.Fatalf("error %v does not wrap ErrInvalidName", err)
			}
			return
		}
		// Accepted names are safe path elements that stay inside the root.
		if len(name) == 0 || len(name) > MaxNameLen || strings.ContainsAny(name, "/\\.\x00 ") {
			t.Fatalf("accepted %q", name)
		}
		lay, err := layoutFor("linux", "/r", name, TransportTCP, 1000)
		if err != nil || path.Dir(lay.Dir) != "/r" {
			t.Fatalf("layout for %q escapes the root: %+v %v", name, lay, err)
		}
	})
}

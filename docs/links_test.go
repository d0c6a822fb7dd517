package docs_test

import (
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/org/bh-ipc-check/internal/testenv"
)

// pages returns the Markdown pages whose links must resolve, relative to
// this directory: the README and every page under docs/.
func pages(t testing.TB) []string {
	t.Helper()
	out := []string{filepath.Join("..", "README.md")}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".md") {
			out = append(out, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	fence      = regexp.MustCompile("^\\s*(```|~~~)")
	codeSpan   = regexp.MustCompile("`+[^`]*`+")
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)`)
	heading    = regexp.MustCompile(`^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$`)
	lineAnchor = regexp.MustCompile(`^L\d+(-L\d+)?$`)
	scheme     = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// unfenced returns a page with the lines of its fenced code blocks emptied
// (a heading or link inside one is none), line numbers kept.
func unfenced(page string) string {
	lines := strings.Split(page, "\n")
	inFence := false
	for i, line := range lines {
		if fence.MatchString(line) {
			inFence = !inFence
			lines[i] = ""
		} else if inFence {
			lines[i] = ""
		}
	}
	return strings.Join(lines, "\n")
}

// slug is GitHub's anchor for a heading's text: links reduced to their
// text, lower case, every character but letters, digits, spaces, '-' and
// '_' removed (backquotes and colons included), each space turned into '-'.
func slug(text string) string {
	text = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`).ReplaceAllString(text, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors returns the anchors of a page's headings, GitHub's way: a
// repeated slug gets "-1", "-2", ... in order.
func anchors(page string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, line := range strings.Split(unfenced(page), "\n") {
		m := heading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		s := slug(m[2])
		if n := seen[s]; n > 0 {
			out[fmt.Sprintf("%s-%d", s, n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

// brokenLinks returns, for one page, every relative link whose file or
// directory does not exist (or lies outside the repository), and every
// #anchor that matches no heading of its Markdown target. Absolute links
// (http:, https:, mailto:, ...) are not followed; links in code are none.
func brokenLinks(path, page string, read func(string) (string, error)) []string {
	var bad []string
	// Code spans blanked, newlines kept: a link's line is still its line.
	text := codeSpan.ReplaceAllStringFunc(unfenced(page), func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '\n' {
				return r
			}
			return ' '
		}, s)
	})
	for _, ix := range inlineLink.FindAllStringSubmatchIndex(text, -1) {
		n := 1 + strings.Count(text[:ix[0]], "\n")
		target := text[ix[2]:ix[3]]
		if target == "" || scheme.MatchString(target) {
			continue
		}
		file, anchor, _ := strings.Cut(target, "#")
		file, err := url.PathUnescape(file)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s:%d: %s: %v", path, n, target, err))
			continue
		}
		dest := path
		if file != "" {
			dest = filepath.Join(filepath.Dir(path), filepath.FromSlash(file))
			// The repository's root is this directory's parent.
			root, err1 := filepath.Abs("..")
			abs, err2 := filepath.Abs(dest)
			if rel, err := filepath.Rel(root, abs); err1 != nil || err2 != nil || err != nil || !filepath.IsLocal(rel) {
				bad = append(bad, fmt.Sprintf("%s:%d: %s: outside the repository", path, n, target))
				continue
			}
			if _, err := os.Stat(dest); err != nil {
				bad = append(bad, fmt.Sprintf("%s:%d: %s: no such file or directory", path, n, target))
				continue
			}
		}
		if anchor == "" {
			continue
		}
		if !strings.HasSuffix(dest, ".md") {
			if !lineAnchor.MatchString(anchor) {
				bad = append(bad, fmt.Sprintf("%s:%d: %s: #%s on a file that is not Markdown (only #L<n> is)", path, n, target, anchor))
			}
			continue
		}
		page, err := read(dest)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s:%d: %s: %v", path, n, target, err))
			continue
		}
		if !anchors(page)[anchor] {
			bad = append(bad, fmt.Sprintf("%s:%d: %s: %s has no heading #%s", path, n, target, filepath.ToSlash(dest), anchor))
		}
	}
	return bad
}

func readPage(path string) (string, error) {
	b, err := os.ReadFile(path)
	return testenv.LF(b), err
}

// Every relative link of the README and of every page under docs/ resolves:
// the file or directory exists inside the repository, and an #anchor names
// a heading of the target page (GitHub's anchors).
func TestLinksResolve(t *testing.T) {
	all := pages(t)
	if len(all) < 4 {
		t.Fatalf("found only %q", all)
	}
	for _, p := range all {
		page, err := readPage(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range brokenLinks(p, page, readPage) {
			t.Error(b)
		}
	}
}

// The checker itself: it finds what a reader would trip on, and nothing
// else, on pages made up for it.
func TestBrokenLinksFindsBrokenLinks(t *testing.T) {
	const here = "links_test.md"
	pagesByPath := map[string]string{
		here: "# Title\n\n## The `ipc` library\n\n## Root: `privileged`\n\n## A, b & c\n\n## Twice\n\n## Twice\n\n" +
			"```sh\n# not a heading\n[code](nowhere.md)\n```\n",
	}
	read := func(p string) (string, error) {
		if s, ok := pagesByPath[filepath.ToSlash(p)]; ok {
			return s, nil
		}
		return readPage(p)
	}
	for _, tc := range []struct {
		name, line string
		broken     bool
	}{
		{"file", "[x](scenarios/README.md)", false},
		{"directory", "[x](scenarios/)", false},
		{"up to the root", "[x](../README.md)", false},
		{"anchor on this page", "[x](#the-ipc-library)", false},
		{"anchor with punctuation dropped", "[x](#root-privileged)", false},
		{"anchor with '&' dropped, spaces kept", "[x](#a-b--c)", false},
		{"repeated heading", "[x](#twice-1)", false},
		{"anchor in another page", "[x](scenarios/sock.first-seen-mode.md#the-group-case)", false},
		{"line anchor in a Go file", "[x](../ipc/doc.go#L1)", false},
		{"absolute", "[x](https://example.com/nowhere#nothing)", false},
		{"inside a code span", "`[x](nowhere.md)`", false},
		{"missing file", "[x](nowhere.md)", true},
		{"missing directory", "[x](nowhere/)", true},
		{"outside the repository", "[x](../../README.md)", true},
		{"missing anchor", "[x](#the-cli)", true},
		{"anchor of a heading in code", "[x](#not-a-heading)", true},
		{"anchor kept in upper case", "[x](#Title)", true},
		{"repeated heading, no third", "[x](#twice-2)", true},
		{"missing anchor in another page", "[x](scenarios/README.md#nowhere)", true},
		{"anchor on a Go file", "[x](../ipc/doc.go#listen)", true},
		{"image", "![x](nowhere.png)", true},
		{"link text over two lines", "[a\nb](nowhere.md)", true},
		{"code span over two lines", "`a\n[x](nowhere.md)`", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page := pagesByPath[here] + "\n" + tc.line + "\n"
			got := brokenLinks(here, page, read)
			if broken := len(got) > 0; broken != tc.broken {
				t.Errorf("%s: broken %v, want %v: %q", tc.line, broken, tc.broken, got)
			}
		})
	}
}

func TestSlug(t *testing.T) {
	for _, tc := range []struct{ heading, want string }{
		{"Two commands", "two-commands"},
		{"The `ipc` library", "the-ipc-library"},
		{"Root and the `sun_path` fallback", "root-and-the-sun_path-fallback"},
		{"A daemon that does not speak bh-json: socat", "a-daemon-that-does-not-speak-bh-json-socat"},
		{"sock.first-seen-mode: a socket seen first", "sockfirst-seen-mode-a-socket-seen-first"},
		{"See [the fix](x.md)", "see-the-fix"},
	} {
		if got := slug(tc.heading); got != tc.want {
			t.Errorf("slug(%q) = %q, want %q", tc.heading, got, tc.want)
		}
	}
}

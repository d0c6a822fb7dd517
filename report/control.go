package report

import (
	"fmt"
	"io"
	"strings"
)

// EscapeControl returns s with every control character written as a
// visible escape (\r, \t, \x1b, \u009b...) except those in keep (a
// renderer's own newlines): C0 and DEL, C1 (U+0080 to U+009F), and the
// bidirectional overrides and isolates (U+202A to U+202E, U+2066 to
// U+2069). Text another uid can choose (a file name it planted, a
// daemon's output) then cannot move the cursor, rewrite a line of the
// console with CR, or start a line with a workflow command ("::error")
// in a CI log.
func EscapeControl(s, keep string) string {
	if !hasControl(s, keep) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case strings.ContainsRune(keep, r) || !isControl(r):
			b.WriteRune(r)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

func hasControl(s, keep string) bool {
	for _, r := range s {
		if isControl(r) && !strings.ContainsRune(keep, r) {
			return true
		}
	}
	return false
}

// ControlEscaper is a writer that escapes control characters but newlines
// in each Write (EscapeControl) before passing it to W. Each Write must
// hold whole characters: fmt.Fprintf's and text/tabwriter's do (a cell
// is written whole).
type ControlEscaper struct{ W io.Writer }

func (c ControlEscaper) Write(p []byte) (int, error) {
	if _, err := io.WriteString(c.W, EscapeControl(string(p), "\n")); err != nil {
		return 0, err
	}
	return len(p), nil
}

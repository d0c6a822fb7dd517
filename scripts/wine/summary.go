//go:build ignore

// summary reads go test -json on stdin and prints what a reader of the
// Wine run needs: every package's own lines (ok, FAIL, build errors), each
// skipped test with its reason, and each failed test with its whole
// output. Used by scripts/wine/test.sh: go run scripts/wine/summary.go.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

type event struct {
	Action, Package, Test, Output string
}

func main() {
	out := map[string]*strings.Builder{} // package + test -> its output
	skips := 0
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			fmt.Println(sc.Text()) // not an event: a build error, say
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "build-output": // a compile error (go test -json since Go 1.24)
			fmt.Print(e.Output)
		case "output":
			if e.Test == "" {
				if !strings.HasPrefix(e.Output, "=== ") && !strings.HasPrefix(e.Output, "--- PASS") {
					fmt.Print(e.Output) // the package's own lines
				}
				continue
			}
			if out[key] == nil {
				out[key] = &strings.Builder{}
			}
			if !strings.HasPrefix(strings.TrimSpace(e.Output), "=== ") {
				out[key].WriteString(e.Output)
			}
		case "skip", "fail":
			if e.Test == "" {
				continue
			}
			if e.Action == "skip" {
				skips++
			}
			if b := out[key]; b != nil {
				fmt.Print(b.String())
			}
			delete(out, key)
		case "pass":
			delete(out, key)
		}
	}
	fmt.Printf("wine: %d tests skipped (each above with its reason)\n", skips)
}

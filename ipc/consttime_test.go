package ipc

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// Secrets are compared in constant time (DESIGN.md: "Constant-time
// comparisons throughout"). The result of == and of hmac.Equal is the same,
// and the difference is only in timing, which a test must not measure; so
// this is a source test: it parses the package's own files (every build
// tag) and checks what the compiler cannot.
//
//   - Every HMAC proof computed (a call of proof) is either sent
//     (hex.EncodeToString) or compared by hmac.Equal, as a direct argument:
//     a proof kept in a variable and compared with ==, bytes.Equal or
//     string conversion is refused.
//   - No ==, != or bytes/strings comparison has an operand that names a
//     secret (an identifier or field containing proof, token, secret or
//     nonce), except against nil or a literal.
//
// A seam (a package variable holding the compare function, counted by the
// test) was the other choice; it would put a test hook in the middle of
// the handshake and still miss a second compare written without it.
func TestSecretsComparedInConstantTime(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var parsed []*ast.File
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, af)
	}
	problems, proofsCompared := secretCompares(fset, parsed)
	for _, p := range problems {
		t.Error(p)
	}
	// Both sides of the handshake check a proof: a renamed proof function
	// must not leave this test checking nothing.
	if proofsCompared < 2 {
		t.Errorf("hmac.Equal compares %d proof(...) results, want 2 (the server's check of the client and the client's of the server)", proofsCompared)
	}
}

// The checker itself catches the ways a constant-time compare is lost.
func TestSecretComparesChecker(t *testing.T) {
	for _, c := range []struct {
		name, src string
		bad       bool
	}{
		{"hmac.Equal", `if !hmac.Equal(got, proof(k, "c", n, 1, a, b)) { return }`, false},
		{"sent", `_ = hex.EncodeToString(proof(k, "s", n, 1, a, b))`, false},
		{"==, converted", `if string(got) != string(proof(k, "c", n, 1, a, b)) { return }`, true},
		{"bytes.Equal", `if !bytes.Equal(got, proof(k, "c", n, 1, a, b)) { return }`, true},
		{"kept in a variable", `want := proof(k, "c", n, 1, a, b); if !hmac.Equal(got, want) { return }`, true},
		{"token ==", `if p.Token == token { return }`, true},
		{"token compared", `if strings.Compare(p.Token, tok) == 0 { return }`, true},
		{"token constant-time", `if subtle.ConstantTimeCompare([]byte(p.Token), []byte(token)) == 1 { return }`, false},
		{"against a literal", `if len(token) == 0 || secret == nil || p.Token == "" { return }`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, "x.go", "package x\nfunc f() {\n"+c.src+"\n}\n", 0)
			if err != nil {
				t.Fatal(err)
			}
			problems, _ := secretCompares(fset, []*ast.File{f})
			if bad := len(problems) > 0; bad != c.bad {
				t.Errorf("%s: problems %q, want bad=%v", c.src, problems, c.bad)
			}
		})
	}
}

// secretCompares returns what in files compares a secret other than in
// constant time, and how many proof(...) results hmac.Equal compares.
func secretCompares(fset *token.FileSet, files []*ast.File) (problems []string, proofsCompared int) {
	at := func(n ast.Node) string { return fset.Position(n.Pos()).String() }
	for _, f := range files {
		// parents of every node, to see what a proof(...) call is an
		// argument of.
		parent := map[ast.Node]ast.Node{}
		var stack []ast.Node
		ast.Inspect(f, func(n ast.Node) bool {
			if n == nil {
				stack = stack[:len(stack)-1]
				return false
			}
			if len(stack) > 0 {
				parent[n] = stack[len(stack)-1]
			}
			stack = append(stack, n)
			return true
		})
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "proof" {
					switch callee(parent[n]) {
					case "hmac.Equal":
						proofsCompared++
					case "hex.EncodeToString":
					default:
						problems = append(problems, fmt.Sprintf("%s: a proof(...) result that is neither sent (hex.EncodeToString) nor compared by hmac.Equal", at(n)))
					}
				}
				switch callee(n) {
				case "bytes.Equal", "bytes.Compare", "strings.Compare", "strings.EqualFold", "reflect.DeepEqual", "slices.Equal":
					for _, a := range n.Args {
						if s := secretName(a); s != "" {
							problems = append(problems, fmt.Sprintf("%s: %s compares %s, not in constant time (hmac.Equal, subtle.ConstantTimeCompare)", at(n), callee(n), s))
						}
					}
				}
			case *ast.BinaryExpr:
				if n.Op != token.EQL && n.Op != token.NEQ || isLiteral(n.X) || isLiteral(n.Y) {
					break
				}
				for _, side := range []ast.Expr{n.X, n.Y} {
					if s := secretName(side); s != "" {
						problems = append(problems, fmt.Sprintf("%s: %s compares %s, not in constant time (hmac.Equal, subtle.ConstantTimeCompare)", at(n), n.Op, s))
					}
				}
			}
			return true
		})
	}
	return problems, proofsCompared
}

// callee is "pkg.Func" for a call n of a selector, "" otherwise.
func callee(n ast.Node) string {
	c, ok := n.(*ast.CallExpr)
	if !ok {
		return ""
	}
	sel, ok := c.Fun.(*ast.SelectorExpr)
	if !ok {
		return ""
	}
	if x, ok := sel.X.(*ast.Ident); ok {
		return x.Name + "." + sel.Sel.Name
	}
	return ""
}

// secretName is the first identifier or field in e that names a secret
// (proof, token, secret, nonce), not inside a len() or a call of another
// kind; "" when none does. A call of proof is one.
func secretName(e ast.Expr) string {
	found := ""
	ast.Inspect(e, func(n ast.Node) bool {
		if found != "" {
			return false
		}
		switch n := n.(type) {
		case *ast.CallExpr:
			if id, ok := n.Fun.(*ast.Ident); ok {
				switch id.Name {
				case "len", "cap":
					return false // a length is no secret
				case "proof":
					found = "proof(...)"
					return false
				}
			}
		case *ast.Ident:
			l := strings.ToLower(n.Name)
			for _, w := range []string{"proof", "token", "secret", "nonce"} {
				if strings.Contains(l, w) {
					found = n.Name
				}
			}
		}
		return true
	})
	return found
}

// isLiteral: e is nil, a basic literal, or a constant name (true, false).
func isLiteral(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.BasicLit:
		return true
	case *ast.Ident:
		return e.Name == "nil" || e.Name == "true" || e.Name == "false"
	}
	return false
}

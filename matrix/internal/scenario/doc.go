// Package scenario is the catalogue: every scenario the suite runs, in
// report order, one file per family (sock, dir, inst, auth, load, path and
// tcp in scenarios.go; the real vulnerabilities' classes in
// scenarios_cve*.go), each with its body: the attack, then the judgement
// as an outcome (Pass, Fail, Skip or Error with its reason).
//
// A body is written against stage.Env, the scenario's world, and decides
// its own verdict; stage turns it into a Result (stage/verdict.go). It
// sits at the top of the suite's layers, below only matrix, which lists
// it (Catalogue, Select) and runs it.
package scenario

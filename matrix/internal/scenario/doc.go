// Package scenario is the catalogue: every scenario the suite runs, in
// report order, each entry with its body (the attack, then the judgement
// as an Outcome: Pass, Fail, Skip or Errored with its reason). The first
// families (sock, dir, inst, path, tcp, proto, load, auth) are in
// scenarios.go; each class of a real vulnerability has a file of its own
// (scenarios_cve*.go), whose init appends its entries, registers its
// helper actions and, for the classes that need one, its helper mode.
// scenarios_judge.go holds the judgements of an attacker's request that
// several bodies share; targetneeds.go what a scenario needs of an
// external target.
//
// A body is written against stage.Env, the scenario's world, and returns
// its own outcome; stage turns it into the Result (stage/verdict.go). It
// sits at the top of the suite's layers, below only matrix, which
// re-exports its listing (Catalogue, Select, ReportScenarios) and runs it
// (Run).
package scenario

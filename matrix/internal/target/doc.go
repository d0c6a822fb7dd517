// Package target is what every layer of the suite says about the daemon
// under test and about outcomes: the Target (the builtin reference daemon
// or an external command, with its templates, transports and probe
// settings), its Protocol, the result vocabulary (Result, Status,
// Severity, the report's aliases and the helpers that format results),
// and the hints that name the flag (or the action's input) that fixes a
// problem, which the messages of every layer use.
//
// It sits below the probes, the scenario world and the catalogue because
// all of them name a target and a status, and it decides nothing: whether
// a scenario applies and what its outcome is are stage's questions
// (stage/verdict.go). It imports only the ipc library and report. matrix
// re-exports every name here that was public when it lived in matrix
// (type aliases, constants, functions), so matrix.Target, matrix.Result
// and the statuses are unchanged for callers; the helpers exported for
// the layers above (OneLine, QuoteClip, Expand, ...) are not re-exported.
package target

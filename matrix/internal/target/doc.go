// Package target is what every layer of the suite says about the daemon
// under test and about outcomes: the Target (the builtin reference daemon
// or an external command, with its templates, transports and probe
// settings), its Protocol, and the result vocabulary (Result, Status,
// Severity, the report's aliases and the helpers that format results).
//
// It sits below the probes, the helper and the catalogue because all of
// them name a target and a status, and it decides nothing: whether a
// scenario applies and what its outcome is are matrix's questions. It
// imports only the ipc library and report. matrix re-exports every
// public name here (type aliases, constants, functions), so
// matrix.Target, matrix.Result and the statuses are unchanged for
// callers.
package target

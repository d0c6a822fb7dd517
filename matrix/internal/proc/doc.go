// Package proc is what the kernel says about processes, for the suite's
// supervision of the daemons it starts: /proc reading (a process's parent,
// start time, environment marker, descendants, open sockets, listening
// Unix and TCP sockets), the child subreaper that collects whatever a
// daemon leaves behind, pid references that refuse a reused pid
// (Ref, SignalRef), and the peer pid of a connection.
//
// It knows nothing of scenarios, targets or verdicts: stage (the
// scenario world, matrix/internal/stage) decides which processes belong
// to a start and what to signal; proc answers what is running and
// delivers signals. Outside Linux most
// answers are "unknown" (MarkerScanWorks is false), and callers take a
// pid at its word there.
package proc

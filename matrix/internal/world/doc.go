// Package world is the suite's filesystem seen from a privileged process
// in directories other uids can write: the run directory opened once as
// an os.Root (RunFS), changes made without following links
// (ChmodNoFollowIn, ChmodFinal), the walk of the sun_path fallback under
// /tmp with O_NOFOLLOW (OpenTmpParent, CheckTmpDir, RemoveUnderTmp), the
// facts of a path for evidence (Stat, Describe, KindOf), and the one
// reader of a file there (ReadNoFollow, OpenRegularNoFollow).
//
// Every function here either acts through a directory handle or refuses a
// link at the last component; the race each defends is said where it is
// defended. Nothing here knows of scenarios or daemons.
package world

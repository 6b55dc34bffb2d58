// Package startpages gives back the pages of the collector's own binary that only its start
// touched.
//
// Why: the binary is large (the collector core, contrib's translator and the SDKs they link), and
// its hundreds of package inits and the components' Start touch most of its code and read-only
// data once. Those pages stay resident, and counted in the process's RSS, for as long as the
// process lives: ~40 MB of the gateway binary's peak RSS at 200k series, more than its mapped
// series state. Most of them are never needed again; the few a running collector needs come back
// at their next touch.
package startpages

import "errors"

// ErrUnsupported is returned where the kernel has no way to do it (not Linux).
var ErrUnsupported = errors.New("giving back the binary's pages is only supported on Linux")

// Released is what Release gave back: the resident bytes of the mappings it advised, before and
// right after.
type Released struct {
	Before, After int64
}

//go:build !linux

package startpages

// Release does nothing outside Linux.
func Release() (Released, error) { return Released{}, ErrUnsupported }

//go:build !linux

package offheap

// mapAnon maps nothing outside Linux: the arrays stay on the Go heap.
func mapAnon(int) []byte { return nil }

func unmapAnon([]byte) {}

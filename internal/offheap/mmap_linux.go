//go:build linux

package offheap

import (
	"os"
	"syscall"
)

var pageSize = os.Getpagesize()

// mapAnon maps size bytes (rounded up to whole pages) of zeroed, private, anonymous memory; nil
// if the kernel refuses.
func mapAnon(size int) []byte {
	size = (size + pageSize - 1) &^ (pageSize - 1)
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil
	}
	return mem
}

func unmapAnon(mem []byte) {
	if err := syscall.Munmap(mem); err != nil {
		// Only a mapping that is not ours fails: a double unmap, which Block.Free rules out.
		panic("offheap: munmap: " + err.Error())
	}
}

// Package offheap allocates long-lived, pointer-free arrays outside the Go heap, in anonymous
// memory mappings (Linux; elsewhere they stay on the heap).
//
// Why: at GOGC=100 the Go heap grows to about twice its live size before a collection, so every
// byte of long-lived state costs about two bytes of resident memory. A mapped array costs its size
// once. The price is the heap's smaller headroom: the collector runs more often for the same
// allocations, as at a lower GOGC (see internal/seriestable's README). The per-series tables (internal/seriestable) keep their pointer-free
// chunks and their indexes here.
//
// The price is manual lifetimes: an array is unmapped by Block.Free, after which touching it
// faults. A Block that becomes unreachable without Free is unmapped by a cleanup when the garbage
// collector finds it so (runtime.AddCleanup): an owner that is dropped whole (a table replaced, a
// component shut down) leaks nothing, but its arrays must not be used once the owner is gone.
//
// The memory_limiter processor reads the Go heap and does not see these bytes; the process'
// resident memory (fleet_health's memory signal) does. Mapped tells how many there are.
package offheap // import "github.com/otelcol-fleet/otelcol-fleet/internal/offheap"

import (
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// MinBytes is the smallest array that is mapped: a smaller one stays on the heap, where it costs
// less than a page of its own.
const MinBytes = 4096

// mapped counts the bytes of the live mappings (whole pages).
var mapped atomic.Int64

// Mapped is the number of bytes mapped by this package and not yet unmapped, in whole pages: what
// the arrays outside the Go heap cost at most in resident memory (pages never written are not
// resident). The memory benchmarks add it to the live heap.
func Mapped() int64 { return mapped.Load() }

// Block owns one array made by Make outside the Go heap. A nil Block owns nothing (the array is
// on the heap): its Free does nothing.
type Block struct {
	mem     []byte // the mapping; nil once freed
	cleanup runtime.Cleanup
}

// Make returns a zeroed array of n Es and the Block that owns it: outside the Go heap when E holds
// no pointers (see PointerFree), the array is at least MinBytes and the platform maps memory;
// else on the heap, with a nil Block. The array must not be used after the Block is freed, nor
// once the Block is unreachable: whoever keeps the array keeps the Block.
func Make[E any](n int) ([]E, *Block) {
	size := int(unsafe.Sizeof(*new(E))) * n
	if size < MinBytes || !PointerFree[E]() {
		return make([]E, n), nil
	}
	mem := mapAnon(size)
	if mem == nil {
		// Not mapped (the platform does not, or the mapping failed: too many mappings): the heap
		// does as well, at twice the cost.
		return make([]E, n), nil
	}
	mapped.Add(int64(len(mem)))
	b := &Block{mem: mem}
	b.cleanup = runtime.AddCleanup(b, unmap, mem)
	return unsafe.Slice((*E)(unsafe.Pointer(unsafe.SliceData(mem))), n), b
}

// Free unmaps the Block's array at once; nothing may use it afterwards. Freeing a Block twice, or
// a nil Block, does nothing.
func (b *Block) Free() {
	if b == nil || b.mem == nil {
		return
	}
	b.cleanup.Stop()
	unmap(b.mem)
	b.mem = nil
}

// unmap gives a mapping back and counts it off.
func unmap(mem []byte) {
	unmapAnon(mem)
	mapped.Add(-int64(len(mem)))
}

// pointerFree caches PointerFree by type.
var pointerFree sync.Map // reflect.Type -> bool

// PointerFree reports whether an E holds no Go pointer: no pointer, unsafe.Pointer, string, slice,
// map, channel, function or interface, in any field or element. Only such arrays may live outside
// the Go heap: the garbage collector does not look into them, so a heap object they alone refer
// to would be freed. Checked once per type.
func PointerFree[E any]() bool {
	t := reflect.TypeFor[E]()
	if v, ok := pointerFree.Load(t); ok {
		return v.(bool)
	}
	v := typePointerFree(t)
	pointerFree.Store(t, v)
	return v
}

func typePointerFree(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return true
	case reflect.Array:
		return t.Len() == 0 || typePointerFree(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if !typePointerFree(t.Field(i).Type) {
				return false
			}
		}
		return true
	default:
		return false
	}
}

package offheap_test

import (
	"os"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-fleet/otelcol-fleet/internal/memtest"
	"github.com/otelcol-fleet/otelcol-fleet/internal/offheap"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPointerFree(t *testing.T) {
	type flat struct {
		a uint64
		b [4]uint32
		c struct{ d float64 }
		e uintptr
	}
	assert.True(t, offheap.PointerFree[uint32]())
	assert.True(t, offheap.PointerFree[flat]())
	assert.True(t, offheap.PointerFree[[0]*int]())
	assert.True(t, offheap.PointerFree[struct{}]())
	for name, free := range map[string]bool{
		"pointer":        offheap.PointerFree[*int](),
		"unsafe.Pointer": offheap.PointerFree[unsafe.Pointer](),
		"string":         offheap.PointerFree[string](),
		"slice":          offheap.PointerFree[[]byte](),
		"map":            offheap.PointerFree[map[int]int](),
		"chan":           offheap.PointerFree[chan int](),
		"func":           offheap.PointerFree[func()](),
		"interface":      offheap.PointerFree[any](),
		"nested string":  offheap.PointerFree[struct{ a [2]struct{ s string } }](),
		"array of ptr":   offheap.PointerFree[[3]*int](),
	} {
		assert.False(t, free, name)
	}
}

func TestMakeAndFree(t *testing.T) {
	base := memtest.SettledMapped(t)
	a, b := offheap.Make[uint32](100_000)
	require.NotNil(t, b, "a pointer-free array of 400 KB is mapped")
	assert.Equal(t, base+int64((400_000+os.Getpagesize()-1)/os.Getpagesize()*os.Getpagesize()), offheap.Mapped(), "whole pages are counted")
	require.Len(t, a, 100_000)
	for i := range a {
		require.Zero(t, a[i])
		a[i] = uint32(i)
	}
	assert.Equal(t, uint32(99_999), a[99_999])
	b.Free()
	assert.Equal(t, base, offheap.Mapped(), "Free gives it back at once")
	b.Free() // twice: nothing
	var none *offheap.Block
	none.Free()
	assert.Equal(t, base, offheap.Mapped())

	small, b := offheap.Make[uint32](offheap.MinBytes/4 - 1)
	assert.Nil(t, b, "a small array stays on the heap")
	assert.Len(t, small, offheap.MinBytes/4-1)
	strings, b := offheap.Make[string](100_000)
	assert.Nil(t, b, "an array with pointers stays on the heap")
	assert.Len(t, strings, 100_000)
	assert.Equal(t, base, offheap.Mapped())
}

// TestUnreachableBlockIsUnmapped: a Block dropped without Free is unmapped once collected.
func TestUnreachableBlockIsUnmapped(t *testing.T) {
	base := memtest.SettledMapped(t)
	func() {
		a, b := offheap.Make[uint64](1 << 16)
		a[len(a)-1] = 1
		require.NotNil(t, b)
	}()
	require.Equal(t, base+8<<16, offheap.Mapped())
	require.Eventually(t, func() bool {
		runtime.GC()
		return offheap.Mapped() == base
	}, 5*time.Second, 10*time.Millisecond)
}

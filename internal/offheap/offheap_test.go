package offheap

import (
	"os"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPointerFree(t *testing.T) {
	type flat struct {
		a uint64
		b [4]uint32
		c struct{ d float64 }
		e uintptr
	}
	assert.True(t, PointerFree[uint32]())
	assert.True(t, PointerFree[flat]())
	assert.True(t, PointerFree[[0]*int]())
	assert.True(t, PointerFree[struct{}]())
	for name, free := range map[string]bool{
		"pointer":        PointerFree[*int](),
		"unsafe.Pointer": PointerFree[unsafe.Pointer](),
		"string":         PointerFree[string](),
		"slice":          PointerFree[[]byte](),
		"map":            PointerFree[map[int]int](),
		"chan":           PointerFree[chan int](),
		"func":           PointerFree[func()](),
		"interface":      PointerFree[any](),
		"nested string":  PointerFree[struct{ a [2]struct{ s string } }](),
		"array of ptr":   PointerFree[[3]*int](),
	} {
		assert.False(t, free, name)
	}
}

// settle collects and waits until the cleanups of what earlier tests dropped have run: Mapped
// stops changing.
func settle(t *testing.T) int64 {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("arrays are mapped on Linux only")
	}
	// Three readings alike, 10 ms apart, each after a collection.
	last, alike := int64(-1), 0
	for range 300 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		if m := Mapped(); m != last {
			last, alike = m, 0
		} else if alike++; alike == 2 {
			return m
		}
	}
	t.Fatal("Mapped did not settle")
	return 0
}

func TestMakeAndFree(t *testing.T) {
	base := settle(t)
	a, b := Make[uint32](100_000)
	require.NotNil(t, b, "a pointer-free array of 400 KB is mapped")
	assert.Equal(t, base+int64((400_000+os.Getpagesize()-1)/os.Getpagesize()*os.Getpagesize()), Mapped(), "whole pages are counted")
	require.Len(t, a, 100_000)
	for i := range a {
		require.Zero(t, a[i])
		a[i] = uint32(i)
	}
	assert.Equal(t, uint32(99_999), a[99_999])
	b.Free()
	assert.Equal(t, base, Mapped(), "Free gives it back at once")
	b.Free() // twice: nothing
	var none *Block
	none.Free()
	assert.Equal(t, base, Mapped())

	small, b := Make[uint32](MinBytes/4 - 1)
	assert.Nil(t, b, "a small array stays on the heap")
	assert.Len(t, small, MinBytes/4-1)
	strings, b := Make[string](100_000)
	assert.Nil(t, b, "an array with pointers stays on the heap")
	assert.Len(t, strings, 100_000)
	assert.Equal(t, base, Mapped())
}

// TestUnreachableBlockIsUnmapped: a Block dropped without Free is unmapped once collected.
func TestUnreachableBlockIsUnmapped(t *testing.T) {
	base := settle(t)
	func() {
		a, b := Make[uint64](1 << 16)
		a[len(a)-1] = 1
		require.NotNil(t, b)
	}()
	require.Equal(t, base+8<<16, Mapped())
	require.Eventually(t, func() bool {
		runtime.GC()
		return Mapped() == base
	}, 5*time.Second, 10*time.Millisecond)
}

package seriestable

import (
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-fleet/otelcol-fleet/internal/memtest"
	"github.com/otelcol-fleet/otelcol-fleet/internal/offheap"
)

func chunkBytes[T any]() int64 { return int64(unsafe.Sizeof(chunk[T]{})) }

// indexBytes is what an index of this many entries maps: nothing below offheap.MinBytes, else
// whole pages.
func indexBytes(entries int) int64 {
	if 4*entries < offheap.MinBytes {
		return 0
	}
	page := int64(os.Getpagesize())
	return (int64(4*entries) + page - 1) / page * page
}

// TestPointerFreeTablesAreMapped: a table of pointer-free values keeps its chunks and index
// outside the Go heap, counted by offheap.Mapped; a sweep, Release and Shrink give them back as
// they would give back heap memory. A table of values with pointers keeps its chunks on the
// heap (the collector must see them), its index (pointer-free) outside.
func TestPointerFreeTablesAreMapped(t *testing.T) {
	base := memtest.SettledMapped(t)
	table := New[uint64]()
	labels := New[string]()
	x := NewIndex(func(i uint32) uint64 { return *table.Slot(i) + 1 })
	const n = 3 << chunkBits
	prev := NoSlot
	for h := range uint64(n) {
		prev, _ = table.Find(prev, h+100)
		*table.Slot(prev) = h + 100
		x.Insert(h+101, prev, table.Slots())
		i, _ := labels.Find(NoSlot, h+100)
		*labels.Slot(i) = "series"
	}
	want := 3*chunkBytes[uint64]() + indexBytes(len(table.index)) + indexBytes(len(x.entries)) + indexBytes(len(labels.index))
	assert.Equal(t, want, offheap.Mapped()-base, "3 chunks and 3 indexes")
	for _, mem := range labels.chunkMem {
		assert.Nil(t, mem, "strings stay on the heap")
	}

	// Keep the first 1,000 series: the other two chunks and most of both indexes go back.
	kept := func(v uint64) bool { return v < 1100 }
	table.Sweep(func(v *uint64) bool {
		if !kept(*v) {
			x.Remove(*v + 1)
		}
		return !kept(*v)
	})
	x.Shrink(table.Slots())
	labels.Sweep(func(*string) bool { return true })
	want = chunkBytes[uint64]() + indexBytes(len(table.index)) + indexBytes(len(x.entries))
	assert.Equal(t, want, offheap.Mapped()-base, "one chunk left, and the smaller indexes")
	assert.Less(t, want, 2*chunkBytes[uint64]())
	for v := range uint64(n) {
		i, ok := table.Lookup(NoSlot, v+100)
		require.Equal(t, kept(v+100), ok)
		if ok {
			require.Equal(t, v+100, *table.Slot(i))
			j, ok := x.Lookup(v + 101)
			require.True(t, ok)
			require.Equal(t, i, j)
		}
	}
	checkIndex(t, table)

	table.Sweep(func(v *uint64) bool {
		x.Remove(*v + 1)
		return true
	})
	x.Shrink(table.Slots())
	assert.Equal(t, base, offheap.Mapped(), "an empty table keeps nothing")

	// Emptied by Remove, given back by Release.
	for h := range uint64(n) {
		table.Find(NoSlot, h)
	}
	require.Greater(t, offheap.Mapped(), base)
	for i := range table.Slots() {
		table.Remove(i)
	}
	table.Release()
	assert.Equal(t, base, offheap.Mapped())
	runtime.KeepAlive(labels)
}

// TestDroppedTableIsUnmapped: a table dropped whole (shard.HandOver replaces its tables) is
// unmapped once the collector finds it unreachable.
func TestDroppedTableIsUnmapped(t *testing.T) {
	base := memtest.SettledMapped(t)
	func() {
		table := New[uint32]()
		for h := range uint64(2 << chunkBits) {
			table.Find(NoSlot, h)
		}
		require.Greater(t, offheap.Mapped(), base+2*chunkBytes[uint32]())
	}()
	require.Eventually(t, func() bool {
		runtime.GC()
		return offheap.Mapped() == base
	}, 5*time.Second, 10*time.Millisecond)
}

// TestReaderWhileChunksAreUnmapped: a reader without the lock reads the slots it was given (in
// use, as ordered_rw's releases read the hold-back's refs) while the writer adds series in new
// chunks and sweeps them away again, unmapping those chunks and the old indexes every round. A
// chunk unmapped under the reader would crash the test ("unexpected fault address").
func TestReaderWhileChunksAreUnmapped(t *testing.T) {
	base := memtest.SettledMapped(t)
	table := New[[2]uint64]()
	const held = 1000
	slots := make([]uint32, held)
	prev := NoSlot
	for h := range uint64(held) {
		prev, _ = table.Find(prev, h+1)
		*table.Slot(prev) = [2]uint64{h + 1, 0}
		slots[h] = prev
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			for h, i := range slots {
				if got := table.Slot(i)[0]; got != uint64(h)+1 {
					t.Errorf("slot %d has %d, want %d", i, got, h+1)
					return
				}
			}
		}
	}()
	for round := range 30 {
		prev := NoSlot
		for h := uint64(held); h < 4<<chunkBits; h++ {
			prev, _ = table.Find(prev, h+1+uint64(round)<<32)
			table.Slot(prev)[0] = h + 1
		}
		require.Greater(t, offheap.Mapped(), base+3*chunkBytes[[2]uint64]())
		table.Sweep(func(v *[2]uint64) bool { return v[0] > held })
		require.Equal(t, held, table.Len())
		require.Equal(t, uint32(held), table.Slots())
		require.Equal(t, chunkBytes[[2]uint64]()+indexBytes(len(table.index)), offheap.Mapped()-base,
			"round %d: the other chunks and the larger index are unmapped", round)
	}
	close(done)
	wg.Wait()
}

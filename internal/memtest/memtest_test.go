package memtest

import (
	"runtime"
	"testing"

	"github.com/otelcol-fleet/otelcol-fleet/internal/offheap"
)

// sink keeps what the test allocates reachable for as long as the test says.
var sink []byte

// A slice kept between two readings shows up in their difference; once dropped, it does not.
func TestLiveHeapCountsWhatIsKept(t *testing.T) {
	before := LiveHeap()
	sink = make([]byte, 8<<20)
	grew := int64(LiveHeap()) - int64(before)
	sink = nil
	if grew < 8<<20-64<<10 || grew > 8<<20+64<<10 {
		t.Fatalf("kept 8 MiB, the live heap grew by %d bytes", grew)
	}
	if d := int64(LiveHeap()) - int64(before); d > 1<<20 {
		t.Fatalf("dropped 8 MiB, the live heap is still %d bytes above", d)
	}
}

// An array outside the Go heap counts in Live, not in LiveHeap; once dropped, in neither.
func TestLiveCountsWhatIsMapped(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("arrays are mapped on Linux only")
	}
	before, beforeHeap := Live(), LiveHeap()
	kept, mem := offheap.Make[uint64](1 << 20)
	kept[len(kept)-1] = 1
	if grew := int64(Live()) - int64(before); grew < 8<<20 || grew > 8<<20+64<<10 {
		t.Fatalf("mapped 8 MiB, Live grew by %d bytes", grew)
	}
	if grew := int64(LiveHeap()) - int64(beforeHeap); grew > 64<<10 {
		t.Fatalf("mapped 8 MiB, the live heap grew by %d bytes", grew)
	}
	runtime.KeepAlive(mem) // unreachable from here: its cleanup unmaps it
	if d := int64(Live()) - int64(before); d > 64<<10 {
		t.Fatalf("dropped 8 MiB, Live is still %d bytes above", d)
	}
}

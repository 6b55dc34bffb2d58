package memtest

import "testing"

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

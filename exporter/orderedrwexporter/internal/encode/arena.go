package encode // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/encode"

import (
	"slices"
	"unsafe"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/internal/offheap"
)

// arena keeps the label blocks of the cached series outside the Go heap, in chunks mapped by
// internal/offheap, so that they cost their size in resident memory, not twice it (GOGC=100),
// and so that an entry of the identities table holds no Go pointer (a chunk and an offset),
// which puts the table outside the heap as well. At 200k series that was 23.5 MB of label blocks
// and 5.4 MB of table, live on the heap.
//
// Blocks are bump-allocated in the current chunk and never written again. Each chunk counts its
// live blocks; a chunk none of whose blocks a cached series has any more is retired, at the
// current epoch, and unmapped only once nothing can read it (reclaim): memory is never reused in
// place, so that a block read late is never another series' labels.
//
// A block does not know its series: what refers to it is the encoder's outputs, the batches and
// releases made of them (sample.Epochs pins them), and the hold-back's series (scanned). See
// reclaim for the proof that a chunk unmapped is read by nothing.
//
// Guarded by Encoder.mu.
type arena struct {
	epochs *sample.Epochs
	// chunks are indexed by an entry's chunk; a freed chunk's index is reused (free).
	chunks []*labelChunk
	free   []uint32
	// cur is the chunk new blocks are appended to; noChunk before the first.
	cur uint32
	// retired are the chunks with no live block, waiting to be unmapped.
	retired []*labelChunk
	// lastReclaim is when (Encoder.now) reclaim last ran: at most once a second, as Oldest reads
	// every open epoch and pin.
	lastReclaim uint32
	// unmapped counts the chunks unmapped so far.
	unmapped int
	// epoch is the current Encode's (sample.Epochs.Begin).
	epoch uint64
}

// chunkBytes is the size of a chunk: 64 pages, large enough that a chunk's mapping costs little
// (a mapping, a struct), small enough that the last, part-filled one is not much. A variable for
// the tests, which make chunks of a page.
var chunkBytes = 256 << 10

// bigBlock is the size from which a block has a chunk of its own (a label value of megabytes
// would otherwise leave most of a chunk empty, and pin it).
func bigBlock() int { return chunkBytes / 4 }

// noChunk is the chunk of an empty block, or of an entry without labels (a link).
const noChunk = ^uint32(0)

type chunkState uint8

const (
	chunkLive chunkState = iota
	// chunkRetired: no cached series refers to a block of it since retiredAt.
	chunkRetired
	// chunkScanned: besides, no hold-back series did at scannedAt.
	chunkScanned
)

type labelChunk struct {
	mem   []byte
	block *offheap.Block // nil if mem is on the heap (not mapped)
	id    uint32
	used  int // bytes appended
	// live and liveBytes are the blocks cached series refer to, and their bytes.
	live      int
	liveBytes int
	// sparse: live blocks fill less than a quarter of the chunk; the entries still in it move
	// to the current chunk at their next use, so that a few long-lived series do not pin
	// mostly-dead chunks.
	sparse    bool
	dedicated bool // one big block
	state     chunkState
	retiredAt uint64
	scannedAt uint64
}

// newArena returns an empty arena; lastReclaim is no second yet (the encoder's start is 0).
func newArena(epochs *sample.Epochs) arena {
	return arena{epochs: epochs, cur: noChunk, lastReclaim: ^uint32(0)}
}

// block is the labels of an entry: size bytes at off in chunk.
type block struct {
	chunk, off, size uint32
}

// add copies labels into the arena, as a live block.
func (a *arena) add(labels sample.Labels) block {
	size := len(labels)
	if size == 0 {
		return block{chunk: noChunk}
	}
	var c *labelChunk
	if size >= bigBlock() {
		c = a.newChunk(size)
		c.dedicated = true
	} else {
		if a.cur != noChunk {
			c = a.chunks[a.cur]
		}
		if c == nil || c.used+size > len(c.mem) {
			if c != nil {
				a.leave(c)
			}
			c = a.newChunk(chunkBytes)
			a.cur = c.id
		}
	}
	off := c.used
	copy(c.mem[off:], labels)
	c.used += size
	c.live++
	c.liveBytes += size
	return block{chunk: c.id, off: uint32(off), size: uint32(size)}
}

// newChunk maps a chunk of at least size bytes.
func (a *arena) newChunk(size int) *labelChunk {
	mem, mb := offheap.Make[byte](size)
	c := &labelChunk{mem: mem, block: mb}
	if n := len(a.free); n > 0 {
		c.id = a.free[n-1]
		a.free = a.free[:n-1]
		a.chunks[c.id] = c
	} else {
		c.id = uint32(len(a.chunks))
		a.chunks = append(a.chunks, c)
	}
	return c
}

// leave is called when c stops being the current chunk.
func (a *arena) leave(c *labelChunk) {
	a.cur = noChunk
	a.check(c)
}

// drop tells that no cached series refers to b any more.
func (a *arena) drop(b block) {
	if b.chunk == noChunk {
		return
	}
	c := a.chunks[b.chunk]
	c.live--
	c.liveBytes -= int(b.size)
	a.check(c)
}

// check retires c at the current epoch if it has no live block and is not the current chunk,
// or marks it sparse. Every output with a block of c is of this epoch or an earlier one.
func (a *arena) check(c *labelChunk) {
	if c.id == a.cur {
		return
	}
	if c.live == 0 {
		c.state, c.retiredAt = chunkRetired, a.epoch
		a.chunks[c.id] = nil
		a.free = append(a.free, c.id)
		a.retired = append(a.retired, c)
		return
	}
	c.sparse = !c.dedicated && 4*c.liveBytes < len(c.mem)
}

// use returns the labels of the block at *b, for an output: first moved into the current chunk
// (and *b updated) if its chunk is sparse. One read of the chunk for both: this is on the path of
// every cached series of every push.
func (a *arena) use(b *block) sample.Labels {
	if b.chunk == noChunk {
		return ""
	}
	c := a.chunks[b.chunk]
	if c.sparse {
		moved := a.add(sample.Labels(unsafe.String(&c.mem[b.off], int(b.size))))
		a.drop(*b)
		*b = moved
		c = a.chunks[b.chunk]
	}
	return sample.Labels(unsafe.String(&c.mem[b.off], int(b.size)))
}

// reclaim unmaps the retired chunks that nothing can read any more. now is Encoder.now; a.epoch
// is the current Encode's, open until its output is recycled.
//
// A chunk retired at epoch R had blocks in the outputs of epochs R and before only (a block,
// once no cached series has it, is never output again), and in what was made of them: batches
// and releases, pinned at an epoch no later than theirs (Epochs.Hold), and the hold-back's
// series. So once Oldest() > R, only the hold-back's series and a release in progress can
// still refer to it. The hold-back is then scanned, under its lock: a chunk no series refers to
// is marked at the current epoch S, which no release that began before the scan is pinned
// after (a release pins before it reads a series), and after which no series can refer to it
// again (every push that could carry it is over). Once Oldest() > S, nothing refers to it:
// unmapped.
func (a *arena) reclaim(now uint32) {
	if len(a.retired) == 0 || now == a.lastReclaim {
		return
	}
	a.lastReclaim = now
	oldest := a.epochs.Oldest()
	var candidates []*labelChunk
	for _, c := range a.retired {
		if c.state == chunkRetired && c.retiredAt < oldest {
			candidates = append(candidates, c)
		}
	}
	if len(candidates) > 0 {
		referenced := make([]bool, len(candidates))
		slices.SortFunc(candidates, func(x, y *labelChunk) int {
			return compareAddr(unsafe.SliceData(x.mem), unsafe.SliceData(y.mem))
		})
		scanned := a.epochs.Scan(func(labels sample.Labels) {
			if i, ok := chunkOf(candidates, unsafe.StringData(string(labels))); ok {
				referenced[i] = true
			}
		})
		for i, c := range candidates {
			if referenced[i] {
				continue // scanned again at a later reclaim
			}
			c.state, c.scannedAt = chunkScanned, a.epoch
			if !scanned {
				// No hold-back: nothing but outputs and pins ever referred to it.
				c.scannedAt = c.retiredAt
			}
		}
	}
	a.retired = slices.DeleteFunc(a.retired, func(c *labelChunk) bool {
		if c.state != chunkScanned || c.scannedAt >= oldest {
			return false
		}
		c.block.Free()
		c.mem = nil
		a.unmapped++
		return true
	})
}

// compareAddr orders two addresses.
func compareAddr(x, y *byte) int {
	px, py := uintptr(unsafe.Pointer(x)), uintptr(unsafe.Pointer(y))
	switch {
	case px < py:
		return -1
	case px > py:
		return 1
	}
	return 0
}

// chunkOf finds the chunk of sorted (by address) that p points into.
func chunkOf(sorted []*labelChunk, p *byte) (int, bool) {
	if p == nil {
		return 0, false
	}
	addr := uintptr(unsafe.Pointer(p))
	i, _ := slices.BinarySearchFunc(sorted, addr, func(c *labelChunk, addr uintptr) int {
		start := uintptr(unsafe.Pointer(unsafe.SliceData(c.mem)))
		switch {
		case addr < start:
			return 1
		case addr >= start+uintptr(len(c.mem)):
			return -1
		}
		return 0
	})
	if i < len(sorted) {
		start := uintptr(unsafe.Pointer(unsafe.SliceData(sorted[i].mem)))
		if addr >= start && addr < start+uintptr(len(sorted[i].mem)) {
			return i, true
		}
	}
	return 0, false
}

// bytes is what the arena has mapped (or allocated), for tests.
func (a *arena) bytes() (live, retired int) {
	for _, c := range a.chunks {
		if c != nil {
			live += len(c.mem)
		}
	}
	for _, c := range a.retired {
		retired += len(c.mem)
	}
	return live, retired
}

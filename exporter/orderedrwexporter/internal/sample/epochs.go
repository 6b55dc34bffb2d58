package sample

import (
	"sync"
)

// Epochs tell the encoder when memory its label blocks were in may be given back (unmapped):
// once nothing can still read a block of it. The encoder keeps the labels of its cached series
// outside the Go heap (encode's arena), so that the garbage collector does not give them their
// lifetime; these counters do.
//
// Each Encode opens an epoch (Begin), which stays open until its pusher recycles the output
// (End): everything that Engine.Push did with the output's blocks happened before that. What
// outlives the push (a batch queued on a shard, a release of the hold-back) is pinned (Hold)
// from before it reads a block until it is done: at an epoch no later than the oldest open one
// then, so that the pin covers the push whose blocks it may carry, and no later than the
// current one, so that it covers any later scan of the hold-back (see Scan). A block retired in
// epoch R (no cached series refers to it any more) is read by nothing once Oldest() > R, but
// for the hold-back's series, which the encoder looks for with Scan.
//
// A pusher that never Ends an epoch leaks: nothing retired after it is given back. That is the
// safe failure.
type Epochs struct {
	mu      sync.Mutex
	current uint64
	// open counts the Encodes of each epoch whose output is not recycled yet.
	open map[uint64]int
	// pins counts the holds at each epoch.
	pins map[uint64]int
	scan func(visit func(block Labels))
	// owner is what owns the memory of the blocks (the encoder): whoever holds the epochs (every
	// pin, the engine) keeps it reachable, so that its mappings are not unmapped by their cleanup
	// (internal/offheap) while a block may still be read.
	owner any
}

// NewEpochs returns counters at epoch 1, with nothing open, that keep owner, the owner of the
// blocks' memory, reachable.
func NewEpochs(owner any) *Epochs {
	return &Epochs{current: 1, open: map[uint64]int{}, pins: map[uint64]int{}, owner: owner}
}

// Begin opens a new epoch for one Encode's output, and returns it.
func (p *Epochs) Begin() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.current++
	p.open[p.current]++
	return p.current
}

// End closes epoch, which Begin returned, once its output is not referred to any more, but by
// what was pinned meanwhile.
func (p *Epochs) End(epoch uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open[epoch]--; p.open[epoch] <= 0 {
		delete(p.open, epoch)
	}
}

// Pin keeps label blocks from being given back while something that outlives a push (a batch,
// a release) may read them. The zero Pin holds nothing.
type Pin struct {
	p     *Epochs
	epoch uint64
}

// Hold pins the oldest open epoch, or the current one when none is open: whatever the caller
// reads from now on was in a cached series or a hold-back ref at that epoch or later. A nil
// Epochs returns the zero Pin.
func (p *Epochs) Hold() Pin {
	if p == nil {
		return Pin{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	epoch := p.current
	for e := range p.open {
		epoch = min(epoch, e)
	}
	p.pins[epoch]++
	return Pin{p: p, epoch: epoch}
}

// Release lets go of the pin; the zero Pin does nothing. Once only.
func (pin Pin) Release() {
	p := pin.p
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pins[pin.epoch]--; p.pins[pin.epoch] <= 0 {
		delete(p.pins, pin.epoch)
	}
}

// Oldest is the oldest epoch open or pinned; with none, the one after the current. A block
// retired at an epoch before it is referred to by no output, no batch and no release in
// progress, only maybe by the hold-back's series (Scan).
func (p *Epochs) Oldest() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	oldest := p.current + 1
	for e := range p.open {
		oldest = min(oldest, e)
	}
	for e := range p.pins {
		oldest = min(oldest, e)
	}
	return oldest
}

// SetScan registers the hold-back's visit of the label blocks its series refer to (nil: none).
// scan must visit, under the hold-back's lock, every block a series held refers to.
func (p *Epochs) SetScan(scan func(visit func(block Labels))) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.scan = scan
}

// Scan visits the label blocks the hold-back refers to, and reports whether there is one to
// visit (false: nothing but outputs and pins refers to blocks). Called without p's lock held:
// it takes the hold-back's.
func (p *Epochs) Scan(visit func(block Labels)) bool {
	p.mu.Lock()
	scan := p.scan
	p.mu.Unlock()
	if scan == nil {
		return false
	}
	scan(visit)
	return true
}

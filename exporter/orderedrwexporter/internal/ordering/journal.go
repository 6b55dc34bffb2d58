package ordering // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/ordering"

import (
	"context"

	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/sample"
	"github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/wal"
)

// journal is the write-ahead log as the engine uses it: *wal.WAL, or noJournal without a WAL, so
// that the engine's path is the same with and without one.
type journal interface {
	// Append writes a pushed batch and returns its entry, tracked until Done.
	Append(series []sample.Series) (uint64, error)
	Track(entry uint64)
	Done(entry uint64)
	Start(held wal.Held, push func(series []sample.Series, entry uint64) error)
	AwaitReplay(ctx context.Context) error
	Truncate() (uint64, error)
	Entries() int64
	Stop()
	Close() error
}

var (
	_ journal = (*wal.WAL)(nil)
	_ journal = noJournal{}
)

// noJournal is the absence of a write-ahead log: every entry is 0, and nothing is tracked.
type noJournal struct{}

func (noJournal) Append([]sample.Series) (uint64, error)                           { return 0, nil }
func (noJournal) Track(uint64)                                                     {}
func (noJournal) Done(uint64)                                                      {}
func (noJournal) Start(wal.Held, func(series []sample.Series, entry uint64) error) {}
func (noJournal) AwaitReplay(context.Context) error                                { return nil }
func (noJournal) Truncate() (uint64, error)                                        { return 0, nil }
func (noJournal) Entries() int64                                                   { return 0 }
func (noJournal) Stop()                                                            {}
func (noJournal) Close() error                                                     { return nil }

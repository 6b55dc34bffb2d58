package wal // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/wal"

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// tornTail is what cutTornTail removed from the log's last segment.
type tornTail struct {
	segment string
	// keptEntries are the whole entries left in the segment.
	keptEntries int
	// cutBytes is how much was cut off: a partial entry, and whatever followed it.
	cutBytes int64
}

// segmentNameLen is the length of tidwall/wal's segment file names: the segment's first index,
// 20 digits.
const segmentNameLen = 20

// cutTornTail cuts the last segment of the log in dir at its last whole entry. A write the disk
// could not finish (full disk, crash mid-write, a copy cut short) leaves a partial entry at the end
// of the last segment; the log library then refuses to open the whole log ("log corrupt"), and
// with it every intact entry. Only the last segment is cut: the library reads the others at replay,
// where a damaged one costs its own entries (counted as read failures), not the start.
//
// An entry is a uvarint length and that many bytes (the library's binary format). Whole entries
// whose content is damaged are left to the replay, which skips and counts them. A segment with a
// START or END marker (a truncation interrupted) is left for the library to finish.
func cutTornTail(dir string) (tornTail, error) {
	names, err := segmentNames(dir)
	if err != nil || len(names) == 0 {
		return tornTail{}, err
	}
	last := filepath.Join(dir, names[len(names)-1])
	data, err := os.ReadFile(last)
	if err != nil {
		return tornTail{}, err
	}
	whole, entries := wholeEntries(data)
	if whole == len(data) {
		return tornTail{}, nil
	}
	if err := os.Truncate(last, int64(whole)); err != nil {
		return tornTail{}, fmt.Errorf("cutting the partial entry at the end of %s: %w", last, err)
	}
	return tornTail{segment: last, keptEntries: entries, cutBytes: int64(len(data) - whole)}, nil
}

// segmentNames lists the plain segment files of dir in index order; nil if a START or END marker
// is present.
func segmentNames(dir string) ([]string, error) {
	dirEntries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, de := range dirEntries {
		name := de.Name()
		if de.IsDir() || len(name) < segmentNameLen || !allDigits(name[:segmentNameLen]) {
			continue
		}
		if len(name) != segmentNameLen {
			return nil, nil // name.START or name.END: the library's own recovery
		}
		names = append(names, name)
	}
	sort.Strings(names) // zero-padded: lexical order is index order
	return names, nil
}

func allDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// wholeEntries returns the length of the longest prefix of data made of whole entries, and their
// number.
func wholeEntries(data []byte) (length, entries int) {
	for length < len(data) {
		size, n := binary.Uvarint(data[length:])
		if n <= 0 || uint64(len(data)-length-n) < size {
			break
		}
		length += n + int(size)
		entries++
	}
	return length, entries
}

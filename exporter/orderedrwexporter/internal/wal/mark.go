package wal // import "github.com/otelcol-fleet/otelcol-fleet/exporter/orderedrwexporter/internal/wal"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// doneMarkFile holds the watermark last seen: every entry before it had each of its samples
// delivered or counted dropped. Truncation removes such entries only every TruncateInterval
// (it rewrites a segment), so a crash used to resend up to that much already delivered data;
// the mark, written every doneMarkInterval, lets the replay skip it. The backend answers most of
// those resends "out of order" (only the newest sample of a series is an accepted identical
// resend), which counted as drops samples that were in fact stored.
//
// The mark is written by rename, without fsync: a mark lost to a power cut only means more is
// resent, never that something is skipped, since a mark never runs ahead of the watermark.
const doneMarkFile = "DONE"

// doneMarkInterval is how often the mark is written, when the watermark moved.
const doneMarkInterval = time.Second

func writeDoneMark(dir string, watermark uint64) error {
	tmp := filepath.Join(dir, doneMarkFile+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.FormatUint(watermark, 10)+"\n"), 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, doneMarkFile))
}

// readDoneMark returns the mark, 0 if there is none.
func readDoneMark(dir string) (uint64, error) {
	data, err := os.ReadFile(filepath.Join(dir, doneMarkFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	mark, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", doneMarkFile, err)
	}
	return mark, nil
}

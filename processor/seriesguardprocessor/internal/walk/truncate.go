package walk // import "github.com/otelcol-fleet/otelcol-fleet/processor/seriesguardprocessor/internal/walk"

import (
	"encoding/hex"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// TruncateHashLength is the length of the hex hash appended to a truncated value; a value limit
// must leave room for it, a separator and part of the value.
const TruncateHashLength = 16

// truncateValues shortens every attribute value longer than maxLength to a prefix, "~" and 16
// hex digits of the hash of the whole value: distinct values stay distinct series.
func truncateValues(attrs pcommon.Map, maxLength int) {
	for k, v := range attrs.All() {
		s := v.AsString()
		if len(s) <= maxLength {
			continue
		}
		attrs.PutStr(k, truncateValue(s, maxLength))
	}
}

func truncateValue(s string, maxLength int) string {
	cut := maxLength - TruncateHashLength - 1
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut-- // keep the prefix valid UTF-8
	}
	var sum [8]byte
	h := xxhash.Sum64String(s)
	for i := range sum {
		sum[i] = byte(h >> (56 - 8*i))
	}
	return s[:cut] + "~" + hex.EncodeToString(sum[:])
}

// Package logsafe bounds what a log line carries from the data it is about: every metric name,
// label name, label value or tenant value a component logs goes through it. A series with a
// 19 MB label value wrote a 19.9 MB log line every 10 s (issue #18); 64 bytes name any real
// label or metric, the rest is cut and its size told, as `abc…(19000000 bytes)`.
package logsafe // import "github.com/otelcol-fleet/otelcol-fleet/internal/logsafe"

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxBytes is how much of one input-derived string a log line keeps.
const MaxBytes = 64

// String returns s when it is at most MaxBytes long, else its first MaxBytes bytes (cut back to
// a character boundary) followed by `…(N bytes)`, N being the full length. The cut string is a
// copy: it does not keep the long one alive.
func String(s string) string {
	if len(s) <= MaxBytes {
		return s
	}
	var b strings.Builder
	Write(&b, s)
	return b.String()
}

// Strings returns a copy of ss with every element through String.
func Strings(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = String(s)
	}
	return out
}

// Write writes s to b as String returns it, without the intermediate string.
func Write(b *strings.Builder, s string) {
	if len(s) <= MaxBytes {
		b.WriteString(s)
		return
	}
	cut := MaxBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	b.WriteString(s[:cut])
	b.WriteString("…(")
	b.WriteString(strconv.Itoa(len(s)))
	b.WriteString(" bytes)")
}

package logsafe

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestString(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"short", "up", "up"},
		{"exactly the bound", strings.Repeat("x", 64), strings.Repeat("x", 64)},
		{"one byte over", strings.Repeat("x", 65), strings.Repeat("x", 64) + "…(65 bytes)"},
		{"19 MB", strings.Repeat("x", 19_000_000), strings.Repeat("x", 64) + "…(19000000 bytes)"},
		// "é" is two bytes: byte 64 starts a character, so 32 whole ones are kept.
		{"cut at a character boundary", strings.Repeat("é", 40), strings.Repeat("é", 32) + "…(80 bytes)"},
		// "a" then "é"s: byte 64 is the second half of an "é", so the cut steps back to 63.
		{"never splits a character", "a" + strings.Repeat("é", 40), "a" + strings.Repeat("é", 31) + "…(81 bytes)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, String(c.in))
			var b strings.Builder
			Write(&b, c.in)
			assert.Equal(t, c.want, b.String(), "Write agrees with String")
		})
	}
}

func TestStrings(t *testing.T) {
	in := []string{"up", strings.Repeat("t", 1000)}
	got := Strings(in)
	assert.Equal(t, []string{"up", strings.Repeat("t", 64) + "…(1000 bytes)"}, got)
	assert.Equal(t, strings.Repeat("t", 1000), in[1], "the input is left alone")
	assert.Empty(t, Strings(nil))
}

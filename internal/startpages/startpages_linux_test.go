//go:build linux

package startpages

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const exe = "/usr/bin/otelcol fleet"

func TestParseMapsKeepsTheBinarysReadOnlyMappings(t *testing.T) {
	maps := strings.Join([]string{
		"00400000-02189000 r-xp 00000000 fe:01 1049127    /usr/bin/otelcol fleet",
		"02189000-04c7e000 r--p 01d89000 fe:01 1049127    /usr/bin/otelcol fleet",
		"04c7e000-04d2c000 rw-p 0487e000 fe:01 1049127    /usr/bin/otelcol fleet",
		"04d2c000-04d90000 rw-p 00000000 00:00 0 ",
		"c000000000-c004000000 rw-p 00000000 00:00 0 ",
		"7f0000000000-7f0000001000 r--p 00000000 fe:01 42    /usr/lib/other.so",
		"7f0000002000-7f0000003000 r--p 00000000 fe:01 1049127    /usr/bin/otelcol fleet (deleted)",
		"7ffd1000-7ffd3000 r-xp 00000000 00:00 0                          [vdso]",
	}, "\n")
	got, err := parseMaps(strings.NewReader(maps), exe)
	require.NoError(t, err)
	assert.Equal(t, []addrRange{
		{0x400000, 0x2189000},
		{0x2189000, 0x4c7e000},
		{0x7f0000002000, 0x7f0000003000}, // replaced on disk since the start: still its pages
	}, got)

	_, err = parseMaps(strings.NewReader("zz r--p 0 fe:01 1 /usr/bin/otelcol fleet"), exe)
	assert.ErrorContains(t, err, "unexpected line in /proc/self/maps")
}

func TestParseSmapsCountsTheBinarysReadOnlyRSS(t *testing.T) {
	smaps := strings.Join([]string{
		"00400000-02189000 r-xp 00000000 fe:01 1049127    /usr/bin/otelcol fleet",
		"Size:              30244 kB",
		"Rss:               18000 kB",
		"VmFlags: rd ex mr mw me",
		"02189000-04c7e000 r--p 01d89000 fe:01 1049127    /usr/bin/otelcol fleet",
		"Rss:                  96 kB",
		"04c7e000-04d2c000 rw-p 0487e000 fe:01 1049127    /usr/bin/otelcol fleet",
		"Rss:                 500 kB",
		"c000000000-c004000000 rw-p 00000000 00:00 0 ",
		"Rss:               40000 kB",
	}, "\n")
	got, err := parseSmaps(strings.NewReader(smaps), exe)
	require.NoError(t, err)
	assert.Equal(t, int64(18096)<<10, got)
}

// The test binary is a Go binary too: its start touched its pages, and Release gives them back.
// What the test runs next faults a few back, far fewer than were resident.
func TestReleaseGivesBackTheBinarysPages(t *testing.T) {
	self, err := os.Readlink("/proc/self/exe")
	require.NoError(t, err)
	before, err := resident(self)
	require.NoError(t, err)
	require.Positive(t, before, "the running binary has resident pages")

	got, err := Release()
	require.NoError(t, err)
	assert.InDelta(t, before, got.Before, float64(before)/2, "Release measures what was resident")
	assert.Less(t, got.After, got.Before/2, "most of the binary's pages given back: %+v", got)

	// The process runs on: code it needs faults back in with the same bytes.
	again, err := Release()
	require.NoError(t, err)
	assert.Less(t, again.Before, before)
}

//go:build linux

package startpages

import (
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const exe = "/usr/bin/otelcol fleet"

func TestParseSmapsKeepsTheBinarysReadOnlyMappings(t *testing.T) {
	smaps := strings.Join([]string{
		"00400000-02189000 r-xp 00000000 fe:01 1049127    /usr/bin/otelcol fleet",
		"Size:              30244 kB",
		"Rss:               18000 kB",
		"Anonymous:             0 kB",
		"VmFlags: rd ex mr mw me",
		"02189000-04c7e000 r--p 01d89000 fe:01 1049127    /usr/bin/otelcol fleet",
		"Rss:                  96 kB",
		"Anonymous:             0 kB",
		// A PIE's RELRO: read-only now, but with pages the loader wrote.
		"04c7e000-04c80000 r--p 0487e000 fe:01 1049127    /usr/bin/otelcol fleet",
		"Rss:                   8 kB",
		"Anonymous:             8 kB",
		"04c80000-04d2c000 rw-p 04880000 fe:01 1049127    /usr/bin/otelcol fleet",
		"Rss:                 500 kB",
		"Anonymous:           400 kB",
		"c000000000-c004000000 rw-p 00000000 00:00 0 ",
		"Rss:               40000 kB",
		"7f0000000000-7f0000001000 r--p 00000000 fe:01 42    /usr/lib/other.so",
		"Rss:                   4 kB",
		"7f0000002000-7f0000003000 r--p 00000000 fe:01 1049127    /usr/bin/otelcol fleet (deleted)",
		"Rss:                   4 kB",
		"7ffd1000-7ffd3000 r-xp 00000000 00:00 0                          [vdso]",
		"Rss:                   8 kB",
	}, "\n")
	got, err := parseSmaps(strings.NewReader(smaps), exe)
	require.NoError(t, err)
	assert.Equal(t, []mapping{
		{start: 0x400000, end: 0x2189000, resident: 18000 << 10},
		{start: 0x2189000, end: 0x4c7e000, resident: 96 << 10},
		{start: 0x4c7e000, end: 0x4c80000, resident: 8 << 10, anonymous: 8 << 10},
		// replaced on disk since the start: still its pages
		{start: 0x7f0000002000, end: 0x7f0000003000, resident: 4 << 10},
	}, got)
	assert.Equal(t, int64(18108)<<10, resident(got))

	_, err = parseSmaps(strings.NewReader("zz r--p 0 fe:01 1 /usr/bin/otelcol fleet"), exe)
	assert.ErrorContains(t, err, "unexpected line in /proc/self/smaps")
	_, err = parseSmaps(strings.NewReader("00400000-02189000 r-xp 0 fe:01 1 /usr/bin/otelcol fleet\nRss: many kB"), exe)
	assert.ErrorContains(t, err, "unexpected line in /proc/self/smaps")
}

// The test binary is a Go binary too: Release gives its pages back, and what the test runs next
// faults a few back, far fewer than were resident.
func TestReleaseGivesBackTheBinarysPages(t *testing.T) {
	for range 2 { // the second time as the first: pages faulted in again are given back again
		faultIn(t)
		got, err := Release()
		require.NoError(t, err)
		require.Positive(t, got.Before, "the running binary has resident pages")
		assert.Less(t, got.After, got.Before/2, "most of the binary's pages given back: %+v", got)
	}
}

// faultIn makes every page of the binary's read-only mappings resident, as a start does, by
// reading them through /proc/self/mem (which faults them into the process's page tables).
func faultIn(t *testing.T) {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	require.NoError(t, err)
	ms, err := readOnlyMappings(exe)
	require.NoError(t, err)
	mem, err := os.Open("/proc/self/mem")
	require.NoError(t, err)
	defer mem.Close()
	var size int64
	for _, m := range ms {
		_, err := io.Copy(io.Discard, io.NewSectionReader(mem, int64(m.start), int64(m.end-m.start)))
		require.NoError(t, err)
		size += int64(m.end - m.start)
	}
	ms, err = readOnlyMappings(exe)
	require.NoError(t, err)
	require.Greater(t, resident(ms), size/2, "faulted in")
}

//go:build linux

package startpages

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Release gives back the resident pages of the running binary's read-only mappings (its code,
// read-only data and function tables). Writable mappings are never touched: their pages may
// hold what the process wrote.
//
// Two advices, because each does half of it:
//   - MADV_PAGEOUT (Linux ≥ 5.4) reclaims the pages from the page cache too, so a later fault
//     maps only what it reads, not the 64 KiB around it that the kernel maps from the cache
//     ("fault-around"). The kernel skips pages that another process maps, and every page when the
//     process may not write the file (a non-root collector on a root-owned binary).
//   - MADV_DONTNEED then drops what PAGEOUT left from this process's page tables, whatever the
//     file's owner; those pages stay in the page cache, clean and reclaimable.
//
// Both are safe on a read-only private mapping: a page faults back in with the same bytes.
func Release() (Released, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return Released{}, fmt.Errorf("finding the binary: %w", err)
	}
	before, err := resident(exe)
	if err != nil {
		return Released{}, err
	}
	ranges, err := readOnlyMappings(exe)
	if err != nil {
		return Released{}, err
	}
	if len(ranges) == 0 {
		return Released{}, fmt.Errorf("no read-only mapping of %s in /proc/self/maps", exe)
	}
	var errs []error
	for _, r := range ranges {
		// EINVAL: a kernel older than 5.4, which has no MADV_PAGEOUT; DONTNEED still works.
		if err := madvise(r, unix.MADV_PAGEOUT); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, err)
		}
		if err := madvise(r, unix.MADV_DONTNEED); err != nil {
			errs = append(errs, err)
		}
	}
	after, err := resident(exe)
	return Released{Before: before, After: after}, errors.Join(append(errs, err)...)
}

// addrRange is one mapping, [start, end).
type addrRange struct{ start, end uintptr }

func madvise(r addrRange, advice int) error {
	// The raw syscall takes the mapping's addresses as they are: madvise never reads the memory,
	// so no Go slice (and no unsafe conversion) is needed.
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, r.start, r.end-r.start, uintptr(advice)); errno != 0 {
		return fmt.Errorf("madvise %#x-%#x (%d): %w", r.start, r.end, advice, errno)
	}
	return nil
}

// readOnlyMappings lists the mappings of exe that the process cannot write.
func readOnlyMappings(exe string) ([]addrRange, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMaps(f, exe)
}

// parseMaps reads lines of /proc/<pid>/maps:
//
//	00400000-02189000 r-xp 00000000 fe:01 1049127    /usr/bin/otelcol-fleet
func parseMaps(r io.Reader, exe string) ([]addrRange, error) {
	var out []addrRange
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || !isExe(fields[5:], exe) || len(fields[1]) < 2 || fields[1][1] == 'w' {
			continue
		}
		start, end, ok := strings.Cut(fields[0], "-")
		if !ok {
			return nil, fmt.Errorf("unexpected line in /proc/self/maps: %q", sc.Text())
		}
		s, err1 := strconv.ParseUint(start, 16, 64)
		e, err2 := strconv.ParseUint(end, 16, 64)
		if err1 != nil || err2 != nil || e <= s {
			return nil, fmt.Errorf("unexpected line in /proc/self/maps: %q", sc.Text())
		}
		out = append(out, addrRange{uintptr(s), uintptr(e)})
	}
	return out, sc.Err()
}

// isExe reports whether a mapping's path (the rest of its line, which may hold spaces, and
// " (deleted)" once the file was replaced, as an upgrade in place does) is the binary's.
func isExe(path []string, exe string) bool {
	p := strings.TrimSuffix(strings.Join(path, " "), " (deleted)")
	return p == strings.TrimSuffix(exe, " (deleted)")
}

// resident is the resident bytes of exe's read-only mappings, from /proc/self/smaps.
func resident(exe string) (int64, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseSmaps(f, exe)
}

func parseSmaps(r io.Reader, exe string) (int64, error) {
	var total int64
	counting := false
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		// A mapping's header starts with its address range; the lines under it are "Key: value kB".
		if !strings.HasSuffix(fields[0], ":") {
			counting = len(fields) >= 6 && isExe(fields[5:], exe) && len(fields[1]) >= 2 && fields[1][1] != 'w'
			continue
		}
		if counting && fields[0] == "Rss:" && len(fields) >= 2 {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("unexpected line in /proc/self/smaps: %q", sc.Text())
			}
			total += kb << 10
		}
	}
	return total, sc.Err()
}

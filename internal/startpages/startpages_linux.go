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
// hold what the process wrote. Three steps, each needed for the next:
//   - madvise(MADV_DONTNEED) drops the pages from this process's page tables. Safe on a
//     read-only private mapping: a page faults back in with the same bytes.
//   - posix_fadvise(POSIX_FADV_DONTNEED) on the binary then drops them from the page cache,
//     where they are clean and no longer mapped by us (the kernel keeps any page another process
//     maps). Left in the cache, every later fault would map the 64 KiB around it ("fault-around")
//     and bring back four times what runs. Reading the file is all it needs: it works for a
//     non-root collector on a root-owned binary, where MADV_PAGEOUT does nothing.
//   - madvise(MADV_RANDOM) stops the kernel reading ahead around a later fault (by default the
//     whole read-ahead window, megabytes, into the cache, where fault-around maps it again).
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
		errs = append(errs, madvise(r, unix.MADV_DONTNEED))
	}
	errs = append(errs, dropFromPageCache(exe))
	for _, r := range ranges {
		errs = append(errs, madvise(r, unix.MADV_RANDOM))
	}
	after, err := resident(exe)
	return Released{Before: before, After: after}, errors.Join(append(errs, err)...)
}

// dropFromPageCache asks the kernel to drop exe's clean, unmapped pages from the page cache.
func dropFromPageCache(exe string) error {
	// /proc/self/exe opens the running binary even if the path was replaced since the start.
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		return fmt.Errorf("opening %s: %w", exe, err)
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("posix_fadvise %s: %w", exe, err)
	}
	return nil
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

//go:build linux

package startpages

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Release gives back the resident pages of the running binary's read-only mappings (its code,
// read-only data and function tables). Three steps, each needed for the others:
//   - madvise(MADV_RANDOM) stops the kernel reading ahead around a later fault (by default the
//     whole read-ahead window, megabytes, into the cache, where fault-around maps it again).
//   - madvise(MADV_DONTNEED) drops the pages from this process's page tables. A page faults
//     back in with the same bytes: only mappings that are read-only and hold no page of their
//     own (smaps' Anonymous: 0) are advised. A writable mapping may hold what the process wrote,
//     and a read-only one with private pages (a PIE binary's relocated RELRO) would lose them.
//   - posix_fadvise(POSIX_FADV_DONTNEED) on the binary then drops them from the page cache,
//     where they are clean and no longer mapped by us (the kernel keeps any page another process
//     maps). Left in the cache, every later fault would map the 64 KiB around it ("fault-around")
//     and bring back several times what runs. Reading the file is all it needs: it works for a
//     non-root collector on a root-owned binary, where MADV_PAGEOUT does nothing.
func Release() (Released, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return Released{}, fmt.Errorf("finding the binary: %w", err)
	}
	mappings, err := readOnlyMappings(exe)
	if err != nil {
		return Released{}, err
	}
	var advised []mapping
	for _, m := range mappings {
		if m.anonymous == 0 {
			advised = append(advised, m)
		}
	}
	if len(advised) == 0 {
		return Released{}, fmt.Errorf("no read-only mapping of %s without private pages in /proc/self/smaps", exe)
	}
	// Opened first, and read-around turned off before the pages go: the code that runs between
	// the steps faults its pages back one by one, and as little of it runs as can be.
	f, err := os.Open("/proc/self/exe") // the running binary, even if its path was replaced since
	if err != nil {
		return Released{}, fmt.Errorf("opening %s: %w", exe, err)
	}
	defer f.Close()
	var errs []error
	for _, m := range advised {
		errs = append(errs, madvise(m, unix.MADV_RANDOM))
	}
	for _, m := range advised {
		errs = append(errs, madvise(m, unix.MADV_DONTNEED))
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		errs = append(errs, fmt.Errorf("posix_fadvise %s: %w", exe, err))
	}
	after, err := readOnlyMappings(exe)
	after = slices.DeleteFunc(after, func(m mapping) bool {
		return !slices.ContainsFunc(advised, func(a mapping) bool { return a.start == m.start })
	})
	return Released{Before: resident(advised), After: resident(after)}, errors.Join(append(errs, err)...)
}

// mapping is one read-only mapping of the binary, [start, end), with its resident bytes and
// those of them that are the process's own (copied on write).
type mapping struct {
	start, end          uintptr
	resident, anonymous int64
}

func madvise(m mapping, advice int) error {
	// The raw syscall takes the mapping's addresses as they are: madvise never reads the memory,
	// so no Go slice (and no unsafe conversion) is needed.
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, uintptr(advice)); errno != 0 {
		return fmt.Errorf("madvise %#x-%#x (%d): %w", m.start, m.end, advice, errno)
	}
	return nil
}

func resident(ms []mapping) int64 {
	var total int64
	for _, m := range ms {
		total += m.resident
	}
	return total
}

// readOnlyMappings lists the mappings of exe that the process cannot write.
func readOnlyMappings(exe string) ([]mapping, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseSmaps(f, exe)
}

// parseSmaps reads /proc/<pid>/smaps: a header line per mapping,
//
//	00400000-02189000 r-xp 00000000 fe:01 1049127    /usr/bin/otelcol-fleet
//
// followed by "Key: value kB" lines.
func parseSmaps(r io.Reader, exe string) ([]mapping, error) {
	var out []mapping
	var cur *mapping
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if !strings.HasSuffix(fields[0], ":") {
			cur = nil
			if len(fields) < 6 || !isExe(fields[5:], exe) || len(fields[1]) < 2 || fields[1][1] == 'w' {
				continue
			}
			start, end, ok := strings.Cut(fields[0], "-")
			s, err1 := strconv.ParseUint(start, 16, 64)
			e, err2 := strconv.ParseUint(end, 16, 64)
			if !ok || err1 != nil || err2 != nil || e <= s {
				return nil, fmt.Errorf("unexpected line in /proc/self/smaps: %q", sc.Text())
			}
			out = append(out, mapping{start: uintptr(s), end: uintptr(e)})
			cur = &out[len(out)-1]
			continue
		}
		if cur == nil || len(fields) < 2 || (fields[0] != "Rss:" && fields[0] != "Anonymous:") {
			continue
		}
		kb, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("unexpected line in /proc/self/smaps: %q", sc.Text())
		}
		if fields[0] == "Rss:" {
			cur.resident = kb << 10
		} else {
			cur.anonymous = kb << 10
		}
	}
	return out, sc.Err()
}

// isExe reports whether a mapping's path (the rest of its line, which may hold spaces, and
// " (deleted)" once the file was replaced, as an upgrade in place does) is the binary's.
func isExe(path []string, exe string) bool {
	p := strings.TrimSuffix(strings.Join(path, " "), " (deleted)")
	return p == strings.TrimSuffix(exe, " (deleted)")
}

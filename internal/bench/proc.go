package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat: 100 on every Linux
// architecture Go supports (the kernel's HZ may differ; USER_HZ does not).
const clockTicks = 100

// ProcCPUSeconds is the CPU time (user + system, all threads) a process used so far, from
// /proc/<pid>/stat fields 14 and 15.
func ProcCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may contain spaces: split after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, b)
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state), so utime (14) and stime (15) are fields[11] and fields[12].
	if len(fields) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, b)
	}
	utime, err1 := strconv.ParseUint(fields[11], 10, 64)
	stime, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, b)
	}
	return float64(utime+stime) / clockTicks, nil
}

// ProcMemory is a process' resident memory from /proc/<pid>/status, in bytes.
type ProcMemory struct {
	// PeakRSS is VmHWM, the high-water mark of the resident set over the process' life.
	PeakRSS int64
	// RSS is VmRSS, the resident set now: RSSAnon (heap, stacks, the runtime's own memory)
	// plus RSSFile (pages of the binary and other files mapped and touched) plus shared memory.
	RSS     int64
	RSSAnon int64
	RSSFile int64
}

// ReadProcMemory reads VmHWM, VmRSS, RssAnon and RssFile.
func ReadProcMemory(pid int) (ProcMemory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcMemory{}, err
	}
	defer f.Close()
	var m ProcMemory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "VmHWM:"):
			m.PeakRSS, err = parseKB(line)
		case strings.HasPrefix(line, "VmRSS:"):
			m.RSS, err = parseKB(line)
		case strings.HasPrefix(line, "RssAnon:"):
			m.RSSAnon, err = parseKB(line)
		case strings.HasPrefix(line, "RssFile:"):
			m.RSSFile, err = parseKB(line)
		}
		if err != nil {
			return ProcMemory{}, err
		}
	}
	if m.PeakRSS == 0 || m.RSS == 0 {
		return ProcMemory{}, fmt.Errorf("no VmHWM/VmRSS in /proc/%d/status", pid)
	}
	return m, sc.Err()
}

func parseKB(line string) (int64, error) {
	f := strings.Fields(line)
	if len(f) != 3 || f[2] != "kB" {
		return 0, fmt.Errorf("unexpected line %q", line)
	}
	v, err := strconv.ParseInt(f[1], 10, 64)
	return v * 1024, err
}

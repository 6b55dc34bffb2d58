package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// scope implements fleettest.T for one benchmark run outside `go test`: cleanups (stopping the
// collector, removing its temporary directory) run when the run ends; a fatal error ends the
// run, not the program, and is returned by runScoped.
type scope struct {
	mu       sync.Mutex
	cleanups []func()
	dirs     []string
	errs     []string
	log      io.Writer
}

type scopeFailure struct{ msg string }

func (s *scope) Helper() {}

func (s *scope) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

func (s *scope) TempDir() string {
	dir, err := os.MkdirTemp("", "fleetbench-")
	if err != nil {
		s.Fatal(err)
	}
	s.mu.Lock()
	s.dirs = append(s.dirs, dir)
	s.mu.Unlock()
	return dir
}

func (s *scope) Logf(format string, args ...any) {
	if s.log != nil {
		fmt.Fprintf(s.log, format+"\n", args...)
	}
}

func (s *scope) Errorf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, fmt.Sprintf(format, args...))
}

func (s *scope) Fatal(args ...any) { panic(scopeFailure{fmt.Sprint(args...)}) }
func (s *scope) Fatalf(format string, args ...any) {
	panic(scopeFailure{fmt.Sprintf(format, args...)})
}
func (s *scope) Skipf(format string, args ...any) {
	panic(scopeFailure{"skipped: " + fmt.Sprintf(format, args...)})
}

func (s *scope) close() {
	s.mu.Lock()
	fs, dirs := s.cleanups, s.dirs
	s.cleanups, s.dirs = nil, nil
	s.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
	for _, dir := range dirs {
		_ = os.RemoveAll(dir)
	}
}

// runScoped runs f with a fresh scope and returns its fatal error or the errors it reported,
// after its cleanups ran.
func runScoped(log io.Writer, f func(s *scope)) (err error) {
	s := &scope{log: log}
	defer func() {
		if r := recover(); r != nil {
			failure, ok := r.(scopeFailure)
			if !ok {
				s.close()
				panic(r)
			}
			err = errors.New(failure.msg)
		}
		s.close()
		if err == nil && len(s.errs) > 0 {
			err = errors.New(strings.Join(s.errs, "; "))
		}
	}()
	f(s)
	return nil
}

package fleettest

import "syscall"

const (
	syscallSIGTERM = syscall.SIGTERM
	syscallSIGSTOP = syscall.SIGSTOP
	syscallSIGCONT = syscall.SIGCONT
)

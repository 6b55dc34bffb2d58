package fleettest

import "syscall"

const syscallSIGTERM = syscall.SIGTERM

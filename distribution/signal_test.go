package distribution

import "syscall"

const sigterm = syscall.SIGTERM

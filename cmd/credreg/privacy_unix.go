//go:build unix

package main

import "syscall"

// restrictFileModes makes every file and folder credreg creates from now
// on readable by its owner and group only — the warehouse, the raw zone
// (real names), staging, leases, _failed, the metrics file — however the
// code creating it spells its mode: a umask of 027 on top of the one the
// process was started with, which may be stricter and stays so. It is
// process-wide, so it is set once, at startup, before any goroutine may
// create a file. Files that exist keep their modes.
func restrictFileModes() {
	old := syscall.Umask(0o027)
	syscall.Umask(old | 0o027)
}

//go:build !unix

package main

// restrictFileModes does nothing where there is no umask (Windows): files
// there inherit the folder's access control list.
func restrictFileModes() {}

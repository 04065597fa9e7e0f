//go:build !linux

package main

// readAll reads every conn on a goroutine of its own (epoll is Linux's).
func (b *bench) readAll(conns []*conn) (stop func()) { return b.readGoroutines(conns) }

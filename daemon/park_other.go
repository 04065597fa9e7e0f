//go:build !linux

package daemon

// inputPoller is Linux only (epoll); elsewhere connections do not park and
// every session keeps its reader goroutine.
type inputPoller struct{}

func theInputPoller() *inputPoller { return nil }

func acquirePoller() {}

func releasePoller() {}

func (p *inputPoller) arm(int, *streamConn) bool { return false }

func (p *inputPoller) forget(int, *streamConn) {}

func (p *inputPoller) wakeAt(*streamConn, int64) {}

func (p *inputPoller) noWake(*streamConn) {}

func (c *streamConn) waitInput() error { return errNoPark }

package daemon

import "time"

// SetHTTPIdleTimeout changes how long the web and metrics listeners keep
// an idle keep-alive connection, for servers that listen from now on, and
// returns a func that restores it.
func SetHTTPIdleTimeout(d time.Duration) (restore func()) {
	old := httpIdleTimeout
	httpIdleTimeout = d
	return func() { httpIdleTimeout = old }
}

package daemon

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"chatd"
)

// metrics are the server's Prometheus series, on a registry of its own
// (with the Go runtime and process collectors). Call sites count through
// the small methods below; docs/operations.md lists what each means.
type metrics struct {
	reg *prometheus.Registry

	connections      *prometheus.GaugeVec   // by listener
	logins           *prometheus.CounterVec // by result
	messages         *prometheus.CounterVec // by kind
	deliveries       *prometheus.CounterVec // by status
	offlineStored    prometheus.Counter
	offlineDelivered prometheus.Counter
	slowClients      prometheus.Counter
	roomPasses       prometheus.Counter
	rateLimited      prometheus.Counter
	refused          *prometheus.CounterVec // by reason
	dbSeconds        *prometheus.HistogramVec
	hashWait         prometheus.Histogram
	reloads          *prometheus.CounterVec // by result
	adminActions     *prometheus.CounterVec // by kind
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	counterVec := func(name, help, label string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
	}
	m.connections = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "chatd_connections_open", Help: "Client connections open, logged in or not, by listener.",
	}, []string{"listener"})
	m.logins = counterVec("chatd_logins_total", "Login attempts by result: ok, registered, bad_credentials, locked_out, banned, server_busy, or another error code.", "result")
	m.messages = counterVec("chatd_messages_total", "Messages sent by users, by kind: room, broadcast, private.", "kind")
	m.deliveries = counterVec("chatd_deliveries_total", "Private message recipients by delivery status: delivered, stored, blocked, mailbox_full, no_such_user.", "status")
	m.offlineStored = counter("chatd_offline_stored_total", "Private messages stored for an offline recipient.")
	m.offlineDelivered = counter("chatd_offline_delivered_total", "Stored messages written to their recipient's connection (and then deleted).")
	m.roomPasses = counter("chatd_busy_room_passes_total", "Passes in which a busy room's members were written what was said since the last (rooms.busy_writes).")
	m.slowClients = counter("chatd_slow_client_disconnects_total", "Sessions ended because the client did not read its events fast enough.")
	m.rateLimited = counter("chatd_rate_limited_lines_total", "Lines refused with rate_limited.")
	m.refused = counterVec("chatd_connections_refused_total", "Connections refused at once, by reason: full, per_ip, shutting_down, starting, closed.", "reason")
	m.dbSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "chatd_db_operation_seconds", Help: "Time taken by database operations, by operation.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10), // 100µs .. 26s
	}, []string{"op"})
	m.hashWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "chatd_argon2_wait_seconds", Help: "Time a password check or hash waited for an argon2 slot.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 8), // 1ms .. 16s
	})
	m.reloads = counterVec("chatd_reloads_total", "Configuration reloads (SIGHUP) by result: ok, error.", "result")
	m.adminActions = counterVec("chatd_admin_actions_total", "Admin actions from the shell acted on, by kind.", "kind")
	online := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "chatd_users_online", Help: "Users logged in.",
	}, func() float64 { return float64(s.hub.count()) })
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.connections, m.logins, m.messages, m.deliveries, m.offlineStored, m.offlineDelivered,
		m.slowClients, m.roomPasses, m.rateLimited, m.refused, m.dbSeconds, m.hashWait, m.reloads, m.adminActions, online,
	)
	return m
}

func (m *metrics) connOpened(listener string)   { m.connections.WithLabelValues(listener).Inc() }
func (m *metrics) connClosed(listener string)   { m.connections.WithLabelValues(listener).Dec() }
func (m *metrics) login(result string)          { m.logins.WithLabelValues(result).Inc() }
func (m *metrics) message(kind string)          { m.messages.WithLabelValues(kind).Inc() }
func (m *metrics) delivery(status string)       { m.deliveries.WithLabelValues(status).Inc() }
func (m *metrics) stored()                      { m.offlineStored.Inc() }
func (m *metrics) delivered(n int)              { m.offlineDelivered.Add(float64(n)) }
func (m *metrics) slowClient()                  { m.slowClients.Inc() }
func (m *metrics) roomPass()                    { m.roomPasses.Inc() }
func (m *metrics) limited()                     { m.rateLimited.Inc() }
func (m *metrics) refusal(reason string)        { m.refused.WithLabelValues(reason).Inc() }
func (m *metrics) waited(d time.Duration)       { m.hashWait.Observe(d.Seconds()) }
func (m *metrics) action(kind chatd.ActionKind) { m.adminActions.WithLabelValues(string(kind)).Inc() }

func (m *metrics) reload(ok bool) {
	if ok {
		m.reloads.WithLabelValues("ok").Inc()
		return
	}
	m.reloads.WithLabelValues("error").Inc()
}

// dbOp times one database operation: defer m.dbOp("name")().
func (m *metrics) dbOp(op string) func() {
	start := time.Now()
	return func() { m.dbSeconds.WithLabelValues(op).Observe(time.Since(start).Seconds()) }
}

// ReloadFailed counts a reload that failed before it reached Reload (the
// file did not load or validate).
func (s *Server) ReloadFailed() { s.metrics.reload(false) }

// healthTimeout bounds the health check behind /healthz.
const healthTimeout = time.Second

// metricsHandler serves /metrics (Prometheus text format) and /healthz
// (200 "ok" when the hub and the database answer within healthTimeout
// and no database write failed lately, else 503 with the reason).
func (s *Server) metricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		if err := s.health(ctx); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	return mux
}

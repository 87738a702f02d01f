package admin

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/projections"
)

// Registration outcomes, the values of the "outcome" label of
// autoreg_registrations_total.
const (
	OutcomeAutoregistered = "autoregistered" // an unknown device got a DN
	OutcomeRegistered     = "registered"     // a known device registered (again, or from a new address)
	OutcomeRefreshed      = "refreshed"      // a refresh that changed nothing
	OutcomeRejected       = "rejected"       // refused (see autoreg_registration_rejections_total)
	OutcomeUnavailable    = "unavailable"    // the store could not take the write; the phone was told to retry
	OutcomeError          = "error"          // anything else
)

// Metrics are the registrar's Prometheus metrics, on their own registry
// (served at /metrics). The SIP and SCCP adapters register theirs on
// Registry too, and count registrations through Registrar.
//
// Names:
//
//	autoreg_registrations_total{protocol,outcome}    counter
//	autoreg_registration_rejections_total{reason}    counter
//	autoreg_window_open                              gauge (1 while a window is open)
//	autoreg_dns_left                                 gauge (free DNs in the range)
//	autoreg_devices{state="known"|"registered"}      gauge
//	autoreg_store_append_duration_seconds            histogram (until durable)
//	autoreg_store_append_errors_total{error}         counter
//	autoreg_admin_auth_failures_total{reason}        counter (missing, invalid, read_only, throttled)
//	autoreg_refused_total{adapter,reason}            counter (refused by a limit before the registrar)
//	autoreg_admin_requests_total{method,route,code}  counter
//	autoreg_admin_request_duration_seconds{route}    histogram
//
// plus the Go runtime and process collectors.
type Metrics struct {
	// Registry is where every collector is registered; /metrics serves it.
	Registry *prometheus.Registry

	Registrations     *prometheus.CounterVec
	Rejections        *prometheus.CounterVec
	WindowOpen        prometheus.Gauge
	DNsLeft           prometheus.Gauge
	Devices           *prometheus.GaugeVec
	StoreAppend       prometheus.Histogram
	StoreAppendErrors *prometheus.CounterVec
	AuthFailures      *prometheus.CounterVec
	Refused           *prometheus.CounterVec
	Requests          *prometheus.CounterVec
	RequestDuration   *prometheus.HistogramVec
}

// NewMetrics makes the metrics on a new registry.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		Registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "autoreg", Name: "registrations_total",
			Help: "Registration requests handled, by protocol (SIP, SCCP) and outcome.",
		}, []string{"protocol", "outcome"}),
		Rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "autoreg", Name: "registration_rejections_total",
			Help: "Registrations refused, by reason (window_closed, wrong_protocol, range_exhausted, mixed_mode, unknown_model, range_disabled).",
		}, []string{"reason"}),
		WindowOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "autoreg", Name: "window_open",
			Help: "1 while an autoregistration window is open, else 0.",
		}),
		DNsLeft: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "autoreg", Name: "dns_left",
			Help: "Directory numbers of the autoregistration range not in use.",
		}),
		Devices: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "autoreg", Name: "devices",
			Help: "Devices known to the registrar (state=known) and those registered now (state=registered).",
		}, []string{"state"}),
		StoreAppend: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "autoreg", Name: "store_append_duration_seconds",
			Help:    "Time from asking the event store to append until the events are durable.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		StoreAppendErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "autoreg", Name: "store_append_errors_total",
			Help: "Appends the event store refused, by error (conflict, unavailable, other).",
		}, []string{"error"}),
		AuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "autoreg", Name: "admin_auth_failures_total",
			Help: "Admin API requests refused: no token (missing), a wrong one (invalid), a read-only token asking for a change (read_only), an address slowed down after failures (throttled).",
		}, []string{"reason"}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "autoreg", Name: "refused_total",
			Help: "Requests and connections the SIP and SCCP adapters refused by a limit, before the registrar: by adapter and reason (rate_limited: the per-source rate; connections, connections_per_source; in_flight, transactions, devices, device_queue: the SIP tables).",
		}, []string{"adapter", "reason"}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "autoreg", Name: "admin_requests_total",
			Help: "Admin API requests, by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "autoreg", Name: "admin_request_duration_seconds",
			Help:    "Admin API request latency, by route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
	}
	reg.MustRegister(m.Registrations, m.Rejections, m.WindowOpen, m.DNsLeft, m.Devices, m.StoreAppend,
		m.StoreAppendErrors, m.AuthFailures, m.Refused, m.Requests, m.RequestDuration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Make the labelled series visible at zero before anything happens, so
	// rate() and alerts work from the first scrape.
	for _, p := range []domain.Protocol{domain.SIP, domain.SCCP} {
		for _, o := range []string{OutcomeAutoregistered, OutcomeRegistered, OutcomeRefreshed, OutcomeRejected, OutcomeUnavailable, OutcomeError} {
			m.Registrations.WithLabelValues(string(p), o)
		}
	}
	for _, r := range domain.RejectReasons {
		m.Rejections.WithLabelValues(string(r))
	}
	for _, r := range []string{authMissing, authInvalid, authReadOnly, authThrottled} {
		m.AuthFailures.WithLabelValues(r)
	}
	m.Refused.WithLabelValues("sip", "rate_limited")
	m.Refused.WithLabelValues("sccp", "rate_limited")
	return m
}

// CountRefused returns the function to give an adapter's Config.Refused:
// it counts autoreg_refused_total{adapter, reason}.
func (m *Metrics) CountRefused(adapter string) func(reason string) {
	return func(reason string) { m.Refused.WithLabelValues(adapter, reason).Inc() }
}

// observeStatus sets the gauges that mirror the service's state.
func (m *Metrics) observeStatus(st projections.Status) {
	if st.Open {
		m.WindowOpen.Set(1)
	} else {
		m.WindowOpen.Set(0)
	}
	m.DNsLeft.Set(float64(st.DNsLeft))
	m.Devices.WithLabelValues("known").Set(float64(st.Devices))
	m.Devices.WithLabelValues("registered").Set(float64(st.Registered))
}

// CountRegistration records the outcome of one registration (for adapters
// that do not use Registrar).
func (m *Metrics) CountRegistration(p domain.Protocol, reg command.Registered, err error) {
	outcome := OutcomeError
	var rej *domain.Rejection
	switch {
	case err == nil && reg.Autoregistered:
		outcome = OutcomeAutoregistered
	case err == nil && !reg.Changed:
		outcome = OutcomeRefreshed
	case err == nil:
		outcome = OutcomeRegistered
	case errors.As(err, &rej):
		outcome = OutcomeRejected
		m.Rejections.WithLabelValues(string(rej.Reason)).Inc()
	case command.Unavailable(err):
		outcome = OutcomeUnavailable
	}
	m.Registrations.WithLabelValues(string(p), outcome).Inc()
}

// Registrar wraps r so that every registration is counted in
// autoreg_registrations_total and autoreg_registration_rejections_total.
func (m *Metrics) Registrar(r command.Registrar) command.Registrar {
	return &countingRegistrar{next: r, m: m}
}

// Instrument is Registrar under the name serve uses.
func (m *Metrics) Instrument(r command.Registrar) command.Registrar { return m.Registrar(r) }

type countingRegistrar struct {
	next command.Registrar
	m    *Metrics
}

func (c *countingRegistrar) Register(ctx context.Context, r command.Registration) (command.Registered, error) {
	reg, err := c.next.Register(ctx, r)
	c.m.CountRegistration(r.Protocol, reg, err)
	return reg, err
}

func (c *countingRegistrar) Unregister(ctx context.Context, u command.Unregistration) error {
	return c.next.Unregister(ctx, u)
}

// Store wraps an event store so that appends are timed in
// autoreg_store_append_duration_seconds and their failures counted. A store
// that pipelines (eventstore.Pipeliner) still does after wrapping.
func (m *Metrics) Store(s eventstore.Store) eventstore.Store {
	ts := &timedStore{Store: s, m: m}
	if p, ok := s.(eventstore.Pipeliner); ok {
		return &timedPipeStore{timedStore: ts, pipe: p}
	}
	return ts
}

type timedStore struct {
	eventstore.Store
	m *Metrics
}

func (t *timedStore) Append(ctx context.Context, appends ...eventstore.StreamAppend) (eventstore.AppendResult, error) {
	start := time.Now()
	res, err := t.Store.Append(ctx, appends...)
	t.observe(start, err)
	return res, err
}

func (t *timedStore) observe(start time.Time, err error) {
	if err == nil {
		t.m.StoreAppend.Observe(time.Since(start).Seconds())
		return
	}
	kind := "other"
	switch {
	case errors.Is(err, eventstore.ErrWrongExpectedVersion):
		kind = "conflict"
	case errors.Is(err, eventstore.ErrUnavailable):
		kind = "unavailable"
	}
	t.m.StoreAppendErrors.WithLabelValues(kind).Inc()
}

type timedPipeStore struct {
	*timedStore
	pipe eventstore.Pipeliner
}

func (t *timedPipeStore) Enqueue(ctx context.Context, appends ...eventstore.StreamAppend) func() (eventstore.AppendResult, error) {
	start := time.Now()
	wait := t.pipe.Enqueue(ctx, appends...)
	var once sync.Once
	return func() (eventstore.AppendResult, error) {
		res, err := wait()
		once.Do(func() { t.observe(start, err) })
		return res, err
	}
}

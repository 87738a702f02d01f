package admin

import (
	"context"
	"errors"
	"math"
	"strconv"
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
//	autoreg_window_open_seconds                      gauge (how long the open window has been open; 0 closed)
//	autoreg_window_seconds_left                      gauge (until the window's time is up; NaN closed or unlimited)
//	autoreg_window_registrations                     gauge (autoregistrations in the open window)
//	autoreg_window_registrations_left                gauge (before its limit; NaN closed or unlimited)
//	autoreg_dns_left                                 gauge (free DNs in the range)
//	autoreg_dns_range_size                           gauge (DNs in the range)
//	autoreg_devices{state="known"|"registered"}      gauge
//	autoreg_devices_registered{protocol}             gauge (SCCP: phones on an open connection; SIP: with a binding)
//	autoreg_sip_bindings                             gauge (devices the SIP adapter holds bindings for)
//	autoreg_sccp_connections                         gauge (TCP connections the SCCP adapter holds: registered, standby, not yet registered)
//	autoreg_store_up                                 gauge (1 when the last read of the store succeeded)
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

	Registrations *prometheus.CounterVec
	Rejections    *prometheus.CounterVec
	// TFTPFiles counts the phones' TFTP downloads, by kind of file
	// (device, default, static, security) and result (sent, not_found,
	// refused, failed); TFTPBytes the bytes sent.
	TFTPFiles         *prometheus.CounterVec
	TFTPBytes         prometheus.Counter
	WindowOpen        prometheus.Gauge
	WindowOpenFor     prometheus.Gauge
	WindowLeft        prometheus.Gauge
	WindowRegs        prometheus.Gauge
	WindowRegsLeft    prometheus.Gauge
	DNsLeft           prometheus.Gauge
	DNsRange          prometheus.Gauge
	Devices           *prometheus.GaugeVec
	DevicesRegistered *prometheus.GaugeVec
	StoreUp           prometheus.Gauge
	StoreAppend       prometheus.Histogram
	StoreAppendErrors *prometheus.CounterVec
	AuthFailures      *prometheus.CounterVec
	Refused           *prometheus.CounterVec
	SIPAuthFailures   *prometheus.CounterVec
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
		WindowOpenFor: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "autoreg", Name: "window_open_seconds",
			Help: "How long the autoregistration window open now has been open, in seconds; 0 while closed.",
		}),
		WindowLeft: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "autoreg", Name: "window_seconds_left",
			Help: "Seconds until the open window's time is up; NaN while closed or when it has no maximum duration.",
		}),
		WindowRegs: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "autoreg", Name: "window_registrations",
			Help: "Phones autoregistered in the window open now; 0 while closed.",
		}),
		WindowRegsLeft: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "autoreg", Name: "window_registrations_left",
			Help: "Autoregistrations the open window still takes before its limit; NaN while closed or when it has no limit.",
		}),
		DNsLeft: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "autoreg", Name: "dns_left",
			Help: "Directory numbers of the autoregistration range not in use.",
		}),
		DNsRange: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "autoreg", Name: "dns_range_size",
			Help: "Directory numbers in the autoregistration range (0: none, or disabled).",
		}),
		Devices: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "autoreg", Name: "devices",
			Help: "Devices known to the registrar (state=known) and those registered now (state=registered).",
		}, []string{"state"}),
		DevicesRegistered: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "autoreg", Name: "devices_registered",
			Help: "Devices registered now, by protocol: SCCP phones hold an open connection, SIP phones a binding.",
		}, []string{"protocol"}),
		StoreUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "autoreg", Name: "store_up",
			Help: "1 when the last read of the event store (at the last scrape or status request) succeeded, else 0.",
		}),
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
			Help: "Admin API requests refused: no token (missing), a wrong one (invalid), a read-only token asking for a change (read_only), a wrong token refused with 429 because its address, its network or the server had failed too often (throttled), a console change or sign-in without its CSRF token (csrf).",
		}, []string{"reason"}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "autoreg", Name: "refused_total",
			Help: "Requests and connections the SIP and SCCP adapters refused by a limit, before the registrar: by adapter and reason (rate_limited: the per-source rate; connections, connections_per_source; in_flight, transactions, devices, device_queue: the SIP tables; registration_changes: a known device moved or registered anew too often, which the registrar declined).",
		}, []string{"adapter", "reason"}),
		SIPAuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "autoreg", Name: "sip_auth_failures_total",
			Help: "REGISTERs of devices with digest credentials answered 401 for wrong credentials (reason failed: a wrong response, a nonce not ours or replayed) or a stale nonce (stale). First challenges are not counted.",
		}, []string{"reason"}),
		TFTPFiles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "autoreg", Name: "tftp_files_total",
			Help: "TFTP requests the phones made, by kind of file (device: SEP<MAC>.cnf.xml, default: XmlDefault.cnf.xml, security: CTL/ITL, static: from files_dir) and result (sent, not_found, refused, failed).",
		}, []string{"kind", "result"}),
		TFTPBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "autoreg", Name: "tftp_sent_bytes_total",
			Help: "Bytes the TFTP server sent.",
		}),
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
	reg.MustRegister(m.Registrations, m.Rejections, m.WindowOpen, m.WindowOpenFor, m.WindowLeft, m.WindowRegs, m.WindowRegsLeft,
		m.DNsLeft, m.DNsRange, m.Devices, m.DevicesRegistered, m.StoreUp, m.StoreAppend,
		m.StoreAppendErrors, m.AuthFailures, m.Refused, m.SIPAuthFailures, m.Requests, m.RequestDuration, m.TFTPFiles, m.TFTPBytes,
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
	for _, r := range []string{authMissing, authInvalid, authReadOnly, authThrottled, authCSRF} {
		m.AuthFailures.WithLabelValues(r)
	}
	m.Refused.WithLabelValues("sip", "rate_limited")
	m.Refused.WithLabelValues("sccp", "rate_limited")
	m.WindowLeft.Set(math.NaN())
	m.WindowRegsLeft.Set(math.NaN())
	for _, p := range []domain.Protocol{domain.SIP, domain.SCCP} {
		m.DevicesRegistered.WithLabelValues(string(p))
	}
	return m
}

// WatchSIPBindings registers autoreg_sip_bindings, read from n at each
// scrape (the SIP adapter's count of devices with bindings).
func (m *Metrics) WatchSIPBindings(n func() int) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "autoreg", Name: "sip_bindings",
		Help: "Devices the SIP adapter holds bindings for (and, briefly, those with a REGISTER in progress).",
	}, func() float64 { return float64(n()) }))
}

// WatchSCCPConnections registers autoreg_sccp_connections, read from n at
// each scrape (the SCCP adapter's open TCP connections).
func (m *Metrics) WatchSCCPConnections(n func() int) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "autoreg", Name: "sccp_connections",
		Help: "TCP connections the SCCP adapter holds: registered phones, standby connections, phones not registered yet.",
	}, func() float64 { return float64(n()) }))
}

// CountTFTP counts one TFTP request: the kind of file and the result.
func (m *Metrics) CountTFTP(kind, result string, bytes int64) {
	m.TFTPFiles.WithLabelValues(kind, result).Inc()
	if bytes > 0 {
		m.TFTPBytes.Add(float64(bytes))
	}
}

// CountRefused returns the function to give an adapter's Config.Refused:
// it counts autoreg_refused_total{adapter, reason}.
func (m *Metrics) CountRefused(adapter string) func(reason string) {
	return func(reason string) { m.Refused.WithLabelValues(adapter, reason).Inc() }
}

// CountAuthFailed is the SIP adapter's Config.AuthFailed.
func (m *Metrics) CountAuthFailed(stale bool) {
	reason := "failed"
	if stale {
		reason = "stale"
	}
	m.SIPAuthFailures.WithLabelValues(reason).Inc()
}

// observeStatus sets the gauges that mirror the service's state at now.
func (m *Metrics) observeStatus(st projections.Status, now time.Time) {
	m.StoreUp.Set(1)
	open, left, regsLeft, openFor, regs := 0.0, math.NaN(), math.NaN(), 0.0, 0.0
	if w := st.Window; st.Open && w != nil {
		open, openFor, regs = 1, max(now.Sub(w.OpenedAt).Seconds(), 0), float64(st.Registrations)
		if !w.Until.IsZero() {
			left = max(w.Until.Sub(now).Seconds(), 0)
		}
		if w.MaxRegistrations > 0 {
			regsLeft = float64(max(w.MaxRegistrations-st.Registrations, 0))
		}
	}
	m.WindowOpen.Set(open)
	m.WindowOpenFor.Set(openFor)
	m.WindowLeft.Set(left)
	m.WindowRegs.Set(regs)
	m.WindowRegsLeft.Set(regsLeft)
	m.DNsLeft.Set(float64(st.DNsLeft))
	m.DNsRange.Set(float64(rangeSize(st.Range)))
	m.Devices.WithLabelValues("known").Set(float64(st.Devices))
	m.Devices.WithLabelValues("registered").Set(float64(st.Registered))
}

// rangeSize is how many DNs a range holds (0 when it has none or is not
// numeric).
func rangeSize(r domain.DNRange) int64 {
	lo, err1 := strconv.ParseInt(r.Start, 10, 64)
	hi, err2 := strconv.ParseInt(r.End, 10, 64)
	if err1 != nil || err2 != nil || hi <= lo {
		return 0
	}
	return hi - lo + 1
}

// observeRegistered sets autoreg_devices_registered.
func (m *Metrics) observeRegistered(by map[domain.Protocol]int) {
	for p, n := range by {
		m.DevicesRegistered.WithLabelValues(string(p)).Set(float64(n))
	}
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

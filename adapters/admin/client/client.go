// Package client is a small typed Go client for the registrar's admin HTTP
// API (package admin). The CLI (`registrar admin`) and the end-to-end tests
// use it.
//
// Every method takes a context first. An answer other than 2xx is returned
// as an *Error carrying the server's message (which says what to do) and its
// stable code (api.Code*); errors.As finds it, CodeOf reads the code.
//
// It imports the standard library and package api only.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/autoreg/autoreg/adapters/admin/api"
)

// DefaultTimeout bounds one request when no *http.Client is given.
const DefaultTimeout = 30 * time.Second

// Error is an error answer of the server.
type Error struct {
	StatusCode int    // HTTP status
	Code       string // api.Code*: "mixed_mode", "unauthorized", ...
	Message    string // the server's sentence
	// RetryAfter is the server's Retry-After (503, 429), 0 when absent.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("admin API: %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	return e.Message
}

// CodeOf returns the server's error code of err ("" when err is not an *Error).
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Client talks to one registrar's admin API. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient uses hc (for TLS settings, timeouts, or an httptest
// server's client).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// New returns a client of the API at baseURL ("http://127.0.0.1:8080"; a
// bare host:port means http). token may be empty when the server has none.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	raw := strings.TrimSpace(baseURL)
	if raw == "" {
		return nil, errors.New("admin API address is empty: give one such as http://127.0.0.1:8080")
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("admin API address %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("admin API address %q: use http:// or https://", baseURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("admin API address %q has no host", baseURL)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	c := &Client{base: u, token: token, http: &http.Client{Timeout: DefaultTimeout}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// BaseURL is the API's address.
func (c *Client) BaseURL() string { return c.base.String() }

// do sends a request with an optional JSON body and decodes a JSON answer
// into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	// path's segments are already escaped (seg).
	target := c.base.String() + path
	if query != nil {
		target += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encoding the request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return fmt.Errorf("admin API request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, c.base.Host+path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return answerError(resp, data)
	}
	if out == nil {
		return nil
	}
	if b, ok := out.(*[]byte); ok {
		*b = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: the answer is not the JSON expected: %w", method, path, err)
	}
	return nil
}

func answerError(resp *http.Response, data []byte) error {
	e := &Error{StatusCode: resp.StatusCode}
	var body api.Error
	if json.Unmarshal(data, &body) == nil && body.Error != "" {
		e.Code, e.Message = body.Code, body.Error
	} else {
		e.Message = fmt.Sprintf("admin API answered %s", resp.Status)
		if s := strings.TrimSpace(string(data)); s != "" && len(s) < 512 {
			e.Message += ": " + s
		}
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if n, err := strconv.Atoi(ra); err == nil {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	return e
}

func seg(s string) string { return url.PathEscape(s) }

// ---- Reads -----------------------------------------------------------------

// Health checks GET /healthz.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil, nil)
}

// Status reads GET /v1/status.
func (c *Client) Status(ctx context.Context) (api.Status, error) {
	var s api.Status
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, nil, &s)
	return s, err
}

// Cluster reads GET /v1/cluster, the whole configuration.
func (c *Client) Cluster(ctx context.Context) (api.Cluster, error) {
	var cl api.Cluster
	err := c.do(ctx, http.MethodGet, "/v1/cluster", nil, nil, &cl)
	return cl, err
}

// Nodes reads the CallManagers with their addresses, liveness and devices.
func (c *Client) Nodes(ctx context.Context) (api.Nodes, error) {
	var n api.Nodes
	err := c.do(ctx, http.MethodGet, "/v1/nodes", nil, nil, &n)
	return n, err
}

// Metrics reads GET /metrics in the Prometheus text format.
func (c *Client) Metrics(ctx context.Context) ([]byte, error) {
	var b []byte
	err := c.do(ctx, http.MethodGet, "/metrics", nil, nil, &b)
	return b, err
}

// Devices lists the devices, sorted by name.
func (c *Client) Devices(ctx context.Context) ([]api.Device, error) {
	var d api.Devices
	err := c.do(ctx, http.MethodGet, "/v1/devices", nil, nil, &d)
	return d.Devices, err
}

// QueryDevices lists the devices q selects, sorted and paged as it says,
// with how many it selects in all.
func (c *Client) QueryDevices(ctx context.Context, q api.DeviceQuery) (api.Devices, error) {
	v := url.Values{}
	for k, s := range map[string]string{"status": q.Status, "pool": q.Pool, "model": q.Model, "protocol": q.Protocol,
		"window": q.Window, "node": q.Node, "since": q.Since, "q": q.Q, "sort": q.Sort} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Offset != 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var d api.Devices
	err := c.do(ctx, http.MethodGet, "/v1/devices", v, nil, &d)
	return d, err
}

// Device reads one device.
func (c *Client) Device(ctx context.Context, name string) (api.Device, error) {
	var d api.Device
	err := c.do(ctx, http.MethodGet, "/v1/devices/"+seg(name), nil, nil, &d)
	return d, err
}

// MayDial asks whether device may dial number.
func (c *Client) MayDial(ctx context.Context, device, number string) (api.MayDial, error) {
	var m api.MayDial
	err := c.do(ctx, http.MethodGet, "/v1/devices/"+seg(device)+"/may-dial", url.Values{"number": {number}}, nil, &m)
	return m, err
}

// ---- Changes ---------------------------------------------------------------

func (c *Client) change(ctx context.Context, method, path string, query url.Values, body any) (api.Result, error) {
	var r api.Result
	err := c.do(ctx, method, path, query, body, &r)
	return r, err
}

// Open opens autoregistration.
func (c *Client) Open(ctx context.Context, req api.OpenWindow) (api.Result, error) {
	return c.change(ctx, http.MethodPost, "/v1/autoreg/open", nil, req)
}

// Close closes autoregistration.
func (c *Client) Close(ctx context.Context, reason string) (api.Result, error) {
	return c.change(ctx, http.MethodPost, "/v1/autoreg/close", nil, api.CloseWindow{Reason: reason})
}

// SetProtocol sets the Auto Registration Phone Protocol ("sip" or "sccp").
func (c *Client) SetProtocol(ctx context.Context, protocol string) (api.Result, error) {
	return c.change(ctx, http.MethodPut, "/v1/autoreg/protocol", nil, api.SetProtocol{Protocol: protocol})
}

// SetAutoregCSS sets the calling search space autoregistered devices get.
func (c *Client) SetAutoregCSS(ctx context.Context, css string) (api.Result, error) {
	return c.change(ctx, http.MethodPut, "/v1/autoreg/css", nil, api.SetAutoregCSS{CSS: css})
}

// SetSecurity sets the clusterwide security mode ("mixed" or "nonsecure").
func (c *Client) SetSecurity(ctx context.Context, mode string) (api.Result, error) {
	return c.change(ctx, http.MethodPut, "/v1/security", nil, api.SetSecurity{Mode: mode})
}

// SetRange sets the autoregistration range.
func (c *Client) SetRange(ctx context.Context, r api.PutRange) (api.Result, error) {
	return c.change(ctx, http.MethodPut, "/v1/range", nil, r)
}

// PutCallManager adds or changes a CallManager.
func (c *Client) PutCallManager(ctx context.Context, name string, cm api.PutCallManager) (api.Result, error) {
	return c.change(ctx, http.MethodPut, "/v1/callmanagers/"+seg(name), nil, cm)
}

// DeleteCallManager removes a CallManager.
func (c *Client) DeleteCallManager(ctx context.Context, name string) (api.Result, error) {
	return c.change(ctx, http.MethodDelete, "/v1/callmanagers/"+seg(name), nil, nil)
}

// PutGroup adds or changes a CallManager group.
func (c *Client) PutGroup(ctx context.Context, name string, g api.PutGroup) (api.Result, error) {
	return c.change(ctx, http.MethodPut, "/v1/groups/"+seg(name), nil, g)
}

// DeleteGroup removes a CallManager group.
func (c *Client) DeleteGroup(ctx context.Context, name string) (api.Result, error) {
	return c.change(ctx, http.MethodDelete, "/v1/groups/"+seg(name), nil, nil)
}

// PutPartition adds a partition.
func (c *Client) PutPartition(ctx context.Context, name, description string) (api.Result, error) {
	return c.change(ctx, http.MethodPut, "/v1/partitions/"+seg(name), nil, api.PutPartition{Description: description})
}

// DeletePartition removes a partition.
func (c *Client) DeletePartition(ctx context.Context, name string) (api.Result, error) {
	return c.change(ctx, http.MethodDelete, "/v1/partitions/"+seg(name), nil, nil)
}

// AddPattern adds a route pattern.
func (c *Client) AddPattern(ctx context.Context, p api.AddPattern) (api.Result, error) {
	return c.change(ctx, http.MethodPost, "/v1/patterns", nil, p)
}

// DeletePattern removes a route pattern.
func (c *Client) DeletePattern(ctx context.Context, pattern, partition string) (api.Result, error) {
	return c.change(ctx, http.MethodDelete, "/v1/patterns", url.Values{"pattern": {pattern}, "partition": {partition}}, nil)
}

// PutCSS adds or changes a calling search space.
func (c *Client) PutCSS(ctx context.Context, name string, partitions []string) (api.Result, error) {
	if partitions == nil {
		partitions = []string{}
	}
	return c.change(ctx, http.MethodPut, "/v1/css/"+seg(name), nil, api.PutCSS{Partitions: partitions})
}

// DeleteCSS removes a calling search space.
func (c *Client) DeleteCSS(ctx context.Context, name string) (api.Result, error) {
	return c.change(ctx, http.MethodDelete, "/v1/css/"+seg(name), nil, nil)
}

// PutPool adds or changes a device pool.
func (c *Client) PutPool(ctx context.Context, name string, p api.PutPool) (api.Result, error) {
	return c.change(ctx, http.MethodPut, "/v1/pools/"+seg(name), nil, p)
}

// DeletePool removes a device pool.
func (c *Client) DeletePool(ctx context.Context, name string) (api.Result, error) {
	return c.change(ctx, http.MethodDelete, "/v1/pools/"+seg(name), nil, nil)
}

// SetDefaultPool sets the cluster default device pool.
func (c *Client) SetDefaultPool(ctx context.Context, pool string) (api.Result, error) {
	return c.change(ctx, http.MethodPut, "/v1/default-pool", nil, api.SetDefaultPool{Pool: pool})
}

// PutDeviceDefaults sets one model's Device Defaults.
func (c *Client) PutDeviceDefaults(ctx context.Context, model string, d api.PutDeviceDefaults) (api.Result, error) {
	return c.change(ctx, http.MethodPut, "/v1/device-defaults/"+seg(model), nil, d)
}

// ProvisionDevice adds a device by hand; the Result carries the device.
func (c *Client) ProvisionDevice(ctx context.Context, d api.ProvisionDevice) (api.Result, error) {
	return c.change(ctx, http.MethodPost, "/v1/devices", nil, d)
}

// ReconfigureDevice changes a device (empty fields stay); the Result
// carries the device.
func (c *Client) ReconfigureDevice(ctx context.Context, name string, d api.ReconfigureDevice) (api.Result, error) {
	return c.change(ctx, http.MethodPatch, "/v1/devices/"+seg(name), nil, d)
}

// DeleteDevice deletes a device; its DN is free again.
// ConfigFile reads what the TFTP server would serve the device now.
func (c *Client) ConfigFile(ctx context.Context, name string) ([]byte, error) {
	var b []byte
	err := c.do(ctx, http.MethodGet, "/v1/devices/"+seg(name)+"/config-file", nil, nil, &b)
	return b, err
}

// Credentials shows a SIP device's digest credentials.
func (c *Client) Credentials(ctx context.Context, name string) (api.Credentials, error) {
	var out api.Credentials
	err := c.do(ctx, http.MethodGet, "/v1/devices/"+seg(name)+"/credentials", nil, nil, &out)
	return out, err
}

// RotateCredentials issues a SIP device new digest credentials and tells
// the phone to fetch its configuration file again.
func (c *Client) RotateCredentials(ctx context.Context, name string) (api.Result, error) {
	return c.change(ctx, http.MethodPost, "/v1/devices/"+seg(name)+"/credentials/rotate", nil, nil)
}

// DisableCredentials withdraws a SIP device's digest credentials.
func (c *Client) DisableCredentials(ctx context.Context, name string) (api.Result, error) {
	return c.change(ctx, http.MethodPost, "/v1/devices/"+seg(name)+"/credentials/disable", nil, nil)
}

// ResetDevice asks a device to reset (restart: to restart).
func (c *Client) ResetDevice(ctx context.Context, name string, restart bool) (api.Result, error) {
	return c.change(ctx, http.MethodPost, "/v1/devices/"+seg(name)+"/reset", nil, api.ResetDevice{Restart: restart})
}

func (c *Client) DeleteDevice(ctx context.Context, name string) (api.Result, error) {
	return c.change(ctx, http.MethodDelete, "/v1/devices/"+seg(name), nil, nil)
}

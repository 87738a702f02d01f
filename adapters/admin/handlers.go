package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/autoreg/autoreg/adapters/admin/api"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/projections"
)

// routes registers every endpoint. Keep it in step with the package
// documentation and docs/admin-api.md.
func (s *Server) routes() {
	s.handle("GET /healthz", accessPublic, s.healthz)
	s.handle("GET /metrics", accessMetrics, s.metricsHandler())

	s.handle("GET /v1/status", accessRead, s.getStatus)
	s.handle("GET /v1/cluster", accessRead, s.getCluster)
	s.handle("GET /v1/nodes", accessRead, s.getNodes)

	s.handle("POST /v1/autoreg/open", accessWrite, s.openWindow)
	s.handle("POST /v1/autoreg/close", accessWrite, s.closeWindow)
	s.handle("PUT /v1/autoreg/protocol", accessWrite, s.setProtocol)
	s.handle("PUT /v1/autoreg/css", accessWrite, s.setAutoregCSS)
	s.handle("PUT /v1/security", accessWrite, s.setSecurity)
	s.handle("PUT /v1/range", accessWrite, s.putRange)

	s.handle("PUT /v1/callmanagers/{name}", accessWrite, s.putCallManager)
	s.handle("DELETE /v1/callmanagers/{name}", accessWrite, s.deleteCallManager)
	s.handle("PUT /v1/groups/{name}", accessWrite, s.putGroup)
	s.handle("DELETE /v1/groups/{name}", accessWrite, s.deleteGroup)
	s.handle("PUT /v1/partitions/{name}", accessWrite, s.putPartition)
	s.handle("DELETE /v1/partitions/{name}", accessWrite, s.deletePartition)
	s.handle("POST /v1/patterns", accessWrite, s.addPattern)
	s.handle("DELETE /v1/patterns", accessWrite, s.deletePattern)
	s.handle("PUT /v1/css/{name}", accessWrite, s.putCSS)
	s.handle("DELETE /v1/css/{name}", accessWrite, s.deleteCSS)
	s.handle("PUT /v1/pools/{name}", accessWrite, s.putPool)
	s.handle("DELETE /v1/pools/{name}", accessWrite, s.deletePool)
	s.handle("PUT /v1/default-pool", accessWrite, s.setDefaultPool)
	s.handle("PUT /v1/device-defaults/{model}", accessWrite, s.putDeviceDefaults)

	s.handle("GET /v1/devices", accessRead, s.listDevices)
	s.handle("POST /v1/devices", accessWrite, s.provisionDevice)
	s.handle("GET /v1/devices/{name}", accessRead, s.getDevice)
	s.handle("PATCH /v1/devices/{name}", accessWrite, s.reconfigureDevice)
	s.handle("DELETE /v1/devices/{name}", accessWrite, s.deleteDevice)
	s.handle("POST /v1/devices/{name}/reset", accessWrite, s.resetDevice)
	s.handle("GET /v1/devices/{name}/config-file", accessRead, s.configFile)
	s.handle("GET /v1/devices/{name}/may-dial", accessRead, s.mayDial)
	// The password is shown to admin tokens only.
	s.handle("GET /v1/devices/{name}/credentials", accessWrite, s.getCredentials)
	s.handle("POST /v1/devices/{name}/credentials/rotate", accessWrite, s.rotateCredentials)
	s.handle("POST /v1/devices/{name}/credentials/disable", accessWrite, s.disableCredentials)

	s.consoleRoutes()
}

// ---- Plumbing --------------------------------------------------------------

// requestError is a problem with the request itself (not the domain's refusal).
type requestError struct {
	status int
	code   string
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, a ...any) error {
	return &requestError{status: http.StatusBadRequest, code: api.CodeBadRequest, msg: fmt.Sprintf(format, a...)}
}

// errorStatus maps an error to its HTTP status and code.
func errorStatus(err error) (int, string) {
	var re *requestError
	switch {
	case errors.As(err, &re):
		return re.status, re.code
	case errors.Is(err, domain.ErrInvalid):
		return http.StatusBadRequest, api.CodeInvalid
	case errors.Is(err, domain.ErrNotFound):
		return http.StatusNotFound, api.CodeNotFound
	case errors.Is(err, domain.ErrInUse):
		return http.StatusConflict, api.CodeInUse
	case errors.Is(err, domain.ErrWindowOpen):
		return http.StatusConflict, api.CodeWindowOpen
	case errors.Is(err, domain.ErrWindowClosed):
		return http.StatusConflict, api.CodeWindowClosed
	case errors.Is(err, domain.ErrMixedMode):
		return http.StatusConflict, api.CodeMixedMode
	case errors.Is(err, domain.ErrRangeDisabled):
		return http.StatusConflict, api.CodeRangeDisabled
	case errors.Is(err, domain.ErrRangeExhausted):
		return http.StatusConflict, api.CodeRangeExhausted
	case errors.Is(err, domain.ErrMisconfigured):
		return http.StatusConflict, api.CodeMisconfigured
	case errors.Is(err, domain.ErrDNInUse):
		return http.StatusConflict, api.CodeDNInUse
	case errors.Is(err, command.ErrUnavailable):
		return http.StatusServiceUnavailable, api.CodeUnavailable
	case errors.Is(err, command.ErrConflict):
		return http.StatusConflict, api.CodeConflict
	}
	return http.StatusInternalServerError, api.CodeInternal
}

// writeError answers err as a JSON error body.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := errorStatus(err)
	msg := err.Error()
	switch code {
	case api.CodeUnavailable:
		if errors.Is(err, eventstore.ErrUntilRestart) {
			msg += ": the change was not made, nor will any be until the registrar is restarted (see its log)"
			break
		}
		w.Header().Set("Retry-After", "5")
		msg += ": the change was not made; try again shortly"
	case api.CodeConflict:
		msg = "other changes kept colliding with this one, which was not made: try again"
	case api.CodeInternal:
		s.log.Error().Err(err).Str("request_id", infoOf(r).id).Str("path", r.URL.Path).Msg("admin request failed")
		msg = fmt.Sprintf("%s (request %s; see the registrar's log)", msg, infoOf(r).id)
	}
	writeJSON(w, status, api.Error{Error: msg, Code: code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// decode reads the request's JSON body into v: at most MaxBodyBytes, one
// object, no unknown fields. An empty body is an error unless optional.
func decode(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return &requestError{status: http.StatusUnsupportedMediaType, code: api.CodeUnsupported,
				msg: fmt.Sprintf("the body must be JSON: send Content-Type: application/json, not %q", ct)}
		}
	} else if r.ContentLength != 0 {
		// Browsers send simple cross-origin requests as text/plain or forms;
		// insisting on JSON keeps them out.
		return &requestError{status: http.StatusUnsupportedMediaType, code: api.CodeUnsupported,
			msg: "send the body with Content-Type: application/json"}
	}
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	where := r.Method + " " + r.URL.Path
	var (
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
		tooBig  *http.MaxBytesError
	)
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		if optional {
			return nil
		}
		return badRequest("%s needs a JSON body with the fields %s", where, fieldList(v))
	case errors.As(err, &tooBig):
		return &requestError{status: http.StatusRequestEntityTooLarge, code: api.CodeTooLarge,
			msg: fmt.Sprintf("the body is larger than %d bytes", MaxBodyBytes)}
	case errors.As(err, &syntax):
		return badRequest("the body is not valid JSON (at byte %d): %v", syntax.Offset, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("the body is truncated JSON")
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return badRequest("the body must be a JSON object with the fields %s", fieldList(v))
		}
		return badRequest("field %q must be a JSON %s, not %s", field, jsonKind(typeErr.Type), typeErr.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return badRequest("unknown field %s: %s takes %s", name, where, fieldList(v))
	default:
		return badRequest("the body could not be read: %v", err)
	}
	if dec.More() {
		return badRequest("the body holds more than one JSON value: send a single object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("the body holds more than one JSON value: send a single object")
	}
	return nil
}

// fieldList names the JSON fields of the struct v points to.
func fieldList(v any) string {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return "(none)"
	}
	var names []string
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name != "" && name != "-" {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "(no fields)"
	}
	return strings.Join(names, ", ")
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean (true or false)"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "object"
}

// exec runs the commands in order as who, from the request's peer, and
// sums up what they wrote. It stops at the first error.
func (s *Server) exec(r *http.Request, cmds ...domain.Command) (command.Outcome, api.Result, error) {
	who := infoOf(r)
	o := command.Admin(who.user, r.RemoteAddr)
	o.CorrelationID = who.id
	var (
		last command.Outcome
		res  api.Result
	)
	// The change must not half-happen because the client went away.
	ctx := context.WithoutCancel(r.Context())
	for _, cmd := range cmds {
		out, err := s.svc.Execute(ctx, cmd, o)
		for _, e := range out.Events {
			res.Events = append(res.Events, e.EventType())
		}
		if out.Position > 0 {
			res.Position = out.Position
		}
		if err != nil {
			return last, res, err
		}
		last = out
	}
	res.Changed = len(res.Events) > 0
	return last, res, nil
}

// by is the name administrative commands record: the same actor the events'
// metadata carries.
func by(who principal) string { return command.Admin(who.User, "").Actor }

// change runs cmds and answers with the Result.
func (s *Server) change(w http.ResponseWriter, r *http.Request, cmds ...domain.Command) error {
	_, res, err := s.exec(r, cmds...)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// deviceName reads the {name} of a device's path, refusing a malformed name
// (400 invalid) before any command is made or any read model asked.
func deviceName(r *http.Request) (string, error) {
	name, err := pathName(r, "name")
	if err != nil {
		return "", err
	}
	return name, checkDeviceName(name)
}

// checkDeviceName says what is wrong with a malformed device name.
func checkDeviceName(name string) error {
	if domain.ValidDeviceName(name) {
		return nil
	}
	hint := ""
	if up := strings.ToUpper(name); domain.ValidDeviceName(up) {
		hint = " (did you mean " + up + "?)"
	}
	return fmt.Errorf("%w: %q is malformed: a device name is SEP and the 12 hex digits of its MAC address in capitals, such as SEP00112233AABB%s", domain.ErrInvalid, name, hint)
}

// checkRefs refuses, before the command, a device pool, calling search
// space or partition that does not exist (404 not_found), listing those that
// do. The command side checks them again (they may go in between).
func (s *Server) checkRefs(ctx context.Context, pool, css, partition string) error {
	if pool == "" && css == "" && partition == "" {
		return nil
	}
	c, err := s.reader.Cluster(ctx)
	if err != nil {
		return err
	}
	if _, ok := c.Pools[pool]; pool != "" && !ok {
		return notFoundAmong("device pool", "pools", pool, slices.Sorted(maps.Keys(c.Pools)))
	}
	if _, ok := c.CSS[css]; css != "" && !ok {
		return notFoundAmong("calling search space", "calling search spaces", css, slices.Sorted(maps.Keys(c.CSS)))
	}
	if partition != "" && !c.Partitions[partition] {
		return notFoundAmong("partition", "partitions", partition, slices.Sorted(maps.Keys(c.Partitions)))
	}
	return nil
}

// notFoundAmong is "no device pool "Staf": the pools are Default, Rogue,
// Staff (did you mean Staff?)".
func notFoundAmong(what, plural, name string, have []string) error {
	if len(have) == 0 {
		return fmt.Errorf("%w: no %s %q: there are no %s yet", domain.ErrNotFound, what, name, plural)
	}
	hint := ""
	for _, h := range have {
		if strings.EqualFold(h, name) || strings.HasPrefix(strings.ToLower(h), strings.ToLower(name)) {
			hint = " (did you mean " + h + "?)"
			break
		}
	}
	return fmt.Errorf("%w: no %s %q: the %s are %s%s", domain.ErrNotFound, what, name, plural, strings.Join(have, ", "), hint)
}

func pathName(r *http.Request, key string) (string, error) {
	v := r.PathValue(key)
	if v == "" {
		return "", badRequest("the path needs a %s", key)
	}
	return v, nil
}

// ---- Reads -----------------------------------------------------------------

// healthz answers 200 "ok" while the registrar can serve, and 503 with the
// reason once its store refuses writes for good (Config.Healthy).
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request, _ principal) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.cfg.Healthy != nil {
		if err := s.cfg.Healthy(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "unhealthy: "+err.Error()+"\n")
			return nil
		}
	}
	_, _ = io.WriteString(w, "ok\n")
	return nil
}

func toWindow(w *domain.Window) *api.Window {
	if w == nil {
		return nil
	}
	return &api.Window{ID: w.ID, Reason: w.Reason, By: w.By, OpenedAt: w.OpenedAt, Until: w.Until,
		MaxRegistrations: w.MaxRegistrations, Protocol: string(w.Protocol)}
}

func toRange(r domain.DNRange) api.Range {
	return api.Range{Start: r.Start, End: r.End, Partition: r.Partition, Mask: r.Mask}
}

// status reads the autoregistration's state and mirrors it in the metrics.
func (s *Server) status(ctx context.Context) (projections.Status, error) {
	st, err := s.reader.Status(ctx)
	if err == nil {
		s.metrics.observeStatus(st, s.now())
	} else {
		s.metrics.StoreUp.Set(0)
	}
	return st, err
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request, _ principal) error {
	st, err := s.status(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.Status{
		Open: st.Open, Window: toWindow(st.Window), RegistrationsInWindow: st.Registrations,
		Protocol: string(st.Protocol), Security: string(st.Security), Range: toRange(st.Range),
		DNsLeft: st.DNsLeft, Devices: st.Devices, Registered: st.Registered, Problem: st.Problem,
	})
	return nil
}

func (s *Server) getCluster(w http.ResponseWriter, r *http.Request, _ principal) error {
	c, err := s.reader.Cluster(r.Context())
	if err != nil {
		return err
	}
	rng, err := s.reader.Range(r.Context())
	if err != nil {
		return err
	}
	out := api.Cluster{
		Protocol: string(c.Protocol), Security: string(c.Security), AutoregGroup: c.AutoregGroup,
		DefaultPool: c.DefaultPool, AutoregCSS: c.AutoregCSS, Range: toRange(rng), Window: toWindow(c.Window),
		CallManagers: []api.CallManager{}, Groups: []api.Group{}, Partitions: slices.Sorted(maps.Keys(c.Partitions)),
		Patterns: []api.Pattern{}, CSS: []api.CSS{}, Pools: []api.Pool{}, DeviceDefaults: []api.DeviceDefaults{},
	}
	for _, n := range slices.Sorted(maps.Keys(c.CallManagers)) {
		cm := c.CallManagers[n]
		out.CallManagers = append(out.CallManagers, apiCallManager(cm))
	}
	for _, n := range slices.Sorted(maps.Keys(c.Groups)) {
		out.Groups = append(out.Groups, api.Group{Name: n, CallManagers: slices.Clone(c.Groups[n]), Autoreg: n == c.AutoregGroup})
	}
	for _, p := range c.Patterns {
		out.Patterns = append(out.Patterns, api.Pattern{Pattern: p.Pattern, Partition: p.Partition, Block: p.Block})
	}
	for _, n := range slices.Sorted(maps.Keys(c.CSS)) {
		out.CSS = append(out.CSS, api.CSS{Name: n, Partitions: slices.Clone(c.CSS[n])})
	}
	for _, n := range slices.Sorted(maps.Keys(c.Pools)) {
		p := c.Pools[n]
		out.Pools = append(out.Pools, api.Pool{Name: p.Name, Group: p.Group, CSS: p.CSS, AutoregCSS: p.AutoregCSS, SIPAuth: p.SIPAuth.String()})
	}
	for _, n := range slices.Sorted(maps.Keys(c.DeviceDefaults)) {
		d := c.DeviceDefaults[n]
		out.DeviceDefaults = append(out.DeviceDefaults, api.DeviceDefaults{Model: d.Model, LoadSCCP: d.LoadSCCP, LoadSIP: d.LoadSIP, Pool: d.Pool})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// withBinding adds what the SIP adapter holds of a registered SIP device:
// when its registration expires, over which transport.
func (s *Server) withBinding(d api.Device) api.Device {
	if s.cfg.SIPBinding == nil || !d.Registered || d.Protocol != string(domain.SIP) {
		return d
	}
	if exp, tr, ok := s.cfg.SIPBinding(d.Name); ok {
		d.Expires, d.Transport = exp, tr
		if d.Transport == "" {
			d.Transport = "UDP"
		}
	}
	return d
}

func apiCallManager(cm domain.CallManager) api.CallManager {
	return api.CallManager{Name: cm.Name, Description: cm.Description, AutoregEnabled: !cm.AutoregDisabled,
		Host: cm.Host, SIPPort: cm.SIPPort, SCCPPort: cm.SCCPPort}
}

// getNodes lists the CallManagers with their addresses, whether a
// registrar serves each now, and how many devices are registered with each
// (RisPort's per-node view).
func (s *Server) getNodes(w http.ResponseWriter, r *http.Request, _ principal) error {
	c, err := s.reader.Cluster(r.Context())
	if err != nil {
		return err
	}
	counts := s.reader.RegisteredByNode()
	autoreg := c.AutoregCallManager()
	out := api.Nodes{Nodes: []api.Node{}}
	for _, n := range slices.Sorted(maps.Keys(c.CallManagers)) {
		node := api.Node{CallManager: apiCallManager(c.CallManagers[n]), Autoreg: n == autoreg, Devices: counts[n]}
		if s.cfg.NodeUp != nil {
			node.Up, node.Process = s.cfg.NodeUp(r.Context(), c.CallManagers[n])
		}
		out.Nodes = append(out.Nodes, node)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// deviceParams are the query parameters GET /v1/devices takes.
var deviceParams = []string{"status", "pool", "model", "protocol", "window", "node", "since", "q", "sort", "offset", "limit"}

// deviceQuery reads the query of GET /v1/devices.
func (s *Server) deviceQuery(r *http.Request) (projections.DeviceQuery, error) {
	var q projections.DeviceQuery
	vals := r.URL.Query()
	for k, v := range vals {
		if !slices.Contains(deviceParams, k) {
			return q, badRequest("unknown query parameter %q: GET /v1/devices takes %s", k, strings.Join(deviceParams, ", "))
		}
		if len(v) > 1 {
			return q, badRequest("query parameter %q is given %d times: give it once", k, len(v))
		}
	}
	q.Status = projections.DeviceStatus(strings.ToLower(vals.Get("status")))
	if q.Status != projections.AnyStatus && q.Status != projections.Registered && q.Status != projections.Unregistered {
		return q, badRequest("status %q: use registered or unregistered", vals.Get("status"))
	}
	q.Pool, q.Model, q.Window, q.Node, q.Text = vals.Get("pool"), vals.Get("model"), vals.Get("window"), vals.Get("node"), vals.Get("q")
	if p := vals.Get("protocol"); p != "" {
		proto, err := domain.ParseProtocol(p)
		if err != nil {
			return q, badRequest("protocol %q: use sip or sccp", p)
		}
		q.Protocol = proto
	}
	if since := vals.Get("since"); since != "" {
		if d, err := time.ParseDuration(since); err == nil && d > 0 {
			q.Since = s.now().Add(-d)
		} else if t, err := time.Parse(time.RFC3339, since); err == nil {
			q.Since = t
		} else {
			return q, badRequest("since %q: give a time (RFC 3339, 2026-11-27T10:00:00Z) or a duration back from now (90m, 24h)", since)
		}
	}
	sort := vals.Get("sort")
	if rest, ok := strings.CutPrefix(sort, "-"); ok {
		sort, q.Desc = rest, true
	}
	q.Sort = projections.DeviceSort(sort)
	if sort != "" && !slices.Contains(projections.DeviceSorts, q.Sort) {
		return q, badRequest("sort %q: use one of %v, with a leading - to reverse it", vals.Get("sort"), projections.DeviceSorts)
	}
	for _, p := range []struct {
		name string
		to   *int
		max  int
	}{{"offset", &q.Offset, math.MaxInt32}, {"limit", &q.Limit, api.MaxDevicePage}} {
		v := vals.Get(p.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > p.max {
			return q, badRequest("%s %q: give a whole number from 0 to %d", p.name, v, p.max)
		}
		*p.to = n
	}
	return q, nil
}

func (s *Server) listDevices(w http.ResponseWriter, r *http.Request, _ principal) error {
	q, err := s.deviceQuery(r)
	if err != nil {
		return err
	}
	c, err := s.reader.Cluster(r.Context())
	if err != nil {
		return err
	}
	page, err := s.reader.QueryDevices(r.Context(), q)
	if err != nil {
		return err
	}
	out := api.Devices{Devices: make([]api.Device, 0, len(page.Devices)), Total: page.Total, Offset: q.Offset, Limit: q.Limit}
	for _, d := range page.Devices {
		out.Devices = append(out.Devices, s.withBinding(toDevice(d, s.reader.ExternalNumber, c)))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getDevice(w http.ResponseWriter, r *http.Request, _ principal) error {
	name, err := deviceName(r)
	if err != nil {
		return err
	}
	d, c, err := s.deviceIn(r, name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.withBinding(toDevice(d, s.reader.ExternalNumber, c)))
	return nil
}

// deviceIn reads a device that exists and the cluster it is configured in.
func (s *Server) deviceIn(r *http.Request, name string) (projections.Device, domain.ClusterState, error) {
	d, ok, err := s.reader.Device(r.Context(), name)
	if err != nil {
		return projections.Device{}, domain.ClusterState{}, err
	}
	if !ok {
		return projections.Device{}, domain.ClusterState{}, fmt.Errorf("%w: no device %s (list them with GET /v1/devices)", domain.ErrNotFound, name)
	}
	c, err := s.reader.Cluster(r.Context())
	return d, c, err
}

// MaxDialString is the longest number may-dial accepts: E.164 numbers have
// at most 15 digits; access codes, prefixes and feature codes add a few.
const MaxDialString = 64

func (s *Server) mayDial(w http.ResponseWriter, r *http.Request, _ principal) error {
	name, err := deviceName(r)
	if err != nil {
		return err
	}
	number := r.URL.Query().Get("number")
	if number == "" {
		return badRequest("say which number: GET /v1/devices/%s/may-dial?number=N", name)
	}
	if len(number) > MaxDialString {
		// Matching costs grow with the number's length: keep it to what a
		// phone can dial.
		return badRequest("number of %d characters: a dial string has at most %d", len(number), MaxDialString)
	}
	res, err := s.reader.MayDial(r.Context(), name, number)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.MayDial{Allowed: res.Allowed, CSS: res.CSS, Partition: res.Partition, Match: res.Match, Reason: res.Reason})
	return nil
}

// ---- Autoregistration ------------------------------------------------------

func (s *Server) openWindow(w http.ResponseWriter, r *http.Request, who principal) error {
	var req api.OpenWindow
	if err := decode(w, r, &req, false); err != nil {
		return err
	}
	var d time.Duration
	if req.For != "" {
		var err error
		if d, err = time.ParseDuration(req.For); err != nil {
			return fmt.Errorf("%w: \"for\" is %q: give a duration such as 30m or 1h30m", domain.ErrInvalid, req.For)
		}
	}
	_, res, err := s.exec(r, domain.OpenWindow{Reason: req.Reason, For: d, Max: req.Max, By: by(who)})
	if err != nil {
		return err
	}
	st, err := s.status(r.Context())
	if err != nil {
		return err
	}
	res.Window = toWindow(st.Window)
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) closeWindow(w http.ResponseWriter, r *http.Request, who principal) error {
	var req api.CloseWindow
	if err := decode(w, r, &req, false); err != nil {
		return err
	}
	_, res, err := s.exec(r, domain.CloseWindow{Reason: req.Reason, By: by(who)})
	_, _ = s.status(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) setProtocol(w http.ResponseWriter, r *http.Request, who principal) error {
	var req api.SetProtocol
	if err := decode(w, r, &req, false); err != nil {
		return err
	}
	p, err := domain.ParseProtocol(req.Protocol)
	if err != nil {
		return fmt.Errorf("%w: %w", domain.ErrInvalid, err)
	}
	return s.change(w, r, domain.SetProtocol{Protocol: p, By: by(who)})
}

func (s *Server) setSecurity(w http.ResponseWriter, r *http.Request, who principal) error {
	var req api.SetSecurity
	if err := decode(w, r, &req, false); err != nil {
		return err
	}
	mode := domain.SecurityMode(strings.ToLower(strings.TrimSpace(req.Mode)))
	err := s.change(w, r, domain.SetSecurityMode{Mode: mode, By: by(who)})
	_, _ = s.status(r.Context())
	return err
}

func (s *Server) setAutoregCSS(w http.ResponseWriter, r *http.Request, who principal) error {
	var req api.SetAutoregCSS
	if err := decode(w, r, &req, false); err != nil {
		return err
	}
	return s.change(w, r, domain.SetAutoregCSS{CSS: req.CSS, By: by(who)})
}

func (s *Server) putRange(w http.ResponseWriter, r *http.Request, who principal) error {
	var req api.PutRange
	if err := decode(w, r, &req, false); err != nil {
		return err
	}
	err := s.change(w, r, domain.ConfigureRange{Start: req.Start, End: req.End, Partition: req.Partition, Mask: req.Mask, By: by(who)})
	_, _ = s.status(r.Context())
	return err
}

// ---- Topology --------------------------------------------------------------

func (s *Server) putCallManager(w http.ResponseWriter, r *http.Request, who principal) error {
	name, err := pathName(r, "name")
	if err != nil {
		return err
	}
	var req api.PutCallManager
	if err := decode(w, r, &req, true); err != nil {
		return err
	}
	return s.change(w, r, domain.ConfigureCallManager{Name: name, Description: req.Description, AutoregEnabled: req.AutoregEnabled,
		Host: req.Host, SIPPort: req.SIPPort, SCCPPort: req.SCCPPort, By: by(who)})
}

func (s *Server) deleteCallManager(w http.ResponseWriter, r *http.Request, who principal) error {
	name, err := pathName(r, "name")
	if err != nil {
		return err
	}
	return s.change(w, r, domain.RemoveCallManager{Name: name, By: by(who)})
}

func (s *Server) putGroup(w http.ResponseWriter, r *http.Request, who principal) error {
	name, err := pathName(r, "name")
	if err != nil {
		return err
	}
	var req api.PutGroup
	if err := decode(w, r, &req, false); err != nil {
		return err
	}
	cmds := []domain.Command{domain.ConfigureGroup{Name: name, CallManagers: req.CallManagers, By: by(who)}}
	if req.Autoreg != nil {
		if *req.Autoreg {
			cmds = append(cmds, domain.SetAutoregGroup{Group: name, By: by(who)})
		} else if c, err := s.reader.Cluster(r.Context()); err != nil {
			return err
		} else if c.AutoregGroup == name {
			return fmt.Errorf("%w: group %q is the Auto-registration CallManager Group: to move the flag, flag another group (\"autoreg\": true)", domain.ErrInUse, name)
		}
	}
	return s.change(w, r, cmds...)
}

func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request, who principal) error {
	name, err := pathName(r, "name")
	if err != nil {
		return err
	}
	return s.change(w, r, domain.RemoveGroup{Name: name, By: by(who)})
}

func (s *Server) putPartition(w http.ResponseWriter, r *http.Request, who principal) error {
	name, err := pathName(r, "name")
	if err != nil {
		return err
	}
	var req api.PutPartition
	if err := decode(w, r, &req, true); err != nil {
		return err
	}
	return s.change(w, r, domain.AddPartition{Name: name, Description: req.Description, By: by(who)})
}

func (s *Server) deletePartition(w http.ResponseWriter, r *http.Request, who principal) error {
	name, err := pathName(r, "name")
	if err != nil {
		return err
	}
	return s.change(w, r, domain.RemovePartition{Name: name, By: by(who)})
}

func (s *Server) addPattern(w http.ResponseWriter, r *http.Request, who principal) error {
	var req api.AddPattern
	if err := decode(w, r, &req, false); err != nil {
		return err
	}
	return s.change(w, r, domain.AddRoutePattern{Pattern: req.Pattern, Partition: req.Partition, Block: req.Block, Description: req.Description, By: by(who)})
}

func (s *Server) deletePattern(w http.ResponseWriter, r *http.Request, who principal) error {
	q := r.URL.Query()
	pattern, partition := q.Get("pattern"), q.Get("partition")
	if pattern == "" || partition == "" {
		return badRequest("say which route pattern: DELETE /v1/patterns?pattern=P&partition=Q (URL-encode the pattern)")
	}
	return s.change(w, r, domain.RemoveRoutePattern{Pattern: pattern, Partition: partition, By: by(who)})
}

func (s *Server) putCSS(w http.ResponseWriter, r *http.Request, who principal) error {
	name, err := pathName(r, "name")
	if err != nil {
		return err
	}
	var req api.PutCSS
	if err := decode(w, r, &req, false); err != nil {
		return err
	}
	return s.change(w, r, domain.ConfigureCSS{Name: name, Partitions: req.Partitions, By: by(who)})
}

func (s *Server) deleteCSS(w http.ResponseWriter, r *http.Request, who principal) error {
	name, err := pathName(r, "name")
	if err != nil {
		return err
	}
	return s.change(w, r, domain.RemoveCSS{Name: name, By: by(who)})
}

func (s *Server) putPool(w http.ResponseWriter, r *http.Request, who principal) error {
	name, err := pathName(r, "name")
	if err != nil {
		return err
	}
	var req api.PutPool
	if err := decode(w, r, &req, false); err != nil {
		return err
	}
	profile, err := domain.ParseAuthProfile(req.SIPAuth)
	if err != nil {
		return err
	}
	return s.change(w, r, domain.ConfigurePool{Name: name, Group: req.Group, CSS: req.CSS, AutoregCSS: req.AutoregCSS, SIPAuth: profile, By: by(who)})
}

func (s *Server) deletePool(w http.ResponseWriter, r *http.Request, who principal) error {
	name, err := pathName(r, "name")
	if err != nil {
		return err
	}
	return s.change(w, r, domain.RemovePool{Name: name, By: by(who)})
}

func (s *Server) setDefaultPool(w http.ResponseWriter, r *http.Request, who principal) error {
	var req api.SetDefaultPool
	if err := decode(w, r, &req, false); err != nil {
		return err
	}
	if err := s.checkRefs(r.Context(), req.Pool, "", ""); err != nil {
		return err
	}
	return s.change(w, r, domain.SetDefaultPool{Pool: req.Pool, By: by(who)})
}

func (s *Server) putDeviceDefaults(w http.ResponseWriter, r *http.Request, who principal) error {
	model, err := pathName(r, "model")
	if err != nil {
		return err
	}
	var req api.PutDeviceDefaults
	if err := decode(w, r, &req, true); err != nil {
		return err
	}
	return s.change(w, r, domain.SetDeviceDefaults{Model: model, LoadSCCP: req.LoadSCCP, LoadSIP: req.LoadSIP, Pool: req.Pool, By: by(who)})
}

// ---- Devices ---------------------------------------------------------------

// deviceChange runs a device command and answers with the device after it.
func (s *Server) deviceChange(w http.ResponseWriter, r *http.Request, status int, cmd domain.Command) error {
	out, res, err := s.exec(r, cmd)
	if err != nil {
		return err
	}
	if out.Device.Exists {
		// Read the change back from the read side, once it holds it.
		if err := s.reader.WaitFor(r.Context(), res.Position); err != nil {
			return err
		}
		d, ok, err := s.reader.Device(r.Context(), out.Device.Name)
		if err != nil {
			return err
		}
		c, err := s.reader.Cluster(r.Context())
		if err != nil {
			return err
		}
		if ok {
			api := toDevice(d, s.reader.ExternalNumber, c)
			res.Device = &api
		}
	}
	if !res.Changed {
		status = http.StatusOK
	}
	writeJSON(w, status, res)
	return nil
}

func (s *Server) provisionDevice(w http.ResponseWriter, r *http.Request, who principal) error {
	var req api.ProvisionDevice
	if err := decode(w, r, &req, false); err != nil {
		return err
	}
	if err := checkDeviceName(req.Name); err != nil {
		return err
	}
	if err := s.checkRefs(r.Context(), req.Pool, req.CSS, req.Partition); err != nil {
		return err
	}
	var proto domain.Protocol
	if req.Protocol != "" {
		p, err := domain.ParseProtocol(req.Protocol)
		if err != nil {
			return fmt.Errorf("%w: %w", domain.ErrInvalid, err)
		}
		proto = p
	}
	return s.deviceChange(w, r, http.StatusCreated, domain.ProvisionDevice{
		Device: req.Name, Model: req.Model, Protocol: proto, DN: req.DN, Partition: req.Partition,
		Pool: req.Pool, CSS: req.CSS, Description: req.Description, By: by(who)})
}

func (s *Server) reconfigureDevice(w http.ResponseWriter, r *http.Request, who principal) error {
	name, err := deviceName(r)
	if err != nil {
		return err
	}
	var req api.ReconfigureDevice
	if err := decode(w, r, &req, false); err != nil {
		return err
	}
	if err := s.checkRefs(r.Context(), req.Pool, req.CSS, req.Partition); err != nil {
		return err
	}
	return s.deviceChange(w, r, http.StatusOK, domain.ReconfigureDevice{
		Device: name, Pool: req.Pool, CSS: req.CSS, DN: req.DN, Partition: req.Partition, Description: req.Description, By: by(who)})
}

// configFile answers what the TFTP server would serve the device now.
func (s *Server) configFile(w http.ResponseWriter, r *http.Request, _ principal) error {
	name, err := pathName(r, "name")
	if err != nil {
		return err
	}
	if s.cfg.ConfigFile == nil {
		return &requestError{status: http.StatusNotFound, code: api.CodeNotFound, msg: "this registrar serves no configuration files"}
	}
	b, err := s.cfg.ConfigFile(r.Context(), name)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: no device %s: an unknown phone gets XmlDefault.cnf.xml", domain.ErrNotFound, name)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, err = w.Write(b)
	return err
}

// resetDevice records who asked a device to reset, then tells the phone.
func (s *Server) resetDevice(w http.ResponseWriter, r *http.Request, who principal) error {
	name, err := pathName(r, "name")
	if err != nil {
		return err
	}
	var req api.ResetDevice
	if err := decode(w, r, &req, true); err != nil {
		return err
	}
	out, res, err := s.exec(r, domain.ResetDevice{Device: name, Restart: req.Restart, By: by(who)})
	if err != nil {
		return err
	}
	res.Reset = s.tell(name, out.Device.Protocol, req.Restart)
	writeJSON(w, http.StatusOK, res)
	return nil
}

// tell asks a phone to reset (restart: to restart) over its protocol, and
// says whether it was told.
func (s *Server) tell(name string, p domain.Protocol, restart bool) *api.ResetOutcome {
	if s.cfg.Reset == nil {
		return &api.ResetOutcome{Detail: "this registrar has no adapter to tell phones"}
	}
	if err := s.cfg.Reset(name, p, restart); err != nil {
		return &api.ResetOutcome{Detail: err.Error()}
	}
	return &api.ResetOutcome{Delivered: true}
}

func (s *Server) deleteDevice(w http.ResponseWriter, r *http.Request, who principal) error {
	name, err := deviceName(r)
	if err != nil {
		return err
	}
	return s.change(w, r, domain.DeleteDevice{Device: name, By: by(who)})
}

// getCredentials shows a SIP device's digest credentials, the password
// included (what its configuration file carries), and logs who asked.
func (s *Server) getCredentials(w http.ResponseWriter, r *http.Request, who principal) error {
	name, err := deviceName(r)
	if err != nil {
		return err
	}
	d, c, err := s.deviceIn(r, name)
	if err != nil {
		return err
	}
	profile := c.Pools[d.Pool].SIPAuth
	out := api.Credentials{Device: name, Status: "none", Profile: profile.String()}
	if d.CredentialSalt != "" {
		out.Status = "active"
		if profile == domain.AuthNone {
			out.Status = "not_required"
		}
		if s.cfg.Credentials != nil {
			out.User, out.Password, out.Realm = s.cfg.Credentials(name, d.CredentialSalt)
		}
	}
	s.log.Info().Str("device", name).Str("by", by(who)).Str("peer", r.RemoteAddr).Msg("device credentials shown")
	writeJSON(w, http.StatusOK, out)
	return nil
}

// rotateCredentials issues a SIP device new credentials, then tells the
// phone to fetch its configuration file again (NOTIFY check-sync), which
// carries them.
func (s *Server) rotateCredentials(w http.ResponseWriter, r *http.Request, who principal) error {
	name, err := deviceName(r)
	if err != nil {
		return err
	}
	out, res, err := s.exec(r, domain.RotateCredentials{Device: name, By: by(who)})
	if err != nil {
		return err
	}
	res.Reset = s.tell(name, out.Device.Protocol, true)
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) disableCredentials(w http.ResponseWriter, r *http.Request, who principal) error {
	name, err := deviceName(r)
	if err != nil {
		return err
	}
	return s.change(w, r, domain.DisableCredentials{Device: name, By: by(who)})
}

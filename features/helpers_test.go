package features

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
)

// bind turns h, a function taking the scenario's world first, into a step
// handler taking only the step's arguments.
func bind(get func() *world, h any) any {
	hv := reflect.ValueOf(h)
	ht := hv.Type()
	if ht.Kind() != reflect.Func || ht.NumIn() == 0 || ht.In(0) != reflect.TypeOf(&world{}) {
		panic(fmt.Sprintf("step handler %T must take *world first", h))
	}
	in := make([]reflect.Type, 0, ht.NumIn()-1)
	for i := 1; i < ht.NumIn(); i++ {
		in = append(in, ht.In(i))
	}
	out := make([]reflect.Type, 0, ht.NumOut())
	for i := 0; i < ht.NumOut(); i++ {
		out = append(out, ht.Out(i))
	}
	ft := reflect.FuncOf(in, out, false)
	return reflect.MakeFunc(ft, func(args []reflect.Value) []reflect.Value {
		return hv.Call(append([]reflect.Value{reflect.ValueOf(get())}, args...))
	}).Interface()
}

// sampleCluster is the cluster most scenarios start from, configured by the
// administrator "admin" following the chapter's checklist:
//
//   - CallManagers CM1 (autoregistration enabled) and CM2 (disabled);
//   - groups "Default" = CM1, CM2 (the Auto-registration CallManager Group)
//     and "HQ-Group" = CM2, CM1;
//   - partitions Internal, PSTN and Emergency; route patterns 911 and 0 in
//     Emergency; 9.[2-9]XXXXXX, 9.1[2-9]XX[2-9]XXXXXX and 9.011! in PSTN,
//     with 9.1900XXXXXXX blocked;
//   - calling search spaces AutoReg_CSS = Internal, Emergency (internal calls
//     only) and HQ_CSS = Internal, PSTN, Emergency;
//   - device pools "Default" (group Default, AutoReg_CSS), the cluster
//     default, and "HQ" (group HQ-Group, HQ_CSS);
//   - the autoregistration calling search space AutoReg_CSS;
//   - the range 1000 through 1099 in partition Internal, no mask;
//   - the protocol parameter left at its default, and no Device Defaults.
func (w *world) sampleCluster() error {
	const by = "admin"
	cmds := []domain.Command{
		domain.ConfigureCallManager{Name: "CM1", Description: "publisher", AutoregEnabled: true, By: by},
		domain.ConfigureCallManager{Name: "CM2", Description: "subscriber", By: by},
		domain.ConfigureGroup{Name: "Default", CallManagers: []string{"CM1", "CM2"}, By: by},
		domain.ConfigureGroup{Name: "HQ-Group", CallManagers: []string{"CM2", "CM1"}, By: by},
		domain.SetAutoregGroup{Group: "Default", By: by},
		domain.AddPartition{Name: "Internal", Description: "directory numbers", By: by},
		domain.AddPartition{Name: "PSTN", Description: "outside lines", By: by},
		domain.AddPartition{Name: "Emergency", Description: "emergency and operator", By: by},
		domain.AddRoutePattern{Pattern: "911", Partition: "Emergency", Description: "emergency", By: by},
		domain.AddRoutePattern{Pattern: "0", Partition: "Emergency", Description: "operator", By: by},
		domain.AddRoutePattern{Pattern: "9.[2-9]XXXXXX", Partition: "PSTN", Description: "local", By: by},
		domain.AddRoutePattern{Pattern: "9.1[2-9]XX[2-9]XXXXXX", Partition: "PSTN", Description: "long distance", By: by},
		domain.AddRoutePattern{Pattern: "9.1900XXXXXXX", Partition: "PSTN", Block: true, Description: "premium rate", By: by},
		domain.AddRoutePattern{Pattern: "9.011!", Partition: "PSTN", Description: "international", By: by},
		domain.ConfigureCSS{Name: "AutoReg_CSS", Partitions: []string{"Internal", "Emergency"}, By: by},
		domain.ConfigureCSS{Name: "HQ_CSS", Partitions: []string{"Internal", "PSTN", "Emergency"}, By: by},
		domain.ConfigurePool{Name: "Default", Group: "Default", CSS: "AutoReg_CSS", By: by},
		domain.ConfigurePool{Name: "HQ", Group: "HQ-Group", CSS: "HQ_CSS", By: by},
		domain.SetDefaultPool{Pool: "Default", By: by},
		domain.SetAutoregCSS{CSS: "AutoReg_CSS", By: by},
		domain.ConfigureRange{Start: "1000", End: "1099", Partition: "Internal", By: by},
	}
	for _, c := range cmds {
		if err := w.must(c); err != nil {
			return fmt.Errorf("building the sample cluster: %w", err)
		}
	}
	return nil
}

func unregistration(dev, why string) command.Unregistration {
	return command.Unregistration{Device: dev, Reason: command.UnregisterReason(why), Adapter: "sccp", Peer: "10.0.0.1:2000"}
}

func (w *world) phoneRegisters(dev, model string, p domain.Protocol, addr string) error {
	if err := w.begin(); err != nil {
		return err
	}
	reg, err := w.register(dev, model, p, addr)
	w.lastDevice, w.lastReg = dev, reg
	return w.done(err)
}

// givenDN checks the last phone autoregistered with dn (and, if ext is not
// empty, that external phone number), in what it was told, in the
// registrar's state and in the history.
func (w *world) givenDN(dn, ext string) error {
	if err := w.consume(); err != nil {
		return fmt.Errorf("%s was refused: %w", w.lastDevice, err)
	}
	dev := w.lastDevice
	if !w.lastReg.Autoregistered || w.lastReg.DN != dn {
		return fmt.Errorf("%s was told %+v, want autoregistered with DN %s", dev, w.lastReg, dn)
	}
	d, ok := w.svc.Device(dev)
	if !ok || d.DN != dn || !d.Autoregistered || !d.Registered {
		return fmt.Errorf("the registrar holds %s as %+v", dev, d)
	}
	assigned, err := allOf[domain.DNAssigned](w)
	if err != nil {
		return err
	}
	found := false
	for _, a := range assigned {
		if a.Device == dev && a.DN == dn && a.Partition == d.Partition {
			found = true
		}
	}
	if !found {
		return fmt.Errorf("the history does not assign DN %s to %s", dn, dev)
	}
	auto, _, err := lastOf[domain.DeviceAutoregistered](w)
	if err != nil {
		return err
	}
	if auto.Device != dev || auto.DN != dn {
		return fmt.Errorf("the last autoregistration recorded is %s with %s", auto.Device, auto.DN)
	}
	if ext != "" && (auto.ExternalNumber != ext || w.lastReg.ExternalNumber != ext) {
		return fmt.Errorf("external phone number: recorded %q, phone told %q, want %q", auto.ExternalNumber, w.lastReg.ExternalNumber, ext)
	}
	return nil
}

func (w *world) opened(id string) (domain.WindowOpened, error) {
	all, err := allOf[domain.WindowOpened](w)
	if err != nil {
		return domain.WindowOpened{}, err
	}
	for _, o := range all {
		if o.Window == id {
			return o, nil
		}
	}
	return domain.WindowOpened{}, fmt.Errorf("the history never opened window %s", id)
}

// windowClosedBecause checks autoregistration is closed now, and the last
// window opened closed for that reason.
func (w *world) windowClosedBecause(phrase string) error {
	st := w.svc.Status()
	if st.Open || st.Window != nil {
		return fmt.Errorf("autoregistration is still open (window %+v)", st.Window)
	}
	last, _, err := lastOf[domain.WindowOpened](w)
	if err != nil {
		return err
	}
	return w.windowClosed(last.Window, phrase)
}

var systemCauses = map[domain.CloseCause]bool{
	domain.CloseDurationElapsed: true, domain.CloseRegistrationLimit: true, domain.CloseRangeExhausted: true,
}

func (w *world) windowClosed(id, phrase string) error {
	want, ok := closePhrases[phrase]
	if !ok {
		return fmt.Errorf("no reason to close a window is called %q", phrase)
	}
	if cur := w.svc.Cluster().Window; cur != nil && cur.ID == id {
		return fmt.Errorf("window %s is still open", id)
	}
	all, err := allOf[domain.WindowClosed](w)
	if err != nil {
		return err
	}
	var closes []domain.WindowClosed
	for _, c := range all {
		if c.Window == id {
			closes = append(closes, c)
		}
	}
	if len(closes) != 1 {
		return fmt.Errorf("the history closes window %s %d times: %+v", id, len(closes), closes)
	}
	c := closes[0]
	if c.Cause != want {
		return fmt.Errorf("window %s closed because %s (%q), want %s", id, c.Cause, c.Reason, want)
	}
	if strings.TrimSpace(c.Reason) == "" {
		return fmt.Errorf("window %s's close gives no reason", id)
	}
	if systemCauses[want] != (c.By == domain.SystemActor) {
		return fmt.Errorf("window %s closed because %s by %q", id, want, c.By)
	}
	return nil
}

// mayDial checks the device may dial every number of yes and none of no.
func (w *world) mayDial(dev string, yes, no []string) error {
	var problems []string
	check := func(number string, allowed bool) {
		res, err := w.svc.MayDial(dev, number)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", number, err))
			return
		}
		if res.Allowed != allowed {
			problems = append(problems, fmt.Sprintf("%s: allowed=%v (%s)", number, res.Allowed, res.Reason))
		}
	}
	for _, n := range yes {
		check(n, true)
	}
	for _, n := range no {
		check(n, false)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s dialling:\n  %s", dev, strings.Join(problems, "\n  "))
	}
	return nil
}

// everyChangeNamed checks every event an administrator's command wrote names
// that administrator (or the registrar itself, for a window it closed on its
// own), and that nothing else claims to be an administrator's.
func (w *world) everyChangeNamed() error {
	all, err := w.history()
	if err != nil {
		return err
	}
	admins := 0
	for _, r := range all {
		by, hasBy := stringField(r.Event, "By")
		user, isAdmin := strings.CutPrefix(r.Meta.Actor, "admin:")
		switch {
		case isAdmin && !hasBy:
			return fmt.Errorf("event %d (%s) from admin %s does not say who made it", r.Position, r.Type, user)
		case isAdmin && by != user && by != domain.SystemActor:
			return fmt.Errorf("event %d (%s) says it was made by %q, its metadata by %q", r.Position, r.Type, by, user)
		case hasBy && by == "":
			return fmt.Errorf("event %d (%s) names nobody", r.Position, r.Type)
		case !isAdmin && hasBy && by != domain.SystemActor:
			return fmt.Errorf("event %d (%s) says %q made it, but actor %q wrote it", r.Position, r.Type, by, r.Meta.Actor)
		}
		if isAdmin {
			admins++
		}
	}
	if admins == 0 {
		return fmt.Errorf("the history holds no administrative change")
	}
	return nil
}

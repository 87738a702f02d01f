package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// World is what a decision reads: the cluster, the range and, for device
// commands, the device. Decide never changes it.
type World struct {
	Cluster ClusterState
	Range   DNRangeState
	Device  DeviceState
}

// NewWorld is the state of an empty store, for device (may be "").
func NewWorld(device string) World {
	return World{Cluster: NewCluster(), Range: NewDNRange(), Device: NewDevice(device)}
}

// Decide is the pure heart of the registrar: given what is, a command and the
// time, the events that follow, or an error saying why not.
//
// A registration refused returns a *Rejection together with the events that
// record the refusal (and, for example, a window closing because its time
// is up): the caller writes the events, then reports the rejection.
// Configuration commands that change nothing return no events.
func Decide(w World, cmd Command, now time.Time) ([]Event, error) {
	events, err := decide(w, cmd, now)
	if err == nil && len(events) > 0 {
		events = keepRules(w, cmd, events, now)
	}
	return events, err
}

// keepRules holds the autoregistration rules at every moment: a change of
// the cluster's topology (a CallManager, a group, the flagged group, the
// default pool, a partition) that leaves an open window without a
// CallManager allowed to take autoregistrations, or otherwise breaks what
// CheckAutoregistration asks, closes the window with the change, naming
// the cause (CloseMisconfigured). The change is made: the administrator's
// word is final, and the window, like a mixed-mode change, closes at once.
func keepRules(w World, cmd Command, events []Event, now time.Time) []Event {
	switch cmd.(type) {
	case ConfigureCallManager, RemoveCallManager, ConfigureGroup, RemoveGroup, SetAutoregGroup,
		ConfigurePool, RemovePool, SetDefaultPool, RemovePartition:
	default:
		return events
	}
	win := w.Cluster.Window
	if win == nil || elapsed(win, now) {
		return events
	}
	after := w.Cluster.Clone()
	by := ""
	for _, e := range events {
		if e.Stream() == ClusterStream {
			after = EvolveCluster(after, e)
		}
		if b, ok := byOf(e); ok {
			by = b
		}
	}
	_, free := w.Range.NextFree()
	err := CheckCluster(after, w.Range.Range, free)
	if err == nil {
		return events
	}
	return append(events, closeEvent(w, CloseMisconfigured,
		"the cluster no longer meets the autoregistration rules: "+err.Error(), by, now))
}

// byOf is who made an administrative cluster event.
func byOf(e Event) (string, bool) {
	switch e := e.(type) {
	case CallManagerConfigured:
		return e.By, true
	case CallManagerRemoved:
		return e.By, true
	case GroupConfigured:
		return e.By, true
	case GroupRemoved:
		return e.By, true
	case AutoregGroupSet:
		return e.By, true
	case DevicePoolConfigured:
		return e.By, true
	case DevicePoolRemoved:
		return e.By, true
	case DefaultPoolSet:
		return e.By, true
	case PartitionRemoved:
		return e.By, true
	}
	return "", false
}

func decide(w World, cmd Command, now time.Time) ([]Event, error) {
	switch c := cmd.(type) {
	case SetProtocol:
		if err := needBy(c.By); err != nil {
			return nil, err
		}
		if c.Protocol != SIP && c.Protocol != SCCP {
			return nil, fmt.Errorf("%w: protocol %q: use SIP or SCCP", ErrInvalid, c.Protocol)
		}
		if w.Cluster.Protocol == c.Protocol {
			return nil, nil
		}
		return []Event{ProtocolSet{Protocol: c.Protocol, By: c.By}}, nil

	case SetSecurityMode:
		return decideSecurity(w, c, now)

	case ConfigureCallManager:
		if err := needName("CallManager", c.Name, c.By); err != nil {
			return nil, err
		}
		for _, p := range []int{c.SIPPort, c.SCCPPort} {
			if p < 0 || p > 65535 {
				return nil, fmt.Errorf("%w: CallManager %q: port %d: use 1-65535, or 0 for the protocol's default", ErrInvalid, c.Name, p)
			}
		}
		if len(c.Host) > 253 || strings.ContainsAny(c.Host, " \x00\r\n\t/") {
			return nil, fmt.Errorf("%w: CallManager %q: host %q is not a host name or address", ErrInvalid, c.Name, c.Host)
		}
		want := CallManager{Name: c.Name, Description: c.Description, AutoregDisabled: !c.AutoregEnabled,
			Host: c.Host, SIPPort: c.SIPPort, SCCPPort: c.SCCPPort}
		if cur, ok := w.Cluster.CallManagers[c.Name]; ok && cur == want {
			return nil, nil
		}
		return []Event{CallManagerConfigured{Name: c.Name, Description: c.Description, AutoregDisabled: !c.AutoregEnabled,
			Host: c.Host, SIPPort: c.SIPPort, SCCPPort: c.SCCPPort, By: c.By}}, nil

	case RemoveCallManager:
		if _, ok := w.Cluster.CallManagers[c.Name]; !ok {
			return nil, fmt.Errorf("%w: no CallManager %q", ErrNotFound, c.Name)
		}
		for _, g := range sortedKeys(w.Cluster.Groups) {
			if slices.Contains(w.Cluster.Groups[g], c.Name) {
				return nil, fmt.Errorf("%w: CallManager %q is in group %q: remove it from the group first", ErrInUse, c.Name, g)
			}
		}
		return []Event{CallManagerRemoved{Name: c.Name, By: c.By}}, nil

	case ConfigureGroup:
		if err := needName("CallManager group", c.Name, c.By); err != nil {
			return nil, err
		}
		if len(c.CallManagers) == 0 {
			return nil, fmt.Errorf("%w: group %q: at least one CallManager must be selected", ErrInvalid, c.Name)
		}
		seen := map[string]bool{}
		for _, cm := range c.CallManagers {
			if _, ok := w.Cluster.CallManagers[cm]; !ok {
				return nil, fmt.Errorf("%w: group %q names CallManager %q, which does not exist", ErrNotFound, c.Name, cm)
			}
			if seen[cm] {
				return nil, fmt.Errorf("%w: group %q lists CallManager %q twice", ErrInvalid, c.Name, cm)
			}
			seen[cm] = true
		}
		if cur, ok := w.Cluster.Groups[c.Name]; ok && slices.Equal(cur, c.CallManagers) {
			return nil, nil
		}
		return []Event{GroupConfigured{Name: c.Name, CallManagers: slices.Clone(c.CallManagers), By: c.By}}, nil

	case RemoveGroup:
		if _, ok := w.Cluster.Groups[c.Name]; !ok {
			return nil, fmt.Errorf("%w: no CallManager group %q", ErrNotFound, c.Name)
		}
		for _, p := range sortedKeys(w.Cluster.Pools) {
			if w.Cluster.Pools[p].Group == c.Name {
				return nil, fmt.Errorf("%w: group %q is used by device pool %q", ErrInUse, c.Name, p)
			}
		}
		return []Event{GroupRemoved{Name: c.Name, By: c.By}}, nil

	case SetAutoregGroup:
		if err := needBy(c.By); err != nil {
			return nil, err
		}
		if _, ok := w.Cluster.Groups[c.Group]; !ok {
			return nil, fmt.Errorf("%w: no CallManager group %q", ErrNotFound, c.Group)
		}
		if w.Cluster.AutoregGroup == c.Group {
			return nil, nil
		}
		return []Event{AutoregGroupSet{Group: c.Group, By: c.By}}, nil

	case AddPartition:
		if err := needName("partition", c.Name, c.By); err != nil {
			return nil, err
		}
		if w.Cluster.Partitions[c.Name] {
			return nil, nil
		}
		return []Event{PartitionAdded{Name: c.Name, Description: c.Description, By: c.By}}, nil

	case RemovePartition:
		if !w.Cluster.Partitions[c.Name] {
			return nil, fmt.Errorf("%w: no partition %q", ErrNotFound, c.Name)
		}
		for _, css := range sortedKeys(w.Cluster.CSS) {
			if slices.Contains(w.Cluster.CSS[css], c.Name) {
				return nil, fmt.Errorf("%w: partition %q is in calling search space %q", ErrInUse, c.Name, css)
			}
		}
		for _, p := range w.Cluster.Patterns {
			if p.Partition == c.Name {
				return nil, fmt.Errorf("%w: partition %q holds route pattern %q", ErrInUse, c.Name, p.Pattern)
			}
		}
		if w.Range.Range.Partition == c.Name {
			return nil, fmt.Errorf("%w: partition %q is the autoregistration range's partition", ErrInUse, c.Name)
		}
		return []Event{PartitionRemoved{Name: c.Name, By: c.By}}, nil

	case AddRoutePattern:
		if err := needBy(c.By); err != nil {
			return nil, err
		}
		if _, err := CompilePattern(c.Pattern); err != nil {
			return nil, err
		}
		if !w.Cluster.Partitions[c.Partition] {
			return nil, fmt.Errorf("%w: no partition %q for route pattern %q", ErrNotFound, c.Partition, c.Pattern)
		}
		for _, p := range w.Cluster.Patterns {
			if p.Pattern == c.Pattern && p.Partition == c.Partition {
				if p.Block == c.Block {
					return nil, nil
				}
				return nil, fmt.Errorf("%w: route pattern %q already exists in partition %q: remove it first", ErrInUse, c.Pattern, c.Partition)
			}
		}
		return []Event{RoutePatternAdded{Pattern: c.Pattern, Partition: c.Partition, Block: c.Block, Description: c.Description, By: c.By}}, nil

	case RemoveRoutePattern:
		for _, p := range w.Cluster.Patterns {
			if p.Pattern == c.Pattern && p.Partition == c.Partition {
				return []Event{RoutePatternRemoved{Pattern: c.Pattern, Partition: c.Partition, By: c.By}}, nil
			}
		}
		return nil, fmt.Errorf("%w: no route pattern %q in partition %q", ErrNotFound, c.Pattern, c.Partition)

	case ConfigureCSS:
		if err := needName("calling search space", c.Name, c.By); err != nil {
			return nil, err
		}
		for _, p := range c.Partitions {
			if !w.Cluster.Partitions[p] {
				return nil, fmt.Errorf("%w: calling search space %q names partition %q, which does not exist", ErrNotFound, c.Name, p)
			}
		}
		if cur, ok := w.Cluster.CSS[c.Name]; ok && slices.Equal(cur, c.Partitions) {
			return nil, nil
		}
		return []Event{CSSConfigured{Name: c.Name, Partitions: slices.Clone(c.Partitions), By: c.By}}, nil

	case RemoveCSS:
		if _, ok := w.Cluster.CSS[c.Name]; !ok {
			return nil, fmt.Errorf("%w: no calling search space %q", ErrNotFound, c.Name)
		}
		if w.Cluster.AutoregCSS == c.Name {
			return nil, fmt.Errorf("%w: calling search space %q is the autoregistration calling search space", ErrInUse, c.Name)
		}
		for _, p := range sortedKeys(w.Cluster.Pools) {
			if w.Cluster.Pools[p].CSS == c.Name {
				return nil, fmt.Errorf("%w: calling search space %q is used by device pool %q", ErrInUse, c.Name, p)
			}
		}
		return []Event{CSSRemoved{Name: c.Name, By: c.By}}, nil

	case ConfigurePool:
		if err := needName("device pool", c.Name, c.By); err != nil {
			return nil, err
		}
		if _, ok := w.Cluster.Groups[c.Group]; !ok {
			return nil, fmt.Errorf("%w: device pool %q names CallManager group %q, which does not exist", ErrNotFound, c.Name, c.Group)
		}
		for _, css := range []string{c.CSS, c.AutoregCSS} {
			if _, ok := w.Cluster.CSS[css]; css != "" && !ok {
				return nil, fmt.Errorf("%w: device pool %q names calling search space %q, which does not exist", ErrNotFound, c.Name, css)
			}
		}
		if _, err := ParseAuthProfile(string(c.SIPAuth)); err != nil {
			return nil, err
		}
		if cur, ok := w.Cluster.Pools[c.Name]; ok && cur.Group == c.Group && cur.CSS == c.CSS && cur.AutoregCSS == c.AutoregCSS && cur.SIPAuth == c.SIPAuth {
			return nil, nil
		}
		return []Event{DevicePoolConfigured{Name: c.Name, Group: c.Group, CSS: c.CSS, AutoregCSS: c.AutoregCSS, SIPAuth: c.SIPAuth, By: c.By}}, nil

	case RemovePool:
		if _, ok := w.Cluster.Pools[c.Name]; !ok {
			return nil, fmt.Errorf("%w: no device pool %q", ErrNotFound, c.Name)
		}
		if w.Cluster.DefaultPool == c.Name {
			return nil, fmt.Errorf("%w: device pool %q is the cluster default pool", ErrInUse, c.Name)
		}
		for _, m := range sortedKeys(w.Cluster.DeviceDefaults) {
			if w.Cluster.DeviceDefaults[m].Pool == c.Name {
				return nil, fmt.Errorf("%w: device pool %q is the Device Defaults pool of model %s", ErrInUse, c.Name, m)
			}
		}
		return []Event{DevicePoolRemoved{Name: c.Name, By: c.By}}, nil

	case SetDefaultPool:
		if err := needBy(c.By); err != nil {
			return nil, err
		}
		if _, ok := w.Cluster.Pools[c.Pool]; !ok {
			return nil, fmt.Errorf("%w: no device pool %q", ErrNotFound, c.Pool)
		}
		if w.Cluster.DefaultPool == c.Pool {
			return nil, nil
		}
		return []Event{DefaultPoolSet{Pool: c.Pool, By: c.By}}, nil

	case SetDeviceDefaults:
		if err := needBy(c.By); err != nil {
			return nil, err
		}
		if _, ok := LookupModel(c.Model); !ok {
			return nil, fmt.Errorf("%w: model %q is not in the catalogue", ErrNotFound, c.Model)
		}
		if _, ok := w.Cluster.Pools[c.Pool]; c.Pool != "" && !ok {
			return nil, fmt.Errorf("%w: Device Defaults for %s name device pool %q, which does not exist", ErrNotFound, c.Model, c.Pool)
		}
		want := DeviceDefaults{Model: c.Model, LoadSCCP: c.LoadSCCP, LoadSIP: c.LoadSIP, Pool: c.Pool}
		if cur, ok := w.Cluster.DeviceDefaults[c.Model]; ok && cur == want {
			return nil, nil
		}
		return []Event{DeviceDefaultsSet{Model: c.Model, LoadSCCP: c.LoadSCCP, LoadSIP: c.LoadSIP, Pool: c.Pool, By: c.By}}, nil

	case SetAutoregCSS:
		if err := needBy(c.By); err != nil {
			return nil, err
		}
		if _, ok := w.Cluster.CSS[c.CSS]; c.CSS != "" && !ok {
			return nil, fmt.Errorf("%w: no calling search space %q", ErrNotFound, c.CSS)
		}
		if w.Cluster.AutoregCSS == c.CSS {
			return nil, nil
		}
		return []Event{AutoregCSSSet{CSS: c.CSS, By: c.By}}, nil

	case OpenWindow:
		return decideOpen(w, c, now)

	case CloseWindow:
		if err := needBy(c.By); err != nil {
			return nil, err
		}
		if strings.TrimSpace(c.Reason) == "" {
			return nil, fmt.Errorf("%w: closing autoregistration needs a reason", ErrInvalid)
		}
		win := w.Cluster.Window
		if win == nil {
			return nil, fmt.Errorf("%w: there is no window to close", ErrWindowClosed)
		}
		if elapsed(win, now) {
			return []Event{closeEvent(w, CloseDurationElapsed, "maximum duration elapsed", SystemActor, win.Until)}, nil
		}
		return []Event{closeEvent(w, CloseByAdmin, c.Reason, c.By, now)}, nil

	case ExpireWindow:
		if win := w.Cluster.Window; win != nil && elapsed(win, now) {
			return []Event{closeEvent(w, CloseDurationElapsed, "maximum duration elapsed", SystemActor, win.Until)}, nil
		}
		return nil, nil

	case ConfigureRange:
		return decideRange(w, c, now)

	case ProvisionDevice:
		return decideProvision(w, c)

	case ReconfigureDevice:
		return decideReconfigure(w, c)

	case DeleteDevice:
		if err := needBy(c.By); err != nil {
			return nil, err
		}
		d := w.Device
		if !d.Exists {
			return nil, fmt.Errorf("%w: no device %s", ErrNotFound, c.Device)
		}
		ev := []Event{DeviceDeleted{DeviceEvent: DeviceEvent{Device: d.Name}, By: c.By}}
		if d.DN != "" {
			ev = append(ev, DNReleased{DN: d.DN, Partition: d.Partition, Device: d.Name, Reason: "device deleted", By: c.By})
		}
		return ev, nil

	case ResetDevice:
		if err := needBy(c.By); err != nil {
			return nil, err
		}
		if !w.Device.Exists {
			return nil, fmt.Errorf("%w: no device %s", ErrNotFound, c.Device)
		}
		return []Event{DeviceResetRequested{DeviceEvent: DeviceEvent{Device: c.Device}, Restart: c.Restart, By: c.By}}, nil

	case Register:
		return decideRegister(w, c, now)

	case RotateCredentials:
		return decideRotate(w, c)

	case DisableCredentials:
		return decideDisable(w, c)

	case Unregister:
		if !w.Device.Exists || !w.Device.Registered {
			return nil, nil
		}
		if c.Node != "" && w.Device.Node != "" && c.Node != w.Device.Node {
			// It registered with another CallManager since (it failed
			// over, or fell back): this one's loss does not end it.
			return nil, nil
		}
		return []Event{DeviceUnregistered{DeviceEvent: DeviceEvent{Device: c.Device}, Reason: c.Reason}}, nil
	}
	return nil, fmt.Errorf("%w: unknown command %T", ErrInvalid, cmd)
}

func needBy(by string) error {
	if strings.TrimSpace(by) == "" {
		return fmt.Errorf("%w: every administrative change must name who makes it", ErrInvalid)
	}
	return nil
}

func needName(what, name, by string) error {
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("%w: the %s needs a name", ErrInvalid, what)
	}
	if len(name) > 64 || strings.ContainsAny(name, "\x00\r\n\t") {
		return fmt.Errorf("%w: %s name %q: at most 64 printable characters", ErrInvalid, what, name)
	}
	return needBy(by)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func elapsed(win *Window, now time.Time) bool {
	return !win.Until.IsZero() && !now.Before(win.Until)
}

func closeEvent(w World, cause CloseCause, reason, by string, at time.Time) WindowClosed {
	win := w.Cluster.Window
	return WindowClosed{Window: win.ID, Cause: cause, Reason: reason, By: by, At: at,
		Registrations: w.Range.WindowRegistrations(win.ID)}
}

func decideSecurity(w World, c SetSecurityMode, now time.Time) ([]Event, error) {
	if err := needBy(c.By); err != nil {
		return nil, err
	}
	if c.Mode != Mixed && c.Mode != Nonsecure {
		return nil, fmt.Errorf("%w: security mode %q: use mixed or nonsecure", ErrInvalid, c.Mode)
	}
	if w.Cluster.Security == c.Mode {
		return nil, nil
	}
	ev := []Event{SecurityModeSet{Mode: c.Mode, By: c.By}}
	if win := w.Cluster.Window; win != nil && elapsed(win, now) {
		// The window's time was up before this change: it closed then.
		ev = []Event{closeEvent(w, CloseDurationElapsed, "maximum duration elapsed", SystemActor, win.Until), ev[0]}
	} else if c.Mode == Mixed && win != nil {
		// Configuring mixed-mode security disables autoregistration at once.
		ev = append(ev, closeEvent(w, CloseSecurityMixed,
			"cluster security set to mixed mode, which disables autoregistration", c.By, now))
	}
	return ev, nil
}

// CheckAutoregistration tells whether autoregistration could be opened now:
// nil, or an error naming what is wrong and how to fix it.
func CheckAutoregistration(w World) error {
	_, free := w.Range.NextFree()
	return CheckCluster(w.Cluster, w.Range.Range, free)
}

// CheckCluster is CheckAutoregistration from what a read model knows: the
// cluster, the range in force, and whether any of its DNs is free.
func CheckCluster(c ClusterState, r DNRange, anyFree bool) error {
	if c.Security == Mixed {
		return fmt.Errorf("%w: autoregistration cannot be enabled while security is mixed: set it to nonsecure first (`registrar admin security nonsecure`)", ErrMixedMode)
	}
	if r.Disabled() {
		if !r.Configured() {
			return fmt.Errorf("%w: no autoregistration range is configured: set a starting and an ending DN", ErrRangeDisabled)
		}
		return fmt.Errorf("%w: the starting DN equals the ending DN (%s), which disables autoregistration: set a wider range", ErrRangeDisabled, r.Start)
	}
	if c.AutoregGroup == "" {
		return fmt.Errorf("%w: no CallManager group is flagged as the Auto-registration CallManager Group", ErrMisconfigured)
	}
	members := c.Groups[c.AutoregGroup]
	if len(members) == 0 {
		return fmt.Errorf("%w: the autoregistration group %q has no CallManager: at least one must be selected", ErrMisconfigured, c.AutoregGroup)
	}
	first := c.CallManagers[members[0]]
	if first.AutoregDisabled {
		return fmt.Errorf("%w: CallManager %s, first in the autoregistration group %q, has \"Auto-registration Disabled on this Cisco CallManager\" checked: uncheck it", ErrMisconfigured, first.Name, c.AutoregGroup)
	}
	if enabled := c.AutoregEnabledCallManagers(); len(enabled) > 1 {
		var others []string
		for _, n := range enabled {
			if n != first.Name {
				others = append(others, n)
			}
		}
		return fmt.Errorf("%w: only one CallManager may have autoregistration enabled, but %s also has: disable autoregistration on %s",
			ErrMisconfigured, strings.Join(others, ", "), strings.Join(others, ", "))
	}
	if c.DefaultPool == "" {
		return fmt.Errorf("%w: no default device pool: autoregistered phones need one (checklist step 5): set one with `registrar admin default-pool POOL`", ErrMisconfigured)
	}
	if !anyFree {
		return fmt.Errorf("%w: every DN from %s to %s is in use: widen the range or free DNs", ErrRangeExhausted, r.Start, r.End)
	}
	return nil
}

func decideOpen(w World, c OpenWindow, now time.Time) ([]Event, error) {
	if err := needBy(c.By); err != nil {
		return nil, err
	}
	if strings.TrimSpace(c.Reason) == "" {
		return nil, fmt.Errorf("%w: opening autoregistration needs a reason", ErrInvalid)
	}
	if c.For < 0 || c.Max < 0 {
		return nil, fmt.Errorf("%w: the maximum duration and number of registrations cannot be negative", ErrInvalid)
	}
	var ev []Event
	if win := w.Cluster.Window; win != nil {
		if !elapsed(win, now) {
			return nil, fmt.Errorf("%w: window %s opened by %s at %s: close it first", ErrWindowOpen, win.ID, win.By, win.OpenedAt.Format(time.RFC3339))
		}
		ev = append(ev, closeEvent(w, CloseDurationElapsed, "maximum duration elapsed", SystemActor, win.Until))
	}
	if err := CheckAutoregistration(w); err != nil {
		return nil, err
	}
	open := WindowOpened{
		Window: fmt.Sprintf("W%d", w.Cluster.WindowsOpened+1), Reason: c.Reason, By: c.By, At: now,
		MaxRegistrations: c.Max, Protocol: w.Cluster.Protocol,
	}
	if c.For > 0 {
		open.Until = now.Add(c.For)
	}
	return append(ev, open), nil
}

func decideRange(w World, c ConfigureRange, now time.Time) ([]Event, error) {
	if err := needBy(c.By); err != nil {
		return nil, err
	}
	if err := ValidateRange(c.Start, c.End); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if c.Partition != "" && !w.Cluster.Partitions[c.Partition] {
		return nil, fmt.Errorf("%w: no partition %q for the autoregistration range", ErrNotFound, c.Partition)
	}
	for _, r := range c.Mask {
		if (r < '0' || r > '9') && r != 'X' && r != 'x' && r != '+' && r != '*' && r != '#' {
			return nil, fmt.Errorf("%w: external phone number mask %q: only digits, X, +, * and #", ErrInvalid, c.Mask)
		}
	}
	want := DNRange{Start: c.Start, End: c.End, Partition: c.Partition, Mask: c.Mask}
	if w.Range.Range == want {
		return nil, nil
	}
	ev := []Event{RangeConfigured{Start: c.Start, End: c.End, Partition: c.Partition, Mask: c.Mask, By: c.By}}
	if win := w.Cluster.Window; win != nil && elapsed(win, now) {
		ev = []Event{closeEvent(w, CloseDurationElapsed, "maximum duration elapsed", SystemActor, win.Until), ev[0]}
	} else if want.Disabled() && win != nil {
		ev = append(ev, closeEvent(w, CloseRangeDisabled, "the range's starting DN now equals its ending DN, which disables autoregistration", c.By, now))
	}
	return ev, nil
}

func decideProvision(w World, c ProvisionDevice) ([]Event, error) {
	if err := needBy(c.By); err != nil {
		return nil, err
	}
	if !ValidDeviceName(c.Device) {
		return nil, fmt.Errorf("%w: device name %q: SEP followed by the 12 hex digits of the MAC", ErrInvalid, c.Device)
	}
	if w.Device.Exists {
		return nil, fmt.Errorf("%w: device %s already exists (DN %s): reconfigure it instead", ErrInUse, c.Device, w.Device.DN)
	}
	m, ok := LookupModel(c.Model)
	if !ok {
		return nil, fmt.Errorf("%w: model %q is not in the catalogue", ErrNotFound, c.Model)
	}
	proto := c.Protocol
	if proto == "" {
		proto = w.Cluster.Protocol
		if !m.Supports(proto) {
			proto = m.Protocols[0]
		}
	}
	if !m.Supports(proto) {
		return nil, fmt.Errorf("%w: model %s does not speak %s", ErrInvalid, m.Name, proto)
	}
	if !isDigits(c.DN) {
		return nil, fmt.Errorf("%w: directory number %q is not a digit string", ErrInvalid, c.DN)
	}
	part := c.Partition
	if part == "" {
		part = w.Range.Range.Partition
	}
	if part != "" && !w.Cluster.Partitions[part] {
		return nil, fmt.Errorf("%w: no partition %q", ErrNotFound, part)
	}
	if holder, used := w.Range.Holder(part, c.DN); used {
		return nil, fmt.Errorf("%w: DN %s in partition %q is held by %s", ErrDNInUse, c.DN, part, holder)
	}
	pool := c.Pool
	if pool == "" {
		pool = w.Cluster.DefaultPool
	}
	if _, ok := w.Cluster.Pools[pool]; !ok {
		return nil, fmt.Errorf("%w: no device pool %q", ErrNotFound, pool)
	}
	if _, ok := w.Cluster.CSS[c.CSS]; c.CSS != "" && !ok {
		return nil, fmt.Errorf("%w: no calling search space %q", ErrNotFound, c.CSS)
	}
	return []Event{
		DeviceProvisioned{DeviceEvent: DeviceEvent{Device: c.Device}, Model: m.Name, Protocol: proto, DN: c.DN,
			Partition: part, Pool: pool, CSS: c.CSS, Description: c.Description, By: c.By},
		DNClaimed{DN: c.DN, Partition: part, Device: c.Device, By: c.By},
	}, nil
}

func decideReconfigure(w World, c ReconfigureDevice) ([]Event, error) {
	if err := needBy(c.By); err != nil {
		return nil, err
	}
	d := w.Device
	if !d.Exists {
		return nil, fmt.Errorf("%w: no device %s", ErrNotFound, c.Device)
	}
	if _, ok := w.Cluster.Pools[c.Pool]; c.Pool != "" && !ok {
		return nil, fmt.Errorf("%w: no device pool %q", ErrNotFound, c.Pool)
	}
	if _, ok := w.Cluster.CSS[c.CSS]; c.CSS != "" && !ok {
		return nil, fmt.Errorf("%w: no calling search space %q", ErrNotFound, c.CSS)
	}
	if c.Partition != "" && !w.Cluster.Partitions[c.Partition] {
		return nil, fmt.Errorf("%w: no partition %q", ErrNotFound, c.Partition)
	}
	rc := DeviceReconfigured{DeviceEvent: DeviceEvent{Device: d.Name}, By: c.By}
	changed := false
	if c.Pool != "" && c.Pool != d.Pool {
		rc.Pool, rc.CSS, changed = c.Pool, c.CSS, true
	} else if c.CSS != "" && c.CSS != d.CSS {
		rc.CSS, changed = c.CSS, true
	}
	if c.Description != "" && c.Description != d.Description {
		rc.Description, changed = c.Description, true
	}
	var ev []Event
	newDN, newPart := d.DN, d.Partition
	if c.DN != "" {
		if !isDigits(c.DN) {
			return nil, fmt.Errorf("%w: directory number %q is not a digit string", ErrInvalid, c.DN)
		}
		newDN = c.DN
	}
	if c.Partition != "" {
		newPart = c.Partition
	}
	if newDN != d.DN || newPart != d.Partition {
		if holder, used := w.Range.Holder(newPart, newDN); used {
			return nil, fmt.Errorf("%w: DN %s in partition %q is held by %s", ErrDNInUse, newDN, newPart, holder)
		}
		rc.DN, rc.Partition, changed = newDN, newPart, true
		if d.DN != "" {
			ev = append(ev, DNReleased{DN: d.DN, Partition: d.Partition, Device: d.Name, Reason: "device given another DN", By: c.By})
		}
		ev = append(ev, DNClaimed{DN: newDN, Partition: newPart, Device: d.Name, By: c.By})
	}
	if !changed {
		return nil, nil
	}
	return append([]Event{rc}, ev...), nil
}

func decideRegister(w World, c Register, now time.Time) ([]Event, error) {
	if !ValidDeviceName(c.Device) {
		return nil, fmt.Errorf("%w: device name %q: SEP followed by the 12 hex digits of the MAC", ErrInvalid, c.Device)
	}
	if c.Protocol != SIP && c.Protocol != SCCP {
		return nil, fmt.Errorf("%w: protocol %q: use SIP or SCCP", ErrInvalid, c.Protocol)
	}
	d := w.Device
	if d.Exists {
		// A known device registers at any time and keeps its DN.
		if c.Protocol != d.Protocol {
			return rejectRecorded(w, c, now, RejectWrongProtocol,
				fmt.Sprintf("%s is configured for %s, not %s", d.Name, d.Protocol, c.Protocol))
		}
		dev := DeviceEvent{Device: d.Name}
		switch {
		case d.Address != "" && d.Address != c.Address:
			// From a new address, whether it unregistered first (an SCCP phone
			// unplugged and plugged in at another desk) or not: a move.
			return []Event{DeviceMoved{DeviceEvent: dev, From: d.Address, To: c.Address, Node: c.Node}}, nil
		case !d.Registered, c.Node != d.Node:
			// Registered anew, or with another CallManager (failover,
			// fallback): the registration records where.
			return []Event{DeviceRegistered{DeviceEvent: dev, Protocol: c.Protocol, Address: c.Address, Node: c.Node}}, nil
		}
		return nil, nil // a refresh changes nothing
	}

	cl := w.Cluster
	var ev []Event
	win := cl.Window
	if win != nil && elapsed(win, now) {
		ev = append(ev, closeEvent(w, CloseDurationElapsed, "maximum duration elapsed", SystemActor, win.Until))
		win = nil
	}
	reject := func(reason RejectReason, detail string) ([]Event, error) {
		more, err := rejectRecorded(w, c, now, reason, detail)
		return append(ev, more...), err
	}
	if c.Node != "" {
		// Only the autoregistration CallManager takes unknown phones.
		switch cm := cl.AutoregCallManager(); {
		case cm == "":
			return reject(RejectNotAutoregNode, fmt.Sprintf("%s is not in the database and no CallManager takes autoregistrations (the first of the Auto-registration CallManager Group must have autoregistration enabled)", c.Device))
		case cm != c.Node:
			return reject(RejectNotAutoregNode, fmt.Sprintf("%s is not in the database of CallManager %s; autoregistration runs on CallManager %s", c.Device, c.Node, cm))
		}
	}
	if cl.Security == Mixed {
		return reject(RejectMixedMode, "cluster security is in mixed mode, which disables autoregistration")
	}
	if win == nil {
		return reject(RejectWindowClosed, "autoregistration is closed: an administrator must open a window (`registrar admin autoreg open`)")
	}
	if w.Range.Range.Disabled() {
		return reject(RejectRangeDisabled, "the autoregistration range's starting DN equals its ending DN")
	}
	m, ok := LookupModel(c.Model)
	if !ok {
		detail := "the device did not say its model"
		if c.Model != "" {
			detail = fmt.Sprintf("model %q is not in the catalogue", c.Model)
		}
		return reject(RejectUnknownModel, detail)
	}
	if !m.Supports(c.Protocol) {
		return reject(RejectWrongProtocol, fmt.Sprintf("model %s does not speak %s", m.Name, c.Protocol))
	}
	if m.DualProtocol() && c.Protocol != cl.Protocol {
		return reject(RejectWrongProtocol, fmt.Sprintf("model %s speaks SIP and SCCP and the Auto Registration Phone Protocol is %s: it autoregisters over %s only", m.Name, cl.Protocol, cl.Protocol))
	}
	dn, ok := w.Range.NextFree()
	if !ok {
		r := w.Range.Range
		ev = append(ev,
			RangeExhausted{Start: r.Start, End: r.End, Window: win.ID, Device: c.Device},
			closeEvent(w, CloseRangeExhausted, fmt.Sprintf("every DN from %s to %s is in use", r.Start, r.End), SystemActor, now))
		return reject(RejectRangeExhausted, fmt.Sprintf("every DN from %s to %s is in use", r.Start, r.End))
	}
	r := w.Range.Range
	pool := cl.PoolFor(m.Name)
	css := cl.AutoregCSSFor(pool)
	ev = append(ev,
		DNAssigned{DN: dn, Partition: r.Partition, Device: c.Device, Window: win.ID},
		DeviceAutoregistered{DeviceEvent: DeviceEvent{Device: c.Device}, Model: m.Name, Protocol: c.Protocol,
			DN: dn, Partition: r.Partition, ExternalNumber: r.ExternalNumber(dn), Pool: pool, CSS: css,
			Load: cl.DeviceDefaults[m.Name].Load(c.Protocol), Address: c.Address, Window: win.ID, Node: c.Node})
	if c.Protocol == SIP && c.Credential.valid() {
		ev = append(ev, issued(c.Device, c.Credential, SystemActor))
	}
	n := w.Range.WindowRegistrations(win.ID) + 1
	switch {
	case win.MaxRegistrations > 0 && n >= win.MaxRegistrations:
		closing := closeEvent(w, CloseRegistrationLimit,
			fmt.Sprintf("the window's limit of %d registrations is reached", win.MaxRegistrations), SystemActor, now)
		closing.Registrations = n
		ev = append(ev, closing)
	case !w.Range.FreeAfter(dn):
		// The last DN of the range went: the window closes with it.
		closing := closeEvent(w, CloseRangeExhausted, fmt.Sprintf("every DN from %s to %s is in use", r.Start, r.End), SystemActor, now)
		closing.Registrations = n
		ev = append(ev, closing)
	}
	return ev, nil
}

// rejectRecorded returns the rejection and, unless the same reason was
// recorded for this device within RejectionInterval, the event recording it.
func rejectRecorded(w World, c Register, now time.Time, reason RejectReason, detail string) ([]Event, error) {
	rej := &Rejection{Device: c.Device, Reason: reason, Detail: detail}
	if last, ok := w.Device.LastRejected[reason]; ok && now.Sub(last) < RejectionInterval {
		return nil, rej
	}
	win := ""
	if w.Cluster.Window != nil {
		win = w.Cluster.Window.ID
	}
	return []Event{RegistrationRejected{DeviceEvent: DeviceEvent{Device: c.Device}, Reason: reason, Detail: detail,
		Model: c.Model, Protocol: c.Protocol, Address: c.Address, Window: win, At: now}}, rej
}

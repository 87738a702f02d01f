package features

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cucumber/godog"
	"github.com/google/go-cmp/cmp"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
)

func initializeScenario(sc *godog.ScenarioContext) {
	var w *world
	sc.Before(func(ctx context.Context, _ *godog.Scenario) (context.Context, error) {
		var err error
		w, err = newWorld()
		return ctx, err
	})
	sc.After(func(ctx context.Context, _ *godog.Scenario, err error) (context.Context, error) {
		if w == nil {
			return ctx, nil
		}
		defer w.store.Close()
		defer w.stop()
		if err == nil && w.unchecked {
			return ctx, fmt.Errorf("the last action was refused and no step checked it: %v", w.lastErr)
		}
		if err == nil && len(w.bgErrs) > 0 {
			return ctx, fmt.Errorf("the registrar's background work failed: %v", w.bgErrs)
		}
		return ctx, nil
	})
	registerSteps(sc, func() *world { return w })
}

var (
	q       = `"([^"]*)"`
	list    = regexp.MustCompile(`\s*(?:,|\band\b|\bor\b)\s*`)
	nothing = map[string]bool{"nothing": true, "no partition": true, "no CallManager": true}
)

// splitList reads `"a", "b" and "c"` or `911, 0 and 5551234`.
func splitList(s string) []string {
	s = strings.TrimSpace(s)
	if nothing[s] {
		return nil
	}
	var out []string
	for _, p := range list.Split(s, -1) {
		p = strings.Trim(strings.TrimSpace(p), `"`)
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

func proto(s string) domain.Protocol { return domain.Protocol(strings.ToUpper(s)) }

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func duration(n int, unit string) time.Duration {
	switch strings.TrimSuffix(unit, "s") {
	case "second":
		return time.Duration(n) * time.Second
	case "minute":
		return time.Duration(n) * time.Minute
	case "hour":
		return time.Duration(n) * time.Hour
	}
	panic("unknown unit " + unit)
}

// Registration refusals, in the registrar's words.
var rejectPhrases = map[string]domain.RejectReason{
	"the window is closed":                            domain.RejectWindowClosed,
	"autoregistration is closed":                      domain.RejectWindowClosed,
	"the cluster is in mixed mode":                    domain.RejectMixedMode,
	"it speaks the wrong protocol":                    domain.RejectWrongProtocol,
	"the range is exhausted":                          domain.RejectRangeExhausted,
	"its model is unknown":                            domain.RejectUnknownModel,
	"the range is disabled":                           domain.RejectRangeDisabled,
	"its CallManager is not the autoregistration one": domain.RejectNotAutoregNode,
}

// Administrative refusals, in the registrar's words.
var refusalPhrases = map[string]error{
	"it is invalid":                      domain.ErrInvalid,
	"it names something that is missing": domain.ErrNotFound,
	"it is in use":                       domain.ErrInUse,
	"a window is already open":           domain.ErrWindowOpen,
	"no window is open":                  domain.ErrWindowClosed,
	"the cluster is in mixed mode":       domain.ErrMixedMode,
	"the range is disabled":              domain.ErrRangeDisabled,
	"the range is exhausted":             domain.ErrRangeExhausted,
	"autoregistration is misconfigured":  domain.ErrMisconfigured,
	"the directory number is in use":     domain.ErrDNInUse,
}

// Why windows close.
var closePhrases = map[string]domain.CloseCause{
	"an administrator closed it":         domain.CloseByAdmin,
	"the maximum duration elapsed":       domain.CloseDurationElapsed,
	"the registration limit was reached": domain.CloseRegistrationLimit,
	"the range is exhausted":             domain.CloseRangeExhausted,
	"security was set to mixed mode":     domain.CloseSecurityMixed,
	"the range was disabled":             domain.CloseRangeDisabled,
	"the cluster broke the rules":        domain.CloseMisconfigured,
}

func registerSteps(sc *godog.ScenarioContext, get func() *world) {
	// S binds a step whose handler takes the world first.
	S := func(expr string, h any) {
		sc.Step(expr, bind(get, h))
	}

	// ---- setting the scene ----------------------------------------------
	S(`^an empty registrar$`, func(w *world) error { return nil })
	S(`^the sample cluster$`, (*world).sampleCluster)
	S(`^the registrar restarts$`, func(w *world) error {
		if err := w.begin(); err != nil {
			return err
		}
		return w.restart()
	})

	// ---- enterprise parameters and security ------------------------------
	S(`^`+q+` sets the autoregistration protocol to (\w+)$`, func(w *world, by, p string) error {
		return w.admin(domain.SetProtocol{Protocol: proto(p), By: by})
	})
	S(`^`+q+` sets the cluster security mode to (\w+)$`, func(w *world, by, mode string) error {
		return w.admin(domain.SetSecurityMode{Mode: domain.SecurityMode(mode), By: by})
	})

	// ---- CallManagers and groups -----------------------------------------
	S(`^`+q+` configures CallManager `+q+` with autoregistration (enabled|disabled)$`, func(w *world, by, name, state string) error {
		return w.admin(domain.ConfigureCallManager{Name: name, AutoregEnabled: state == "enabled", By: by})
	})
	S(`^`+q+` adds CallManager `+q+`(?: described as `+q+`)?$`, func(w *world, by, name, desc string) error {
		// Only what the administrator says: the check box is left as it comes.
		return w.admin(domain.ConfigureCallManager{Name: name, Description: desc, By: by})
	})
	S(`^`+q+` configures CallManager group `+q+` with (.*)$`, func(w *world, by, name, cms string) error {
		return w.admin(domain.ConfigureGroup{Name: name, CallManagers: splitList(cms), By: by})
	})
	S(`^`+q+` flags group `+q+` as the autoregistration group$`, func(w *world, by, g string) error {
		return w.admin(domain.SetAutoregGroup{Group: g, By: by})
	})

	// ---- dial plan ----------------------------------------------------------
	S(`^`+q+` adds partition `+q+`$`, func(w *world, by, name string) error {
		return w.admin(domain.AddPartition{Name: name, By: by})
	})
	S(`^`+q+` removes partition `+q+`$`, func(w *world, by, name string) error {
		return w.admin(domain.RemovePartition{Name: name, By: by})
	})
	S(`^`+q+` adds (blocking )?route pattern `+q+` to partition `+q+`$`, func(w *world, by, block, pat, part string) error {
		return w.admin(domain.AddRoutePattern{Pattern: pat, Partition: part, Block: block != "", By: by})
	})
	S(`^`+q+` configures calling search space `+q+` as (.*)$`, func(w *world, by, name, parts string) error {
		return w.admin(domain.ConfigureCSS{Name: name, Partitions: splitList(parts), By: by})
	})
	S(`^`+q+` configures device pool `+q+` with group `+q+`(?: and calling search space `+q+`)?$`, func(w *world, by, name, group, css string) error {
		return w.admin(domain.ConfigurePool{Name: name, Group: group, CSS: css, By: by})
	})
	S(`^`+q+` makes device pool `+q+` the cluster default$`, func(w *world, by, pool string) error {
		return w.admin(domain.SetDefaultPool{Pool: pool, By: by})
	})
	S(`^`+q+` sets the Device Defaults of model (\w+) to load `+q+` for SCCP and `+q+` for SIP(?: with device pool `+q+`)?$`,
		func(w *world, by, model, sccp, sip, pool string) error {
			return w.admin(domain.SetDeviceDefaults{Model: model, LoadSCCP: sccp, LoadSIP: sip, Pool: pool, By: by})
		})
	S(`^`+q+` sets the autoregistration calling search space to `+q+`$`, func(w *world, by, css string) error {
		return w.admin(domain.SetAutoregCSS{CSS: css, By: by})
	})

	// ---- the range ----------------------------------------------------------
	S(`^`+q+` sets the autoregistration range to (\d+) through (\d+)(?: in partition `+q+`)?(?: with external phone number mask `+q+`)?$`,
		func(w *world, by, start, end, part, mask string) error {
			cur := w.svc.Range().Range
			if part == "" {
				part = cur.Partition // the page keeps the partition field as it was
			}
			if mask == "" {
				mask = cur.Mask
			}
			return w.admin(domain.ConfigureRange{Start: start, End: end, Partition: part, Mask: mask, By: by})
		})

	// ---- windows ------------------------------------------------------------
	openCmd := func(by, minutes, max, reason string) domain.OpenWindow {
		return domain.OpenWindow{Reason: reason, For: time.Duration(atoi(minutes)) * time.Minute, Max: atoi(max), By: by}
	}
	S(`^autoregistration is open(?: for (\d+) minutes)?(?: (?:for|and) at most (\d+) registrations?)? by `+q+` because `+q+`$`,
		func(w *world, minutes, max, by, reason string) error {
			return w.must(openCmd(by, minutes, max, reason))
		})
	S(`^`+q+` opens autoregistration(?: for (\d+) minutes)?(?: (?:for|and) at most (\d+) registrations?)? because `+q+`$`,
		func(w *world, by, minutes, max, reason string) error {
			return w.admin(openCmd(by, minutes, max, reason))
		})
	S(`^`+q+` closes autoregistration because `+q+`$`, func(w *world, by, reason string) error {
		return w.admin(domain.CloseWindow{Reason: reason, By: by})
	})

	// ---- administering devices ----------------------------------------------
	S(`^`+q+` provisions phone (\S+) of model (\w+)(?: over (SIP|SCCP))? with directory number (\d+)(?: in partition `+q+`)?(?: in device pool `+q+`)?(?: with calling search space `+q+`)?$`,
		func(w *world, by, dev, model, p, dn, part, pool, css string) error {
			return w.admin(domain.ProvisionDevice{Device: dev, Model: model, Protocol: proto(p), DN: dn, Partition: part, Pool: pool, CSS: css, By: by})
		})
	S(`^`+q+` moves phone (\S+) to device pool `+q+`(?: with calling search space `+q+`)?$`, func(w *world, by, dev, pool, css string) error {
		return w.admin(domain.ReconfigureDevice{Device: dev, Pool: pool, CSS: css, By: by})
	})
	S(`^`+q+` gives phone (\S+) directory number (\d+)(?: in partition `+q+`)?$`, func(w *world, by, dev, dn, part string) error {
		return w.admin(domain.ReconfigureDevice{Device: dev, DN: dn, Partition: part, By: by})
	})
	S(`^`+q+` describes phone (\S+) as `+q+`$`, func(w *world, by, dev, desc string) error {
		return w.admin(domain.ReconfigureDevice{Device: dev, Description: desc, By: by})
	})
	S(`^`+q+` deletes phone (\S+)$`, func(w *world, by, dev string) error {
		return w.admin(domain.DeleteDevice{Device: dev, By: by})
	})

	// ---- phones ---------------------------------------------------------------
	S(`^phone (\S+) of model (\w+) registers over (SIP|SCCP) from (\S+)$`, func(w *world, dev, model, p, addr string) error {
		return w.phoneRegisters(dev, model, proto(p), addr)
	})
	S(`^phone (\S+) of model (\w+) registers over (SIP|SCCP) from (\S+) with CallManager (\S+)$`, func(w *world, dev, model, p, addr, node string) error {
		if err := w.begin(); err != nil {
			return err
		}
		reg, err := w.registerWith(dev, model, proto(p), addr, node)
		w.lastDevice, w.lastReg = dev, reg
		return w.done(err)
	})
	S(`^phone (\S+) is registered with CallManager (\S*)$`, func(w *world, dev, node string) error {
		d, ok := w.svc.Device(dev)
		if !ok || !d.Registered || d.Node != node {
			return fmt.Errorf("%s is %+v, want registered with CallManager %q", dev, d, node)
		}
		return nil
	})
	S(`^the connection of phone (\S+) to CallManager (\S+) is lost$`, func(w *world, dev, node string) error {
		_, err := w.svc.Execute(w.ctx, domain.Unregister{Device: dev, Reason: "connection", Node: node}, command.Origin{Actor: "sccp"})
		return err
	})
	S(`^phone (\S+) registers (?:again )?over (SIP|SCCP) from (\S+)$`, func(w *world, dev, p, addr string) error {
		model := ""
		if d, ok := w.svc.Device(dev); ok {
			model = d.Model // the phone says its model again
		}
		return w.phoneRegisters(dev, model, proto(p), addr)
	})
	S(`^another phone of model (\w+) registers over (SIP|SCCP)$`, func(w *world, model, p string) error {
		dev, addr := w.makePhone()
		return w.phoneRegisters(dev, model, proto(p), addr)
	})
	S(`^phone (\S+) of model (\w+) registers over (SIP|SCCP) from (\S+) (\d+) times, (\d+) seconds apart$`,
		func(w *world, dev, model, p, addr string, times, gap int) error {
			for i := 0; i < times; i++ {
				if i > 0 {
					w.clock.Advance(time.Duration(gap) * time.Second)
					w.unchecked = false // every attempt but the last is a step of the loop
				}
				if err := w.phoneRegisters(dev, model, proto(p), addr); err != nil {
					return err
				}
				if w.lastErr == nil {
					return fmt.Errorf("attempt %d was accepted", i+1)
				}
			}
			return nil
		})
	S(`^(\d+) phones of model (\w+) register over (SIP|SCCP)$`, func(w *world, n int, model, p string) error {
		if err := w.begin(); err != nil {
			return err
		}
		w.batch, w.batchRegs = nil, nil
		var first error
		for i := 0; i < n; i++ {
			dev, addr := w.makePhone()
			reg, err := w.register(dev, model, proto(p), addr)
			w.batch = append(w.batch, dev)
			w.batchRegs = append(w.batchRegs, reg)
			if err != nil && first == nil {
				first = fmt.Errorf("%s: %w", dev, err)
			}
			w.lastDevice, w.lastReg = dev, reg
		}
		return w.done(first)
	})
	S(`^phone (\S+) unregisters(?: because (?:of )?(.+))?$`, func(w *world, dev, why string) error {
		if err := w.begin(); err != nil {
			return err
		}
		if why == "" {
			why = "connection"
		}
		return w.done(w.svc.Unregister(w.ctx, unregistration(dev, why)))
	})

	// ---- time -------------------------------------------------------------------
	S(`^(\d+) (seconds?|minutes?|hours?) pass(?:es)?$`, func(w *world, n int, unit string) error {
		w.clock.Advance(duration(n, unit))
		return w.tick()
	})
	S(`^(\d+) (seconds?|minutes?|hours?) pass(?:es)? before the registrar's timer ticks$`, func(w *world, n int, unit string) error {
		w.clock.Advance(duration(n, unit))
		return nil
	})

	// ---- outcomes of registrations ------------------------------------------
	S(`^it is given directory number (\d+)$`, func(w *world, dn string) error { return w.givenDN(dn, "") })
	S(`^it is given directory number (\d+) with external phone number (\S+)$`, (*world).givenDN)
	S(`^they are given directory numbers (.*)$`, func(w *world, dns string) error {
		if err := w.consume(); err != nil {
			return fmt.Errorf("the batch was refused: %w", err)
		}
		var got []string
		for i, dev := range w.batch {
			d, ok := w.svc.Device(dev)
			if !ok {
				return fmt.Errorf("%s is unknown to the registrar", dev)
			}
			if d.DN != w.batchRegs[i].DN {
				return fmt.Errorf("%s was told DN %s but the registrar holds %s", dev, w.batchRegs[i].DN, d.DN)
			}
			got = append(got, d.DN)
		}
		if diff := cmp.Diff(splitList(dns), got); diff != "" {
			return fmt.Errorf("directory numbers (-want +got):\n%s", diff)
		}
		return nil
	})
	S(`^it is refused because (.+)$`, func(w *world, phrase string) error {
		want, ok := rejectPhrases[phrase]
		if !ok {
			return fmt.Errorf("no registration refusal is called %q", phrase)
		}
		rej, err := w.rejection()
		if err != nil {
			return err
		}
		if rej.Reason != want {
			return fmt.Errorf("refused because %s (%s), want %s", rej.Reason, rej.Detail, want)
		}
		if rej.Device != w.lastDevice {
			return fmt.Errorf("the rejection names %s, want %s", rej.Device, w.lastDevice)
		}
		if _, known := w.svc.Device(w.lastDevice); known && want != domain.RejectWrongProtocol {
			return fmt.Errorf("%s was refused but the registrar knows it", w.lastDevice)
		}
		return nil
	})
	S(`^the phone is told `+q+`$`, func(w *world, text string) error {
		rej, err := w.rejection()
		if err != nil {
			return err
		}
		if rej.Short() != text || len(rej.Short()) > 32 {
			return fmt.Errorf("the phone is told %q, want %q (at most 32 bytes)", rej.Short(), text)
		}
		return nil
	})
	S(`^the (?:change|registration) is refused because (.+?)(?:, naming `+q+`)?$`, func(w *world, phrase, name string) error {
		want, ok := refusalPhrases[phrase]
		if !ok {
			return fmt.Errorf("no refusal is called %q", phrase)
		}
		err := w.consume()
		if err == nil {
			return fmt.Errorf("the change was accepted, want it refused because %s", phrase)
		}
		if !errors.Is(err, want) {
			return fmt.Errorf("refused with %q, want errors.Is %v", err, want)
		}
		if name != "" && !strings.Contains(err.Error(), name) {
			return fmt.Errorf("the refusal %q does not name %q", err, name)
		}
		return nil
	})
	S(`^the refusal says `+q+`$`, func(w *world, text string) error {
		if w.lastErr == nil {
			return fmt.Errorf("the last action was not refused")
		}
		if !strings.Contains(w.lastErr.Error(), text) {
			return fmt.Errorf("the refusal %q does not say %q", w.lastErr, text)
		}
		return nil
	})
	S(`^the change is accepted$`, func(w *world) error {
		if err := w.consume(); err != nil {
			return fmt.Errorf("the change was refused: %w", err)
		}
		return nil
	})

	// ---- the registrar's state ------------------------------------------------
	S(`^autoregistration is (open|closed)$`, func(w *world, state string) error {
		st := w.svc.Status()
		if st.Open != (state == "open") {
			return fmt.Errorf("autoregistration open=%v, want %s (window %+v)", st.Open, state, st.Window)
		}
		return nil
	})
	S(`^the open window is (W\d+), opened by `+q+` because `+q+`$`, func(w *world, id, by, reason string) error {
		st := w.svc.Status()
		if !st.Open || st.Window == nil {
			return fmt.Errorf("autoregistration is closed")
		}
		got := struct{ ID, By, Reason string }{st.Window.ID, st.Window.By, st.Window.Reason}
		want := struct{ ID, By, Reason string }{id, by, reason}
		if diff := cmp.Diff(want, got); diff != "" {
			return fmt.Errorf("open window (-want +got):\n%s", diff)
		}
		opened, _, err := lastOf[domain.WindowOpened](w)
		if err != nil {
			return err
		}
		if opened.Window != id || opened.By != by || opened.Reason != reason || !opened.At.Equal(st.Window.OpenedAt) {
			return fmt.Errorf("the history's last window opened is %+v", opened)
		}
		return nil
	})
	S(`^the window closes at (\d+):(\d+)$`, func(w *world, h, m int) error {
		st := w.svc.Status()
		if st.Window == nil {
			return fmt.Errorf("no window is open")
		}
		want := time.Date(epoch.Year(), epoch.Month(), epoch.Day(), h, m, 0, 0, time.UTC)
		if !st.Window.Until.Equal(want) {
			return fmt.Errorf("the window closes at %s, want %s", st.Window.Until, want)
		}
		return nil
	})
	S(`^the window is closed because (.+)$`, (*world).windowClosedBecause)
	S(`^window (W\d+) was closed because (.+)$`, func(w *world, id, phrase string) error {
		return w.windowClosed(id, phrase)
	})
	S(`^the window's close names `+q+` and says `+q+`$`, func(w *world, by, reason string) error {
		closed, r, err := lastOf[domain.WindowClosed](w)
		if err != nil {
			return err
		}
		if closed.By != by || !strings.Contains(closed.Reason, reason) {
			return fmt.Errorf("the close is by %q saying %q, want %q saying %q", closed.By, closed.Reason, by, reason)
		}
		if by != domain.SystemActor && r.Meta.Actor != "admin:"+by {
			return fmt.Errorf("the close's metadata names actor %q, want admin:%s", r.Meta.Actor, by)
		}
		return nil
	})
	S(`^the window closed after (\d+) registrations?$`, func(w *world, n int) error {
		closed, _, err := lastOf[domain.WindowClosed](w)
		if err != nil {
			return err
		}
		if closed.Registrations != n {
			return fmt.Errorf("window %s closed after %d registrations, want %d", closed.Window, closed.Registrations, n)
		}
		assigned, err := allOf[domain.DNAssigned](w)
		if err != nil {
			return err
		}
		count := 0
		for _, a := range assigned {
			if a.Window == closed.Window {
				count++
			}
		}
		if count != n {
			return fmt.Errorf("the history assigns %d DNs in window %s, the close says %d", count, closed.Window, closed.Registrations)
		}
		return nil
	})
	S(`^the window closed at its deadline$`, func(w *world) error {
		closed, _, err := lastOf[domain.WindowClosed](w)
		if err != nil {
			return err
		}
		opened, err := w.opened(closed.Window)
		if err != nil {
			return err
		}
		if opened.Until.IsZero() || !closed.At.Equal(opened.Until) {
			return fmt.Errorf("window %s closed at %s, its deadline was %s", closed.Window, closed.At, opened.Until)
		}
		return nil
	})
	S(`^window (W\d+) was opened while the protocol was (SIP|SCCP)$`, func(w *world, id, p string) error {
		opened, err := w.opened(id)
		if err != nil {
			return err
		}
		if opened.Protocol != proto(p) {
			return fmt.Errorf("window %s was opened while the protocol was %s", id, opened.Protocol)
		}
		return nil
	})
	S(`^the autoregistration protocol is (SIP|SCCP)$`, func(w *world, p string) error {
		if got := w.svc.Status().Protocol; got != proto(p) {
			return fmt.Errorf("the protocol is %s, want %s", got, p)
		}
		return nil
	})
	S(`^the cluster security mode is (\w+)$`, func(w *world, mode string) error {
		if got := w.svc.Status().Security; got != domain.SecurityMode(mode) {
			return fmt.Errorf("security is %s, want %s", got, mode)
		}
		return nil
	})
	S(`^the registrar reports no problem$`, func(w *world) error {
		if p := w.svc.Status().Problem; p != "" {
			return fmt.Errorf("the registrar reports %q", p)
		}
		return nil
	})
	S(`^the registrar reports the problem `+q+`$`, func(w *world, text string) error {
		if p := w.svc.Status().Problem; !strings.Contains(p, text) {
			return fmt.Errorf("the registrar reports %q, want it to say %q", p, text)
		}
		return nil
	})
	S(`^(\d+) directory numbers? (?:is|are) left$`, func(w *world, n int) error {
		if got := w.svc.Status().DNsLeft; got != n {
			return fmt.Errorf("%d directory numbers are left, want %d", got, n)
		}
		return nil
	})
	S(`^the registrar knows (\d+) devices?, (\d+) of them registered$`, func(w *world, n, reg int) error {
		st := w.svc.Status()
		if st.Devices != n || st.Registered != reg || len(w.svc.Devices()) != n {
			return fmt.Errorf("the registrar knows %d devices (%d listed), %d registered; want %d, %d", st.Devices, len(w.svc.Devices()), st.Registered, n, reg)
		}
		return nil
	})

	// ---- the cluster's configuration -------------------------------------------
	S(`^CallManager `+q+` has autoregistration (enabled|disabled)$`, func(w *world, name, state string) error {
		cm, ok := w.svc.Cluster().CallManagers[name]
		if !ok {
			return fmt.Errorf("no CallManager %q", name)
		}
		if cm.AutoregDisabled != (state == "disabled") {
			return fmt.Errorf("CallManager %s has AutoregDisabled=%v, want autoregistration %s", name, cm.AutoregDisabled, state)
		}
		return nil
	})
	S(`^the autoregistration group is `+q+`$`, func(w *world, g string) error {
		if got := w.svc.Cluster().AutoregGroup; got != g {
			return fmt.Errorf("the autoregistration group is %q, want %q", got, g)
		}
		return nil
	})
	S(`^group `+q+` lists (.*)$`, func(w *world, g, cms string) error {
		got, ok := w.svc.Cluster().Groups[g]
		if !ok {
			return fmt.Errorf("no group %q", g)
		}
		if diff := cmp.Diff(splitList(cms), got); diff != "" {
			return fmt.Errorf("group %s (-want +got):\n%s", g, diff)
		}
		return nil
	})
	S(`^calling search space `+q+` lists (.*)$`, func(w *world, css, parts string) error {
		got, ok := w.svc.Cluster().CSS[css]
		if !ok {
			return fmt.Errorf("no calling search space %q", css)
		}
		if diff := cmp.Diff(splitList(parts), got); diff != "" {
			return fmt.Errorf("calling search space %s (-want +got):\n%s", css, diff)
		}
		return nil
	})

	// ---- devices ------------------------------------------------------------------
	S(`^phone (\S+) (?:keeps|has) directory number (\d+)$`, func(w *world, dev, dn string) error {
		d, ok := w.svc.Device(dev)
		if !ok {
			return fmt.Errorf("%s is unknown", dev)
		}
		if d.DN != dn {
			return fmt.Errorf("%s has DN %s, want %s", dev, d.DN, dn)
		}
		if holder, ok := w.svc.Range().Holder(d.Partition, dn); !ok || holder != dev {
			return fmt.Errorf("the range says DN %s in %q is held by %q", dn, d.Partition, holder)
		}
		if w.lastDevice == dev && w.lastErr == nil && w.lastReg.Device == dev && w.lastReg.DN != dn {
			return fmt.Errorf("%s was told DN %s", dev, w.lastReg.DN)
		}
		return nil
	})
	S(`^phone (\S+) is registered from (\S+)$`, func(w *world, dev, addr string) error {
		d, ok := w.svc.Device(dev)
		if !ok || !d.Registered || d.Address != addr {
			return fmt.Errorf("%s: known=%v registered=%v address=%q, want registered from %s", dev, ok, d.Registered, d.Address, addr)
		}
		return nil
	})
	S(`^phone (\S+) is not registered$`, func(w *world, dev string) error {
		d, ok := w.svc.Device(dev)
		if !ok || d.Registered {
			return fmt.Errorf("%s: known=%v registered=%v", dev, ok, d.Registered)
		}
		return nil
	})
	S(`^phone (\S+) is unknown$`, func(w *world, dev string) error {
		if d, ok := w.svc.Device(dev); ok {
			return fmt.Errorf("the registrar knows %s: %+v", dev, d)
		}
		for _, d := range w.svc.Devices() {
			if d.Name == dev {
				return fmt.Errorf("the registrar lists %s", dev)
			}
		}
		return nil
	})
	S(`^phone (\S+) is a (\w+) speaking (SIP|SCCP)$`, func(w *world, dev, model, p string) error {
		d, ok := w.svc.Device(dev)
		if !ok || d.Model != model || d.Protocol != proto(p) {
			return fmt.Errorf("%s: known=%v model=%q protocol=%q", dev, ok, d.Model, d.Protocol)
		}
		return nil
	})
	S(`^phone (\S+) is in device pool `+q+` with (?:calling search space `+q+`|(no) calling search space of its own)$`, func(w *world, dev, pool, css, none string) error {
		d, ok := w.svc.Device(dev)
		if !ok {
			return fmt.Errorf("%s is unknown", dev)
		}
		got := struct{ Pool, CSS string }{d.Pool, d.CSS}
		want := struct{ Pool, CSS string }{pool, css}
		if diff := cmp.Diff(want, got); diff != "" {
			return fmt.Errorf("%s (-want +got):\n%s", dev, diff)
		}
		return nil
	})
	S(`^phone (\S+) is described as `+q+`$`, func(w *world, dev, desc string) error {
		d, ok := w.svc.Device(dev)
		if !ok || d.Description != desc {
			return fmt.Errorf("%s: known=%v description=%q", dev, ok, d.Description)
		}
		return nil
	})
	S(`^phone (\S+) autoregistered over (SIP|SCCP) with firmware `+q+`$`, func(w *world, dev, p, load string) error {
		all, err := allOf[domain.DeviceAutoregistered](w)
		if err != nil {
			return err
		}
		for _, e := range slices.Backward(all) {
			if e.Device == dev {
				if e.Protocol != proto(p) || e.Load != load {
					return fmt.Errorf("%s autoregistered over %s with firmware %q", dev, e.Protocol, e.Load)
				}
				return nil
			}
		}
		return fmt.Errorf("the history has no autoregistration of %s", dev)
	})

	// ---- dialling -------------------------------------------------------------------
	S(`^device (\S+) may dial (.+?)(?: but not (.+))?$`, func(w *world, dev, yes, no string) error {
		return w.mayDial(dev, splitList(yes), splitList(no))
	})
	S(`^device (\S+) may not dial (.+)$`, func(w *world, dev, no string) error {
		return w.mayDial(dev, nil, splitList(no))
	})
	S(`^device (\S+) reaches (\S+) through `+q+` in partition `+q+`$`, func(w *world, dev, number, match, part string) error {
		res, err := w.svc.MayDial(dev, number)
		if err != nil {
			return err
		}
		if !res.Allowed || res.Match != match || res.Partition != part {
			return fmt.Errorf("%s dialling %s: %+v", dev, number, res)
		}
		return nil
	})

	// ---- history --------------------------------------------------------------------
	S(`^the history records `+q+`$`, func(w *world, typ string) error {
		evs, err := w.historyOf(typ)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return fmt.Errorf("the history holds no %s", typ)
		}
		return nil
	})
	S(`^the history records no `+q+`$`, func(w *world, typ string) error {
		evs, err := w.historyOf(typ)
		if err != nil {
			return err
		}
		if len(evs) != 0 {
			return fmt.Errorf("the history holds %d %s: %+v", len(evs), typ, evs[0].Event)
		}
		return nil
	})
	S(`^the history records (\d+) `+q+` events? for (\S+)$`, func(w *world, n int, typ, dev string) error {
		evs, err := w.historyOf(typ)
		if err != nil {
			return err
		}
		count := 0
		for _, r := range evs {
			if d, ok := stringField(r.Event, "Device"); ok && d == dev {
				count++
			}
		}
		if count != n {
			return fmt.Errorf("the history holds %d %s for %s, want %d", count, typ, dev, n)
		}
		return nil
	})
	S(`^the history records `+q+` by `+q+`$`, func(w *world, typ, by string) error {
		evs, err := w.historyOf(typ)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return fmt.Errorf("the history holds no %s", typ)
		}
		last := evs[len(evs)-1]
		got, _ := stringField(last.Event, "By")
		if got != by {
			return fmt.Errorf("the last %s is by %q, want %q", typ, got, by)
		}
		if last.Meta.Actor != "admin:"+by {
			return fmt.Errorf("the last %s's metadata names actor %q, want admin:%s", typ, last.Meta.Actor, by)
		}
		return nil
	})
	S(`^every administrative change in the history names who made it$`, (*world).everyChangeNamed)
	S(`^the history records phone (\S+) moving from (\S+) to (\S+)$`, func(w *world, dev, from, to string) error {
		moves, err := allOf[domain.DeviceMoved](w)
		if err != nil {
			return err
		}
		for _, m := range moves {
			if m.Device == dev && m.From == from && m.To == to {
				return nil
			}
		}
		return fmt.Errorf("the history holds no move of %s from %s to %s: %+v", dev, from, to, moves)
	})
	S(`^nothing new is recorded$`, func(w *world) error {
		h, err := w.store.Head(w.ctx)
		if err != nil {
			return err
		}
		if h != w.headBefore {
			all, _ := w.history()
			var types []string
			for _, r := range all[w.headBefore:] {
				types = append(types, r.Type)
			}
			return fmt.Errorf("the last action recorded %v", types)
		}
		return nil
	})
	S(`^the last rejection recorded for (\S+) is `+q+` saying `+q+`$`, func(w *world, dev, reason, detail string) error {
		all, err := allOf[domain.RegistrationRejected](w)
		if err != nil {
			return err
		}
		for _, e := range slices.Backward(all) {
			if e.Device == dev {
				if string(e.Reason) != reason || !strings.Contains(e.Detail, detail) {
					return fmt.Errorf("the last rejection of %s is %s saying %q", dev, e.Reason, e.Detail)
				}
				return nil
			}
		}
		return fmt.Errorf("the history holds no rejection of %s", dev)
	})
	S(`^the last rejection recorded for (\S+) was of a (\w+) over (SIP|SCCP) from (\S+) in window (W\d+)$`, func(w *world, dev, model, p, addr, win string) error {
		all, err := allOf[domain.RegistrationRejected](w)
		if err != nil {
			return err
		}
		for _, e := range slices.Backward(all) {
			if e.Device == dev {
				got := struct {
					Model, Address, Window string
					Protocol               domain.Protocol
				}{e.Model, e.Address, e.Window, e.Protocol}
				want := struct {
					Model, Address, Window string
					Protocol               domain.Protocol
				}{model, addr, win, proto(p)}
				if diff := cmp.Diff(want, got); diff != "" {
					return fmt.Errorf("the last rejection of %s (-want +got):\n%s", dev, diff)
				}
				return nil
			}
		}
		return fmt.Errorf("the history holds no rejection of %s", dev)
	})
}

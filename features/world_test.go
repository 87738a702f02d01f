package features

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/autoreg/autoreg/adapters/eventstore/memory"
	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/internal/command"
	"github.com/autoreg/autoreg/internal/eventstore"
	"github.com/autoreg/autoreg/internal/testreg"
)

// epoch is where every scenario's clock starts: a Monday morning.
var epoch = time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC)

// fakeClock is the scenario's time; only steps move it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// world is one scenario's state.
type world struct {
	ctx   context.Context
	clock *fakeClock
	store *memory.Store
	svc   *testreg.Registrar

	// The last action: its error (nil on success) must be checked by a
	// "refused" step before the next action, or the scenario fails.
	lastErr   error
	unchecked bool
	// headBefore is the store's head just before the last action.
	headBefore uint64

	lastDevice string             // the phone the last registration step was about
	lastReg    command.Registered // what it was told
	batch      []string           // phones of the last batch
	batchRegs  []command.Registered
	phones     int // phones made up so far by "another phone" and batches

	bgErrs []error
	// stop ends the registrar's read side.
	stop context.CancelFunc
}

func newWorld() (*world, error) {
	w := &world{ctx: context.Background(), clock: &fakeClock{now: epoch}}
	w.store = newStoreForFeatures(w.clock.Now)
	var rctx context.Context
	rctx, w.stop = context.WithCancel(w.ctx)
	svc, err := testreg.Start(rctx, w.store, command.Options{
		Clock:   w.clock.Now,
		OnError: func(err error) { w.bgErrs = append(w.bgErrs, err) },
	})
	if err != nil {
		return nil, err
	}
	w.svc = svc
	return w, nil
}

// newStoreForFeatures is the store each scenario runs on: the project's
// in-memory store, stamping events with the scenario's clock.
func newStoreForFeatures(clock func() time.Time) *memory.Store {
	return memory.New(memory.WithClock(clock))
}

// restart stops the registrar and starts a new one over the same events, as
// after a reboot: everything it knows comes back from the store.
func (w *world) restart() error {
	if err := w.store.Close(); err != nil {
		return err
	}
	w.store = w.store.Reopen()
	w.stop() // the old registrar's read side
	var rctx context.Context
	rctx, w.stop = context.WithCancel(w.ctx)
	svc, err := testreg.Start(rctx, w.store, command.Options{
		Clock:   w.clock.Now,
		OnError: func(err error) { w.bgErrs = append(w.bgErrs, err) },
	})
	if err != nil {
		return fmt.Errorf("restarting the registrar: %w", err)
	}
	w.svc = svc
	return nil
}

// ---- actions ---------------------------------------------------------------

// begin starts an action: the previous action's refusal must have been checked.
func (w *world) begin() error {
	if w.unchecked {
		return fmt.Errorf("the previous action was refused and no step checked it: %v", w.lastErr)
	}
	h, err := w.store.Head(w.ctx)
	if err != nil {
		return err
	}
	w.headBefore = h
	w.lastReg = command.Registered{} // what a phone was told belongs to the action that told it
	return nil
}

// done ends an action, keeping its error for a "refused" step.
func (w *world) done(err error) error {
	w.lastErr = err
	w.unchecked = err != nil
	return nil
}

// consume returns the last action's error and marks it checked.
func (w *world) consume() error {
	w.unchecked = false
	return w.lastErr
}

// admin executes an administrator's command as an action.
func (w *world) admin(cmd domain.Command) error {
	if err := w.begin(); err != nil {
		return err
	}
	_, err := w.svc.Execute(w.ctx, cmd, command.Admin(userOf(cmd), "192.0.2.10:51000"))
	return w.done(err)
}

// must executes an administrator's command that has to succeed (Given steps).
func (w *world) must(cmd domain.Command) error {
	if err := w.begin(); err != nil {
		return err
	}
	if _, err := w.svc.Execute(w.ctx, cmd, command.Admin(userOf(cmd), "192.0.2.10:51000")); err != nil {
		return fmt.Errorf("%T: %w", cmd, err)
	}
	return nil
}

// userOf reads the By field every administrative command has.
func userOf(cmd domain.Command) string {
	v := reflect.ValueOf(cmd)
	if f := v.FieldByName("By"); f.IsValid() && f.Kind() == reflect.String {
		return f.String()
	}
	return ""
}

// register is a phone registering through the adapters' side of the command.
func (w *world) register(device, model string, proto domain.Protocol, addr string) (command.Registered, error) {
	return w.svc.Register(w.ctx, command.Registration{
		Device: device, Model: model, Protocol: proto, Address: addr,
		Adapter: strings.ToLower(string(proto)), Peer: addr,
	})
}

// registerWith is register at CallManager node, as that node's registrar
// would make it.
func (w *world) registerWith(device, model string, proto domain.Protocol, addr, node string) (command.Registered, error) {
	out, err := w.svc.Execute(w.ctx, domain.Register{Device: device, Model: model, Protocol: proto, Address: addr, Node: node},
		command.Origin{Actor: strings.ToLower(string(proto)), Peer: addr})
	if err != nil {
		return command.Registered{}, err
	}
	reg := command.Registered{Device: out.Device.Name, DN: out.Device.DN, Changed: len(out.Events) > 0}
	for _, e := range out.Events {
		if _, ok := e.(domain.DeviceAutoregistered); ok {
			reg.Autoregistered = true
		}
	}
	return reg, nil
}

// makePhone invents the next phone name and address.
func (w *world) makePhone() (name, addr string) {
	w.phones++
	return fmt.Sprintf("SEP0000CAFE%04X", w.phones), fmt.Sprintf("10.1.%d.%d", w.phones/200, w.phones%200+10)
}

// ---- the registrar's timer --------------------------------------------------

// tick lets the registrar's own timer (Service.Run) notice a window whose
// time is up, and waits until it has closed it.
func (w *world) tick() error {
	cl := w.svc.Cluster()
	win := cl.Window
	if win == nil || win.Until.IsZero() || w.clock.Now().Before(win.Until) {
		return nil // nothing is due: the timer would do nothing
	}
	ctx, cancel := context.WithCancel(w.ctx)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		_ = w.svc.Run(ctx, time.Millisecond)
	}()
	defer func() { cancel(); <-stopped }()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if cur := w.svc.Cluster().Window; cur == nil || cur.ID != win.ID {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("the registrar's timer did not close window %s, due at %s (errors: %v)", win.ID, win.Until, w.bgErrs)
}

// ---- history ---------------------------------------------------------------

// recorded is a stored event, decoded.
type recorded struct {
	eventstore.RecordedEvent
	Event domain.Event
	Meta  command.Metadata
}

// history reads back every event the store holds, decoded.
func (w *world) history() ([]recorded, error) {
	var out []recorded
	err := w.store.ReadAll(w.ctx, 1, func(r eventstore.RecordedEvent) error {
		e, err := domain.Decode(r.Type, r.Data)
		if err != nil {
			return err
		}
		m, err := command.DecodeMetadata(r.Metadata)
		if err != nil {
			return err
		}
		out = append(out, recorded{RecordedEvent: r, Event: e, Meta: m})
		return nil
	})
	return out, err
}

// historyOf is the events of one type, in order.
func (w *world) historyOf(typ string) ([]recorded, error) {
	all, err := w.history()
	if err != nil {
		return nil, err
	}
	var out []recorded
	for _, r := range all {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out, nil
}

// lastOf returns the last event of type T in the history.
func lastOf[T domain.Event](w *world) (T, recorded, error) {
	var zero T
	all, err := w.history()
	if err != nil {
		return zero, recorded{}, err
	}
	for i := len(all) - 1; i >= 0; i-- {
		if e, ok := all[i].Event.(T); ok {
			return e, all[i], nil
		}
	}
	return zero, recorded{}, fmt.Errorf("the history holds no %s event", zero.EventType())
}

// allOf returns every event of type T, in order.
func allOf[T domain.Event](w *world) ([]T, error) {
	all, err := w.history()
	if err != nil {
		return nil, err
	}
	var out []T
	for _, r := range all {
		if e, ok := r.Event.(T); ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// stringField reads a string field (promoted ones too) of an event, if any.
func stringField(e domain.Event, name string) (string, bool) {
	v := reflect.ValueOf(e)
	if v.Kind() != reflect.Struct {
		return "", false
	}
	f := v.FieldByName(name)
	if !f.IsValid() || f.Kind() != reflect.String {
		return "", false
	}
	return f.String(), true
}

// ---- errors ----------------------------------------------------------------

// rejection is the last action's error as a registration rejection.
func (w *world) rejection() (*domain.Rejection, error) {
	err := w.consume()
	if err == nil {
		return nil, fmt.Errorf("the last action was not refused")
	}
	var rej *domain.Rejection
	if !errors.As(err, &rej) {
		return nil, fmt.Errorf("the last action was refused, but not as a registration rejection: %v", err)
	}
	return rej, nil
}

package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/autoreg/autoreg/domain"
)

// LiveSource is the part of an event store the registrar's read side
// follows: Source, and the store's head, to tell how far reads must wait.
type LiveSource interface {
	Source
	Head(ctx context.Context) (uint64, error)
}

// ReadTimeout bounds how long a read waits for the read models to include
// what the store held when it was asked.
const ReadTimeout = 5 * time.Second

// Status is the autoregistration's state as the read models hold it.
type Status struct {
	Open          bool
	Window        *domain.Window
	Registrations int // autoregistered in the current window
	Protocol      domain.Protocol
	Security      domain.SecurityMode
	Range         domain.DNRange
	DNsLeft       int
	Devices       int
	Registered    int
	// Problem says why autoregistration could not be opened now ("" if it
	// could), in the CallManager's words, with the fix.
	Problem string
}

// Reader answers every query of a running registrar from its live read
// models (the cluster, the DNs in use, the devices), which it keeps
// following the store. It is the one read path of the process: the admin
// API reads through it, and the command side reads through it the devices
// it does not hold (it implements command.Devices).
//
// Reads wait until the read models include every event the store held
// when they were asked (at most ReadTimeout), so that a caller reads its
// own writes. Reader is safe for concurrent use.
//
// Beside the read models it keeps the command side's state that they do
// not hold (CommandState: small), so that a snapshot of it (Snapshot) is
// one of the whole registrar at one position; RestoreReader starts a
// Reader from one (see adapters/snapshot and docs/snapshots.md).
type Reader struct {
	src    LiveSource
	set    *Set
	cmd    *commandState // the command side's state besides the read models, for snapshots
	runner *Runner
	clock  func() time.Time
}

// NewReader returns the read side of a registrar over src: empty read
// models, to be filled by Run (or CatchUp). clock tells when a window's
// time is up (nil: time.Now).
func NewReader(src LiveSource, clock func() time.Time) *Reader {
	if clock == nil {
		clock = time.Now
	}
	set := &Set{Cluster: NewCluster(), Assignment: NewAssignment(), Devices: NewDevices()}
	cmd := newCommandState()
	return &Reader{src: src, set: set, cmd: cmd, runner: NewRunner(src, set.Cluster, set.Assignment, set.Devices, cmd), clock: clock}
}

// Run catches up with the store, then follows it, until ctx ends (see
// Runner.Run).
func (r *Reader) Run(ctx context.Context) error { return r.runner.Run(ctx) }

// CatchUp applies what the store holds now (see Runner.CatchUp). It must
// not run while Run does.
func (r *Reader) CatchUp(ctx context.Context) (uint64, error) { return r.runner.CatchUp(ctx) }

// Position is the global position of the last event the read models applied.
func (r *Reader) Position() uint64 { return r.runner.Position() }

// WaitFor blocks until the read models include the event at position pos.
func (r *Reader) WaitFor(ctx context.Context, pos uint64) error { return r.runner.WaitFor(ctx, pos) }

// Fresh waits until the read models include every event stored now.
func (r *Reader) Fresh(ctx context.Context) error {
	head, err := r.src.Head(ctx)
	if err != nil {
		return err
	}
	if r.runner.Position() >= head {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, ReadTimeout)
	defer cancel()
	if err := r.runner.WaitFor(wctx, head); err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return fmt.Errorf("the read models are at position %d, behind the store's %d: %w", r.runner.Position(), head, err)
		}
		return err
	}
	return nil
}

// DeviceState implements command.Devices: the device as the domain holds it.
func (r *Reader) DeviceState(name string) (domain.DeviceState, int64, bool) {
	return r.set.Devices.DeviceState(name)
}

// Status is the autoregistration's state now.
func (r *Reader) Status(ctx context.Context) (Status, error) {
	if err := r.Fresh(ctx); err != nil {
		return Status{}, err
	}
	c := r.set.Cluster.State()
	st := Status{Protocol: c.Protocol, Security: c.Security}
	cur, ok := r.set.Assignment.Current()
	if ok {
		st.Range = domain.DNRange{Start: cur.Start, End: cur.End, Partition: cur.Partition, Mask: cur.Mask}
		st.DNsLeft = cur.Free
	}
	if w := c.Window; w != nil {
		st.Open, st.Window = true, w
		if !w.Until.IsZero() && !r.clock().Before(w.Until) {
			st.Open = false // its time is up; the command side closes it
		}
		st.Registrations = r.set.Assignment.WindowRegistrations(w.ID)
	} else if err := domain.CheckCluster(c, st.Range, st.DNsLeft > 0); err != nil {
		st.Problem = err.Error()
	}
	st.Devices, st.Registered = r.set.Devices.Counts()
	return st, nil
}

// Devices lists the devices that exist, sorted by name.
func (r *Reader) Devices(ctx context.Context) ([]Device, error) {
	if err := r.Fresh(ctx); err != nil {
		return nil, err
	}
	return r.set.Devices.List(), nil
}

// Device returns one device that exists; found is false otherwise.
func (r *Reader) Device(ctx context.Context, name string) (d Device, found bool, err error) {
	if err := r.Fresh(ctx); err != nil {
		return Device{}, false, err
	}
	d, ok := r.set.Devices.Get(name)
	return d, ok && d.Exists, nil
}

// Cluster returns the cluster's configuration and the window open now.
func (r *Reader) Cluster(ctx context.Context) (domain.ClusterState, error) {
	if err := r.Fresh(ctx); err != nil {
		return domain.ClusterState{}, err
	}
	return r.set.Cluster.State(), nil
}

// Range returns the autoregistration range in force (zero when none was
// ever configured).
func (r *Reader) Range(ctx context.Context) (domain.DNRange, error) {
	if err := r.Fresh(ctx); err != nil {
		return domain.DNRange{}, err
	}
	return r.currentRange(), nil
}

func (r *Reader) currentRange() domain.DNRange {
	cur, ok := r.set.Assignment.Current()
	if !ok {
		return domain.DNRange{}
	}
	return domain.DNRange{Start: cur.Start, End: cur.End, Partition: cur.Partition, Mask: cur.Mask}
}

// MayDial answers "may device D dial N?" from the device's calling search
// space and the DNs in use.
func (r *Reader) MayDial(ctx context.Context, device, number string) (domain.DialResult, error) {
	if err := r.Fresh(ctx); err != nil {
		return domain.DialResult{}, err
	}
	d, _, found := r.set.Devices.DeviceState(device)
	if !found {
		d = domain.NewDevice(device)
	}
	return domain.MayDial(r.set.Cluster.State(), r.set.Assignment, d, number)
}

// RegisteredByNode counts the devices registered now with each
// CallManager.
func (r *Reader) RegisteredByNode() map[string]int { return r.set.Devices.RegisteredByNode() }

// Holdings lists every DN held by a device (see Assignment.Holdings).
func (r *Reader) Holdings() []Holding { return r.set.Assignment.Holdings() }

// ExternalNumber is dn's external phone number under the range in force
// ("" when dn is not in its partition or the range has no mask).
func (r *Reader) ExternalNumber(partition, dn string) string {
	rng := r.currentRange()
	if dn == "" || partition != rng.Partition {
		return ""
	}
	return rng.ExternalNumber(dn)
}

// SIPAuth is what SIP digest authentication needs of a device.
type SIPAuth struct {
	// Salt of its credentials ("": it has none).
	Salt string
	// Profile is its device pool's authentication profile.
	Profile domain.AuthProfile
	// Address is the contact it last registered at, registered now or
	// not ("" when none).
	Address string
}

// SIPAuth returns what SIP digest authentication needs of a device that
// exists (found false otherwise). It reads the read models as they are,
// without waiting for the store: a REGISTER is checked against what was
// applied, and a rotation reaches the read model within milliseconds.
func (r *Reader) SIPAuth(name string) (a SIPAuth, found bool) {
	salt, pool, address, ok := r.set.Devices.auth(name)
	if !ok {
		return SIPAuth{}, false
	}
	a.Salt, a.Address = salt, address
	if p, ok := r.set.Cluster.Pool(pool); ok {
		a.Profile = p.SIPAuth
	}
	return a, true
}

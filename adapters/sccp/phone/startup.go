package phone

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/autoreg/autoreg/adapters/sccp/skinny"
)

// Startup is what a phone learns in the conversation that follows its
// registration.
type Startup struct {
	Load         string              // the firmware load the VersionMessage named
	CallManagers []skinny.ServerInfo // the ServerResMessage's servers, in order
	Buttons      skinny.ButtonTemplate
	SoftKeys     skinny.SoftKeyTemplateRes
	SoftKeySets  skinny.SoftKeySetRes
	Config       skinny.ConfigStat
	Lines        []skinny.LineStatRes   // one per line, in order
	Forwards     []skinny.ForwardStat   // one per line, in order
	SpeedDials   []skinny.SpeedDialStat // one per speed dial asked, in order
	Time         skinny.DefineTimeDate
}

// DN is the directory number of the first line, "" when there is none.
func (s Startup) DN() string {
	if len(s.Lines) == 0 {
		return ""
	}
	return s.Lines[0].DirNumber
}

// Start holds the conversation a 7961 holds once registered, its requests
// sent back to back in two bursts:
//
//   - VersionReq, ServerReq, ButtonTemplateReq, SoftKeyTemplateReq,
//     SoftKeySetReq, ConfigStatReq; then, once all are answered,
//   - LineStatReq and ForwardStatReq for each line button of the template,
//     SpeedDialStatReq for each speed dial button (speed dial 1 when there
//     is none), RegisterAvailableLines (the line buttons), TimeDateReq,
//
// and returns what the answers said (Startup also keeps it). Answers may
// come in any order; messages nobody asked for are dropped, a
// CapabilitiesReq answered. An error says which answers were missing.
func (p *Phone) Start(ctx context.Context) (Startup, error) {
	var st Startup
	first := []skinny.Message{skinny.VersionReq{}, skinny.ServerReq{}, skinny.ButtonTemplateReq{},
		skinny.SoftKeyTemplateReq{}, skinny.SoftKeySetReq{}, skinny.ConfigStatReq{}}
	answers, err := p.exchangeAll(ctx, first, []skinny.MessageID{skinny.VersionID, skinny.ServerResID,
		skinny.ButtonTemplateID, skinny.SoftKeyTemplateResID, skinny.SoftKeySetResID, skinny.ConfigStatID})
	if err != nil {
		return st, err
	}
	st.Load = answers[0].(skinny.Version).Load
	st.CallManagers = answers[1].(skinny.ServerRes).Servers
	st.Buttons = answers[2].(skinny.ButtonTemplate)
	st.SoftKeys = answers[3].(skinny.SoftKeyTemplateRes)
	st.SoftKeySets = answers[4].(skinny.SoftKeySetRes)
	st.Config = answers[5].(skinny.ConfigStat)

	var lines, speedDials []uint32
	for _, b := range st.Buttons.Buttons {
		switch b.Definition {
		case skinny.ButtonLine:
			lines = append(lines, uint32(b.Instance))
		case skinny.ButtonSpeedDial:
			speedDials = append(speedDials, uint32(b.Instance))
		}
	}
	if len(speedDials) == 0 {
		speedDials = []uint32{1}
	}
	var out []skinny.Message
	var want []skinny.MessageID
	for _, l := range lines {
		out = append(out, skinny.LineStatReq{LineNumber: l}, skinny.ForwardStatReq{LineNumber: l})
		want = append(want, skinny.LineStatResID, skinny.ForwardStatID)
	}
	for _, n := range speedDials {
		out = append(out, skinny.SpeedDialStatReq{Number: n})
		want = append(want, skinny.SpeedDialStatID)
	}
	out = append(out, skinny.RegisterAvailableLines{MaxLines: uint32(len(lines))}, skinny.TimeDateReq{})
	want = append(want, skinny.DefineTimeDateID)
	answers, err = p.exchangeAll(ctx, out, want)
	if err != nil {
		return st, err
	}
	for _, m := range answers {
		switch m := m.(type) {
		case skinny.LineStatRes:
			st.Lines = append(st.Lines, m)
		case skinny.ForwardStat:
			st.Forwards = append(st.Forwards, m)
		case skinny.SpeedDialStat:
			st.SpeedDials = append(st.SpeedDials, m)
		case skinny.DefineTimeDate:
			st.Time = m
		}
	}
	p.mu.Lock()
	p.startup = st
	p.mu.Unlock()
	return st, nil
}

// Startup is what the last Start learned (the zero Startup before one).
func (p *Phone) Startup() Startup {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.startup
}

// WaitReset waits for a Reset from the server and returns its type (reset
// or restart). The phone stays connected: Close it as a phone that obeys.
func (p *Phone) WaitReset(ctx context.Context) (skinny.ResetType, error) {
	m, err := p.Expect(ctx, skinny.ResetID)
	if err != nil {
		return 0, err
	}
	return m.(skinny.Reset).Type, nil
}

// exchangeAll sends out in one write, then reads until a message with each
// of the ids has arrived (an id listed n times, n of them), and returns
// them: for each id, in the order the ids are listed, the messages with it
// in the order they came.
func (p *Phone) exchangeAll(ctx context.Context, out []skinny.Message, ids []skinny.MessageID) ([]skinny.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("phone %s: %w", p.name, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	done := p.bind(ctx)
	defer done()

	if err := p.write(out...); err != nil {
		return nil, p.fail(ctx, fmt.Sprintf("sending %d requests", len(out)), err)
	}
	missing := slices.Clone(ids)
	got := map[skinny.MessageID][]skinny.Message{}
	for len(missing) > 0 {
		m, err := p.next(ctx, idList(missing))
		if err != nil {
			return nil, err
		}
		i := slices.Index(missing, m.ID())
		if i < 0 {
			if err := p.unasked(ctx, m); err != nil {
				return nil, err
			}
			continue
		}
		missing = slices.Delete(missing, i, i+1)
		got[m.ID()] = append(got[m.ID()], m)
	}
	res := make([]skinny.Message, 0, len(ids))
	for _, id := range ids {
		res = append(res, got[id][0])
		got[id] = got[id][1:]
	}
	return res, nil
}

func idList(ids []skinny.MessageID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id.String()
	}
	return strings.Join(s, ", ")
}

package pack

import (
	"fmt"
	"iter"
	"maps"

	"github.com/autoreg/autoreg/domain"
)

// What a snapshot of packed records needs: the side tables of Names,
// Field, Forms and Protocols as plain values, and the tables back from
// them. A restored table numbers everything as the table it was taken
// from, so the records' packed values keep their meaning.

// Spilled lists the names Names numbered itself (those that are not a MAC),
// in the order of their numbers. The slice is the Names' own: the caller
// must not change it.
func (n *Names) Spilled() []string { return n.names }

// NamesOf returns the Names that numbers spilled as Spilled listed them.
// It fails on a name that is a MAC's (Names never numbers one) or one
// listed twice.
func NamesOf(spilled []string) (Names, error) {
	var n Names
	if len(spilled) == 0 {
		return n, nil
	}
	n.ids = make(map[string]uint64, len(spilled))
	n.names = make([]string, 0, len(spilled))
	for _, name := range spilled {
		if _, ok := MAC(name); ok {
			return Names{}, fmt.Errorf("pack: %q is a MAC's name, never numbered on the side", name)
		}
		if _, dup := n.ids[name]; dup {
			return Names{}, fmt.Errorf("pack: name %q is listed twice", name)
		}
		n.ids[name] = Spilled | uint64(len(n.names))
		n.names = append(n.names, name)
	}
	return n, nil
}

// Kind is the field's kind.
func (f *Field) Kind() Kind { return f.kind }

// Spill yields the strings kept on the side, by the key of their record,
// in no order.
func (f *Field) Spill() iter.Seq2[uint64, string] { return maps.All(f.spill) }

// AddrForm is one form of address (see Forms) as a value: what comes
// before the user and the IPv4 address and port, what comes after, and the
// user (0: none; 1: the device's MAC; 2: its name).
type AddrForm struct {
	Pre, Suf string
	User     uint8
}

// Forms lists the forms of address the field numbered (Addrs), in the
// order of their numbers, from 1.
func (f *Field) Forms() []AddrForm {
	if f.forms == nil {
		return nil
	}
	f.forms.mu.RLock()
	defer f.forms.mu.RUnlock()
	if len(f.forms.forms) <= 1 {
		return nil
	}
	out := make([]AddrForm, 0, len(f.forms.forms)-1)
	for _, fm := range f.forms.forms[1:] {
		out = append(out, AddrForm{Pre: fm.pre, Suf: fm.suf, User: fm.user})
	}
	return out
}

// RestoreField returns a Field of kind k holding spill on the side and,
// for Addrs, numbering forms as Forms listed them. It fails on a kind it
// does not know, forms for another kind, a form's user it does not know, a
// form listed twice, or too many forms.
func RestoreField(k Kind, spill map[uint64]string, forms []AddrForm) (Field, error) {
	if k != DNs && k != Addrs && k != Rare {
		return Field{}, fmt.Errorf("pack: field kind %d", k)
	}
	f := NewField(k)
	if len(spill) > 0 {
		f.spill = spill
	}
	if len(forms) == 0 {
		return f, nil
	}
	if k != Addrs {
		return Field{}, fmt.Errorf("pack: forms of address for a field of kind %d", k)
	}
	if len(forms) > maxForms {
		return Field{}, fmt.Errorf("pack: %d forms of address, at most %d", len(forms), maxForms)
	}
	f.forms.forms = make([]form, 1, len(forms)+1)
	f.forms.ids = make(map[form]uint64, len(forms))
	for _, af := range forms {
		if af.User > userName {
			return Field{}, fmt.Errorf("pack: a form of address with user %d", af.User)
		}
		fm := form{pre: af.Pre, suf: af.Suf, user: af.User}
		if _, dup := f.forms.ids[fm]; dup {
			return Field{}, fmt.Errorf("pack: form of address %+v listed twice", af)
		}
		f.forms.ids[fm] = uint64(len(f.forms.forms))
		f.forms.forms = append(f.forms.forms, fm)
	}
	return f, nil
}

// Others yields the protocols kept on the side (neither SIP nor SCCP), by
// the key of their record, in no order.
func (ps *Protocols) Others() iter.Seq2[uint64, domain.Protocol] { return maps.All(ps.other) }

// ProtocolsOf returns the Protocols keeping other on the side, as Others
// yielded them.
func ProtocolsOf(other map[uint64]domain.Protocol) Protocols {
	if len(other) == 0 {
		return Protocols{}
	}
	return Protocols{other: other}
}

package compliance

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // policies name time zones; hosts may have no zoneinfo

	"go.yaml.in/yaml/v3"

	"github.com/autoreg/autoreg/domain"
)

// SamplePolicy is the sample policy file, compiled in: the defaults, with
// comments (`compliance policy sample`).
//
//go:embed policy.sample.yaml
var SamplePolicy []byte

// Policy holds the thresholds and severities of the checks.
type Policy struct {
	// Source is the file the policy was read from ("" for the defaults).
	Source string `yaml:"-"`
	// Timezone is the IANA name of the zone business hours are in.
	Timezone string `yaml:"timezone"`
	// EvidenceLimit caps each list of a finding's evidence (0: no cap).
	EvidenceLimit int           `yaml:"evidence_limit"`
	Checks        CheckPolicies `yaml:"checks"`

	loc *time.Location
}

// Base is what every check's policy has.
type Base struct {
	Enabled  bool     `yaml:"enabled"`
	Severity Severity `yaml:"severity"`
}

// CheckPolicies is the policy of each check, by check id.
type CheckPolicies struct {
	WindowTooLong               WindowTooLongPolicy   `yaml:"window-too-long"`
	TooManyPhones               TooManyPhonesPolicy   `yaml:"too-many-phones"`
	MultipleAutoregCallManagers Base                  `yaml:"multiple-autoreg-callmanagers"`
	AutoregGroupMismatch        Base                  `yaml:"autoreg-group-mismatch"`
	NoAutoregCSS                Base                  `yaml:"no-autoreg-css"`
	AutoregCSSReachesExternal   CSSPolicy             `yaml:"autoreg-css-reaches-external"`
	NotReconfigured             NotReconfiguredPolicy `yaml:"not-reconfigured"`
	BusinessHours               BusinessHoursPolicy   `yaml:"business-hours"`
	MissingDeviceDefaultLoad    Base                  `yaml:"missing-device-default-load"`
	RogueAttempts               RoguePolicy           `yaml:"rogue-attempts"`
	ProtocolMixedBatch          Base                  `yaml:"protocol-mixed-batch"`
	LeftOpen                    Base                  `yaml:"left-open"`
	OutsideGroup                Base                  `yaml:"registered-outside-group"`
	HistoryNotAnchored          Base                  `yaml:"history-not-anchored"`
	SIPUnauthenticated          Base                  `yaml:"sip-unauthenticated"`
}

// WindowTooLongPolicy: windows open longer than MaxDuration.
type WindowTooLongPolicy struct {
	Base        `yaml:",inline"`
	MaxDuration time.Duration `yaml:"max_duration"`
}

// TooManyPhonesPolicy: a finding at PerWindow autoregistrations in a window
// or more, and at PerPeriod in the period or more (0: that part is off).
type TooManyPhonesPolicy struct {
	Base      `yaml:",inline"`
	PerWindow int `yaml:"per_window"`
	PerPeriod int `yaml:"per_period"`
}

// CSSPolicy: the numbers dialled from the autoregistration calling search
// space.
type CSSPolicy struct {
	Base             `yaml:",inline"`
	ExternalNumbers  []string `yaml:"external_numbers"`
	EmergencyNumbers []string `yaml:"emergency_numbers"`
}

// NotReconfiguredPolicy: devices left in holding pools more than Days days.
type NotReconfiguredPolicy struct {
	Base `yaml:",inline"`
	Days int `yaml:"days"`
	// Pools are the holding pools; none: the cluster default pool and any
	// pool named Rogue.
	Pools []string `yaml:"pools"`
}

// BusinessHoursPolicy: the days and hours of business.
type BusinessHoursPolicy struct {
	Base  `yaml:",inline"`
	Days  []string `yaml:"days"`  // mon .. sun
	Start string   `yaml:"start"` // HH:MM
	End   string   `yaml:"end"`   // HH:MM, excluded
}

// RoguePolicy: refusals of unknown devices.
type RoguePolicy struct {
	Base              `yaml:",inline"`
	Reasons           []string `yaml:"reasons"`
	Threshold         int      `yaml:"threshold"`
	EscalatedSeverity Severity `yaml:"escalated_severity"`
}

// DefaultPolicy returns the defaults (the sample policy's values).
func DefaultPolicy() *Policy {
	on := func(id CheckID) Base {
		c, _ := CheckByID(id)
		return Base{Enabled: true, Severity: c.Severity}
	}
	p := &Policy{
		Timezone:      "UTC",
		EvidenceLimit: 100,
		Checks: CheckPolicies{
			WindowTooLong:               WindowTooLongPolicy{Base: on(WindowTooLong), MaxDuration: time.Hour},
			TooManyPhones:               TooManyPhonesPolicy{Base: on(TooManyPhones), PerWindow: 100, PerPeriod: 100},
			MultipleAutoregCallManagers: on(MultipleAutoregCallManagers),
			AutoregGroupMismatch:        on(AutoregGroupMismatch),
			NoAutoregCSS:                on(NoAutoregCSS),
			AutoregCSSReachesExternal: CSSPolicy{Base: on(AutoregCSSReachesExternal),
				ExternalNumbers:  []string{"95551234", "914085551234", "9011441234567"},
				EmergencyNumbers: []string{"911", "0"}},
			NotReconfigured: NotReconfiguredPolicy{Base: on(NotReconfigured), Days: 7, Pools: []string{}},
			BusinessHours: BusinessHoursPolicy{Base: on(BusinessHours),
				Days: []string{"mon", "tue", "wed", "thu", "fri"}, Start: "08:00", End: "18:00"},
			MissingDeviceDefaultLoad: on(MissingDeviceDefaultLoad),
			RogueAttempts: RoguePolicy{Base: on(RogueAttempts),
				Reasons: []string{string(domain.RejectWindowClosed), string(domain.RejectUnknownModel)}, Threshold: 10,
				EscalatedSeverity: Warning},
			ProtocolMixedBatch: on(ProtocolMixedBatch),
			LeftOpen:           on(LeftOpen),
			OutsideGroup:       on(OutsideGroup),
			HistoryNotAnchored: on(HistoryNotAnchored),
			SIPUnauthenticated: on(SIPUnauthenticated),
		},
		loc: time.UTC,
	}
	return p
}

// base returns the enabled flag and severity of a check.
func (p *Policy) base(id CheckID) Base {
	c := &p.Checks
	switch id {
	case WindowTooLong:
		return c.WindowTooLong.Base
	case TooManyPhones:
		return c.TooManyPhones.Base
	case MultipleAutoregCallManagers:
		return c.MultipleAutoregCallManagers
	case AutoregGroupMismatch:
		return c.AutoregGroupMismatch
	case NoAutoregCSS:
		return c.NoAutoregCSS
	case AutoregCSSReachesExternal:
		return c.AutoregCSSReachesExternal.Base
	case NotReconfigured:
		return c.NotReconfigured.Base
	case BusinessHours:
		return c.BusinessHours.Base
	case MissingDeviceDefaultLoad:
		return c.MissingDeviceDefaultLoad
	case RogueAttempts:
		return c.RogueAttempts.Base
	case ProtocolMixedBatch:
		return c.ProtocolMixedBatch
	case LeftOpen:
		return c.LeftOpen
	case OutsideGroup:
		return c.OutsideGroup
	case HistoryNotAnchored:
		return c.HistoryNotAnchored
	case SIPUnauthenticated:
		return c.SIPUnauthenticated
	}
	return Base{}
}

// Enabled reports whether the check runs.
func (p *Policy) Enabled(id CheckID) bool { return p.base(id).Enabled }

// Severity is the check's severity under the policy.
func (p *Policy) Severity(id CheckID) Severity { return p.base(id).Severity }

// Location is the time zone of business hours.
func (p *Policy) Location() *time.Location {
	if p.loc == nil {
		return time.UTC
	}
	return p.loc
}

// PolicyError is a policy file that cannot be used: not YAML, an unknown
// key or check id, a value of the wrong type or out of range. Its message
// names the file, the line and the key.
type PolicyError struct {
	File string
	Line int    // 0 when unknown
	Key  string // the key's path, "checks.window-too-long.max_duration"
	Msg  string
}

func (e *PolicyError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ": line %d", e.Line)
	}
	if e.Key != "" {
		b.WriteString(": " + e.Key)
	}
	b.WriteString(": " + e.Msg)
	return b.String()
}

// LoadPolicy reads a policy file over the defaults.
func LoadPolicy(file string) (*Policy, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, &PolicyError{File: file, Msg: fmt.Sprintf("cannot read the policy: %v", errors.Unwrap(err))}
	}
	return ParsePolicy(file, b)
}

// ParsePolicy reads a policy (YAML) over the defaults; name is the file it
// came from, for messages. Every key must be known and every value of the
// right type (as yaml's KnownFields(true), with messages that name the key).
func ParsePolicy(name string, src []byte) (*Policy, error) {
	p := DefaultPolicy()
	p.Source = name
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return p, nil // an empty file: the defaults
		}
		return nil, &PolicyError{File: name, Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, &PolicyError{File: name, Line: more.Line, Msg: "a policy is one YAML document"}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return p, nil
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return p, nil
	}
	d := &policyDecoder{file: name, lines: map[string]int{}}
	if err := d.decode(root, reflect.ValueOf(p).Elem(), ""); err != nil {
		return nil, err
	}
	if err := p.validate(d.lines); err != nil {
		return nil, err
	}
	return p, nil
}

// policyDecoder walks the YAML nodes beside the Policy's fields.
type policyDecoder struct {
	file  string
	lines map[string]int // key path -> line of its value
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	severityType = reflect.TypeFor[Severity]()
)

func (d *policyDecoder) fail(n *yaml.Node, path, format string, a ...any) error {
	return &PolicyError{File: d.file, Line: n.Line, Key: path, Msg: fmt.Sprintf(format, a...)}
}

func (d *policyDecoder) decode(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	d.lines[path] = n.Line
	if v.Kind() == reflect.Struct {
		return d.mapping(n, v, path)
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" && v.Kind() != reflect.Slice {
		return d.fail(n, path, "has no value: want %s", describeType(v.Type()))
	}
	switch {
	case v.Type() == severityType:
		if n.Kind != yaml.ScalarNode {
			return d.fail(n, path, "want info, warning or critical, got %s", describeNode(n))
		}
		s, err := ParseSeverity(n.Value)
		if err != nil {
			return d.fail(n, path, "%v", err)
		}
		v.Set(reflect.ValueOf(s))
		return nil
	case v.Type() == durationType:
		if n.Kind != yaml.ScalarNode {
			return d.fail(n, path, "want a duration such as 60m or 1h30m, got %s", describeNode(n))
		}
		t, err := time.ParseDuration(n.Value)
		if err != nil || n.Tag != "!!str" {
			return d.fail(n, path, "%q is not a duration: use 60m, 1h30m, 90s", n.Value)
		}
		v.SetInt(int64(t))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return d.fail(n, path, "want a string, got %s", describeNode(n))
		}
		v.SetString(n.Value)
	case reflect.Int:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			return d.fail(n, path, "want a whole number, got %s", describeNode(n))
		}
		i, err := strconv.Atoi(n.Value)
		if err != nil {
			return d.fail(n, path, "want a whole number, got %s", describeNode(n))
		}
		v.SetInt(int64(i))
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
			return d.fail(n, path, "want true or false, got %s", describeNode(n))
		}
		v.SetBool(b)
	case reflect.Slice:
		out := reflect.MakeSlice(v.Type(), 0, len(n.Content))
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			v.Set(out)
			return nil
		}
		if n.Kind != yaml.SequenceNode {
			return d.fail(n, path, "want a list of %ss, got %s", describeType(v.Type().Elem()), describeNode(n))
		}
		for i, item := range n.Content {
			d.lines[fmt.Sprintf("%s[%d]", path, i)] = item.Line
			if item.Kind != yaml.ScalarNode || item.Tag == "!!null" {
				return d.fail(item, fmt.Sprintf("%s[%d]", path, i), "want a %s, got %s", describeType(v.Type().Elem()), describeNode(item))
			}
			// Numbers such as 911 or 0 are taken as written.
			out = reflect.Append(out, reflect.ValueOf(item.Value).Convert(v.Type().Elem()))
		}
		v.Set(out)
	default:
		return d.fail(n, path, "cannot be set (%s)", v.Type())
	}
	return nil
}

// mapping decodes a YAML mapping into a struct's fields (inline ones too),
// refusing unknown and repeated keys.
func (d *policyDecoder) mapping(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil // "key:" with nothing keeps the defaults
	}
	if n.Kind != yaml.MappingNode {
		return d.fail(n, path, "want a mapping of keys, got %s", describeNode(n))
	}
	fields := map[string]reflect.Value{}
	var names []string
	collectFields(v, fields, &names)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := k.Value
		p := key
		if path != "" {
			p = path + "." + key
		}
		if seen[key] {
			return d.fail(k, p, "given twice")
		}
		seen[key] = true
		f, ok := fields[key]
		if !ok {
			if path == "checks" {
				return d.fail(k, p, "unknown check id %q (known: %s)", key, strings.Join(names, ", "))
			}
			return d.fail(k, p, "unknown key %q (known: %s)", key, strings.Join(names, ", "))
		}
		if err := d.decode(val, f, p); err != nil {
			return err
		}
	}
	return nil
}

// collectFields lists a struct's fields by YAML key, inline structs flattened.
func collectFields(v reflect.Value, out map[string]reflect.Value, names *[]string) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if opts == "inline" {
			collectFields(v.Field(i), out, names)
			continue
		}
		if name == "" {
			continue
		}
		out[name] = v.Field(i)
		*names = append(*names, name)
	}
}

func describeType(t reflect.Type) string {
	switch {
	case t == severityType:
		return "severity (info, warning or critical)"
	case t == durationType:
		return "duration such as 60m"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int:
		return "whole number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "list"
	}
	return t.String()
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "nothing"
		case "!!str":
			return strconv.Quote(n.Value)
		}
		return n.Value
	}
	return "something else"
}

// weekdays maps the policy's day names to time.Weekday.
var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// clockMinutes reads HH:MM as minutes after midnight (24:00 allowed as an end).
func clockMinutes(s string) (int, bool) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, false
	}
	return hh*60 + mm, true
}

// validate checks what types cannot; lines says where keys were.
func (p *Policy) validate(lines map[string]int) error {
	fail := func(key, format string, a ...any) error {
		return &PolicyError{File: p.Source, Line: lines[key], Key: key, Msg: fmt.Sprintf(format, a...)}
	}
	loc, err := time.LoadLocation(p.Timezone)
	if err != nil || p.Timezone == "" || strings.EqualFold(p.Timezone, "local") {
		return fail("timezone", "%q is not a time zone: use an IANA name such as UTC or Europe/Paris", p.Timezone)
	}
	p.loc = loc
	if p.EvidenceLimit < 0 {
		return fail("evidence_limit", "must be 0 (no limit) or more, got %d", p.EvidenceLimit)
	}
	c := &p.Checks
	if c.WindowTooLong.MaxDuration <= 0 {
		return fail("checks.window-too-long.max_duration", "must be positive, got %s", c.WindowTooLong.MaxDuration)
	}
	if c.TooManyPhones.PerWindow < 0 {
		return fail("checks.too-many-phones.per_window", "must be 0 (not checked) or more, got %d", c.TooManyPhones.PerWindow)
	}
	if c.TooManyPhones.PerPeriod < 0 {
		return fail("checks.too-many-phones.per_period", "must be 0 (not checked) or more, got %d", c.TooManyPhones.PerPeriod)
	}
	for _, l := range []struct {
		key  string
		nums []string
	}{
		{"checks.autoreg-css-reaches-external.external_numbers", c.AutoregCSSReachesExternal.ExternalNumbers},
		{"checks.autoreg-css-reaches-external.emergency_numbers", c.AutoregCSSReachesExternal.EmergencyNumbers},
	} {
		key := l.key
		for i, n := range l.nums {
			if !dialString(n) {
				k := fmt.Sprintf("%s[%d]", key, i)
				return fail(k, "%q is not a dial string (digits, * and #)", n)
			}
		}
	}
	if c.NotReconfigured.Days < 0 {
		return fail("checks.not-reconfigured.days", "must be 0 or more, got %d", c.NotReconfigured.Days)
	}
	for i, d := range c.BusinessHours.Days {
		if _, ok := weekdays[strings.ToLower(d)]; !ok {
			return fail(fmt.Sprintf("checks.business-hours.days[%d]", i), "%q is not a day: use mon, tue, wed, thu, fri, sat, sun", d)
		}
	}
	start, ok := clockMinutes(c.BusinessHours.Start)
	if !ok || start >= 24*60 {
		return fail("checks.business-hours.start", "%q is not a time of day: use HH:MM such as 08:00", c.BusinessHours.Start)
	}
	end, ok := clockMinutes(c.BusinessHours.End)
	if !ok {
		return fail("checks.business-hours.end", "%q is not a time of day: use HH:MM such as 18:00", c.BusinessHours.End)
	}
	if end <= start {
		return fail("checks.business-hours.end", "%s is not after start %s", c.BusinessHours.End, c.BusinessHours.Start)
	}
	for i, r := range c.RogueAttempts.Reasons {
		if !slices.Contains(domain.RejectReasons, domain.RejectReason(r)) {
			names := make([]string, len(domain.RejectReasons))
			for j, x := range domain.RejectReasons {
				names[j] = string(x)
			}
			return fail(fmt.Sprintf("checks.rogue-attempts.reasons[%d]", i), "%q is not a refusal reason: use %s", r, strings.Join(names, ", "))
		}
	}
	if c.RogueAttempts.Threshold < 0 {
		return fail("checks.rogue-attempts.threshold", "must be 0 or more, got %d", c.RogueAttempts.Threshold)
	}
	return nil
}

func dialString(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '*' && s[i] != '#' {
			return false
		}
	}
	return true
}

// inBusinessHours reports whether t falls in the policy's business hours.
func (p *Policy) inBusinessHours(t time.Time) bool {
	bh := p.Checks.BusinessHours
	lt := t.In(p.Location())
	day := false
	for _, d := range bh.Days {
		if weekdays[strings.ToLower(d)] == lt.Weekday() {
			day = true
		}
	}
	if !day {
		return false
	}
	start, _ := clockMinutes(bh.Start)
	end, _ := clockMinutes(bh.End)
	m := lt.Hour()*60 + lt.Minute()
	return m >= start && m < end
}

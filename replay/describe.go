package replay

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/autoreg/autoreg/domain"
	"github.com/autoreg/autoreg/projections"
)

// Describe says what an event means, in a sentence for people.
func Describe(e domain.Event) string {
	switch e := e.(type) {
	case domain.ProtocolSet:
		return "Auto Registration Phone Protocol set to " + string(e.Protocol)
	case domain.SecurityModeSet:
		return "cluster security set to " + string(e.Mode)
	case domain.CallManagerConfigured:
		state := "enabled"
		if e.AutoregDisabled {
			state = "disabled"
		}
		return fmt.Sprintf("CallManager %s configured (autoregistration %s)", e.Name, state)
	case domain.CallManagerRemoved:
		return "CallManager " + e.Name + " removed"
	case domain.GroupConfigured:
		return fmt.Sprintf("CallManager group %s: %s", e.Name, strings.Join(e.CallManagers, ", "))
	case domain.GroupRemoved:
		return "CallManager group " + e.Name + " removed"
	case domain.AutoregGroupSet:
		return e.Group + " is the autoregistration CallManager group"
	case domain.PartitionAdded:
		return "partition " + e.Name + " added"
	case domain.PartitionRemoved:
		return "partition " + e.Name + " removed"
	case domain.RoutePatternAdded:
		kind := "route pattern"
		if e.Block {
			kind = "blocking pattern"
		}
		return fmt.Sprintf("%s %s added in %s", kind, e.Pattern, e.Partition)
	case domain.RoutePatternRemoved:
		return fmt.Sprintf("route pattern %s removed from %s", e.Pattern, e.Partition)
	case domain.CSSConfigured:
		return fmt.Sprintf("calling search space %s: %s", e.Name, strings.Join(e.Partitions, ", "))
	case domain.CSSRemoved:
		return "calling search space " + e.Name + " removed"
	case domain.DevicePoolConfigured:
		return fmt.Sprintf("device pool %s (group %s, CSS %s)", e.Name, e.Group, orDash(e.CSS))
	case domain.DevicePoolRemoved:
		return "device pool " + e.Name + " removed"
	case domain.DefaultPoolSet:
		return "default device pool set to " + e.Pool
	case domain.DeviceDefaultsSet:
		return fmt.Sprintf("device defaults for %s (pool %s)", e.Model, orDash(e.Pool))
	case domain.AutoregCSSSet:
		return "autoregistration calling search space set to " + orDash(e.CSS)
	case domain.WindowOpened:
		s := fmt.Sprintf("window %s opened (%q), protocol %s", e.Window, e.Reason, e.Protocol)
		if !e.Until.IsZero() {
			s += ", until " + tsText(e.Until)
		}
		if e.MaxRegistrations > 0 {
			s += fmt.Sprintf(", at most %d phones", e.MaxRegistrations)
		}
		return s
	case domain.WindowClosed:
		return fmt.Sprintf("window %s closed (%s: %s), %d phones", e.Window, e.Cause, e.Reason, e.Registrations)
	case domain.RangeConfigured:
		s := fmt.Sprintf("range %s-%s in %s", e.Start, e.End, orDash(e.Partition))
		if e.Mask != "" {
			s += ", mask " + e.Mask
		}
		return s
	case domain.DNAssigned:
		return fmt.Sprintf("DN %s assigned to %s in %s", e.DN, e.Device, e.Window)
	case domain.DNClaimed:
		return fmt.Sprintf("DN %s given to %s", e.DN, e.Device)
	case domain.DNReleased:
		return fmt.Sprintf("DN %s released by %s (%s)", e.DN, e.Device, e.Reason)
	case domain.RangeExhausted:
		return fmt.Sprintf("range %s-%s exhausted: %s got no DN", e.Start, e.End, e.Device)
	case domain.DeviceAutoregistered:
		return fmt.Sprintf("autoregistered in %s with DN %s (%s over %s) from %s", e.Window, e.DN, e.Model, e.Protocol, e.Address) + onNode(e.Node)
	case domain.DeviceProvisioned:
		return fmt.Sprintf("provisioned with DN %s (%s over %s), pool %s", e.DN, e.Model, e.Protocol, e.Pool)
	case domain.DeviceRegistered:
		return fmt.Sprintf("registered over %s from %s", e.Protocol, e.Address) + onNode(e.Node)
	case domain.DeviceMoved:
		return fmt.Sprintf("moved from %s to %s", e.From, e.To) + onNode(e.Node)
	case domain.DeviceUnregistered:
		return "unregistered (" + e.Reason + ")"
	case domain.DeviceResetRequested:
		if e.Restart {
			return "restart requested by " + e.By
		}
		return "reset requested by " + e.By
	case domain.RegistrationRejected:
		return fmt.Sprintf("refused (%s): %s", e.Reason, e.Detail)
	case domain.RejectionsSuppressed:
		return fmt.Sprintf("%d refusals not recorded one by one from %s to %s (beyond %d a minute; %d devices, %d sources): %s",
			e.Count, e.From.UTC().Format(time.TimeOnly), e.To.UTC().Format(time.TimeOnly), e.Limit, e.Devices, e.Sources, reasonCounts(e.Reasons))
	case domain.DeviceReconfigured:
		var parts []string
		if e.Pool != "" {
			parts = append(parts, "pool "+e.Pool)
		}
		if e.CSS != "" {
			parts = append(parts, "CSS "+e.CSS)
		}
		if e.DN != "" {
			parts = append(parts, "DN "+e.DN)
		}
		if e.Partition != "" {
			parts = append(parts, "partition "+e.Partition)
		}
		if e.Description != "" {
			parts = append(parts, fmt.Sprintf("description %q", e.Description))
		}
		return "reconfigured: " + strings.Join(parts, ", ")
	case domain.DeviceDeleted:
		return "deleted"
	}
	return fmt.Sprintf("%T", e)
}

// dataOf returns the "data" object of a stored payload (the event's fields
// without the envelope).
func dataOf(payload []byte) []byte { return projections.PayloadData(payload) }

// actorOf reads the actor from an event's metadata.
func actorOf(metadata []byte, payload domain.Event) string {
	return projections.ActorOf(metadata, payload)
}

// decidedAt reads the time a decision was made from an event's metadata
// (zero when it is not there).
func decidedAt(metadata []byte) time.Time {
	key := []byte(`"decided_at":"`)
	if i := bytes.Index(metadata, key); i >= 0 {
		v := metadata[i+len(key):]
		if j := bytes.IndexByte(v, '"'); j >= 0 {
			if t, err := time.Parse(time.RFC3339Nano, string(v[:j])); err == nil {
				return t
			}
		}
	}
	return time.Time{}
}

// onNode names the CallManager a registration was made with ("" for none).
func onNode(node string) string {
	if node == "" {
		return ""
	}
	return " with CallManager " + node
}

// reasonCounts is "window_closed=12, unknown_model=3", by reason.
func reasonCounts(m map[domain.RejectReason]int) string {
	keys := make([]string, 0, len(m))
	for r := range m {
		keys = append(keys, string(r))
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[domain.RejectReason(k)])
	}
	return strings.Join(parts, ", ")
}

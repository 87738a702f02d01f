package domain

import (
	"fmt"
	"strings"
)

// SIP digest authentication, as CallManager's phone security profile
// "Enable Digest Authentication" has it, but on by default: a SIP device
// that autoregisters is issued credentials, and from then on a REGISTER that
// would change its binding must answer a digest challenge.
//
// The domain never sees a password. The command side derives one from a
// secret kept outside the store and a random salt, and gives the domain the
// salt and a salted verifier of the password; events hold those only. The
// digest user is the device name.

// AuthProfile is a device pool's SIP authentication profile.
type AuthProfile string

const (
	// AuthDigest (the default, ""): a device with credentials must
	// authenticate a REGISTER that changes its binding (a new contact, a
	// move, an unregistration); a refresh of its binding from where it was
	// made needs none.
	AuthDigest AuthProfile = ""
	// AuthDigestAlways: every REGISTER of a device with credentials must
	// authenticate, refreshes too.
	AuthDigestAlways AuthProfile = "digest-always"
	// AuthNone: no authentication (CallManager's non-secure profile).
	AuthNone AuthProfile = "none"
)

// ParseAuthProfile reads a profile's name; "digest" and "" are the default.
func ParseAuthProfile(s string) (AuthProfile, error) {
	switch p := AuthProfile(strings.ToLower(strings.TrimSpace(s))); p {
	case "", "digest":
		return AuthDigest, nil
	case AuthDigestAlways, AuthNone:
		return p, nil
	}
	return "", fmt.Errorf("%w: SIP authentication profile %q: use digest, digest-always or none", ErrInvalid, s)
}

// String names the profile as ParseAuthProfile reads it.
func (p AuthProfile) String() string {
	if p == AuthDigest {
		return "digest"
	}
	return string(p)
}

// Credential is what the domain records of a device's digest credentials:
// the salt the password is derived with and a salted verifier of it.
type Credential struct {
	Salt     string // hex; never empty for a credential
	Verifier string // hex
}

// RotateCredentials issues a device new digest credentials (the old ones
// stop working). The command side fills Credential.
type RotateCredentials struct {
	Device     string
	Credential Credential
	By         string
}

// DisableCredentials withdraws a device's digest credentials: it
// registers without authentication until they are rotated.
type DisableCredentials struct{ Device, By string }

func (c RotateCredentials) Needs() Needs  { return Needs{Device: c.Device} }
func (c DisableCredentials) Needs() Needs { return Needs{Device: c.Device} }

// DeviceCredentialsIssued: a SIP device got digest credentials, at
// autoregistration (By is SystemActor) or rotated by an administrator.
type DeviceCredentialsIssued struct {
	DeviceEvent
	User     string `json:"user"`
	Salt     string `json:"salt"`
	Verifier string `json:"verifier"`
	By       string `json:"by"`
}

// DeviceCredentialsDisabled: an administrator withdrew a device's credentials.
type DeviceCredentialsDisabled struct {
	DeviceEvent
	By string `json:"by"`
}

func (DeviceCredentialsIssued) EventType() string   { return TypeDeviceCredentialsIssued }
func (DeviceCredentialsDisabled) EventType() string { return TypeDeviceCredentialsDisabled }

// valid: a salt of 16 hex digits, not all zero, and a hex verifier.
func (c Credential) valid() bool {
	return len(c.Salt) == 16 && isHex(c.Salt) && strings.Trim(c.Salt, "0") != "" && isHex(c.Verifier)
}

func isHex(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		default:
			return false
		}
	}
	return true
}

// issued is the event giving the device c its credentials.
func issued(device string, c Credential, by string) DeviceCredentialsIssued {
	return DeviceCredentialsIssued{DeviceEvent: DeviceEvent{Device: device}, User: device,
		Salt: c.Salt, Verifier: c.Verifier, By: by}
}

func decideRotate(w World, c RotateCredentials) ([]Event, error) {
	if err := needBy(c.By); err != nil {
		return nil, err
	}
	d := w.Device
	switch {
	case !d.Exists:
		return nil, fmt.Errorf("%w: no device %s", ErrNotFound, c.Device)
	case d.Protocol != SIP:
		return nil, fmt.Errorf("%w: %s is an %s device: digest credentials are for SIP devices (SCCP has none without TLS and certificates)", ErrInvalid, d.Name, d.Protocol)
	case !c.Credential.valid():
		return nil, fmt.Errorf("%w: credentials need a salt of 16 hex digits and a hex verifier", ErrInvalid)
	}
	return []Event{issued(d.Name, c.Credential, c.By)}, nil
}

func decideDisable(w World, c DisableCredentials) ([]Event, error) {
	if err := needBy(c.By); err != nil {
		return nil, err
	}
	d := w.Device
	switch {
	case !d.Exists:
		return nil, fmt.Errorf("%w: no device %s", ErrNotFound, c.Device)
	case !d.Credentialed:
		return nil, nil // nothing to withdraw
	}
	return []Event{DeviceCredentialsDisabled{DeviceEvent: DeviceEvent{Device: d.Name}, By: c.By}}, nil
}

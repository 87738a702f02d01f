package domain

import "testing"

func TestDeviceMACRoundTrip(t *testing.T) {
	for _, name := range []string{"SEP000000000000", "SEP001122AABBCC", "SEPFFFFFFFFFFFF"} {
		mac, ok := DeviceMAC(name)
		if !ok || DeviceNameOfMAC(mac) != name {
			t.Errorf("%s: MAC %x, %v, back %s", name, mac, ok, DeviceNameOfMAC(mac))
		}
		if !ValidDeviceName(name) {
			t.Errorf("%s not valid", name)
		}
	}
	for _, bad := range []string{"", "SEP001122aabbcc", "SEP001122AABBC", "SEP001122AABBCCD", "XEP001122AABBCC", "SEP00112G2AABBC"} {
		if mac, ok := DeviceMAC(bad); ok {
			t.Errorf("DeviceMAC(%q) = %x, want not ok", bad, mac)
		}
		if ValidDeviceName(bad) {
			t.Errorf("ValidDeviceName(%q) = true", bad)
		}
	}
}

package sccp

import "github.com/autoreg/autoreg/adapters/sccp/skinny"

// The soft keys every phone gets: a minimal version of CallManager's
// "Standard User" template. The template's keys are in the order of their
// events, so a key's template index is its event number and its label the
// phone's built-in label of that number.
var softKeyEvents = []uint32{
	skinny.SoftKeyRedial, skinny.SoftKeyNewCall, skinny.SoftKeyHold, skinny.SoftKeyTransfer,
	skinny.SoftKeyCfwdAll, skinny.SoftKeyCfwdBusy, skinny.SoftKeyCfwdNoAnswer, skinny.SoftKeyBackSpace,
	skinny.SoftKeyEndCall, skinny.SoftKeyResume, skinny.SoftKeyAnswer, skinny.SoftKeyInfo,
	skinny.SoftKeyConfrn, skinny.SoftKeyPark, skinny.SoftKeyJoin, skinny.SoftKeyMeetMe,
	skinny.SoftKeyPickUp, skinny.SoftKeyGrpPickup,
}

// Soft key set indexes: the call states, as phones number them.
const (
	setOnHook = iota
	setConnected
	setOnHold
	setRingIn
	setOffHook
	setConnectedTransfer
	setDigitsFollowing
	setConnectedConference
	setRingOut
	setOffHookFeatures
	setInUseHint
	numSoftKeySets
)

// softKeySetKeys are the keys of each set, left to right, by event.
var softKeySetKeys = [numSoftKeySets][]uint32{
	setOnHook:              {skinny.SoftKeyRedial, skinny.SoftKeyNewCall, skinny.SoftKeyCfwdAll, skinny.SoftKeyPickUp, skinny.SoftKeyGrpPickup},
	setConnected:           {skinny.SoftKeyHold, skinny.SoftKeyEndCall, skinny.SoftKeyTransfer, skinny.SoftKeyConfrn, skinny.SoftKeyPark},
	setOnHold:              {skinny.SoftKeyResume, skinny.SoftKeyNewCall, skinny.SoftKeyEndCall},
	setRingIn:              {skinny.SoftKeyAnswer, skinny.SoftKeyEndCall},
	setOffHook:             {skinny.SoftKeyRedial, skinny.SoftKeyEndCall, skinny.SoftKeyCfwdAll, skinny.SoftKeyPickUp, skinny.SoftKeyGrpPickup},
	setConnectedTransfer:   {skinny.SoftKeyHold, skinny.SoftKeyEndCall, skinny.SoftKeyTransfer},
	setDigitsFollowing:     {skinny.SoftKeyBackSpace, skinny.SoftKeyEndCall},
	setConnectedConference: {skinny.SoftKeyHold, skinny.SoftKeyEndCall, skinny.SoftKeyConfrn},
	setRingOut:             {skinny.SoftKeyEndCall, skinny.SoftKeyTransfer},
	setOffHookFeatures:     {skinny.SoftKeyRedial, skinny.SoftKeyEndCall},
	setInUseHint:           {skinny.SoftKeyNewCall},
}

// softKeyInfoBase is added to a key's template index for its help text
// index, as CallManager numbers them.
const softKeyInfoBase = 300

var (
	defaultSoftKeyTemplate = func() skinny.SoftKeyTemplateRes {
		m := skinny.SoftKeyTemplateRes{Keys: make([]skinny.SoftKey, len(softKeyEvents))}
		for i, ev := range softKeyEvents {
			m.Keys[i] = skinny.SoftKey{Label: skinny.SoftKeyLabel(uint8(ev)), Event: ev}
		}
		return m
	}()

	defaultSoftKeySets = func() skinny.SoftKeySetRes {
		m := skinny.SoftKeySetRes{Sets: make([]skinny.SoftKeySet, numSoftKeySets)}
		for i, keys := range softKeySetKeys {
			for k, ev := range keys {
				idx := templateIndex(ev)
				m.Sets[i].TemplateIndex[k] = idx
				m.Sets[i].InfoIndex[k] = softKeyInfoBase + uint16(idx)
			}
		}
		return m
	}()
)

// templateIndex is the 1-based index of the key for event ev in the
// template.
func templateIndex(ev uint32) uint8 {
	for i, e := range softKeyEvents {
		if e == ev {
			return uint8(i + 1)
		}
	}
	panic("sccp: soft key set uses an event the template lacks")
}

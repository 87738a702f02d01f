package main

import (
	"slices"
	"testing"
)

// A phone reads its CallManagers in priority order, whatever the order of
// the members in the file, with its protocol's port (the default when the
// file has none), and its model's load from XmlDefault.cnf.xml.
func TestPhoneFileFromXmlDefault(t *testing.T) {
	doc := `<Default><callManagerGroup><members>
  <member priority="1"><callManager><name>CM2</name><ports><ethernetPhonePort>2002</ethernetPhonePort><sipPort>5062</sipPort></ports><processNodeName>10.0.0.2</processNodeName></callManager></member>
  <member priority="0"><callManager><name>CM1</name><ports><ethernetPhonePort>2000</ethernetPhonePort></ports><processNodeName>10.0.0.1</processNodeName></callManager></member>
</members></callManagerGroup>
<loadInformation7 model="Cisco 7960">P00308010200</loadInformation7>
<loadInformation30018 model="Cisco 7961">SCCP41.9-4-2SR3-1S</loadInformation30018>
<versionStamp>abc</versionStamp></Default>`
	f, err := parsePhoneFile("XmlDefault.cnf.xml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.callManagers(ProtocolSCCP), []string{"10.0.0.1:2000", "10.0.0.2:2002"}; !slices.Equal(got, want) {
		t.Errorf("SCCP CallManagers %v, want %v", got, want)
	}
	if got, want := f.callManagers(ProtocolSIP), []string{"10.0.0.1:5060", "10.0.0.2:5062"}; !slices.Equal(got, want) {
		t.Errorf("SIP CallManagers %v, want %v", got, want)
	}
	for model, want := range map[string]string{"7961": "SCCP41.9-4-2SR3-1S", "7960": "P00308010200", "7941": "", "8961": ""} {
		if got := f.load(model); got != want {
			t.Errorf("load of %s: %q, want %q", model, got, want)
		}
	}
}

// A device's own file: the pool's group, its load, its SIP line.
func TestPhoneFileOwn(t *testing.T) {
	doc := `<device><deviceProtocol>SIP</deviceProtocol><devicePool><name>Default</name>
<callManagerGroup><members><member priority="0"><callManager><name>CM1</name><ports><sipPort>5070</sipPort></ports><processNodeName>cm1.example.com</processNodeName></callManager></member></members></callManagerGroup></devicePool>
<sipProfile><sipLines><line button="1"><featureID>9</featureID><name>1000</name></line></sipLines></sipProfile>
<loadInformation>sip8961.9-4-2SR3-1</loadInformation></device>`
	f, err := parsePhoneFile("SEP001122334455.cnf.xml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.callManagers(ProtocolSIP); !slices.Equal(got, []string{"cm1.example.com:5070"}) {
		t.Errorf("CallManagers %v", got)
	}
	if f.load("8961") != "sip8961.9-4-2SR3-1" || len(f.Lines) != 1 || f.Lines[0].Name != "1000" {
		t.Errorf("load %q, lines %+v", f.load("8961"), f.Lines)
	}
}

// A file a phone could not register from is an error that names it.
func TestPhoneFileErrors(t *testing.T) {
	for _, doc := range []string{"", "<Default>", "<Default><versionStamp>x</versionStamp></Default>", "not xml"} {
		if _, err := parsePhoneFile("XmlDefault.cnf.xml", []byte(doc)); err == nil {
			t.Errorf("%q: no error", doc)
		}
	}
}

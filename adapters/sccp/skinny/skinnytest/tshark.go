// Package skinnytest writes Skinny frames as a TCP stream into a pcap file
// and reads tshark's dissection of it back, so tests can check what is
// encoded against Wireshark's Skinny dissector field by field. Tests using
// it are skipped when tshark is not installed.
package skinnytest

import (
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Frame is one frame of the capture and its direction.
type Frame struct {
	ToPhone bool   // CM → phone (from port 2000) when true
	Data    []byte // the whole frame: header and body
}

// pcapWriter builds a classic pcap of one TCP connection between a phone
// (10.0.0.2:51000) and a CallManager (10.0.0.1:2000), one segment per frame.
type pcapWriter struct {
	buf             bytes.Buffer
	seqPhone, seqCM uint32
	n               uint32
}

func newPcapWriter() *pcapWriter {
	w := &pcapWriter{seqPhone: 1000, seqCM: 5000}
	h := make([]byte, 24)
	binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], 65535)
	binary.LittleEndian.PutUint32(h[20:], 1) // LINKTYPE_ETHERNET
	w.buf.Write(h)
	return w
}

func (w *pcapWriter) segment(toPhone bool, payload []byte) {
	phoneIP := []byte{10, 0, 0, 2}
	cmIP := []byte{10, 0, 0, 1}
	phoneMAC := []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}
	cmMAC := []byte{0x00, 0x66, 0x77, 0x88, 0x99, 0xaa}
	srcIP, dstIP, srcMAC, dstMAC := phoneIP, cmIP, phoneMAC, cmMAC
	srcPort, dstPort := uint16(51000), uint16(2000)
	seq, ack := &w.seqPhone, w.seqCM
	if toPhone {
		srcIP, dstIP, srcMAC, dstMAC = cmIP, phoneIP, cmMAC, phoneMAC
		srcPort, dstPort = 2000, 51000
		seq, ack = &w.seqCM, w.seqPhone
	}

	var pkt []byte
	pkt = append(pkt, dstMAC...)
	pkt = append(pkt, srcMAC...)
	pkt = binary.BigEndian.AppendUint16(pkt, 0x0800)

	ip := make([]byte, 20)
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+20+len(payload)))
	binary.BigEndian.PutUint16(ip[4:], uint16(w.n))
	binary.BigEndian.PutUint16(ip[6:], 0x4000) // don't fragment
	ip[8] = 64
	ip[9] = 6 // TCP
	copy(ip[12:], srcIP)
	copy(ip[16:], dstIP)
	binary.BigEndian.PutUint16(ip[10:], checksum(ip))
	pkt = append(pkt, ip...)

	tcp := make([]byte, 20)
	binary.BigEndian.PutUint16(tcp[0:], srcPort)
	binary.BigEndian.PutUint16(tcp[2:], dstPort)
	binary.BigEndian.PutUint32(tcp[4:], *seq)
	binary.BigEndian.PutUint32(tcp[8:], ack)
	tcp[12] = 5 << 4
	tcp[13] = 0x18 // PSH, ACK
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	pseudo := append(append(append([]byte{}, srcIP...), dstIP...), 0, 6, 0, 0)
	binary.BigEndian.PutUint16(pseudo[10:], uint16(20+len(payload)))
	binary.BigEndian.PutUint16(tcp[16:], checksum(append(append(pseudo, tcp...), payload...)))
	pkt = append(pkt, tcp...)
	pkt = append(pkt, payload...)
	*seq += uint32(len(payload))

	w.n++
	rec := make([]byte, 16)
	binary.LittleEndian.PutUint32(rec[0:], 1700000000+w.n)
	binary.LittleEndian.PutUint32(rec[8:], uint32(len(pkt)))
	binary.LittleEndian.PutUint32(rec[12:], uint32(len(pkt)))
	w.buf.Write(rec)
	w.buf.Write(pkt)
}

// checksum is the Internet checksum (RFC 1071).
func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// Packet is tshark's view of one packet: every skinny.* (and _ws.malformed)
// field's shown values, in order. The raw bytes of a field, in hex, are
// under its name followed by "@value".
type Packet map[string][]string

// Get returns the field's only (or first) value, failing the test if absent.
func (p Packet) Get(t testing.TB, field string) string {
	t.Helper()
	v, ok := p[field]
	if !ok || len(v) == 0 {
		t.Fatalf("tshark shows no %s; fields: %v", field, p)
	}
	return v[0]
}

// Dissect writes frames to a pcap, one TCP segment each, and returns tshark's
// PDML dissection of each packet. It skips the test when tshark is not
// installed. SKINNY_KEEP_PCAP=dir keeps the pcap in dir, named after the
// test.
func Dissect(t testing.TB, frames []Frame) []Packet {
	t.Helper()
	bin, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not on PATH (apt-get install -y tshark): frames not checked against Wireshark's Skinny dissector")
	}
	w := newPcapWriter()
	for _, f := range frames {
		w.segment(f.ToPhone, f.Data)
	}
	file := filepath.Join(t.TempDir(), "skinny.pcap")
	if err := os.WriteFile(file, w.buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("SKINNY_KEEP_PCAP"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".pcap"), w.buf.Bytes(), 0o644)
	}
	cmd := exec.Command(bin, "-n", "-r", file, "-d", "tcp.port==2000,skinny", "-T", "pdml")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no user profile
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	pkts, err := parsePDML(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("parsing tshark's PDML: %v", err)
	}
	if len(pkts) != len(frames) {
		t.Fatalf("tshark shows %d packets, wrote %d", len(pkts), len(frames))
	}
	return pkts
}

func parsePDML(r io.Reader) ([]Packet, error) {
	dec := xml.NewDecoder(r)
	var pkts []Packet
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return pkts, nil
		}
		if err != nil {
			return nil, err
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "packet":
			pkts = append(pkts, Packet{})
		case "field", "proto":
			if len(pkts) == 0 {
				continue
			}
			var name, show, showname, value string
			hasShow, hasValue := false, false
			for _, a := range se.Attr {
				switch a.Name.Local {
				case "name":
					name = a.Value
				case "show":
					show, hasShow = a.Value, true
				case "showname":
					showname = a.Value
				case "value":
					value, hasValue = a.Value, true
				}
			}
			if !hasShow {
				show = showname
			}
			if strings.HasPrefix(name, "skinny.") || strings.HasPrefix(name, "_ws.malformed") {
				p := pkts[len(pkts)-1]
				p[name] = append(p[name], show)
				if hasValue {
					p[name+"@value"] = append(p[name+"@value"], value)
				}
			}
		}
	}
}

// Package skinny is a codec for Cisco's Skinny Client Control Protocol
// (SCCP), the TCP protocol Cisco IP phones speak to CallManager on port 2000.
//
// No maintained Go implementation exists, so the framing is ours; the field
// layouts follow Wireshark's Skinny dissector and are checked against
// tshark in the tests.
//
// # Framing
//
// Every message is a frame:
//
//	offset  size  field
//	0       4     data length, little-endian: message id + body (not the
//	              length field itself, nor the header version)
//	4       4     header version: 0 for the basic protocol; newer phones send
//	              0x11, 0x12, 0x14, 0x16 ... once protocol 17+ is negotiated
//	8       4     message id, little-endian
//	12      n     body (n = data length - 4)
//
// All integers are little-endian except IPv4 addresses, which are in network
// order. Strings are fixed-size, NUL-padded fields.
//
// A KeepAliveMessage, for instance, is the twelve bytes
//
//	04 00 00 00  00 00 00 00  00 00 00 00
//
// [Reader] reads whole frames from a stream with a bound on their size;
// [Decode] turns a frame's body into a typed [Message]; [AppendFrame] and
// [Marshal] encode messages. Message ids the package does not know decode as
// [Unknown] rather than failing.
//
// It imports the standard library only.
package skinny

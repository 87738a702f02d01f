// Package tftp is the TFTP server Cisco phones boot from: a read-only
// server (RFC 1350, with the option negotiation of RFC 2347 and the blksize
// and tsize options of RFC 2348 and 2349) that serves the configuration
// files CallManager would, generated at request time, and the firmware and
// other files of a folder.
//
// # What it owns, what it may import
//
// The package owns the TFTP wire (requests, error answers, per-source
// limits), the file-name rules, the folder it serves (Dir) and the making of
// SEP<MAC>.cnf.xml and XmlDefault.cnf.xml (Generator) from plain inputs
// (Settings, Device). It consumes one port, Files, which it defines; the
// registrar implements Devices (or Files) from its read models. It imports
// the standard library, github.com/pin/tftp/v3 (the transfers),
// github.com/rs/zerolog, adapters/internal/limit (the per-source token
// bucket and burst log it shares with the SIP and SCCP adapters) and
// domain (the model catalogue and device names); never internal/,
// projections/ or another adapter. Downloads are not events: they are
// counted (Server.Stats, Config.OnServed) and logged at debug level.
//
// # Wiring
//
//	gen, err := tftp.NewGenerator(tftp.Settings{...}, devices) // devices: the registrar's read model
//	dir, err := tftp.OpenDir(cfg.FilesDir, 0)                  // tftp.files_dir
//	srv, err := tftp.NewServer(tftp.Config{Files: tftp.Chain(gen, dir), Logger: log})
//	err = srv.ListenAndServe(ctx, cfg.Addr)                    // tftp.addr, ":69" by default
//	if errors.Is(err, os.ErrPermission) { /* port 69 needs CAP_NET_BIND_SERVICE: warn, go on without TFTP */ }
//
// # Answers
//
//   - A read request for a file Files has: the file, in blocks, from a
//     socket of its own (RFC 1350 TIDs).
//   - A file Files has not: error 1, file not found. So are
//     CTLSEP<MAC>.tlv, ITLSEP<MAC>.tlv, ITLFile.tlv and CTLFile.tlv, always
//     and before Files is asked: a CallManager that is not in mixed mode has
//     no security files, and a phone told "not found" goes on without them.
//   - A write request: error 2, access violation (the server is read-only).
//     So is a name with a ".." element, control characters or invalid
//     UTF-8, and a file that leaves the folder, is not a regular file, or
//     is larger than its bound.
//   - A malformed request (no NUL terminators, no mode, an option without
//     a value, more than 512 bytes), an unknown or "mail" mode: error 4.
//     DATA, ACK and OACK packets sent to the request port: error 5. An
//     option value out of its RFC's range, or an option given twice:
//     error 8 (RFC 2347). ERROR packets are never answered.
//   - Packets over a source address's rate (Config.SourceRate), requests
//     beyond Config.MaxTransfers, and a request retransmitted while its
//     transfer runs: dropped, unanswered. The client sends again after its
//     timeout. Drops are logged once per burst.
//
// # Names
//
// Clients send names with a leading slash or backslash separators; every
// name is normalised (Normalize) before Files sees it. Generated names are
// matched regardless of case (phones ask "XMLDefault.cnf.xml"); the folder
// is case-sensitive, like the file system.
//
// # pin/tftp and why requests are read here
//
// pin/tftp v3.1.0 runs the transfers: a read handler given an
// io.ReaderFrom, a socket per transfer, retransmission with SetTimeout and
// SetRetries, the OACK for blksize and tsize (it seeks the file for its
// size), hooks for success and failure. It cannot do three things this
// server must, so the server reads the request port itself and hands
// pin/tftp only the read requests it accepted, through a net.PacketConn of
// its own:
//
//   - every error pin/tftp sends is code 1 (its sender and receiver abort
//     with packERROR(..., 1, ...)), so a write request would be answered
//     "file not found", and a nil write handler makes no difference;
//   - it opens a socket and a goroutine for every request before any
//     handler can refuse it: a flood would cost a socket per packet;
//   - it takes options as they come: a tsize other than 0 in a read
//     request is echoed back as the file's size, an out-of-range blksize
//     is silently ignored, the name is passed as sent.
//
// The price: pin/tftp learns the interface MTU, and so how large a block
// it may grant, only when it reads a *net.UDPConn itself (IP_PKTINFO). Fed
// through another net.PacketConn it caps blksize at 512: a client asking
// blksize 1428 is answered an OACK with blksize 512 and transfers in
// 512-byte blocks, which RFC 2348 allows (the server may answer a smaller
// size). Configuration files are a few kilobytes (a handful of blocks);
// firmware loads take proportionally more round trips. For the same
// reason each transfer socket is bound to the wildcard address, so replies
// leave from the address the route to the phone chooses, which is the one
// it asked on for a host with a single address on the phones' network.
// SetBlockSize would only lower the cap and is not used; single-port mode
// (EnableSinglePort) is not used either: its author warns it costs
// performance, and a socket per transfer is what TFTP clients expect.
//
// The timeout option (RFC 2349) is validated (1 to 255 s) but not
// acknowledged: pin/tftp v3.1.0 drops it from the OACK, and the client
// keeps its own timeout while the server uses Config.Timeout.
//
// # windowsize (RFC 7440) is not supported
//
// pin/tftp v3.1.0 does not implement RFC 7440. Its SetAnticipate ("sender
// anticipate") sends several blocks before waiting for an ACK, but it is
// not negotiated: the client is not told, and one that acknowledges every
// block, as RFC 1350 clients do, gets blocks it did not ask for yet. The
// server does not enable it. A windowsize option is validated (1 to 65535)
// and left out of the OACK; RFC 7440 says a client whose windowsize is not
// acknowledged uses a window of one block, that is plain RFC 1350
// lock-step: one block, one ACK. Cisco 79xx phones do not ask for it.
package tftp

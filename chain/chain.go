// Package chain is the journal's hash chain: tamper evidence for the ledger
// transactions (with their entries), the finance audit log and the events.
// It owns the chain_blocks and chain_rows tables.
//
// # Sealing
//
// Writers do nothing for the chain: they take no lock and never wait. A
// background Hasher (one at a time across instances: a PostgreSQL advisory
// lock, SQLite's one writer) reads the rows committed after the last block
// and seals them into the next, writing only the block:
//
//	number, first_position, last_position, row_count, sealed_at,
//	hash = SHA-256(previous block's hash ‖ the block's body),
//	its cursors: how far it sealed each table
//
// A block seals the ledger transactions after the block before's cursor up
// to its own, then the audit entries, then the events; a row's position is
// the block's first position plus its rank there. On SQLite (one writer:
// ids are taken in commit order) the cursors are ids and the events'
// position. On PostgreSQL an id taken earlier can commit after a larger one,
// so ledger transactions and audit entries carry chain_xid, the id of the
// transaction that wrote them (a column default), ordered by (chain_xid,
// id); the hasher seals only rows whose chain_xid is below its snapshot's
// xmin, so no running transaction can still add a row before them. Events
// are sealed by the position the events sequencer gives them after commit.
// Blocks sealed before cursors existed (legacy blocks) wrote each row's
// position into its chain_position column, and are verified from it.
//
// # Canonical encoding
//
// Each row has one line of fields joined by '|'. Every field is UTF-8 text in
// which the bytes '%', '|', ',', ';', and every byte below 0x20 or equal to
// 0x7F are written as '%' and two upper-case hex digits, so that no value
// can forge a separator. Integers are decimal; amounts are integer minor
// units; currencies are ISO 4217 codes; times are UTC, to the microsecond,
// as 2006-01-02T15:04:05.000000Z. The lines are, by kind:
//
//	L|position|transaction id|created_at|idempotency key|description|entries
//	A|position|audit id|at|actor|key_id|key_name|action|subject|before|after|reason
//	E|position|event id|created_at|type|resource|sequence|audience|data
//
// where entries are the transaction's entries in id order, joined by ';',
// each "entry id,account name,currency,D or C,amount". The row's digest is
// the lower-case hex SHA-256 of its line. The block's body has one line per
// row in position order,
//
//	kind|position|time|digest\n
//
// (time is the row's created_at or at, encoded as above), and the block's
// hash is the lower-case hex SHA-256 of the previous block's hash as 32
// bytes (32 zero bytes for block 1) followed by the body. The body holds
// digests rather than lines so that a block stays verifiable once the
// janitor has pruned its events: before it deletes a sealed event, the
// janitor keeps its position, id, time and digest in chain_rows
// (EventPruning; the hasher writes nothing per row, and blocks sealed before
// that kept every event's digest on sealing). A block's events that
// chain_rows does not name take its remaining positions in their order.
// Ledger transactions and audit entries are never pruned, so theirs are
// recomputed from the rows.
//
// # Verifying and anchoring
//
// Check recomputes every block from the rows and names the first block whose
// rows no longer hash to its hash (an amount changed, a row deleted,
// inserted or reordered, an entry moved to another transaction). A missing
// event is taken as pruned only if chain_rows has its digest and it is older
// than the shortest event retention (a day); a younger one is a deletion.
// Latest returns the last block (an anchor: number, hash, time), which Sign
// signs with an Ed25519 key; AnchorCheck proves that the history up to an
// anchor is unchanged and has only grown since.
package chain

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"hash"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate/storage"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the package's schema, for storage.Open. It needs the
// chain_position columns of the ledger, finance and events schemas, and its
// migration 0002 changes those tables for the chain: chain_xid on
// PostgreSQL, the chain's indexes, chain_position frozen.
func Migrations() storage.Migrations {
	return storage.Migrations{Component: "chain", FS: migrationFiles, Dir: "migrations"}
}

// Kind is what a journal row is.
type Kind byte

// The kinds of journal rows, as their lines start.
const (
	Transaction Kind = 'L' // a ledger transaction with its entries
	Audit       Kind = 'A' // a finance audit entry
	Event       Kind = 'E' // an event
)

// TimeFormat is how the canonical encoding writes a time (always UTC).
const TimeFormat = "2006-01-02T15:04:05.000000Z"

// formatTime writes t in UTC to the microsecond.
func formatTime(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format(TimeFormat)
}

// Escape writes s as a field of the canonical encoding: '%', '|', ',', ';'
// and control bytes become %XX.
func Escape(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if needsEscape(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if needsEscape(c) {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func needsEscape(c byte) bool {
	return c < 0x20 || c == 0x7f || c == '%' || c == '|' || c == ',' || c == ';'
}

// line builds one row's canonical line.
type line struct{ b []byte }

func newLine(k Kind, position int64) *line {
	l := &line{b: make([]byte, 0, 256)}
	l.b = append(l.b, byte(k), '|')
	l.b = strconv.AppendInt(l.b, position, 10)
	return l
}

func (l *line) str(s string) *line {
	l.b = append(l.b, '|')
	l.b = append(l.b, Escape(s)...)
	return l
}

func (l *line) int(n int64) *line {
	l.b = append(l.b, '|')
	l.b = strconv.AppendInt(l.b, n, 10)
	return l
}

func (l *line) time(t time.Time) *line { return l.str(formatTime(t)) }

// Entry is one ledger entry as the encoding has it.
type Entry struct {
	ID       int64
	Account  string
	Currency string
	Side     string // "D" or "C"
	Amount   int64  // minor units
}

// TransactionLine is the canonical line of a ledger transaction.
func TransactionLine(position, id int64, createdAt time.Time, key, description string, entries []Entry) string {
	l := newLine(Transaction, position).int(id).time(createdAt).str(key).str(description)
	l.b = append(l.b, '|')
	for i, e := range entries {
		if i > 0 {
			l.b = append(l.b, ';')
		}
		l.b = strconv.AppendInt(l.b, e.ID, 10)
		l.b = append(l.b, ',')
		l.b = append(l.b, Escape(e.Account)...)
		l.b = append(l.b, ',')
		l.b = append(l.b, Escape(e.Currency)...)
		l.b = append(l.b, ',')
		l.b = append(l.b, Escape(e.Side)...)
		l.b = append(l.b, ',')
		l.b = strconv.AppendInt(l.b, e.Amount, 10)
	}
	return string(l.b)
}

// AuditLine is the canonical line of a finance audit entry.
func AuditLine(position, id int64, at time.Time, actor, keyID, keyName, action, subject, before, after, reason string) string {
	return string(newLine(Audit, position).int(id).time(at).str(actor).str(keyID).str(keyName).
		str(action).str(subject).str(before).str(after).str(reason).b)
}

// EventLine is the canonical line of an event.
func EventLine(position int64, id string, createdAt time.Time, typ, resource string, sequence int64, audience, data string) string {
	return string(newLine(Event, position).str(id).time(createdAt).str(typ).str(resource).
		int(sequence).str(audience).str(data).b)
}

// Digest is the lower-case hex SHA-256 of a line.
func Digest(line string) string {
	sum := sha256.Sum256([]byte(line))
	return hex.EncodeToString(sum[:])
}

// Row is one sealed row as a block's body has it.
type Row struct {
	Kind     Kind
	Position int64
	ID       string // the row's id (a transaction or audit id, an event id)
	At       time.Time
	Digest   string
}

// bodyLine is the row's line in its block's body.
func (r Row) bodyLine() string {
	return string(r.Kind) + "|" + strconv.FormatInt(r.Position, 10) + "|" + formatTime(r.At) + "|" + r.Digest + "\n"
}

// BlockHash is the hash of a block whose previous block's hash is prev (""
// for block 1) and whose rows are rows, in position order.
func BlockHash(prev string, rows []Row) (string, error) {
	p := make([]byte, sha256.Size)
	if prev != "" {
		b, err := hex.DecodeString(prev)
		if err != nil || len(b) != sha256.Size {
			return "", errBadHash(prev)
		}
		p = b
	}
	var h hash.Hash = sha256.New()
	h.Write(p)
	for _, r := range rows {
		h.Write([]byte(r.bodyLine()))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

type errBadHash string

func (e errBadHash) Error() string {
	return "chain: previous hash " + strconv.Quote(string(e)) + " is not 64 hex digits"
}

package anchor

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Format names the anchor file format; a reader refuses any other.
const Format = "assetanchor-anchor/1"

// PublicKeyFile is the name of the public key written beside the anchors, for
// outside auditors. Verification never trusts it: see Verifier.
const PublicKeyFile = "anchor.pub"

// Anchor is the signed body of one anchor file.
type Anchor struct {
	Format    string    `json:"format"`
	Sequence  int64     `json:"sequence"` // 1 for the first anchor of a directory
	CreatedAt time.Time `json:"created_at"`
	// Previous is the anchor before this one: its file name and the SHA-256 of
	// its bytes. Nil only for sequence 1.
	Previous *Link `json:"previous"`
	// Horizon is the snapshot's transaction-id horizon: the anchor covers
	// exactly the events whose transaction_id is below it, as the store's
	// readers see the log (eventstore.PostgresStore.ReadAfter).
	Horizon uint64 `json:"horizon"`
	// Head is the last event below the horizon in the log's order
	// (transaction_id, position); nil for an empty log. A log without it is
	// older than this anchor: restored to an earlier point, or cut.
	Head *Head `json:"head"`
	// Full anchors list every stream; the others only those changed since
	// the previous anchor.
	Full bool `json:"full"`
	// RestartedAfter names the newest anchor that was newer than the log when
	// this one was made with --restored, after a point-in-time restore.
	RestartedAfter string `json:"restarted_after,omitempty"`
	// Streams are sorted by stream id.
	Streams []Entry `json:"streams"`
}

// Link points at an anchor file by name and content.
type Link struct {
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
}

// Head is one event's place in the log.
type Head struct {
	EventID       string `json:"event_id"`
	Stream        string `json:"stream"`
	Version       int64  `json:"version"`
	TransactionID uint64 `json:"transaction_id"`
	Position      int64  `json:"position"`
}

// Entry is one stream as anchored: its last version, the hash of that version
// (hex) and the sum of its events' content digests (hex, see contentDigest).
type Entry struct {
	Stream   string `json:"stream"`
	Version  int64  `json:"version"`
	Hash     string `json:"hash"`
	Contents string `json:"contents"`
}

// envelope is the file: the anchor's exact bytes and their signature.
type envelope struct {
	KeyID     string          `json:"key_id"`
	Signature string          `json:"signature"`
	Anchor    json.RawMessage `json:"anchor"`
}

// KeyID names a public key in anchor files: the first 8 bytes of its SHA-256, hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// FileName is the anchor's file name: by sequence, then time, so that names sort
// in the chain's order.
func FileName(a Anchor) string {
	return fmt.Sprintf("anchor-%012d-%s.json", a.Sequence, a.CreatedAt.UTC().Format("20060102T150405Z"))
}

// encode signs a and returns the file's bytes. The signature covers the bytes of
// the "anchor" member exactly as written, so an outside auditor can check it with
// any Ed25519 tool.
func encode(a Anchor, key ed25519.PrivateKey) ([]byte, error) {
	body, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode anchor: %w", err)
	}
	sig := ed25519.Sign(key, body)
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\n\"key_id\": %q,\n\"signature\": %q,\n\"anchor\": ", KeyID(key.Public().(ed25519.PublicKey)),
		base64.StdEncoding.EncodeToString(sig))
	b.Write(body)
	b.WriteString("\n}\n")
	return b.Bytes(), nil
}

// decode checks the file's signature with pub and returns its anchor.
func decode(raw []byte, pub ed25519.PublicKey) (Anchor, error) {
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return Anchor{}, fileError{Unreadable, "not an anchor file: " + err.Error()}
	}
	if env.KeyID != KeyID(pub) {
		return Anchor{}, fileError{BadSignature, fmt.Sprintf("signed by key %s, not the trusted key %s", env.KeyID, KeyID(pub))}
	}
	sig, err := base64.StdEncoding.DecodeString(env.Signature)
	if err != nil || !ed25519.Verify(pub, env.Anchor, sig) {
		return Anchor{}, fileError{BadSignature, "the signature does not match the anchor's content"}
	}
	var a Anchor
	if err := json.Unmarshal(env.Anchor, &a); err != nil {
		return Anchor{}, fileError{Unreadable, err.Error()}
	}
	if a.Format != Format {
		return Anchor{}, fileError{Unreadable, fmt.Sprintf("format %q, not %q", a.Format, Format)}
	}
	return a, nil
}

// fileError is why an anchor file is not trusted.
type fileError struct {
	kind   Kind
	detail string
}

func (e fileError) Error() string { return e.kind.String() + ": " + e.detail }

// ErrNoPublicKey means a public key file holds no Ed25519 public key.
var ErrNoPublicKey = errors.New("not an Ed25519 public key (PEM \"PUBLIC KEY\" or base64 of 32 bytes)")

// EncodePublicKey is the PEM ("PUBLIC KEY", PKIX) of pub, which OpenSSL reads.
func EncodePublicKey(pub ed25519.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub) // an ed25519.PublicKey always marshals
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// ParsePublicKey reads a public key as EncodePublicKey writes it, or the base64
// of its 32 bytes.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	if block, _ := pem.Decode(data); block != nil {
		key, err := x509.ParsePKIXPublicKey(block.Bytes)
		if pub, ok := key.(ed25519.PublicKey); err == nil && ok {
			return pub, nil
		}
		return nil, ErrNoPublicKey
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, ErrNoPublicKey
	}
	return ed25519.PublicKey(raw), nil
}

// loaded is one anchor file read from a directory.
type loaded struct {
	file   string
	sum    string // SHA-256 of the file's bytes, hex
	anchor Anchor
	err    error // unreadable or bad signature: its content is not trusted
}

// anchorFiles lists the anchor files of dir in chain order.
func anchorFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list anchors: %w", err)
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); e.Type().IsRegular() && strings.HasPrefix(n, "anchor-") && strings.HasSuffix(n, ".json") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// loadFile reads and checks one anchor file.
func loadFile(dir, name string, pub ed25519.PublicKey) (loaded, error) {
	raw, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return loaded{}, fmt.Errorf("read anchor: %w", err)
	}
	sum := sha256.Sum256(raw)
	l := loaded{file: name, sum: hex.EncodeToString(sum[:])}
	l.anchor, l.err = decode(raw, pub)
	return l, nil
}

// chainFindings checks the links between consecutive anchors: sequences without
// gaps from 1, each naming its predecessor's file and bytes.
func chainFindings(chain []loaded) []Finding {
	var out []Finding
	for i, l := range chain {
		if l.err != nil {
			f := Finding{Kind: Unreadable, Anchor: l.file, Detail: l.err.Error()}
			var fe fileError
			if errors.As(l.err, &fe) {
				f.Kind, f.Detail = fe.kind, fe.detail
			}
			out = append(out, f)
			continue
		}
		a := l.anchor
		switch {
		case a.Sequence != int64(i+1):
			out = append(out, Finding{Kind: ChainBroken, Anchor: l.file,
				Detail: fmt.Sprintf("it is anchor %d, but %d anchor file(s) come before it: an anchor file is missing or was added", a.Sequence, i)})
		case i == 0 && a.Previous != nil:
			out = append(out, Finding{Kind: ChainBroken, Anchor: l.file,
				Detail: "it follows " + a.Previous.File + ", which is not in the directory"})
		case i > 0 && chain[i-1].err == nil && (a.Previous == nil || a.Previous.File != chain[i-1].file || a.Previous.SHA256 != chain[i-1].sum):
			out = append(out, Finding{Kind: ChainBroken, Anchor: l.file,
				Detail: "its previous anchor is not " + chain[i-1].file + " as it stands: that file was replaced or changed"})
		}
	}
	return out
}

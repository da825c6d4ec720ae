package rapyd

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
)

// Signature returns the signature of a request to Rapyd's REST API:
//
//	BASE64(hex(HMAC_SHA256(secretKey, lower(method) + path + salt + timestamp + accessKey + secretKey + body)))
//
// path is everything after the API host, query string included
// ("/v1/payment_methods/countries/KR?currency=KRW"); timestamp is in Unix
// seconds; body is the exact bytes sent, empty for a request without a body.
// The Base64 step encodes the lowercase hex text of the MAC, not the raw
// digest, so the result is always 88 characters long.
func Signature(method, path, salt string, timestamp int64, accessKey, secretKey string, body []byte) string {
	return sign(strings.ToLower(method)+path, salt, timestamp, accessKey, secretKey, body)
}

// WebhookSignature returns the signature Rapyd puts on a webhook: the
// construction of Signature with no HTTP method and, in place of the path,
// the whole webhook URL as configured at Rapyd (scheme and host included):
//
//	BASE64(hex(HMAC_SHA256(secretKey, url + salt + timestamp + accessKey + secretKey + body)))
func WebhookSignature(url, salt string, timestamp int64, accessKey, secretKey string, body []byte) string {
	return sign(url, salt, timestamp, accessKey, secretKey, body)
}

func sign(prefix, salt string, timestamp int64, accessKey, secretKey string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secretKey))
	mac.Write([]byte(prefix))
	mac.Write([]byte(salt))
	mac.Write(strconv.AppendInt(nil, timestamp, 10))
	mac.Write([]byte(accessKey))
	mac.Write([]byte(secretKey))
	mac.Write(body)
	hexMAC := make([]byte, hex.EncodedLen(sha256.Size))
	hex.Encode(hexMAC, mac.Sum(nil))
	return base64.StdEncoding.EncodeToString(hexMAC)
}

// signatureEqual compares two signatures in constant time.
func signatureEqual(a, b string) bool {
	return hmac.Equal([]byte(a), []byte(b))
}

// keyHint names a key without revealing it: its prefix up to the last "_"
// of its first 8 characters ("rak_") and, if the key has 16 characters or
// more, "…" and its last 4. A key without such a prefix shows only the
// last 4, and a short one nothing but "…".
func keyHint(key string) string {
	printable := func(s string) bool {
		return !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r > '~' })
	}
	prefix, last := "", ""
	if i := strings.LastIndexByte(key[:min(len(key), 8)], '_'); i >= 0 && printable(key[:i+1]) {
		prefix = key[:i+1]
	}
	if len(key) >= 16 && printable(key[len(key)-4:]) {
		last = key[len(key)-4:]
	}
	return prefix + "…" + last
}

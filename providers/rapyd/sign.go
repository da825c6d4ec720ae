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

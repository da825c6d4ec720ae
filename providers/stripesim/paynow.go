package stripesim

import (
	"bytes"
	"fmt"
	"time"

	qrcode "github.com/skip2/go-qrcode"
)

// PayNow QR defaults.
const (
	defaultMerchant = "PAYGATE SANDBOX"
	// defaultUEN is the proxy the sandbox QR codes pay to: a made-up UEN
	// (Unique Entity Number) in the format of a local company's.
	defaultUEN = "209900001Z"
	// payNowValidity is how long a PayNow QR code stays payable (Stripe's
	// refresh after an hour, as third parties report it).
	payNowValidity = time.Hour
)

// qrPNG renders a payload as a PNG QR code.
func qrPNG(payload string) ([]byte, error) {
	png, err := qrcode.Encode(payload, qrcode.Medium, 320)
	if err != nil {
		return nil, fmt.Errorf("stripesim: encode qr png: %w", err)
	}
	return png, nil
}

// qrSVG renders a payload as an SVG QR code, one rect per dark module.
func qrSVG(payload string) ([]byte, error) {
	q, err := qrcode.New(payload, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("stripesim: encode qr svg: %w", err)
	}
	bm := q.Bitmap() // includes the quiet zone
	n := len(bm)
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="320" height="320" shape-rendering="crispEdges">`, n, n)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n)
	for y, row := range bm {
		for x, dark := range row {
			if dark {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x, y)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return b.Bytes(), nil
}

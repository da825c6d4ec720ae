package stripesim

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The South Korean payment method types: redirect methods in krw (a
// zero-decimal currency: amount 15000 is 15,000 won).
const (
	typeKakaoPay   = "kakao_pay"
	typeSamsungPay = "samsung_pay"

	// koreanSince is the first API version that knows them
	// (2024-10-28.acacia). A request for them with an older Stripe-Version
	// (stripe-go v76 sends 2023-10-16) is refused as Stripe refuses a type
	// its version does not have.
	koreanSince = "2024-10-28"

	// Their amount limits, in won: Kakao Pay from 100; Samsung Pay 100 to
	// 2,000,000 (Stripe's accept-a-payment pages of each).
	minKoreanKRW     = 100
	maxSamsungPayKRW = 2_000_000
)

func korean(t string) bool { return t == typeKakaoPay || t == typeSamsungPay }

// checkKoreanVersion refuses a create or confirm that names a South Korean
// type under an API version older than koreanSince. The version is the
// request's Stripe-Version header; without one, Stripe uses the account's
// default, which the simulator takes to be the 2023-10-16 it answers in.
func checkKoreanVersion(r *http.Request, f *form) *apiError {
	var types []string
	if list, ok := f.list("payment_method_types"); ok {
		types = append(types, list...)
	}
	if t, ok := f.str("payment_method_data", "type"); ok {
		types = append(types, t)
	}
	version := r.Header.Get("Stripe-Version")
	if version == "" {
		version = apiVersion
	}
	for _, t := range types {
		if korean(t) && version[:min(len(version), len(koreanSince))] < koreanSince {
			return invalid("", "payment_method_types",
				"The payment method type %q is invalid under API version %s: it needs API version %s or later (send a Stripe-Version header).",
				t, version, koreanSince+".acacia")
		}
	}
	return nil
}

// checkAmountLimits applies a method's amount limits, as Stripe does.
func checkAmountLimits(t string, amount int64) *apiError {
	switch t {
	case typeKakaoPay, typeSamsungPay:
		if amount < minKoreanKRW {
			return invalid("amount_too_small", "amount", "Amount must be at least %d krw for %s.", minKoreanKRW, t)
		}
		if t == typeSamsungPay && amount > maxSamsungPayKRW {
			return invalid("amount_too_large", "amount", "Amount must be no more than %d krw for samsung_pay.", maxSamsungPayKRW)
		}
	}
	return nil
}

// walletLabel is how the wallet page names a South Korean type.
func walletLabel(t string) string {
	if t == typeSamsungPay {
		return "Samsung Pay"
	}
	return "Kakao Pay"
}

// walletPage is the Korean wallet's approval page, where Stripe's local
// processor partner would authenticate the buyer.
func (s *Simulator) walletPage(w http.ResponseWriter, r *http.Request) {
	pi, ok := s.lookupPage(r.PathValue("id"), "redirect_to_url")
	if !ok || pi.LastMethod == nil || !korean(pi.LastMethod.Type) {
		s.notFoundPage(w, r.PathValue("id"))
		return
	}
	s.render(w, http.StatusOK, "wallet.html", s.basePage(pi, walletLabel(pi.LastMethod.Type)))
}

// walletAction approves or declines from the wallet page, then sends the
// buyer to the return URL as iDEAL's page does.
func (s *Simulator) walletAction(w http.ResponseWriter, r *http.Request) {
	if s.crossSite(w, r) {
		return
	}
	id := r.PathValue("id")
	o, ok := outcomeOf(r.PathValue("action"))
	pi, found := s.lookupPage(id, "redirect_to_url")
	if !ok || !found || pi.LastMethod == nil || !korean(pi.LastMethod.Type) {
		s.notFoundPage(w, id)
		return
	}
	s.finishRedirect(w, r, id, o, "")
}

// searchParams are the parameters of GET /v1/payment_intents/search.
func searchParams() []string { return []string{"query", "limit", "page", "expand"} }

// search handles GET /v1/payment_intents/search for the one query clause
// paygate sends, metadata['key']:'value', newest first. Unlike Stripe's
// search, which may take up to a minute to see a new payment intent, it
// sees every payment intent at once. Caller holds s.mu.
func (s *Simulator) search(f *form, exp expansions) ([]byte, *apiError) {
	if aerr := checkParams(f, searchParams()); aerr != nil {
		return nil, aerr
	}
	q, _ := f.str("query")
	key, value, ok := parseMetadataQuery(q)
	if !ok {
		return nil, invalid("", "query", "The Stripe sandbox searches only metadata['key']:'value', not %q.", q)
	}
	limit := int64(10)
	if f.has("limit") {
		v, _ := f.str("limit")
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > 100 {
			return nil, invalid("", "limit", "limit must be an integer from 1 to 100.")
		}
		limit = n
	}
	var hits []*intent
	for _, pi := range s.intents {
		if v, ok := pi.Metadata[key]; ok && v == value {
			hits = append(hits, pi)
		}
	}
	slices.SortFunc(hits, func(a, b *intent) int { return cmp.Or(cmp.Compare(b.Created, a.Created), strings.Compare(b.ID, a.ID)) })
	data := []*intentJSON{}
	for _, pi := range hits[:min(len(hits), int(limit))] {
		data = append(data, pi.toJSON(exp))
	}
	return marshal(map[string]any{
		"object": "search_result", "data": data, "has_more": len(hits) > int(limit),
		"next_page": nil, "url": "/v1/payment_intents/search",
	}), nil
}

// parseMetadataQuery reads metadata['key']:'value' (quotes in the value
// escaped with a backslash).
func parseMetadataQuery(q string) (key, value string, ok bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(q), "metadata['")
	if !ok {
		return "", "", false
	}
	key, rest, ok = strings.Cut(rest, "']:'")
	if !ok || key == "" || !strings.HasSuffix(rest, "'") {
		return "", "", false
	}
	value = strings.ReplaceAll(rest[:len(rest)-1], `\'`, `'`)
	return key, value, true
}

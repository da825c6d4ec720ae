package rapyd

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/taxid"
)

// Rapyd names its payment method types <country>_<name>_<category>
// (sg_paynow_bank), but which names it gives iDEAL, Boleto, KakaoPay and
// Samsung Pay is not published anywhere we looked. The client therefore
// never guesses a type: it takes it from Rapyd's list of the payment
// methods of the method's country and currency (List Payment Methods by
// Country), cached, or from Config.MethodTypes.

// DefaultCountries returns the country whose Rapyd payment methods serve
// each method when Config.Countries does not name one: iDEAL NL, PayNow
// SG, Boleto BR, KakaoPay and Samsung Pay KR.
func DefaultCountries() map[providers.Method]string {
	return map[providers.Method]string{
		providers.IDEAL:      "NL",
		providers.PayNow:     "SG",
		providers.Boleto:     "BR",
		providers.KakaoPay:   DefaultCountry,
		providers.SamsungPay: DefaultCountry,
	}
}

// DefaultMethodListTTL is how long a list of payment method types is used
// before it is fetched again, when Config.MethodListTTL is zero.
const DefaultMethodListTTL = time.Hour

// listRetry is how old a cached list must be for a method it lacks to
// fetch it again: a type Rapyd has just enabled is found within this
// time, and a method Rapyd does not offer costs at most one list call per
// country and currency in this time.
const listRetry = time.Minute

// refundableTimeout bounds the list call Refundable makes, which has no
// context of its caller's.
const refundableTimeout = 10 * time.Second

// categories are the Rapyd categories each method's type may have. A
// bank redirect's type ends in _bank, and PayNow's QR is a bank transfer
// (sg_paynow_bank), which some lists may call a bank redirect or a
// wallet.
var categories = map[providers.Method][]string{
	providers.IDEAL:      {"bank_redirect", "bank_transfer", "bank"},
	providers.PayNow:     {"bank_transfer", "bank_redirect", "bank", "ewallet"},
	providers.Boleto:     {"cash"},
	providers.KakaoPay:   {"ewallet"},
	providers.SamsungPay: {"ewallet"},
}

// MethodType is one payment method type Rapyd offers in a country.
type MethodType struct {
	Type            string
	Name            string
	Category        string
	Country         string
	Currencies      []string
	IsCancelable    bool
	IsRefundable    bool
	IsExpirable     bool
	PaymentFlowType string
	// Listed says the type is in Rapyd's list; a type of
	// Config.MethodTypes that Rapyd does not list has only Type, Country
	// and Currencies.
	Listed bool
	// Fields are the fields of payment_method.fields Rapyd describes for
	// the type; CreatePayment fills the required ones from the payer.
	Fields []MethodField
}

// MethodField is a field of a payment method type's payment_method.fields.
type MethodField struct {
	Name     string
	Type     string
	Regex    string
	Required bool
}

// listKey names one list of payment method types.
type listKey struct {
	country  string
	currency paygate.Currency
}

// cachedList is a list of payment method types and when it was fetched.
type cachedList struct {
	types   []MethodType
	fetched time.Time
}

// methodCache holds the lists of payment method types by country and
// currency. Two callers that miss at once both fetch; the last answer
// stays.
type methodCache struct {
	mu    sync.Mutex
	lists map[listKey]cachedList
}

func (mc *methodCache) get(k listKey) (cachedList, bool) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	l, ok := mc.lists[k]
	return l, ok
}

func (mc *methodCache) put(k listKey, l cachedList) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	mc.lists[k] = l
}

func (mc *methodCache) drop(k listKey) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	delete(mc.lists, k)
}

// Country returns the country whose Rapyd payment methods serve m
// (Config.Countries, else DefaultCountries), or "" for a method not in
// the catalog.
func (c *Client) Country(m providers.Method) string { return c.countries[m] }

// ListMethodTypes lists the payment method types Rapyd offers in country
// for currency (GET /v1/payment_methods/countries/{country}?currency=…),
// fresh from Rapyd, and caches the answer for the methods' resolution.
func (c *Client) ListMethodTypes(ctx context.Context, country string, currency paygate.Currency) ([]MethodType, error) {
	k := listKey{country: strings.ToUpper(country), currency: currency}
	l, err := c.fetchList(ctx, k)
	if err != nil {
		return nil, err
	}
	return slices.Clone(l.types), nil
}

// MethodTypes lists the payment method types Rapyd offers for KRW in the
// country of KakaoPay (KR unless configured otherwise), as earlier versions
// of the client did; ListMethodTypes lists any country's.
func (c *Client) MethodTypes(ctx context.Context) ([]MethodType, error) {
	return c.ListMethodTypes(ctx, c.countries[providers.KakaoPay], paygate.KRW)
}

func (c *Client) fetchList(ctx context.Context, k listKey) (cachedList, error) {
	path := "/v1/payment_methods/countries/" + url.PathEscape(k.country) + "?currency=" + url.QueryEscape(string(k.currency))
	data, err := c.call(ctx, http.MethodGet, path, nil, "")
	if err != nil {
		return cachedList{}, fmt.Errorf("list the payment methods of %s in %s: %w", k.country, k.currency, err)
	}
	var items []methodType
	if err := json.Unmarshal(data, &items); err != nil {
		return cachedList{}, &paygate.Error{Code: paygate.EUNAVAILABLE, Message: "rapyd: unreadable list of payment methods", Err: err}
	}
	l := cachedList{types: make([]MethodType, len(items)), fetched: c.now()}
	for i, it := range items {
		l.types[i] = it.public()
	}
	c.cache.put(k, l)
	return l, nil
}

// list returns the cached list of k, fetched when it is missing or older
// than the TTL, or, with refresh, older than listRetry.
func (c *Client) list(ctx context.Context, k listKey, refresh bool) (cachedList, error) {
	l, ok := c.cache.get(k)
	age := c.now().Sub(l.fetched)
	if ok && age < c.ttl && (!refresh || age < listRetry) {
		return l, nil
	}
	return c.fetchList(ctx, k)
}

// ResolveMethodType returns the Rapyd payment method type of m: the one
// Config.MethodTypes names, described by the list of m's country and
// currency if the list has it, else the one of that list whose category
// fits m (a bank redirect for iDEAL, cash for Boleto, …) and whose name
// is m's: the <name> part of the type (nl_ideal_bank), or its display
// name ("iDEAL"), compared without case, spaces or punctuation. An exact
// name beats a name that merely contains m's ("Samsung Pay ewallet
// (Korea)").
//
// The list is cached for Config.MethodListTTL; a method it lacks makes
// it fetched again if it is older than a minute. A method Rapyd does not
// list (or lists twice, equally well) is an EUNAVAILABLE error wrapping
// providers.ErrMethodUnavailable; a list Rapyd cannot give, EUNAVAILABLE;
// a method not in the catalog, EINVALID.
func (c *Client) ResolveMethodType(ctx context.Context, m providers.Method) (MethodType, error) {
	mi, ok := providers.Lookup(m)
	if !ok {
		return MethodType{}, paygate.Errorf(paygate.EINVALID, "rapyd: %q is not a payment method paygate knows", paygate.Clip(string(m), 32))
	}
	k := listKey{country: c.countries[m], currency: mi.Currency}
	configured := c.methodTypes[m]
	if configured != "" {
		l, err := c.list(ctx, k, false)
		if err != nil {
			return MethodType{}, err
		}
		if t, found := findType(l.types, configured); found {
			return t, nil
		}
		// Configuration is not a guess: the type is used even if the
		// list does not have it (CheckMethodTypes reports that).
		return MethodType{Type: configured, Country: k.country, Currencies: []string{string(mi.Currency)}}, nil
	}
	l, err := c.list(ctx, k, false)
	if err != nil {
		return MethodType{}, err
	}
	t, err := matchType(mi, l.types)
	if err != nil && providers.IsMethodUnavailable(err) && c.now().Sub(l.fetched) >= listRetry {
		if l, err = c.list(ctx, k, true); err != nil {
			return MethodType{}, err
		}
		t, err = matchType(mi, l.types)
	}
	if err != nil {
		return MethodType{}, fmt.Errorf("rapyd: %s in %s: %w", mi.Label, k.country, err)
	}
	return t, nil
}

// cachedType returns m's type as ResolveMethodType would, from the cache
// only (however old), without calling Rapyd.
func (c *Client) cachedType(m providers.Method) (MethodType, bool) {
	mi, ok := providers.Lookup(m)
	if !ok {
		return MethodType{}, false
	}
	l, ok := c.cache.get(listKey{country: c.countries[m], currency: mi.Currency})
	if !ok {
		return MethodType{}, false
	}
	if typ := c.methodTypes[m]; typ != "" {
		return findType(l.types, typ)
	}
	t, err := matchType(mi, l.types)
	return t, err == nil
}

func findType(types []MethodType, typ string) (MethodType, bool) {
	for _, t := range types {
		if t.Type == typ {
			return t, true
		}
	}
	return MethodType{}, false
}

// matchType finds mi's type in a list; see ResolveMethodType.
func matchType(mi providers.MethodInfo, types []MethodType) (MethodType, error) {
	key := normalizeName(string(mi.Method))
	var best []MethodType
	bestScore := 0
	for _, t := range types {
		if !slices.Contains(categories[mi.Method], strings.ToLower(t.Category)) {
			continue
		}
		if len(t.Currencies) > 0 && !slices.ContainsFunc(t.Currencies, func(s string) bool { return strings.EqualFold(s, string(mi.Currency)) }) {
			continue
		}
		score := nameScore(key, t)
		switch {
		case score == 0 || score < bestScore:
		case score > bestScore:
			best, bestScore = []MethodType{t}, score
		default:
			best = append(best, t)
		}
	}
	switch len(best) {
	case 0:
		return MethodType{}, &paygate.Error{Code: paygate.EUNAVAILABLE,
			Message: fmt.Sprintf("rapyd: Rapyd lists no payment method type for %s in %s", mi.Label, mi.Currency),
			Err:     providers.ErrMethodUnavailable}
	case 1:
		return best[0], nil
	}
	names := make([]string, len(best))
	for i, t := range best {
		names[i] = t.Type
	}
	return MethodType{}, &paygate.Error{Code: paygate.EUNAVAILABLE,
		Message: fmt.Sprintf("rapyd: Rapyd lists %s for %s; name one in rapyd.Config.MethodTypes", strings.Join(names, ", "), mi.Label),
		Err:     providers.ErrMethodUnavailable}
}

// nameScore says how well a type's names match key: 4 for the <name>
// part of its type, 3 for its display name, 2 and 1 for either merely
// containing key, 0 for no match.
func nameScore(key string, t MethodType) int {
	part := normalizeName(typeName(t.Type))
	name := normalizeName(t.Name)
	switch {
	case part == key:
		return 4
	case name == key:
		return 3
	case strings.Contains(part, key):
		return 2
	case strings.Contains(name, key):
		return 1
	}
	return 0
}

// typeName returns the <name> of a type <country>_<name>_<category>.
func typeName(typ string) string {
	_, rest, ok := strings.Cut(typ, "_")
	if !ok {
		return typ
	}
	if i := strings.LastIndexByte(rest, '_'); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// normalizeName lower-cases s and keeps only its ASCII letters and digits.
func normalizeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			return r
		case 'A' <= r && r <= 'Z':
			return r - 'A' + 'a'
		}
		return -1
	}, s)
}

// Refundable reports whether Refund asks Rapyd to refund m's payments:
// Config.Refundable if it names m, else the is_refundable of m's type in
// Rapyd's list. Without the list cached, it fetches it (bounded by ten
// seconds); if Rapyd cannot answer, it falls back to the catalog's
// MethodInfo.Refundable and fetches again on the next call. Refund itself
// decides with the list, and its error, when Rapyd cannot answer.
func (c *Client) Refundable(m providers.Method) bool {
	if ok, set := c.refundable[m]; set {
		return ok
	}
	if t, ok := c.cachedType(m); ok && t.Listed {
		return t.IsRefundable
	}
	ctx, cancel := context.WithTimeout(context.Background(), refundableTimeout)
	defer cancel()
	ok, err := c.refundableMethod(ctx, m)
	if err != nil {
		c.log(ctx).Warn().Err(err).Str(fieldPaymentMethod, string(m)).
			Msg("rapyd: refundability unknown: the list of payment methods failed; using the catalog's")
		mi, _ := providers.Lookup(m)
		return mi.Refundable
	}
	return ok
}

// methodOfType returns the method whose Rapyd type is typ, among the
// methods of currency cur: the one Config.MethodTypes maps to it, or the
// one of typ's country that resolves to it. ok is false when none does.
func (c *Client) methodOfType(ctx context.Context, typ string, cur paygate.Currency) (m providers.Method, ok bool, err error) {
	for _, mi := range providers.Catalog() {
		if mi.Currency != cur {
			continue
		}
		if conf := c.methodTypes[mi.Method]; conf != "" {
			if conf == typ {
				return mi.Method, true, nil
			}
			continue
		}
		if !strings.EqualFold(typeCountry(typ), c.countries[mi.Method]) {
			continue
		}
		t, err := c.ResolveMethodType(ctx, mi.Method)
		if providers.IsMethodUnavailable(err) {
			continue
		}
		if err != nil {
			return "", false, err
		}
		if t.Type == typ {
			return mi.Method, true, nil
		}
	}
	return "", false, nil
}

// refundableMethod is Refundable with the caller's context and Rapyd's
// error: Config.Refundable, else the listed type's is_refundable, else
// (a configured type Rapyd does not list) the catalog's.
func (c *Client) refundableMethod(ctx context.Context, m providers.Method) (bool, error) {
	if ok, set := c.refundable[m]; set {
		return ok, nil
	}
	t, err := c.ResolveMethodType(ctx, m)
	if err != nil {
		return false, err
	}
	if !t.Listed {
		mi, _ := providers.Lookup(m)
		return mi.Refundable, nil
	}
	return t.IsRefundable, nil
}

// typeCountry returns the country prefix of a type, upper-cased ("NL").
func typeCountry(typ string) string {
	cc, _, _ := strings.Cut(typ, "_")
	return strings.ToUpper(cc)
}

// CheckMethodTypes confirms that every payment method type of
// Config.MethodTypes is in Rapyd's list of its method's country and
// currency, and returns an EINVALID error naming those that are not.
func (c *Client) CheckMethodTypes(ctx context.Context) error {
	var missing []string
	for _, mi := range providers.Catalog() {
		typ := c.methodTypes[mi.Method]
		if typ == "" {
			continue
		}
		l, err := c.list(ctx, listKey{country: c.countries[mi.Method], currency: mi.Currency}, true)
		if err != nil {
			return err
		}
		if _, ok := findType(l.types, typ); !ok {
			missing = append(missing, fmt.Sprintf("%s (%s in %s)", typ, mi.Method, c.countries[mi.Method]))
		}
	}
	if len(missing) > 0 {
		return paygate.Errorf(paygate.EINVALID, "rapyd: Rapyd does not offer the configured payment method types %s", strings.Join(missing, ", "))
	}
	return nil
}

// CheckRefundable confirms that every method Config.Refundable says Refund
// refunds is refundable at Rapyd by its type's is_refundable, and returns
// an EINVALID error naming those that are not. Methods Rapyd does not
// list are CheckMethodTypes' (or ResolveMethodType's) to report.
func (c *Client) CheckRefundable(ctx context.Context) error {
	var wrong []string
	for _, mi := range providers.Catalog() {
		if !c.refundable[mi.Method] {
			continue
		}
		t, err := c.ResolveMethodType(ctx, mi.Method)
		if providers.IsMethodUnavailable(err) {
			continue
		}
		if err != nil {
			return err
		}
		if t.Listed && !t.IsRefundable {
			wrong = append(wrong, fmt.Sprintf("%s (%s)", t.Type, mi.Method))
		}
	}
	if len(wrong) > 0 {
		return paygate.Errorf(paygate.EINVALID, "rapyd: Rapyd says the payment method types %s are not refundable; set rapyd.Config.Refundable to false for them",
			strings.Join(wrong, ", "))
	}
	return nil
}

// payerFields are the payer's details by the names Rapyd's fields may
// have, for a method that needs the payer (Boleto). Names are compared
// normalized (normalizeName).
func payerFields(p providers.Payer) map[string]string {
	first, last, _ := strings.Cut(strings.TrimSpace(p.Name), " ")
	tax := taxid.Normalize(p.TaxID)
	a := p.Address
	out := map[string]string{
		"name": p.Name, "fullname": p.Name, "customername": p.Name, "payername": p.Name,
		"firstname": first, "lastname": strings.TrimSpace(last),
		"email": p.Email, "emailaddress": p.Email, "customeremail": p.Email,
		"phone": p.Phone, "phonenumber": p.Phone,
		"documentid": tax, "document": tax, "cpf": tax, "cnpj": tax, "taxid": tax, "cpfcnpj": tax,
		"identificationnumber": tax, "nationalid": tax,
		"line1": a.Line1, "address": a.Line1, "addressline1": a.Line1, "street": a.Line1,
		"line2": a.Line2, "addressline2": a.Line2,
		"city": a.City, "state": a.State, "postalcode": a.PostalCode, "zip": a.PostalCode, "zipcode": a.PostalCode,
		"country": a.Country,
	}
	return out
}

// defaultPayerFields are the fields sent for a method that needs the
// payer when Rapyd's list describes none for its type.
var defaultPayerFields = []string{"name", "email", "document_id", "line_1", "city", "state", "postal_code", "country"}

// methodFields returns payment_method.fields for a payment of mi by p:
// the fields t requires, filled from p. It returns an EINVALID error for a
// required field the payer lacks or Rapyd's regex refuses, or a CPF or
// CNPJ with wrong check digits. A method that does not need the payer has
// no fields.
func methodFields(mi providers.MethodInfo, t MethodType, p providers.Payer) (map[string]string, error) {
	if !mi.NeedsPayer {
		return nil, nil
	}
	if tax := taxid.Normalize(p.TaxID); !taxid.Valid(tax) {
		return nil, paygate.Errorf(paygate.EINVALID, "rapyd: %s needs the payer's CPF or CNPJ with valid check digits", mi.Label)
	}
	values := payerFields(p)
	names := defaultPayerFields
	if len(t.Fields) > 0 {
		names = nil
		for _, f := range t.Fields {
			if f.Required {
				names = append(names, f.Name)
			}
		}
	}
	out := make(map[string]string, len(names))
	for _, name := range names {
		v, known := values[normalizeName(name)]
		if !known {
			return nil, paygate.Errorf(paygate.EINVALID, "rapyd: %s (%s) requires the field %q, which paygate does not know of a payer", mi.Label, t.Type, paygate.Clip(name, 64))
		}
		if strings.TrimSpace(v) == "" {
			return nil, paygate.Errorf(paygate.EINVALID, "rapyd: %s requires the payer's %s", mi.Label, paygate.Clip(name, 64))
		}
		if f, ok := fieldOf(t, name); ok && f.Regex != "" {
			// Rapyd's regexes may use syntax Go lacks: those are not checked.
			if re, err := regexp.Compile(f.Regex); err == nil && !re.MatchString(v) {
				return nil, paygate.Errorf(paygate.EINVALID, "rapyd: the payer's %s is not as %s requires", paygate.Clip(name, 64), mi.Label)
			}
		}
		out[name] = v
	}
	return out, nil
}

func fieldOf(t MethodType, name string) (MethodField, bool) {
	for _, f := range t.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return MethodField{}, false
}

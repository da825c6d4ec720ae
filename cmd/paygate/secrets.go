package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
)

// Secrets come only from the environment or from a file, never from a
// flag (a flag shows in ps and in shell history). For each secret NAME:
//
//   - NAME holds the value itself, or
//   - NAME_FILE holds the path of a file with the value (one trailing
//     newline, "\n" or "\r\n", is trimmed).
//
// Setting both is refused. The file must be a regular file not readable
// or writable by group or others (mode 0600 or 0400: a Kubernetes secret
// volume needs defaultMode 0400), at most maxSecretFile bytes, and not
// empty. Error messages name the variable and the path, never the value.

// secretNames are every secret paygate reads.
func secretNames() []string {
	return []string{
		"PAYGATE_API_KEY", "PAYGATE_FINANCE_KEY", "PAYGATE_CHECKOUT_SECRET", "PAYGATE_SESSION_KEY",
		"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "RAPYD_ACCESS_KEY", "RAPYD_SECRET_KEY",
	}
}

// maxSecretFile bounds a secret file.
const maxSecretFile = 64 << 10

// secret returns the secret name from the environment or from its _FILE,
// "" when neither is set.
func secret(getenv func(string) string, name string) (string, error) {
	v, path := getenv(name), getenv(name+"_FILE")
	switch {
	case v != "" && path != "":
		return "", fmt.Errorf("%s and %s_FILE are both set: set one", name, name)
	case path == "":
		return v, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	switch {
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("%s_FILE: %s is not a regular file", name, path)
	case fi.Mode().Perm()&0o077 != 0:
		return "", fmt.Errorf("%s_FILE: %s is accessible by group or others (mode %04o): chmod 600 it", name, path, fi.Mode().Perm())
	case fi.Size() > maxSecretFile:
		return "", fmt.Errorf("%s_FILE: %s is larger than %d bytes", name, path, maxSecretFile)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return "", fmt.Errorf("%s_FILE: %s is empty", name, path)
	}
	return s, nil
}

// secrets reads every secret of secretNames into a map by name.
func secrets(getenv func(string) string) (map[string]string, error) {
	out := map[string]string{}
	for _, name := range secretNames() {
		v, err := secret(getenv, name)
		if err != nil {
			return nil, err
		}
		out[name] = v
	}
	return out, nil
}

// keyHash reads a static API key given by its SHA-256 in hex (NAME_SHA256),
// refusing it beside the key itself.
func keyHash(getenv func(string) string, name, plain string) ([]byte, error) {
	v := getenv(name + "_SHA256")
	if v == "" {
		return nil, nil
	}
	if plain != "" {
		return nil, fmt.Errorf("%s and %s_SHA256 are both set: set one", name, name)
	}
	h, err := hex.DecodeString(strings.TrimSpace(v))
	if err != nil || len(h) != 32 {
		return nil, fmt.Errorf("%s_SHA256 is not a SHA-256 in hex (64 hex digits; sha256sum prints it)", name)
	}
	return h, nil
}

// readSecrets fills c's secrets from the environment or their files.
func (c *appConfig) readSecrets(getenv func(string) string) error {
	s, err := secrets(getenv)
	if err != nil {
		return err
	}
	c.apiKey, c.financeKey, c.checkoutSecret = s["PAYGATE_API_KEY"], s["PAYGATE_FINANCE_KEY"], s["PAYGATE_CHECKOUT_SECRET"]
	c.sessionKey = s["PAYGATE_SESSION_KEY"]
	c.stripeSecretKey, c.stripeWebhookSecret = s["STRIPE_SECRET_KEY"], s["STRIPE_WEBHOOK_SECRET"]
	c.rapydAccessKey, c.rapydSecretKey = s["RAPYD_ACCESS_KEY"], s["RAPYD_SECRET_KEY"]
	if c.apiKeySHA256, err = keyHash(getenv, "PAYGATE_API_KEY", c.apiKey); err != nil {
		return err
	}
	if c.financeKeySHA256, err = keyHash(getenv, "PAYGATE_FINANCE_KEY", c.financeKey); err != nil {
		return err
	}
	return nil
}

// secretValues are the secrets the log masks wherever they appear: the
// providers', the checkout's and the finance sessions'. The static API keys are not among them:
// their plain text is dropped once hashed, and nothing logs a key.
func (c *appConfig) secretValues() []string {
	return []string{c.checkoutSecret, c.sessionKey, c.stripeSecretKey, c.stripeWebhookSecret, c.rapydAccessKey, c.rapydSecretKey}
}

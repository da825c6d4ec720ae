package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paygate/paygate/storage/storagetest"
)

// The passwords of the DSN tests.
const (
	dsnUserPassword  = "dsn-user-password-0123456789"
	dsnQueryPassword = "dsn-query-password-0123456789"
)

// TestDSNPasswordNotLogged runs every command on a PostgreSQL URL with a
// password in its user part and in ?password=: on an unreachable server the
// error names the URL with both masked; on a reachable one (the test
// PostgreSQL, which ignores the password) serve's and sweep's logs never
// show them.
func TestDSNPasswordNotLogged(t *testing.T) {
	report := filepath.Join(t.TempDir(), "report.csv")
	if err := os.WriteFile(report, []byte("id\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runCmd := func(t *testing.T, args ...string) (string, int) {
		cmd := exec.Command(binary, args...)
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), "PAYGATE_DB=", "PAYGATE_MODE=", "PAYGATE_LOG_LEVEL=debug")
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return string(out), code
	}
	check := func(t *testing.T, out string) {
		t.Helper()
		for _, pw := range []string{dsnUserPassword, dsnQueryPassword} {
			if strings.Contains(out, pw) {
				t.Errorf("the output shows the database password %q:\n%s", pw, out)
			}
		}
	}
	down := "postgres://paygate:" + dsnUserPassword + "@127.0.0.1:1/x?password=" + dsnQueryPassword + "&connect_timeout=2"
	for _, args := range [][]string{
		{"serve", "--addr", "127.0.0.1:0"},
		{"sweep"},
		{"recon", "--provider", "stripe", "--report", report},
		{"keys", "list"},
		{"ledger", "verify"},
		{"webhooks", "replay", "--id", "1"},
	} {
		t.Run("unreachable "+strings.Join(args[:1], " "), func(t *testing.T) {
			out, code := runCmd(t, append(args, "--db", down)...)
			if code != exitError || !strings.Contains(out, "password=REDACTED") {
				t.Errorf("paygate %v = exit %d\n%s\nwant exit %d naming the URL with password=REDACTED", args, code, out, exitError)
			}
			check(t, out)
		})
	}
	for _, b := range storagetest.Backends(t) {
		if b.Name != "postgres" {
			continue
		}
		t.Run("postgres", func(t *testing.T) {
			dsn := strings.Replace(b.DSN(t), "postgres://postgres@", "postgres://postgres:"+dsnUserPassword+"@", 1) + "&password=" + dsnQueryPassword
			if !strings.Contains(dsn, dsnUserPassword) {
				t.Fatalf("test DSN %q has no user password", dsn)
			}
			p := startEnv(t, []string{"PAYGATE_MODE=", "PAYGATE_LOG_LEVEL=debug"}, "--db", dsn)
			p.stop(t)
			check(t, p.log.String())
			out, code := runCmd(t, "sweep", "--db", dsn)
			if code != exitOK {
				t.Fatalf("paygate sweep = exit %d\n%s", code, out)
			}
			check(t, out)
		})
	}
}

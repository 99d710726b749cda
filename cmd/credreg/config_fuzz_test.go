package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzConfig feeds loadConfig any file. It must not panic; an error is
// one line, a usage error, and never repeats the marked secret; a file it
// accepts names, for every tenant, an id, a client id and exactly one way
// to sign in.
func FuzzConfig(f *testing.F) {
	f.Add([]byte("tenants:\n  - id: t1\n    client_id: c\n    client_secret_env: S\n"))
	f.Add([]byte("tenants:\n  - id: t1\n    client_id: c\n    client_secret: SECRETVALUE\n"))
	f.Add([]byte("tenants: SECRETVALUE\n"))
	f.Add([]byte("endpoint: [SECRETVALUE]\n"))
	f.Add([]byte("tenants:\n  - {id: t, client_id: c, client_secret_file: /x, SECRETVALUE: 1}\n"))
	f.Add([]byte("tenants:\n  - &a {id: t, client_id: c, federated_token_file: /t}\n  - *a\n"))
	f.Add([]byte("tenants:\n  - id: 8F0C0000-AAAA-4BBB-8CCC-DDDDEEEEFFFF\n    client_id: c\n    client_secret_file: /x\n"))
	f.Add([]byte("\xff\xfe"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "credreg.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := loadConfig(path)
		if err != nil {
			var ue usageError
			msg := err.Error()
			if !errors.As(err, &ue) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q: want one line, a usage error", msg)
			}
			if strings.Contains(msg, "SECRETVALUE") {
				t.Fatalf("error repeats a value of the file: %q", msg)
			}
			return
		}
		if len(c.Tenants) == 0 {
			t.Fatal("accepted a config without tenants")
		}
		for _, tn := range c.Tenants {
			if _, err := tenantID("", tn.ID); err != nil || tn.ID != strings.ToLower(tn.ID) {
				t.Fatalf("accepted tenant id %q: not a GUID in lowercase", tn.ID)
			}
			if tn.ID == "" || tn.ClientID == "" || tn.signIns() != 1 || tn.SecretInline != nil || tn.CertificatePassInline != nil {
				t.Fatalf("accepted tenant %+v", tn)
			}
		}
	})
}

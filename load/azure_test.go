package load

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// A wrong or malformed storage key, or a wrong SAS token, is refused, and
// the error says so without the secret in it.
func TestAzureCredentialsNotInErrors(t *testing.T) {
	srv := azuriteServer.Get(t)
	u := srv.NewContainer(t, "warehouse")
	wrongKey := base64.StdEncoding.EncodeToString([]byte("this is not the key of devstoreaccount1, really not"))
	cases := []struct {
		name   string
		env    map[string]string
		secret string
	}{
		{"wrong key", map[string]string{"AZURE_STORAGE_KEY": wrongKey}, wrongKey},
		{"malformed key", map[string]string{"AZURE_STORAGE_KEY": "s3cr3t-n0t-base64!"}, "s3cr3t-n0t-base64!"},
		{"wrong SAS token", map[string]string{"AZURE_STORAGE_KEY": "", "AZURE_STORAGE_SAS_TOKEN": "sv=2021-08-06&ss=b&srt=sco&sp=rwdlac&se=2099-01-01T00:00:00Z&sig=c2VjcmV0c2lnbmF0dXJl"},
			"c2VjcmV0c2lnbmF0dXJl"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			ctx := context.Background()
			w, err := OpenWarehouse(ctx, u)
			if err == nil {
				defer w.Close()
				err = w.CheckWritable(ctx)
			}
			if err == nil {
				t.Fatal("the warehouse opened and was written with wrong credentials")
			}
			if strings.Contains(err.Error(), tc.secret) {
				t.Errorf("the error shows the secret:\n%v", err)
			}
			if !errors.Is(err, ErrNotWritable) && !strings.Contains(err.Error(), "open warehouse") {
				t.Errorf("err = %v, want a refused write or open", err)
			}
		})
	}
}

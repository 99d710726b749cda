package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
)

// migrateOptions are the flags of `credreg migrate`.
type migrateOptions struct {
	Warehouse string
	LockWait  time.Duration
	logOptions
}

func (o *migrateOptions) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.Warehouse, "warehouse", "./warehouse", "the warehouse to bring to the current layout: a local path or a blob URL (file://, gs://, azblob://, mem://)")
	f.DurationVar(&o.LockWait, "lock-wait", 0, "when a run is writing a slice to be moved, wait this long for it (e.g. 10m); 0: fail at once with exit status 7")
	o.logOptions.AddFlags(cmd)
}

func newMigrateCmd() *cobra.Command {
	var o migrateOptions
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Bring a warehouse written by an older credreg to the current layout",
		Long: `Bring a warehouse written by an older credreg to the current layout.

Tenant ids are now kept in lowercase. Older releases used them as given, so a
tenant configured as 8F0C… wrote its slices under tenant_id=8F0C…, which readers
take for another tenant than tenant_id=8f0c…. migrate moves every slice whose
tenant_id folder has capital letters — its three tables and its manifest — to
the lowercase folder, each under the slice's lease, manifest last. It refuses a
slice whose lowercase folder already holds other content, and can be run again
after an interruption.`,
		Example: `  credreg migrate --warehouse ./warehouse
  credreg migrate --warehouse 'gs://my-bucket?prefix=credreg/' --lock-wait 30m`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMigrate(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.AddFlags(cmd)
	return cmd
}

// runMigrate is `credreg migrate`; tests call it directly.
func runMigrate(ctx context.Context, o migrateOptions, stdout, stderr io.Writer) error {
	if err := o.logOptions.validate(); err != nil {
		return err
	}
	if err := checkLockWait(o.LockWait); err != nil {
		return err
	}
	wh, err := load.OpenWarehouse(ctx, o.Warehouse)
	if err != nil {
		return openError("--warehouse", o.Warehouse, err)
	}
	defer wh.Close()
	ui := newUI(o.logOptions, stderr)
	defer ui.close()
	log := ui.logger

	keys, err := wh.MixedCaseTenants(ctx)
	if err != nil {
		return err
	}
	for _, key := range keys {
		if err := lowercaseTenant(ctx, wh, key, o.LockWait); err != nil {
			return fmt.Errorf("moving %s: %w", sliceName(key), err)
		}
		log.Info("moved a slice to its lowercase tenant folder", "slice", sliceName(key),
			"tenant_id", strings.ToLower(key.Tenant))
	}
	if o.LogFormat == "json" {
		log.Info("migrate summary", "warehouse", wh.String(), "slices_moved", len(keys))
		return nil
	}
	if len(keys) == 0 {
		_, err = fmt.Fprintf(stdout, "%s is up to date: every tenant_id folder is lowercase\n", wh)
		return err
	}
	_, err = fmt.Fprintf(stdout, "moved %d slices of %s to lowercase tenant_id folders\n", len(keys), wh)
	return err
}

// lowercaseTenant moves one slice, waiting up to wait for its lease.
// load takes the lease without waiting, so the wait is a poll here.
func lowercaseTenant(ctx context.Context, wh *load.Warehouse, key schemas.Key, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := wh.LowercaseTenant(ctx, key)
		if !errors.Is(err, load.ErrLeaseHeld) || !time.Now().Before(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(time.Second, time.Until(deadline))):
		}
	}
}

// checkLockWait checks --lock-wait.
func checkLockWait(d time.Duration) error {
	if d < 0 {
		return usagef("--lock-wait %s: want a duration to wait, or 0 not to wait", d)
	}
	return nil
}

func sliceName(key schemas.Key) string {
	return "snapshot_date=" + key.DateString() + "/tenant_id=" + key.Tenant
}

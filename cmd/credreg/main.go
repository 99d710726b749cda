// Command credreg turns Microsoft Entra ID's user registration report into
// dated Parquet snapshots. See README.md and `credreg --help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/credreg/credreg/extract"
)

// version is set by the build (-ldflags "-X main.version=…").
var version = "dev"

// Exit statuses, for schedulers. Documented in README.md.
const (
	exitOK          = 0
	exitFailure     = 1 // the run failed; retrying later may help (Graph outage, I/O error)
	exitUsage       = 2 // bad flags or input; fix the command line
	exitPartial     = 3 // some tenants published, others failed
	exitContract    = 4 // data contract breached: too many rejected records
	exitAccess      = 5 // Graph or Entra refused access: credentials, permission, licence; retrying will not help
	exitInterrupted = 130
)

// usageError marks errors in flags or arguments.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	err := root.ExecuteContext(ctx)
	code := exitCode(ctx, err)
	if err != nil {
		fmt.Fprintf(os.Stderr, "credreg: %v\n", err)
		if code == exitUsage {
			fmt.Fprintln(os.Stderr, "Run 'credreg --help' for usage.")
		}
	}
	os.Exit(code)
}

// exitCode is the one place errors become exit statuses.
func exitCode(ctx context.Context, err error) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, errPartial):
		return exitPartial
	case errors.Is(err, extract.ErrForbidden), errors.Is(err, extract.ErrNotPremium),
		errors.Is(err, extract.ErrUnauthorized), extract.IsCredentialError(err):
		return exitAccess
	}
	return exitFailure
}

var errPartial = errors.New("some tenants failed")

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "credreg",
		Short: "Snapshot Entra ID's MFA/credential registration report into a Parquet warehouse",
		Long: `credreg pages through Microsoft Graph's user registration report, explodes every
user's registered authentication methods into rows, and publishes one dated,
atomic Parquet snapshot per tenant and day.

Try it without a tenant:  credreg run --demo`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newRunCmd(), newSimulateCmd(), newSchemaCmd())
	return root
}

// noArgs rejects positional arguments with a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q", cmd.CommandPath(), args)
	}
	return nil
}

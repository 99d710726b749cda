// Command credreg turns Microsoft Entra ID's user registration report into
// dated Parquet snapshots. See README.md and `credreg --help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/pipeline"
)

// Exit statuses, for schedulers. Documented in README.md.
const (
	exitOK          = 0
	exitFailure     = 1 // the run failed; retrying later may help (Graph outage, I/O error)
	exitUsage       = 2 // bad flags or input; fix the command line
	exitPartial     = 3 // some tenants published, others failed; or published in Parquet, not loaded into BigQuery
	exitContract    = 4 // data contract breached: too many rejected records, pages that are not report pages, an imported file that is not a saved Graph response, a next link off Graph, no users, Graph's own counts differ (strict)
	exitAccess      = 5 // Graph or Entra refused access: credentials, permission, licence; retrying will not help
	exitRefused     = 6 // Graph refused the request as asked (400, 404): wrong URL, or the report is not offered; retrying will not help
	exitLeaseHeld   = 7 // another process is writing a slice of this run (its lease is held); wait with --lock-wait
	exitInterrupted = 130
)

// usageError marks errors in flags or arguments.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func main() {
	os.Exit(profiled(os.Getenv, func() int { return runStoppable(os.Args[1:], deps{}) }))
}

// runStoppable is run as a process runs it: stopped gracefully by its
// first SIGINT or SIGTERM, at once by the second (see stopOnSignal); and
// writing no file others may read (see restrictFileModes).
func runStoppable(args []string, d deps) int {
	restrictFileModes()
	ctx, stop := stopOnSignal(context.Background(), os.Stderr, jsonLogs(args))
	defer stop()
	return run(ctx, args, d)
}

// stopNotice is what the first signal prints: what happens now, and how
// to stop sooner.
const stopNotice = "stopping: finishing or undoing what is in flight; a second signal stops at once"

// stopOnSignal returns a context cancelled at the first SIGINT or SIGTERM
// (Ctrl-C; Kubernetes or systemd stopping the process): the command then
// finishes or undoes what is in flight and exits 130 within seconds. At
// that first signal both signals get their default action back, before
// the notice is written to stderr (as a JSON record when asJSON), so that a
// second signal ends the process at once, without cleanup. That is still
// safe: a slice's publish survives SIGKILL at any step (kill_test.go) —
// readers find the old slice or the new one, never a mix, and the next
// run of the slice rolls the unfinished publish forward or back — and a
// local lease dies with its process, a bucket lease expires (the next
// run waits for it with --lock-wait).
//
// stop releases the signals and cancels the context; call it when the
// command is done.
func stopOnSignal(parent context.Context, stderr io.Writer, asJSON bool) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(parent)
	// Room for two: a second signal that comes before signal.Stop below
	// waits here instead of being dropped, and is raised again.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			signal.Stop(sigs) // the default action again: terminate
			select {
			case again := <-sigs:
				if p, err := os.FindProcess(os.Getpid()); err == nil {
					p.Signal(again)
				}
			default:
			}
			if asJSON {
				slog.New(slog.NewJSONHandler(stderr, nil)).Warn(stopNotice, "signal", s.String())
			} else {
				fmt.Fprintf(stderr, "credreg: %v: %s\n", s, stopNotice)
			}
			cancel()
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			close(done)
			signal.Stop(sigs)
			cancel()
		})
	}
}

// jsonLogs says whether args ask for JSON logs on stderr, where a
// scheduler parses every line; the flag is not parsed yet when a signal
// may come.
func jsonLogs(args []string) bool {
	for i, a := range args {
		if a == "--" {
			break
		}
		if a == "--log-format=json" || (a == "--log-format" && i+1 < len(args) && args[i+1] == "json") {
			return true
		}
	}
	return false
}

// deps is what a caller of run may plug into the CLI besides its
// arguments. main passes the zero value; no flag reaches it.
type deps struct {
	// afterStep, when set, is called at named points of `credreg run`
	// (see runPoint): the test binary kills itself at one of them to
	// prove that a run killed anywhere leaves a readable warehouse.
	afterStep func(point string)
}

// run runs the CLI with args (without the program name) and returns the
// exit status.
func run(ctx context.Context, args []string, d deps) int {
	root := newRootCmd(d)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	code := exitCode(ctx, err)
	if err != nil {
		reportError(cmd, err, code)
	}
	return code
}

// exitCode is the one place errors become exit statuses.
func exitCode(ctx context.Context, err error) int {
	var ue usageError
	var pe *pipeline.PartialError
	switch {
	case err == nil:
		return exitOK
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, pipeline.ErrPartial), errors.Is(err, pipeline.ErrNotLoaded), errors.Is(err, errStale):
		// Some tenants, or some sinks, have the slice; or (status --stale)
		// some tenant's newest slice is too old.
		return exitPartial
	case errors.As(err, &pe):
		// Every tenant failed: their common status, if they share one.
		code := exitCode(ctx, pe.Failed[0].Err)
		for _, f := range pe.Failed[1:] {
			if exitCode(ctx, f.Err) != code {
				return exitFailure
			}
		}
		return code
	case errors.Is(err, extract.ErrRetriesExceed):
		// Damage on the way, not yet proven to be what Graph serves.
		return exitFailure
	case errors.Is(err, pipeline.ErrEmptySnapshot), errors.Is(err, pipeline.ErrBudgetExceeded), errors.Is(err, pipeline.ErrAggregateDrift),
		errors.Is(err, extract.ErrBadPage), errors.Is(err, extract.ErrForeignHost), errors.Is(err, extract.ErrNotExport):
		return exitContract
	case errors.Is(err, extract.ErrForbidden), errors.Is(err, extract.ErrNotPremium),
		errors.Is(err, extract.ErrUnauthorized), extract.IsCredentialError(err):
		return exitAccess
	case errors.Is(err, extract.ErrBadRequest), errors.Is(err, extract.ErrNotFound):
		return exitRefused
	case errors.Is(err, load.ErrLeaseHeld):
		return exitLeaseHeld
	}
	return exitFailure
}

// reportError prints the error that ends the program: one JSON record when
// the command logs JSON (a scheduler parses stderr), else a plain line;
// with what to do next when the status has a remedy.
func reportError(cmd *cobra.Command, err error, code int) {
	hint := errHint(err, code)
	if f := cmd.Flags().Lookup("log-format"); f != nil && f.Value.String() == "json" {
		attrs := []any{"err", err.Error(), "exit_code", code}
		if hint != "" {
			attrs = append(attrs, "hint", hint)
		}
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("credreg failed", attrs...)
		return
	}
	fmt.Fprintf(os.Stderr, "credreg: %v\n", err)
	if code == exitUsage {
		hint = fmt.Sprintf("Run '%s --help' for usage.", cmd.CommandPath())
	}
	if hint != "" {
		fmt.Fprintln(os.Stderr, hint)
	}
}

// errHint says what to do about an error, when the error alone does not:
// the flags to use live here, not in the packages that report the errors.
func errHint(err error, code int) string {
	switch {
	case code != exitContract:
		// A run whose tenants failed in several ways gets the status's hint.
	case errors.Is(err, pipeline.ErrEmptySnapshot):
		return "An empty answer more likely means a broken report than a tenant without users; publish it anyway with --allow-empty."
	case errors.Is(err, pipeline.ErrBudgetExceeded):
		return "The rejected records are kept in the _failed folder of the warehouse; --max-reject-ratio and --max-rejects set the budget."
	case errors.Is(err, pipeline.ErrAggregateDrift):
		return "--max-aggregate-drift sets the tolerance; without --strict-aggregates such a slice is published with a warning."
	}
	return exitHint(code)
}

// exitHint says what to do about an exit status.
func exitHint(code int) string {
	switch code {
	case exitRefused:
		return "Graph refused the request as asked; retrying will not help. Check --graph-url and --endpoint."
	case exitLeaseHeld:
		return "Another process is writing that slice. Pass --lock-wait (e.g. --lock-wait 30m) to wait for it instead of failing."
	}
	return ""
}

func newRootCmd(d deps) *cobra.Command {
	root := &cobra.Command{
		Use:   "credreg",
		Short: "Snapshot Entra ID's MFA/credential registration report into a Parquet warehouse",
		Long: `credreg pages through Microsoft Graph's user registration report, explodes every
user's registered authentication methods into rows, and publishes one dated,
atomic Parquet snapshot per tenant and day.

Try it without a tenant:  credreg run --demo`,
		Version:       pipeline.CurrentBuild().String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
	root.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usagef("unknown command %q for credreg (commands: run, backfill, import, simulate, schema, migrate, version, config, status)", args[0])
		}
		return nil
	}
	root.SetVersionTemplate(versionText())
	root.AddCommand(newRunCmd(d), newBackfillCmd(d), newImportCmd(), newSimulateCmd(), newSchemaCmd(), newMigrateCmd(),
		newVersionCmd(), newConfigCmd(), newStatusCmd())
	root.AddCommand(newEraseCmd())
	root.AddCommand(newTrendsCmd())
	root.AddCommand(newPruneCmd())
	return root
}

// noArgs rejects positional arguments with a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q", cmd.CommandPath(), args)
	}
	return nil
}

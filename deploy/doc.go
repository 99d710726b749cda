// Package deploy holds recipes a person copies to run credreg on a schedule
// (a container image, a Kubernetes CronJob, a systemd timer, a Cloud Run job,
// an Azure Container Apps job), and the tests that check them as far as a
// machine with no container runtime, cluster or cloud allows:
//
//   - every Kubernetes document parses strictly into its real k8s.io/api type
//     (an unknown or misspelt field fails) and keeps the recipe's promises
//     (Forbid, non-root, read-only root, resources, mounts that match the
//     paths the config names);
//   - the Cloud Run and Container Apps YAML parse strictly into structs of
//     the fields the recipes use;
//   - the systemd units pass systemd-analyze verify and its offline security
//     check when systemd-analyze is installed (skipped, loudly, when not);
//   - credreg builds with the Dockerfile's exact go build line into a static
//     binary, and that binary, run as the image's non-root user (65532, when
//     the test runs as root), accepts every recipe's credreg.yaml and
//     publishes a snapshot from a credreg simulate it started.
//
// It is a module of its own so that k8s.io/api stays out of credreg's
// binary. Nothing here is imported; the package holds only tests.
package deploy

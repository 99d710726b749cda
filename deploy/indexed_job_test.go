package deploy

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// loadIndexedJob parses kubernetes/indexed-job.yaml strictly: one CronJob.
func loadIndexedJob(t *testing.T) *batchv1.CronJob {
	t.Helper()
	const f = "kubernetes/indexed-job.yaml"
	b := readRecipe(t, f)
	if !hasPlaceholder(b) {
		t.Errorf("%s: says nowhere what to FILL IN", f)
	}
	var objs kubeObjects
	docs := yamlDocs(b)
	for i, doc := range docs {
		if err := decodeKube(doc, &objs); err != nil {
			t.Fatalf("%s document %d: %v", f, i+1, err)
		}
	}
	if len(docs) != 1 || objs.cronJob == nil {
		t.Fatalf("%s: want one CronJob, got %d documents", f, len(docs))
	}
	return objs.cronJob
}

// The Indexed Job recipe: N pods at once, each told N through
// CREDREG_WORKER_COUNT (its index comes from the Job's own
// JOB_COMPLETION_INDEX), scheduled as cronjob.yaml is.
func TestIndexedJob(t *testing.T) {
	cj := loadIndexedJob(t)
	js := cj.Spec.JobTemplate.Spec
	pod := js.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	ctr := pod.Containers[0]
	env := map[string]string{}
	for _, e := range ctr.Env {
		env[e.Name] = e.Value
	}
	completions, parallelism := int32(0), int32(0)
	if js.Completions != nil {
		completions = *js.Completions
	}
	if js.Parallelism != nil {
		parallelism = *js.Parallelism
	}
	checks := []struct {
		what string
		ok   bool
	}{
		{"completionMode Indexed", js.CompletionMode != nil && *js.CompletionMode == batchv1.IndexedCompletion},
		{"several workers", completions >= 2},
		{"parallelism equal to completions (every worker at once)", parallelism == completions},
		{"CREDREG_WORKER_COUNT equal to completions", env["CREDREG_WORKER_COUNT"] == strconv.Itoa(int(completions))},
		{"no worker index of its own (JOB_COMPLETION_INDEX gives it)", !hasFlag(ctr.Args, "--worker-index") &&
			!hasKey(env, "CREDREG_WORKER_INDEX", "JOB_COMPLETION_INDEX")},
		{"no --worker-count flag (it would hide CREDREG_WORKER_COUNT)", !hasFlag(ctr.Args, "--worker-count")},
		{"concurrencyPolicy Forbid", cj.Spec.ConcurrencyPolicy == batchv1.ForbidConcurrent},
		{"startingDeadlineSeconds set", cj.Spec.StartingDeadlineSeconds != nil && *cj.Spec.StartingDeadlineSeconds > 0},
		{"schedule in UTC", cj.Spec.TimeZone != nil && *cj.Spec.TimeZone == "Etc/UTC" && cj.Spec.Schedule != ""},
		{"retries per worker", js.BackoffLimitPerIndex != nil && *js.BackoffLimitPerIndex > 0},
		{"activeDeadlineSeconds set", js.ActiveDeadlineSeconds != nil && *js.ActiveDeadlineSeconds > 0},
		{"restartPolicy Never", pod.RestartPolicy == corev1.RestartPolicyNever},
		{"exit 2 (bad config, the same for every worker) fails the Job", failsJobOn(js.PodFailurePolicy, 2)},
		{"exits 4, 5, 6 fail the worker's index, 1, 3, 7 are retried", failsIndexOn(js.PodFailurePolicy, 4, 5, 6) &&
			!failsIndexOn(js.PodFailurePolicy, 1) && !failsIndexOn(js.PodFailurePolicy, 3) && !failsIndexOn(js.PodFailurePolicy, 7) &&
			!failsJobOn(js.PodFailurePolicy, 1) && !failsJobOn(js.PodFailurePolicy, 3) && !failsJobOn(js.PodFailurePolicy, 7)},
		{"JSON logs", containsArg(ctr.Args, "--log-format", "json")},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("indexed-job.yaml: want %s", c.what)
		}
	}
}

// The Indexed Job runs as the CronJob does — same name (one replaces the
// other), ServiceAccount, config, Secret, security and resources — so the
// rest of kubernetes/ serves both.
func TestIndexedJobMatchesCronJob(t *testing.T) {
	ij, objs := loadIndexedJob(t), loadKube(t)
	cj := objs.cronJob
	a, b := ij.Spec.JobTemplate.Spec.Template, cj.Spec.JobTemplate.Spec.Template
	ac, bc := a.Spec.Containers[0], b.Spec.Containers[0]
	same := []struct {
		what string
		x, y any
	}{
		{"name and namespace", [2]string{ij.Name, ij.Namespace}, [2]string{cj.Name, cj.Namespace}},
		{"schedule", ij.Spec.Schedule, cj.Spec.Schedule},
		{"pod labels", a.Labels, b.Labels},
		{"service account", a.Spec.ServiceAccountName, objs.account.Name},
		{"no Kubernetes API token", a.Spec.AutomountServiceAccountToken, b.Spec.AutomountServiceAccountToken},
		{"pod security context", a.Spec.SecurityContext, b.Spec.SecurityContext},
		{"volumes (the ConfigMap and the Secret)", a.Spec.Volumes, b.Spec.Volumes},
		{"container name (podFailurePolicy names it)", ac.Name, bc.Name},
		{"args", ac.Args, bc.Args},
		{"volume mounts", ac.VolumeMounts, bc.VolumeMounts},
		{"container security context", ac.SecurityContext, bc.SecurityContext},
		{"resources", ac.Resources, bc.Resources},
		{"grace period for SIGTERM", a.Spec.TerminationGracePeriodSeconds, b.Spec.TerminationGracePeriodSeconds},
	}
	for _, s := range same {
		if !reflect.DeepEqual(s.x, s.y) {
			t.Errorf("indexed-job.yaml and cronjob.yaml differ in %s:\n%v\n%v", s.what, s.x, s.y)
		}
	}
	// The env is the CronJob's plus the worker count.
	env := map[string]string{}
	for _, e := range ac.Env {
		env[e.Name] = e.Value
	}
	for _, e := range bc.Env {
		if env[e.Name] != e.Value {
			t.Errorf("indexed-job.yaml: %s=%q, cronjob.yaml %q", e.Name, env[e.Name], e.Value)
		}
	}
}

// failsIndexOn reports whether the policy fails the pod's index at once
// (no retry of that worker) on every code.
func failsIndexOn(p *batchv1.PodFailurePolicy, codes ...int32) bool {
	return actsOn(p, batchv1.PodFailurePolicyActionFailIndex, codes...)
}

// actsOn reports whether the policy takes action on every exit code.
// (kubernetes_test.go's failsJobOn is actsOn with FailJob.)
func actsOn(p *batchv1.PodFailurePolicy, action batchv1.PodFailurePolicyAction, codes ...int32) bool {
	if p == nil {
		return false
	}
	for _, code := range codes {
		if !slices.ContainsFunc(p.Rules, func(r batchv1.PodFailurePolicyRule) bool {
			return r.Action == action && r.OnExitCodes != nil &&
				r.OnExitCodes.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && slices.Contains(r.OnExitCodes.Values, code)
		}) {
			return false
		}
	}
	return true
}

// hasFlag reports whether args give flag, as "flag value" or "flag=value".
func hasFlag(args []string, flag string) bool {
	return slices.ContainsFunc(args, func(a string) bool { return a == flag || strings.HasPrefix(a, flag+"=") })
}

func hasKey(m map[string]string, keys ...string) bool {
	for _, k := range keys {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

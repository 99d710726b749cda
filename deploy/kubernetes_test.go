package deploy

import (
	"fmt"
	"path"
	"slices"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// azureTokenPath is where the Azure workload identity webhook projects the
// service account token (its documented AZURE_FEDERATED_TOKEN_FILE).
const azureTokenPath = "/var/run/secrets/azure/tokens/azure-identity-token"

// kubeObjects are the recipe's objects, one of each kind.
type kubeObjects struct {
	cronJob   *batchv1.CronJob
	account   *corev1.ServiceAccount
	configMap *corev1.ConfigMap
	secret    *corev1.Secret
}

// decodeKube parses one document strictly into the real type its apiVersion
// and kind name: a field the type does not have fails.
func decodeKube(doc []byte, into *kubeObjects) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	var obj any
	switch gvk := tm.APIVersion + " " + tm.Kind; gvk {
	case "batch/v1 CronJob":
		into.cronJob = &batchv1.CronJob{}
		obj = into.cronJob
	case "v1 ServiceAccount":
		into.account = &corev1.ServiceAccount{}
		obj = into.account
	case "v1 ConfigMap":
		into.configMap = &corev1.ConfigMap{}
		obj = into.configMap
	case "v1 Secret":
		into.secret = &corev1.Secret{}
		obj = into.secret
	default:
		return fmt.Errorf("no type for %q", gvk)
	}
	return decodeStrict(doc, obj)
}

// loadKube parses every file of kubernetes/.
func loadKube(t *testing.T) kubeObjects {
	t.Helper()
	var objs kubeObjects
	for _, f := range []string{"cronjob.yaml", "serviceaccount.yaml", "configmap.yaml", "secret.example.yaml"} {
		b := readRecipe(t, path.Join("kubernetes", f))
		if !hasPlaceholder(b) {
			t.Errorf("%s: says nowhere what to FILL IN", f)
		}
		for i, doc := range yamlDocs(b) {
			if err := decodeKube(doc, &objs); err != nil {
				t.Fatalf("%s document %d: %v", f, i+1, err)
			}
		}
	}
	if objs.cronJob == nil || objs.account == nil || objs.configMap == nil || objs.secret == nil {
		t.Fatalf("want a CronJob, a ServiceAccount, a ConfigMap and a Secret, got %+v", objs)
	}
	return objs
}

// TestKubeStrict shows the parse is strict: a misspelt field fails.
func TestKubeStrict(t *testing.T) {
	cases := []struct {
		name, doc string
		ok        bool
	}{
		{"known fields", "apiVersion: batch/v1\nkind: CronJob\nspec:\n  concurrencyPolicy: Forbid\n", true},
		{"misspelt field", "apiVersion: batch/v1\nkind: CronJob\nspec:\n  concurencyPolicy: Forbid\n", false},
		{"field given twice", "apiVersion: v1\nkind: ConfigMap\ndata: {}\ndata: {}\n", false},
		{"field in the wrong case", "apiVersion: v1\nkind: Secret\nstringdata: {}\n", false},
		{"unknown kind", "apiVersion: v1\nkind: Sekret\n", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := decodeKube([]byte(c.doc), &kubeObjects{})
			if (err == nil) != c.ok {
				t.Fatalf("decode: %v, want ok=%v", err, c.ok)
			}
		})
	}
}

func TestCronJob(t *testing.T) {
	objs := loadKube(t)
	cj := objs.cronJob
	js := cj.Spec.JobTemplate.Spec
	pod := js.Template.Spec
	checks := []struct {
		what string
		ok   bool
	}{
		{"concurrencyPolicy Forbid", cj.Spec.ConcurrencyPolicy == batchv1.ForbidConcurrent},
		{"startingDeadlineSeconds set", cj.Spec.StartingDeadlineSeconds != nil && *cj.Spec.StartingDeadlineSeconds > 0},
		{"schedule in UTC", cj.Spec.TimeZone != nil && *cj.Spec.TimeZone == "Etc/UTC" && cj.Spec.Schedule != ""},
		{"backoffLimit set", js.BackoffLimit != nil && *js.BackoffLimit > 0},
		{"activeDeadlineSeconds set", js.ActiveDeadlineSeconds != nil && *js.ActiveDeadlineSeconds > 0},
		{"restartPolicy Never (podFailurePolicy needs it)", pod.RestartPolicy == corev1.RestartPolicyNever},
		{"permanent exit statuses fail the Job", failsJobOn(js.PodFailurePolicy, 2, 4, 5, 6) && !failsJobOn(js.PodFailurePolicy, 1) &&
			!failsJobOn(js.PodFailurePolicy, 3) && !failsJobOn(js.PodFailurePolicy, 7)},
		{"service account", pod.ServiceAccountName == objs.account.Name},
		{"no Kubernetes API token", pod.AutomountServiceAccountToken != nil && !*pod.AutomountServiceAccountToken},
		{"pod runAsNonRoot", pod.SecurityContext != nil && pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot},
		{"pod user 65532", pod.SecurityContext != nil && pod.SecurityContext.RunAsUser != nil && *pod.SecurityContext.RunAsUser == 65532},
		{"seccomp RuntimeDefault", pod.SecurityContext != nil && pod.SecurityContext.SeccompProfile != nil &&
			pod.SecurityContext.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault},
		{"one container", len(pod.Containers) == 1},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("CronJob: want %s", c.what)
		}
	}
	if len(pod.Containers) != 1 {
		t.FailNow()
	}
	ctr := pod.Containers[0]
	sc := ctr.SecurityContext
	req, lim := ctr.Resources.Requests, ctr.Resources.Limits
	for _, c := range []struct {
		what string
		ok   bool
	}{
		{"podFailurePolicy names the container", js.PodFailurePolicy != nil && js.PodFailurePolicy.Rules[0].OnExitCodes.ContainerName != nil &&
			*js.PodFailurePolicy.Rules[0].OnExitCodes.ContainerName == ctr.Name},
		{"readOnlyRootFilesystem", sc != nil && sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem},
		{"no privilege escalation", sc != nil && sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation},
		{"capabilities drop ALL", sc != nil && sc.Capabilities != nil && slices.Contains(sc.Capabilities.Drop, "ALL") && len(sc.Capabilities.Add) == 0},
		{"memory request of at least 300 MiB (a 100k-user tenant's peak)", req.Memory().Cmp(resource.MustParse("300Mi")) >= 0},
		{"cpu request", !req.Cpu().IsZero()},
		{"memory limit above the request", lim.Memory().Cmp(*req.Memory()) > 0},
		{"JSON logs", containsArg(ctr.Args, "--log-format", "json")},
	} {
		if !c.ok {
			t.Errorf("CronJob container: want %s", c.what)
		}
	}
}

// failsJobOn reports whether the policy fails the Job at once on every code.
func failsJobOn(p *batchv1.PodFailurePolicy, codes ...int32) bool {
	if p == nil {
		return false
	}
	for _, code := range codes {
		found := false
		for _, r := range p.Rules {
			if r.Action == batchv1.PodFailurePolicyActionFailJob && r.OnExitCodes != nil &&
				r.OnExitCodes.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && slices.Contains(r.OnExitCodes.Values, code) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// TestKubeWiring checks that the objects fit together: the config is where
// --config says, each secret file the config names is a key of the mounted
// Secret, the workload identity tenant uses the webhook's token path with
// the ServiceAccount's client id, and GKE workload identity is annotated.
func TestKubeWiring(t *testing.T) {
	objs := loadKube(t)
	pod := objs.cronJob.Spec.JobTemplate.Spec.Template.Spec
	ctr := pod.Containers[0]
	mounts := map[string]corev1.VolumeMount{} // by volume name
	for _, m := range ctr.VolumeMounts {
		mounts[m.Name] = m
	}
	var configDir, secretDir string
	for _, v := range pod.Volumes {
		switch {
		case v.ConfigMap != nil && v.ConfigMap.Name == objs.configMap.Name:
			configDir = mounts[v.Name].MountPath
		case v.Secret != nil && v.Secret.SecretName == objs.secret.Name:
			secretDir = mounts[v.Name].MountPath
			if m := v.Secret.DefaultMode; m == nil || *m&0o007 != 0 {
				t.Errorf("Secret volume: want a defaultMode that others cannot read, got %v", m)
			}
		}
	}
	if configDir == "" || secretDir == "" {
		t.Fatalf("CronJob: want the ConfigMap %q and the Secret %q mounted", objs.configMap.Name, objs.secret.Name)
	}
	if _, ok := objs.configMap.Data["credreg.yaml"]; !ok || !containsArg(ctr.Args, "--config", path.Join(configDir, "credreg.yaml")) {
		t.Errorf("want --config=%s/credreg.yaml and that key in the ConfigMap", configDir)
	}
	cfg := kubeConfig(objs)
	wantClient := objs.account.Annotations["azure.workload.identity/client-id"]
	federated := false
	for _, tn := range cfg.tenants(t) {
		if p, ok := tn["client_secret_file"].(string); ok {
			key := path.Base(p)
			_, inData := objs.secret.StringData[key]
			if path.Dir(p) != secretDir || !inData {
				t.Errorf("tenant %v: client_secret_file %s is not a key of the Secret mounted at %s", tn["name"], p, secretDir)
			}
		}
		if p, ok := tn["federated_token_file"].(string); ok {
			federated = true
			if p != azureTokenPath {
				t.Errorf("tenant %v: federated_token_file %s, want the webhook's %s", tn["name"], p, azureTokenPath)
			}
			if tn["client_id"] != wantClient {
				t.Errorf("tenant %v: client_id %v, want the ServiceAccount's azure.workload.identity/client-id %s", tn["name"], tn["client_id"], wantClient)
			}
		}
	}
	if federated && objs.cronJob.Spec.JobTemplate.Spec.Template.Labels["azure.workload.identity/use"] != "true" {
		t.Errorf("a tenant uses workload identity: want the pod label azure.workload.identity/use: \"true\"")
	}
	if objs.account.Annotations["iam.gke.io/gcp-service-account"] == "" {
		t.Errorf("ServiceAccount: want the iam.gke.io/gcp-service-account annotation (GCS through GKE workload identity)")
	}
}

// kubeConfig is the ConfigMap's credreg.yaml.
func kubeConfig(objs kubeObjects) recipeConfig {
	return recipeConfig{Name: "kubernetes/configmap.yaml", Text: []byte(objs.configMap.Data["credreg.yaml"])}
}

// TestKubeTmpHoldsTheSpill checks /tmp in both Kubernetes recipes: $TMPDIR
// names it, and it is a disk emptyDir (not memory) with room for a 5M-user
// tenant's spill files (about 300 bytes per user), requested from the node.
func TestKubeTmpHoldsTheSpill(t *testing.T) {
	ij := loadIndexedJob(t)
	for name, pod := range map[string]corev1.PodSpec{
		"cronjob.yaml":     loadKube(t).cronJob.Spec.JobTemplate.Spec.Template.Spec,
		"indexed-job.yaml": ij.Spec.JobTemplate.Spec.Template.Spec,
	} {
		ctr := pod.Containers[0]
		tmpdir := ""
		for _, e := range ctr.Env {
			if e.Name == "TMPDIR" {
				tmpdir = e.Value
			}
		}
		var vol string
		for _, m := range ctr.VolumeMounts {
			if tmpdir != "" && m.MountPath == tmpdir {
				vol = m.Name
			}
		}
		var dir *corev1.EmptyDirVolumeSource
		for _, v := range pod.Volumes {
			if v.Name == vol {
				dir = v.EmptyDir
			}
		}
		room := resource.MustParse("1500Mi") // 5M users at 300 bytes
		switch {
		case tmpdir == "" || vol == "":
			t.Errorf("%s: want TMPDIR set to a mounted volume, got %q", name, tmpdir)
		case dir == nil || dir.Medium == corev1.StorageMediumMemory:
			t.Errorf("%s: want %s (TMPDIR) on a disk emptyDir", name, tmpdir)
		case dir.SizeLimit == nil || dir.SizeLimit.Cmp(room) < 0:
			t.Errorf("%s: %s's sizeLimit %v, want at least %v", name, tmpdir, dir.SizeLimit, &room)
		case ctr.Resources.Requests.StorageEphemeral().Cmp(*dir.SizeLimit) < 0:
			t.Errorf("%s: ephemeral-storage request %v, want at least the sizeLimit %v", name,
				ctr.Resources.Requests.StorageEphemeral(), dir.SizeLimit)
		}
	}
}

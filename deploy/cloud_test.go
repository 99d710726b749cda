package deploy

import (
	"path"
	"regexp"
	"strings"
	"testing"
)

// cloudRunJob holds the fields of a run.googleapis.com/v1 Job that
// cloudrun/job.yaml uses, named as Cloud Run's Knative-style YAML names them.
// A field the recipe has and this struct lacks fails the strict parse, so a
// typo in the recipe cannot pass unseen.
type cloudRunJob struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Template struct {
			Spec struct {
				TaskCount   int `json:"taskCount"`
				Parallelism int `json:"parallelism"`
				Template    struct {
					Spec struct {
						ServiceAccountName string `json:"serviceAccountName"`
						TimeoutSeconds     int    `json:"timeoutSeconds"`
						MaxRetries         *int   `json:"maxRetries"`
						Containers         []struct {
							Image     string   `json:"image"`
							Args      []string `json:"args"`
							Env       []envVar `json:"env"`
							Resources struct {
								Limits map[string]string `json:"limits"`
							} `json:"resources"`
							VolumeMounts []struct {
								Name      string `json:"name"`
								MountPath string `json:"mountPath"`
							} `json:"volumeMounts"`
						} `json:"containers"`
						Volumes []struct {
							Name   string `json:"name"`
							Secret struct {
								SecretName string `json:"secretName"`
								Items      []struct {
									Key  string `json:"key"`
									Path string `json:"path"`
								} `json:"items"`
							} `json:"secret"`
						} `json:"volumes"`
					} `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

type envVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// containerAppsJob holds the fields of a Microsoft.App/jobs resource that
// azure/containerapps-job.yaml uses, as `az containerapp job create --yaml`
// reads them.
type containerAppsJob struct {
	Location string `json:"location"`
	Name     string `json:"name"`
	Type     string `json:"type"`
	Identity struct {
		Type                   string                    `json:"type"`
		UserAssignedIdentities map[string]map[string]any `json:"userAssignedIdentities"`
	} `json:"identity"`
	Properties struct {
		EnvironmentID string `json:"environmentId"`
		Configuration struct {
			TriggerType           string `json:"triggerType"`
			ScheduleTriggerConfig struct {
				CronExpression         string `json:"cronExpression"`
				Parallelism            int    `json:"parallelism"`
				ReplicaCompletionCount int    `json:"replicaCompletionCount"`
			} `json:"scheduleTriggerConfig"`
			ReplicaTimeout    int  `json:"replicaTimeout"`
			ReplicaRetryLimit *int `json:"replicaRetryLimit"`
			Secrets           []struct {
				Name        string `json:"name"`
				KeyVaultURL string `json:"keyVaultUrl"`
				Identity    string `json:"identity"`
				Value       string `json:"value"`
			} `json:"secrets"`
			Registries []struct {
				Server   string `json:"server"`
				Identity string `json:"identity"`
			} `json:"registries"`
		} `json:"configuration"`
		Template struct {
			Containers []struct {
				Name      string   `json:"name"`
				Image     string   `json:"image"`
				Args      []string `json:"args"`
				Env       []envVar `json:"env"`
				Resources struct {
					CPU    float64 `json:"cpu"`
					Memory string  `json:"memory"`
				} `json:"resources"`
				VolumeMounts []struct {
					VolumeName string `json:"volumeName"`
					MountPath  string `json:"mountPath"`
				} `json:"volumeMounts"`
			} `json:"containers"`
			Volumes []struct {
				Name        string `json:"name"`
				StorageType string `json:"storageType"`
				StorageName string `json:"storageName"`
				Secrets     []struct {
					SecretRef string `json:"secretRef"`
					Path      string `json:"path"`
				} `json:"secrets"`
				MountOptions string `json:"mountOptions"`
			} `json:"volumes"`
		} `json:"template"`
	} `json:"properties"`
}

// loadStrict parses a recipe strictly into T, the fields it may use.
func loadStrict[T any](t *testing.T, path string) T {
	t.Helper()
	b := readRecipe(t, path)
	var v T
	if err := decodeStrict(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if !hasPlaceholder(b) {
		t.Errorf("%s: says nowhere what to FILL IN", path)
	}
	return v
}

func loadCloudRun(t *testing.T) cloudRunJob {
	return loadStrict[cloudRunJob](t, "cloudrun/job.yaml")
}

func loadContainerApps(t *testing.T) containerAppsJob {
	return loadStrict[containerAppsJob](t, "azure/containerapps-job.yaml")
}

func TestCloudRunJob(t *testing.T) {
	j := loadCloudRun(t)
	task := j.Spec.Template.Spec.Template.Spec
	if j.APIVersion != "run.googleapis.com/v1" || j.Kind != "Job" {
		t.Errorf("want a run.googleapis.com/v1 Job, got %s %s", j.APIVersion, j.Kind)
	}
	if j.Spec.Template.Spec.TaskCount != 1 || j.Spec.Template.Spec.Parallelism != 1 {
		t.Errorf("want one task (one process keeps the app-wide limit)")
	}
	if task.ServiceAccountName == "" || task.TimeoutSeconds <= 0 || task.MaxRetries == nil {
		t.Errorf("want a service account, a task timeout and maxRetries")
	}
	if len(task.Containers) != 1 {
		t.Fatalf("want one container")
	}
	c := task.Containers[0]
	if c.Resources.Limits["memory"] == "" || !containsArg(c.Args, "--log-format", "json") {
		t.Errorf("want a memory limit and JSON logs")
	}
	// Each file the job mounts from Secret Manager, by path.
	files := map[string]string{} // path -> secret name
	vols := map[string]string{}  // volume -> mount path
	for _, m := range c.VolumeMounts {
		vols[m.Name] = m.MountPath
	}
	for _, v := range task.Volumes {
		for _, it := range v.Secret.Items {
			if vols[v.Name] == "" {
				t.Errorf("volume %s is not mounted", v.Name)
			}
			files[path.Join(vols[v.Name], it.Path)] = v.Secret.SecretName
		}
	}
	cfg := recipeConfig{Name: "cloudrun/credreg.yaml", Text: readRecipe(t, "cloudrun/credreg.yaml")}
	configPath := "/etc/credreg/credreg.yaml"
	if files[configPath] == "" || !containsArg(c.Args, "--config", configPath) {
		t.Errorf("want the config mounted from Secret Manager at %s and named by --config", configPath)
	}
	for _, p := range cfg.secretPaths(t) {
		if files[p] == "" {
			t.Errorf("cloudrun/credreg.yaml names %s, which job.yaml does not mount", p)
		}
	}
	// The comment a person reads says the same as the config.
	if m := regexp.MustCompile(`client_secret_file: (\S+)`).FindSubmatch(readRecipe(t, "cloudrun/job.yaml")); m == nil || files[string(m[1])] == "" {
		t.Errorf("job.yaml's comment names a client_secret_file the job does not mount")
	}
}

func TestContainerAppsJob(t *testing.T) {
	j := loadContainerApps(t)
	conf := j.Properties.Configuration
	if j.Type != "Microsoft.App/jobs" || conf.TriggerType != "Schedule" || conf.ScheduleTriggerConfig.CronExpression == "" {
		t.Errorf("want a Microsoft.App/jobs resource with a schedule trigger")
	}
	if conf.ScheduleTriggerConfig.Parallelism != 1 || conf.ScheduleTriggerConfig.ReplicaCompletionCount != 1 {
		t.Errorf("want one replica (one process keeps the app-wide limit and is the warehouse's one writer)")
	}
	if conf.ReplicaTimeout <= 0 || conf.ReplicaRetryLimit == nil {
		t.Errorf("want replicaTimeout and replicaRetryLimit")
	}
	if j.Identity.Type != "UserAssigned" || len(j.Identity.UserAssignedIdentities) != 1 {
		t.Fatalf("want one user-assigned managed identity")
	}
	secrets := map[string]bool{}
	for _, s := range conf.Secrets {
		secrets[s.Name] = true
		if s.KeyVaultURL != "" && j.Identity.UserAssignedIdentities[s.Identity] == nil {
			t.Errorf("secret %s: read from Key Vault with %q, not the job's identity", s.Name, s.Identity)
		}
		if s.Value != "" && s.Name != "credreg-config" {
			t.Errorf("secret %s: a value in the recipe; want a keyVaultUrl", s.Name)
		}
	}
	tmpl := j.Properties.Template
	if len(tmpl.Containers) != 1 {
		t.Fatalf("want one container")
	}
	c := tmpl.Containers[0]
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.VolumeName] = m.MountPath
	}
	files := map[string]bool{}
	for _, v := range tmpl.Volumes {
		if mounts[v.Name] == "" {
			t.Errorf("volume %s is not mounted", v.Name)
		}
		for _, s := range v.Secrets {
			if !secrets[s.SecretRef] {
				t.Errorf("volume %s: secretRef %s is not a secret of the job", v.Name, s.SecretRef)
			}
			files[path.Join(mounts[v.Name], s.Path)] = true
		}
	}
	if !files["/etc/credreg/credreg.yaml"] || !containsArg(c.Args, "--config", "/etc/credreg/credreg.yaml") {
		t.Errorf("want the config mounted at /etc/credreg/credreg.yaml and named by --config")
	}
	if c.Resources.Memory == "" || c.Resources.CPU <= 0 || !containsArg(c.Args, "--log-format", "json") {
		t.Errorf("want cpu, memory and JSON logs")
	}
	cfg := containerAppsConfig(t, j)
	for _, p := range cfg.secretPaths(t) {
		if !files[p] {
			t.Errorf("the job's credreg.yaml names %s, which the job does not mount", p)
		}
	}
}

// containerAppsConfig is the credreg.yaml the job carries as a secret value.
func containerAppsConfig(t *testing.T, j containerAppsJob) recipeConfig {
	t.Helper()
	for _, s := range j.Properties.Configuration.Secrets {
		if s.Name == "credreg-config" {
			return recipeConfig{Name: "azure/containerapps-job.yaml", Text: []byte(s.Value)}
		}
	}
	t.Fatalf("azure/containerapps-job.yaml: no credreg-config secret")
	return recipeConfig{}
}

// TestCloudRecipesNameTMPDIR checks that the Cloud Run and Container Apps
// jobs name the folder credreg spills to, where their comments say what it
// costs (memory on Cloud Run, ephemeral disk on Container Apps).
func TestCloudRecipesNameTMPDIR(t *testing.T) {
	tmpdir := func(env []envVar) string {
		for _, e := range env {
			if e.Name == "TMPDIR" {
				return e.Value
			}
		}
		return ""
	}
	run := loadCloudRun(t).Spec.Template.Spec.Template.Spec.Containers
	apps := loadContainerApps(t).Properties.Template.Containers
	if len(run) != 1 || tmpdir(run[0].Env) == "" {
		t.Error("cloudrun/job.yaml: want TMPDIR set")
	}
	if len(apps) != 1 || tmpdir(apps[0].Env) == "" {
		t.Error("azure/containerapps-job.yaml: want TMPDIR set")
	}
	if b := string(readRecipe(t, "cloudrun/job.yaml")); !strings.Contains(b, "counts against the memory limit") {
		t.Error("cloudrun/job.yaml: want the comment that the spill in /tmp counts against memory")
	}
}

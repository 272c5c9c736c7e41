// schemagen writes the JSON schemas that kubeconform validates the Sluice
// chart against, one file per kind, named the way kubeconform's
// -schema-location template expects ({{ .ResourceKind }}{{ .KindSuffix }}.json,
// e.g. deployment-apps-v1.json).
//
// Why: kubeconform fetches its schemas from the internet, which this project's
// machines cannot reach. The schemas are derived here, offline, from the Go
// types of the Kubernetes API (k8s.io/api, at the version that matches the
// chart's --kube-version) and of the Prometheus Operator (ServiceMonitor), both
// from the Go module proxy:
//   - a struct becomes an object with its json-tagged fields as properties and
//     additionalProperties: false (what kubeconform -strict means: a typo in a
//     field name is an error);
//   - a field whose json tag lacks omitempty is required (the same rule the
//     Kubernetes OpenAPI generator applies), except the few listed in
//     notRequired that the API server defaults;
//   - IntOrString, Quantity, Time and RawExtension get the shapes the API
//     accepts; a Quantity string must match the API's quantity syntax;
//   - apiVersion and kind are pinned to the kind's own values.
//
// There is no "null" anywhere: a template that renders `key: null` fails.
//
//	go run . -out DIR
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

type kind struct {
	apiVersion string
	kind       string
	obj        any
}

// The kinds the chart renders, plus Pod and ConfigMap for what a user may
// add next to it. A kind missing here fails kubeconform (no
// -ignore-missing-schemas): add it when a template starts using it.
var kinds = []kind{
	{"v1", "ConfigMap", corev1.ConfigMap{}},
	{"v1", "Secret", corev1.Secret{}},
	{"v1", "Service", corev1.Service{}},
	{"v1", "ServiceAccount", corev1.ServiceAccount{}},
	{"v1", "Pod", corev1.Pod{}},
	{"apps/v1", "Deployment", appsv1.Deployment{}},
	{"autoscaling/v2", "HorizontalPodAutoscaler", autoscalingv2.HorizontalPodAutoscaler{}},
	{"policy/v1", "PodDisruptionBudget", policyv1.PodDisruptionBudget{}},
	{"batch/v1", "Job", batchv1.Job{}},
	{"monitoring.coreos.com/v1", "ServiceMonitor", monitoringv1.ServiceMonitor{}},
}

// Fields without omitempty that the API's own OpenAPI nevertheless marks
// optional (+optional in the Go source, which reflection cannot see).
var notRequired = map[string]bool{
	"io.k8s.api.core.v1.GRPCAction.service":                 true,
	"io.k8s.api.core.v1.TypedLocalObjectReference.apiGroup": true,
	"io.k8s.api.core.v1.TypedObjectReference.apiGroup":      true,
}

// The API's resource.Quantity syntax (as in the CRD schemas Kubernetes emits).
const quantityPattern = `^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$`

type schema = map[string]any

type gen struct {
	defs     map[string]schema
	warnings map[string]bool
}

var (
	tIntOrString = reflect.TypeOf(intstr.IntOrString{})
	tQuantity    = reflect.TypeOf(resource.Quantity{})
	tTime        = reflect.TypeOf(metav1.Time{})
	tMicroTime   = reflect.TypeOf(metav1.MicroTime{})
	tDuration    = reflect.TypeOf(metav1.Duration{})
	tRawExt      = reflect.TypeOf(runtime.RawExtension{})
	tFieldsV1    = reflect.TypeOf(metav1.FieldsV1{})
	tMarshaler   = reflect.TypeOf((*json.Marshaler)(nil)).Elem()
)

// defName turns a Go type into an OpenAPI-style definition name:
// k8s.io/api/core/v1.PodSpec -> io.k8s.api.core.v1.PodSpec.
func defName(t reflect.Type) string {
	p := t.PkgPath()
	host, rest, _ := strings.Cut(p, "/")
	parts := strings.Split(host, ".")
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	name := strings.Join(parts, ".")
	if rest != "" {
		name += "." + strings.ReplaceAll(rest, "/", ".")
	}
	return name + "." + t.Name()
}

func (g *gen) schemaFor(t reflect.Type) schema {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case tIntOrString:
		return schema{"type": []string{"integer", "string"}}
	case tQuantity:
		return schema{"oneOf": []schema{
			{"type": "string", "pattern": quantityPattern},
			{"type": "number"},
		}}
	case tTime, tMicroTime:
		return schema{"type": "string", "format": "date-time"}
	case tDuration:
		return schema{"type": "string"}
	case tRawExt, tFieldsV1:
		return schema{"type": "object"}
	}
	switch t.Kind() {
	case reflect.String:
		return schema{"type": "string"}
	case reflect.Bool:
		return schema{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return schema{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return schema{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return schema{"type": "string", "format": "byte"} // []byte: base64
		}
		return schema{"type": "array", "items": g.schemaFor(t.Elem())}
	case reflect.Map:
		return schema{"type": "object", "additionalProperties": g.schemaFor(t.Elem())}
	case reflect.Interface:
		return schema{}
	case reflect.Struct:
		if reflect.PointerTo(t).Implements(tMarshaler) || t.Implements(tMarshaler) {
			// A type with its own JSON form that is not special-cased above:
			// accept anything rather than guess, and say so.
			g.warnings[defName(t)] = true
			return schema{}
		}
		name := defName(t)
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = nil // placeholder: breaks recursion
			g.defs[name] = g.structSchema(t, name)
		}
		return schema{"$ref": "#/definitions/" + name}
	}
	panic(fmt.Sprintf("schemagen: no schema for %v (%v)", t, t.Kind()))
}

func (g *gen) structSchema(t reflect.Type, name string) schema {
	props := schema{}
	var required []string
	g.addFields(t, name, props, &required)
	s := schema{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		sort.Strings(required)
		s["required"] = required
	}
	return s
}

func (g *gen) addFields(t reflect.Type, name string, props schema, required *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		fname, opts, _ := strings.Cut(tag, ",")
		inline := strings.Contains(","+opts+",", ",inline,") || (f.Anonymous && fname == "")
		if inline {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			g.addFields(ft, name, props, required)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if fname == "" {
			fname = f.Name
		}
		props[fname] = g.schemaFor(f.Type)
		omitempty := strings.Contains(","+opts+",", ",omitempty,") || strings.Contains(","+opts+",", ",omitzero,")
		if !omitempty && !notRequired[name+"."+fname] {
			*required = append(*required, fname)
		}
	}
}

// kindSchema is the document for one kind: the kind's object schema at the
// top (apiVersion and kind pinned) with every nested type under definitions.
func kindSchema(k kind) (schema, []string) {
	g := &gen{defs: map[string]schema{}, warnings: map[string]bool{}}
	t := reflect.TypeOf(k.obj)
	top := g.structSchema(t, defName(t))
	props := top["properties"].(schema)
	props["apiVersion"] = schema{"type": "string", "enum": []string{k.apiVersion}}
	props["kind"] = schema{"type": "string", "enum": []string{k.kind}}
	req := map[string]bool{"apiVersion": true, "kind": true}
	if r, ok := top["required"].([]string); ok {
		for _, x := range r {
			req[x] = true
		}
	}
	var reqs []string
	for x := range req {
		reqs = append(reqs, x)
	}
	sort.Strings(reqs)
	top["required"] = reqs
	top["definitions"] = g.defs
	top["x-kubernetes-group-version-kind"] = []schema{{"apiVersion": k.apiVersion, "kind": k.kind}}
	var warn []string
	for w := range g.warnings {
		warn = append(warn, w)
	}
	sort.Strings(warn)
	return top, warn
}

// fileName follows kubeconform's registry naming: lower-case kind, then
// "-<first label of the group>-<version>" ("-v1" for the core group).
func fileName(apiVersion, kind string) string {
	group, version, found := strings.Cut(apiVersion, "/")
	suffix := "-" + strings.ToLower(strings.Split(group, ".")[0])
	if found {
		suffix += "-" + strings.ToLower(version)
	}
	return strings.ToLower(kind) + suffix + ".json"
}

func main() {
	out := flag.String("out", "", "directory to write the schemas into (created)")
	flag.Parse()
	if *out == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: schemagen -out DIR")
		os.Exit(2)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "schemagen:", err)
		os.Exit(1)
	}
	for _, k := range kinds {
		s, warn := kindSchema(k)
		for _, w := range warn {
			fmt.Fprintf(os.Stderr, "schemagen: %s: %s has a custom JSON form; accepted as any value\n", k.kind, w)
		}
		b, err := json.MarshalIndent(s, "", " ")
		if err != nil {
			fmt.Fprintln(os.Stderr, "schemagen:", err)
			os.Exit(1)
		}
		path := filepath.Join(*out, fileName(k.apiVersion, k.kind))
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "schemagen:", err)
			os.Exit(1)
		}
	}
	fmt.Fprintf(os.Stderr, "schemagen: wrote %d schemas to %s\n", len(kinds), *out)
}
